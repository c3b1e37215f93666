import base64
import copy
import json
import os
import stat

import pytest
import yaml

from ansible_collections.ambientmesh.multicluster.plugins.module_utils import mesh_link, remote_secret
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.client import UNREAD
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.compare import clean
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError

OURS = {"app.kubernetes.io/managed-by": "ambientmesh.multicluster"}
TOKEN = "eyJhbGciOiJSUzI1NiJ9.secret-token-value"
CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n").decode()


def _merge(base, patch):
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            out[k] = _merge(base.get(k), v)
        return out
    return copy.deepcopy(patch)


class FakeKube:
    """In-memory stand-in for client.Kube: apply merges like SSA, a token controller fills token Secrets."""

    def __init__(self, name="c", objects=(), dry_run=False, namespaces=("istio-gateways", "istio-system"),
                 host="https://127.0.0.1:6443", fill_tokens=True):
        self.name, self.dry_run, self.fill_tokens = name, dry_run, fill_tokens
        self.host = host
        self.store = {}
        self.writes = []
        self.reads = []
        self.warnings = []
        for ns in namespaces:
            self.store[("Namespace", "", ns)] = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
        for obj in objects:
            self.put(obj)

    @staticmethod
    def key(kind, namespace, name):
        return kind, namespace or "", name

    def put(self, obj):
        obj = copy.deepcopy(obj)
        obj["metadata"].setdefault("uid", "uid-" + obj["metadata"]["name"])
        obj["metadata"]["resourceVersion"] = str(len(self.writes) + 1)
        self.store[self.key(obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"])] = obj
        return obj

    def get(self, api_version, kind, name, namespace=None):
        self.reads.append(("get", kind, name))
        obj = self.store.get(self.key(kind, namespace, name))
        return copy.deepcopy(obj)

    def metadata(self, api_version, kind, namespace=None):
        self.reads.append(("metadata", kind, namespace))
        return dict((key[2], {"metadata": copy.deepcopy(obj["metadata"])}) for key, obj in self.store.items()
                    if key[0] == kind and (not namespace or key[1] == namespace))

    def list(self, api_version, kind, namespace=None, label_selector=None):
        self.reads.append(("list", kind, label_selector))
        out = []
        for key in sorted(self.store):
            obj = self.store[key]
            if key[0] != kind or (namespace and key[1] != namespace):
                continue
            labels = obj["metadata"].get("labels") or {}
            ok = True
            for term in (label_selector or "").split(","):
                if not term:
                    continue
                key, value = (term.split("=", 1) + [""])[:2]
                ok = ok and key in labels and (not value or labels[key] == value)
            if ok:  # like the API server's core lists: items without kind and apiVersion
                out.append(dict((k, copy.deepcopy(v)) for k, v in obj.items() if k not in ("kind", "apiVersion")))
        return out

    def apply(self, obj, before=UNREAD):
        meta = obj["metadata"]
        stored = self.store.get(self.key(obj["kind"], meta.get("namespace"), meta["name"]))
        if before is UNREAD:
            before = self.get(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
        else:  # what the caller says it read must be what the cluster holds
            assert before == stored, (before, stored)
        if meta.get("namespace") and self.key("Namespace", "", meta["namespace"]) not in self.store:
            if self.dry_run:  # like client.Kube: check mode of a play whose earlier task makes the namespace
                return True, None, obj
            raise MeshError("namespace %s not found" % meta["namespace"])
        after = _merge(before or {}, obj)
        if obj["kind"] == "Secret" and obj.get("type") == "kubernetes.io/service-account-token" and self.fill_tokens:
            after.setdefault("data", {"token": base64.b64encode(TOKEN.encode()).decode(), "ca.crt": CA})
        if not self.dry_run:
            self.writes.append(("apply", obj["kind"], meta["name"]))
            after = self.put(after)
        return before is None or clean(before) != clean(after), before, after

    def warn(self, msg):
        self.warnings.append(msg)

    def delete(self, api_version, kind, name, namespace=None):
        before = self.get(api_version, kind, name, namespace)
        if before is not None and not self.dry_run:
            self.writes.append(("delete", kind, name))
            del self.store[self.key(kind, namespace, name)]
        return before


def params(**kw):
    p = {"cluster": "cluster1", "method": "peering", "namespace": None, "state": "present", "generate": False,
         "dest": None, "reader_service_account": "ambientmesh-mesh-reader", "peers": [
             {"name": "cluster1", "network": "network1", "address": "198.51.100.11"},
             {"name": "cluster2", "network": "network2", "address": "198.51.100.21", "trust_domain": "c2.local"},
             {"name": "cluster3", "network": "network3", "address": "ew.cluster3.example.com"}]}
    p.update(kw)
    return p


def run(kube, check_mode=False, diff=False, **kw):
    spec = mesh_link.validate(params(**kw))
    return mesh_link.reconcile(spec, lambda: kube, None, check_mode, diff)


def gateways(kube):
    return dict((o["metadata"]["name"], o) for o in kube.list("gateway.networking.k8s.io/v1", "Gateway"))


# ---- validation ------------------------------------------------------------------------------------------------
def test_validate_skips_self_and_fills_defaults():
    spec = mesh_link.validate(params())
    assert [p["name"] for p in spec["peers"]] == ["cluster2", "cluster3"]
    assert spec["namespace"] == "istio-gateways"
    c2, c3 = spec["peers"]
    assert c2["address_type"] == "IPAddress" and c2["trust_domain"] == "c2.local"
    assert c3["address_type"] == "Hostname" and c3["trust_domain"] == "cluster.local"
    assert c3["service_account"] == "istio-eastwest"
    assert mesh_link.validate(params(method="remote_secret", peers=[]))["namespace"] == "istio-system"


@pytest.mark.parametrize("change, words", [
    ({"peers": [{"name": "cluster2", "network": "network2", "address": ""}]},
     ["peers[0] (cluster2)", "no east-west address", "mesh_eastwest_address of cluster2"]),
    ({"peers": [{"name": "cluster2", "network": "network2"}]}, ["peers[0] (cluster2)", "no east-west address"]),
    ({"peers": [{"name": "Cluster_2", "network": "n", "address": "1.2.3.4"}]}, ["peers[0].name", "DNS-1123"]),
    ({"peers": [{"name": "cluster2", "network": "", "address": "1.2.3.4"}]}, ["peers[0] (cluster2)", "network"]),
    ({"peers": [{"name": "c2", "network": "n2", "address": "1.2.3.4"},
                {"name": "c2", "network": "n3", "address": "1.2.3.5"}]},
     ["peers[0] and peers[1]", "c2"]),
    ({"peers": [{"name": "c2", "network": "n", "address": "1.2.3.4"},
                {"name": "c3", "network": "n", "address": "1.2.3.5"}]},
     ["c2 and c3", "network n", "mesh_network"]),
    ({"peers": [{"name": "c2", "network": "n", "address": "ew.example.com", "address_type": "IPAddress"}]},
     ["peers[0] (c2).address", "not an IP", "Hostname"]),
    ({"peers": [{"name": "c2", "network": "n", "address": "10.0.0.1", "address_type": "Hostname"}]},
     ["peers[0] (c2).address", "not a DNS hostname"]),
    ({"peers": [{"name": "c2", "network": "n", "address": "999.1.1.1"}]},
     ["peers[0] (c2).address", "'999.1.1.1' looks like an IPv4 address but is not one", "mesh_eastwest_address"]),
    ({"cluster": ""}, ["cluster", "DNS-1123"]),
    ({"dest": "/tmp/x.yaml"}, ["dest", "generate: true"]),
    ({"generate": True, "state": "absent"}, ["generate", "state=absent"]),
    ({"method": "remote_secret", "peers": [{"name": "c2"}]}, ["peers[0] (c2)", "context is required",
                                                              "kube_context of c2"]),
    ({"method": "remote_secret", "peers": [{"name": "c2", "context": "c2", "api_server": "c2:6443"}]},
     ["peers[0] (c2)", "api_server", "https://"]),
])
def test_validate_names_field_and_fix(change, words):
    with pytest.raises(MeshError) as e:
        mesh_link.validate(params(**change))
    for word in words:
        assert word in e.value.msg


def test_absent_needs_only_names():
    spec = mesh_link.validate(params(state="absent", peers=[{"name": "cluster2"}]))
    assert spec["peers"] == [{"name": "cluster2"}]


# ---- builders --------------------------------------------------------------------------------------------------
def test_peer_gateway_matches_istioctl_link():
    peer = mesh_link.validate(params())["peers"][0]
    gw = mesh_link.peer_gateway(peer, "istio-gateways")
    assert gw["metadata"]["name"] == "istio-remote-peer-network2"
    assert gw["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "ambientmesh.multicluster", "ambientmesh.multicluster/link-peer": "cluster2",
        "topology.istio.io/network": "network2", "topology.istio.io/cluster": "cluster2"}
    assert gw["metadata"]["annotations"] == {"gateway.istio.io/service-account": "istio-eastwest",
                                             "gateway.istio.io/trust-domain": "c2.local"}
    assert gw["spec"]["gatewayClassName"] == "istio-remote"
    assert gw["spec"]["addresses"] == [{"type": "IPAddress", "value": "198.51.100.21"}]
    assert [(ln["name"], ln["port"], ln["protocol"], ln["tls"]["mode"]) for ln in gw["spec"]["listeners"]] == [
        ("cross-network", 15008, "HBONE", "Passthrough"), ("xds-tls", 15012, "TLS", "Passthrough")]


def test_peer_gateway_names_the_peers_eastwest_service_account():
    peers = params()["peers"]
    peers[1] = dict(peers[1], service_account="eastwest-gw-sa")
    gw = mesh_link.peer_gateway(mesh_link.validate(params(peers=peers))["peers"][0], "istio-gateways")
    assert gw["metadata"]["annotations"]["gateway.istio.io/service-account"] == "eastwest-gw-sa"


def test_link_secret_and_kubeconfig():
    text = remote_secret.kubeconfig("cluster2", "https://10.0.0.2:6443", CA, TOKEN)
    assert text == remote_secret.kubeconfig("cluster2", "https://10.0.0.2:6443", CA, TOKEN)  # stable bytes
    cfg = yaml.safe_load(text)
    assert cfg["current-context"] == "cluster2"
    assert cfg["clusters"][0]["cluster"] == {"server": "https://10.0.0.2:6443", "certificate-authority-data": CA}
    assert cfg["users"][0]["user"] == {"token": TOKEN}
    secret = mesh_link.link_secret("cluster2", "istio-system", text)
    assert secret["metadata"]["name"] == "istio-remote-secret-cluster2"
    assert secret["metadata"]["labels"]["istio/multiCluster"] == "true"
    assert secret["metadata"]["annotations"] == {"networking.istio.io/cluster": "cluster2"}
    assert base64.b64decode(secret["data"]["cluster2"]).decode() == text


def test_reader_is_read_only():
    objs = remote_secret.reader_objects("istio-system", "reader")
    assert [o["kind"] for o in objs] == ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Secret"]
    rules = objs[1]["rules"]
    # read-only, but for the reviews istiod makes for the peer's workloads (as Istio's own istio-reader)
    writes = {(r["apiGroups"][0], r["resources"][0]) for r in rules if set(r["verbs"]) != {"get", "list", "watch"}}
    assert writes == {("authentication.k8s.io", "tokenreviews"), ("authorization.k8s.io", "subjectaccessreviews")}
    assert all(r["verbs"] == ["create"] for r in rules if set(r["verbs"]) != {"get", "list", "watch"})
    # what a real istiod lists before it reports the peer synced (a gap shows as "timeout" in /debug/clusterz)
    readable = {(g, res) for r in rules if "list" in r["verbs"] for g in r["apiGroups"] for res in r["resources"]}
    assert {("", "secrets"), ("", "configmaps"), ("apiextensions.k8s.io", "customresourcedefinitions")} <= readable
    assert objs[3]["type"] == "kubernetes.io/service-account-token"
    assert objs[3]["metadata"]["annotations"] == {"kubernetes.io/service-account.name": "reader"}


def test_plan_pairs_by_kind_namespace_and_name():
    a = {"apiVersion": "v1", "kind": "A", "metadata": {"name": "x", "namespace": "n", "labels": {"k": "1"}}}
    b = {"apiVersion": "v1", "kind": "B", "metadata": {"name": "x"}}
    live_a = copy.deepcopy(a)
    live_a["metadata"]["uid"] = "u"
    stale = {"apiVersion": "v1", "kind": "A", "metadata": {"name": "old", "namespace": "n"}}
    steps = mesh_link.plan([a, b], [live_a, stale])
    assert [(s[0], (s[1] or s[2])["metadata"]["name"]) for s in steps] == [
        ("unchanged", "x"), ("create", "x"), ("prune", "old")]
    live_a["metadata"]["labels"]["k"] = "2"
    assert mesh_link.plan([a], [live_a])[0][0] == "update"


def test_wait_token_times_out_with_the_fix():
    kube = FakeKube(fill_tokens=False)
    clock = iter(range(0, 1000, 10))
    with pytest.raises(MeshError) as e:
        remote_secret.wait_token(kube, "istio-system", "reader", "cluster2", timeout=30, sleep=lambda s: None,
                                 clock=lambda: next(clock))
    assert "peer cluster2" in e.value.msg and "reader-token" in e.value.msg and "controller" in e.value.msg


# ---- reconcile: peering ----------------------------------------------------------------------------------------
def test_full_mesh_then_idempotent_then_drift():
    kube = FakeKube()
    result = run(kube)
    assert result["changed"]
    assert sorted((link["peer"], link["action"]) for link in result["links"]) == [
        ("cluster2", "create"), ("cluster3", "create")]
    gws = gateways(kube)
    assert sorted(gws) == ["istio-remote-peer-network2", "istio-remote-peer-network3"]
    assert gws["istio-remote-peer-network3"]["spec"]["addresses"] == [
        {"type": "Hostname", "value": "ew.cluster3.example.com"}]

    writes = len(kube.writes)
    again = run(kube)
    assert not again["changed"] and len(kube.writes) == writes  # no write at all when nothing differs
    assert all(link["action"] == "unchanged" for link in again["links"])

    drifted = params()
    drifted["peers"][1]["address"] = "198.51.100.99"
    spec = mesh_link.validate(drifted)
    result = mesh_link.reconcile(spec, lambda: kube, None, want_diff=True)
    assert result["changed"]
    assert [link["action"] for link in result["links"]] == ["update", "unchanged"]
    (entry,) = result["diff"]
    assert entry["before"]["spec"]["addresses"][0]["value"] == "198.51.100.21"
    assert entry["after"]["spec"]["addresses"][0]["value"] == "198.51.100.99"
    assert "managedFields" not in json.dumps(entry) and "uid" not in entry["before"]["metadata"]


def test_a_cluster_is_read_once_per_kind_not_once_per_peer():
    """The link step's cost at 32 clusters is requests per peer: a first link reads a list of ours, the namespace
    and one metadata-only list (for objects made by others), then writes; a rerun reads two things and writes none."""
    kube = FakeKube()
    run(kube)
    assert kube.reads == [("list", "Gateway", mesh_link.selector()), ("get", "Namespace", "istio-gateways"),
                          ("metadata", "Gateway", "istio-gateways")]
    assert [w[0] for w in kube.writes] == ["apply", "apply"]
    kube.reads, kube.writes = [], []
    run(kube)
    assert kube.reads == [("list", "Gateway", mesh_link.selector()), ("get", "Namespace", "istio-gateways")]
    assert kube.writes == []


def test_a_managed_object_without_the_peer_label_is_read_before_it_is_applied():
    """Not ours to prune (no peer label) yet ours to write: apply must not take it for absent."""
    stray = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
             "metadata": {"name": "istio-remote-peer-network2", "namespace": "istio-gateways", "labels": dict(OURS)},
             "spec": {"gatewayClassName": "istio-remote"}}
    kube = FakeKube(objects=[stray])
    result = run(kube, diff=True)
    assert ("get", "Gateway", "istio-remote-peer-network2") in kube.reads
    entry = [d for d in result["diff"] if "network2" in d["after_header"]][0]
    assert entry["before"] != {}


def test_prune_only_touches_our_links():
    unrelated = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                 "metadata": {"name": "istio-eastwest", "namespace": "istio-gateways", "labels": dict(OURS)}}
    foreign = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
               "metadata": {"name": "istio-remote-peer-legacy", "namespace": "istio-gateways"}}
    kube = FakeKube(objects=[unrelated, foreign])
    run(kube)
    p = params()
    del p["peers"][2]
    result = mesh_link.reconcile(mesh_link.validate(p), lambda: kube, None)
    assert result["changed"]
    assert ("cluster3", "prune") in [(link["peer"], link["action"]) for link in result["links"]]
    assert sorted(gateways(kube)) == ["istio-eastwest", "istio-remote-peer-legacy", "istio-remote-peer-network2"]


