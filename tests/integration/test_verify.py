"""Role verify and modules failover_check/mesh_info against real API servers.

A stand-in ingress (a thread here) answers like the lab's Envoy: from cluster1 while productpage has ready
endpoints there, else from cluster2 (or 503 when failover is off). The drill scales the real Deployment in
cluster1; a watcher records what the API server saw."""

import base64
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import yaml

from tests.unit.plugins.module_utils.probe_http import Server, from_cluster

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / "playbooks" / "verify.yml"
PLAYBOOKS = REPO / "tests" / "integration" / "playbooks" / "verify"
NS = "verify-drill"
MESH_NS = "a-verify-mesh"  # sorts first, so mesh_info reports these objects even if other tests left Istio around
ANNOTATION = "ambientmesh.multicluster/drill-original-replicas"
CLUSTER_HEADER = "x-ambientmesh-cluster"


def app_docs():
    docs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}]
    for app in ("productpage", "ratings"):
        labels = {"app": app, "version": "v1"}
        docs += [
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": app + "-v1", "namespace": NS},
             "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                      "template": {"metadata": {"labels": labels},
                                   "spec": {"containers": [{"name": app, "image": "example.invalid/%s:1" % app,
                                                            "ports": [{"containerPort": 9080}]}]}}}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": app, "namespace": NS},
             "spec": {"selector": {"app": app}, "ports": [{"name": "http", "port": 9080}]}},
        ]
    return docs


def ready_endpoints(kube, cluster, service="productpage"):
    slices = kube(cluster).resources.get(api_version="discovery.k8s.io/v1", kind="EndpointSlice").get(
        namespace=NS, label_selector="kubernetes.io/service-name=" + service).to_dict()["items"]
    return sum(1 for s in slices for ep in s.get("endpoints") or [] if (ep.get("conditions") or {}).get("ready"))


def deployment(kube, cluster, name="productpage-v1"):
    return kube(cluster).resources.get(api_version="apps/v1", kind="Deployment").get(
        name=name, namespace=NS).to_dict()


def wait_for(predicate, timeout=90, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError("timed out waiting for " + what)


@pytest.fixture(scope="module")
def app(lab, kubectl, kube, cluster_names):
    """productpage-v1 and ratings-v1 (1 replica each, with Services) in both clusters."""
    clusters = cluster_names[:2]
    for c in clusters:
        kubectl(c, "apply", "-f", "-", input=yaml.safe_dump_all(app_docs()))
    for c in clusters:
        wait_for(lambda: ready_endpoints(kube, c) == 1, what="productpage endpoint in " + c)
    yield clusters
    for c in clusters:
        kubectl(c, "delete", "namespace", NS, "--wait=false", check=False)


def assert_restored(kube, cluster, timeout=5):
    """1 replica, no drill annotation, a ready endpoint (within `timeout`: an interrupted module may still be
    finishing its restore after ansible-playbook exited)."""
    def restored():
        dep = deployment(kube, cluster)
        return (dep["spec"]["replicas"] == 1 and ANNOTATION not in (dep["metadata"].get("annotations") or {})
                and ready_endpoints(kube, cluster) == 1)
    wait_for(restored, timeout, "productpage-v1 restored in " + cluster)


class Watcher:
    """Polls a cluster's productpage-v1 and its ready endpoints every 0.1 s."""

    def __init__(self, kube, cluster):
        self.kube, self.cluster = kube, cluster
        self.seen = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(0.1):
            dep = deployment(self.kube, self.cluster)
            self.seen.append((dep["spec"]["replicas"], ready_endpoints(self.kube, self.cluster),
                              (dep["metadata"].get("annotations") or {}).get(ANNOTATION), dep["metadata"]["generation"]))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def replicas(self):
        return [s[0] for s in self.seen]

    def scaled_down(self):
        return any(s[0] == 0 for s in self.seen) and any(s[1] == 0 for s in self.seen)


class StandInIngress(Server):
    """Answers 200 naming cluster1 while it has a ready productpage endpoint, else cluster2 (when failover is
    on), else 503 - the priority-0/priority-1 behaviour of the lab's Envoy."""

    def __init__(self, kube, clusters, failover=True):
        super(StandInIngress, self).__init__(self.answer)
        self.kube, self.clusters, self.failover = kube, clusters, failover
        self.ready = dict((c, 1) for c in clusters)
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, daemon=True)

    def answer(self, now, handler):
        order = self.clusters if self.failover else self.clusters[:1]
        return from_cluster(200 if any(self.ready.get(c) for c in order) else 503,
                            next((c for c in order if self.ready.get(c)), None), header=CLUSTER_HEADER)

    def _poll(self):
        while not self._stop.wait(0.1):
            for c in self.clusters:
                self.ready[c] = ready_endpoints(self.kube, c)

    def __enter__(self):
        self._poller.start()
        return super(StandInIngress, self).__enter__()

    def __exit__(self, *exc):
        self._stop.set()
        super(StandInIngress, self).__exit__(*exc)


