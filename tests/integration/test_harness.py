"""The harness is real: independent API servers, controllers that scale, EndpointSlices, CRD validation, Helm."""

import json
import os
import re
import subprocess
import time
from pathlib import Path

import yaml

from lab import build
from lab import cluster as lab_cluster

REPO = Path(__file__).resolve().parents[2]


def _wait(predicate, timeout=60, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError("timed out waiting for " + what)


def test_clusters_are_independent(lab, kubectl, cluster_names):
    assert len(cluster_names) >= 2
    a, b = cluster_names[:2]
    kubectl(a, "create", "configmap", "only-in-a", "-n", "default", "--from-literal=k=v")
    try:
        assert kubectl(a, "get", "configmap", "only-in-a", "-n", "default", check=False).returncode == 0
        missing = kubectl(b, "get", "configmap", "only-in-a", "-n", "default", check=False)
        assert missing.returncode != 0 and "NotFound" in missing.stderr
        servers = {json.loads(kubectl(c, "config", "view", "--minify", "-o", "json").stdout)
                   ["clusters"][0]["cluster"]["server"] for c in cluster_names}
        assert len(servers) == len(cluster_names)
    finally:
        kubectl(a, "delete", "configmap", "only-in-a", "-n", "default")


def _ready_endpoints(kubectl, cluster, ns, svc):
    out = kubectl(cluster, "get", "endpointslices", "-n", ns, "-l", "kubernetes.io/service-name=" + svc,
                  "-o", "json").stdout
    count = 0
    for item in json.loads(out)["items"]:
        for ep in item.get("endpoints") or []:
            if (ep.get("conditions") or {}).get("ready"):
                count += 1
    return count


def test_deployment_scales_with_ready_pods_and_endpoints(lab, kubectl, cluster_names):
    c = cluster_names[0]
    ns = "harness-scale"
    manifest = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": ns},
         "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                  "template": {"metadata": {"labels": {"app": "web"}},
                               "spec": {"containers": [{"name": "web", "image": "example.invalid/web:1",
                                                        "ports": [{"containerPort": 8080}]}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": ns},
         "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}},
    ]
    kubectl(c, "apply", "-f", "-", input=yaml.safe_dump_all(manifest))
    try:
        def ready_pods():
            pods = json.loads(kubectl(c, "get", "pods", "-n", ns, "-l", "app=web", "-o", "json").stdout)["items"]
            return [p for p in pods if p["status"].get("phase") == "Running" and any(
                cond["type"] == "Ready" and cond["status"] == "True" for cond in p["status"].get("conditions", []))]
        _wait(lambda: len(ready_pods()) == 2, 90, "2 ready pods")
        _wait(lambda: _ready_endpoints(kubectl, c, ns, "web") == 2, 60, "2 ready endpoints")
        kubectl(c, "scale", "deployment/web", "-n", ns, "--replicas=0")
        _wait(lambda: not ready_pods(), 60, "pods gone")
        _wait(lambda: _ready_endpoints(kubectl, c, ns, "web") == 0, 60, "no ready endpoints")
    finally:
        kubectl(c, "delete", "namespace", ns, "--wait=false")


def _route(backend):
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "probe", "namespace": "default"},
            "spec": {"parentRefs": [{"name": "http", "namespace": "default"}],
                     "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/productpage"}}],
                                "backendRefs": [backend]}]}}


def test_hostname_backendref_accepted_and_malformed_rejected(lab, kubectl, cluster_names):
    c = cluster_names[0]
    good = _route({"name": "productpage.bookinfo.mesh.internal", "port": 9080, "kind": "Hostname",
                   "group": "networking.istio.io"})
    out = kubectl(c, "apply", "--dry-run=server", "-o", "json", "-f", "-", input=json.dumps(good))
    ref = json.loads(out.stdout)["spec"]["rules"][0]["backendRefs"][0]
    assert ref["kind"] == "Hostname" and ref["group"] == "networking.istio.io"
    bad = _route({"name": "productpage.bookinfo.mesh.internal", "port": 70000, "kind": "Hostname",
                  "group": "networking.istio.io"})
    rejected = kubectl(c, "apply", "--dry-run=server", "-f", "-", input=json.dumps(bad), check=False)
    assert rejected.returncode != 0
    assert "port" in rejected.stderr and "65535" in rejected.stderr


def test_helm_installs_a_local_chart(lab, cluster_names, tmp_path):
    chart = tmp_path / "hello"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: hello\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("greeting: hi\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hello\ndata:\n  greeting: {{ .Values.greeting }}\n")
    helm = str(build.find("helm"))
    env = dict(os.environ, KUBECONFIG=str(lab.kubeconfig))
    c = cluster_names[1]
    subprocess.run([helm, "upgrade", "--install", "hello", str(chart), "-n", "default", "--kube-context", c,
                    "--set", "greeting=hello-from-test", "--wait", "--timeout", "60s"], check=True, env=env,
                   capture_output=True)
    try:
        cm = json.loads(lab.kubectl(c, "get", "configmap", "hello", "-n", "default", "-o", "json").stdout)
        assert cm["data"]["greeting"] == "hello-from-test"
        assert cm["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    finally:
        subprocess.run([helm, "uninstall", "hello", "-n", "default", "--kube-context", c], env=env,
                       capture_output=True, check=False)


def test_version_is_stamped(lab):
    out = subprocess.run([str(build.find("kube-apiserver")), "--version"], capture_output=True, text=True, check=True)
    from lab import pins

    assert out.stdout.strip() == "Kubernetes " + pins.KUBERNETES


def _listeners():
    """{port: set(pids)} of listening TCP sockets in this namespace."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    result = {}
    for line in out.splitlines():
        port = int(line.split()[3].rsplit(":", 1)[1])
        result.setdefault(port, set()).update(int(p) for p in re.findall(r"pid=(\d+)", line))
    return result


def test_down_leaves_no_process_or_port(tmp_path):
    """A separate one-cluster lab: after down none of its PIDs live and none of its ports is held by them."""
    one = lab_cluster.Lab(tmp_path / "one")
    one.up(1)
    procs = one.status()
    pids = {p["pid"] for p in procs}
    ports = set(one.clusters()[0]["ports"].values())
    assert procs and all(p["alive"] for p in procs)
    before = _listeners()
    assert all(before.get(port, set()) & pids for port in ports), "every component listens on its port"
    one.down()
    assert not one.running()
    assert not [p for p in procs if Path("/proc/%d" % p["pid"]).exists() and lab_cluster.Lab._alive(p)]
    after = _listeners()
    held = {port: after[port] for port in ports if port in after and after[port] & pids}
    assert not held, "ports still held by lab processes: %s" % held
    assert not [pid for owners in after.values() for pid in owners if pid in pids]
