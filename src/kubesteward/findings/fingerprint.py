"""The one fingerprint of an incident, shared by ``diagnose`` (its incident id) and ``watch``
(its alert's fingerprint), so a diagnosis names the alert of the same incident.

It hashes the context and the incident's root object, not its headline code: 200 crashing pods
of one Deployment are one incident whichever of their findings heads it, and the alert survives
the headline changing (a crash loop whose pods are replaced turns into "Deployment unavailable").
"""

from __future__ import annotations

import hashlib

from kubesteward.model.cluster import ObjectKey


def incident_id(context: str, root: ObjectKey, qualifier: str = "") -> str:
    """The fingerprint of the incident rooted at ``root`` in ``context``. ``qualifier`` (a headline
    code) tells apart the rare second incident of one root in one evaluation; watch alerts once per
    root, for the first."""
    raw = f"{context}|{root.kind}|{root.namespace}|{root.name}"
    if qualifier:
        raw = f"{raw}|{qualifier}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]
