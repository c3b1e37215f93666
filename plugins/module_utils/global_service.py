# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Global services: mark Services global the way each Istio distribution expects, name their global hostname,
and optionally wait until the mesh has programmed that hostname."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time

from ansible_collections.ambientmesh.multicluster.plugins.module_utils.client import FIELD_MANAGER
from ansible_collections.ambientmesh.multicluster.plugins.module_utils import distributions
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.distributions import global_host
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError
from ansible_collections.ambientmesh.multicluster.plugins.module_utils import wait

TRAFFIC_ANNOTATION = "networking.istio.io/traffic-distribution"
SERVICE_ENTRY_API = "networking.istio.io/v1"

# What "global" means per distribution (docs/istio-facts.md, Global names). `traffic_distribution_at` says where the
# preference goes; `programmed_by` is the object the mesh creates once it knows the global host (None: only
# istiod's memory, nothing to wait for).
GLOBAL = dict((name, entry["global"]) for name, entry in distributions.DISTRIBUTIONS.items())
DISTRIBUTIONS = {
    "solo": {
        "labels": GLOBAL["solo"]["labels"],
        "takeover_label": "solo.io/service-takeover",
        "domain": GLOBAL["solo"]["domain"],
        "traffic_distribution_at": "annotation",
        "traffic_distribution_default": None,
        "traffic_distributions": ("Any", "PreferNetwork", "PreferClose", "PreferSameZone", "PreferSameNode"),
        "programmed_by": "ServiceEntry",
    },
    "upstream": {
        "labels": GLOBAL["upstream"]["labels"],
        "takeover_label": None,
        "domain": GLOBAL["upstream"]["domain"],
        "traffic_distribution_at": "spec",
        "traffic_distribution_default": "PreferClose",
        "traffic_distributions": ("PreferClose", "PreferSameZone", "PreferSameNode"),
        "programmed_by": None,
    },
}

DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def traffic_distribution(params):
    """The preference to set: the one asked for, else the distribution's default (may be None)."""
    spec = DISTRIBUTIONS[params["distribution"]]
    return params.get("traffic_distribution") or spec["traffic_distribution_default"]


def validate(params):
    """Every problem with the input at once, before anything is read or written."""
    spec = DISTRIBUTIONS[params["distribution"]]
    problems = []
    if not params.get("services"):
        problems.append("services is empty: list the Service names to make global")
    for i, name in enumerate(params.get("services") or []):
        if not DNS1035_LABEL.match(name or ""):
            problems.append("services[%d]=%r is not a valid Service name (lower-case letters, digits and '-', "
                            "starting with a letter, at most 63 characters)" % (i, name))
    if not DNS1123_LABEL.match(params.get("namespace") or ""):
        problems.append("namespace=%r is not a valid namespace name" % params.get("namespace"))
    wanted = params.get("traffic_distribution")
    if wanted and wanted not in spec["traffic_distributions"]:
        problems.append("traffic_distribution=%r is not supported with distribution=%s: use one of %s"
                        % (wanted, params["distribution"], ", ".join(spec["traffic_distributions"])))
    if params.get("takeover") and not spec["takeover_label"]:
        problems.append("takeover=true needs distribution=solo (%s has no service takeover): set takeover=false"
                        % params["distribution"])
    if params.get("wait_timeout", 1) <= 0:
        problems.append("wait_timeout=%g must be a positive number of seconds" % params.get("wait_timeout"))
    if problems:
        raise MeshError("global_service: " + "; ".join(problems))


def desired_service(name, params):
    """The partial Service we server-side apply: only the fields that make it global."""
    spec = DISTRIBUTIONS[params["distribution"]]
    labels = dict(spec["labels"])
    if params.get("takeover"):
        labels[spec["takeover_label"]] = "true"
    obj = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": name, "namespace": params["namespace"], "labels": labels}}
    preference = traffic_distribution(params)
    if preference and spec["traffic_distribution_at"] == "annotation":
        obj["metadata"]["annotations"] = {TRAFFIC_ANNOTATION: preference}
    elif preference:
        obj["spec"] = {"trafficDistribution": preference}
    return obj


def managers(live, path):
    """The field managers whose managedFields entries claim the field at path (e.g. ('spec', 'trafficDistribution'))."""
    out = set()
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        node = entry.get("fieldsV1") or {}
        for key in path:
            node = node.get("f:" + key) if isinstance(node, dict) else None
        if node is not None:
            out.add(entry.get("manager"))
    return out


def owned_by(live, path, manager=FIELD_MANAGER):
    """True when only `manager` claims the field at path: a field someone else also set is theirs to keep."""
    return managers(live, path) == {manager}


