import copy
import itertools
import re

import pytest

from ansible_collections.ambientmesh.multicluster.plugins.module_utils import http_route as hr
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.compare import clean
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError

SEED_SPEC = {
    "parentRefs": [{"name": "http", "namespace": "gloo-system"}],
    "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/productpage"}}],
               "backendRefs": [{"name": "productpage.bookinfo.mesh.internal", "port": 9080,
                                "kind": "Hostname", "group": "networking.istio.io"}]}],
}


def params(**kw):
    p = dict(name="productpage", namespace="gloo-system", parent_refs=[{"name": "http", "namespace": "gloo-system"}],
             hostnames=None, path="/productpage", path_type="PathPrefix",
             backends=[{"host": "productpage.bookinfo.mesh.internal", "port": 9080, "weight": None}],
             timeouts=None, state="present", wait=False, wait_timeout=120)
    p.update(kw)
    return p


def cond(type_, status="True", reason=None, message=None, generation=None):
    c = {"type": type_, "status": status, "reason": reason or type_, "message": message or ""}
    if generation is not None:
        c["observedGeneration"] = generation
    return c


def route_with(parents, generation=1):
    route = hr.build_route(params())
    route["metadata"]["generation"] = generation
    route["status"] = {"parents": parents}
    return route


def parent(name="http", namespace="gloo-system", conditions=None, **extra):
    ref = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": name, "namespace": namespace}
    ref.update(extra)
    return {"parentRef": ref, "controllerName": "solo.io/gloo-gateway",
            "conditions": conditions if conditions is not None else [cond("Accepted"), cond("ResolvedRefs")]}


class FakeKube:
    def __init__(self, gateways=(("gloo-system", "http"),), status_after=None):
        self.gateways = set(gateways)
        self.routes = {}
        self.grants = {}
        self.missing_namespaces = set()
        self.warnings = []
        self.writes = []
        self.status_after = status_after  # (gets, status): status appears after that many route reads
        self.route_gets = 0

    def store(self, kind):
        return self.grants if kind == "ReferenceGrant" else self.routes

    def get(self, api_version, kind, name, namespace=None):
        if kind == "Namespace":
            return None if name in self.missing_namespaces else {"metadata": {"name": name}}
        if kind == "Gateway":
            return {"metadata": {"name": name}} if (namespace, name) in self.gateways else None
        if kind == "ReferenceGrant":
            return copy.deepcopy(self.grants.get((namespace, name)))
        self.route_gets += 1
        route = copy.deepcopy(self.routes.get((namespace, name)))
        if route is not None and self.status_after and self.route_gets > self.status_after[0]:
            route["status"] = copy.deepcopy(self.status_after[1])
        return route

    def warn(self, msg):
        self.warnings.append(msg)

    def list(self, api_version, kind, namespace=None, label_selector=None):
        key, value = label_selector.split("=", 1)
        return [copy.deepcopy(o) for (ns, _n), o in sorted(self.store(kind).items())
                if (namespace is None or ns == namespace) and o["metadata"].get("labels", {}).get(key) == value]

    def apply(self, obj):
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        store = self.store(obj["kind"])
        before = copy.deepcopy(store.get(key))
        after = copy.deepcopy(obj)
        after["metadata"]["generation"] = (before or {}).get("metadata", {}).get("generation", 0) + (
            1 if before is None or before["spec"] != obj["spec"] else 0)
        store[key] = after
        self.writes.append(("apply", obj))
        return before is None or clean(before) != clean(after), before, copy.deepcopy(after)

    def delete(self, api_version, kind, name, namespace=None):
        self.writes.append(("delete", name))
        return self.store(kind).pop((namespace, name), None)


def test_build_route_matches_the_seed():
    route = hr.build_route(params())
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1" and route["kind"] == "HTTPRoute"
    assert route["metadata"] == {"name": "productpage", "namespace": "gloo-system",
                                 "labels": {"app.kubernetes.io/managed-by": "ambientmesh.multicluster"}}
    assert route["spec"] == SEED_SPEC


