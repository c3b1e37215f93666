"""The inventory preflight: one rule per identity field, checked across every host before any write."""

import pytest
import yaml

from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.identity import checked_before, resolve

KUBECONFIG = {
    "current-context": "one",
    "contexts": [{"name": n, "context": {"cluster": c, "user": "u"}}
                 for n, c in (("one", "c1"), ("two", "c2"), ("alias-of-one", "c1"))],
    "clusters": [{"name": "c1", "cluster": {"server": "https://10.0.0.1:6443/"}},
                 {"name": "c2", "cluster": {"server": "https://10.0.0.2:6443"}}],
    "users": [{"name": "u", "user": {"token": "sekrit-token"}}],
}


@pytest.fixture
def kubeconfig(tmp_path):
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(KUBECONFIG))
    return str(path)


def hosts(kubeconfig, **overrides):
    out = {"cluster1": {"kube_context": "one", "mesh_network": "network1", "kubeconfig_path": kubeconfig},
           "cluster2": {"kube_context": "two", "mesh_network": "network2", "kubeconfig_path": kubeconfig}}
    for host, values in overrides.items():
        out[host].update(values)
    return out


def problems(hosts_, environ=None, home="/nonexistent"):
    with pytest.raises(MeshError) as exc:
        resolve(hosts_, environ or {}, home, yaml.safe_load)
    assert "nothing was changed" in exc.value.msg
    return exc.value.details["problems"]


def test_a_good_inventory_resolves_each_host_to_its_own_server(kubeconfig):
    out = resolve(hosts(kubeconfig), {}, "/nonexistent", yaml.safe_load)
    assert [(c["host"], c["cluster_name"], c["network"], c["trust_domain"], c["server"]) for c in out] == [
        ("cluster1", "cluster1", "network1", "cluster.local", "https://10.0.0.1:6443"),
        ("cluster2", "cluster2", "network2", "cluster.local", "https://10.0.0.2:6443")]
    assert "sekrit" not in repr(out)


@pytest.mark.parametrize("value", [None, "", "  "])
def test_a_host_without_a_context_is_refused_when_there_are_several(kubeconfig, value):
    found = problems(hosts(kubeconfig, cluster2={"kube_context": value}))
    assert len(found) == 1 and found[0].startswith("cluster2: kube_context is"), found


def test_a_single_cluster_may_use_the_current_context(kubeconfig):
    one = {"cluster1": {"mesh_network": "network1", "kubeconfig_path": kubeconfig}}
    assert resolve(one, {}, "/nonexistent", yaml.safe_load)[0]["server"] == "https://10.0.0.1:6443"


def test_two_hosts_on_one_api_server_are_refused(kubeconfig):
    found = problems(hosts(kubeconfig, cluster2={"kube_context": "alias-of-one"}))
    assert found == ["cluster1 and cluster2 reach the same API server https://10.0.0.1:6443: each inventory host "
                     "must be a different cluster: fix kube_context (or kubeconfig_path) of one of them"]


def test_a_misspelt_context_names_the_ones_there_are(kubeconfig):
    found = problems(hosts(kubeconfig, cluster2={"kube_context": "tow"}))
    assert found == ["cluster2: kube_context=tow is not a context of %s (contexts there: alias-of-one, one, two): "
                     "fix kube_context or kubeconfig_path" % kubeconfig]


def test_a_missing_kubeconfig_is_named_with_where_it_came_from(tmp_path):
    found = problems({"cluster1": {"kube_context": "one", "mesh_network": "n1"}},
                     environ={"K8S_AUTH_KUBECONFIG": str(tmp_path / "nope")})
    assert found == ["cluster1: kube_context=one but no kubeconfig exists at %s (from K8S_AUTH_KUBECONFIG): set "
                     "kubeconfig_path to the file that holds the contexts" % (tmp_path / "nope")]


@pytest.mark.parametrize("network", ["Network2", "net_2", "net work", "n" * 64, "-net"])
def test_one_network_rule_for_every_step(kubeconfig, network):
    found = problems(hosts(kubeconfig, cluster2={"mesh_network": network}))
    assert len(found) == 1 and found[0].startswith("cluster2: mesh_network=%r is not a valid network name" % network)


def test_networks_and_cluster_names_are_unique(kubeconfig):
    found = problems(hosts(kubeconfig, cluster2={"mesh_network": "network1", "mesh_cluster_name": "cluster1"}))
    assert found == [
        "cluster1 and cluster2 have the same cluster name cluster1: Istio tells clusters apart by name: set "
        "mesh_cluster_name for one of them",
        "cluster1 and cluster2 have the same mesh_network network1: peer Gateways and remote secrets are named "
        "after the network: give each cluster its own mesh_network"]


def test_upstream_clusters_share_one_trust_domain_and_solo_ones_need_not(kubeconfig):
    two = {"cluster1": {"mesh_trust_domain": "one.example"}, "cluster2": {"mesh_trust_domain": "two.example"}}
    assert resolve(hosts(kubeconfig, **two), {}, "/nonexistent", yaml.safe_load)  # solo (the default)
    upstream = dict((h, dict(v, mesh_distribution="upstream")) for h, v in two.items())
    assert problems(hosts(kubeconfig, **upstream)) == [
        "cluster1, cluster2 run upstream Istio with different mesh_trust_domain (cluster1=one.example, "
        "cluster2=two.example): upstream istiod trusts a peer's workloads only in its own trust domain; give every "
        "cluster of the mesh the same mesh_trust_domain (Solo's peering allows one per cluster)"]
    same = dict((h, {"mesh_distribution": "upstream"}) for h in two)
    assert resolve(hosts(kubeconfig, **same), {}, "/nonexistent", yaml.safe_load)


