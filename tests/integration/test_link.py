"""The link role and mesh_link module against real API servers: Solo peering Gateways and upstream remote secrets."""

import base64
import json
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
LINK = REPO / "playbooks" / "link.yml"
TEARDOWN = Path(__file__).parent / "playbooks" / "link" / "teardown.yml"
OURS = "app.kubernetes.io/managed-by=ambientmesh.multicluster"
GATEWAY_NS = "istio-gateways"
# East-west address per cluster index: an IP for the first two, a DNS name for the third.
ADDRESSES = {1: {"ip": "198.51.100.11"}, 2: {"ip": "198.51.100.21"}, 3: {"hostname": "ew.cluster3.example.test"}}


@pytest.fixture(scope="module")
def three(lab, kubectl, cluster_names):
    """Three clusters with the namespaces the ambient role makes, an east-west Service with a LoadBalancer
    address in each, and a Gateway in istio-gateways that is not ours (it must survive every prune)."""
    if len(cluster_names) < 3:
        pytest.fail("test_link needs 3 clusters, the lab has %d: unset AMBIENTMESH_TEST_CLUSTERS or set it to 3"
                    % len(cluster_names))
    names = cluster_names[:3]
    for i, c in enumerate(names, 1):
        docs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
                for ns in (GATEWAY_NS, "istio-system")]
        docs.append({"apiVersion": "v1", "kind": "Service",
                     "metadata": {"name": "istio-eastwest", "namespace": GATEWAY_NS},
                     # a class the lab agent leaves alone: these tests set (and clear) the address themselves
                     "spec": {"type": "LoadBalancer", "loadBalancerClass": "example.com/test",
                              "ports": [{"name": "tls-hbone", "port": 15008}]}})
        docs.append({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                     "metadata": {"name": "unrelated", "namespace": GATEWAY_NS},
                     "spec": {"gatewayClassName": "istio-remote",
                              "listeners": [{"name": "x", "port": 15008, "protocol": "HBONE"}]}})
        kubectl(c, "apply", "-f", "-", input=yaml.safe_dump_all(docs))
        set_address(kubectl, c, ADDRESSES[i])
    return names


def set_address(kubectl, cluster, ingress):
    status = {"status": {"loadBalancer": {"ingress": [ingress] if ingress else []}}}
    kubectl(cluster, "patch", "service", "istio-eastwest", "-n", GATEWAY_NS, "--subresource=status",
            "--type=merge", "-p", json.dumps(status))


def gateways(kube, cluster):
    res = kube(cluster).resources.get(api_version="gateway.networking.k8s.io/v1", kind="Gateway")
    return dict((g["metadata"]["name"], g.to_dict()) for g in res.get(namespace=GATEWAY_NS).items)


def links(kube, cluster):
    return dict((n, g) for n, g in gateways(kube, cluster).items() if n.startswith("istio-remote-peer-"))


def network(cluster):
    return "network-" + cluster  # make_inventory's mesh_network


def ok(result):
    assert result.rc == 0 and result.failed == 0, result
    return result


@pytest.fixture
def unlinked(three, make_inventory, run_playbook):
    ok(run_playbook(TEARDOWN, make_inventory(three)))
    return three


def test_full_mesh_links_every_cluster_to_all_others(unlinked, kube, make_inventory, run_playbook):
    inv = make_inventory(unlinked, group_vars={"mesh_trust_domain": "mesh.example"})
    started = time.monotonic()
    first = ok(run_playbook(LINK, inv))
    elapsed = time.monotonic() - started
    assert first.changed == 3  # one mesh_link task per cluster reports the change
    for i, c in enumerate(unlinked, 1):
        peers = [p for p in unlinked if p != c]
        got = links(kube, c)
        assert sorted(got) == sorted("istio-remote-peer-" + network(p) for p in peers)
        for p in peers:
            gw = got["istio-remote-peer-" + network(p)]
            meta, spec = gw["metadata"], gw["spec"]
            assert meta["labels"]["app.kubernetes.io/managed-by"] == "ambientmesh.multicluster"
            assert meta["labels"]["ambientmesh.multicluster/link-peer"] == p
            assert meta["labels"]["topology.istio.io/network"] == network(p)
            assert meta["labels"]["topology.istio.io/cluster"] == p
            assert meta["annotations"]["gateway.istio.io/service-account"] == "istio-eastwest"
            assert meta["annotations"]["gateway.istio.io/trust-domain"] == "mesh.example"
            assert spec["gatewayClassName"] == "istio-remote"
            ingress = ADDRESSES[unlinked.index(p) + 1]
            expected = ({"type": "IPAddress", "value": ingress["ip"]} if "ip" in ingress
                        else {"type": "Hostname", "value": ingress["hostname"]})
            assert spec["addresses"] == [expected]
            assert [(ln["name"], ln["port"], ln["protocol"]) for ln in spec["listeners"]] == [
                ("cross-network", 15008, "HBONE"), ("xds-tls", 15012, "TLS")]
        assert "unrelated" in gateways(kube, c)

    again = ok(run_playbook(LINK, inv))
    assert again.changed == 0, again
    print("\nlink role, 3 clusters: first run %.1fs" % elapsed)


