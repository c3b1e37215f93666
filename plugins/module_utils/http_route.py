# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTPRoutes to global hostnames: validate the input, build the route, check its parent Gateways, apply it
and wait until every parent has accepted it and resolved its backends."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re
import time

from ansible_collections.ambientmesh.multicluster.plugins.module_utils.client import MANAGED_BY_LABEL, MANAGED_BY_VALUE, managed
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.compare import clean
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError
from ansible_collections.ambientmesh.multicluster.plugins.module_utils import wait

GATEWAY_API = "gateway.networking.k8s.io/v1"
GATEWAY_GROUP = "gateway.networking.k8s.io"
# The seed's backend: a hostname from Istio's registry (a mesh.internal ServiceEntry host or a Service FQDN).
HOSTNAME_BACKEND = {"kind": "Hostname", "group": "networking.istio.io"}
REFERENCE_GRANT_API = "gateway.networking.k8s.io/v1beta1"
# On the ReferenceGrants a route needs, naming it as <namespace>.<name>; they go when the route goes.
GRANT_ROUTE_LABEL = "ambientmesh.multicluster/http-route"
READY_CONDITIONS = ("Accepted", "ResolvedRefs")

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# Gateway API Duration (GEP-2257), as the HTTPRoute schema checks it.
DURATION = re.compile(r"^([0-9]{1,5}(h|m|s|ms)){1,4}$")
# Path rules the HTTPRoute schema enforces with CEL for PathPrefix and Exact.
BAD_PATH_PARTS = ("//", "/./", "/../", "%2f", "%2F", "#")


def _subdomain(value):
    return bool(value) and len(value) <= 253 and bool(DNS1123_SUBDOMAIN.match(value))


# Perl constructs RE2 (Envoy's regex engine) lacks and Python's re accepts: refused before compiling.
BACKREFERENCE = re.compile(r"\\[1-9]|\\g<")
NOT_RE2 = ((re.compile(r"\(\?<?[=!]"), "lookaround"), (re.compile(r"\(\?P="), "backreference"),
           (re.compile(r"\(\?>"), "atomic group"), (re.compile(r"[*+?}]\+"), "possessive quantifier"),
           (re.compile(r"\(\?\("), "conditional"))


def _check_regex(path):
    """Why `path` is not an RE2 expression the gateway's Envoy accepts (None when it is): the HTTPRoute schema
    takes any string, so a bad one is only refused later by the gateway, on a route already applied."""
    found = None
    unescaped = path.replace("\\\\", "")  # a literal backslash is not the start of an escape
    if BACKREFERENCE.search(unescaped):
        found = "backreference"
    bare = re.sub(r"\\.", "", unescaped)  # escaped characters are literals: '\(?=' is no lookahead
    for pattern, what in NOT_RE2:
        found = found or (what if pattern.search(bare) else None)
    if found:
        return ("path=%r uses a %s, which RE2 (the regex engine of the gateway's Envoy) does not support"
                % (path, found))
    try:
        # RE2 takes flag groups anywhere, Python only at the start: drop them for the syntax check
        re.compile(re.sub(r"\(\?[imsU-]+\)", "", path))
    except re.error as e:
        return "path=%r is not a valid regular expression: %s; fix it or use path_type PathPrefix" % (path, e)
    return None


def _check_path(path_type, path):
    if path_type == "RegularExpression":
        return _check_regex(path)
    if not path.startswith("/"):
        return "path=%r must start with '/' for path_type=%s" % (path, path_type)
    bad = [part for part in BAD_PATH_PARTS if part in path] + [e for e in ("/..", "/.") if path.endswith(e)]
    if bad:
        return "path=%r must not contain %s" % (path, " or ".join(repr(b) for b in bad))
    return None


