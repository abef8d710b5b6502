"""Container image references as the container runtime resolves them.

``nginx`` is ``docker.io/library/nginx`` with no tag (so ``latest``); ``registry:5000/app:1`` names a
registry because its first component has a port; ``ghcr.io/org/app@sha256:...`` is pinned by digest.
Also the pull policy the API server defaults when a container sets none.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_REGISTRY = "docker.io"
# Names Docker Hub is also reached by: an allow-list entry for one covers the others.
_DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})


@dataclass(frozen=True)
class ImageRef:
    registry: str  # lower case; Docker Hub's aliases as docker.io
    repository: str  # library/nginx for an official Docker Hub image
    tag: str | None
    digest: str | None  # sha256:...

    @property
    def name(self) -> str:
        """Registry and repository: ``docker.io/library/nginx``."""
        return f"{self.registry}/{self.repository}"

    @property
    def floating(self) -> bool:
        """Whether the reference names whatever ``latest`` is at pull time: tag ``latest`` or none,
        and no digest."""
        return self.digest is None and self.tag in (None, "latest")

    def default_pull_policy(self) -> str:
        """What the API server sets when ``imagePullPolicy`` is omitted: Always for the tag ``latest``
        (even beside a digest) or no tag and no digest, IfNotPresent otherwise."""
        return "Always" if self.tag == "latest" or (self.tag is None and self.digest is None) else "IfNotPresent"


@functools.lru_cache(maxsize=4096)  # a set's workloads share few images, and four rules read each
def parse_image(text: str) -> ImageRef:
    """The parts of an image reference; a malformed one still parses (what the runtime would try)."""
    rest, _, digest = text.strip().partition("@")
    tag: str | None = None
    colon, slash = rest.rfind(":"), rest.rfind("/")
    if colon > slash:  # a colon in the last component is a tag; before a slash it is a registry port
        rest, tag = rest[:colon], rest[colon + 1:] or None
    first, separator, remainder = rest.partition("/")
    if separator and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first.lower(), remainder
    else:
        registry, repository = DEFAULT_REGISTRY, rest
    if registry in _DOCKER_HUB_ALIASES:
        registry = DEFAULT_REGISTRY
        if "/" not in repository:
            repository = f"library/{repository}"
    return ImageRef(registry, repository, tag, digest or None)


def from_allowed_registry(image: ImageRef, allowed: Iterable[str]) -> bool:
    """Whether ``image`` comes from one of ``allowed``: registry hosts (``registry.example.com``) or
    host/path prefixes (``ghcr.io/org/``), matched whole components at a time, so ``ghcr.io/org``
    allows ``ghcr.io/org/app`` but not ``ghcr.io/organisation/app``, and ``docker.io`` allows ``nginx``."""
    name = image.name + "/"
    for entry in allowed:
        prefix = entry.strip().rstrip("/")
        if not prefix:
            continue
        host, separator, path = prefix.partition("/")
        host = DEFAULT_REGISTRY if host.lower() in _DOCKER_HUB_ALIASES else host.lower()
        if name.startswith(f"{host}{separator}{path}/"):
            return True
    return False
