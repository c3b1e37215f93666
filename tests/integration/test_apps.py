"""Issue 7 against real API servers: the global_service and http_route modules, and the enroll, bookinfo and
expose roles (apps.yml, ingress.yml's expose play, the teardown entry points)."""

import json
import re
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = Path(__file__).parent / "playbooks" / "apps"
GLOBAL = "solo.io/service-scope"
TRAFFIC = "networking.istio.io/traffic-distribution"
AMBIENT = "istio.io/dataplane-mode"
WORKLOADS = ["details-v1", "productpage-v1", "ratings-v1", "reviews-v1", "reviews-v2", "reviews-v3"]


# ---- helpers ---------------------------------------------------------------------------------------------
def get(kubectl, cluster, *args):
    """The object(s) as a dict, or None when kubectl says NotFound."""
    proc = kubectl(cluster, "get", *args, "-o", "json", check=False)
    if proc.returncode != 0:
        assert "NotFound" in proc.stderr, proc.stderr
        return None
    return json.loads(proc.stdout)


def apply(kubectl, cluster, *docs):
    kubectl(cluster, "apply", "--server-side", "--field-manager=test", "-f", "-", input=yaml.safe_dump_all(docs))


def labels(obj):
    return (obj or {}).get("metadata", {}).get("labels") or {}


def annotations(obj):
    return (obj or {}).get("metadata", {}).get("annotations") or {}


def service(name, namespace, extra_labels=None):
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace, "labels": dict({"app": name}, **(extra_labels or {}))},
            "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 9080}]}}


def service_entry(name, host):
    return {"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
            "metadata": {"name": name, "namespace": "istio-system",
                         "labels": {"solo.io/parent-service": host.split(".")[0],
                                    "solo.io/parent-service-namespace": host.split(".")[1]}},
            "spec": {"hosts": [host], "location": "MESH_INTERNAL", "resolution": "STATIC",
                     "ports": [{"number": 9080, "name": "http", "protocol": "HTTP"}]}}


def gateway(namespace, name="http"):
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"gatewayClassName": "gloo-gateway",
                     "listeners": [{"name": "http", "port": 8080, "protocol": "HTTP",
                                    "allowedRoutes": {"namespaces": {"from": "All"}}}]}}


def set_route_status(kubectl, cluster, namespace, name, resolved=True, message="all refs resolved"):
    """What a Gloo controller would write: one parent entry with Accepted and ResolvedRefs for this generation."""
    route = get(kubectl, cluster, "httproute", name, "-n", namespace)
    gen = route["metadata"]["generation"]
    conds = [{"type": "Accepted", "status": "True", "reason": "Accepted", "message": "test",
              "observedGeneration": gen, "lastTransitionTime": "2000-01-01T00:00:00Z"},
             {"type": "ResolvedRefs", "status": "True" if resolved else "False",
              "reason": "ResolvedRefs" if resolved else "BackendNotFound", "message": message,
              "observedGeneration": gen, "lastTransitionTime": "2000-01-01T00:00:00Z"}]
    ref = route["spec"]["parentRefs"][0]
    status = {"parents": [{"parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                         "name": ref["name"], "namespace": ref.get("namespace", namespace)},
                           "controllerName": "solo.io/gloo-gateway", "conditions": conds}]}
    kubectl(cluster, "patch", "httproute", name, "-n", namespace, "--subresource=status", "--type=merge",
            "-p", json.dumps({"status": status}))


def diff_lines(stdout, sign):
    return [line for line in stdout.splitlines() if line.startswith(sign) and not line.startswith(sign * 3)]


@pytest.fixture
def call(run_playbook, tmp_path):
    """call(playbook, inventory, target, check=False, diff=False, **vars) -> PlaybookResult whose .out is the
    module result the playbook saved (None when the task failed)."""
    counter = [0]

    def _call(playbook, inventory, target, check=False, diff=False, **extra):
        counter[0] += 1
        out = tmp_path / ("out%d" % counter[0])
        out.mkdir()
        res = run_playbook(PLAYBOOKS / playbook, inventory, extra_vars=dict(extra, target=target, result_dir=str(out)),
                           check=check, diff=diff)
        saved = out / ("%s.json" % target)
        res.out = json.loads(saved.read_text()) if saved.exists() else None
        return res
    return _call


