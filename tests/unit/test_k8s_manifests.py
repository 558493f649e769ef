"""deploy/k8s agrees with the project: images, commands, ports, settings, topics, operators.

There is no cluster here. The core manifests are decoded strictly into the Kubernetes API
types by a Go program (deploy/k8s/validate, k8s.io/api), run below; the custom resources
(Strimzi, CloudNativePG, KEDA), which those types cannot decode, are checked here.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from cli.main import build_parser
from cli.stack.config import PROJECT_ROOT
from schemas.topics import CATALOGUE, by_name
from services.api.config import ApiSettings
from services.enricher.backends.gemini.settings import GeminiSettings
from services.enricher.config import EnricherSettings
from services.ingestor.config import IngestorSettings
from services.router.config import RouterSettings
from services.shared.durability import TopicSettings
from services.shared.streaming import STOP_GRACE_S, group_of
from services.syncer.config import SyncerSettings
from tests.unit.test_compose import names_read

K8S = PROJECT_ROOT / "deploy/k8s"
VALIDATOR = K8S / "validate"
IMAGE = "jobstream"  # the Dockerfile's image, as docker-compose.yml names it
CLUSTER = TopicSettings(replication_factor=3, min_insync_replicas=2)
Reader = Callable[[Mapping[str, str]], object]
READERS: dict[str, list[Reader]] = {
    "ingestor": [IngestorSettings.from_env],
    "enricher": [EnricherSettings.from_env, GeminiSettings.from_env],
    "router": [RouterSettings.from_env],
    "syncer": [SyncerSettings.from_env],
    "api": [ApiSettings.from_env],
}
SECRET_NAME = "jobstream-secrets"  # made by the operator (README "On Kubernetes")


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _all(folder: Path) -> list[dict[str, Any]]:
    return [doc for path in sorted(folder.glob("*.yaml")) for doc in _documents(path)]


BASE = _all(K8S / "base")


def _of_kind(kind: str, docs: list[dict[str, Any]] = BASE) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


DEPLOYMENTS = _of_kind("Deployment")
CONFIG = _of_kind("ConfigMap")["jobstream-stream"]["data"]


def _containers() -> Iterator[tuple[str, dict[str, Any]]]:
    for kind in ("Deployment", "Job"):
        for name, doc in _of_kind(kind).items():
            for container in doc["spec"]["template"]["spec"]["containers"]:
                yield name, container


# --- the Go check: every core manifest decodes strictly -----------------------------------


def _go() -> str:
    found = shutil.which("go") or "/usr/local/go/bin/go"
    assert Path(found).exists(), "Go is needed for the manifest check (on PATH or /usr/local/go)"
    return found


@pytest.fixture(scope="module")
def validator(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Builds deploy/k8s/validate (its modules come from `make install`). The build cache is
    the project's own (.state/, not committed): k8s.io/api takes minutes to compile cold."""
    out = tmp_path_factory.mktemp("k8s-validate")
    cache = PROJECT_ROOT / ".state/go-build"
    env = {**os.environ, "GOCACHE": str(cache), "GOFLAGS": "-buildvcs=false"}
    build = subprocess.run(
        [_go(), "build", "-o", str(out / "validate"), "."],
        cwd=VALIDATOR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    return out / "validate"


def _validate(validator: Path, *folders: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(validator), *map(str, folders)], capture_output=True, text=True, timeout=60
    )


# A cold build of k8s.io/api takes minutes on a loaded machine (`make install` warms it).
GO_BUILD_TIMEOUT = pytest.mark.timeout(900)


@GO_BUILD_TIMEOUT
def test_every_core_manifest_decodes_strictly_into_the_kubernetes_types(validator: Path) -> None:
    result = _validate(validator, K8S)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "apps/v1 Deployment" in result.stdout and "batch/v1 Job" in result.stdout
    assert "policy/v1 PodDisruptionBudget" in result.stdout