def removal_patch(live, distribution):
    """Merge patch that makes live local again: only the labels, annotation and traffic preference that we alone
    set (a user's own global label or trafficDistribution stays). None when nothing is to remove."""
    spec = DISTRIBUTIONS[distribution]
    meta = live.get("metadata") or {}
    patch = {}
    keys = list(spec["labels"]) + ([spec["takeover_label"]] if spec["takeover_label"] else [])
    labels = dict((k, None) for k in keys if k in (meta.get("labels") or {}) and owned_by(live, ("metadata", "labels", k)))
    if labels:
        patch["metadata"] = {"labels": labels}
    if spec["traffic_distribution_at"] == "annotation":
        if TRAFFIC_ANNOTATION in (meta.get("annotations") or {}) and owned_by(
                live, ("metadata", "annotations", TRAFFIC_ANNOTATION)):
            patch.setdefault("metadata", {})["annotations"] = {TRAFFIC_ANNOTATION: None}
    elif (live.get("spec") or {}).get("trafficDistribution") and owned_by(live, ("spec", "trafficDistribution")):
        patch["spec"] = {"trafficDistribution": None}
    return patch or None


def view(svc, distribution):
    """The global-service fields of a Service, as --diff shows them."""
    if svc is None:
        return {}
    spec = DISTRIBUTIONS[distribution]
    meta = svc.get("metadata") or {}
    keys = set(spec["labels"]) | set([spec["takeover_label"]] if spec["takeover_label"] else [])
    out = {"labels": dict((k, v) for k, v in (meta.get("labels") or {}).items() if k in keys)}
    if TRAFFIC_ANNOTATION in (meta.get("annotations") or {}):
        out["annotations"] = {TRAFFIC_ANNOTATION: meta["annotations"][TRAFFIC_ANNOTATION]}
    if (svc.get("spec") or {}).get("trafficDistribution"):
        out["trafficDistribution"] = svc["spec"]["trafficDistribution"]
    return out


def missing_hosts(hosts, service_entries):
    """(found, missing): found maps each host to the ServiceEntry that carries it."""
    found = {}
    for entry in service_entries:
        for host in (entry.get("spec") or {}).get("hosts") or []:
            if host in hosts and host not in found:
                found[host] = entry["metadata"]["name"]
    return found, [h for h in hosts if h not in found]


def wait_programmed(kube, hosts, namespace, timeout, interval=2.0, sleep=time.sleep, clock=time.monotonic):
    """Poll ServiceEntries in namespace until every host is in one; MeshError naming the missing hosts."""
    def timed_out(last):
        found, missing = last
        raise MeshError(
            "global_service: timed out after %gs waiting for the mesh to program %s: no ServiceEntry in "
            "namespace %s has host(s) %s; check that istiod runs with peering enabled and this cluster is "
            "linked, or raise wait_timeout" % (timeout, ", ".join(hosts), namespace, ", ".join(missing)),
            missing_hosts=missing, service_entries=found)

    found, _missing = wait.until(lambda: missing_hosts(hosts, kube.list(SERVICE_ENTRY_API, "ServiceEntry", namespace)),
                                 timeout, interval, done=lambda last: not last[1], on_timeout=timed_out,
                                 sleep=sleep, clock=clock)
    return found


def reconcile(kube, params, check_mode, diff, warn):
    validate(params)
    distribution, namespace, present = params["distribution"], params["namespace"], params["state"] == "present"
    live = dict((name, kube.get("v1", "Service", name, namespace)) for name in params["services"])
    absent = [name for name, obj in live.items() if obj is None]
    if present and absent and check_mode:
        # Check mode of a whole play: the Services come from an earlier task (e.g. the bookinfo role).
        warn("check mode: Service(s) %s not found in namespace %s; a real run marks them global once they exist "
             "and fails if they still do not" % (", ".join(absent), namespace))
    elif present and absent:
        raise MeshError("global_service: Service(s) %s not found in namespace %s: deploy them first (this module "
                        "only marks existing Services global) or fix services/namespace"
                        % (", ".join(absent), namespace), missing_services=absent)

    changed, services, before_view, after_view = False, [], {}, {}
    for name, before in live.items():
        after = before
        if present and before is None:
            one_changed, after = True, desired_service(name, params)
        elif present:
            one_changed, before, after = kube.apply(desired_service(name, params))
        else:
            patch = removal_patch(before, distribution) if before else None
            if patch:
                after = kube.patch("v1", "Service", name, patch, namespace=namespace)
            one_changed = view(before, distribution) != view(after, distribution)
        changed |= one_changed
        key = "%s/%s" % (namespace, name)
        before_view[key], after_view[key] = view(before, distribution), view(after, distribution)
        services.append({"name": name, "namespace": namespace, "host": global_host(name, namespace, distribution),
                         "changed": one_changed})

    result = {"changed": changed, "services": services, "hosts": [s["host"] for s in services]}
    if diff:
        result["diff"] = {"before": before_view, "after": after_view}
    if present and params.get("wait") and not check_mode:
        if DISTRIBUTIONS[distribution]["programmed_by"]:
            result["service_entries"] = wait_programmed(kube, result["hosts"], params["istio_namespace"],
                                                        params["wait_timeout"])
        else:
            warn("wait: %s Istio keeps global services in istiod only (no object to watch), so there was "
                 "nothing to wait for" % distribution)
    return result