def role_vars(tmp_path, port, **over):
    # the drill alone: these clusters hold no mesh, which the mesh health check would (rightly) fail
    v = {"verify_mesh_info": False, "verify_in_mesh": False, "verify_ingress_address": "127.0.0.1", "verify_ingress_port": port,
         "verify_cluster_header": CLUSTER_HEADER, "verify_rate": 10, "verify_ingress_seconds": 2,
         "verify_failover_namespace": NS, "verify_failover_baseline_seconds": 2, "verify_failover_hold_seconds": 3,
         "verify_failover_settle_seconds": 2, "verify_failover_wait_timeout": 60,
         "verify_reports_dir": str(tmp_path / "reports")}
    v.update(over)
    return v


def process_tree():
    """{parent pid: [child pids]} from /proc."""
    tree = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        tree.setdefault(ppid, []).append(int(stat.parent.name))
    return tree


def children(pid):
    return process_tree().get(pid, [])


def descendants(root):
    tree = process_tree()
    out, todo = [], [root]
    while todo:
        for child in tree.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def cmdline(pid):
    try:
        return Path("/proc/%d/cmdline" % pid).read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def drill_held_at_zero(run_playbook, inventory, tmp_path, ingress, watch):
    """Start the role in a thread with a long hold; return (thread, box for its result) once cluster1 is at 0."""
    box = {}
    extra = role_vars(tmp_path, ingress.port, verify_failover_hold_seconds=60)
    thread = threading.Thread(target=lambda: box.update(result=run_playbook(PLAYBOOK, inventory, extra_vars=extra)),
                              daemon=True)
    thread.start()
    wait_for(watch.scaled_down, 600, "the drill to scale down")
    return thread, box


def reports(tmp_path):
    folder = tmp_path / "reports"
    return sorted(folder.iterdir()) if folder.exists() else []


def test_drill_through_the_role_scales_restores_and_reports(app, kube, make_inventory, run_playbook, tmp_path):
    c1, c2 = app
    inv = make_inventory([c1, c2])
    with StandInIngress(kube, [c1, c2]) as ingress, Watcher(kube, c1) as watch:
        res = run_playbook(PLAYBOOK, inv, extra_vars=role_vars(tmp_path, ingress.port))
    assert res.rc == 0, res
    assert watch.scaled_down(), watch.seen
    assert watch.replicas()[0] == 1 and watch.replicas()[-1] == 1
    assert any(s[2] == "1" for s in watch.seen), "annotation with the original count never seen"
    assert_restored(kube, c1)

    files = reports(tmp_path)
    assert [f.suffix for f in files] == [".json", ".md", ".png"]
    doc = json.loads(files[0].read_text())
    drill = doc["drill"]
    assert doc["passed"] is True and drill["cluster"] == c1 and drill["passed"] is True
    assert [p["name"] for p in drill["phases"]] == ["baseline", "disrupt", "hold", "restore", "settle"]
    overall = drill["overall"]
    # 10 requests per second over the whole drill, all answered thanks to the second cluster
    assert abs(overall["requests"] - 10 * overall["seconds"]) <= 3
    assert overall["requests"] == sum(p["requests"] for p in drill["phases"]) == len(drill["timeline"])
    assert overall["success_ratio"] == 1.0 and overall["status_codes"] == {"200": overall["requests"]}
    baseline, _disrupt, hold = drill["phases"][:3]
    assert baseline["clusters"] == {c1: baseline["requests"]} and baseline["requests"] >= 18
    assert hold["clusters"] == {c2: hold["requests"]} and hold["requests"] >= 28
    assert drill["deployment"]["original_replicas"] == 1 and drill["timings"]["endpoints_gone_seconds"] > 0
    assert doc["clusters"] == {}  # mesh facts are off here: these clusters hold no mesh (see the mesh_info tests)
    ingress_check = doc["checks"]["ingress"][c1]
    assert ingress_check["passed"] and abs(ingress_check["overall"]["requests"] - 20) <= 2
    md = files[1].read_text()
    assert md.startswith("# Multicluster ambient mesh verification: PASSED")
    assert "| hold | " in md and "%s: %d" % (c2, hold["requests"]) in md
    assert "![Failover timeline](%s)" % files[2].name in md
    png = files[2].read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 20000

    # Again: nothing changes on the clusters; only the new (timestamped) report is written, on the controller.
    time.sleep(1.1)
    with StandInIngress(kube, [c1, c2]) as ingress:
        again = run_playbook(PLAYBOOK, inv, extra_vars=role_vars(tmp_path, ingress.port), verbosity=0)
    assert again.rc == 0, again
    # The new report is the run's output, not a change.
    assert again.stats[c2]["changed"] == 0 and again.stats[c1]["changed"] == 0, again.changed_tasks
    assert "ok: [%s -> localhost]" % c1 in again.stdout.split("TASK [ambientmesh.multicluster.verify : Report | write it]")[1].split("TASK")[0]
    assert len(reports(tmp_path)) == 6
    assert_restored(kube, c1)