@GO_BUILD_TIMEOUT
@pytest.mark.parametrize(
    ("manifest", "complaint"),
    [
        (  # a misspelt field: strict decoding refuses what non-strict would drop silently
            "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
            "spec: {ports: [{port: 80, targetPort: web}], selectr: {app: a}}\n",
            'unknown field "selectr"',
        ),
        (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec: {replicas: two}\n",
            "cannot unmarshal",
        ),
        ("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: a}\n", "not a kind"),
    ],
)
def test_the_go_check_fails_on_a_broken_manifest(
    validator: Path, tmp_path: Path, manifest: str, complaint: str
) -> None:
    (tmp_path / "broken.yaml").write_text(manifest)
    result = _validate(validator, tmp_path)
    assert result.returncode == 1
    assert complaint in result.stderr and "broken.yaml" in result.stderr


def test_make_install_fetches_the_go_modules() -> None:
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    assert "$(GO) mod download" in makefile and "go-modules" in makefile.split("install:")[1]
    assert (VALIDATOR / "go.sum").is_file()


# --- kustomize ------------------------------------------------------------------------------


@pytest.mark.parametrize("folder", ["base", "overlays/dev", "overlays/cluster"])
def test_every_kustomization_names_files_that_exist(folder: str) -> None:
    (kustomization,) = _documents(K8S / folder / "kustomization.yaml")
    listed = list(kustomization.get("resources", []))
    listed += [p["path"] for p in kustomization.get("patches", []) if "path" in p]
    for entry in listed:
        assert (K8S / folder / entry).exists(), f"{folder}: {entry}"
    if folder == "base":  # nothing written and forgotten
        files = {p.name for p in (K8S / "base").glob("*.yaml")} - {"kustomization.yaml"}
        assert files == set(listed)


# --- images, commands, ports, settings -------------------------------------------------------


def _project_version() -> str:
    return str(tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["version"])


def test_every_image_is_the_projects_own() -> None:
    images = {container["image"] for _, container in _containers()}
    assert images == {f"{IMAGE}:local"}  # the tag compose builds; kind loads it as is
    (cluster,) = _documents(K8S / "overlays/cluster/kustomization.yaml")
    assert cluster["images"] == [{"name": IMAGE, "newTag": _project_version()}]
    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    assert compose["services"]["ingestor"]["image"] == f"{IMAGE}:local"


def test_every_command_exists_in_the_project() -> None:
    commands = {name: container["command"] for name, container in _containers()}
    for name, command in commands.items():
        if command[:2] == ["python", "-m"]:
            assert importlib.util.find_spec(f"{command[2]}.__main__") is not None, name
            assert command[2] == f"services.{name}"
        else:  # the CLI accepts the command line as it is
            assert command[0] == "jobstream", name
            assert callable(build_parser().parse_args(command[1:]).handler), name
    assert commands["jobstream-migrate"] == ["jobstream", "migrate"]


def _env_names(container: dict[str, Any]) -> set[str]:
    names = {entry["name"] for entry in container.get("env", [])}
    for source in container.get("envFrom", []):
        config = _of_kind("ConfigMap")[source["configMapRef"]["name"]]
        names |= set(config["data"])
    return names


@pytest.mark.parametrize("service", sorted(READERS))
def test_every_setting_a_service_is_given_is_one_it_reads(service: str) -> None:
    (container,) = DEPLOYMENTS[service]["spec"]["template"]["spec"]["containers"]
    given = _env_names(container)
    assert given - names_read(READERS[service]) == set()
    assert {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "REPLICA_ID"} <= given


def test_the_migration_job_is_given_only_the_database() -> None:
    (container,) = _of_kind("Job")["jobstream-migrate"]["spec"]["template"]["spec"]["containers"]
    assert _env_names(container) == {"DATABASE_URL"}
    assert "DATABASE_URL" in (PROJECT_ROOT / "cli/commands/migrate.py").read_text()


