import json

import pytest
from probe_http import Server

from ansible_collections.ambientmesh.multicluster.plugins.module_utils import client
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError


def kubeconfig(tmp_path, server="https://203.0.113.9:6443"):
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "other",
        "clusters": [{"name": "c2", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
        "contexts": [{"name": "ctx2", "context": {"cluster": "c2", "user": "u"}},
                     {"name": "other", "context": {"cluster": "c2", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": "t"}}]}))
    return str(path)


# What the client's discovery asks of an API server when it starts.
DISCOVERY = {"/version": {"major": "1", "minor": "31", "gitVersion": "v1.31.0-unit"},
             "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
             "/api": {"kind": "APIVersions", "versions": ["v1"]}}


def discovery(_now, handler):
    found = handler.path in DISCOVERY
    body = json.dumps(DISCOVERY.get(handler.path, {"kind": "Status", "code": 404})).encode()
    return 200 if found else 404, {"Content-Type": "application/json"}, body


@pytest.fixture
def api_server():
    with Server(discovery) as server:
        yield "http://127.0.0.1:%d" % server.port


def test_connect_needs_no_module_and_reads_the_context(tmp_path, monkeypatch, api_server):
    for var in ("K8S_AUTH_HOST", "K8S_AUTH_API_KEY", "K8S_AUTH_KUBECONFIG", "K8S_AUTH_CONTEXT"):
        monkeypatch.delenv(var, raising=False)
    warnings = []
    kube = client.Kube.connect({"context": "ctx2", "kubeconfig": kubeconfig(tmp_path, api_server),
                                "validate_certs": None}, True, warnings.append)
    assert kube.host == api_server and kube.dry_run is True
    assert kube.version["kubernetes"]["gitVersion"] == "v1.31.0-unit"
    assert kube.api_client.configuration.host == api_server
    kube.warn("w")
    assert warnings == ["w"]


def test_connect_names_the_context_it_could_not_use(tmp_path, monkeypatch):
    monkeypatch.delenv("K8S_AUTH_HOST", raising=False)
    with pytest.raises(MeshError, match=r"^cannot connect to the cluster \(context=missing\): "):
        client.Kube.connect({"context": "missing", "kubeconfig": kubeconfig(tmp_path)}, False, None)


def test_connect_refuses_the_awx_environment_trap(tmp_path, monkeypatch):
    monkeypatch.setenv("K8S_AUTH_HOST", "https://one.example")
    monkeypatch.setenv("K8S_AUTH_API_KEY", "t")
    with pytest.raises(MeshError, match="K8S_AUTH_HOST"):
        client.Kube.connect({"context": "ctx2", "kubeconfig": kubeconfig(tmp_path)}, False, None)
