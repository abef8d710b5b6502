"""Kustomizations and Helm charts rendered by the real kustomize and helm (the pinned builds `make test`
makes first), with the origin of every object; tool failures as one line and exit 11."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from kubesteward.errors import InputError
from kubesteward.gotools import tools
from kubesteward.gotools.build import BuildError, env_var_for
from kubesteward.model.full import FullKey
from kubesteward.model.render import InputKind, RenderOptions, kind_of, load_inputs

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "render"
OVERLAY = FIXTURES / "kustomize" / "overlays" / "prod"
CHART = FIXTURES / "chart" / "web"
PROD_VALUES = FIXTURES / "values-prod.yaml"


def test_inputs_are_told_apart_by_what_their_directory_holds() -> None:
    assert kind_of(OVERLAY) is InputKind.KUSTOMIZATION
    assert kind_of(CHART) is InputKind.CHART
    assert kind_of(CHART / "templates") is InputKind.FILES
    assert kind_of(PROD_VALUES) is InputKind.FILES
    assert kind_of(Path("-")) is InputKind.FILES


def test_a_kustomize_overlay_renders_base_patch_prefix_and_namespace_with_each_object_s_source_file() -> None:
    loaded = load_inputs([OVERLAY])
    deployment = loaded.objects.get("Deployment", "shop-prod", "prod-api", group="apps")
    service = loaded.objects.get("Service", "shop-prod", "prod-api")
    assert deployment is not None and service is not None
    manifest = deployment.manifest()
    assert manifest["spec"]["replicas"] == 3  # the overlay's patch over the base's 1
    assert manifest["metadata"]["labels"] == {"app.kubernetes.io/part-of": "shop"}
    # The origin annotation kubesteward asked kustomize for is gone again: the object is what `kustomize build` gives.
    assert "annotations" not in manifest["metadata"] and "annotations" not in service.manifest()["metadata"]
    origin = loaded.origin(deployment.key)
    assert origin is not None
    assert Path(origin.file).resolve() == FIXTURES / "kustomize" / "base" / "deployment.yaml"
    assert (origin.rendered_by, origin.source) == ("kustomize", str(OVERLAY))
    assert loaded.lines.line(origin, "spec.replicas") is None  # rendered: no line of a user file
    assert [d.metadata.name for d in loaded.model.deployments] == ["prod-api"]  # the slim model beside it


def test_a_relative_kustomization_gives_origins_relative_to_the_working_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(FIXTURES)
    loaded = load_inputs([Path("kustomize/overlays/prod")])
    origin = loaded.origin(FullKey("", "Service", "shop-prod", "prod-api"))
    assert origin is not None and origin.file == os.path.join("kustomize", "base", "service.yaml")


def test_a_helm_chart_renders_with_values_release_and_namespace_and_points_at_its_templates() -> None:
    options = RenderOptions(values=(PROD_VALUES,), release="shop", namespace="payments")
    loaded = load_inputs([CHART], options)
    deployment = loaded.objects.get("Deployment", "payments", "shop-web", group="apps")
    assert deployment is not None
    spec = deployment.manifest()["spec"]
    assert spec["replicas"] == 3
    container = spec["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example.com/web:2.1.0"
    assert container["resources"] == {"limits": {"memory": "256Mi"}}
    origins = {key.kind: origin for key, origin in loaded.objects.origins.items()}
    assert Path(origins["Deployment"].file) == CHART / "templates" / "deployment.yaml"
    assert Path(origins["Service"].file) == CHART / "templates" / "service.yaml"
    assert {o.rendered_by for o in origins.values()} == {"helm"}


def test_set_values_override_values_files() -> None:
    options = RenderOptions(values=(PROD_VALUES,), set_values=("replicaCount=5",), namespace="payments")
    loaded = load_inputs([CHART], options)
    deployment = loaded.objects.get("Deployment", "payments", "release-web", group="apps")
    assert deployment is not None and deployment.manifest()["spec"]["replicas"] == 5


def test_a_directory_renders_its_charts_and_kustomizations_and_reads_the_rest_plainly(tmp_path: Path) -> None:
    shutil.copytree(CHART, tmp_path / "charts" / "web")
    (tmp_path / "charts" / "web" / "values.yaml").write_text("image: {repository: web, tag: '1'}\nservice: {port: 80}\n")
    shutil.copytree(FIXTURES / "kustomize", tmp_path / "kustomize", ignore=shutil.ignore_patterns("broken"))
    (tmp_path / "plain.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n")
    loaded = load_inputs([tmp_path], RenderOptions(namespace="shop"))
    by_tool = {(key.kind, key.name): origin.rendered_by for key, origin in loaded.objects.origins.items()}
    assert by_tool == {
        ("Namespace", "shop"): "",
        ("Deployment", "release-web"): "helm", ("Service", "release-web"): "helm",
        # the base is a kustomization too: rendered on its own, beside the overlay that uses it
        ("Deployment", "api"): "kustomize", ("Service", "api"): "kustomize",
        ("Deployment", "prod-api"): "kustomize", ("Service", "prod-api"): "kustomize",
    }


def test_a_broken_kustomization_is_one_line_naming_it_and_exit_11() -> None:
    broken = FIXTURES / "kustomize" / "broken"
    with pytest.raises(InputError) as caught:
        load_inputs([broken])
    message = str(caught.value)
    assert caught.value.exit_code == 11 and "\n" not in message
    assert message.startswith(f"{broken}: kustomize failed: ") and "missing.yaml" in message


def test_a_helm_template_error_is_one_line_naming_the_chart_and_the_template() -> None:
    with pytest.raises(InputError) as caught:
        load_inputs([CHART])  # no image.tag: the chart's `required` fails
    message = str(caught.value)
    assert caught.value.exit_code == 11 and "\n" not in message
    assert message == (f"{CHART}: helm failed: execution error at (web/templates/deployment.yaml:18:52): "
                       "image.tag is required")


def test_a_missing_values_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nope.yaml: no such values file"):
        load_inputs([CHART], RenderOptions(values=(tmp_path / "nope.yaml",)))


def test_a_binary_named_by_the_environment_wins_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    pinned = tools.helm_component().cached("helm")
    monkeypatch.setenv(env_var_for("helm"), str(pinned))
    tool = tools.ensure_tool("helm")
    assert tool.source is tools.Source.ENV and tool.path == pinned
    assert tool.describe() == f"helm v4.3.2 ($KUBESTEWARD_HELM_BINARY; kubesteward pins v4.3.2): {pinned}"


def test_a_binary_named_by_the_environment_that_is_not_there_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    monkeypatch.setenv(env_var_for("kustomize"), str(tmp_path / "kustomize"))
    with pytest.raises(BuildError) as caught:
        load_inputs([OVERLAY])
    assert caught.value.exit_code == 12 and "\n" not in str(caught.value)
    assert str(caught.value).startswith(f"{OVERLAY}: cannot run kustomize ({tmp_path / 'kustomize'}): ")


def test_without_a_pinned_build_the_one_on_path_is_used_at_whatever_version(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    pinned = tools.kustomize_component().cached("kustomize")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kustomize").symlink_to(pinned)
    monkeypatch.setenv("KUBESTEWARD_CACHE_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("PATH", str(bin_dir))
    tool = tools.ensure_tool("kustomize")
    assert tool.source is tools.Source.PATH and tool.path == bin_dir / "kustomize"
    assert tool.describe() == f"kustomize v5.8.1 (found on PATH; kubesteward pins v5.8.1): {bin_dir / 'kustomize'}"
    assert load_inputs([OVERLAY]).objects.get("Service", "shop-prod", "prod-api") is not None


def test_a_tool_that_is_nowhere_and_cannot_be_built_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    monkeypatch.setenv("KUBESTEWARD_CACHE_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("PATH", str(tmp_path))  # neither helm nor go
    with pytest.raises(BuildError) as caught:
        load_inputs([CHART], RenderOptions(values=(PROD_VALUES,)))
    message = str(caught.value)
    assert caught.value.exit_code == 12 and "\n" not in message
    assert message.startswith(f"{CHART}: helm is needed to render it and cannot be built: Go toolchain not found")


def test_the_wrapper_modules_name_exact_versions() -> None:
    helm = tools.helm_component()
    assert helm.wrapper_gomod is not None and "\thelm.sh/helm/v4 v4.3.2\n" in helm.wrapper_gomod
    assert "-X helm.sh/helm/v4/internal/version.version=v4.3.2" in helm.ldflags
    kustomize = tools.kustomize_component()
    assert kustomize.wrapper_gomod is not None
    assert "\tsigs.k8s.io/kustomize/kustomize/v5 v5.8.1\n" in kustomize.wrapper_gomod
    assert kustomize.directory.name == "kustomize-v5.8.1"


def test_verbose_runs_say_which_binary_rendered_and_why(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger="kubesteward.render"):
        load_inputs([OVERLAY])
    pinned = tools.kustomize_component().cached("kustomize")
    assert caplog.messages == [f"rendering {OVERLAY} with kustomize v5.8.1 (pinned build): {pinned}"]