def test_check_mode_changes_nothing_and_diff_shows_the_change(unlinked, kube, kubectl, make_inventory,
                                                              run_playbook):
    inv = make_inventory(unlinked)
    ok(run_playbook(LINK, inv))
    moved = {"ip": "198.51.100.99"}
    set_address(kubectl, unlinked[1], moved)
    try:
        before = dict((c, links(kube, c)) for c in unlinked)
        check = ok(run_playbook(LINK, inv, check=True, diff=True))
        assert check.changed == 2  # the two clusters that link to the moved one
        assert "198.51.100.99" in check.stdout and "198.51.100.21" in check.stdout
        assert dict((c, links(kube, c)) for c in unlinked) == before

        real = ok(run_playbook(LINK, inv))
        assert real.changed == 2
        gw = links(kube, unlinked[0])["istio-remote-peer-" + network(unlinked[1])]
        assert gw["spec"]["addresses"] == [{"type": "IPAddress", "value": "198.51.100.99"}]
        assert ok(run_playbook(LINK, inv)).changed == 0
    finally:
        set_address(kubectl, unlinked[1], ADDRESSES[2])


def test_removed_cluster_is_pruned_everywhere_and_others_untouched(unlinked, kube, make_inventory, run_playbook):
    ok(run_playbook(LINK, make_inventory(unlinked)))
    first, second, gone = unlinked
    keep = dict((c, links(kube, c)) for c in unlinked)

    smaller = make_inventory([first, second], name="two.yml")
    result = ok(run_playbook(LINK, smaller))
    assert result.changed == 2
    for c, other in ((first, second), (second, first)):
        now = links(kube, c)
        assert sorted(now) == ["istio-remote-peer-" + network(other)]
        # the surviving link was not rewritten
        assert now["istio-remote-peer-" + network(other)]["metadata"]["resourceVersion"] == \
            keep[c]["istio-remote-peer-" + network(other)]["metadata"]["resourceVersion"]
        assert "unrelated" in gateways(kube, c)
    # the removed cluster is outside the play: nothing of it changed
    assert links(kube, gone) == keep[gone]
    assert ok(run_playbook(LINK, smaller)).changed == 0


def test_peer_without_address_fails_naming_it_and_applies_nothing(unlinked, kube, kubectl, make_inventory,
                                                                  run_playbook):
    gone = unlinked[2]
    set_address(kubectl, gone, None)
    try:
        result = run_playbook(LINK, make_inventory(unlinked))
        assert result.rc != 0 and result.failed == 3, result
        assert "peer %s has no east-west address" % gone in result.stdout
        assert "mesh_eastwest_address of %s" % gone in result.stdout
        for c in unlinked:
            assert links(kube, c) == {}
    finally:
        set_address(kubectl, gone, ADDRESSES[3])


def test_a_peers_group_that_is_not_in_the_inventory_is_named(unlinked, kube, make_inventory, run_playbook):
    result = run_playbook(LINK, make_inventory(unlinked), {"link_peers_group": "nosuchgroup"})
    assert result.rc != 0, result
    assert "link_peers_group=nosuchgroup is not a group of the inventory (groups: mesh, mesh_ingress); set it to the " \
           "group that holds every cluster of the mesh" in " ".join(result.stdout.split()), result
    for c in unlinked:
        assert links(kube, c) == {}


def test_inventory_address_override_wins(unlinked, kube, make_inventory, run_playbook):
    first, second, third = unlinked
    inv = make_inventory({first: {}, second: {"mesh_eastwest_address": "ew2.override.example.test"},
                          third: {"mesh_eastwest_address": "192.0.2.33", "mesh_eastwest_address_type": "IPAddress"}})
    ok(run_playbook(LINK, inv))
    got = links(kube, first)
    assert got["istio-remote-peer-" + network(second)]["spec"]["addresses"] == [
        {"type": "Hostname", "value": "ew2.override.example.test"}]
    assert got["istio-remote-peer-" + network(third)]["spec"]["addresses"] == [
        {"type": "IPAddress", "value": "192.0.2.33"}]