def test_same_named_foreign_object_stops_before_any_write():
    foreign = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
               "metadata": {"name": "istio-remote-peer-network3", "namespace": "istio-gateways",
                            "labels": {"app.kubernetes.io/managed-by": "istioctl"}}}
    kube = FakeKube(objects=[foreign])
    with pytest.raises(MeshError) as e:
        run(kube)
    assert "Gateway istio-gateways/istio-remote-peer-network3" in e.value.msg and "not made by" in e.value.msg
    assert kube.writes == []


def test_missing_namespace_is_reported():
    kube = FakeKube(namespaces=())
    with pytest.raises(MeshError) as e:
        run(kube)
    assert "namespace istio-gateways does not exist in cluster cluster1" in e.value.msg
    assert kube.writes == []


def test_check_mode_writes_nothing_but_reports():
    kube = FakeKube(dry_run=True)
    result = run(kube, check_mode=True, diff=True)
    assert result["changed"] and kube.writes == [] and gateways(kube) == {}
    assert [d["after"]["metadata"]["name"] for d in result["diff"]] == [
        "istio-remote-peer-network2", "istio-remote-peer-network3"]
    assert all(d["before"] == {} for d in result["diff"])


def test_check_mode_on_an_empty_cluster_reports_pending_links():
    # A dry run of the whole play: no namespace, no east-west address for cluster3 yet.
    kube = FakeKube(dry_run=True, namespaces=())
    peers = params()["peers"]
    peers[2] = {"name": "cluster3", "network": "network3"}
    spec = mesh_link.validate(params(peers=peers), check_mode=True)
    result = mesh_link.reconcile(spec, lambda: kube, None, True, True)
    assert result["changed"] and kube.writes == []
    assert [(e["peer"], e["action"]) for e in result["links"]] == [("cluster2", "create"), ("cluster3", "create")]
    assert [d["after"]["metadata"]["name"] for d in result["diff"]] == ["istio-remote-peer-network2"]
    assert any("namespace istio-gateways" in w for w in kube.warnings)
    assert any("cluster3 has no east-west address" in w for w in kube.warnings)


