import copy

import pytest

from ansible_collections.ambientmesh.multicluster.plugins.module_utils import global_service as gs
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.compare import clean
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError


def params(**kw):
    p = dict(services=["productpage"], namespace="bookinfo", distribution="solo", traffic_distribution=None,
             takeover=False, state="present", wait=False, wait_timeout=120, istio_namespace="istio-system")
    p.update(kw)
    return p


def service(name="productpage", labels=None, annotations=None, spec=None, managed=None):
    meta = {"name": name, "namespace": "bookinfo", "labels": dict(labels or {"app": name})}
    if annotations:
        meta["annotations"] = dict(annotations)
    if managed:
        meta["managedFields"] = managed
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta,
            "spec": dict(spec or {"ports": [{"port": 9080}]})}


def merge(live, patch):
    for k, v in patch.items():
        if v is None:
            live.pop(k, None)
        elif isinstance(v, dict):
            merge(live.setdefault(k, {}), v)
        else:
            live[k] = v
    return live


class FakeKube:
    """Services in a dict; apply merges the desired fields like SSA does for a single owner."""

    def __init__(self, services=(), entries=()):
        self.objects = dict(((s["metadata"]["namespace"], s["metadata"]["name"]), s) for s in services)
        self.entries = list(entries)
        self.writes = []
        self.lists = 0

    def get(self, api_version, kind, name, namespace=None):
        obj = self.objects.get((namespace, name))
        return copy.deepcopy(obj)

    def apply(self, obj):
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        before = copy.deepcopy(self.objects[key])
        after = merge(copy.deepcopy(before), copy.deepcopy(obj))
        self.objects[key] = after
        self.writes.append(("apply", obj))
        return clean(before) != clean(after), before, copy.deepcopy(after)

    def patch(self, api_version, kind, name, body, namespace=None):
        self.writes.append(("patch", body))
        self.objects[(namespace, name)] = merge(self.objects[(namespace, name)], copy.deepcopy(body))
        return copy.deepcopy(self.objects[(namespace, name)])

    def list(self, api_version, kind, namespace=None):
        self.lists += 1
        return self.entries[:self.lists]


def test_global_host_per_distribution():
    assert gs.global_host("productpage", "bookinfo", "solo") == "productpage.bookinfo.mesh.internal"
    assert gs.global_host("productpage", "bookinfo", "upstream") == "productpage.bookinfo.svc.cluster.local"


def test_desired_service_solo_label_annotation_takeover():
    obj = gs.desired_service("productpage", params(traffic_distribution="Any", takeover=True))
    assert obj["metadata"]["labels"] == {"solo.io/service-scope": "global", "solo.io/service-takeover": "true"}
    assert obj["metadata"]["annotations"] == {gs.TRAFFIC_ANNOTATION: "Any"}
    assert "spec" not in obj
    plain = gs.desired_service("productpage", params())
    assert "annotations" not in plain["metadata"] and plain["metadata"]["labels"] == {"solo.io/service-scope": "global"}


def test_desired_service_upstream_defaults_to_prefer_close_in_spec():
    obj = gs.desired_service("productpage", params(distribution="upstream"))
    assert obj["metadata"]["labels"] == {"istio.io/global": "true"}
    assert obj["spec"] == {"trafficDistribution": "PreferClose"}
    assert "annotations" not in obj["metadata"]


@pytest.mark.parametrize("kw, words", [
    (dict(traffic_distribution="Sideways"), ["traffic_distribution='Sideways'", "Any, PreferNetwork"]),
    (dict(distribution="upstream", traffic_distribution="Any"), ["distribution=upstream", "PreferClose"]),
    (dict(distribution="upstream", takeover=True), ["takeover=true", "distribution=solo"]),
    (dict(services=["Product_Page"]), ["services[0]='Product_Page'"]),
    (dict(services=[]), ["services is empty"]),
    (dict(namespace="Book Info"), ["namespace='Book Info'"]),
    (dict(wait_timeout=0), ["wait_timeout=0"]),
])
def test_validate_names_field_and_fix(kw, words):
    with pytest.raises(MeshError) as err:
        gs.validate(params(**kw))
    for word in words:
        assert word in err.value.msg


def test_reconcile_fails_before_writing_when_a_service_is_missing():
    kube = FakeKube([service()])
    with pytest.raises(MeshError) as err:
        gs.reconcile(kube, params(services=["productpage", "ghost"]), False, False, None)
    assert "ghost" in err.value.msg and "namespace bookinfo" in err.value.msg
    assert kube.writes == []


def test_missing_service_is_a_warning_in_check_mode():
    kube = FakeKube()
    warnings = []
    result = gs.reconcile(kube, params(), True, True, warnings.append)
    assert result["changed"] and result["services"][0]["changed"]
    assert result["diff"]["before"]["bookinfo/productpage"] == {}
    assert result["diff"]["after"]["bookinfo/productpage"]["labels"] == {"solo.io/service-scope": "global"}
    assert len(warnings) == 1 and "productpage" in warnings[0] and kube.writes == []


def test_reconcile_present_then_idempotent_and_diff():
    kube = FakeKube([service()])
    first = gs.reconcile(kube, params(traffic_distribution="Any"), False, True, None)
    assert first["changed"] and first["hosts"] == ["productpage.bookinfo.mesh.internal"]
    assert first["diff"]["before"]["bookinfo/productpage"] == {"labels": {}}
    assert first["diff"]["after"]["bookinfo/productpage"] == {
        "labels": {"solo.io/service-scope": "global"}, "annotations": {gs.TRAFFIC_ANNOTATION: "Any"}}
    again = gs.reconcile(kube, params(traffic_distribution="Any"), False, False, None)
    assert not again["changed"] and not again["services"][0]["changed"]
    assert kube.objects[("bookinfo", "productpage")]["metadata"]["labels"]["app"] == "productpage"