def test_limit_never_prunes_peers_outside_the_play(unlinked, kube, make_inventory, run_playbook):
    first, second, third = unlinked
    ok(run_playbook(LINK, make_inventory(unlinked)))
    before = links(kube, first)

    # the preflight reads the limited-out peers' east-west Services too: nothing is pruned or readdressed
    limited = ok(run_playbook(LINK, make_inventory(unlinked), limit=first))
    assert limited.changed == 0 and links(kube, first) == before

    known = make_inventory({first: {}, second: {"mesh_eastwest_address": ADDRESSES[2]["ip"]},
                            third: {"mesh_eastwest_address": ADDRESSES[3]["hostname"]}}, name="known.yml")
    result = ok(run_playbook(LINK, known, limit=first))
    assert result.changed == 0 and links(kube, first) == before


def test_teardown_removes_only_our_links(three, kube, make_inventory, run_playbook):
    inv = make_inventory(three)
    ok(run_playbook(LINK, inv))
    result = ok(run_playbook(TEARDOWN, inv, diff=True))
    assert result.changed == 3
    for c in three:
        assert links(kube, c) == {}
        assert "unrelated" in gateways(kube, c)
    assert ok(run_playbook(TEARDOWN, inv)).changed == 0


def test_generate_writes_manifests_and_applies_nothing(unlinked, kube, make_inventory, run_playbook, tmp_path):
    out = tmp_path / "gitops"
    result = ok(run_playbook(LINK, make_inventory(unlinked), extra_vars={"link_generate_dir": str(out)}))
    assert result.changed >= 3
    for c in unlinked:
        docs = list(yaml.safe_load_all((out / (c + "-links.yaml")).read_text()))
        assert sorted(d["metadata"]["name"] for d in docs) == sorted(
            "istio-remote-peer-" + network(p) for p in unlinked if p != c)
        assert links(kube, c) == {}


# ---- upstream: remote secrets ------------------------------------------------------------------------------------
def remote_secrets(kube, cluster):
    res = kube(cluster).resources.get(api_version="v1", kind="Secret")
    items = res.get(namespace="istio-system", label_selector="istio/multiCluster=true").items
    return dict((s["metadata"]["name"], s.to_dict()) for s in items)


def test_upstream_remote_secrets_authenticate_read_only(three, kube, make_inventory, run_playbook):
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException

    inv = make_inventory(three, group_vars={"mesh_distribution": "upstream"})
    ok(run_playbook(TEARDOWN, inv))
    check = ok(run_playbook(LINK, inv, check=True))
    assert check.changed == 3
    assert all(remote_secrets(kube, c) == {} for c in three)

    first = ok(run_playbook(LINK, inv, diff=True, verbosity=3))
    assert first.changed == 3
    tokens = []
    for c in three:
        token_secret = kube(c).resources.get(api_version="v1", kind="Secret").get(
            name="ambientmesh-mesh-reader-token", namespace="istio-system").to_dict()
        tokens.append(base64.b64decode(token_secret["data"]["token"]).decode())
    for c in three:
        secrets = remote_secrets(kube, c)
        peers = [p for p in three if p != c]
        assert sorted(secrets) == sorted("istio-remote-secret-" + p for p in peers)
        for p in peers:
            secret = secrets["istio-remote-secret-" + p]
            assert secret["metadata"]["annotations"]["networking.istio.io/cluster"] == p
            assert secret["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "ambientmesh.multicluster"
            assert secret["data"][p] not in first.stdout
            kubeconfig = yaml.safe_load(base64.b64decode(secret["data"][p]))
            # A real request to the peer with nothing but the remote secret's kubeconfig.
            api = config.new_client_from_config_dict(kubeconfig)
            core = client.CoreV1Api(api)
            services = core.list_service_for_all_namespaces()
            assert any(s.metadata.name == "istio-eastwest" for s in services.items)
            assert core.read_namespace("istio-system").metadata.name == "istio-system"
            with pytest.raises(ApiException) as denied:
                core.create_namespaced_config_map("default", {"metadata": {"name": "reader-write-probe"}})
            assert denied.value.status == 403
            # it reads what istiod needs (secrets too, as Istio's own istio-reader) and deletes nothing
            assert core.list_namespaced_secret("istio-system").items is not None
            with pytest.raises(ApiException) as denied:
                core.delete_namespaced_secret("cacerts", "istio-system")
            assert denied.value.status == 403
    for token in tokens:
        assert token not in first.stdout and token not in first.stderr

    assert ok(run_playbook(LINK, inv)).changed == 0

    smaller = make_inventory(three[:2], group_vars={"mesh_distribution": "upstream"}, name="two.yml")
    assert ok(run_playbook(LINK, smaller)).changed == 2
    assert sorted(remote_secrets(kube, three[0])) == ["istio-remote-secret-" + three[1]]

    down = ok(run_playbook(TEARDOWN, inv))
    assert down.changed == 3
    for c in three:
        assert remote_secrets(kube, c) == {}
        assert kube(c).resources.get(api_version="v1", kind="ServiceAccount").get(
            namespace="istio-system", label_selector=OURS).items == []
    assert ok(run_playbook(TEARDOWN, inv)).changed == 0
