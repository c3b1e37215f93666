"""Role `ambient` on real API servers with real Helm, Istio's own charts (lab.charts) and a real istiod per cluster.

Each cluster plays a different distribution/platform pair, so two runs cover solo/upstream x kubernetes/openshift.
For upstream the real istiod (run by the lab agent) creates the east-west gateway's Deployment and Service and
the lab agent gives the Service a load-balancer address; for Solo, whose `istio-eastwest` class is closed source,
the lab controller's Solo share (`SoloEastwest`) stands in.
"""

import base64
import functools
import http.server
import json
import re
import shutil
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from lab import agent as lab_agent
from lab import build as lab_build
from lab import charts as lab_charts
from lab import crds as lab_crds
from lab import pins

REPO = Path(__file__).resolve().parents[2]
PLAYS = REPO / "tests" / "integration" / "playbooks" / "ambient"
CHARTS = lab_charts.istio()
LICENSE = "solo-license-" + uuid.uuid4().hex
COMPONENTS = ("base", "istiod", "cni", "ztunnel")
RELEASES = {"base": "istio-base", "istiod": "istiod", "cni": "istio-cni", "ztunnel": "ztunnel"}
# (namespace, Gateway and Service name) of the east-west gateway per distribution
EASTWEST = {"solo": ("istio-gateways", "istio-eastwest"), "upstream": ("istio-system", "istio-eastwestgateway")}
LB_POOL = set(lab_agent.lb_pool())
# OpenShift ships Multus; Istio's cni chart creates a NetworkAttachmentDefinition there
NAD_CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "network-attachment-definitions.k8s.cni.cncf.io"},
           "spec": {"group": "k8s.cni.cncf.io", "scope": "Namespaced",
                    "names": {"plural": "network-attachment-definitions", "singular": "network-attachment-definition",
                              "kind": "NetworkAttachmentDefinition", "shortNames": ["net-attach-def"]},
                    "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                        "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}


def gateway_api_crds_path():
    """The folder of the lab's Gateway API CRD files."""
    return str(lab_crds.sources()["gateway-api"][0].parent)


class SoloEastwest(threading.Thread):
    """The lab controller's Solo share (istio-eastwest Gateways get their Service), without its Gloo share."""

    def __init__(self, lab):
        from lab.controller import Controller

        super().__init__(daemon=True)
        self.controller = Controller(lab.dir)
        self.halt = threading.Event()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.halt.set()
        self.join(10)

    def run(self):
        while not self.halt.is_set():
            for c in self.controller.clusters:
                try:
                    self.controller.reconcile_eastwest(c)
                except Exception:  # noqa: BLE001 - namespaces come and go during teardown
                    pass
            self.halt.wait(0.5)


@pytest.fixture(scope="module")
def helm_binary(lab):
    path = lab_build.find("helm")
    assert path, "helm is not built; run `python -m lab build`"
    return str(path)


@pytest.fixture(scope="module")
def helm(helm_binary, kubeconfig):
    def _helm(cluster, *args, check=True):
        return subprocess.run([helm_binary, "--kubeconfig", kubeconfig, "--kube-context", cluster] + list(args),
                              capture_output=True, text=True, check=check)
    return _helm


@pytest.fixture(scope="module")
def releases(helm):
    """releases(cluster) -> {release name: helm list entry} over all namespaces."""
    def _releases(cluster):
        return {r["name"]: r for r in json.loads(helm(cluster, "list", "-A", "-o", "json").stdout)}
    return _releases


@pytest.fixture(scope="module")
def values(helm):
    def _values(cluster, component, namespace):
        # a release without user values prints null
        return json.loads(helm(cluster, "get", "values", RELEASES[component], "-n", namespace, "-o", "json").stdout) or {}
    return _values


@pytest.fixture(scope="module")
def base_vars(helm_binary):
    if CHARTS is None:
        pytest.fail("Istio's charts are not here (lab.charts): put them in ../shared/charts/istio/%s or set "
                    "AMBIENTMESH_CHARTS" % pins.ISTIO)
    return {"ambient_helm_binary": helm_binary, "ambient_chart_source": str(CHARTS),
            "ambient_istio_version": pins.ISTIO,
            "ambient_gateway_api_crds_path": gateway_api_crds_path(), "ambient_wait_timeout": 120,
            "ambient_eastwest_timeout": 60, "ambient_eastwest_poll_interval": 1}


