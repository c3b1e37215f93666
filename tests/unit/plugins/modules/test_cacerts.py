import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.ambientmesh.multicluster.plugins.module_utils import trust_pki as pki
from ansible_collections.ambientmesh.multicluster.plugins.modules import cacerts


class EmptyCluster:
    """A cluster with istio-system and no cacerts; remembers what was applied."""

    dry_run = False

    def __init__(self, _module):
        self.applied = []
        EmptyCluster.last = self

    def get(self, api_version, kind, name, namespace=None):
        return {"metadata": {"name": name}} if kind == "Namespace" else None

    def apply(self, obj):
        self.applied.append(obj)
        return True, None, obj


@pytest.fixture
def root():
    key = pki.generate_key("ecdsa")
    cert = pki.build_root(key, {"CN": "Root CA", "O": "Istio"}, 3650, pki.utcnow())
    return pki.cert_pem(cert).decode(), pki.key_pem(key).decode()


def run(args, capsys, monkeypatch):
    monkeypatch.setattr(cacerts, "Kube", EmptyCluster)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            cacerts.main()
    out = capsys.readouterr().out
    return json.loads(out), out


def test_creates_secret_and_hides_every_key(root, capsys, monkeypatch):
    args = {"cluster_name": "cluster1", "root_cert_content": root[0], "root_key_content": root[1],
            "key_type": "ecdsa", "_ansible_diff": True}
    result, raw = run(args, capsys, monkeypatch)
    assert result["changed"] and result["status"] == "created" and result["restart_required"], result
    assert result["intermediate"]["subject"] == "CN=Intermediate CA,O=Istio,L=cluster1"
    assert result["invocation"]["module_args"]["root_key_content"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    applied = EmptyCluster.last.applied[0]
    assert applied["metadata"]["namespace"] == "istio-system" and applied["metadata"]["name"] == "cacerts"
    assert "PRIVATE KEY" not in raw and applied["data"]["ca-key.pem"] not in raw


@pytest.mark.parametrize("args, message", [
    ({"cluster_name": "c1"}, "state is present but any of the following are missing: root_cert_path, "
                             "root_cert_content"),
    ({"cluster_name": "c1", "root_cert_path": "/c"}, "parameters are required together: root_cert_path, "
                                                     "root_key_path"),
    ({"cluster_name": "c1", "root_cert_path": "/c", "root_key_path": "/k", "root_cert_content": "x",
      "root_key_content": "not-a-key"}, "parameters are mutually exclusive: root_cert_path|root_cert_content"),
    ({"cluster_name": "c1", "root_cert_path": "/nonexistent/c", "root_key_path": "/nonexistent/k"},
     "root_cert_path=/nonexistent/c: not found"),
])
def test_input_errors_name_the_option(capsys, monkeypatch, args, message):
    result, _raw = run(args, capsys, monkeypatch)
    assert result["failed"] and message in result["msg"], result["msg"]


def test_absent_needs_no_root(capsys, monkeypatch):
    result, _raw = run({"cluster_name": "c1", "state": "absent"}, capsys, monkeypatch)
    assert not result["changed"] and result["status"] == "absent"
