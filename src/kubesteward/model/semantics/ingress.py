"""An Ingress's backends as its controller reads them: every Service it routes to, with the ports and
paths that use it, and whether a Service offers a backend's port."""

from __future__ import annotations

from dataclasses import dataclass, field

from kubesteward.model import objects as o


@dataclass
class BackendUse:
    """Every place in one Ingress that routes to one Service."""

    service: str
    ports: list[o.ServiceBackendPort] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)


def backend_uses(ingress: o.Ingress) -> dict[str, BackendUse]:
    """The Services ``ingress`` routes to (its default backend and every rule's paths), by name."""
    uses: dict[str, BackendUse] = {}

    def add(backend: o.IngressBackend | None, where: str) -> None:
        if backend is None or backend.service is None:
            return  # resource backends (e.g. a storage bucket CRD) are the controller's business
        use = uses.setdefault(backend.service.name, BackendUse(backend.service.name))
        if backend.service.port not in use.ports:
            use.ports.append(backend.service.port)
        use.paths.append(where)

    add(ingress.spec.defaultBackend, "(default backend)")
    for rule in ingress.spec.rules or ():
        for path in rule.http.paths if rule.http else ():
            add(path.backend, f"{rule.host or '*'}{path.path or '/'}")
    return uses


def port_label(port: o.ServiceBackendPort) -> str:
    return port.name or str(port.number)


def service_has_port(svc: o.Service, port: o.ServiceBackendPort) -> bool:
    """Whether ``svc`` offers the backend's port (by name when it names one, else by number)."""
    if port.name:
        return any(p.name == port.name for p in svc.spec.ports or ())
    return any(p.port == port.number for p in svc.spec.ports or ())