@pytest.fixture(scope="module")
def get(kube):
    """get(cluster, api_version, kind, name, namespace=None) -> dict or None."""
    from kubernetes.dynamic.exceptions import NotFoundError

    def _get(cluster, api_version, kind, name, namespace=None):
        try:
            return kube(cluster).resources.get(api_version=api_version, kind=kind).get(
                name=name, namespace=namespace).to_dict()
        except NotFoundError:
            return None
    return _get


@pytest.fixture(scope="module")
def cleanup(helm, kubectl, cluster_names):
    """Remove whatever a failed test left, with helm and kubectl directly (not through the role)."""
    def _cleanup():
        for cluster in cluster_names:
            for release in json.loads(helm(cluster, "list", "-A", "-o", "json").stdout):
                if release["name"] in RELEASES.values():
                    helm(cluster, "uninstall", release["name"], "-n", release["namespace"], "--wait")
            for namespace, name in EASTWEST.values():
                kubectl(cluster, "delete", "gateway,service", name, "-n", namespace, "--ignore-not-found", check=False)
            kubectl(cluster, "delete", "namespace", "istio-gateways", "--ignore-not-found", "--wait=true", check=False)
    return _cleanup


def env_of(workload):
    return {e["name"]: e.get("value") for e in workload["spec"]["template"]["spec"]["containers"][0].get("env") or []}


def eastwest_facts(stdout):
    return {m.group(1): (m.group(2), m.group(3)) for m in re.finditer(r"EASTWEST (\S+) (\S+) (\S+)", stdout)}


