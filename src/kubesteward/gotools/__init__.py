"""Go programs kubesteward runs but no registry ships: built from pinned Go modules, cached by version.

One builder for all of them: the sandbox's control plane (``kubesteward.sandbox.build``) and the renderers
manifests need (kustomize, helm: :mod:`kubesteward.gotools.tools`). Below the model, so offline rendering
(``model.render``) and every feature reach the same cache.
"""