def test_build_route_optional_fields():
    route = hr.build_route(params(
        parent_refs=[{"name": "http", "namespace": None, "section_name": "web", "port": 8080}],
        hostnames=["shop.example.com"], path="/api", path_type="Exact",
        backends=[{"host": "a.bookinfo.mesh.internal", "port": 9080, "weight": 90},
                  {"host": "b.bookinfo.mesh.internal", "port": 9080, "weight": 10}],
        timeouts={"request": "10s", "backend_request": None}))
    spec = route["spec"]
    assert spec["parentRefs"] == [{"name": "http", "namespace": "gloo-system", "sectionName": "web", "port": 8080}]
    assert spec["hostnames"] == ["shop.example.com"]
    rule = spec["rules"][0]
    assert rule["matches"] == [{"path": {"type": "Exact", "value": "/api"}}]
    assert [b["weight"] for b in rule["backendRefs"]] == [90, 10]
    assert rule["timeouts"] == {"request": "10s"}


@pytest.mark.parametrize("kw, words", [
    (dict(backends=[{"host": "productpage.bookinfo.mesh.internal", "port": 70000, "weight": None}]),
     ["backends[0].port=70000 is out of range", "1-65535"]),
    (dict(backends=[{"host": "productpage.bookinfo.mesh.internal", "port": 0, "weight": None}]),
     ["backends[0].port=0"]),
    (dict(backends=[{"host": "Product_Page", "port": 9080, "weight": None}]), ["backends[0].host='Product_Page'"]),
    (dict(backends=[{"host": "p.b.mesh.internal", "port": 9080, "weight": -1}]), ["backends[0].weight=-1"]),
    (dict(backends=[]), ["backends is empty"]),
    (dict(parent_refs=[]), ["parent_refs is empty"]),
    (dict(parent_refs=[{"name": "http", "namespace": "gloo-system", "port": 99999}]), ["parent_refs[0].port=99999"]),
    (dict(path="productpage"), ["path='productpage' must start with '/'"]),
    (dict(path="/a//b"), ["must not contain '//'"]),
    (dict(timeouts={"request": "10 seconds", "backend_request": None}), ["timeouts.request='10 seconds'"]),
    (dict(name="Product Page"), ["name='Product Page'"]),
    (dict(hostnames=["*.example.com", "bad_host"]), ["hostnames[1]='bad_host'"]),
    (dict(wait_timeout=-1), ["wait_timeout=-1"]),
])
def test_validate_names_field(kw, words):
    with pytest.raises(MeshError) as err:
        hr.validate(params(**kw))
    assert err.value.msg.startswith("http_route gloo-system/")
    for word in words:
        assert word in err.value.msg


def test_validate_accepts_seed_regex_and_wildcards():
    hr.validate(params())
    hr.validate(params(path="^/product.*", path_type="RegularExpression", hostnames=["*.example.com"]))
    hr.validate(params(state="absent", parent_refs=None, backends=None))


def test_missing_parent_fails_before_apply():
    kube = FakeKube(gateways=())
    with pytest.raises(MeshError) as err:
        hr.reconcile(kube, params(), False, False)
    assert "parent Gateway gloo-system/http not found" in err.value.msg
    assert kube.writes == []


def test_missing_parent_is_a_warning_in_check_mode():
    kube = FakeKube(gateways=())
    kube.warnings = []
    kube.warn = kube.warnings.append
    result = hr.reconcile(kube, params(), True, True)
    assert result["changed"] and result["diff"]["after"]["spec"] == SEED_SPEC
    assert len(kube.warnings) == 1 and "parent Gateway gloo-system/http not found" in kube.warnings[0]


def test_missing_parent_can_fail_a_check_mode_preflight():
    kube = FakeKube(gateways=())
    with pytest.raises(MeshError) as err:
        hr.reconcile(kube, params(missing_parents_in_check_mode="fail"), True, False)
    assert "parent Gateway gloo-system/http not found" in err.value.msg and kube.writes == []


def test_reconcile_apply_rerun_and_diff():
    kube = FakeKube()
    first = hr.reconcile(kube, params(), False, True)
    assert first["changed"] and first["diff"]["before"] == {} and first["diff"]["after"]["spec"] == SEED_SPEC
    again = hr.reconcile(kube, params(), False, True)
    assert not again["changed"]
    moved = hr.reconcile(kube, params(path="/reviews"), False, True)
    assert moved["changed"]
    assert moved["diff"]["before"]["spec"]["rules"][0]["matches"][0]["path"]["value"] == "/productpage"
    assert moved["diff"]["after"]["spec"]["rules"][0]["matches"][0]["path"]["value"] == "/reviews"


