"""The filters roles use to wire resolved values: the distribution and product tables, global names, peers."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ambientmesh.multicluster.plugins.filter.tables import (
    distribution as _distribution, gateway_product as _product, global_backend as _global_backend,
    platform as _platform)
from ansible_collections.ambientmesh.multicluster.plugins.filter.tables import FilterModule
from ansible_collections.ambientmesh.multicluster.plugins.filter.mesh_peers import mesh_peers
from ansible_collections.ambientmesh.multicluster.plugins.module_utils import distributions


def test_global_host_follows_the_distribution():
    host = FilterModule().filters()["global_host"]
    assert host("productpage", "bookinfo", "solo") == "productpage.bookinfo.mesh.internal"
    assert host("productpage", "bookinfo", "upstream") == "productpage.bookinfo.svc.cluster.local"
    # the role's argument spec names an unknown distribution; the filter must not fail first
    assert host("productpage", "bookinfo", "istio") == ""


def test_global_backend_is_a_hostname_for_solo_and_the_service_for_upstream():
    assert _global_backend("productpage", "bookinfo", "solo", "9080") == {
        "host": "productpage.bookinfo.mesh.internal", "port": 9080}
    assert _global_backend("productpage", "bookinfo", "upstream", 9080) == {
        "service": "productpage", "namespace": "bookinfo", "port": 9080}
    with pytest.raises(AnsibleFilterError, match="mesh_distribution='istio' is not a distribution: use one of solo, upstream"):
        _global_backend("productpage", "bookinfo", "istio", 9080)


def test_tables_name_the_variable_and_the_choices():
    assert _distribution("solo")["link"]["method"] == "peering"
    assert _distribution("upstream")["eastwest"]["service"] == "istio-eastwestgateway"
    with pytest.raises(AnsibleFilterError, match="gateway_product='nginx' is not a gateway product: use one of gloo-gateway, kgateway"):
        _product("nginx")
    assert _product("gloo-gateway", gateway="http") == "gloo-proxy-http"
    assert _product("kgateway", gateway="http") == "http"
    assert _platform("openshift")["node_namespace"] == "kube-system"
    with pytest.raises(AnsibleFilterError, match="mesh_platform='eks' is not a platform: use one of kubernetes, openshift"):
        _platform("eks")


def test_products_per_distribution_are_derived_from_the_product_table():
    assert _distribution("solo")["gateway_products"] == ["gloo-gateway", "kgateway"]
    assert _distribution("upstream")["gateway_products"] == ["kgateway"]
    assert distributions.eastwest_classes() == ("istio-east-west", "istio-eastwest")


def test_eastwest_address_takes_the_first_ingress():
    svc = {"status": {"loadBalancer": {"ingress": [{"hostname": "ew.example.test"}, {"ip": "192.0.2.1"}]}}}
    assert distributions.eastwest_address(svc) == ("ew.example.test", "Hostname")
    assert distributions.eastwest_address({"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}}) == (
        "192.0.2.1", "IPAddress")
    assert distributions.eastwest_address({"status": {}}) == (None, None)
    assert distributions.eastwest_address(None) == (None, None)


CLUSTERS = {
    "h1": {"host": "h1", "cluster_name": "east", "network": "net1", "trust_domain": "cluster.local",
           "distribution": "solo", "context": "c1", "kubeconfig_path": "/k", "api_server": None,
           "eastwest_address": "192.0.2.1", "eastwest_address_type": "IPAddress"},
    "h2": {"host": "h2", "cluster_name": "west", "network": "net2", "trust_domain": "td2",
           "distribution": "solo", "context": "c2", "kubeconfig_path": None, "api_server": "https://w:6443",
           "eastwest_address": None, "eastwest_address_type": None},
}


def test_mesh_peers_come_from_the_resolved_identities_only():
    peers = mesh_peers(CLUSTERS, ["h1", "h2"])
    assert peers == [
        {"name": "east", "network": "net1", "trust_domain": "cluster.local", "address": "192.0.2.1",
         "address_type": "IPAddress", "context": "c1", "kubeconfig": "/k", "service_account": "istio-eastwest"},
        {"name": "west", "network": "net2", "trust_domain": "td2", "context": "c2", "api_server": "https://w:6443",
         "service_account": "istio-eastwest"}]
    assert {p["service_account"] for p in mesh_peers(CLUSTERS, ["h1"], service_account="gw-sa")} == {"gw-sa"}
    assert mesh_peers(CLUSTERS, ["h1"], service_account="")[0]["service_account"] == "istio-eastwest"


def test_mesh_peers_name_a_host_without_identity():
    with pytest.raises(AnsibleFilterError, match="h3 has no resolved identity: run ambientmesh.multicluster.mesh_preflight"):
        mesh_peers(CLUSTERS, ["h1", "h3"])