def assert_installed(cluster, distribution, platform, values, get, releases, mesh_id="mesh-test"):
    """The values Helm got and the objects the releases and the role created, for one cluster."""
    network = "network-" + cluster
    node_ns = "kube-system" if platform == "openshift" else "istio-system"
    listed = releases(cluster)
    expected_ns = {"base": "istio-system", "istiod": "istio-system", "cni": node_ns, "ztunnel": node_ns}
    for component, namespace in expected_ns.items():
        assert listed[RELEASES[component]]["namespace"] == namespace
        assert listed[RELEASES[component]]["status"] == "deployed"
    got = dict((c, values(cluster, c, expected_ns[c])) for c in COMPONENTS)

    istiod = got["istiod"]
    assert istiod["profile"] == "ambient"
    assert istiod["global"]["meshID"] == mesh_id
    assert istiod["global"]["network"] == network
    assert istiod["global"]["multiCluster"]["clusterName"] == cluster
    assert istiod["meshConfig"]["trustDomain"] == "cluster.local"
    assert got["cni"]["profile"] == "ambient" and got["ztunnel"]["profile"] == "ambient"
    assert got["ztunnel"]["multiCluster"]["clusterName"] == cluster
    if distribution == "solo":
        # the chart copies its values into ConfigMap istio-system/values: only a reference to the Secret goes there
        assert istiod["license"] == {"secretRef": {"name": "solo-istio-license", "key": "license"}}
        secret = get(cluster, "v1", "Secret", "solo-istio-license", "istio-system")
        assert base64.b64decode(secret["data"]["license"]).decode() == LICENSE
        assert istiod["platforms"]["peering"]["enabled"] is True
        assert istiod["env"]["PILOT_SKIP_VALIDATE_TRUST_DOMAIN"] == "true"
        assert "AMBIENT_ENABLE_MULTI_NETWORK" not in istiod["env"]
        for component in ("istiod", "cni", "ztunnel"):
            assert got[component]["global"]["tag"] == pins.ISTIO + "-solo"
            assert got[component]["global"]["hub"] == "us-docker.pkg.dev/soloio-img/istio"
        assert got["ztunnel"]["network"] == network
        assert got["ztunnel"]["env"] == {"L7_ENABLED": "true", "SKIP_VALIDATE_TRUST_DOMAIN": "true"}
        assert got["cni"]["ambient"]["dnsCapture"] is True
    else:
        assert "license" not in istiod and "platforms" not in istiod
        assert istiod["env"] == {"AMBIENT_ENABLE_MULTI_NETWORK": "true"}
        assert got["ztunnel"]["global"]["network"] == network
        assert "hub" not in istiod.get("global", {})
    if platform == "openshift":
        for component in COMPONENTS:
            assert got[component]["global"]["platform"] == "openshift", component
        assert istiod["trustedZtunnelNamespace"] == "kube-system"
    else:
        for component in COMPONENTS:
            assert "platform" not in got[component].get("global", {}), component
        assert "trustedZtunnelNamespace" not in istiod

    # Objects Istio's charts created, what they made of the values, and that they run (istiod for real, the
    # DaemonSets' pods on kwok's nodes).
    deploy = get(cluster, "apps/v1", "Deployment", "istiod", "istio-system")
    assert deploy["status"].get("availableReplicas") == 1
    env = env_of(deploy)
    assert env["CLUSTER_ID"] == cluster and env["PILOT_ENABLE_AMBIENT"] == "true"
    assert env["CA_TRUSTED_NODE_ACCOUNTS"] == node_ns + "/ztunnel"
    image = deploy["spec"]["template"]["spec"]["containers"][0]["image"]
    # Solo's tag carries -solo; both charts default to the distroless variant
    assert image.endswith("/pilot:%s%s-distroless" % (pins.ISTIO, "-solo" if distribution == "solo" else ""))
    for name in ("istio-cni-node", "ztunnel"):
        ds = get(cluster, "apps/v1", "DaemonSet", name, node_ns)
        assert ds is not None, "%s missing in %s" % (name, node_ns)
        assert ds["status"]["numberReady"] >= 1 and ds["status"]["numberReady"] == ds["status"]["desiredNumberScheduled"]
    ztunnel = env_of(get(cluster, "apps/v1", "DaemonSet", "ztunnel", node_ns))
    assert ztunnel["NETWORK"] == network and ztunnel["ISTIO_META_CLUSTER_ID"] == cluster
    assert get(cluster, "v1", "ConfigMap", "istio-cni-config", node_ns)["data"]["AMBIENT_ENABLED"] == "true"
    cni_volumes = get(cluster, "apps/v1", "DaemonSet", "istio-cni-node", node_ns)["spec"]["template"]["spec"]["volumes"]
    net_dir = next(v["hostPath"]["path"] for v in cni_volumes if v["name"] == "cni-net-dir")
    assert net_dir == ("/etc/cni/multus/net.d" if platform == "openshift" else "/etc/cni/net.d")
    other_ns = "istio-system" if platform == "openshift" else "kube-system"
    assert get(cluster, "apps/v1", "DaemonSet", "ztunnel", other_ns) is None
    assert get(cluster, "v1", "ServiceAccount", "istio-reader-service-account", "istio-system") is not None
    # the Istio CRDs the lab applied before the install (as istioctl or GitOps would) now belong to istio-base
    crd = get(cluster, "apiextensions.k8s.io/v1", "CustomResourceDefinition", "peerauthentications.security.istio.io")
    assert crd["metadata"]["annotations"]["meta.helm.sh/release-name"] == "istio-base"

    labels = get(cluster, "v1", "Namespace", "istio-system")["metadata"]["labels"]
    assert labels["topology.istio.io/network"] == network

    namespace, name = EASTWEST[distribution]
    gateway = get(cluster, "gateway.networking.k8s.io/v1", "Gateway", name, namespace)
    assert gateway["metadata"]["labels"]["topology.istio.io/network"] == network
    assert gateway["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "ambientmesh.multicluster"
    listeners = [(item["name"], item["port"], item["protocol"], item["tls"]["mode"]) for item in gateway["spec"]["listeners"]]
    if distribution == "solo":
        assert gateway["spec"]["gatewayClassName"] == "istio-eastwest"
        assert gateway["metadata"]["labels"]["istio.io/expose-istiod"] == "15012"
        assert gateway["metadata"]["labels"]["topology.istio.io/cluster"] == cluster
        assert listeners == [("cross-network", 15008, "HBONE", "Passthrough"), ("xds-tls", 15012, "TLS", "Passthrough")]
    else:
        assert gateway["spec"]["gatewayClassName"] == "istio-east-west"
        assert listeners == [("mesh", 15008, "HBONE", "Terminate")]
        assert gateway["spec"]["listeners"][0]["tls"]["options"] == {"gateway.istio.io/tls-terminate-mode": "ISTIO_MUTUAL"}
    other_ns, other_name = EASTWEST["upstream" if distribution == "solo" else "solo"]
    assert get(cluster, "gateway.networking.k8s.io/v1", "Gateway", other_name, other_ns) is None


def assert_nothing_installed(cluster_names, releases, get):
    for cluster in cluster_names:
        assert not set(releases(cluster)) & set(RELEASES.values()), cluster
        assert get(cluster, "apps/v1", "Deployment", "istiod", "istio-system") is None
        assert get(cluster, "v1", "Namespace", "istio-gateways") is None
        for namespace, name in EASTWEST.values():
            assert get(cluster, "gateway.networking.k8s.io/v1", "Gateway", name, namespace) is None


MATRIX = [
    {"cluster1": ("solo", "kubernetes"), "cluster2": ("upstream", "openshift")},
    {"cluster1": ("upstream", "kubernetes"), "cluster2": ("solo", "openshift")},
]


@pytest.mark.parametrize("matrix", MATRIX, ids=["solo-k8s+upstream-ocp", "upstream-k8s+solo-ocp"])
def test_install_rerun_check_diff_teardown(matrix, make_inventory, run_playbook, lab, base_vars, values,
                                           get, releases, cleanup, cluster_names, kubectl, helm):
    assert cluster_names[:2] == ["cluster1", "cluster2"]
    inventory = make_inventory(
        dict((c, {"mesh_distribution": d, "mesh_platform": p}) for c, (d, p) in matrix.items()),
        group_vars={"mesh_id": "mesh-test", "mesh_solo_license": LICENSE})
    site = PLAYS / "site.yml"
    cleanup()
    for cluster, pair in matrix.items():
        if pair[1] == "openshift":
            kubectl(cluster, "apply", "-f", "-", input=json.dumps(NAD_CRD))
    try:
        with SoloEastwest(lab):
            # Check mode on clusters without ambient: changes predicted, nothing created.
            dry = run_playbook(site, inventory, base_vars, check=True)
            assert dry.rc == 0, dry
            assert all(dry.stats[c]["changed"] > 0 for c in matrix), dry
            assert_nothing_installed(list(matrix), releases, get)

            first = run_playbook(site, inventory, base_vars, verbosity=2)
            assert first.rc == 0, first
            assert all(first.stats[c]["changed"] > 0 for c in matrix), first
            assert LICENSE not in first.stdout + first.stderr
            for cluster in matrix:  # no license bytes in any ConfigMap (istiod's chart dumps its values into one)
                maps = kubectl(cluster, "get", "configmaps", "-A", "-o", "json").stdout
                assert LICENSE not in maps and base64.b64encode(LICENSE.encode()).decode() not in maps, cluster
            for cluster, (distribution, platform) in matrix.items():
                assert_installed(cluster, distribution, platform, values, get, releases)
            facts = eastwest_facts(first.stdout)
            assert set(facts) == set(matrix) and {f[1] for f in facts.values()} == {"IPAddress"}, facts
            addresses = [f[0] for f in facts.values()]
            assert len(set(addresses)) == len(matrix) and set(addresses) <= LB_POOL, facts
            # upstream: the real istiod made the gateway's Deployment and Service and marked the Gateway Programmed
            for cluster, pair in matrix.items():
                namespace, name = EASTWEST[pair[0]]
                # the role goes on once the Service has its address; Programmed follows on the controller's next
                # pass (istiod's, or the Solo emulation's every 0.5 s), which a loaded machine can delay
                deadline = time.monotonic() + 30
                while True:
                    gateway = get(cluster, "gateway.networking.k8s.io/v1", "Gateway", name, namespace)
                    conditions = {c["type"]: c["status"] for c in gateway["status"]["conditions"]}
                    if conditions["Programmed"] == "True" or time.monotonic() > deadline:
                        break
                    time.sleep(0.5)
                assert conditions["Programmed"] == "True", gateway["status"]
                if pair[0] == "upstream":
                    owner = get(cluster, "apps/v1", "Deployment", name, namespace)["metadata"]["ownerReferences"][0]
                    assert (owner["kind"], owner["name"]) == ("Gateway", name)
            # Each step announces what it waits for.
            assert "Wait | Deployment istio-system/istiod (up to 120s)" in first.stdout
            assert "wait for the address istiod publishes on Service" in first.stdout

            second = run_playbook(site, inventory, base_vars)
            assert second.rc == 0 and second.changed == 0, second
            check = run_playbook(site, inventory, base_vars, check=True, diff=True)
            assert check.rc == 0 and check.changed == 0, check
            for cluster in matrix:  # no Helm upgrade happened on the reruns
                assert {releases(cluster)[r]["revision"] for r in RELEASES.values()} == {"1"}
            # ...and no Helm task even ran: the preflight found every release current
            helm_tasks = re.findall(r"^TASK \[[^\]]*Helm \| release [^\]]*\][^\n]*\n(.*?)(?=^TASK \[|^PLAY )",
                                    second.stdout, re.M | re.S)
            assert len(helm_tasks) == len(RELEASES), second.stdout
            assert all(re.findall(r"^(\w+): \[", t, re.M) == ["skipping"] * len(matrix) for t in helm_tasks), helm_tasks

            # Values changed out of band (helm upgrade --reuse-values): the release is no longer current, so the
            # next run's Helm task runs and puts the role's values back.
            drifted = cluster_names[0]
            helm(drifted, "upgrade", "istio-base", str(CHARTS / "base"), "-n", "istio-system", "--reuse-values",
                 "--set", "drift=out-of-band")
            assert values(drifted, "base", "istio-system").get("drift") == "out-of-band"
            fixed = run_playbook(site, inventory, base_vars)
            assert fixed.rc == 0 and fixed.changed == 1 and fixed.stats[drifted]["changed"] == 1, fixed
            assert "drift" not in values(drifted, "base", "istio-system")
            assert releases(drifted)["istio-base"]["revision"] == "3"

            # A changed network (in the inventory, the one place it is read): check mode with diff shows it and
            # leaves the clusters alone.
            moved = make_inventory(
                dict((c, {"mesh_distribution": d, "mesh_platform": p, "mesh_network": "network-moved-" + c})
                     for c, (d, p) in matrix.items()),
                group_vars={"mesh_id": "mesh-test", "mesh_solo_license": LICENSE}, name="moved.yml")
            preview = run_playbook(site, moved, base_vars, check=True, diff=True)
            assert preview.rc == 0, preview
            assert all(preview.stats[c]["changed"] > 0 for c in matrix), preview
            assert re.search(r'^\+\s+"?topology\.istio\.io/network"?: "?network-moved-', preview.stdout, re.M), preview
            assert LICENSE not in preview.stdout + preview.stderr
            for cluster, (distribution, platform) in matrix.items():
                assert_installed(cluster, distribution, platform, values, get, releases)

        down = run_playbook(PLAYS / "teardown.yml", inventory, dict(base_vars, teardown_role="ambient"))
        assert down.rc == 0 and down.changed > 0, down
        assert_nothing_installed(list(matrix), releases, get)
        for cluster in matrix:
            assert get(cluster, "v1", "Secret", "solo-istio-license", "istio-system") is None
            # what teardown keeps: istio-system (cacerts of the trust role) and the Gateway API CRDs
            assert get(cluster, "v1", "Namespace", "istio-system") is not None
            assert get(cluster, "apiextensions.k8s.io/v1", "CustomResourceDefinition",
                       "gateways.gateway.networking.k8s.io") is not None
        again = run_playbook(PLAYS / "teardown.yml", inventory, dict(base_vars, teardown_role="ambient"))
        assert again.rc == 0 and again.changed == 0, again
    finally:
        cleanup()


PREFLIGHT_ERRORS = {
    "missing-license": ({"mesh_distribution": "solo"}, {},
                        "mesh_solo_license (ambient_solo_license) is empty but mesh_distribution=solo needs a Solo license"),
    "unknown-distribution": ({"mesh_distribution": "istio", "mesh_solo_license": LICENSE}, {},
                             "mesh_distribution='istio' is not a distribution: use one of solo, upstream"),
    "unknown-platform": ({"mesh_distribution": "upstream", "mesh_platform": "eks"}, {},
                         "mesh_platform='eks' is not a platform: use one of kubernetes, openshift"),
    "unreachable-chart-repo": ({"mesh_distribution": "upstream"}, {"ambient_chart_source": "http://127.0.0.1:9/charts"},
                               "ambient_chart_source=http://127.0.0.1:9/charts (repo, version %s): cannot read chart" % pins.ISTIO),
    "missing-chart-dir": ({"mesh_distribution": "upstream"}, {"ambient_chart_source": "/nonexistent/charts"},
                          "ambient_chart_source=/nonexistent/charts (local): cannot read chart base, istiod, cni, ztunnel"),
    "unreachable-crd-url": ({"mesh_distribution": "upstream"},
                            {"ambient_gateway_api_crds_path": "", "ambient_gateway_api_crds_url": "http://127.0.0.1:9/x.yaml"},
                            "ambient_gateway_api_crds_url=http://127.0.0.1:9/x.yaml: download failed"),
    "crd-version-not-pinned": ({"mesh_distribution": "upstream"}, {"ambient_gateway_api_version": "v1.3.0"},
                               "holds Gateway API CRDs of version(s) %s, not ambient_gateway_api_version=v1.3.0" % pins.GATEWAY_API),
    "bad-network": ({"mesh_distribution": "upstream", "mesh_network": "net work"}, {},
                    "cluster1: mesh_network='net work' is not a valid network name"),
    "no-helm": ({"mesh_distribution": "upstream"}, {"ambient_helm_binary": "/nonexistent/helm"},
                "ambient_helm_binary=/nonexistent/helm cannot run"),
}


@pytest.mark.parametrize("case", sorted(PREFLIGHT_ERRORS))
def test_bad_input_fails_before_anything_is_installed(case, make_inventory, run_playbook, base_vars, releases, get,
                                                      cluster_names):
    host_vars, extra, message = PREFLIGHT_ERRORS[case]
    inventory = make_inventory({"cluster1": host_vars})
    before = get("cluster1", "v1", "Namespace", "istio-system")
    result = run_playbook(PLAYS / "site.yml", inventory, dict(base_vars, **extra))
    assert result.rc != 0 and result.stats["cluster1"]["failed"] == 1, result
    assert result.stats["cluster1"]["changed"] == 0, result
    assert message in " ".join((result.stdout + result.stderr).split()), result
    assert LICENSE not in result.stdout + result.stderr
    assert_nothing_installed(["cluster1"], releases, get)
    assert get("cluster1", "v1", "Namespace", "istio-system") == before


def test_eastwest_address_timeout_names_the_service(make_inventory, run_playbook, base_vars, cleanup, kubectl):
    # A cluster whose load balancer never serves the east-west Service: a class nothing here implements
    # (the lab agent, like MetalLB, leaves other classes alone). The real istiod still makes the Service.
    inventory = make_inventory({"cluster1": {"mesh_distribution": "upstream"}})
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "istio-eastwestgateway", "namespace": "istio-system"},
               "spec": {"type": "LoadBalancer", "loadBalancerClass": "example.com/none",
                        "ports": [{"name": "tls-hbone", "port": 15008}]}}
    try:
        kubectl("cluster1", "create", "namespace", "istio-system", check=False)
        kubectl("cluster1", "apply", "-f", "-", input=json.dumps(service))
        result = run_playbook(PLAYS / "site.yml", inventory,
                              dict(base_vars, ambient_eastwest_timeout=3, ambient_eastwest_poll_interval=1))
        assert result.rc != 0 and result.stats["cluster1"]["failed"] == 1, result
        text = " ".join(result.stdout.split())
        assert ("Service istio-system/istio-eastwestgateway has no address in status.loadBalancer.ingress after 3s: "
                "istiod creates it for Gateway istio-system/istio-eastwestgateway") in text, result
        assert "FAILED - RETRYING" in result.stdout
    finally:
        cleanup()