def validate(params):
    """Every problem with the input at once, before anything is read or written."""
    problems = []
    if not _subdomain(params.get("name")):
        problems.append("name=%r is not a valid object name (lower-case DNS subdomain)" % params.get("name"))
    if not DNS1123_LABEL.match(params.get("namespace") or ""):
        problems.append("namespace=%r is not a valid namespace name" % params.get("namespace"))
    if params["state"] == "present":
        if not params.get("parent_refs"):
            problems.append("parent_refs is empty: name the Gateway the route attaches to, e.g. "
                            "[{name: http, namespace: gloo-system}]")
        for i, ref in enumerate(params.get("parent_refs") or []):
            if not _subdomain(ref.get("name")):
                problems.append("parent_refs[%d].name=%r is not a valid Gateway name" % (i, ref.get("name")))
            if ref.get("namespace") is not None and not DNS1123_LABEL.match(ref["namespace"]):
                problems.append("parent_refs[%d].namespace=%r is not a valid namespace name" % (i, ref["namespace"]))
            if ref.get("port") is not None and not 1 <= ref["port"] <= 65535:
                problems.append("parent_refs[%d].port=%s is out of range: use a Gateway listener port, 1-65535"
                                % (i, ref["port"]))
        path_problem = _check_path(params["path_type"], params["path"])
        if path_problem:
            problems.append(path_problem)
        if len(params["path"]) > 1024:
            problems.append("path is longer than 1024 characters")
        if not params.get("backends"):
            problems.append("backends is empty: give at least one {host, port}, e.g. "
                            "{host: productpage.bookinfo.mesh.internal, port: 9080}, or {service, namespace, port}")
        for i, backend in enumerate(params.get("backends") or []):
            if bool(backend.get("host")) == bool(backend.get("service")):
                problems.append("backends[%d] needs exactly one of host (a mesh hostname such as "
                                "productpage.bookinfo.mesh.internal) and service (a Service name)" % i)
            elif backend.get("host") and not _subdomain(backend["host"]):
                problems.append("backends[%d].host=%r is not a valid hostname (lower-case DNS name such as "
                                "productpage.bookinfo.mesh.internal)" % (i, backend.get("host")))
            elif backend.get("service") and not DNS1123_LABEL.match(backend["service"]):
                problems.append("backends[%d].service=%r is not a valid Service name" % (i, backend["service"]))
            if backend.get("namespace") is not None and not backend.get("service"):
                problems.append("backends[%d].namespace is only used with service" % i)
            elif backend.get("namespace") is not None and not DNS1123_LABEL.match(backend["namespace"]):
                problems.append("backends[%d].namespace=%r is not a valid namespace name" % (i, backend["namespace"]))
            if not 1 <= backend["port"] <= 65535:
                problems.append("backends[%d].port=%s is out of range: use the Service port, 1-65535 "
                                "(Bookinfo's productpage uses 9080)" % (i, backend["port"]))
            if backend.get("weight") is not None and not 0 <= backend["weight"] <= 1000000:
                problems.append("backends[%d].weight=%s is out of range: use 0-1000000" % (i, backend["weight"]))
        for i, host in enumerate(params.get("hostnames") or []):
            if not _subdomain(host[2:] if host.startswith("*.") else host):
                problems.append("hostnames[%d]=%r is not a valid hostname" % (i, host))
        for key, value in sorted((params.get("timeouts") or {}).items()):
            if value is not None and not DURATION.match(value):
                problems.append("timeouts.%s=%r is not a Gateway API duration: use e.g. 10s, 500ms or 1m30s"
                                % (key, value))
    if params.get("wait_timeout", 1) <= 0:
        problems.append("wait_timeout=%g must be a positive number of seconds" % params.get("wait_timeout"))
    if problems:
        raise MeshError("http_route %s/%s: %s" % (params.get("namespace"), params.get("name"), "; ".join(problems)))


def parent_refs(params):
    """parentRefs as the route declares them: the namespace always explicit (as in the seed)."""
    refs = []
    for ref in params["parent_refs"]:
        out = {"name": ref["name"], "namespace": ref.get("namespace") or params["namespace"]}
        if ref.get("section_name"):
            out["sectionName"] = ref["section_name"]
        if ref.get("port") is not None:
            out["port"] = ref["port"]
        refs.append(out)
    return refs


def _service_namespace(backend, params):
    return backend.get("namespace") or params["namespace"]


