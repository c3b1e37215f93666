"""What only a real istiod can show: trust, ambient and link (upstream) on three clusters with Istio's own charts and
a real pilot-discovery per cluster (run by the lab agent), then what istiod itself reports.

Each check here can fail on a real gap: a root that istiod did not take, a peer it cannot read, a global service
it does not see. The reader-gap test proves the sync check fails when the peer's credential lacks what istiod
needs.
"""

import json
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from lab import build as lab_build
from lab import charts as lab_charts

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = REPO / "playbooks"
CLUSTERS = ("cluster1", "cluster2", "cluster3")
READER = "ambientmesh-mesh-reader"
PROBE_NS = "real-istio-probe"


def wait_for(what, check, timeout=90, interval=0.5):
    """check() until it returns something truthy; fail naming `what` and the last value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as e:  # noqa: BLE001 - istiod restarting, object not there yet
            last = e
        if last and not isinstance(last, Exception):
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


def test_every_istiod_syncs_every_peer(mesh, lab):
    for c in CLUSTERS:
        peers = set(CLUSTERS) - {c}
        got = wait_for("%s's istiod syncs %s" % (c, sorted(peers)),
                       lambda: (lambda z: z if set(z) == peers and set(z.values()) == {"synced"} else None)(
                           clusterz(lab, c)), timeout=60)
        assert got == dict.fromkeys(peers, "synced")


def restart_istiod(lab, kubectl, cluster):
    before = (lab.istiod(cluster) or {}).get("pod")
    kubectl(cluster, "rollout", "restart", "deployment/istiod", "-n", "istio-system")
    kubectl(cluster, "rollout", "status", "deployment/istiod", "-n", "istio-system", "--timeout=120s")
    wait_for("a new Ready istiod in %s" % cluster,
             lambda: (lambda p: p if p and p["pod"] != before else None)(lab.istiod(cluster)), timeout=60)


@pytest.mark.parametrize("resource", ["secrets", "configmaps", "customresourcedefinitions"])
def test_a_reader_lacking_what_istiod_needs_shows_not_synced(resource, mesh, lab, kubectl, run_playbook):
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
        restart_istiod(lab, kubectl, "cluster1")
        # istiod gives a remote cluster 30s to sync before it reports a timeout
        got = wait_for("cluster1's istiod reports cluster2 not synced without %s" % resource,
                       lambda: (lambda z: z if z.get("cluster2") == "timeout" else None)(clusterz(lab, "cluster1")),
                       timeout=75)
        assert got["cluster3"] == "synced", got
    finally:
        # the link role repairs the reader, and istiod syncs again after a restart
        res = run_playbook(PLAYBOOKS / "link.yml", mesh["inventory"])
        assert res.rc == 0 and res.changed >= 1, res
    restart_istiod(lab, kubectl, "cluster1")
    wait_for("cluster1's istiod syncs cluster2 again",
             lambda: clusterz(lab, "cluster1").get("cluster2") == "synced", timeout=60)
