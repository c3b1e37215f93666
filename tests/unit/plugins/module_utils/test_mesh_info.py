"""Mesh facts from the objects each distribution creates (docs/istio-facts.md)."""

from ansible_collections.ambientmesh.multicluster.plugins.module_utils import mesh_info as mf


def deploy(name, ns, image, replicas=1, ready=1, kind="Deployment"):
    # Like the items of a list response: no kind, and a DaemonSet has no spec.replicas.
    status = ({"desiredNumberScheduled": replicas, "numberReady": ready} if kind == "DaemonSet"
              else {"readyReplicas": ready})
    return {"metadata": {"name": name, "namespace": ns},
            "spec": dict({"template": {"spec": {"containers": [{"image": image}]}}},
                         **({} if kind == "DaemonSet" else {"replicas": replicas})),
            "status": status}


def ns(name, **labels):
    return {"metadata": {"name": name, "labels": labels}}


def svc(name, namespace, labels=None, lb=None):
    out = {"metadata": {"name": name, "namespace": namespace, "labels": labels or {}}, "status": {}}
    if lb:
        out["status"]["loadBalancer"] = {"ingress": [lb]}
    return out


def gateway(name, namespace, cls, labels=None, annotations=None, spec_addresses=None, status_addresses=None,
            programmed=True):
    gw = {"metadata": {"name": name, "namespace": namespace, "labels": labels or {}, "annotations": annotations or {}},
          "spec": {"gatewayClassName": cls}, "status": {"conditions": [
              {"type": "Programmed", "status": "True" if programmed else "False"}]}}
    if spec_addresses:
        gw["spec"]["addresses"] = [{"type": "IPAddress", "value": a} for a in spec_addresses]
    if status_addresses:
        gw["status"]["addresses"] = [{"type": "IPAddress", "value": a} for a in status_addresses]
    return gw


SOLO_HUB = "us-docker.pkg.dev/soloio-img/istio"


def solo_cluster():
    components = {
        "istiod": [deploy("istiod-gloo", "istio-system", SOLO_HUB + "/pilot:1.29.0-solo-distroless")],
        "ztunnel": [deploy("ztunnel", "istio-system", SOLO_HUB + "/ztunnel:1.29.0-solo-distroless", 3, 3, "DaemonSet")],
        "cni": [deploy("istio-cni-node", "istio-system", SOLO_HUB + "/install-cni:1.29.0-solo", 3, 2, "DaemonSet")],
    }
    gateways = [
        gateway("istio-eastwest", "istio-gateways", "istio-eastwest", labels={mf.NETWORK_LABEL: "cluster1"}),
        gateway("istio-remote-peer-cluster2", "istio-gateways", "istio-remote",
                labels={mf.NETWORK_LABEL: "cluster2"}, annotations={mf.TRUST_DOMAIN_ANNOTATION: "cluster2.local"},
                spec_addresses=["198.51.100.20"]),
        gateway("http", "gloo-system", "gloo-gateway"),
    ]
    services = [svc("istio-eastwest", "istio-gateways", {"istio.io/expose-istiod": "15012"}, {"ip": "198.51.100.10"}),
                svc("productpage", "bookinfo", {mf.SOLO_SCOPE_LABEL: "global"}),
                svc("reviews", "bookinfo", {mf.SOLO_SCOPE_LABEL: "cluster"}),
                svc("details", "shop", {}), svc("local-one", "shop", {mf.SOLO_SCOPE_LABEL: "local"})]
    namespaces = [ns("istio-system", **{mf.NETWORK_LABEL: "cluster1"}), ns("bookinfo", **{mf.DATAPLANE_LABEL: "ambient"}),
                  ns("gloo-system", **{mf.DATAPLANE_LABEL: "ambient"}), ns("shop", **{mf.SOLO_SCOPE_LABEL: "global"}),
                  ns("default")]
    return components, gateways, services, namespaces


def test_solo_cluster_facts():
    components, gateways, services, namespaces = solo_cluster()
    f = mf.facts("v1.36.3", components, gateways, services, namespaces, [], "istio-system")
    assert f["distribution"] == "solo"
    assert f["versions"] == {"kubernetes": "v1.36.3", "istiod": "1.29.0-solo", "ztunnel": "1.29.0-solo",
                             "cni": "1.29.0-solo"}
    assert f["network"] == "cluster1"
    assert f["components"]["istiod"]["ready"] is True and f["components"]["istiod"]["name"] == "istiod-gloo"
    assert f["components"]["cni"]["ready"] is False and f["components"]["cni"]["ready_replicas"] == 2
    assert f["ready"] is False and f["not_ready"] == ["cni"]
    ew = f["components"]["eastwest_gateway"]
    assert ew["class"] == "istio-eastwest" and ew["programmed"] and ew["network"] == "cluster1"
    # no address in the Gateway status: the Service's load-balancer address is used
    assert f["eastwest_address"] == "198.51.100.10"
    assert f["peers"] == [{"kind": "peer-gateway", "name": "istio-remote-peer-cluster2", "namespace": "istio-gateways",
                           "network": "cluster2", "cluster": "cluster2", "address": "198.51.100.20",
                           "trust_domain": "cluster2.local", "programmed": True}]
    # the namespace scope makes shop/details global; a Service's own label wins over it
    assert f["global_services"] == ["bookinfo/productpage", "shop/details"]
    assert f["ambient_namespaces"] == ["bookinfo", "gloo-system"]


