"""What only a real istiod can show: trust, ambient and link (upstream) on three clusters with Istio's own charts and
a real pilot-discovery per cluster (run by the lab agent), then what istiod itself reports.

Each check here can fail on a real gap: a root that istiod did not take, a peer it cannot read, a global service
it does not see. The reader-gap test proves the sync check fails when the peer's credential lacks what istiod
needs.
"""

import json
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from lab import agent as lab_agent
from lab import build as lab_build
from lab import charts as lab_charts
from lab import prometheus as lab_prometheus

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = REPO / "playbooks"
CLUSTERS = ("cluster1", "cluster2", "cluster3")
READER = "ambientmesh-mesh-reader"
PROBE_NS = "real-istio-probe"


def wait_for(what, check, timeout=90, interval=0.5, accept=bool):
    """check() until accept(its value); return that value, or fail naming `what` and the last value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as e:  # noqa: BLE001 - istiod restarting, object not there yet
            last = e
        if not isinstance(last, Exception) and accept(last):
            return last
        time.sleep(interval)
    pytest.fail("%s: not within %ss (last: %r)" % (what, timeout, last))


def debug(lab, cluster, path):
    """GET istiod's debug endpoint `path` (its HTTP port 8080, at the pod's own address) as JSON."""
    pod = lab.istiod(cluster, timeout=60)
    assert pod, "no Ready istiod for %s" % cluster
    with urllib.request.urlopen("http://%s:8080%s" % (pod["address"], path), timeout=10) as r:
        return json.loads(r.read())


def clusterz(lab, cluster):
    """{peer cluster: syncStatus} from istiod's /debug/clusterz, without the config cluster itself."""
    return {c["id"]: c["syncStatus"] for c in debug(lab, cluster, "/debug/clusterz") if c["id"] != cluster}


@pytest.fixture(scope="module")
def mesh(lab, tmp_path_factory, run_playbook, kubectl, cluster_names):
    """trust + ambient + link (upstream) on three clusters; torn down (all three roles) afterwards."""
    assert set(CLUSTERS) <= set(cluster_names)
    if lab_charts.istio() is None:
        pytest.fail("Istio's charts are not here (lab.charts): put them in ../shared/charts/istio or set AMBIENTMESH_CHARTS")
    work = tmp_path_factory.mktemp("real-istio")
    hosts = {c: {"kube_context": c, "mesh_network": "network-" + c} for c in CLUSTERS}
    group = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
             "kubeconfig_path": str(lab.kubeconfig), "mesh_distribution": "upstream", "mesh_id": "mesh-real",
             "link_allow_local_api_server": True,
             "trust_root_dir": str(work / "ca"), "ambient_helm_binary": str(lab_build.find("helm")),
             "ambient_gateway_api_crds": "never", "ambient_wait_timeout": 120, "ambient_eastwest_timeout": 90,
             "ambient_eastwest_poll_interval": 1}
    group.update(lab_charts.ambient_vars())
    inventory = work / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"mesh": {"hosts": hosts, "vars": group}}))
    books = [PLAYBOOKS / b for b in ("trust.yml", "ambient.yml", "link.yml")]
    try:
        for book in books:
            res = run_playbook(book, inventory)
            assert res.rc == 0, res
        yield {"inventory": inventory, "work": work}
    finally:
        down = run_playbook(PLAYBOOKS / "teardown.yml", inventory)
        assert down.rc == 0, down
        for c in CLUSTERS:
            kubectl(c, "delete", "namespace", PROBE_NS, "--ignore-not-found", "--wait=false", check=False)


@pytest.fixture(scope="module")
def istiod_prometheus(lab, tmp_path_factory):
    """A real Prometheus scraping every cluster's real istiod (port 15014), each labelled mesh_cluster=<its cluster>
    as one Prometheus for several clusters would; rescan() follows istiod pods that were replaced."""
    if lab_prometheus.find() is None:
        pytest.fail("prometheus is not built: run `python -m lab.prometheus build` (make lab-build does)")
    prom = lab_prometheus.Prometheus(tmp_path_factory.mktemp("istiod-prometheus"), []).start()

    def rescan():
        prom.discover([("%s:15014" % lab.istiod(c, timeout=90)["address"], {"mesh_cluster": c}) for c in CLUSTERS])

    prom.rescan = rescan
    try:
        yield prom
    finally:
        prom.stop()