def test_check_mode_scales_nothing_and_shows_the_report_diff(app, kube, make_inventory, run_playbook, tmp_path):
    c1, c2 = app
    inv = make_inventory([c1, c2])
    with StandInIngress(kube, [c1, c2]) as ingress, Watcher(kube, c1) as watch:
        res = run_playbook(PLAYBOOK, inv, extra_vars=role_vars(tmp_path, ingress.port), check=True, diff=True)
    assert res.rc == 0, res
    assert set(watch.replicas()) == {1} and len(set(s[3] for s in watch.seen)) == 1, "the Deployment was touched"
    assert reports(tmp_path) == []
    shown = res.stdout.split("TASK [ambientmesh.multicluster.verify : Report | show what a real run would write]")[1]
    assert "# Multicluster ambient mesh verification: PASSED" in shown.split("TASK [")[0]
    assert res.changed == 0, res.changed_tasks  # the report is output, not a change


def test_failed_drill_restores_and_still_reports(app, kube, make_inventory, run_playbook, tmp_path):
    c1, c2 = app
    inv = make_inventory([c1, c2])
    with StandInIngress(kube, [c1, c2], failover=False) as ingress, Watcher(kube, c1) as watch:
        res = run_playbook(PLAYBOOK, inv, extra_vars=role_vars(tmp_path, ingress.port))
    assert res.rc != 0
    assert watch.scaled_down(), watch.seen
    assert_restored(kube, c1)
    assert "Verification failed (report: %s" % (tmp_path / "reports") in res.stdout
    assert "failover drill: success ratio" in res.stdout and "below min_success_ratio 0.99" in res.stdout
    doc = json.loads(reports(tmp_path)[0].read_text())
    assert doc["passed"] is False
    hold = doc["drill"]["phases"][2]
    assert hold["status_codes"] == {"503": hold["requests"]} and hold["success_ratio"] == 0.0
    assert doc["drill"]["overall"]["recovered"] is True
    assert "# Multicluster ambient mesh verification: FAILED" in reports(tmp_path)[1].read_text()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_drill_restores(app, kube, make_inventory, run_playbook, tmp_path, signum):
    """Like Ctrl-C (SIGINT) or a job cancel (SIGTERM): the signal reaches ansible-playbook, its workers and the
    module while productpage-v1 is at 0; the module restores it before it exits."""
    c1, c2 = app
    inv = make_inventory([c1, c2])
    with StandInIngress(kube, [c1, c2]) as ingress, Watcher(kube, c1) as watch:
        thread, box = drill_held_at_zero(run_playbook, inv, tmp_path, ingress, watch)
        playbook = [p for p in children(os.getpid()) if "ansible-playbook" in cmdline(p)]
        assert len(playbook) == 1
        tree = playbook + descendants(playbook[0])
        assert any("AnsiballZ_failover_check" in cmdline(p) for p in tree)
        for pid in tree:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass
        thread.join(600)
        assert not thread.is_alive()
        res = box["result"]
        assert res.rc != 0
        assert_restored(kube, c1, timeout=120)
    assert reports(tmp_path) == []