def test_upstream_cluster_facts():
    components = {
        "istiod": [deploy("istiod", "istio-system", "docker.io/istio/pilot:1.29.0-distroless", 2, 2)],
        "ztunnel": [deploy("ztunnel", "istio-system", "docker.io/istio/ztunnel:1.29.0", 1, 1, "DaemonSet")],
        "cni": [deploy("istio-cni-node", "kube-system", "docker.io/istio/install-cni:1.29.0", 1, 1, "DaemonSet")],
    }
    gateways = [gateway("istio-eastwestgateway", "istio-system", "istio-east-west", status_addresses=["203.0.113.5"])]
    secrets = [{"metadata": {"name": "istio-remote-secret-cluster2", "namespace": "istio-system",
                             "annotations": {mf.REMOTE_SECRET_CLUSTER: "cluster2"}}}]
    services = [svc("productpage", "bookinfo", {mf.UPSTREAM_GLOBAL_LABEL: "true"})]
    f = mf.facts("v1.36.3", components, gateways, services, [ns("istio-system")], secrets, "istio-system")
    assert f["distribution"] == "upstream" and f["ready"] is True and f["not_ready"] == []
    assert f["versions"]["istiod"] == "1.29.0" and f["components"]["cni"]["namespace"] == "kube-system"
    assert f["eastwest_address"] == "203.0.113.5" and f["network"] is None
    assert f["peers"] == [{"kind": "remote-secret", "name": "istio-remote-secret-cluster2",
                           "namespace": "istio-system", "cluster": "cluster2"}]
    assert f["peer_count"] == 1 and f["global_services"] == ["bookinfo/productpage"]


def test_empty_cluster_has_no_distribution_and_names_what_is_missing():
    f = mf.facts("v1.36.3", {"istiod": [], "ztunnel": [], "cni": []}, [], [], [], [], "istio-system")
    assert f["distribution"] is None and f["ready"] is False
    assert f["not_ready"] == ["istiod", "ztunnel", "cni", "eastwest_gateway"]
    assert f["eastwest_address"] is None and f["peers"] == [] and f["components"]["istiod"] is None


def test_ready_component_is_preferred():
    picked = mf.pick_component([deploy("istiod-old", "istio-system", "i:1.28.0", 1, 0),
                                deploy("istiod", "istio-system", "i:1.29.0", 1, 1)], "Deployment")
    assert picked["name"] == "istiod" and picked["version"] == "1.29.0"
    assert mf.pick_component([], "Deployment") is None


def test_image_tag():
    assert mf.image_tag("docker.io/istio/pilot:1.29.0") == "1.29.0"
    assert mf.image_tag("registry:5000/istio/pilot") == ""
    assert mf.image_tag("registry:5000/pilot:1.2@sha256:abc") == "1.2"
    assert mf.image_tag(None) == ""


def test_hostname_address_and_unprogrammed_gateway():
    gw = gateway("istio-eastwest", "istio-gateways", "istio-eastwest", programmed=False)
    ew = mf.eastwest_gateway([gw], [svc("other", "istio-gateways", {mf.GATEWAY_NAME_LABEL: "istio-eastwest"},
                                        {"hostname": "ew.elb.example.com"})])
    assert ew["address"] == "ew.elb.example.com" and ew["ready"] is False


def test_health_names_each_missing_or_unready_part_and_its_fix():
    components, gateways, services, namespaces = solo_cluster()
    components["ztunnel"] = []
    components["cni"] = [deploy("istio-cni-node", "kube-system", SOLO_HUB + "/install-cni:1.29.0-solo", 0, 0,
                                "DaemonSet")]
    f = mf.facts("v1.36.3", components, gateways, services, namespaces, [], "istio-system",
                 expected_peers=["cluster2", "cluster3"])
    assert f["healthy"] is False and f["expected_peers"] == ["cluster2", "cluster3"]
    assert f["problems"] == [
        "cni kube-system/istio-cni-node is not ready (0 of 0): " + mf.FIXES["cni"],
        "ztunnel is absent (no DaemonSet labelled app.kubernetes.io/name=ztunnel in any namespace): "
        + mf.FIXES["ztunnel"],
        "not linked to cluster3 (no peer Gateway or remote secret names it): run the link step (playbooks/link.yml) "
        "for every cluster of the mesh"]