def test_reconcile_absent():
    kube = FakeKube()
    hr.reconcile(kube, params(), False, False)
    gone = hr.reconcile(kube, params(state="absent"), False, True)
    assert gone["changed"] and gone["diff"]["after"] == {} and gone["diff"]["before"]["metadata"]["name"] == "productpage"
    assert not hr.reconcile(kube, params(state="absent"), False, False)["changed"]


def test_parent_problems_ready_and_not_ready():
    refs = hr.build_route(params())["spec"]["parentRefs"]
    assert hr.parent_problems(route_with([parent()]), refs) == []
    assert hr.parent_problems(route_with([]), refs) == ["Gateway gloo-system/http: no status from its controller yet"]
    other = hr.parent_problems(route_with([parent(name="other")]), refs)
    assert other == ["Gateway gloo-system/http: no status from its controller yet"]
    unresolved = route_with([parent(conditions=[cond("Accepted"), cond(
        "ResolvedRefs", "False", "BackendNotFound", "unknown hostname(s): productpage.bookinfo.mesh.internal")])])
    assert hr.parent_problems(unresolved, refs) == [
        "Gateway gloo-system/http: ResolvedRefs=False (BackendNotFound: unknown hostname(s): "
        "productpage.bookinfo.mesh.internal) [solo.io/gloo-gateway]"]
    assert "Accepted missing" in hr.parent_problems(route_with([parent(conditions=[cond("ResolvedRefs")])]), refs)[0]


def test_parent_problems_stale_generation_and_section():
    refs = hr.build_route(params())["spec"]["parentRefs"]
    stale = route_with([parent(conditions=[cond("Accepted", generation=1), cond("ResolvedRefs", generation=1)])],
                       generation=2)
    assert "is for generation 1, route is at 2" in hr.parent_problems(stale, refs)[0]
    section_refs = [dict(refs[0], sectionName="web")]
    assert hr.parent_problems(route_with([parent(sectionName="web")]), section_refs) == []
    assert hr.parent_problems(route_with([parent()]), section_refs) == [
        "Gateway gloo-system/http section web: no status from its controller yet"]


def test_parent_problems_any_ready_controller_is_enough():
    refs = hr.build_route(params())["spec"]["parentRefs"]
    bad = parent(conditions=[cond("Accepted", "False", "NotAllowedByListeners")])
    assert hr.parent_problems(route_with([bad, parent()]), refs) == []


def test_wait_ready_returns_once_status_arrives():
    ready = {"parents": [parent()]}
    kube = FakeKube(status_after=(2, ready))
    sleeps = []
    hr.reconcile(kube, params(), False, False)
    route = hr.build_route(params())
    # The clock advances one second per reading; sleeps are recorded instead of slept.
    live = hr.wait_ready(kube, route, 30, sleep=sleeps.append, clock=itertools.count().__next__)
    assert live["status"] == ready and len(sleeps) == 2


def test_wait_ready_timeout_shows_conditions():
    status = {"parents": [parent(conditions=[cond("Accepted"), cond("ResolvedRefs", "False", "BackendNotFound",
                                                                    "unknown hostname(s): x.y.mesh.internal")])]}
    kube = FakeKube(status_after=(0, status))
    sleeps = []
    hr.reconcile(kube, params(), False, False)
    with pytest.raises(MeshError) as err:
        hr.wait_ready(kube, hr.build_route(params()), 5, sleep=sleeps.append, clock=itertools.count().__next__)
    assert len(sleeps) == 4
    assert "timed out after 5s waiting for Accepted and ResolvedRefs" in err.value.msg
    assert "ResolvedRefs=False (BackendNotFound: unknown hostname(s): x.y.mesh.internal)" in err.value.msg
    assert err.value.details["route_status"] == status


def test_wait_skipped_in_check_mode():
    kube = FakeKube()
    result = hr.reconcile(kube, params(wait=True, wait_timeout=1), True, False)
    assert result["changed"] and kube.route_gets == 0


def service_params(**over):
    return params(backends=[{"service": "productpage", "namespace": "bookinfo", "port": 9080},
                            {"service": "local", "port": 8080}], **over)