def test_killed_drill_is_repaired_by_teardown(app, kube, make_inventory, run_playbook, tmp_path):
    """SIGKILL leaves no chance to restore: the annotation keeps the count and teardown puts it back."""
    c1, c2 = app
    inv = make_inventory([c1, c2])
    with StandInIngress(kube, [c1, c2]) as ingress, Watcher(kube, c1) as watch:
        thread, box = drill_held_at_zero(run_playbook, inv, tmp_path, ingress, watch)
        modules = [p for p in descendants(os.getpid()) if "AnsiballZ_failover_check" in cmdline(p)]
        assert modules
        for pid in modules:
            os.kill(pid, signal.SIGKILL)
        thread.join(600)
        assert not thread.is_alive()
    assert box["result"].rc != 0
    dep = deployment(kube, c1)
    assert dep["spec"]["replicas"] == 0 and dep["metadata"]["annotations"][ANNOTATION] == "1"

    keep_reports = role_vars(tmp_path, 1, verify_teardown_reports=False)
    check = run_playbook(PLAYBOOKS / "teardown.yml", inv, extra_vars=keep_reports, check=True, diff=True)
    assert check.rc == 0 and check.stats[c1]["changed"] == 1, check
    assert deployment(kube, c1)["spec"]["replicas"] == 0
    down = run_playbook(PLAYBOOKS / "teardown.yml", inv, extra_vars=keep_reports, diff=True)
    assert down.rc == 0 and down.stats[c1]["changed"] == 1 and down.stats[c2]["changed"] == 0, down
    lines = down.stdout.splitlines()
    assert any(line.startswith("-") and line.strip("- ") == "replicas: 0" for line in lines), down
    assert any(line.startswith("+") and line.strip("+ ") == "replicas: 1" for line in lines), down
    assert_restored(kube, c1)
    again = run_playbook(PLAYBOOKS / "teardown.yml", inv, extra_vars=keep_reports)
    assert again.rc == 0 and again.changed == 0, again


def test_teardown_removes_the_reports(app, kube, make_inventory, run_playbook, tmp_path):
    c1, c2 = app
    inv = make_inventory([c1, c2])
    folder = tmp_path / "reports"
    folder.mkdir()
    for name in ("verify-20250101T000000Z.json", "verify-20250101T000000Z.md", "verify-20250101T000000Z.png"):
        (folder / name).write_text("x")
    (folder / "notes.md").write_text("mine")
    down = run_playbook(PLAYBOOKS / "teardown.yml", inv, extra_vars=role_vars(tmp_path, 1))
    assert down.rc == 0 and down.changed == 1, down
    assert [f.name for f in folder.iterdir()] == ["notes.md"]
    again = run_playbook(PLAYBOOKS / "teardown.yml", inv, extra_vars=role_vars(tmp_path, 1))
    assert again.rc == 0 and again.changed == 0, again


def drill_vars(tmp_path, **over):
    v = {"out_dir": str(tmp_path), "drill_hosts": "cluster1", "drill_namespace": NS,
         "drill_deployment": "productpage-v1", "drill_rate": 10, "drill_baseline_seconds": 1,
         "drill_hold_seconds": 1, "drill_settle_seconds": 1}
    v.update(over)
    return v


@pytest.mark.parametrize("over,message", [
    (dict(drill_deployment="nope"), "deployment: Deployment nope not found in namespace %s" % NS),
    (dict(drill_url="http://127.0.0.1:1/productpage"),
     "url: http://127.0.0.1:1/productpage is unreachable from the controller (connection refused)"),
    (dict(drill_min_success_ratio=1.5), "min_success_ratio: 1.5 is outside 0..1; give a fraction such as 0.99"),
    (dict(drill_rate=0), "rate: 0.0 requests per second is outside (0, 100]"),
])
def test_bad_input_fails_clearly_with_nothing_scaled(app, kube, make_inventory, run_playbook, tmp_path, over,
                                                     message):
    c1, c2 = app
    inv = make_inventory([c1, c2])
    before = deployment(kube, c1)["metadata"]["generation"]
    with StandInIngress(kube, [c1, c2]) as ingress:
        extra = drill_vars(tmp_path, drill_url="http://127.0.0.1:%d/productpage" % ingress.port)
        extra.update(over)
        res = run_playbook(PLAYBOOKS / "drill.yml", inv, extra_vars=extra)
    result = json.loads((tmp_path / (c1 + ".json")).read_text())
    assert result["failed"] is True and result["msg"].startswith(message), result["msg"]
    dep = deployment(kube, c1)
    assert dep["metadata"]["generation"] == before and ANNOTATION not in (dep["metadata"].get("annotations") or {})
    assert res.rc == 0  # the test playbook ignores the error to save the result