def sync_states(prom, cluster):
    """{peer: state} that `cluster`'s istiod reports, as Prometheus scraped it."""
    query = 'istiod_remote_cluster_sync_status{mesh_cluster="%s"} == 1' % cluster
    with urllib.request.urlopen(prom.url + "/api/v1/query?" + urllib.parse.urlencode({"query": query}),
                                timeout=5) as r:
        return {x["metric"]["cluster"]: x["metric"]["status"] for x in json.loads(r.read())["data"]["result"]}


def peer_sync_vars(prom):
    return {"verify_peer_sync_prometheus_url": prom.url,
            "verify_peer_sync_selector": 'mesh_cluster="{{ inventory_hostname }}"'}


def secret_root(kubectl, cluster):
    import base64

    data = json.loads(kubectl(cluster, "get", "secret", "cacerts", "-n", "istio-system", "-o", "json").stdout)["data"]
    return base64.b64decode(data["root-cert.pem"]).decode()


def published_root(kubectl, cluster):
    out = kubectl(cluster, "get", "configmap", "istio-ca-root-cert", "-n", PROBE_NS, "-o", "json", check=False)
    return json.loads(out.stdout)["data"]["root-cert.pem"] if out.returncode == 0 else None


def test_istiod_publishes_the_shared_root_in_enrolled_namespaces(mesh, lab, kubectl):
    roots = set()
    for c in CLUSTERS:
        kubectl(c, "create", "namespace", PROBE_NS, check=False)
        kubectl(c, "label", "namespace", PROBE_NS, "istio.io/dataplane-mode=ambient", "--overwrite")
        expected = secret_root(kubectl, c)
        got = wait_for("istio-ca-root-cert in %s/%s" % (c, PROBE_NS), lambda: published_root(kubectl, c))
        # istiod took the plugged-in root: a self-signed istiod CA would publish its own
        assert got.strip() == expected.strip(), c
        roots.add(got.strip())
    assert len(roots) == 1, "clusters publish different roots"


def test_every_istiod_syncs_every_peer_and_verify_reads_it_from_prometheus(mesh, lab, istiod_prometheus,
                                                                           run_playbook, tmp_path):
    for c in CLUSTERS:
        peers = set(CLUSTERS) - {c}
        got = wait_for("%s's istiod syncs %s" % (c, sorted(peers)), lambda: clusterz(lab, c), timeout=60,
                       accept=lambda z: set(z) == peers and set(z.values()) == {"synced"})
        assert got == dict.fromkeys(peers, "synced")
    istiod_prometheus.rescan()
    for c in CLUSTERS:
        wait_for("Prometheus has %s's istiod sync states" % c, lambda: sync_states(istiod_prometheus, c),
                 accept=lambda z: len(z) == len(CLUSTERS) - 1, timeout=60)
    res, report = run_verify(run_playbook, mesh, tmp_path, **peer_sync_vars(istiod_prometheus))
    assert res.rc == 0 and report["passed"] is True, res
    for c in CLUSTERS:
        assert report["clusters"][c]["peer_sync"] == {p: ["synced"] for p in CLUSTERS if p != c}, report["clusters"][c]
    md = sorted(tmp_path.glob("verify-*.md"))[-1].read_text()
    assert "| mesh health | cluster1 | passed | 4 of 4 components ready, 2 of 2 peers linked, 2 of 2 peers synced " \
           "by istiod |" in md


def istiod_pods(lab, cluster):
    return {p["pod"] for p in lab_agent.read_status(lab.dir).get(cluster, [])}


