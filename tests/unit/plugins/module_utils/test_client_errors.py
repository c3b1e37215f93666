import json

import pytest

from ansible_collections.ambientmesh.multicluster.plugins.module_utils import client, errors


class FakeApiError(Exception):
    def __init__(self, status, body):
        super().__init__("boom")
        self.status = status
        self.body = body
        self.reason = "Unprocessable Entity"


def test_api_error_names_object_and_server_message():
    exc = FakeApiError(422, json.dumps({"message": "spec.port: Invalid value: 70000"}))
    err = errors.api_error("apply", "HTTPRoute", "productpage", exc, "gloo-system")
    assert err.msg == "apply HTTPRoute/productpage in namespace gloo-system: spec.port: Invalid value: 70000"
    assert err.details["status"] == 422


def test_api_message_falls_back_to_status():
    assert errors.api_message(FakeApiError(500, "not json")) == "500 Unprocessable Entity"


def test_awx_bearer_token_environment_is_refused_when_context_given():
    env = {"K8S_AUTH_HOST": "https://one.example", "K8S_AUTH_API_KEY": "t"}
    with pytest.raises(errors.MeshError) as exc:
        client.check_auth_environment({"context": "cluster2"}, env)
    assert "K8S_AUTH_HOST" in exc.value.msg and "cluster2" in exc.value.msg
    assert "t" not in exc.value.msg.split()  # the token itself is never echoed
    client.check_auth_environment({"context": "cluster2"}, {})
    client.check_auth_environment({"context": None}, env)
    client.check_auth_environment({"context": "c", "host": "https://h"}, env)


def test_auth_spec_is_a_copy_with_secrets_no_log():
    spec = client.auth_argument_spec()
    assert spec["api_key"]["no_log"] and spec["kubeconfig"]["no_log"]
    spec["context"]["x"] = 1
    assert "x" not in client.auth_argument_spec()["context"]
