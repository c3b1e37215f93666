"""prometheus.py: the label matchers a user gives are checked before they reach a query."""

import pytest

from ansible_collections.ambientmesh.multicluster.plugins.module_utils import prometheus as prom
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError


@pytest.mark.parametrize("selector", ['mesh_cluster="cluster1"', ' a="x" , b!~"y.*",', 'pod=~"istiod-.*",c="q\\"x"'])
def test_label_matchers_are_accepted(selector):
    prom.validate_selector(selector, "prometheus_selector")


@pytest.mark.parametrize("selector", ['{mesh_cluster="cluster1"}', "mesh_cluster=cluster1", 'mesh-cluster="x"',
                                      'a="x" b="y"', 'a="x"} or vector(1) or {b="y"'])
def test_a_selector_that_is_not_label_matchers_names_the_field_and_an_example(selector):
    with pytest.raises(MeshError, match=r'prometheus_selector: .* is not a list of PromQL label matchers; write e\.g\. '
                                        r'mesh_cluster="cluster1"'):
        prom.validate_selector(selector, "prometheus_selector")