@pytest.mark.parametrize("service", sorted(READERS))
def test_each_service_listens_where_its_probes_and_metrics_look(service: str) -> None:
    pod = DEPLOYMENTS[service]["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    if service == "api":
        port = ApiSettings.from_env(env).port
        assert ApiSettings.from_env(env).host == "0.0.0.0"
    else:
        settings = IngestorSettings.from_env({**CONFIG, **env}).stream  # any stream service
        port, host = settings.web_port, settings.web_host
        assert host == "0.0.0.0"
    assert container["ports"] == [{"name": "web", "containerPort": port}]
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(port)
    probes = {kind: container[kind]["httpGet"] for kind in ("livenessProbe", "readinessProbe")}
    assert probes["livenessProbe"] == {"path": "/healthz", "port": "web"}
    assert probes["readinessProbe"] == {"path": "/readyz", "port": "web"}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"


def test_the_api_service_targets_the_api_port() -> None:
    (port,) = _of_kind("Service")["api"]["spec"]["ports"]
    assert (port["port"], port["targetPort"]) == (8080, "web")
    assert _of_kind("Service")["api"]["spec"]["selector"] == {"app.kubernetes.io/name": "api"}


@pytest.mark.parametrize("service", sorted(READERS))
def test_each_service_has_requests_and_stops_gracefully(service: str) -> None:
    spec = DEPLOYMENTS[service]["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert set(container["resources"]["requests"]) == {"cpu", "memory"}
    assert "memory" in container["resources"]["limits"]
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    # the agents' own grace (finish and commit a batch) plus preStop fits in the pod's grace
    assert spec["terminationGracePeriodSeconds"] > STOP_GRACE_S + int(pre_stop[1])


def test_secrets_are_the_operators_or_the_documented_one() -> None:
    (cluster,) = _of_kind("Cluster").values()
    readme = (PROJECT_ROOT / "README.md").read_text()
    for _, container in _containers():
        for entry in container.get("env", []):
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref is None:
                continue
            if ref["name"] == f"{cluster['metadata']['name']}-app":
                assert (entry["name"], ref["key"]) == ("DATABASE_URL", "uri")
            else:
                assert ref["name"] == SECRET_NAME and ref["key"] == entry["name"]
                assert f"--from-literal={entry['name']}=" in readme, entry["name"]
    enricher = DEPLOYMENTS["enricher"]["spec"]["template"]["spec"]["containers"][0]
    (gemini,) = [e for e in enricher["env"] if e["name"] == "GEMINI_API_KEY"]
    assert gemini["valueFrom"]["secretKeyRef"]["optional"] is True  # no key: offline backend
    assert all(e["name"] != "ENRICHMENT_BACKEND" for e in enricher["env"])


# --- Strimzi: the cluster, its listener and the topic catalogue ----------------------------


def test_kafka_is_strimzis_three_node_kraft_cluster_with_min_isr_2() -> None:
    ((name, kafka),) = _of_kind("Kafka").items()
    assert kafka["apiVersion"] == "kafka.strimzi.io/v1beta2"
    assert kafka["metadata"]["annotations"]["strimzi.io/kraft"] == "enabled"
    config = kafka["spec"]["kafka"]["config"]
    assert config["min.insync.replicas"] == CLUSTER.min_insync_replicas
    assert config["default.replication.factor"] == CLUSTER.replication_factor
    assert config["auto.create.topics.enable"] is False
    assert config["unclean.leader.election.enable"] is False
    (pool,) = _of_kind("KafkaNodePool").values()
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == name
    assert pool["spec"]["replicas"] == 3
    assert set(pool["spec"]["roles"]) == {"controller", "broker"}
    assert "topicOperator" in kafka["spec"]["entityOperator"]
    (listener,) = kafka["spec"]["kafka"]["listeners"]
    bootstrap = f"{name}-kafka-bootstrap:{listener['port']}"  # Strimzi's bootstrap Service
    assert CONFIG["KAFKA_BOOTSTRAP_SERVERS"] == bootstrap
    api = DEPLOYMENTS["api"]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "KAFKA_BOOTSTRAP_SERVERS", "value": bootstrap} in api
    assert CONFIG["KAFKA_REPLICATION_FACTOR"] == str(CLUSTER.replication_factor)


def test_the_kafka_topics_are_exactly_the_catalogue_with_the_cluster_profile() -> None:
    (kafka_name,) = _of_kind("Kafka")
    topics = {doc["spec"]["topicName"]: doc for doc in _of_kind("KafkaTopic").values()}
    assert set(topics) == {spec.name for spec in CATALOGUE}
    for spec in CATALOGUE:
        topic = topics[spec.name]
        wanted = CLUSTER.sized(spec)
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == kafka_name
        assert topic["spec"]["partitions"] == wanted.partitions
        assert topic["spec"]["replicas"] == CLUSTER.replication_factor
        assert topic["spec"]["config"] == CLUSTER.configs(wanted)


# --- CloudNativePG ---------------------------------------------------------------------------


def test_postgres_is_a_cloudnativepg_cluster_with_the_services_database() -> None:
    ((name, cluster),) = _of_kind("Cluster").items()
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    assert cluster["spec"]["instances"] == 3
    assert cluster["spec"]["bootstrap"]["initdb"] == {"database": "jobstream", "owner": "jobstream"}
    assert "size" in cluster["spec"]["storage"]
    assert name == "jobstream-db"
    assert not _of_kind("StatefulSet")  # no home-made databases or brokers


# --- KEDA ------------------------------------------------------------------------------------


def test_scaling_follows_the_lag_of_each_services_own_consumer_group() -> None:
    scaled = _of_kind("ScaledObject")
    assert set(scaled) == {"ingestor", "enricher", "router"}
    sources = {name: (PROJECT_ROOT / f"services/{name}/app.py").read_text() for name in scaled}
    for name, doc in scaled.items():
        assert doc["apiVersion"] == "keda.sh/v1alpha1"
        assert doc["spec"]["scaleTargetRef"] == {"name": name} and name in DEPLOYMENTS
        (trigger,) = doc["spec"]["triggers"]
        meta = trigger["metadata"]
        spec = by_name(meta["topic"])
        assert trigger["type"] == "kafka"
        assert meta["consumerGroup"] == group_of(name, spec)
        assert spec.name.replace(".", "_").upper() in sources[name]  # it consumes that topic
        assert meta["bootstrapServers"] == CONFIG["KAFKA_BOOTSTRAP_SERVERS"]
        assert int(meta["lagThreshold"]) > 0
        # more members than partitions would sit idle
        assert 1 <= doc["spec"]["minReplicaCount"] <= doc["spec"]["maxReplicaCount"]
        assert doc["spec"]["maxReplicaCount"] <= CLUSTER.sized(spec).partitions


# --- the dev overlay: one node, the local profile ----------------------------------------------


def test_the_dev_overlay_is_consistently_one_replica_one_in_sync() -> None:
    dev = K8S / "overlays/dev"
    (kustomization,) = _documents(dev / "kustomization.yaml")
    patched = {doc["kind"]: doc for doc in _documents(dev / "single-node.yaml")}
    assert patched["KafkaNodePool"]["spec"]["replicas"] == 1
    config = patched["Kafka"]["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == config["min.insync.replicas"] == 1
    assert patched["Cluster"]["spec"]["instances"] == 1
    (stream,) = _documents(dev / "stream-config.yaml")
    assert stream["data"] == {"KAFKA_REPLICATION_FACTOR": "1"}
    (topic_patch,) = [p for p in kustomization["patches"] if "target" in p]
    assert topic_patch["target"] == {"kind": "KafkaTopic"}
    operations = {op["path"]: op["value"] for op in yaml.safe_load(topic_patch["patch"])}
    assert operations == {"/spec/replicas": 1, "/spec/config/min.insync.replicas": "1"}
