"""mesh_info finds each component by labels that Istio's own charts put on the workload object.

The charts are the real ones in ../shared/charts/istio (or $AMBIENTMESH_CHARTS); the workload's literal metadata
labels are read from its template, so no Helm binary is needed. The old `app=ztunnel` selector fails here: Istio
puts that label on ztunnel's pods only, the DaemonSet carries app.kubernetes.io/name=ztunnel.
"""

import os
import re
from pathlib import Path

import pytest

from ansible_collections.ambientmesh.multicluster.plugins.module_utils import mesh_info as mf

CHARTS = Path(os.environ.get("AMBIENTMESH_CHARTS", Path(__file__).resolve().parents[4].parent / "shared" / "charts"
                             / "istio"))
TEMPLATES = {"istiod": "istiod/templates/deployment.yaml", "ztunnel": "ztunnel/templates/daemonset.yaml",
             "cni": "cni/templates/daemonset.yaml"}
VERSIONS = sorted(p.name for p in CHARTS.glob("*/") if (p / "istiod").is_dir()) if CHARTS.is_dir() else []


def resolve_names(text, chart_dir):
    """Replace `{{ template "name" . }}` with what the chart's _helpers.tpl defines (istio-cni uses it)."""
    helpers = chart_dir / "templates" / "_helpers.tpl"
    m = re.search(r'define "name" -}}\s*(\S+?)\s*{{-', helpers.read_text()) if helpers.exists() else None
    return text.replace('{{ template "name" . }}', m.group(1)) if m else text


def workload_labels(text, kind):
    """The literal `key: value` labels of the first object of `kind` in a chart template (templated lines skipped)."""
    doc = text[re.search(r"^kind: %s\s*$" % kind, text, re.M).start():]
    block = re.search(r"^metadata:\n(?:.*\n)*?  labels:\n((?:    .*\n)+)", doc, re.M).group(1)
    labels = {}
    for line in block.splitlines():
        m = re.match(r"^    ([A-Za-z0-9./_-]+): \"?([A-Za-z0-9._-]+)\"?\s*$", line)
        if m:
            labels[m.group(1)] = m.group(2)
    return labels


def test_real_charts_present():
    assert VERSIONS, "no Istio charts in %s: put ../shared/charts/istio next to the repository or set " \
                     "AMBIENTMESH_CHARTS" % CHARTS


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("component", sorted(TEMPLATES))
def test_selector_matches_the_chart_workload(version, component):
    _api, kind, selector = mf.COMPONENTS[component]
    key, value = selector.split("=", 1)
    template = CHARTS / version / TEMPLATES[component]
    labels = workload_labels(resolve_names(template.read_text(), template.parent.parent), kind)
    assert labels.get(key) == value, "%s %s of Istio %s has labels %s; selector %s finds nothing" % (
        kind, component, version, labels, selector)
