"""Full objects beside the slim model: files keep every field, secrets never enter, lookups by kind."""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubesteward.errors import InputError
from kubesteward.model import objects as o
from kubesteward.model.files import load_files, load_manifests
from kubesteward.model.full import FullKey, FullObjects, GroupKind
from kubesteward.redaction import LAST_APPLIED, REDACTED, digest

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: shop
  labels: {app: api}
  annotations: {team: payments}
spec:
  replicas: 3
  revisionHistoryLimit: 4
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 25%, maxUnavailable: 0}}
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      serviceAccountName: api
      securityContext: {runAsNonRoot: true, runAsUser: 10001, fsGroup: 2000, seccompProfile: {type: RuntimeDefault}}
      tolerations:
      - {key: dedicated, operator: Equal, value: payments, effect: NoSchedule}
      - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 30}
      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 100
            podAffinityTerm: {topologyKey: kubernetes.io/hostname, labelSelector: {matchLabels: {app: api}}}
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule,
         labelSelector: {matchLabels: {app: api}}}
      initContainers:
      - {name: migrate, image: "shop/api:1.4", command: [/bin/migrate, --up]}
      containers:
      - name: api
        image: shop/api:1.4
        ports: [{name: http, containerPort: 8080, protocol: TCP}]
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities: {drop: [ALL]}
        livenessProbe: {httpGet: {path: /healthz, port: http}, initialDelaySeconds: 10, periodSeconds: 5, failureThreshold: 3}
        readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 2}
        startupProbe: {exec: {command: [cat, /tmp/ready]}, failureThreshold: 30}
        lifecycle: {preStop: {exec: {command: [sleep, "5"]}}}
        resources: {requests: {cpu: 250m, memory: 256Mi}, limits: {memory: 512Mi}}
        env:
        - name: DB_PASSWORD
          valueFrom: {secretKeyRef: {name: db, key: password}}
        volumeMounts: [{name: tmp, mountPath: /tmp}]
      volumes:
      - {name: tmp, emptyDir: {medium: Memory, sizeLimit: 64Mi}}
"""

WIDGET = """
apiVersion: test.kubesteward.io/v1
kind: Widget
metadata: {name: gear, namespace: shop}
spec: {size: 3, colours: [red, blue], nested: {deep: {deeper: true}}}
"""

SECRET_VALUE = "hunter2-very-secret"
SECRET = f"""
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: shop
  annotations: {{{LAST_APPLIED}: '{{"stringData":{{"password":"{SECRET_VALUE}"}}}}', owner: dba}}
