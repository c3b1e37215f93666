"""Role `gateway` on a real API server with real Helm and the stand-in charts (tests/charts/gloo)."""

import json
import re
import uuid
from pathlib import Path

import pytest

# the Helm and API helpers of the ambient tests, taking the cluster as first argument
from test_ambient import env_of, get, helm, helm_binary, releases  # noqa: F401 pylint: disable=unused-import

REPO = Path(__file__).resolve().parents[2]
PLAYS = REPO / "tests" / "integration" / "playbooks" / "ambient"
CHARTS = REPO / "tests" / "charts" / "gloo"
LICENSE = "gloo-license-" + uuid.uuid4().hex
RELEASES = ("gloo", "kgateway", "kgateway-crds")
INGRESS = "cluster1"


@pytest.fixture(scope="module")
def base_vars(helm_binary):  # pylint: disable=redefined-outer-name
    return {"gateway_helm_binary": helm_binary, "gateway_chart_source": str(CHARTS), "gateway_wait_timeout": 120}


@pytest.fixture
def inventory(make_inventory, cluster_names):
    # cluster2 is in the mesh but not an ingress cluster: the play must leave it alone
    return make_inventory(cluster_names[:2], group_vars={"mesh_solo_license": LICENSE}, ingress=[INGRESS])


@pytest.fixture(scope="module")
def cleanup(helm, releases, kubectl):
    def _cleanup():
        for name, release in releases(INGRESS).items():
            if name in RELEASES:
                helm(INGRESS, "uninstall", name, "-n", release["namespace"], "--wait")
        kubectl(INGRESS, "delete", "namespace", "gloo-system", "--ignore-not-found", "--wait=true", check=False)
    return _cleanup


def assert_nothing_installed(releases, get):
    assert not set(releases(INGRESS)) & set(RELEASES)
    assert get(INGRESS, "v1", "Namespace", "gloo-system") is None
    for gateway_class in ("gloo-gateway", "kgateway"):
        assert get(INGRESS, "gateway.networking.k8s.io/v1", "GatewayClass", gateway_class) is None