def test_check_mode_keeps_the_live_link_of_a_pending_peer():
    kube = FakeKube()
    run(kube)
    kube.dry_run = True
    peers = params()["peers"]
    peers[2] = {"name": "cluster3", "network": "network3"}
    spec = mesh_link.validate(params(peers=peers), check_mode=True)
    result = mesh_link.reconcile(spec, lambda: kube, None, True)
    assert not result["changed"]
    assert sorted((e["peer"], e["action"]) for e in result["links"]) == [
        ("cluster2", "unchanged"), ("cluster3", "unchanged")]


def test_generate_still_needs_every_address_in_check_mode():
    peers = params()["peers"]
    peers[2] = {"name": "cluster3", "network": "network3"}
    with pytest.raises(MeshError) as e:
        mesh_link.validate(params(peers=peers, generate=True), check_mode=True)
    assert "cluster3 has no east-west address" in e.value.msg


def test_absent_removes_all_ours_or_only_listed_peers():
    unrelated = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                 "metadata": {"name": "http", "namespace": "istio-gateways"}}
    kube = FakeKube(objects=[unrelated])
    run(kube)
    one = run(kube, state="absent", peers=[{"name": "cluster3"}])
    assert [(link["peer"], link["action"]) for link in one["links"]] == [("cluster3", "prune")]
    assert sorted(gateways(kube)) == ["http", "istio-remote-peer-network2"]
    result = run(kube, state="absent", peers=[], diff=True)
    assert result["changed"] and sorted(gateways(kube)) == ["http"]
    assert result["diff"][0]["after"] == {} and result["diff"][0]["before"]["metadata"]["name"]
    assert not run(kube, state="absent", peers=[])["changed"]


