"""A no_log task's failure still says why, without its secret."""

import base64

from ansible_collections.ambientmesh.multicluster.plugins.filter.failure_reason import failure_reason

LICENSE = "lic-0123456789abcdef"


def test_a_failed_loop_item_is_named_and_its_secret_redacted_in_every_form():
    result = {"failed": True, "msg": "One or more items failed", "results": [
        {"failed": False, "item": {"name": "kgateway-crds", "values": {}}},
        {"failed": True, "item": {"name": "gloo", "values": {"license_key": LICENSE}},
         "msg": "Failure when executing Helm command: values had license_key=%s" % LICENSE,
         "stderr": "Error: INSTALLATION FAILED: ServiceAccount \"gloo\" exists and cannot be imported (%s)"
                   % base64.b64encode(LICENSE.encode()).decode()}]}
    got = failure_reason(result, [LICENSE, ""], "Helm release in cluster1 namespace gloo-system")
    assert got.startswith("Helm release in cluster1 namespace gloo-system failed: gloo: Failure when executing Helm "
                          "command: values had license_key=********; Error: INSTALLATION FAILED: ServiceAccount")
    assert LICENSE not in got and base64.b64encode(LICENSE.encode()).decode() not in got
    assert "kgateway-crds" not in got and "values" not in got.split("failed: ")[1].split(":")[0]


def test_a_single_task_failure_and_one_without_a_reason():
    assert failure_reason({"failed": True, "msg": "Secret is invalid: data: Forbidden: field is immutable"}, [LICENSE],
                          "Secret istio-system/solo-license in cluster2") == \
        "Secret istio-system/solo-license in cluster2 failed: Secret is invalid: data: Forbidden: field is immutable"
    assert failure_reason({"failed": True}, [], "x") == "x failed: no reason given"
