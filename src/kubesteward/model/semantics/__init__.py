"""What Kubernetes objects mean, defined once: pure functions over the slim structs of
:mod:`kubesteward.model.objects`, for every analyzer, ``status``, ``watch`` and the features to come.

- :mod:`.health`: a failing container (waiting reasons, exit codes, init containers and sidecars),
  a ready pod, why a pod is not serving, restarts.
- :mod:`.lifecycle`: going away (terminating, or in a terminating namespace), finished and completed
  pods, evictions, run-to-completion pods, a Job's outcome.
- :mod:`.rollout`: the rollout state of Deployments, StatefulSets and DaemonSets (complete,
  progressing, paused, progress deadline exceeded), their revisions and the ReplicaSet or
  ControllerRevision each maps to.
- :mod:`.ownership`: the controlling owner, what a workload controls, the walk to the root owner.
- :mod:`.quantity`: resource quantities (``250m``, ``1.5Gi``) as numbers.
- :mod:`.selectors`: label selectors, matched and parsed as the API server does.
- :mod:`.rbac`: RBAC as the API server's authorizer evaluates it (rules, subresources, resourceNames,
  non-resource URLs, aggregated ClusterRoles, subjects and their groups): who can, what a user may.

These modules import only :mod:`kubesteward.model.objects` and each other: the rest of the model
(the cluster model's indexes) builds on them, never the reverse. Nothing is re-exported here, so
importing one module costs only that module.
"""