def test_service_backends_and_the_reference_grant_a_cross_namespace_one_needs():
    kube = FakeKube()
    res = hr.reconcile(kube, service_params(), False, True)
    assert res["changed"] and res["reference_grants"] == ["bookinfo/gloo-system-productpage"]
    route = kube.routes[("gloo-system", "productpage")]
    assert route["spec"]["rules"][0]["backendRefs"] == [{"name": "productpage", "namespace": "bookinfo", "port": 9080},
                                                        {"name": "local", "port": 8080}]
    grant = kube.grants[("bookinfo", "gloo-system-productpage")]
    assert grant["spec"] == {"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute",
                                       "namespace": "gloo-system"}],
                             "to": [{"group": "", "kind": "Service", "name": "productpage"}]}
    assert [d.get("before_header") for d in res["diff"]] == [None, "ReferenceGrant"]
    again = hr.reconcile(kube, service_params(), False, True)
    assert not again["changed"] and isinstance(again["diff"], dict)
    # the route moves to a same-namespace backend: the grant is pruned
    moved = hr.reconcile(kube, params(backends=[{"service": "local", "port": 8080}]), False, False)
    assert moved["changed"] and kube.grants == {} and moved["reference_grants"] == []
    hr.reconcile(kube, service_params(), False, False)
    gone = hr.reconcile(kube, params(state="absent"), False, False)
    assert gone["changed"] and kube.grants == {} and kube.routes == {}


@pytest.mark.parametrize("backend,words", [
    ({"port": 80}, "backends[0] needs exactly one of host"),
    ({"host": "a.b.mesh.internal", "service": "a", "port": 80}, "backends[0] needs exactly one of host"),
    ({"service": "Bad_Name", "port": 80}, "backends[0].service='Bad_Name' is not a valid Service name"),
    ({"host": "a.b.mesh.internal", "namespace": "x", "port": 80}, "backends[0].namespace is only used with service"),
])
def test_bad_backends_name_the_field(backend, words):
    with pytest.raises(MeshError, match=re.escape(words)):
        hr.validate(params(backends=[backend]))


def test_check_mode_before_the_backend_namespace_exists_warns_and_reports_the_grant():
    kube = FakeKube()
    kube.missing_namespaces.add("bookinfo")
    res = hr.reconcile(kube, service_params(), True, False)
    assert res["changed"] and kube.grants == {}
    assert kube.warnings == ["check mode: namespace bookinfo does not exist yet, so ReferenceGrant "
                             "bookinfo/gloo-system-productpage was not dry-run"]


@pytest.mark.parametrize("path, words", [
    ("([unclosed", "is not a valid regular expression: unterminated character set at position 1"),
    ("/(open", "is not a valid regular expression: missing ), unterminated subpattern"),
    ("/api/(?=v1)", "uses a lookaround"),
    ("/(?<!x)y", "uses a lookaround"),
    ("/(a)\\1", "uses a backreference"),
    ("/(?P<v>a)(?P=v)", "uses a backreference"),
    ("/(?>ab)", "uses a atomic group"),
    ("/a++", "uses a possessive quantifier"),
])
def test_a_regex_path_the_gateway_would_refuse_is_refused_naming_the_field(path, words):
    with pytest.raises(MeshError) as err:
        hr.validate(params(path=path, path_type="RegularExpression"))
    assert "path=%r" % path in err.value.msg and words in err.value.msg, err.value.msg


@pytest.mark.parametrize("path", ["/product(page)?/.*", "/a\\++", "/lit\\(?=x", "/x\\\\", "/(?P<v>a)b", "/(?i)api"])
def test_re2_paths_with_escapes_and_named_groups_are_accepted(path):
    hr.validate(params(path=path, path_type="RegularExpression"))


def test_absent_leaves_a_route_of_the_same_name_that_the_collection_did_not_make():
    kube = FakeKube()
    hr.reconcile(kube, params(), False, False)
    kube.routes[("gloo-system", "productpage")]["metadata"]["labels"] = {"team": "edge"}  # the user's own route
    kept = hr.reconcile(kube, params(state="absent"), False, True)
    assert not kept["changed"] and ("gloo-system", "productpage") in kube.routes
    assert kube.warnings == ["HTTPRoute gloo-system/productpage is not labelled app.kubernetes.io/managed-by="
                             "ambientmesh.multicluster, so this collection did not make it; left in place (delete it "
                             "yourself if it should go)"]
