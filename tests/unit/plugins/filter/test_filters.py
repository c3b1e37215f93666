"""The filters roles use to wire resolved values: global hostnames and cluster names."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ambientmesh.multicluster.plugins.filter.cluster_names import cluster_names
from ansible_collections.ambientmesh.multicluster.plugins.filter.global_host import FilterModule


def test_global_host_follows_the_distribution():
    host = FilterModule().filters()["global_host"]
    assert host("productpage", "bookinfo", "solo") == "productpage.bookinfo.mesh.internal"
    assert host("productpage", "bookinfo", "upstream") == "productpage.bookinfo.svc.cluster.local"
    # the role's argument spec names an unknown distribution; the filter must not fail first
    assert host("productpage", "bookinfo", "istio") == ""


def test_cluster_names_use_mesh_cluster_name_else_the_host():
    hostvars = {"a": {"mesh_cluster_name": "east"}, "b": {}, "c": {"mesh_cluster_name": ""}}
    assert cluster_names(["a", "b", "c"], hostvars) == ["east", "b", "c"]
    with pytest.raises(AnsibleFilterError, match="'nosuch' is not an inventory host"):
        cluster_names(["nosuch"], hostvars)