def restart_istiod(lab, kubectl, cluster):
    """Waits until every istiod process of `cluster` is new and one is Ready: an old pod still terminating would
    answer for the cluster with the state it had before."""
    before = istiod_pods(lab, cluster)
    kubectl(cluster, "rollout", "restart", "deployment/istiod", "-n", "istio-system")
    wait_for("only new istiod processes in %s, one Ready" % cluster,
             lambda: lab_agent.read_status(lab.dir).get(cluster, []), timeout=120,
             accept=lambda ps: any(p["ready"] for p in ps) and not {p["pod"] for p in ps} & before)


def new_istiod_processes(lab, cluster, before):
    """The istiod processes of `cluster` whose pod is not in the set `before`."""
    return [p for p in lab_agent.read_status(lab.dir).get(cluster, []) if p["pod"] not in before]


def clusterz_at(address, cluster):
    with urllib.request.urlopen("http://%s:8080/debug/clusterz" % address, timeout=10) as r:
        return {c["id"]: c["syncStatus"] for c in json.loads(r.read()) if c["id"] != cluster}


@pytest.mark.parametrize("resource", ["secrets", "configmaps", "customresourcedefinitions"])
def test_a_reader_lacking_what_istiod_needs_shows_not_synced(resource, mesh, lab, kubectl, run_playbook,
                                                             istiod_prometheus, tmp_path):
    """Without secrets or configmaps the peer stays unsynced and istiod reports a timeout after 30 s; without
    CRDs it is worse: istiod's per-peer controllers wait for the peer's CRD watcher, so istiod never gets Ready
    and a rollout restart hangs. Either way the link role's reader repairs it."""
    role = json.loads(kubectl("cluster2", "get", "clusterrole", READER, "-o", "json").stdout)
    rules = []
    for rule in role["rules"]:
        kept = [r for r in rule.get("resources", []) if r != resource]
        if kept:
            rules.append(dict(rule, resources=kept))
    assert rules != role["rules"], "the reader never granted %s" % resource
    kubectl("cluster2", "patch", "clusterrole", READER, "--type=json",
            "-p", json.dumps([{"op": "replace", "path": "/rules", "value": rules}]))
    try:
        if resource == "customresourcedefinitions":
            # every pod from before: the previous test's restart may leave an old one terminating, whose watches
            # outlive the reader's change and still report synced
            before = istiod_pods(lab, "cluster1")
            kubectl("cluster1", "rollout", "restart", "deployment/istiod", "-n", "istio-system")
            new = wait_for("a new istiod process in cluster1", lambda: new_istiod_processes(lab, "cluster1", before),
                           timeout=120)[-1]
            got = wait_for("cluster1's new istiod reports cluster2 not synced",
                           lambda: clusterz_at(new["address"], "cluster1"), timeout=60, accept=lambda z: "cluster2" in z)
            assert got["cluster2"] != "synced", got
            time.sleep(45)  # well past istiod's 30 s remote-cluster timeout
            assert not any(p["ready"] for p in new_istiod_processes(lab, "cluster1", before)), \
                "istiod got Ready although it cannot list cluster2's CRDs"
        else:
            restart_istiod(lab, kubectl, "cluster1")
            # istiod gives a remote cluster 30s to sync before it reports a timeout
            got = wait_for("cluster1's istiod reports cluster2 not synced without %s" % resource,
                           lambda: clusterz(lab, "cluster1"), timeout=75, accept=lambda z: z.get("cluster2") == "timeout")
            assert got["cluster3"] == "synced", got
            # verify's mesh health reads the same state from istiod's metrics, and fails on it
            istiod_prometheus.rescan()
            wait_for("Prometheus has cluster1's istiod report cluster2 timed out",
                     lambda: sync_states(istiod_prometheus, "cluster1"), timeout=60,
                     accept=lambda z: z.get("cluster2") == "timeout")
            res, report = run_verify(run_playbook, mesh, tmp_path, **peer_sync_vars(istiod_prometheus))
            assert res.rc != 0 and report["passed"] is False, res
            assert report["clusters"]["cluster1"]["peer_sync"] == {"cluster2": ["timeout"], "cluster3": ["synced"]}
            text = " ".join(res.stdout.split())
            assert "mesh health (cluster1): istiod has not synced cluster2 (timeout): the remote secret's reader " \
                   "must grant secrets, configmaps and customresourcedefinitions" in text, res
            assert "istiod has not synced cluster3" not in text
    finally:
        # the link role repairs the reader, and istiod syncs again after a restart
        res = run_playbook(PLAYBOOKS / "link.yml", mesh["inventory"])
        assert res.rc == 0 and res.changed >= 1, res
    restart_istiod(lab, kubectl, "cluster1")
    wait_for("cluster1's istiod syncs cluster2 again",
             lambda: clusterz(lab, "cluster1").get("cluster2") == "synced", timeout=60)