def test_in_mesh_probe_adds_an_ephemeral_curl_container(app, kube, kubectl, make_inventory, run_playbook, tmp_path):
    """kwok runs no container, so the probe cannot start here: the test proves the API side (the ephemeral
    container the guide's kubectl debug would add, with our curl loop) and the clear failure, nothing scaled."""
    c1, c2 = app
    inv = make_inventory([c1, c2])
    before = deployment(kube, c1)["metadata"]["generation"]
    in_mesh = {"namespace": NS, "label_selector": "app=ratings", "image": "curlimages/curl:8.11.1",
               "start_timeout": 5}
    extra = drill_vars(tmp_path, drill_url="http://productpage.%s.mesh.internal:9080/productpage" % NS,
                       drill_in_mesh=in_mesh, drill_cluster_header=CLUSTER_HEADER)

    def pod():
        return json.loads(kubectl(c1, "get", "pods", "-n", NS, "-l", "app=ratings", "-o", "json").stdout)["items"][0]
    existing = [c["name"] for c in pod()["spec"].get("ephemeralContainers") or []]

    checked = run_playbook(PLAYBOOKS / "drill.yml", inv, extra_vars=extra, check=True)
    result = json.loads((tmp_path / (c1 + ".json")).read_text())
    assert checked.rc == 0 and result["changed"] is True and result.get("failed") is not True, result
    assert "check mode: would add ephemeral container ambientmesh-probe-" in result["notes"][-1]
    assert [c["name"] for c in pod()["spec"].get("ephemeralContainers") or []] == existing

    run_playbook(PLAYBOOKS / "drill.yml", inv, extra_vars=extra)
    result = json.loads((tmp_path / (c1 + ".json")).read_text())
    assert result["failed"] is True
    assert "in-mesh probe: ephemeral container ambientmesh-probe-" in result["msg"]
    assert "did not start within 5.0s (state: not reported)" in result["msg"]
    added = [c for c in pod()["spec"]["ephemeralContainers"] if c["name"] not in existing]
    assert len(added) == 1 and added[0]["image"] == "curlimages/curl:8.11.1"
    assert added[0]["command"][:2] == ["sh", "-c"]
    script = added[0]["command"][2]
    assert "http://productpage.%s.mesh.internal:9080/productpage" % NS in script
    assert "%%header{%s}" % CLUSTER_HEADER in script and "sleep 0.1;" in script
    dep = deployment(kube, c1)
    assert dep["metadata"]["generation"] == before and ANNOTATION not in (dep["metadata"].get("annotations") or {})


def test_role_refuses_a_bad_threshold_before_anything(app, kube, make_inventory, run_playbook, tmp_path):
    c1, c2 = app
    inv = make_inventory([c1, c2])
    before = deployment(kube, c1)["metadata"]["generation"]
    res = run_playbook(PLAYBOOK, inv, extra_vars=role_vars(tmp_path, 1, verify_min_success_ratio=1.5))
    assert res.rc != 0
    assert "verify_min_success_ratio must be a fraction in 0..1" in res.stdout
    assert "TASK [ambientmesh.multicluster.verify : Facts | this cluster's mesh facts and health]" not in res.stdout
    assert deployment(kube, c1)["metadata"]["generation"] == before and reports(tmp_path) == []