def test_a_failed_license_secret_says_why_without_the_license(make_inventory, run_playbook, base_vars, cleanup,
                                                              kubectl):
    """The license Secret's task runs with no_log; its failure once said only that the output was hidden."""
    inventory = make_inventory({"cluster1": {"mesh_distribution": "solo"}}, group_vars={"mesh_solo_license": LICENSE})
    taken = {"apiVersion": "v1", "kind": "Secret", "immutable": True,
             "metadata": {"name": "solo-istio-license", "namespace": "istio-system"}, "stringData": {"other": "x"}}
    try:
        kubectl("cluster1", "create", "namespace", "istio-system", check=False)
        kubectl("cluster1", "apply", "-f", "-", input=json.dumps(taken))
        result = run_playbook(PLAYS / "site.yml", inventory, base_vars)
        assert result.rc != 0 and result.stats["cluster1"]["failed"] == 1, result
        text = " ".join(result.stdout.split())
        assert "License Secret istio-system/solo-istio-license in cluster1 failed: " in text, result
        assert "immutable" in text.split("License Secret istio-system/solo-istio-license in cluster1 failed: ")[1], result
        assert LICENSE not in result.stdout + result.stderr
    finally:
        kubectl("cluster1", "delete", "secret", "solo-istio-license", "-n", "istio-system", "--ignore-not-found")
        cleanup()