# ---- global_service --------------------------------------------------------------------------------------
def test_global_service_solo(call, make_inventory, kubectl, cluster_names):
    c = cluster_names[0]
    ns = "gs-solo"
    inv = make_inventory(cluster_names[:2])
    kubectl(c, "create", "namespace", ns)
    kubectl(c, "create", "namespace", "istio-system", check=False)
    apply(kubectl, c, service("productpage", ns), service("reviews", ns), service("details", ns, {"keep": "me"}))
    try:

        def svc(name):
            return get(kubectl, c, "service", name, "-n", ns)
        args = dict(gs_services=["productpage"], gs_namespace=ns, gs_traffic_distribution="Any")

        res = call("global_service.yml", inv, c, check=True, **args)
        assert res.rc == 0 and res.changed == 1, res
        assert res.out["hosts"] == ["productpage.%s.mesh.internal" % ns]
        assert GLOBAL not in labels(svc("productpage")), "check mode must not label the Service"

        res = call("global_service.yml", inv, c, **args)
        assert res.rc == 0 and res.changed == 1, res
        live = svc("productpage")
        assert labels(live)[GLOBAL] == "global" and labels(live)["app"] == "productpage"
        assert annotations(live)[TRAFFIC] == "Any"
        assert res.out["services"] == [{"name": "productpage", "namespace": ns, "changed": True,
                                        "host": "productpage.%s.mesh.internal" % ns}]

        res = call("global_service.yml", inv, c, **args)
        assert res.rc == 0 and res.changed == 0, res

        res = call("global_service.yml", inv, c, check=True, diff=True,
                   **dict(args, gs_traffic_distribution="PreferNetwork"))
        assert res.rc == 0 and res.changed == 1, res
        assert any(line.endswith(TRAFFIC + ": Any") for line in diff_lines(res.stdout, "-")), res.stdout
        assert any(line.endswith(TRAFFIC + ": PreferNetwork") for line in diff_lines(res.stdout, "+")), res.stdout
        assert annotations(svc("productpage"))[TRAFFIC] == "Any", "check mode with diff must not write"

        # The mesh has programmed productpage: the wait finds its ServiceEntry.
        apply(kubectl, c, service_entry("autogen.%s.productpage" % ns, "productpage.%s.mesh.internal" % ns))
        res = call("global_service.yml", inv, c, **dict(args, gs_wait=True, gs_wait_timeout=20))
        assert res.rc == 0 and res.changed == 0, res
        assert res.out["service_entries"] == {"productpage.%s.mesh.internal" % ns: "autogen.%s.productpage" % ns}

        # Nobody programs reviews: the timeout says which host is missing where.
        res = call("global_service.yml", inv, c, **dict(args, gs_services=["reviews"], gs_wait=True, gs_wait_timeout=3))
        assert res.rc != 0, res
        assert ("timed out after 3s waiting for the mesh to program reviews.%s.mesh.internal: no ServiceEntry in "
                "namespace istio-system has host(s) reviews.%s.mesh.internal" % (ns, ns)) in res.stdout, res

        # Bad input fails before anything is written.
        res = call("global_service.yml", inv, c, gs_services=["details"], gs_namespace=ns, gs_distribution="istio")
        assert res.rc != 0 and "value of distribution must be one of: solo, upstream, got: istio" in res.stdout, res
        res = call("global_service.yml", inv, c, gs_services=["details"], gs_namespace=ns,
                   gs_traffic_distribution="Sideways")
        assert res.rc != 0 and "traffic_distribution='Sideways' is not supported with distribution=solo" in res.stdout
        res = call("global_service.yml", inv, c, gs_services=["details", "ghost"], gs_namespace=ns)
        assert res.rc != 0 and "Service(s) ghost not found in namespace %s" % ns in res.stdout, res
        assert labels(svc("details")) == {"app": "details", "keep": "me"}

        # absent: check mode keeps everything, then only our label and annotation go.
        absent = dict(gs_services=["productpage", "reviews"], gs_namespace=ns, gs_state="absent")
        res = call("global_service.yml", inv, c, check=True, **absent)
        assert res.rc == 0 and res.changed == 1 and labels(svc("productpage"))[GLOBAL] == "global", res
        res = call("global_service.yml", inv, c, **absent)
        assert res.rc == 0 and res.changed == 1, res
        for name in ("productpage", "reviews"):
            assert labels(svc(name)) == {"app": name} and TRAFFIC not in annotations(svc(name))
        res = call("global_service.yml", inv, c, **absent)
        assert res.rc == 0 and res.changed == 0, res
    finally:
        kubectl(c, "delete", "namespace", ns, "--wait=false")
        kubectl(c, "delete", "serviceentry", "-n", "istio-system", "autogen.%s.productpage" % ns, check=False)


