"""The lab agent's kubelet and load-balancer logic on a fake API (the integration tests run it for real)."""

import base64
from pathlib import Path

import pytest

from lab import agent as lab_agent


class FakeApi:
    def __init__(self, objects=None):
        self.objects = objects or {}
        self.merged = []

    def get(self, path):
        return self.objects.get(path)

    def merge(self, path, patch):
        self.merged.append((path, patch))


def _agent(tmp_path, api):
    a = lab_agent.Agent.__new__(lab_agent.Agent)
    a.specs = {"cluster1": {"name": "cluster1", "index": 1, "pod_cidr": "10.200.0.0/16",
                            "advertise_address": "198.51.100.10", "dir": str(tmp_path), "ports": {"apiserver": 1}}}
    a.apis = {"cluster1": api}
    a.binaries = {"pilot": Path("/bin/pilot-discovery")}
    return a


POD = {"metadata": {"name": "istiod-abc", "namespace": "istio-system", "uid": "u1", "labels": {"app": "istiod"}},
       "spec": {"serviceAccountName": "istiod", "nodeName": "cluster1-node-0",
                "containers": [{"name": "discovery", "image": "docker.io/istio/pilot:1.31.0-rc.0",
                                "args": ["discovery", "--monitoringAddr=:15014"],
                                "resources": {"requests": {"cpu": "500m"}},
                                "volumeMounts": [{"name": "istio-kubeconfig", "mountPath": "/var/run/secrets/remote"}],
                                "env": [
                                    {"name": "REVISION", "value": "default"},
                                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                                    {"name": "SERVICE_ACCOUNT",
                                     "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
                                    {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                                    {"name": "GOMAXPROCS", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu",
                                                                                              "divisor": "1"}}},
                                    {"name": "LICENSE", "valueFrom": {"secretKeyRef": {"name": "lic", "key": "k"}}},
                                    {"name": "REMOTE", "value": "/var/run/secrets/remote/config"},
                                    {"name": "KUBECONFIG", "value": "/var/run/secrets/remote/config"}]}]}}


def _pod(tmp_path):
    return lab_agent.Pod("cluster1", POD, "127.10.1.1", tmp_path / "root")


def test_env_resolves_refs_and_maps_mounted_paths(tmp_path):
    api = FakeApi({"/api/v1/nodes/cluster1-node-0": {"status": {"allocatable": {"cpu": "32"}}},
                   "/api/v1/namespaces/istio-system/secrets/lic": {"data": {"k": base64.b64encode(b"s3").decode()}}})
    a = _agent(tmp_path, api)
    pod = _pod(tmp_path)
    env = a.environment(pod, POD["spec"]["containers"][0])
    assert env["POD_NAME"] == "istiod-abc" and env["SERVICE_ACCOUNT"] == "istiod" and env["APP"] == "istiod"
    assert env["REVISION"] == "default" and env["LICENSE"] == "s3"
    # no limit: the node's allocatable, capped at this machine's CPUs (the node is this machine)
    assert 1 <= int(env["GOMAXPROCS"]) <= 32
    assert env["REMOTE"] == str(pod.root) + "/var/run/secrets/remote/config"
    # the pod's own credentials, not the optional remote kubeconfig the chart names
    assert env["KUBECONFIG"].endswith("serviceaccount/kubeconfig") and env["KUBECONFIG"].startswith(str(pod.root))
    assert env["ROOT_CA_DIR"] == str(pod.root / "etc" / "cacerts")


def test_unknown_field_ref_is_an_error(tmp_path):
    a = _agent(tmp_path, FakeApi())
    with pytest.raises(ValueError, match="status.nope"):
        a._field(_pod(tmp_path), "status.nope")


def test_argv_binds_every_port_to_the_pod_address(tmp_path):
    a = _agent(tmp_path, FakeApi())
    argv = a.argv(_pod(tmp_path), POD["spec"]["containers"][0], "pilot")
    assert argv[:3] == ["/bin/pilot-discovery", "discovery", "--monitoringAddr=:15014"]
    # later flags win, so the chart's --monitoringAddr=:15014 is overridden
    assert "--monitoringAddr=127.10.1.1:15014" in argv[3:]
    assert {"--httpAddr=127.10.1.1:8080", "--grpcAddr=127.10.1.1:15010", "--secureGRPCAddr=127.10.1.1:15012",
            "--httpsAddr=127.10.1.1:15017", "--ctrlz_address=127.10.1.1"} <= set(argv)


def test_pod_ip_is_outside_kwoks_pod_cidr_and_not_loopback(tmp_path):
    a = _agent(tmp_path, FakeApi())
    assert a._pod_ip(_pod(tmp_path)) == "100.64.1.1"


def test_load_balancers_get_distinct_addresses_across_clusters(tmp_path):
    api1, api2 = FakeApi(), FakeApi()
    a = _agent(tmp_path, api1)
    a.apis["cluster2"] = api2

    def svc(name, typ="LoadBalancer", ingress=None, lb_class=None):
        spec = {"type": typ}
        if lb_class:
            spec["loadBalancerClass"] = lb_class
        return {"metadata": {"name": name, "namespace": "ns"}, "spec": spec,
                "status": {"loadBalancer": {"ingress": ingress} if ingress else {}}}
    first = lab_agent.lb_pool()[0]
    a.assign_load_balancers({
        "cluster1": [svc("has", ingress=[{"ip": first}]), svc("new1"), svc("cip", "ClusterIP"),
                     svc("other", lb_class="example.com/lb")],
        "cluster2": [svc("new2")]})
    got = [(p, patch["status"]["loadBalancer"]["ingress"][0]["ip"]) for p, patch in api1.merged + api2.merged]
    assert [g[0] for g in got] == ["/api/v1/namespaces/ns/services/new1/status", "/api/v1/namespaces/ns/services/new2/status"]
    ips = [g[1] for g in got]
    assert len(set(ips)) == 2 and first not in ips
    assert all(ip.startswith(("192.0.2.", "203.0.113.")) for ip in ips)


def test_quantity():
    assert lab_agent._quantity("500m") == 0.5
    assert lab_agent._quantity("2Gi") == 2 * 2 ** 30
    assert lab_agent._quantity("3") == 3