def test_no_gateway_api_crds_on_openshift_fails_before_anything(make_inventory, run_playbook, base_vars,
                                                                releases, get, kubectl, cleanup):
    """OpenShift before 4.19 ships no Gateway API CRDs, and the role does not install them there by default."""
    inventory = make_inventory({"cluster1": {"mesh_distribution": "upstream", "mesh_platform": "openshift"}})
    cleanup()
    crd = "gateways.gateway.networking.k8s.io"
    source = next(f for f in lab_crds.sources()["gateway-api"] if crd in f.read_text())
    kubectl("cluster1", "delete", "crd", crd, "--wait=true")
    try:
        result = run_playbook(PLAYS / "site.yml", inventory, dict(base_vars, ambient_gateway_api_crds="auto"))
        assert result.rc != 0 and result.stats["cluster1"]["changed"] == 0, result
        text = " ".join(result.stdout.split())
        assert ("cluster1 has no Gateway API CRDs (CustomResourceDefinition gateways.gateway.networking.k8s.io) and "
                "ambient_gateway_api_crds=auto does not install them (OpenShift ships them from 4.19 on; older "
                "OpenShift has none): upgrade the cluster or install them (set ambient_gateway_api_crds: always") \
            in text, result
        assert_nothing_installed(["cluster1"], releases, get)
    finally:
        kubectl("cluster1", "apply", "--server-side", "-f", str(source))


