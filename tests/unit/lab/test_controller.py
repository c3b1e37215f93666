"""The lab controller's Envoy programming: localities, priorities and routes from HTTPRoutes (no cluster needed)."""

from pathlib import Path

from lab.controller import Backends, Controller


def _controller(tmp_path):
    ctl = Controller.__new__(Controller)
    ctl.xds = Path(tmp_path) / "xds"
    ctl.xds.mkdir()
    ctl.ingress_port = 8080
    ctl.backends = Backends()
    ctl.written = {}
    return ctl


ROUTE = {"metadata": {"name": "productpage", "namespace": "gloo-system"},
         "spec": {"rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/productpage"}}],
                             "backendRefs": [{"name": "productpage.bookinfo.mesh.internal", "port": 9080,
                                              "kind": "Hostname", "group": "networking.istio.io"}]}]}}
HOST = "productpage.bookinfo.mesh.internal"


def test_own_cluster_priority_0_peers_priority_1(tmp_path):
    ctl = _controller(tmp_path)
    services = {"cluster1": {HOST: {"ready": 1}}, "cluster2": {HOST: {"ready": 2}}, "cluster3": {HOST: {"ready": 1}}}
    lds, cds, eds = ctl.envoy_config("cluster1", [(ROUTE, {})], services, {"cluster2", "cluster3"})
    (cla,) = eds
    assert [(e["locality"]["zone"], e["priority"]) for e in cla["endpoints"]] == [
        ("cluster1", 0), ("cluster2", 1), ("cluster3", 1)]
    assert cla["policy"]["overprovisioning_factor"] == 100
    assert cds[0]["name"] == cla["cluster_name"] == HOST + "_9080"
    route = lds[0]["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]["virtual_hosts"][0]["routes"][0]
    assert route["match"] == {"path_separated_prefix": "/productpage"}
    assert route["route"]["cluster"] == HOST + "_9080"
    ports = {e["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]["port_value"] for e in cla["endpoints"]}
    assert len(ports) == 3  # one stand-in server per cluster


def test_cluster_without_ready_endpoints_leaves_eds_and_peers_move_up(tmp_path):
    ctl = _controller(tmp_path)
    services = {"cluster1": {HOST: {"ready": 0}}, "cluster2": {HOST: {"ready": 1}}}
    (cla,) = ctl.envoy_config("cluster1", [(ROUTE, {})], services, {"cluster2"})[2]
    assert [(e["locality"]["zone"], e["priority"]) for e in cla["endpoints"]] == [("cluster2", 0)]


def test_unlinked_cluster_is_not_a_locality(tmp_path):
    ctl = _controller(tmp_path)
    services = {"cluster1": {HOST: {"ready": 1}}, "cluster2": {HOST: {"ready": 1}}}
    (cla,) = ctl.envoy_config("cluster1", [(ROUTE, {})], services, set())[2]
    assert [e["locality"]["zone"] for e in cla["endpoints"]] == ["cluster1"]


def test_xds_written_by_atomic_rename_only_on_change(tmp_path):
    ctl = _controller(tmp_path)
    assert ctl.write_xds("eds", [{"a": 1}])
    first = (ctl.xds / "eds.yaml").stat().st_ino
    assert not ctl.write_xds("eds", [{"a": 1}])
    assert ctl.write_xds("eds", [{"a": 2}])
    assert (ctl.xds / "eds.yaml").stat().st_ino != first  # a new file moved in, not an in-place write
    assert not list(ctl.xds.glob(".*.tmp"))


class GrantApi:
    def __init__(self, grants):
        self.grants = grants

    def items(self, path, selector=None):
        return [g for ns, g in self.grants if "/namespaces/%s/" % ns in path]


def route_to(*refs):
    return {"metadata": {"name": "productpage", "namespace": "gloo-system"},
            "spec": {"rules": [{"backendRefs": list(refs)}]}}


def test_backends_resolve_as_kgateway_resolves_them(tmp_path):
    ctl = _controller(tmp_path)
    grant = {"spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "gloo-system"}],
                      "to": [{"group": "", "kind": "Service", "name": "productpage"}]}}
    ctl.apis = {"c1": GrantApi([])}
    hosts, services = {HOST}, {("bookinfo", "productpage")}
    svc = {"name": "productpage", "namespace": "bookinfo", "port": 9080}
    upstream_host = {"name": "productpage.bookinfo.svc.cluster.local", "port": 9080, "kind": "Hostname",
                     "group": "networking.istio.io"}
    assert ctl.unresolved("c1", ROUTE, hosts, services) == (None, None)
    # kgateway aliases Hostname backends to ServiceEntry hosts only: a Service's own FQDN is not one
    assert ctl.unresolved("c1", route_to(upstream_host), hosts, services) == (
        "BackendNotFound", "unknown backend(s): productpage.bookinfo.svc.cluster.local")
    assert ctl.unresolved("c1", route_to(svc), hosts, services) == (
        "RefNotPermitted", "no ReferenceGrant for: bookinfo/productpage")
    ctl.apis = {"c1": GrantApi([("bookinfo", grant)])}
    assert ctl.unresolved("c1", route_to(svc), hosts, services) == (None, None)
    assert ctl.unresolved("c1", route_to(dict(svc, name="ratings")), hosts, services)[0] == "BackendNotFound"
    # a Service backend is served by the stand-ins of its global host
    lds, cds, eds = ctl.envoy_config("c1", [(route_to(svc), {})],
                                     {"c1": {"productpage.bookinfo.svc.cluster.local": {"ready": 1}}}, set())
    assert cds[0]["name"] == "productpage.bookinfo.svc.cluster.local_9080" and eds[0]["endpoints"]