def shard_endpoints(lab, cluster, host, peer):
    """Addresses of `peer`'s endpoints of `host` in `cluster`'s istiod registry (/debug/endpointShardz)."""
    shards = debug(lab, cluster, "/debug/endpointShardz").get(host, {})
    return sorted(a for ns in shards.values() for ep in (ns.get("Shards") or {}).get("Kubernetes/" + peer) or []
                  for a in ep["Addresses"])


def test_a_global_service_of_cluster2_is_in_cluster1s_registry_until_it_scales_to_zero(mesh, lab, kubectl):
    ns, host = "real-istio-global", "web.real-istio-global.svc.cluster.local"
    kubectl("cluster2", "create", "namespace", ns, check=False)
    try:
        kubectl("cluster2", "-n", ns, "create", "deployment", "web", "--image=example.invalid/web", "--replicas=2")
        kubectl("cluster2", "-n", ns, "expose", "deployment", "web", "--port=80")
        kubectl("cluster2", "-n", ns, "label", "service", "web", "istio.io/global=true")
        kubectl("cluster2", "-n", ns, "rollout", "status", "deployment/web", "--timeout=60s")
        pods = json.loads(kubectl("cluster2", "-n", ns, "get", "pods", "-l", "app=web", "-o", "json").stdout)["items"]
        ips = sorted(p["status"]["podIP"] for p in pods)
        got = wait_for("cluster2's web endpoints in cluster1's istiod",
                       lambda: shard_endpoints(lab, "cluster1", host, "cluster2"), accept=lambda e: e == ips)
        assert len(got) == 2
        kubectl("cluster2", "-n", ns, "scale", "deployment", "web", "--replicas=0")
        wait_for("cluster2's web endpoints gone from cluster1's istiod",
                 lambda: shard_endpoints(lab, "cluster1", host, "cluster2"), accept=lambda e: e == [])
    finally:
        kubectl("cluster2", "delete", "namespace", ns, "--wait=false", check=False)


def test_mesh_info_finds_the_real_charts_components_ready(mesh, lab, run_playbook, tmp_path):
    res = run_playbook(REPO / "tests" / "integration" / "playbooks" / "verify" / "mesh_info.yml", mesh["inventory"],
                       extra_vars={"out_dir": str(tmp_path)})
    assert res.rc == 0, res
    for c in CLUSTERS:
        facts = json.loads((tmp_path / (c + ".json")).read_text())["mesh"]
        assert facts["not_ready"] == [] and facts["ready"] is True, (c, facts)
        for component in ("istiod", "ztunnel", "cni"):
            got = facts["components"][component]
            assert got and got["ready"] is True, (c, component, got)


def test_a_cacerts_key_that_does_not_match_is_caught_then_reissued(mesh, lab, kubectl, run_playbook):
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    kubectl("cluster3", "patch", "secret", "cacerts", "-n", "istio-system", "--type=merge",
            "-p", json.dumps({"data": {"ca-key.pem": base64.b64encode(other).decode()}}))
    res = run_playbook(PLAYBOOKS / "trust.yml", mesh["inventory"], {"trust_on_invalid": "fail"}, limit="cluster3")
    assert res.rc != 0 and "ca-key.pem does not match ca-cert.pem" in res.stdout, res
    assert other.decode() not in res.stdout + res.stderr
    res = run_playbook(PLAYBOOKS / "trust.yml", mesh["inventory"], limit="cluster3")
    assert res.rc == 0 and res.changed >= 1, res
    # the reissued intermediate is in use: istiod restarted with it and publishes the shared root
    wait_for("a Ready istiod in cluster3", lambda: lab.istiod("cluster3"), timeout=90)
    assert published_root(kubectl, "cluster3").strip() == secret_root(kubectl, "cluster1").strip()


