"""Who the API server takes a client for: what an audit trail records as the actor of a write."""

from __future__ import annotations

import msgspec

from kubesteward.cluster.client import KubeClient
from kubesteward.errors import ClusterError


async def whoami(client: KubeClient) -> str:
    """The user name a SelfSubjectReview returns (``kubectl auth whoami``), else the context's name."""
    body = msgspec.json.encode({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    try:
        response = await client.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", content=body,
                                        headers={"Content-Type": "application/json"}, idempotent=True)
        review = msgspec.json.decode(response.content)
    except ClusterError:  # an older server, or an identity that may not ask: the context still says who
        return client.context
    user = ((review.get("status") or {}).get("userInfo") or {}).get("username") if isinstance(review, dict) else None
    return str(user) if user else client.context