def build_route(params):
    backends = []
    for backend in params["backends"]:
        if backend.get("service"):
            ref = {"name": backend["service"], "port": backend["port"]}
            if _service_namespace(backend, params) != params["namespace"]:
                ref["namespace"] = backend["namespace"]
        else:
            ref = {"name": backend["host"], "port": backend["port"]}
            ref.update(HOSTNAME_BACKEND)
        if backend.get("weight") is not None:
            ref["weight"] = backend["weight"]
        backends.append(ref)
    rule = {"matches": [{"path": {"type": params["path_type"], "value": params["path"]}}], "backendRefs": backends}
    timeouts = params.get("timeouts") or {}
    wanted = dict((api_key, timeouts[key]) for key, api_key in (("request", "request"),
                                                                ("backend_request", "backendRequest"))
                  if timeouts.get(key))
    if wanted:
        rule["timeouts"] = wanted
    spec = {"parentRefs": parent_refs(params), "rules": [rule]}
    if params.get("hostnames"):
        spec["hostnames"] = list(params["hostnames"])
    return {"apiVersion": GATEWAY_API, "kind": "HTTPRoute",
            "metadata": {"name": params["name"], "namespace": params["namespace"],
                         "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE}},
            "spec": spec}


def grant_label(params):
    return "%s.%s" % (params["namespace"], params["name"])


def build_grants(params):
    """One ReferenceGrant per other namespace whose Services the route sends to: Gateway API refuses a
    cross-namespace backendRef without one (ResolvedRefs=False, RefNotPermitted)."""
    wanted = {}
    for backend in params.get("backends") or []:
        namespace = backend.get("service") and _service_namespace(backend, params)
        if namespace and namespace != params["namespace"]:
            wanted.setdefault(namespace, set()).add(backend["service"])
    return [{"apiVersion": REFERENCE_GRANT_API, "kind": "ReferenceGrant",
             "metadata": {"name": "%s-%s" % (params["namespace"], params["name"]), "namespace": namespace,
                          "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE, GRANT_ROUTE_LABEL: grant_label(params)}},
             "spec": {"from": [{"group": GATEWAY_GROUP, "kind": "HTTPRoute", "namespace": params["namespace"]}],
                      "to": [{"group": "", "kind": "Service", "name": name} for name in sorted(services)]}}
            for namespace, services in sorted(wanted.items())]


def reconcile_grants(kube, params, wanted, check_mode=False):
    """Apply the wanted ReferenceGrants and delete the route's others; returns (changed, [(before, after)]).

    In check mode a grant whose namespace does not exist yet (a dry run of a whole play) is reported as a
    change with a warning instead of failing the dry run."""
    changed, pairs = False, []
    names = set((g["metadata"]["namespace"], g["metadata"]["name"]) for g in wanted)
    for grant in wanted:
        namespace = grant["metadata"]["namespace"]
        if check_mode and kube.get("v1", "Namespace", namespace) is None:
            kube.warn("check mode: namespace %s does not exist yet, so ReferenceGrant %s/%s was not dry-run"
                      % (namespace, namespace, grant["metadata"]["name"]))
            changed = True
            pairs.append((None, grant))
            continue
        did, before, after = kube.apply(grant)
        changed = changed or did
        if did:
            pairs.append((before, after))
    for live in kube.list(REFERENCE_GRANT_API, "ReferenceGrant", None, "%s=%s" % (GRANT_ROUTE_LABEL, grant_label(params))):
        meta = live["metadata"]
        if (meta["namespace"], meta["name"]) not in names:
            before = kube.delete(REFERENCE_GRANT_API, "ReferenceGrant", meta["name"], meta["namespace"])
            if before is not None:
                changed = True
                pairs.append((before, None))
    return changed, pairs


def check_parents(kube, route, warn_only=False):
    """MeshError naming every parent Gateway that does not exist, before the route is applied.

    With warn_only (check mode) only a warning: in a dry run of a whole play the gateway role did not create it."""
    missing = ["%s/%s" % (ref["namespace"], ref["name"]) for ref in route["spec"]["parentRefs"]
               if kube.get(GATEWAY_API, "Gateway", ref["name"], ref["namespace"]) is None]
    if not missing:
        return
    msg = ("http_route %s/%s: parent Gateway %s not found: create it first (the gateway role makes gloo-system/http) "
           "or fix parent_refs" % (route["metadata"]["namespace"], route["metadata"]["name"], ", ".join(missing)))
    if warn_only:
        kube.warn("check mode: " + msg)
        return
    raise MeshError(msg, missing_parents=missing)


def _same_parent(status_ref, ref, route_namespace):
    return (status_ref.get("group", GATEWAY_GROUP) == GATEWAY_GROUP
            and status_ref.get("kind", "Gateway") == "Gateway"
            and status_ref.get("name") == ref["name"]
            and (status_ref.get("namespace") or route_namespace) == ref["namespace"]
            and status_ref.get("sectionName") == ref.get("sectionName")
            and status_ref.get("port") == ref.get("port"))


def _describe(cond):
    text = "%s=%s" % (cond.get("type"), cond.get("status"))
    detail = ": ".join(x for x in (cond.get("reason"), cond.get("message")) if x)
    return "%s (%s)" % (text, detail) if detail else text


def _entry_problems(entry, generation):
    """What keeps one controller's status entry from being ready ([] when Accepted and ResolvedRefs are True)."""
    conds = dict((c.get("type"), c) for c in entry.get("conditions") or [])
    bad = []
    for name in READY_CONDITIONS:
        cond = conds.get(name)
        if cond is None:
            bad.append("%s missing" % name)
        elif cond.get("status") != "True":
            bad.append(_describe(cond))
        elif generation and cond.get("observedGeneration", generation) < generation:
            bad.append("%s is for generation %s, route is at %s" % (name, cond["observedGeneration"], generation))
    if bad and entry.get("controllerName"):
        bad[-1] += " [%s]" % entry["controllerName"]
    return bad


def parent_problems(route, refs):
    """Why the route is not ready for each parent in refs ([] when all are): missing status, a condition that is
    not True, or status older than the route's current generation. One ready controller per parent is enough."""
    namespace = route["metadata"]["namespace"]
    generation = route["metadata"].get("generation")
    statuses = (route.get("status") or {}).get("parents") or []
    problems = []
    for ref in refs:
        where = "Gateway %s/%s%s" % (ref["namespace"], ref["name"],
                                     " section %s" % ref["sectionName"] if ref.get("sectionName") else "")
        entries = [s for s in statuses if _same_parent(s.get("parentRef") or {}, ref, namespace)]
        if not entries:
            problems.append("%s: no status from its controller yet" % where)
            continue
        reasons = [_entry_problems(entry, generation) for entry in entries]
        if all(reasons):
            problems.append("%s: %s" % (where, "; ".join(", ".join(r) for r in reasons)))
    return problems


def wait_ready(kube, route, timeout, interval=2.0, sleep=time.sleep, clock=time.monotonic):
    """Poll the route until parent_problems is empty; the timeout error lists the problems and the conditions."""
    meta = route["metadata"]
    refs = route["spec"]["parentRefs"]

    def poll():
        live = kube.get(GATEWAY_API, "HTTPRoute", meta["name"], meta["namespace"])
        if live is None:
            raise MeshError("http_route %s/%s: the route disappeared while waiting for its status"
                            % (meta["namespace"], meta["name"]))
        return live, parent_problems(live, refs)

    def timed_out(last):
        live, problems = last
        raise MeshError("http_route %s/%s: timed out after %gs waiting for Accepted and ResolvedRefs: %s; is "
                        "the Gateway's controller running and are the backend hosts known to the mesh?"
                        % (meta["namespace"], meta["name"], timeout, "; ".join(problems)),
                        route_status=live.get("status") or {}, problems=problems)

    live, _problems = wait.until(poll, timeout, interval, done=lambda last: not last[1], on_timeout=timed_out,
                                 sleep=sleep, clock=clock)
    return live


def view(obj):
    """What --diff and the result show: identity, labels, annotations and spec (no server bookkeeping)."""
    if obj is None:
        return {}
    obj = clean(obj)
    meta = obj.get("metadata") or {}
    out = {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"),
           "metadata": dict((k, meta[k]) for k in ("name", "namespace", "labels", "annotations") if k in meta),
           "spec": obj.get("spec")}
    return copy.deepcopy(out)


def reconcile(kube, params, check_mode, diff):
    validate(params)
    name, namespace = params["name"], params["namespace"]
    if params["state"] == "absent":
        before = None
        live = kube.get(GATEWAY_API, "HTTPRoute", name, namespace)
        if live is not None and not managed(live):
            # a route of the same name that the user made: teardown must not take it with ours
            kube.warn("HTTPRoute %s/%s is not labelled %s=%s, so this collection did not make it; left in place "
                      "(delete it yourself if it should go)" % (namespace, name, MANAGED_BY_LABEL, MANAGED_BY_VALUE))
        elif live is not None:
            before = kube.delete(GATEWAY_API, "HTTPRoute", name, namespace)
        granted, grants = reconcile_grants(kube, params, [])
        result = {"changed": before is not None or granted, "route": {}}
        if diff:
            result["diff"] = [{"before": view(before), "after": {}}] + _grant_diffs(grants) if grants else \
                {"before": view(before), "after": {}}
        return result

    route = build_route(params)
    check_parents(kube, route, check_mode and params.get("missing_parents_in_check_mode", "warn") == "warn")
    wanted_grants = build_grants(params)
    granted, grants = reconcile_grants(kube, params, wanted_grants, check_mode)
    changed, before, after = kube.apply(route)
    if params.get("wait") and not check_mode:
        after = wait_ready(kube, route, params["wait_timeout"])
    result = {"changed": changed or granted, "route": dict(view(after), status=after.get("status") or {}),
              "reference_grants": ["%s/%s" % (g["metadata"]["namespace"], g["metadata"]["name"])
                                   for g in wanted_grants]}
    if diff:
        result["diff"] = [{"before": view(before), "after": view(after)}] + _grant_diffs(grants) if grants else \
            {"before": view(before), "after": view(after)}
    return result


def _grant_diffs(pairs):
    return [{"before_header": "ReferenceGrant", "before": view(b), "after": view(a)} for b, a in pairs]