FOREIGN_CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
               "metadata": {"name": "widgets.example.istio.io"},
               "spec": {"group": "example.istio.io", "scope": "Namespaced",
                        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                        "versions": [{"name": "v1", "served": True, "storage": True,
                                      "schema": {"openAPIV3Schema": {"type": "object"}}}]}}
CHART_CRD = "wasmplugins.extensions.istio.io"
HELM_OWNER = {"app.kubernetes.io/managed-by": "Helm"}


def test_istio_crds_without_helm_owner_are_refused_or_adopted(make_inventory, run_playbook, base_vars, releases,
                                                              get, kubectl, cleanup):
    """A chart CRD applied without Helm (as istioctl would) and a foreign CRD of an Istio-like group: with
    ambient_adopt_crds=false preflight names the chart's CRD and both fixes, installing nothing; by default the
    release adopts only the chart's CRD, with a warning, and teardown keeps it."""
    inventory = make_inventory({"cluster1": {"mesh_distribution": "upstream"}})
    cleanup()
    kubectl("cluster1", "apply", "-f", "-", input=json.dumps(FOREIGN_CRD))
    kubectl("cluster1", "label", "crd", CHART_CRD, "app.kubernetes.io/managed-by-")
    kubectl("cluster1", "annotate", "crd", CHART_CRD, "meta.helm.sh/release-name-", "meta.helm.sh/release-namespace-")
    try:
        refused = run_playbook(PLAYS / "site.yml", inventory, dict(base_vars, ambient_adopt_crds=False))
        assert refused.rc != 0 and refused.stats["cluster1"]["changed"] == 0, refused
        text = " ".join(refused.stdout.split())
        assert ("1 Istio CRD(s) in cluster1 carry no Helm ownership (%s), so `helm install istio-base` would refuse "
                "them and ambient_adopt_crds is false: set ambient_adopt_crds to true" % CHART_CRD) in text, refused
        assert "meta.helm.sh/release-name=istio-base" in text and "widgets.example.istio.io" not in text
        assert_nothing_installed(["cluster1"], releases, get)
        assert "app.kubernetes.io/managed-by" not in (get("cluster1", "apiextensions.k8s.io/v1",
                                                          "CustomResourceDefinition", CHART_CRD)["metadata"].get(
                                                              "labels") or {})

        adopted = run_playbook(PLAYS / "site.yml", inventory, base_vars)
        assert adopted.rc == 0, adopted
        assert "WARNING: release istio-base adopts 1 Istio CRD(s) that no Helm release owns: %s." % CHART_CRD in \
            " ".join(adopted.stdout.split()), adopted
        crd = get("cluster1", "apiextensions.k8s.io/v1", "CustomResourceDefinition", CHART_CRD)
        assert HELM_OWNER.items() <= crd["metadata"]["labels"].items()
        assert crd["metadata"]["annotations"]["meta.helm.sh/release-name"] == "istio-base"
        foreign = get("cluster1", "apiextensions.k8s.io/v1", "CustomResourceDefinition", FOREIGN_CRD["metadata"]["name"])
        assert "app.kubernetes.io/managed-by" not in (foreign["metadata"].get("labels") or {}), foreign["metadata"]

        down = run_playbook(PLAYS / "teardown.yml", inventory, dict(base_vars, teardown_role="ambient"))
        assert down.rc == 0, down
        assert_nothing_installed(["cluster1"], releases, get)
        assert get("cluster1", "apiextensions.k8s.io/v1", "CustomResourceDefinition", CHART_CRD) is not None
    finally:
        kubectl("cluster1", "delete", "crd", FOREIGN_CRD["metadata"]["name"], "--ignore-not-found", check=False)
        cleanup()