def assert_http_gateway(get, gateway_class, port=8080):
    gateway = get(INGRESS, "gateway.networking.k8s.io/v1", "Gateway", "http", "gloo-system")
    assert gateway["spec"]["gatewayClassName"] == gateway_class
    assert gateway["spec"]["listeners"] == [{"name": "http", "port": port, "protocol": "HTTP",
                                             "allowedRoutes": {"namespaces": {"from": "All"}}}]
    assert gateway["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "ambientmesh.multicluster"


def test_gloo_gateway(inventory, run_playbook, base_vars, helm, releases, get, kubectl, cleanup):
    site = PLAYS / "gateway.yml"
    teardown = dict(base_vars, teardown_role="gateway", teardown_hosts="mesh_ingress")
    try:
        dry = run_playbook(site, inventory, base_vars, check=True)
        assert dry.rc == 0 and dry.stats[INGRESS]["changed"] > 0, dry
        assert "cluster2" not in dry.stats
        assert_nothing_installed(releases, get)

        first = run_playbook(site, inventory, base_vars, verbosity=2)
        assert first.rc == 0 and first.stats[INGRESS]["changed"] > 0, first
        assert LICENSE not in first.stdout + first.stderr
        assert "Wait | Deployment gloo-system/gloo" in first.stdout

        release = releases(INGRESS)["gloo"]
        assert release["namespace"] == "gloo-system" and release["chart"] == "gloo-ee-1.20.0"
        got = json.loads(helm(INGRESS, "get", "values", "gloo", "-n", "gloo-system", "-o", "json").stdout)
        assert got["license_key"] == LICENSE
        assert got["gloo"]["kubeGateway"]["enabled"] is True
        assert got["gloo"]["gloo"]["deployment"]["customEnv"] == [{"name": "GG_AMBIENT_MULTINETWORK", "value": "true"}]
        assert got["gloo"]["discovery"]["enabled"] is False

        namespace = get(INGRESS, "v1", "Namespace", "gloo-system")
        assert namespace["metadata"]["labels"]["istio.io/dataplane-mode"] == "ambient"
        controller = get(INGRESS, "apps/v1", "Deployment", "gloo", "gloo-system")
        assert controller["status"].get("availableReplicas") == 1
        assert env_of(controller)["GG_AMBIENT_MULTINETWORK"] == "true"
        assert get(INGRESS, "gateway.networking.k8s.io/v1", "GatewayClass", "gloo-gateway")["spec"]["controllerName"] == \
            "solo.io/gloo-gateway"
        assert get(INGRESS, "v1", "Secret", "license", "gloo-system") is not None
        assert_http_gateway(get, "gloo-gateway")
        assert kubectl("cluster2", "get", "namespace", "gloo-system", check=False).returncode != 0

        second = run_playbook(site, inventory, base_vars)
        assert second.rc == 0 and second.changed == 0, second
        check = run_playbook(site, inventory, base_vars, check=True, diff=True)
        assert check.rc == 0 and check.changed == 0, check
        assert releases(INGRESS)["gloo"]["revision"] == "1"

        preview = run_playbook(site, inventory, dict(base_vars, gateway_listener_port=8081), check=True, diff=True)
        assert preview.rc == 0 and preview.changed > 0, preview
        assert re.search(r'^-\s+"?port"?: 8080$', preview.stdout, re.M) and \
            re.search(r'^\+\s+"?port"?: 8081$', preview.stdout, re.M), preview
        assert_http_gateway(get, "gloo-gateway", port=8080)

        down = run_playbook(PLAYS / "teardown.yml", inventory, teardown)
        assert down.rc == 0 and down.changed > 0, down
        assert_nothing_installed(releases, get)
        again = run_playbook(PLAYS / "teardown.yml", inventory, teardown)
        assert again.rc == 0 and again.changed == 0, again
    finally:
        cleanup()


def test_kgateway(inventory, run_playbook, base_vars, helm, releases, get, kubectl, cleanup):
    extra = dict(base_vars, gateway_product="kgateway")
    try:
        first = run_playbook(PLAYS / "gateway.yml", inventory, extra)
        assert first.rc == 0, first
        listed = releases(INGRESS)
        assert listed["kgateway-crds"]["chart"] == "kgateway-crds-v2.5.0" and listed["kgateway"]["chart"] == "kgateway-v2.5.0"
        got = json.loads(helm(INGRESS, "get", "values", "kgateway", "-n", "gloo-system", "-o", "json").stdout)
        assert got == {"controller": {"extraEnv": {"KGW_ENABLE_ISTIO_INTEGRATION": "true"}}}
        assert helm(INGRESS, "get", "values", "kgateway-crds", "-n", "gloo-system", "-o", "json").stdout.strip() == "null"
        assert env_of(get(INGRESS, "apps/v1", "Deployment", "kgateway", "gloo-system"))["KGW_ENABLE_ISTIO_INTEGRATION"] == "true"
        assert get(INGRESS, "apiextensions.k8s.io/v1", "CustomResourceDefinition", "gatewayparameters.gateway.kgateway.dev")
        assert get(INGRESS, "gateway.networking.k8s.io/v1", "GatewayClass", "kgateway")["spec"]["controllerName"] == "kgateway.dev/kgateway"
        assert_http_gateway(get, "kgateway")
        second = run_playbook(PLAYS / "gateway.yml", inventory, extra)
        assert second.rc == 0 and second.changed == 0, second
        # a user's own Gateway and route placed in gloo-system: teardown removes ours and keeps the namespace
        kubectl(INGRESS, "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
             "metadata": {"name": "team-edge", "namespace": "gloo-system"},
             "spec": {"gatewayClassName": "kgateway", "listeners": [{"name": "h", "port": 9090, "protocol": "HTTP"}]}},
            {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
             "metadata": {"name": "legacy", "namespace": "gloo-system"},
             "spec": {"parentRefs": [{"name": "team-edge"}]}}]}))
        teardown = dict(extra, teardown_role="gateway", teardown_hosts="mesh_ingress")
        down = run_playbook(PLAYS / "teardown.yml", inventory, teardown)
        assert down.rc == 0, down
        assert "namespace gloo-system holds 2 object(s) this collection did not make, so it is kept: " \
               "Gateway/team-edge, HTTPRoute/legacy" in " ".join((down.stdout + down.stderr).split()), down
        assert not set(releases(INGRESS)) & set(RELEASES)
        assert get(INGRESS, "gateway.networking.k8s.io/v1", "Gateway", "http", "gloo-system") is None
        for kind, name in (("Gateway", "team-edge"), ("HTTPRoute", "legacy")):
            assert get(INGRESS, "gateway.networking.k8s.io/v1", kind, name, "gloo-system") is not None, name
        kubectl(INGRESS, "delete", "-n", "gloo-system", "httproute/legacy", "gateway/team-edge")
        down = run_playbook(PLAYS / "teardown.yml", inventory, teardown)
        assert down.rc == 0 and down.changed == 1, down  # only the namespace was left
        assert_nothing_installed(releases, get)
    finally:
        cleanup()