def mesh_docs(cluster, peer):
    def workload(kind, name, label, image):
        # the object carries the component's labels (what mesh_info selects); its pods do not, so kwok runs these
        # stand-ins instead of the lab agent taking the istiod one for a real istiod
        pods = {"lab-stand-in": name}
        spec = {"selector": {"matchLabels": pods}, "template": {"metadata": {"labels": pods}, "spec": {
            "containers": [{"name": name, "image": image}]}}}
        if kind == "Deployment":
            spec["replicas"] = 1
        return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": MESH_NS, "labels": label},
                "spec": spec}

    hub = "us-docker.pkg.dev/soloio-img/istio/"
    listeners = [{"name": "cross-network", "port": 15008, "protocol": "HBONE", "tls": {"mode": "Passthrough"}}]
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": MESH_NS, "labels": {
            "istio.io/dataplane-mode": "ambient"}}},
        workload("Deployment", "istiod-gloo", {"app": "istiod"}, hub + "pilot:1.29.0-solo-distroless"),
        # the labels Istio's charts put on the DaemonSet itself (app=ztunnel is only on its pods)
        workload("DaemonSet", "ztunnel", {"app.kubernetes.io/name": "ztunnel"}, hub + "ztunnel:1.29.0-solo-distroless"),
        workload("DaemonSet", "istio-cni-node", {"k8s-app": "istio-cni-node"}, hub + "install-cni:1.29.0-solo"),
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
         "metadata": {"name": "istio-eastwest", "namespace": MESH_NS,
                      "labels": {"topology.istio.io/network": "network-" + cluster}},
         "spec": {"gatewayClassName": "istio-eastwest", "listeners": listeners}},
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
         "metadata": {"name": "istio-remote-peer-" + peer, "namespace": MESH_NS,
                      "labels": {"topology.istio.io/network": "network-" + peer},
                      "annotations": {"gateway.istio.io/trust-domain": peer + ".local"}},
         "spec": {"gatewayClassName": "istio-remote", "addresses": [{"type": "IPAddress", "value": "198.51.100.99"}],
                  "listeners": listeners}},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "productpage", "namespace": MESH_NS, "labels": {"solo.io/service-scope": "global"}},
         "spec": {"selector": {"app": "productpage"}, "ports": [{"port": 9080}]}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {
            "name": "istio-remote-secret-" + peer, "namespace": "istio-system", "labels": {"istio/multiCluster": "true"},
            "annotations": {"networking.istio.io/cluster": peer}},
         "data": {peer: base64.b64encode(b"token: do-not-leak-me").decode()}},
    ]


def test_mesh_info_reports_what_the_cluster_has(lab, kube, kubectl, cluster_names, make_inventory, run_playbook,
                                                tmp_path):
    c1, c2 = cluster_names[:2]
    kubectl(c1, "create", "namespace", "istio-system", check=False)
    kubectl(c1, "apply", "-f", "-", input=yaml.safe_dump_all(mesh_docs(c1, c2)))
    try:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        status = {"status": {"addresses": [{"type": "IPAddress", "value": "198.51.100.10"}], "conditions": [
            {"type": t, "status": "True", "reason": t, "message": "", "lastTransitionTime": now,
             "observedGeneration": 1} for t in ("Accepted", "Programmed")]}}
        kubectl(c1, "patch", "gateway", "istio-eastwest", "-n", MESH_NS, "--subresource=status", "--type=merge",
                "-p", json.dumps(status))
        wait_for(lambda: all(kube(c1).resources.get(api_version="apps/v1", kind="DaemonSet").get(
            name=n, namespace=MESH_NS).to_dict().get("status", {}).get("numberReady") for n in
            ("ztunnel", "istio-cni-node")), what="DaemonSets ready")
        wait_for(lambda: deployment_ready(kube, c1), what="istiod ready")
        inv = make_inventory([c1, c2])
        res = run_playbook(PLAYBOOKS / "mesh_info.yml", inv, extra_vars={"out_dir": str(tmp_path)})
        assert res.rc == 0 and res.changed == 2, res  # the two saved files
        assert "do-not-leak-me" not in res.stdout and "ZG8tbm90LWxlYWstbWU" not in res.stdout
        mesh = json.loads((tmp_path / (c1 + ".json")).read_text())["mesh"]
        assert mesh["distribution"] == "solo" and mesh["ready"] is True and mesh["not_ready"] == []
        assert mesh["versions"]["istiod"] == mesh["versions"]["ztunnel"] == "1.29.0-solo"
        assert mesh["versions"]["kubernetes"].startswith("v1.")
        assert mesh["components"]["istiod"] == {
            "name": "istiod-gloo", "namespace": MESH_NS, "desired": 1, "ready_replicas": 1, "ready": True,
            "image": "us-docker.pkg.dev/soloio-img/istio/pilot:1.29.0-solo-distroless", "version": "1.29.0-solo"}
        assert mesh["eastwest_address"] == "198.51.100.10"
        assert mesh["components"]["eastwest_gateway"]["programmed"] is True
        assert {"kind": "peer-gateway", "name": "istio-remote-peer-" + c2, "namespace": MESH_NS,
                "network": "network-" + c2, "cluster": "network-" + c2, "address": "198.51.100.99",
                "trust_domain": c2 + ".local", "programmed": False} in mesh["peers"]
        assert {"kind": "remote-secret", "name": "istio-remote-secret-" + c2, "namespace": "istio-system",
                "cluster": c2} in mesh["peers"]
        assert MESH_NS + "/productpage" in mesh["global_services"]
        assert MESH_NS in mesh["ambient_namespaces"]
        other = json.loads((tmp_path / (c2 + ".json")).read_text())["mesh"]
        assert MESH_NS not in other["ambient_namespaces"] and "eastwest_gateway" in other["not_ready"]
        (tmp_path / "check").mkdir()
        checked = run_playbook(PLAYBOOKS / "mesh_info.yml", inv, extra_vars={"out_dir": str(tmp_path / "check")},
                               check=True)
        assert checked.rc == 0, checked
        assert json.loads((tmp_path / "check" / (c1 + ".json")).read_text())["mesh"] == mesh
    finally:
        kubectl(c1, "delete", "namespace", MESH_NS, "--wait=false", check=False)
        kubectl(c1, "delete", "secret", "istio-remote-secret-" + c2, "-n", "istio-system", check=False)