def test_a_missing_network_and_a_bad_trust_domain_are_named(kubeconfig):
    found = problems(hosts(kubeconfig, cluster1={"mesh_network": None, "mesh_trust_domain": "Corp.Example"}))
    assert [p.split(":")[0] + ":" + p.split(":")[1].split("=")[0] for p in found] == [
        "cluster1: mesh_network is not set; give every cluster its own network name in the inventory (e.g. "
        "mesh_network", "cluster1: mesh_trust_domain"]


def test_the_awx_bearer_token_credential_is_refused(kubeconfig):
    env = {"K8S_AUTH_HOST": "https://10.0.0.9", "K8S_AUTH_API_KEY": "sekrit-token"}
    found = problems(hosts(kubeconfig), environ=env)
    assert len(found) == 2 and all("K8S_AUTH_HOST is set in the environment" in p for p in found)
    assert not any("sekrit" in p for p in found)


def test_every_problem_is_listed_in_one_run(kubeconfig):
    found = problems(hosts(kubeconfig, cluster1={"kube_context": None, "mesh_network": "Bad"},
                           cluster2={"mesh_cluster_name": "Cluster_2"}))
    assert len(found) == 3, found


def test_the_distribution_is_one_of_the_table(kubeconfig):
    got = problems(hosts(kubeconfig, cluster1={"mesh_distribution": "istio"}))
    assert got == ["cluster1: mesh_distribution='istio' is not a distribution: use one of solo, upstream"]
    items = resolve(hosts(kubeconfig, cluster2={"mesh_distribution": " "}), {}, "/nonexistent", yaml.safe_load)
    assert [i["distribution"] for i in items] == ["solo", "solo"]  # blank is missing: the default


def test_an_eastwest_address_from_the_inventory_is_checked_and_typed(kubeconfig):
    items = resolve(hosts(kubeconfig, cluster1={"mesh_eastwest_address": "192.0.2.7"},
                          cluster2={"mesh_eastwest_address": "ew.example.test"}), {}, "/nonexistent", yaml.safe_load)
    assert [(i["eastwest_address"], i["eastwest_address_type"]) for i in items] == [
        ("192.0.2.7", "IPAddress"), ("ew.example.test", "Hostname")]
    got = problems(hosts(kubeconfig, cluster1={"mesh_eastwest_address": "999.1.1.1"},
                         cluster2={"mesh_eastwest_address": "ew.example.test", "mesh_eastwest_address_type": "IP"}))
    assert got[0].startswith("cluster1: mesh_eastwest_address '999.1.1.1' looks like an IPv4 address but is not one")
    assert got[1] == ("cluster2: mesh_eastwest_address_type='IP': use IPAddress or Hostname (or leave it out: it "
                      "follows the address)")


def test_the_api_server_for_remote_secrets_is_a_url(kubeconfig):
    got = problems(hosts(kubeconfig, cluster1={"mesh_api_server": "api.example:6443"}))
    assert got == ["cluster1: mesh_api_server='api.example:6443' must be a URL such as https://api.cluster1.example:6443"]
    items = resolve(hosts(kubeconfig), {}, "/nonexistent", yaml.safe_load)
    assert [(i["api_server"], i["kubeconfig_path"]) for i in items] == [(None, kubeconfig), (None, kubeconfig)]


def test_the_platform_is_one_of_the_table(kubeconfig):
    got = problems(hosts(kubeconfig, cluster2={"mesh_platform": "eks"}))
    assert got == ["cluster2: mesh_platform='eks' is not a platform: use one of kubernetes, openshift"]
    items = resolve(hosts(kubeconfig, cluster1={"mesh_platform": "openshift"}), {}, "/nonexistent", yaml.safe_load)
    assert [i["platform"] for i in items] == ["openshift", "kubernetes"]


def published(clusters, **eastwest):
    """The mesh_clusters fact as the preflight publishes it: kubeconfig files dropped, east-west addresses read."""
    out = {}
    for c in clusters:
        c = dict(c, **eastwest.get(c["host"], {}))
        c.pop("kubeconfig")
        out[c["host"]] = c
    return out


def test_a_later_preflight_of_the_run_reaches_no_cluster_when_nothing_changed(kubeconfig):
    clusters = resolve(hosts(kubeconfig), {}, "/nonexistent", yaml.safe_load)
    known = published(clusters, cluster1={"eastwest_address": "192.0.2.1", "eastwest_address_type": "IPAddress"})
    assert checked_before(clusters, known, need_eastwest=False) is True
    # nothing known yet, east-west addresses wanted and not read, a host missing: reach the clusters
    assert checked_before(clusters, None, need_eastwest=False) is False
    assert checked_before(clusters, known, need_eastwest=True) is False
    assert checked_before(clusters, {"cluster1": known["cluster1"]}, need_eastwest=False) is False
    # an identity that differs from the one published (another network, context or inventory address)
    moved = resolve(hosts(kubeconfig, cluster2={"mesh_network": "network9"}), {}, "/nonexistent", yaml.safe_load)
    assert checked_before(moved, known, need_eastwest=False) is False
    swapped = resolve(hosts(kubeconfig, cluster1={"kube_context": "two"}, cluster2={"kube_context": "one"}),
                      {}, "/nonexistent", yaml.safe_load)
    assert checked_before(swapped, known, need_eastwest=False) is False
    pinned = resolve(hosts(kubeconfig, cluster1={"mesh_eastwest_address": "192.0.2.7"}), {}, "/nonexistent",
                     yaml.safe_load)
    assert checked_before(pinned, known, need_eastwest=False) is False