OUR_LABEL = {"manager": "ambientmesh-multicluster", "operation": "Apply",
             "fieldsV1": {"f:metadata": {"f:labels": {"f:istio.io/global": {}}}}}


def test_removal_patch_keeps_foreign_traffic_distribution():
    ours = [OUR_LABEL, {"manager": "ambientmesh-multicluster", "operation": "Apply",
                        "fieldsV1": {"f:spec": {"f:trafficDistribution": {}}}}]
    theirs = [OUR_LABEL, {"manager": "kubectl", "operation": "Update",
                          "fieldsV1": {"f:spec": {"f:trafficDistribution": {}}}}]
    live = service(labels={"istio.io/global": "true", "app": "x"}, spec={"trafficDistribution": "PreferClose"},
                   managed=ours)
    assert gs.removal_patch(live, "upstream") == {"metadata": {"labels": {"istio.io/global": None}},
                                                  "spec": {"trafficDistribution": None}}
    live["metadata"]["managedFields"] = theirs
    assert gs.removal_patch(live, "upstream") == {"metadata": {"labels": {"istio.io/global": None}}}
    assert gs.removal_patch(service(), "solo") is None


def test_removal_patch_keeps_a_global_label_the_user_set_or_also_set():
    users = {"manager": "kubectl-label", "operation": "Update",
             "fieldsV1": {"f:metadata": {"f:labels": {"f:istio.io/global": {}}}}}
    live = service(labels={"istio.io/global": "true"}, managed=[users])
    assert gs.removal_patch(live, "upstream") is None
    live["metadata"]["managedFields"] = [users, OUR_LABEL]  # both set it: the user's intent stays
    assert gs.removal_patch(live, "upstream") is None
    live["metadata"]["managedFields"] = [OUR_LABEL]
    assert gs.removal_patch(live, "upstream") == {"metadata": {"labels": {"istio.io/global": None}}}


def test_reconcile_absent_removes_labels_and_our_annotation_only():
    managed = [{"manager": "ambientmesh-multicluster", "operation": "Apply",
                "fieldsV1": {"f:metadata": {"f:annotations": {"f:" + gs.TRAFFIC_ANNOTATION: {}},
                                            "f:labels": {"f:solo.io/service-scope": {},
                                                         "f:solo.io/service-takeover": {}}}}}]
    live = service(labels={"app": "productpage", "solo.io/service-scope": "global", "solo.io/service-takeover": "true"},
                   annotations={gs.TRAFFIC_ANNOTATION: "Any", "keep": "me"}, managed=managed)
    kube = FakeKube([live])
    result = gs.reconcile(kube, params(state="absent"), False, True, None)
    assert result["changed"]
    meta = kube.objects[("bookinfo", "productpage")]["metadata"]
    assert meta["labels"] == {"app": "productpage"} and meta["annotations"] == {"keep": "me"}
    again = gs.reconcile(kube, params(state="absent"), False, False, None)
    assert not again["changed"] and kube.writes == [("patch", kube.writes[0][1])]


def test_reconcile_absent_tolerates_missing_service():
    kube = FakeKube()
    result = gs.reconcile(kube, params(state="absent"), False, False, None)
    assert not result["changed"] and kube.writes == []


def test_missing_hosts_maps_hosts_to_entries():
    entries = [{"metadata": {"name": "autogen.bookinfo.productpage"},
                "spec": {"hosts": ["productpage.bookinfo.mesh.internal"]}}, {"metadata": {"name": "x"}, "spec": {}}]
    found, missing = gs.missing_hosts(["productpage.bookinfo.mesh.internal", "reviews.bookinfo.mesh.internal"], entries)
    assert found == {"productpage.bookinfo.mesh.internal": "autogen.bookinfo.productpage"}
    assert missing == ["reviews.bookinfo.mesh.internal"]


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_wait_programmed_succeeds_once_entry_appears():
    entry = {"metadata": {"name": "autogen.bookinfo.productpage"},
             "spec": {"hosts": ["productpage.bookinfo.mesh.internal"]}}
    kube = FakeKube(entries=[{"metadata": {"name": "other"}, "spec": {"hosts": ["a.b.mesh.internal"]}}, entry])
    clock = Clock()
    found = gs.wait_programmed(kube, ["productpage.bookinfo.mesh.internal"], "istio-system", 10,
                               sleep=clock.sleep, clock=clock)
    assert found == {"productpage.bookinfo.mesh.internal": "autogen.bookinfo.productpage"} and kube.lists == 2


def test_wait_programmed_timeout_names_missing_host_and_namespace():
    kube = FakeKube(entries=[])
    clock = Clock()
    with pytest.raises(MeshError) as err:
        gs.wait_programmed(kube, ["productpage.bookinfo.mesh.internal"], "istio-system", 5,
                           sleep=clock.sleep, clock=clock)
    assert "timed out after 5s" in err.value.msg
    assert "no ServiceEntry in namespace istio-system has host(s) productpage.bookinfo.mesh.internal" in err.value.msg
    assert err.value.details["missing_hosts"] == ["productpage.bookinfo.mesh.internal"]
    assert clock.now == 5


def test_upstream_wait_warns_instead_of_polling():
    kube = FakeKube([service()])
    warnings = []
    gs.reconcile(kube, params(distribution="upstream", wait=True), False, False, warnings.append)
    assert kube.lists == 0 and "nothing to wait for" in warnings[0]


def test_check_mode_skips_wait():
    kube = FakeKube([service()])
    result = gs.reconcile(kube, params(wait=True), True, False, None)
    assert kube.lists == 0 and "service_entries" not in result