def test_global_service_upstream(call, make_inventory, kubectl, cluster_names):
    c = cluster_names[1]
    ns = "gs-upstream"
    inv = make_inventory(cluster_names[:2])
    kubectl(c, "create", "namespace", ns)
    apply(kubectl, c, service("productpage", ns))
    try:
        args = dict(gs_services=["productpage"], gs_namespace=ns, gs_distribution="upstream")
        res = call("global_service.yml", inv, c, **dict(args, gs_wait=True))
        assert res.rc == 0 and res.changed == 1, res
        assert res.out["hosts"] == ["productpage.%s.svc.cluster.local" % ns]
        assert "nothing to wait for" in res.stdout + res.stderr, res
        live = get(kubectl, c, "service", "productpage", "-n", ns)
        assert labels(live)["istio.io/global"] == "true" and live["spec"]["trafficDistribution"] == "PreferClose"
        assert GLOBAL not in labels(live) and TRAFFIC not in annotations(live)

        res = call("global_service.yml", inv, c, **args)
        assert res.rc == 0 and res.changed == 0, res
        res = call("global_service.yml", inv, c, **dict(args, gs_takeover=True))
        assert res.rc != 0 and "takeover=true needs distribution=solo" in res.stdout, res

        res = call("global_service.yml", inv, c, **dict(args, gs_state="absent"))
        assert res.rc == 0 and res.changed == 1, res
        live = get(kubectl, c, "service", "productpage", "-n", ns)
        assert "istio.io/global" not in labels(live) and not live["spec"].get("trafficDistribution")
    finally:
        kubectl(c, "delete", "namespace", ns, "--wait=false")


