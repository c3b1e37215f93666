"""One rule for how the ambient and gateway roles reference charts, and the messages that name what to fix."""

import os

from ansible_collections.ambientmesh.multicluster.plugins.module_utils import helm_charts


def test_each_kind_of_source_references_its_charts_its_own_way(tmp_path):
    repo = helm_charts.locate("https://charts.example.test/istio", "1.31.4")
    assert repo == {"kind": "repo", "prefix": "", "repo_url": "https://charts.example.test/istio", "version": "1.31.4",
                    "show_args": ["--repo", "https://charts.example.test/istio", "--version", "1.31.4"]}
    oci = helm_charts.locate("oci://registry.example.test/charts/", "v2.5.0")
    assert (oci["prefix"], oci["repo_url"], oci["show_args"]) == (
        "oci://registry.example.test/charts/", None, ["--version", "v2.5.0"])
    (tmp_path / "real").mkdir()
    os.symlink(str(tmp_path / "real"), str(tmp_path / "link"))
    local = helm_charts.locate(str(tmp_path / "link"), "1.31.4")
    # a directory's charts are what they are: no version, and the prefix is the real path
    assert local == {"kind": "local", "prefix": str(tmp_path / "real") + "/", "repo_url": None, "version": None,
                     "show_args": []}


def test_messages_name_the_variable_the_charts_and_helms_error():
    assert helm_charts.helm_problem("helm", "ambient_helm_binary", 0, "v3", "") is None
    assert helm_charts.helm_problem("/no/helm", "ambient_helm_binary", 127, "", "[Errno 2] No such file") == (
        "ambient_helm_binary=/no/helm cannot run ([Errno 2] No such file): install Helm 3 on the controller (or in the "
        "execution environment) or set ambient_helm_binary to its full path")
    where = helm_charts.locate("http://127.0.0.1:9/gloo", "1.20.0")
    msg = helm_charts.charts_problem("http://127.0.0.1:9/gloo", where, "gateway_chart_source", "gateway_version",
                                     [("gloo-ee", "Error: connection refused\n")])
    assert msg.startswith("gateway_chart_source=http://127.0.0.1:9/gloo (repo, version 1.20.0): cannot read chart "
                          "gloo-ee: Error: connection refused; fix gateway_chart_source"), msg
    assert "or gateway_version," in msg
    local = helm_charts.locate("/nonexistent/charts", "x")
    msg = helm_charts.charts_problem("/nonexistent/charts", local, "ambient_chart_source", "ambient_chart_version",
                                     [("base", "Error: path not found"), ("istiod", "Error: path not found")])
    assert msg.startswith("ambient_chart_source=/nonexistent/charts (local): cannot read chart base, istiod: Error")
    assert helm_charts.charts_problem("/x", local, "a", "b", []) is None