def test_generate_contacts_no_cluster_and_writes_dest(tmp_path):
    def no_cluster():
        raise AssertionError("generate must not contact the cluster")

    dest = tmp_path / "gitops" / "links.yaml"  # its folder is made, for the manifests alone
    spec = mesh_link.validate(params(generate=True, dest=str(dest)))
    result = mesh_link.reconcile(spec, no_cluster, None, check_mode=True)
    assert result["changed"] and not dest.parent.exists()  # check mode writes nothing
    result = mesh_link.reconcile(spec, no_cluster, None)
    assert result["changed"] and [m["metadata"]["name"] for m in result["manifests"]] == [
        "istio-remote-peer-network2", "istio-remote-peer-network3"]
    docs = list(yaml.safe_load_all(dest.read_text()))
    assert docs[0]["spec"]["gatewayClassName"] == "istio-remote"
    assert stat.S_IMODE(os.stat(str(dest)).st_mode) == 0o600 and stat.S_IMODE(dest.parent.stat().st_mode) == 0o700
    assert not mesh_link.reconcile(spec, no_cluster, None)["changed"]
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(MeshError, match="dest %s/links.yaml: cannot write it" % blocked):
        mesh_link.reconcile(mesh_link.validate(params(generate=True, dest=str(blocked / "links.yaml"))), no_cluster, None)