def test_health_of_a_whole_upstream_cluster_and_its_eastwest_gateway():
    components, ew, secrets = upstream_with_secrets("cluster2")
    ew[0]["status"]["conditions"][0]["status"] = "False"
    f = mf.facts("v1.36.3", components, ew, [], [ns("istio-system")], secrets, "istio-system", ["cluster2"])
    assert f["problems"] == ["eastwest_gateway istio-system/istio-eastwestgateway is not Programmed: "
                             + mf.FIXES["eastwest_gateway"]]
    ew[0]["status"]["conditions"][0]["status"] = "True"
    f = mf.facts("v1.36.3", components, ew, [], [ns("istio-system")], secrets, "istio-system", ["cluster2"])
    assert f["healthy"] is True and f["problems"] == []
    f = mf.facts("v1.36.3", components, [], [], [ns("istio-system")], secrets, "istio-system", ["cluster2"])
    assert f["problems"] == ["eastwest_gateway is absent (no Gateway of class istio-east-west or istio-eastwest): "
                             + mf.FIXES["eastwest_gateway"]]


def sample(peer, status, value="1", **extra):
    return {"metric": dict({"__name__": mf.SYNC_METRIC, "cluster": peer, "cluster_type": "remote",
                            "status": status}, **extra), "value": [0, value]}


def test_sync_query_picks_the_remote_states_that_hold_and_this_clusters_istiod():
    assert mf.sync_query() == 'istiod_remote_cluster_sync_status{cluster_type="remote"} == 1'
    assert mf.sync_query('mesh_cluster="cluster1", ') == \
        'istiod_remote_cluster_sync_status{cluster_type="remote",mesh_cluster="cluster1"} == 1'


def test_peer_sync_collects_every_replicas_state_and_istiods_own_cluster_label():
    got = mf.peer_sync([sample("cluster2", "synced", pod="istiod-a"), sample("cluster2", "timeout", pod="istiod-b"),
                        sample("cluster3", "synced"),
                        # the scrape config's own `cluster` target label moved istiod's to exported_cluster
                        sample("cluster1", "synced", exported_cluster="cluster4")])
    assert got == {"cluster2": ["synced", "timeout"], "cluster3": ["synced"], "cluster4": ["synced"]}


def upstream_with_secrets(*peers):
    components = {
        "istiod": [deploy("istiod", "istio-system", "docker.io/istio/pilot:1.31.0", 1, 1)],
        "ztunnel": [deploy("ztunnel", "istio-system", "docker.io/istio/ztunnel:1.31.0", 1, 1, "DaemonSet")],
        "cni": [deploy("istio-cni-node", "istio-system", "docker.io/istio/install-cni:1.31.0", 1, 1, "DaemonSet")],
    }
    secrets = [{"metadata": {"name": "istio-remote-secret-" + p, "namespace": "istio-system",
                             "annotations": {mf.REMOTE_SECRET_CLUSTER: p}}} for p in peers]
    return components, [gateway("istio-eastwestgateway", "istio-system", "istio-east-west")], secrets


def test_a_linked_peer_that_istiod_has_not_synced_is_a_problem_naming_its_state_and_the_fix():
    components, ew, secrets = upstream_with_secrets("cluster2", "cluster3")
    expected = ["cluster2", "cluster3"]

    def check(sync):
        return mf.facts("v1.36.3", components, ew, [], [ns("istio-system")], secrets, "istio-system", expected,
                        sync, "http://prom:9090")

    ok = check({"cluster2": ["synced"], "cluster3": ["synced"]})
    assert ok["healthy"] is True and ok["peer_sync"] == {"cluster2": ["synced"], "cluster3": ["synced"]}
    bad = check({"cluster2": ["timeout"], "cluster3": ["synced", "syncing"]})
    assert bad["healthy"] is False and len(bad["problems"]) == 2, bad["problems"]
    assert bad["problems"][0].startswith("istiod has not synced cluster2 (timeout): the remote secret's reader "
                                         "must grant secrets, configmaps and customresourcedefinitions")
    assert "rerun playbooks/link.yml" in bad["problems"][0]
    assert bad["problems"][1].startswith("istiod has not synced cluster3 (synced/syncing)")
    assert check({"cluster3": ["synced"]})["problems"] == [
        p.replace("(timeout)", "(not reported)") for p in bad["problems"][:1]]
    # istiod not scraped at all: unknown is not healthy
    none = check({})
    assert none["problems"] == ["istiod's peer sync is unknown: no istiod_remote_cluster_sync_status series at "
                                "http://prom:9090: make that Prometheus scrape istiod's port 15014 (or set the "
                                "selector that picks this cluster's istiod)"]
    # not checked (no Prometheus): no problem, and the facts say so
    unchecked = check(None)
    assert unchecked["healthy"] is True and unchecked["peer_sync"] is None


def test_peer_sync_is_only_asked_of_peers_linked_by_remote_secrets():
    components, ew = upstream_with_secrets()[:2]
    solo_peer = gateway("istio-remote-peer-cluster2", "istio-eastwest", mf.REMOTE_CLASS,
                        labels={mf.CLUSTER_LABEL: "cluster2"}, spec_addresses=["192.0.2.1"])
    f = mf.facts("v1.36.3", components, ew + [solo_peer], [], [ns("istio-system")], [], "istio-system",
                 ["cluster2"], {}, "http://prom:9090")
    assert f["problems"] == [], f["problems"]