def deployment_ready(kube, cluster):
    dep = kube(cluster).resources.get(api_version="apps/v1", kind="Deployment").get(
        name="istiod-gloo", namespace=MESH_NS).to_dict()
    return (dep.get("status") or {}).get("readyReplicas") == 1


def test_the_role_follows_the_distribution_and_the_gateway_product(app, kube, kubectl, make_inventory, run_playbook,
                                                                   tmp_path):
    """upstream + kgateway with the defaults: the in-mesh probe asks for upstream's global name, and the ingress
    address comes from the Service kgateway names after the Gateway (http), not Gloo's gloo-proxy-http."""
    c1, c2 = app
    inv = make_inventory([c1, c2], group_vars={"mesh_distribution": "upstream", "mesh_gateway_product": "kgateway"})
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "http", "namespace": "gloo-system"},
           # a class the lab agent leaves alone, so the address below is the one the role reads
           "spec": {"type": "LoadBalancer", "loadBalancerClass": "example.com/test", "ports": [{"port": 8080}]}}
    kubectl(c1, "create", "namespace", "gloo-system", check=False)
    kubectl(c1, "apply", "-f", "-", input=json.dumps(svc))
    kubectl(c1, "patch", "service", "http", "-n", "gloo-system", "--subresource=status", "--type=merge",
            "-p", json.dumps({"status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}}))
    ratings = json.loads(kubectl(c1, "get", "pods", "-n", NS, "-l", "app=ratings", "-o", "json").stdout)["items"]
    existing = [c["name"] for p in ratings for c in p["spec"].get("ephemeralContainers") or []]
    try:
        with StandInIngress(kube, [c1, c2]) as ingress:
            res = run_playbook(PLAYBOOK, inv, extra_vars=dict(
                role_vars(tmp_path, ingress.port), verify_failover=False, verify_ingress_address=""))
        assert res.rc == 0, res
        doc = json.loads(reports(tmp_path)[0].read_text())
        assert doc["checks"]["ingress"][c1]["passed"] is True, doc["checks"]
        # kwok runs no container, so the in-mesh probe cannot start; what it was asked to request is the point
        probe = run_playbook(PLAYBOOK, inv, extra_vars=dict(
            role_vars(tmp_path, 9), verify_in_mesh=True, verify_in_mesh_namespace=NS, verify_in_mesh_start_timeout=3,
            verify_ingress=False, verify_failover=False))
        assert probe.rc != 0, probe
        pods = json.loads(kubectl(c1, "get", "pods", "-n", NS, "-l", "app=ratings", "-o", "json").stdout)["items"]
        added = [c for p in pods for c in p["spec"].get("ephemeralContainers") or [] if c["name"] not in existing]
        assert added and "http://productpage.bookinfo.svc.cluster.local:9080/productpage" in added[0]["command"][2]
    finally:
        kubectl(c1, "delete", "namespace", "gloo-system", "--wait=false", check=False)