# ---- http_route ------------------------------------------------------------------------------------------
def test_http_route(call, make_inventory, kubectl, cluster_names):
    c = cluster_names[0]
    ns = "route-test"
    inv = make_inventory(cluster_names[:2])
    kubectl(c, "create", "namespace", ns)
    apply(kubectl, c, gateway(ns))

    def route(name="productpage"):
        return get(kubectl, c, "httproute", name, "-n", ns)
    seed = dict(route_name="productpage", route_namespace=ns, route_parent_refs=[{"name": "http", "namespace": ns}],
                route_path="/productpage", route_backends=[{"host": "productpage.bookinfo.mesh.internal", "port": 9080}])
    try:
        res = call("http_route.yml", inv, c, **dict(seed, route_parent_refs=[{"name": "nope"}]))
        assert res.rc != 0 and "parent Gateway %s/nope not found" % ns in res.stdout, res
        res = call("http_route.yml", inv, c, **dict(seed, route_path_type="Prefix"))
        assert res.rc != 0 and "value of path_type must be one of: PathPrefix, Exact, RegularExpression, got: Prefix" \
            in res.stdout, res
        res = call("http_route.yml", inv, c, **dict(seed, route_backends=[
            {"host": "productpage.bookinfo.mesh.internal", "port": 70000}]))
        assert res.rc != 0 and "backends[0].port=70000 is out of range" in res.stdout, res
        assert route() is None, "bad input must not create the route"

        res = call("http_route.yml", inv, c, check=True, **seed)
        assert res.rc == 0 and res.changed == 1 and res.out["route"]["spec"]["rules"], res
        assert route() is None, "check mode must not create the route"

        res = call("http_route.yml", inv, c, **seed)
        assert res.rc == 0 and res.changed == 1, res
        live = get(kubectl, c, "httproute", "productpage", "-n", ns, "--show-managed-fields")
        assert labels(live)["app.kubernetes.io/managed-by"] == "ambientmesh.multicluster"
        assert live["spec"]["parentRefs"][0]["name"] == "http" and live["spec"]["parentRefs"][0]["namespace"] == ns
        rule = live["spec"]["rules"][0]
        assert rule["matches"][0]["path"] == {"type": "PathPrefix", "value": "/productpage"}
        backend = rule["backendRefs"][0]
        assert (backend["name"], backend["port"], backend["kind"], backend["group"]) == (
            "productpage.bookinfo.mesh.internal", 9080, "Hostname", "networking.istio.io")
        managers = {m["manager"] for m in live["metadata"]["managedFields"] if m["operation"] == "Apply"}
        assert "ambientmesh-multicluster" in managers

        res = call("http_route.yml", inv, c, **seed)
        assert res.rc == 0 and res.changed == 0, res

        res = call("http_route.yml", inv, c, check=True, diff=True, **dict(seed, route_path="/reviews"))
        assert res.rc == 0 and res.changed == 1, res
        assert any(line.endswith("value: /productpage") for line in diff_lines(res.stdout, "-")), res.stdout
        assert any(line.endswith("value: /reviews") for line in diff_lines(res.stdout, "+")), res.stdout
        assert route()["spec"]["rules"][0]["matches"][0]["path"]["value"] == "/productpage"

        weighted = dict(seed, route_timeouts={"request": "15s", "backend_request": "5s"}, route_backends=[
            {"host": "productpage.bookinfo.mesh.internal", "port": 9080, "weight": 90},
            {"host": "productpage.canary.mesh.internal", "port": 9080, "weight": 10}])
        res = call("http_route.yml", inv, c, **weighted)
        assert res.rc == 0 and res.changed == 1, res
        rule = route()["spec"]["rules"][0]
        assert rule["timeouts"] == {"request": "15s", "backendRequest": "5s"}
        assert [b["weight"] for b in rule["backendRefs"]] == [90, 10]

        # A controller accepts the route: the wait returns with the status.
        set_route_status(kubectl, c, ns, "productpage")
        res = call("http_route.yml", inv, c, **dict(weighted, route_wait=True, route_wait_timeout=20))
        assert res.rc == 0 and res.changed == 0, res
        assert res.out["route"]["status"]["parents"][0]["conditions"][1]["status"] == "True"

        # The controller cannot resolve a backend: the timeout shows that condition.
        set_route_status(kubectl, c, ns, "productpage", resolved=False,
                         message="unknown hostname(s): productpage.canary.mesh.internal")
        res = call("http_route.yml", inv, c, **dict(weighted, route_wait=True, route_wait_timeout=3))
        assert res.rc != 0, res
        assert "timed out after 3s waiting for Accepted and ResolvedRefs: Gateway %s/http: ResolvedRefs=False " \
               "(BackendNotFound: unknown hostname(s): productpage.canary.mesh.internal)" % ns in res.stdout, res

        # No controller at all: the timeout says no status arrived.
        res = call("http_route.yml", inv, c, **dict(seed, route_name="nostatus", route_wait=True, route_wait_timeout=2))
        assert res.rc != 0 and "Gateway %s/http: no status from its controller yet" % ns in res.stdout, res

        absent = dict(route_name="productpage", route_namespace=ns, route_state="absent")
        res = call("http_route.yml", inv, c, check=True, **absent)
        assert res.rc == 0 and res.changed == 1 and route() is not None, res
        res = call("http_route.yml", inv, c, diff=True, **absent)
        assert res.rc == 0 and res.changed == 1 and route() is None, res
        res = call("http_route.yml", inv, c, **absent)
        assert res.rc == 0 and res.changed == 0, res
    finally:
        kubectl(c, "delete", "namespace", ns, "--wait=false")


# ---- roles: apps.yml (enroll + bookinfo), ingress.yml's expose play, teardown -----------------------------
def _deployments(kubectl, cluster):
    return dict((d["metadata"]["name"], d) for d in
                (get(kubectl, cluster, "deployments", "-n", "bookinfo") or {"items": []})["items"])


