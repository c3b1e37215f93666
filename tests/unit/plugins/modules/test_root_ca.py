import json
import os

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.ambientmesh.multicluster.plugins.module_utils import trust_pki as pki
from ansible_collections.ambientmesh.multicluster.plugins.modules import root_ca


def run(args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            root_ca.main()
    out = capsys.readouterr().out
    return json.loads(out), out


def test_generates_root_with_defaults(tmp_path, capsys):
    args = {"cert_path": str(tmp_path / "r" / "root-cert.pem"), "key_path": str(tmp_path / "r" / "root-key.pem"),
            "_ansible_diff": True}
    result, raw = run(args, capsys)
    assert result["changed"] and result["action"] == "generated", result
    assert result["root"]["key"] == "rsa-4096" and result["root"]["subject"] == "CN=Root CA,O=Istio"
    assert "PRIVATE KEY" not in raw
    assert os.stat(args["key_path"]).st_mode & 0o777 == 0o600
    again, _raw = run(args, capsys)
    assert not again["changed"] and again["action"] == "kept"


def test_key_content_is_masked_even_in_failures(capsys):
    key = pki.key_pem(pki.generate_key("ecdsa")).decode()
    other = pki.generate_key("ecdsa")
    cert = pki.cert_pem(pki.build_root(other, {"CN": "x"}, 10, pki.utcnow())).decode()
    result, raw = run({"cert_content": cert, "key_content": key}, capsys)
    assert result["failed"] and "key_content does not belong to cert_content" in result["msg"]
    assert "PRIVATE KEY" not in raw and key.splitlines()[1] not in raw


@pytest.mark.parametrize("args, message", [
    ({"key_path": "/tmp/k"}, "parameters are required together: cert_path, key_path"),
    ({"regenerate": "always"}, "one of the following is required: cert_path, cert_content"),
    ({"cert_path": "/c", "key_path": "/k", "key_type": "dsa"}, "value of key_type must be one of: rsa, ecdsa"),
])
def test_argument_errors_name_the_option(capsys, args, message):
    result, _raw = run(args, capsys)
    assert result["failed"] and message in result["msg"]