def test_a_failed_helm_release_says_why_without_the_license(inventory, run_playbook, base_vars, kubectl, cleanup):
    """The Gloo release carries the licence, so its task runs with no_log, which once hid every failure."""
    kubectl(INGRESS, "create", "namespace", "gloo-system")
    kubectl(INGRESS, "-n", "gloo-system", "create", "deployment", "gloo", "--image=example.invalid/gloo")
    try:
        res = run_playbook(PLAYS / "gateway.yml", inventory, base_vars)
        assert res.rc != 0, res
        text = " ".join(res.stdout.split())
        assert "Helm release of gloo-gateway in cluster1, namespace gloo-system failed: gloo: " in text, res
        assert "exists and cannot be imported into the current release" in text, res
        assert LICENSE not in res.stdout + res.stderr
    finally:
        cleanup()


ERRORS = {
    "missing-license": ({"mesh_solo_license": ""},
                        "gateway_license_key (default mesh_solo_license) is empty but gateway_product=gloo-gateway"),
    "port-out-of-range": ({"gateway_listener_port": 70000},
                          "gateway_listener_port=70000 is not a port: use 1-65535 (the guide uses 8080)"),
    "unknown-product": ({"gateway_product": "nginx"}, "value of gateway_product must be one of: gloo-gateway, kgateway, got: nginx"),
    "version-too-old": ({"gateway_version": "1.18.3"}, "gateway_version=1.18.3 is older than 1.19.0"),
    "gloo-on-upstream": ({"mesh_distribution": "upstream"},
                         "gateway_product=gloo-gateway cannot route to the global services of mesh_distribution=upstream: "
                         "Gloo Gateway 1.x reaches other clusters only through Solo's *.mesh.internal ServiceEntry hosts "
                         "(GG_AMBIENT_MULTINETWORK), which upstream Istio does not create; use kgateway for upstream"),
    "unreachable-chart-source": ({"gateway_chart_source": "http://127.0.0.1:9/gloo"},
                                 "gateway_chart_source=http://127.0.0.1:9/gloo (repo, version 1.20.0): cannot read chart gloo-ee"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_bad_input_fails_before_anything_is_installed(case, inventory, run_playbook, base_vars, releases, get):
    extra, message = ERRORS[case]
    result = run_playbook(PLAYS / "gateway.yml", inventory, dict(base_vars, **extra))
    assert result.rc != 0 and result.stats[INGRESS]["failed"] == 1, result
    assert result.stats[INGRESS]["changed"] == 0
    assert message in " ".join((result.stdout + result.stderr).split()), result
    assert LICENSE not in result.stdout + result.stderr
    assert_nothing_installed(releases, get)