def test_apps_expose_and_teardown(run_playbook, make_inventory, kubectl, cluster_names):
    ingress, other = cluster_names[:2]
    inv = make_inventory(cluster_names[:2], ingress=[ingress])
    apps = REPO / "playbooks" / "apps.yml"
    figures = {}
    kubectl(ingress, "create", "namespace", "gloo-system")
    kubectl(ingress, "label", "namespace", "gloo-system", "team=edge")
    try:
        # Check mode on clean clusters: nothing is created.
        res = run_playbook(apps, inv, check=True)
        assert res.rc == 0 and res.changed >= 2, res
        for c in (ingress, other):
            assert get(kubectl, c, "namespace", "bookinfo") is None
        assert AMBIENT not in labels(get(kubectl, ingress, "namespace", "gloo-system"))

        started = time.monotonic()
        res = run_playbook(apps, inv)
        figures["apps.yml first run (s)"] = round(time.monotonic() - started, 1)
        assert res.rc == 0, res
        for c in (ingress, other):
            assert labels(get(kubectl, c, "namespace", "bookinfo"))[AMBIENT] == "ambient"
            deployments = _deployments(kubectl, c)
            assert sorted(deployments) == WORKLOADS
            for name, dep in deployments.items():
                assert dep["status"].get("availableReplicas") == 1, (c, name, dep["status"])
                container = dep["spec"]["template"]["spec"]["containers"][0]
                assert container["image"] == "docker.io/istio/examples-bookinfo-%s:1.20.3" % name
                assert dep["spec"]["template"]["spec"]["serviceAccountName"] == "bookinfo-" + name.split("-")[0]
            services = get(kubectl, c, "services", "-n", "bookinfo")["items"]
            assert sorted((s["metadata"]["name"], s["spec"]["ports"][0]["port"]) for s in services) == [
                ("details", 9080), ("productpage", 9080), ("ratings", 9080), ("reviews", 9080)]
            accounts = {s["metadata"]["name"] for s in get(kubectl, c, "serviceaccounts", "-n", "bookinfo")["items"]}
            assert {"bookinfo-details", "bookinfo-productpage", "bookinfo-ratings", "bookinfo-reviews"} <= accounts
        assert labels(get(kubectl, ingress, "namespace", "gloo-system")) == {
            AMBIENT: "ambient", "team": "edge", "kubernetes.io/metadata.name": "gloo-system"}
        assert get(kubectl, other, "namespace", "gloo-system") is None, "gloo-system only on ingress clusters"

        started = time.monotonic()
        res = run_playbook(apps, inv)
        figures["apps.yml rerun (s)"] = round(time.monotonic() - started, 1)
        assert res.rc == 0 and res.changed == 0, res

        res = run_playbook(apps, inv, check=True, diff=True, extra_vars={"bookinfo_image_tag": "1.20.4"})
        assert res.rc == 0 and res.changed == 2, res
        section = res.stdout[res.stdout.index("Deployment/productpage-v1:"):]
        assert re.search(r"after:(?:\n .*)*image: docker.io/istio/examples-bookinfo-productpage-v1:1\.20\.4", section)
        assert re.search(r"before:(?:\n .*)*image: docker.io/istio/examples-bookinfo-productpage-v1:1\.20\.3", section)
        assert _deployments(kubectl, ingress)["productpage-v1"]["spec"]["template"]["spec"]["containers"][0][
            "image"].endswith(":1.20.3")

        # expose: a bad route fails on the ingress cluster before any cluster's Service is touched.
        ingress_pb = REPO / "playbooks" / "ingress.yml"
        bad = {"expose_routes": [{"name": "productpage", "namespace": "gloo-system",
                                  "parent_refs": [{"name": "http", "namespace": "gloo-system"}], "path": "/productpage",
                                  "backends": [{"host": "productpage.bookinfo.mesh.internal", "port": 70000}]}]}
        apply(kubectl, ingress, gateway("gloo-system"))
        res = run_playbook(ingress_pb, inv, tags="expose", extra_vars=[bad, {"expose_wait": False}])
        assert res.rc != 0 and "backends[0].port=70000 is out of range" in res.stdout, res
        for c in (ingress, other):
            assert GLOBAL not in labels(get(kubectl, c, "service", "productpage", "-n", "bookinfo"))
        kubectl(ingress, "delete", "gateway", "http", "-n", "gloo-system")
        res = run_playbook(ingress_pb, inv, tags="expose", extra_vars={"expose_wait": False})
        assert res.rc != 0 and "parent Gateway gloo-system/http not found" in res.stdout, res
        assert GLOBAL not in labels(get(kubectl, other, "service", "productpage", "-n", "bookinfo"))
        apply(kubectl, ingress, gateway("gloo-system"))

        res = run_playbook(ingress_pb, inv, tags="expose", check=True, extra_vars={"expose_wait": False})
        assert res.rc == 0 and res.changed == 3, res
        assert get(kubectl, ingress, "httproute", "productpage", "-n", "gloo-system") is None

        started = time.monotonic()
        res = run_playbook(ingress_pb, inv, tags="expose", extra_vars={"expose_wait": False})
        figures["expose first run (s)"] = round(time.monotonic() - started, 1)
        assert res.rc == 0 and res.changed == 3, res
        for c in (ingress, other):
            svc = get(kubectl, c, "service", "productpage", "-n", "bookinfo")
            assert labels(svc)[GLOBAL] == "global" and annotations(svc)[TRAFFIC] == "Any"
            assert GLOBAL not in labels(get(kubectl, c, "service", "reviews", "-n", "bookinfo"))
        live = get(kubectl, ingress, "httproute", "productpage", "-n", "gloo-system")
        assert live["spec"]["parentRefs"][0] == {"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                                 "name": "http", "namespace": "gloo-system"}
        assert live["spec"]["rules"][0]["backendRefs"][0]["name"] == "productpage.bookinfo.mesh.internal"
        assert kubectl(other, "get", "httproutes", "-A", "-o", "name").stdout.strip() == ""

        # Re-applying bookinfo keeps the global label (separate field managers).
        res = run_playbook(apps, inv)
        assert res.rc == 0 and res.changed == 0, res
        assert labels(get(kubectl, other, "service", "productpage", "-n", "bookinfo"))[GLOBAL] == "global"

        # With the mesh and the gateway doing their part, the waits pass and nothing changes.
        for c in (ingress, other):
            kubectl(c, "create", "namespace", "istio-system", check=False)
            apply(kubectl, c, service_entry("autogen.bookinfo.productpage", "productpage.bookinfo.mesh.internal"))
        set_route_status(kubectl, ingress, "gloo-system", "productpage")
        started = time.monotonic()
        res = run_playbook(ingress_pb, inv, tags="expose", extra_vars={"expose_wait_timeout": 20})
        figures["expose rerun with waits (s)"] = round(time.monotonic() - started, 1)
        assert res.rc == 0 and res.changed == 0, res

        teardown = PLAYBOOKS / "teardown.yml"
        res = run_playbook(teardown, inv, check=True)
        assert res.rc == 0 and res.changed > 0, res
        assert get(kubectl, ingress, "httproute", "productpage", "-n", "gloo-system") is not None
        started = time.monotonic()
        res = run_playbook(teardown, inv)
        figures["teardown (s)"] = round(time.monotonic() - started, 1)
        assert res.rc == 0, res
        assert get(kubectl, ingress, "httproute", "productpage", "-n", "gloo-system") is None
        for c in (ingress, other):
            assert get(kubectl, c, "namespace", "bookinfo") is None
        assert labels(get(kubectl, ingress, "namespace", "gloo-system")) == {
            "team": "edge", "kubernetes.io/metadata.name": "gloo-system"}
        res = run_playbook(teardown, inv)
        assert res.rc == 0 and res.changed == 0, res
        print("\nfigures:", json.dumps(figures))
    finally:
        for c in (ingress, other):
            kubectl(c, "delete", "namespace", "bookinfo", "--wait=false", check=False)
            kubectl(c, "delete", "serviceentry", "-n", "istio-system", "autogen.bookinfo.productpage", check=False)
        # test_gateway's first assertion is an ingress cluster without gloo-system: wait until it is really gone
        kubectl(ingress, "delete", "namespace", "gloo-system", "--wait=true", "--timeout=120s", check=False)


def test_role_argument_specs_reject_bad_input(run_playbook, make_inventory, kubectl, cluster_names):
    inv = make_inventory(cluster_names[:2])
    res = run_playbook(REPO / "playbooks" / "apps.yml", inv, extra_vars={"enroll_state": "gone"})
    assert res.rc != 0 and re.search(r"enroll_state.*must be one of: present, absent", res.stdout), res
    res = run_playbook(REPO / "playbooks" / "ingress.yml", inv, tags="expose",
                       extra_vars={"mesh_distribution": "istio"})
    # the distribution is a cluster fact: the preflight names the host variable before any role runs
    assert res.rc != 0 and "mesh_distribution='istio' is not a distribution: use one of solo, upstream" in res.stdout, res
    for c in cluster_names[:2]:
        assert get(kubectl, c, "namespace", "bookinfo") is None


def test_a_namespace_name_kubernetes_would_refuse_is_named_before_bookinfo_writes(run_playbook, make_inventory,
                                                                                  kubectl, cluster_names):
    inv = make_inventory(cluster_names[:2])
    res = run_playbook(REPO / "playbooks" / "apps.yml", inv, tags="bookinfo", extra_vars={"bookinfo_namespace": "Bad_NS"})
    assert res.rc != 0, res
    assert "bookinfo_namespace=Bad_NS is not a namespace name: use lower case letters, digits and '-', at most 63 " \
           "characters (e.g. bad-ns)" in " ".join(res.stdout.split()), res
    for c in cluster_names[:2]:
        assert get(kubectl, c, "namespace", "bad-ns") is None and get(kubectl, c, "namespace", "Bad_NS") is None