type: Opaque
data: {{password: {base64.b64encode(SECRET_VALUE.encode()).decode()}}}
stringData: {{token: {SECRET_VALUE}}}
"""


def write(tmp_path: Path, *documents: str) -> Path:
    path = tmp_path / "manifests.yaml"
    path.write_text("---\n".join(documents))
    return path


def test_a_manifest_round_trips_through_the_file_loader_with_every_field(tmp_path: Path) -> None:
    loaded = load_manifests([write(tmp_path, DEPLOYMENT, WIDGET)])
    held = loaded.objects.get("Deployment", "shop", "api")
    assert held is not None
    assert held.manifest() == yaml.safe_load(DEPLOYMENT)  # probes, tolerations, securityContext, all of it
    pod = held.manifest()["spec"]["template"]["spec"]
    assert pod["containers"][0]["startupProbe"] == {"exec": {"command": ["cat", "/tmp/ready"]}, "failureThreshold": 30}
    assert pod["tolerations"][1]["tolerationSeconds"] == 30
    # ... and the slim model beside it is the one diagnose reads, from the same files.
    assert [d.metadata.name for d in loaded.model.deployments] == ["api"]
    assert loaded.model.loaded == {"Deployment"} and loaded.ignored == {"Widget": 1}
    assert loaded.objects.origins[held.key].file == str(tmp_path / "manifests.yaml")


def test_objects_of_kinds_the_model_does_not_hold_are_held_whole(tmp_path: Path) -> None:
    loaded = load_manifests([write(tmp_path, DEPLOYMENT, WIDGET)])
    widget = loaded.objects.get("Widget", "shop", "gear", group="test.kubesteward.io")
    assert widget is not None and widget.manifest() == yaml.safe_load(WIDGET)
    assert widget.key == FullKey("test.kubesteward.io", "Widget", "shop", "gear")
    assert str(widget.key) == "Widget.test.kubesteward.io/shop/gear"
    assert loaded.objects.kinds() == [GroupKind("apps", "Deployment"), GroupKind("test.kubesteward.io", "Widget")]


def test_load_files_stays_slim_and_gives_the_same_model(tmp_path: Path) -> None:
    path = write(tmp_path, DEPLOYMENT, WIDGET)
    model, ignored = load_files([path])
    full = load_manifests([path]).model
    assert ignored == {"Widget": 1}
    assert model.deployments == full.deployments and model.loaded == full.loaded


def test_no_secret_value_is_ever_held(tmp_path: Path) -> None:
    loaded = load_manifests([write(tmp_path, SECRET, DEPLOYMENT)])
    secret = loaded.objects.get("Secret", "shop", "db")
    assert secret is not None
    encoded = base64.b64encode(SECRET_VALUE.encode())
    assert SECRET_VALUE.encode() not in secret.raw and encoded not in secret.raw
    manifest = secret.manifest()
    # Digests say whether a value changed (drift), never what it is.
    assert manifest["data"] == {"password": f"{REDACTED} {digest(encoded.decode())}"}
    assert manifest["stringData"] == {"token": f"{REDACTED} {digest(SECRET_VALUE)}"}
    assert manifest["metadata"]["annotations"] == {LAST_APPLIED: REDACTED, "owner": REDACTED}
    assert manifest["type"] == "Opaque"


def test_env_values_and_last_applied_are_redacted_everywhere(tmp_path: Path) -> None:
    with_values = yaml.safe_load(DEPLOYMENT)
    with_values["metadata"]["annotations"][LAST_APPLIED] = '{"env": "PASSWORD=s3cr3t-value"}'
    container = with_values["spec"]["template"]["spec"]["containers"][0]
    container["env"].append({"name": "PASSWORD", "value": "s3cr3t-value"})
    path = tmp_path / "d.yaml"
    path.write_text(yaml.safe_dump(with_values))
    held = load_manifests([path]).objects.get("Deployment", "shop", "api")
    assert held is not None and b"s3cr3t-value" not in held.raw
    manifest = held.manifest()
    env = manifest["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
        {"name": "PASSWORD", "value": f"{REDACTED} {digest('s3cr3t-value')}"},  # a change shows, the value never
    ]
    assert manifest["metadata"]["annotations"] == {"team": "payments", LAST_APPLIED: REDACTED}


def test_objects_are_decoded_only_when_asked_and_each_time_afresh(tmp_path: Path) -> None:
    held = load_manifests([write(tmp_path, DEPLOYMENT)]).objects.get("Deployment", "shop", "api")
    assert held is not None and isinstance(held.raw, bytes)
    first = held.manifest()
    first["spec"]["replicas"] = 0
    assert held.manifest()["spec"]["replicas"] == 3  # the caller's copy, not the store's
    slim = held.decode(o.Deployment)
    assert slim.spec.replicas == 3 and slim.metadata.labels == {"app": "api"}


def manifest(api_version: str, kind: str, name: str, namespace: str = "", **extra: Any) -> dict[str, Any]:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, **extra}


def test_an_object_is_the_same_whichever_version_of_its_group_serves_it() -> None:
    store = FullObjects()
    store.add_manifest(manifest("autoscaling/v1", "HorizontalPodAutoscaler", "web", "a", spec={"maxReplicas": 3}))
    store.add_manifest(manifest("autoscaling/v2", "HorizontalPodAutoscaler", "web", "a", spec={"maxReplicas": 5}))
    assert len(store) == 1
    found = store.get("HorizontalPodAutoscaler", "a", "web")
    assert found is not None and found.api_version == "autoscaling/v2" and found.manifest()["spec"]["maxReplicas"] == 5


def test_lookups_by_kind_group_and_namespace() -> None:
    store = FullObjects()
    for obj in (
        manifest("v1", "Event", "e1", "b"),
        manifest("events.k8s.io/v1", "Event", "e2", "a"),
        manifest("v1", "ConfigMap", "z", "b", data={"k": "v"}),
        manifest("v1", "ConfigMap", "y", "a"),
        manifest("v1", "Namespace", "a"),
        {"kind": "ConfigMap", "metadata": {"name": "x", "namespace": "a"}},  # no apiVersion: the built-in's
    ):
        store.add_manifest(obj)
    assert [(c.namespace, c.name) for c in store.of_kind("ConfigMap")] == [("a", "x"), ("a", "y"), ("b", "z")]
    assert [c.name for c in store.of_kind("ConfigMap", namespace="b")] == ["z"]
    assert [e.name for e in store.of_kind("Event")] == ["e1", "e2"]
    assert [e.name for e in store.of_kind("Event", group="events.k8s.io")] == ["e2"]
    assert store.get("Event", "b", "e1", group="events.k8s.io") is None
    assert store.get("Namespace", "", "a") is not None and store.get("Namespace", "", "b") is None
    assert store.of_kind("Widget") == [] and store.get("Widget", "a", "w") is None
    assert len(store) == 6 and len(list(store)) == 6
    assert GroupKind("", "ConfigMap") in store.kinds()
    kept = store.get("ConfigMap", "b", "z")
    assert kept is not None and kept.manifest()["data"] == {"k": "v"}  # ConfigMaps are not secrets: kept


def test_a_manifest_json_cannot_hold_is_one_clear_input_error(tmp_path: Path) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: odd, namespace: a}\nspec: {null: v}\n")
    with pytest.raises(InputError, match=r"odd.yaml: Widget 'odd' cannot be held as JSON"):
        load_manifests([path])
    deep = tmp_path / "deep.json"
    deep.write_text('{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "deep"}, "spec": '
                    + "[" * 800 + "]" * 800 + "}")
    with pytest.raises(InputError, match=r"deep.json: Widget 'deep' is nested too deeply to hold"):
        load_manifests([deep])


def test_the_store_holds_a_copy_not_the_callers_manifest() -> None:
    original = manifest("v1", "ConfigMap", "c", "a", data={"k": "v"})
    before = copy.deepcopy(original)
    store = FullObjects()
    held = store.add_manifest(original)
    original["data"]["k"] = "changed"
    assert held.manifest() == before
