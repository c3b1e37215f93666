"""The mesh_link action plugin: what a module run gave for free (argument checks, no_log masking, warnings, check
and diff mode) it must give itself."""

from types import SimpleNamespace

import pytest
from ansible.errors import AnsibleActionFail
from ansible.playbook.play_context import PlayContext

from ansible_collections.ambientmesh.multicluster.plugins.action import mesh_link as action
from ansible_collections.ambientmesh.multicluster.plugins.module_utils import client
from ansible_collections.ambientmesh.multicluster.plugins.module_utils import mesh_link
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError

PEERS = [{"name": "cluster2", "network": "network2", "address": "192.0.2.20"}]


def run(args, check_mode=False, diff=False):
    task = SimpleNamespace(args=args, check_mode=check_mode, diff=diff, async_val=0,
                           action="ambientmesh.multicluster.mesh_link")
    connection = SimpleNamespace(_shell=SimpleNamespace(tmpdir="/nonexistent"))
    try:
        return action.ActionModule(task, connection, PlayContext(), loader=None, templar=None).run(task_vars={})
    except AnsibleActionFail as e:  # how the task executor reports an action's failure
        return {"failed": True, "msg": str(e)}


@pytest.fixture
def no_cluster(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a cluster was contacted")
    monkeypatch.setattr(client.Kube, "connect", classmethod(refuse))


@pytest.mark.parametrize("args, words", [
    ({"cluster": "Cluster_1", "peers": PEERS}, "cluster 'Cluster_1' is not a DNS-1123 label"),
    ({"cluster": "cluster1", "peers": [{"name": "cluster2", "address": "192.0.2.20"}]}, "peers[0] (cluster2)"),
    ({"cluster": "cluster1", "methd": "peering"}, "Unsupported parameters"),
    ({"cluster": "cluster1", "method": "istioctl"}, "value of method must be one of"),
])
def test_bad_input_fails_naming_the_field_before_any_cluster_is_contacted(no_cluster, args, words):
    result = run(args)
    assert result["failed"] and words in result["msg"], result


def test_secret_values_are_masked_everywhere_as_a_modules_exit_would(monkeypatch):
    seen = {}

    def fake_run(params, check_mode, want_diff, warn, hide):
        seen.update(params=params, check_mode=check_mode, want_diff=want_diff)
        hide("t0ken-value")
        warn("peer cluster2 has no address yet")
        return {"changed": True, "links": [{"name": "link", "note": "holds t0ken-value"}],
                "diff": [{"after": "token: t0ken-value"}]}

    monkeypatch.setattr(mesh_link, "run", fake_run)
    result = run({"cluster": "cluster1", "peers": PEERS, "api_key": "s3cret-api-key"}, check_mode=True, diff=True)
    text = repr(result)
    assert "t0ken-value" not in text and "s3cret-api-key" not in text and "********" in text
    assert result["changed"] is True and result["warnings"] == ["peer cluster2 has no address yet"]
    # the options reach the reconcile validated, with their defaults, and check and diff mode as the task has them
    assert seen["check_mode"] is True and seen["want_diff"] is True
    assert seen["params"]["method"] == "peering" and seen["params"]["peers"][0]["trust_domain"] == "cluster.local"


def test_a_mesh_error_fails_the_task_with_its_message_and_details_masked(monkeypatch):
    def fake_run(params, check_mode, want_diff, warn, hide):
        raise MeshError("cannot connect with s3cret-api-key", problems=["p"])

    monkeypatch.setattr(mesh_link, "run", fake_run)
    result = run({"cluster": "cluster1", "api_key": "s3cret-api-key"})
    assert result["failed"] and result["msg"] == "cannot connect with ********" and result["problems"] == ["p"]