@pytest.fixture
def chart_repo(tmp_path, helm_binary):
    """A Helm repository of Istio's charts and the Gateway API bundle, served over loopback HTTP."""
    root = tmp_path / "repo"
    root.mkdir()
    for chart in COMPONENTS:
        subprocess.run([helm_binary, "package", str(CHARTS / chart), "-d", str(root)], check=True, capture_output=True)
    subprocess.run([helm_binary, "repo", "index", str(root)], check=True, capture_output=True)
    files = lab_crds.sources()["gateway-api"]
    (root / "standard-install.yaml").write_text("\n---\n".join(f.read_text() for f in files))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "http://127.0.0.1:%d" % server.server_address[1]
    finally:
        server.shutdown()
        shutil.rmtree(root, ignore_errors=True)


def test_helm_repository_and_crd_url(chart_repo, make_inventory, run_playbook, kubeconfig, base_vars, releases,
                                     values, get, cleanup):
    inventory = make_inventory({"cluster1": {"mesh_distribution": "upstream"}})
    extra = dict(base_vars, ambient_chart_source=chart_repo, ambient_gateway_api_crds_path="",
                 ambient_gateway_api_crds_url=chart_repo + "/standard-install.yaml")
    try:
        first = run_playbook(PLAYS / "site.yml", inventory, extra)
        assert first.rc == 0, first
        assert "Gateway API CRDs | server-side apply and wait until Established: " + pins.GATEWAY_API in first.stdout
        listed = releases("cluster1")
        assert {listed[RELEASES[c]]["chart"] for c in COMPONENTS} == {
            c + "-" + pins.ISTIO for c in COMPONENTS}
        assert_installed("cluster1", "upstream", "kubernetes", values, get, releases, mesh_id="mesh1")
        crd = get("cluster1", "apiextensions.k8s.io/v1", "CustomResourceDefinition", "httproutes.gateway.networking.k8s.io")
        assert "ambientmesh-multicluster" in {m["manager"] for m in crd["metadata"]["managedFields"]}
        second = run_playbook(PLAYS / "site.yml", inventory, extra)
        assert second.rc == 0 and second.changed == 0, second
    finally:
        cleanup()


def test_nothing_listens_on_the_unreachable_port():
    # the unreachable-source cases rely on nothing listening on 127.0.0.1:9 inside the lab namespace
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", 9)) != 0
