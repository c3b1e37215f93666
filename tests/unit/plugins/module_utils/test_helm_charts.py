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


def test_chart_id_is_what_helm_list_calls_the_chart():
    assert helm_charts.chart_id("apiVersion: v2\nname: istiod\nversion: 1.31.0-rc.0\nappVersion: 1.31.0\n") == (
        "istiod-1.31.0-rc.0")
    assert helm_charts.chart_id("") is None
    assert helm_charts.chart_id("name: istiod\n") is None


def test_a_release_is_current_only_when_deployed_with_the_same_chart_and_values():
    listed = {"name": "istiod", "status": "deployed", "chart": "istiod-1.31.0"}
    values = {"global": {"network": "network1"}, "env": {"A": "true"}, "ports": [15008]}
    digest = helm_charts.values_digest(values)
    assert helm_charts.release_state(listed, "istiod-1.31.0", lambda: values, digest) == (
        True, "deployed, same chart and values")
    # the digest does not depend on key order; kubernetes.core.helm's "null" values equal {}
    reordered = {"ports": [15008], "env": {"A": "true"}, "global": {"network": "network1"}}
    assert helm_charts.values_digest(reordered) == digest
    assert helm_charts.release_state(listed, "istiod-1.31.0", lambda: None, helm_charts.values_digest({}))[0] is True
    # each difference makes the Helm task run, which then decides as it always does; values are read only when
    # the listing matches (one `helm get values` fewer per release that is not even deployed)

    def unread():
        raise AssertionError("values read although the listing already differs")

    assert helm_charts.release_state(None, "istiod-1.31.0", unread, digest) == (False, "not installed")
    assert helm_charts.release_state(dict(listed, status="failed"), "istiod-1.31.0", unread, digest) == (
        False, "status failed")
    assert helm_charts.release_state(listed, "istiod-1.32.0", unread, digest) == (
        False, "chart istiod-1.31.0, wanted istiod-1.32.0")
    assert helm_charts.release_state(listed, None, unread, digest)[0] is False
    assert helm_charts.release_state(listed, "istiod-1.31.0", lambda: dict(values, drift="out-of-band"), digest) == (
        False, "values differ")
    # a type change counts: the string "true" is not the boolean true, 15008 is not "15008"
    assert helm_charts.values_digest({"env": {"A": True}}) != helm_charts.values_digest({"env": {"A": "true"}})
    assert helm_charts.values_digest({"p": 15008}) != helm_charts.values_digest({"p": "15008"})


def test_the_roles_digest_filter_is_the_modules_digest():
    from ansible_collections.ambientmesh.multicluster.plugins.filter.helm_values_digests import helm_values_digests

    values = {"gloo": {"license_key": "sekrit-licence", "gloo": {"kubeGateway": {"enabled": True}}}, "crds": None}
    digests = helm_values_digests(values)
    assert digests == {"gloo": helm_charts.values_digest(values["gloo"]), "crds": helm_charts.values_digest({})}
    assert "sekrit" not in repr(digests)


def test_releases_must_name_their_chart_among_the_charts_read():
    table = [{"name": "istiod", "namespace": "istio-system", "chart": "istiod", "workload": {"kind": "Deployment"}}]
    assert helm_charts.releases_problem(table, ["base", "istiod"]) is None
    assert helm_charts.releases_problem([{"name": "x", "chart": "istiod"}], ["istiod"]) == (
        "releases[0] has no namespace: give each release its name, namespace and chart")
    assert helm_charts.releases_problem(table, ["base"]) == (
        "releases[0] (istiod) names chart istiod, which is not in charts (base)")


def test_crd_names_are_read_from_whatever_the_chart_renders():
    rendered = ("---\n# Source: base/templates/crds.yaml\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
                "metadata:\n  name: wasmplugins.extensions.istio.io\n---\napiVersion: v1\nkind: ServiceAccount\n"
                "metadata:\n  name: istio-reader\n---\n---\napiVersion: apiextensions.k8s.io/v1\n"
                "kind: CustomResourceDefinition\nmetadata:\n  name: authorizationpolicies.security.istio.io\n")
    assert helm_charts.crd_names(rendered) == ["authorizationpolicies.security.istio.io", "wasmplugins.extensions.istio.io"]
    assert helm_charts.crd_names("") == []
    assert helm_charts.releases_problem([], ["istiod"], ["base"]) == (
        "crds_of names chart(s) base, which are not in charts (istiod)")