def run_verify(run_playbook, mesh, tmp_path, **extra):
    """verify.yml with only the mesh health check (the lab's pods run no container, so nothing answers probes)."""
    res = run_playbook(PLAYBOOKS / "verify.yml", mesh["inventory"], dict({
        "verify_in_mesh": False, "verify_ingress": False, "verify_failover": False,
        "verify_reports_dir": str(tmp_path), "verify_report_formats": ["json", "markdown"]}, **extra))
    reports = sorted(tmp_path.glob("verify-*.json"))
    return res, json.loads(reports[-1].read_text()) if reports else None


def workload(kubectl, kind, name, namespace="istio-system"):
    return json.loads(kubectl("cluster2", "get", kind, name, "-n", namespace, "-o", "json").stdout)


def test_verify_fails_and_names_a_missing_ztunnel_and_a_cni_that_schedules_no_pod(mesh, lab, kubectl, run_playbook,
                                                                                  tmp_path):
    ok, report = run_verify(run_playbook, mesh, tmp_path / "healthy")
    assert ok.rc == 0 and report["passed"] is True and report["problems"] == [], ok
    assert report["clusters"]["cluster2"]["healthy"] is True and report["clusters"]["cluster2"]["expected_peers"] == [
        "cluster1", "cluster3"], report["clusters"]["cluster2"]

    ztunnel = workload(kubectl, "daemonset", "ztunnel")
    kubectl("cluster2", "delete", "daemonset", "ztunnel", "-n", "istio-system", "--wait=true")
    # a nodeSelector no node matches: the DaemonSet exists and reports 0 of 0, the case that once verified PASSED
    kubectl("cluster2", "patch", "daemonset", "istio-cni-node", "-n", "istio-system", "--type=merge", "-p",
            json.dumps({"spec": {"template": {"spec": {"nodeSelector": {"ambientmesh.test/none": "x"}}}}}))
    try:
        wait_for("istio-cni-node in cluster2 schedules no pod",
                 lambda: workload(kubectl, "daemonset", "istio-cni-node")["status"].get("desiredNumberScheduled"),
                 accept=lambda n: n == 0)
        bad, report = run_verify(run_playbook, mesh, tmp_path / "broken")
        assert bad.rc != 0, bad
        assert report["passed"] is False and len(report["problems"]) == 2, report["problems"]
        text = " ".join(bad.stdout.split())
        assert "mesh health (cluster2): ztunnel is absent (no DaemonSet labelled app.kubernetes.io/name=ztunnel" in text
        assert "mesh health (cluster2): cni istio-system/istio-cni-node is not ready (0 of 0)" in text
        assert "mesh health (cluster1)" not in text and "mesh health (cluster3)" not in text
        md = (sorted((tmp_path / "broken").glob("verify-*.md"))[-1]).read_text()
        assert md.startswith("# ") and md.splitlines()[0].endswith(": FAILED")
        assert "| mesh health | cluster2 | **FAILED** | 2 of 4 components ready, 2 of 2 peers linked, peer sync not " \
               "checked (no Prometheus) |" in md
    finally:
        kubectl("cluster2", "patch", "daemonset", "istio-cni-node", "-n", "istio-system", "--type=json", "-p",
                json.dumps([{"op": "remove", "path": "/spec/template/spec/nodeSelector/ambientmesh.test~1none"}]),
                check=False)
        for key in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"):
            ztunnel["metadata"].pop(key, None)
        ztunnel.pop("status", None)
        kubectl("cluster2", "apply", "--server-side", "--force-conflicts", "--field-manager=helm", "-f", "-",
                input=json.dumps(ztunnel), check=False)
    wait_for("the mesh in cluster2 healthy again", lambda: run_verify(run_playbook, mesh, tmp_path / "again")[0].rc,
             accept=lambda rc: rc == 0, timeout=120, interval=2)