# ---- reconcile: remote secrets ---------------------------------------------------------------------------------
def upstream(**kw):
    kw.setdefault("peers", [{"name": "cluster2", "context": "cluster2"},
                            {"name": "cluster3", "context": "cluster3",
                             "api_server": "https://api.cluster3.example:6443"}])
    # the fakes' default server is loopback, as in a lab; test_a_local_api_server_is_refused... covers the check
    kw.setdefault("allow_local_api_server", True)
    return params(method="remote_secret", **kw)


def run_upstream(kube, peer_kubes, check_mode=False, diff=False, hidden=None, **kw):
    spec = mesh_link.validate(upstream(**kw))
    hide = hidden.add if hidden is not None else (lambda value: None)
    return mesh_link.reconcile(spec, lambda: kube, lambda peer: peer_kubes[peer["name"]], check_mode, diff, hide)


def test_remote_secrets_hold_a_working_kubeconfig_and_never_show_the_token():
    kube = FakeKube("cluster1")
    peers = {"cluster2": FakeKube("cluster2", host="https://127.0.0.1:7002"), "cluster3": FakeKube("cluster3")}
    hidden = set()
    result = run_upstream(kube, peers, diff=True, hidden=hidden)
    assert result["changed"]
    assert sorted((r["cluster"], r["kind"], r["action"]) for r in result["readers"] if r["cluster"] == "cluster2") == [
        ("cluster2", "ClusterRole", "create"), ("cluster2", "ClusterRoleBinding", "create"),
        ("cluster2", "Secret", "create"), ("cluster2", "ServiceAccount", "create")]
    secret = kube.get("v1", "Secret", "istio-remote-secret-cluster2", "istio-system")
    cfg = yaml.safe_load(base64.b64decode(secret["data"]["cluster2"]))
    assert cfg["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:7002"
    assert cfg["users"][0]["user"]["token"] == TOKEN
    cfg3 = yaml.safe_load(base64.b64decode(kube.get("v1", "Secret", "istio-remote-secret-cluster3",
                                                    "istio-system")["data"]["cluster3"]))
    assert cfg3["clusters"][0]["cluster"]["server"] == "https://api.cluster3.example:6443"
    assert TOKEN in hidden
    dumped = json.dumps(result)
    assert TOKEN not in dumped and secret["data"]["cluster2"] not in dumped and "<redacted>" in dumped

    writes = (len(kube.writes), len(peers["cluster2"].writes))
    again = run_upstream(kube, peers)
    assert not again["changed"] and (len(kube.writes), len(peers["cluster2"].writes)) == writes


def test_remote_secret_check_mode_on_fresh_peers_changes_nothing():
    kube = FakeKube("cluster1", dry_run=True)
    peers = {"cluster2": FakeKube("cluster2", dry_run=True), "cluster3": FakeKube("cluster3", dry_run=True)}
    result = run_upstream(kube, peers, check_mode=True, diff=True)
    assert result["changed"]
    assert kube.writes == [] and peers["cluster2"].writes == []
    assert TOKEN not in json.dumps(result)


def test_generate_remote_secret_needs_existing_reader():
    peers = {"cluster2": FakeKube("cluster2"), "cluster3": FakeKube("cluster3")}
    with pytest.raises(MeshError) as e:
        run_upstream(None, peers, generate=True)
    assert "peer cluster2 has no reader token yet" in e.value.msg
    run_upstream(FakeKube("cluster1"), peers)
    result = run_upstream(None, peers, generate=True)
    assert [m["data"] for m in result["manifests"]] == [{"cluster2": "<redacted>"}, {"cluster3": "<redacted>"}]


def test_foreign_reader_in_peer_stops_before_any_write():
    sa = {"apiVersion": "v1", "kind": "ServiceAccount",
          "metadata": {"name": "ambientmesh-mesh-reader", "namespace": "istio-system"}}
    kube = FakeKube("cluster1")
    peers = {"cluster2": FakeKube("cluster2"), "cluster3": FakeKube("cluster3", objects=[sa])}
    with pytest.raises(MeshError) as e:
        run_upstream(kube, peers)
    assert "ServiceAccount istio-system/ambientmesh-mesh-reader" in e.value.msg and "cluster cluster3" in e.value.msg
    assert kube.writes == [] and peers["cluster2"].writes == []


def test_absent_upstream_removes_secrets_and_own_reader():
    c1, c2, c3 = FakeKube("cluster1"), FakeKube("cluster2"), FakeKube("cluster3")
    run_upstream(c1, {"cluster2": c2, "cluster3": c3})
    # cluster2 linked to cluster1 as well, so cluster1 offers a reader
    spec = mesh_link.validate(params(cluster="cluster2", method="remote_secret", allow_local_api_server=True,
                                     peers=[{"name": "cluster1", "context": "cluster1"}]))
    mesh_link.reconcile(spec, lambda: c2, lambda peer: c1)
    assert c1.get("v1", "ServiceAccount", "ambientmesh-mesh-reader", "istio-system")
    result = run_upstream(c1, {}, state="absent", peers=[])
    assert result["changed"]
    kinds = sorted(r["kind"] for r in result["readers"])
    assert kinds == ["ClusterRole", "ClusterRoleBinding", "Secret", "ServiceAccount"]
    assert c1.list("v1", "Secret", "istio-system", mesh_link.selector()) == []
    assert c1.get("v1", "ServiceAccount", "ambientmesh-mesh-reader", "istio-system") is None
    assert not run_upstream(c1, {}, state="absent", peers=[])["changed"]


def test_diff_shows_only_fields_we_set():
    desired = {"kind": "Gateway", "metadata": {"name": "g"}, "spec": {"listeners": [{"name": "a", "port": 1}]}}
    live = {"kind": "Gateway", "metadata": {"name": "g", "uid": "u"},
            "spec": {"listeners": [{"name": "a", "port": 2, "allowedRoutes": {"namespaces": {"from": "Same"}}}]}}
    server = copy.deepcopy(live)
    server["spec"]["listeners"][0]["port"] = 1
    entry = mesh_link.diff_entry("h", live, server, shape=desired)
    assert entry["before"]["spec"] == {"listeners": [{"name": "a", "port": 2}]}
    assert entry["after"]["spec"] == {"listeners": [{"name": "a", "port": 1}]}
    pruned = mesh_link.diff_entry("h", live, None)
    assert pruned["after"] == {} and pruned["before"]["spec"] == live["spec"]


@pytest.mark.parametrize("server,kind", [("https://127.0.0.1:7002", "loopback"), ("https://localhost:6443", "loopback"),
                                         ("https://[::1]:6443", "loopback"), ("https://169.254.10.1:443", "link-local"),
                                         ("https://[fe80::1]:6443", "link-local")])
def test_a_local_api_server_is_refused_before_any_write_naming_mesh_api_server(server, kind):
    kube = FakeKube("cluster1")
    peers = {"cluster2": FakeKube("cluster2", host="https://10.0.0.2:6443"), "cluster3": FakeKube("cluster3", host=server)}
    with pytest.raises(MeshError) as e:
        run_upstream(kube, peers, allow_local_api_server=False,
                     peers=[{"name": "cluster2", "context": "cluster2"}, {"name": "cluster3", "context": "cluster3"}])
    assert e.value.msg.startswith("peer cluster3: the remote secret would point cluster1's istiod at %s (the server "
                                  "of its kubeconfig context, a %s address)" % (server, kind)), e.value.msg
    assert "host var mesh_api_server of cluster3" in e.value.msg and "link_allow_local_api_server" in e.value.msg
    assert kube.writes == [] and peers["cluster2"].writes == [] and peers["cluster3"].writes == []


def test_an_explicit_reachable_api_server_wins_over_a_loopback_kubeconfig():
    kube = FakeKube("cluster1")
    peers = {"cluster2": FakeKube("cluster2"), "cluster3": FakeKube("cluster3")}
    with pytest.raises(MeshError, match="its api_server, a loopback address"):
        run_upstream(kube, peers, allow_local_api_server=False,
                     peers=[{"name": "cluster2", "context": "cluster2", "api_server": "https://10.0.0.2:6443"},
                            {"name": "cluster3", "context": "cluster3", "api_server": "https://127.0.0.1:6443"}])
    result = run_upstream(kube, peers, allow_local_api_server=False,
                          peers=[{"name": "cluster2", "context": "cluster2", "api_server": "https://10.0.0.2:6443"},
                                 {"name": "cluster3", "context": "cluster3", "api_server": "https://api.c3.example"}])
    assert result["changed"]
    cfg = yaml.safe_load(base64.b64decode(kube.get("v1", "Secret", "istio-remote-secret-cluster2",
                                                   "istio-system")["data"]["cluster2"]))
    assert cfg["clusters"][0]["cluster"]["server"] == "https://10.0.0.2:6443"


def test_the_reader_grants_every_read_of_istios_own_reader_clusterrole():
    """The rules come from the istiod chart's reader-clusterrole.yaml (Istio's charts in the lab): if a release adds
    a read there, this fails until READER_RULES has it. Only serviceexports create/delete are left out on purpose
    (istiod writes ServiceExports only for MCS, which linking does not use; the reader stays read-only)."""
    from lab import charts as lab_charts

    chart = lab_charts.istio()
    if chart is None:
        pytest.fail("Istio's charts are not here (lab.charts): put them in ../shared/charts/istio or set AMBIENTMESH_CHARTS")
    text = (chart / "istiod" / "templates" / "reader-clusterrole.yaml").read_text()
    body = text[text.index("rules:"):text.index("{{- if .Values.istiodRemote.enabled }}")]
    rules = yaml.safe_load(body.replace("{{ $mcsAPIGroup }}", "multicluster.x-k8s.io"))["rules"]

    def grants(rule_list):
        return {(g, r, v) for rule in rule_list for g in rule["apiGroups"] for r in rule["resources"]
                for v in rule["verbs"]}

    ours = grants(remote_secret.reader_objects("istio-system", "reader")[1]["rules"])
    wanted = grants(rules) - {("multicluster.x-k8s.io", "serviceexports", v) for v in ("create", "delete")}
    missing = sorted(g for g in wanted if g not in ours and (g[0], "*", g[2]) not in ours)
    assert missing == [], "Istio's istio-reader grants what our reader does not: %s" % missing


# ---- backends ------------------------------------------------------------------------------------------------
def test_each_method_has_one_backend_naming_its_link_kind_and_namespace():
    assert sorted(mesh_link.BACKENDS) == ["peering", "remote_secret"]
    peering, upstream_ = mesh_link.select_backend("peering"), mesh_link.select_backend("remote_secret")
    assert (peering.api_version, peering.kind, peering.namespace) == (
        "gateway.networking.k8s.io/v1", "Gateway", "istio-gateways")
    assert (upstream_.api_version, upstream_.kind, upstream_.namespace) == ("v1", "Secret", "istio-system")
    assert peering.result_keys == () and upstream_.result_keys == ("readers",)
    with pytest.raises(MeshError, match="method 'istioctl' is not one of peering, remote_secret"):
        mesh_link.select_backend("istioctl")


def documented(options):
    """The parts of documented options that an argument spec carries, in its shape."""
    keys = ("type", "elements", "default", "choices", "required", "aliases")
    out = {}
    for name, doc in options.items():
        entry = dict((k, doc[k]) for k in keys if doc.get(k) not in (None, False))
        if "suboptions" in doc:
            entry["options"] = documented(doc["suboptions"])
        out[name] = entry
    return out


def specified(spec):
    keys = ("type", "elements", "default", "choices", "required", "aliases")
    return dict((name, dict([(k, opt[k]) for k in keys if opt.get(k) not in (None, False)]
                            + ([("options", specified(opt["options"]))] if "options" in opt else [])))
                for name, opt in spec.items())


def test_the_documented_options_are_the_argument_spec_the_action_validates():
    """The module file only documents mesh_link (the action plugin runs it), so nothing else ties the two."""
    from ansible_collections.ambientmesh.multicluster.plugins.modules import mesh_link as module
    from ansible_collections.kubernetes.core.plugins.doc_fragments import k8s_auth_options
    from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC

    own = yaml.safe_load(module.DOCUMENTATION)["options"]
    spec = mesh_link.argument_spec()
    assert documented(own) == specified(dict((k, v) for k, v in spec.items() if k not in AUTH_ARG_SPEC))
    assert sorted(own["method"]["choices"]) == sorted(mesh_link.BACKENDS)
    auth = yaml.safe_load(k8s_auth_options.ModuleDocFragment.DOCUMENTATION)["options"]
    assert set(spec) - set(own) == set(auth) and not set(own) & set(auth)


def test_a_backends_probe_names_the_link_it_builds():
    spec = mesh_link.validate(params())
    peering = mesh_link.select_backend("peering")(spec)
    peer = spec["peers"][0]
    assert peering.probe(peer) == peering.link(peer) == mesh_link.peer_gateway(peer, "istio-gateways")
    spec = mesh_link.validate(upstream())
    backend = mesh_link.select_backend("remote_secret")(spec, check_mode=True)
    backend.peers = {"cluster2": {"peer": spec["peers"][0], "token": None}}
    probe, link = backend.probe(spec["peers"][0]), backend.link(spec["peers"][0])
    assert probe["metadata"] == link["metadata"] and probe["metadata"]["name"] == "istio-remote-secret-cluster2"
    assert base64.b64decode(link["data"]["cluster2"]).decode() == "# token not issued yet (check mode)\n"


def test_peering_needs_nothing_from_the_peers():
    spec = mesh_link.validate(params())
    backend = mesh_link.select_backend("peering")(spec, connect_peer=None)
    backend.connect_peers()  # would fail calling connect_peer
    assert backend.ensure_peers(True) == (False, [], []) and backend.leave(FakeKube(), True) == (False, [], [])


def test_peer_fields_are_the_methods_own():
    peering = mesh_link.select_backend("peering").peer_fields("p", "c2", {"network": "n", "address": "1.2.3.4"},
                                                              False)
    assert peering == {"network": "n", "address": "1.2.3.4", "address_type": "IPAddress",
                       "trust_domain": "cluster.local", "service_account": "istio-eastwest"}
    upstream_ = mesh_link.select_backend("remote_secret").peer_fields("p", "c2", {"context": "ctx2"}, False)
    assert upstream_ == {"context": "ctx2", "kubeconfig": None, "api_server": None}
