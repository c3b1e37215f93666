from ansible_collections.ambientmesh.multicluster.plugins.module_utils import compare


def test_subset_differs_ignores_extra_live_fields():
    desired = {"metadata": {"labels": {"a": "1"}}, "spec": {"x": [1, 2]}}
    live = {"metadata": {"labels": {"a": "1", "b": "2"}, "uid": "u"}, "spec": {"x": [1, 2], "y": 3}}
    assert not compare.subset_differs(desired, live)
    live["spec"]["x"] = [1, 3]
    assert compare.subset_differs(desired, live)
    assert compare.subset_differs({"a": {"b": 1}}, {"a": None})
    assert compare.subset_differs({"a": [1]}, {"a": [1, 2]})


def test_project_keeps_only_desired_paths():
    live = {"metadata": {"name": "n", "uid": "u", "labels": {"a": "1", "b": "2"}}, "spec": {"x": 1, "y": 2}}
    shape = {"metadata": {"labels": {"a": None}}, "spec": {"y": None}}
    assert compare.project(live, shape) == {"metadata": {"labels": {"a": "1"}}, "spec": {"y": 2}}


def test_clean_drops_status_and_server_metadata():
    obj = {"metadata": {"name": "n", "resourceVersion": "5", "managedFields": [{}], "generation": 2,
                        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
           "status": {"ok": True}, "spec": {"a": 1}}
    assert compare.clean(obj) == {"metadata": {"name": "n"}, "spec": {"a": 1}}
    assert obj["status"] == {"ok": True}  # the input is not modified
    assert compare.clean(None) is None


def test_redact_secret_hides_values_keeps_keys():
    secret = {"kind": "Secret", "data": {"ca-key.pem": "c2VjcmV0"}, "stringData": {"x": "y"}}
    red = compare.redact_secret(secret)
    assert red["data"] == {"ca-key.pem": "<redacted>"} and red["stringData"] == {"x": "<redacted>"}
    assert secret["data"]["ca-key.pem"] == "c2VjcmV0"
