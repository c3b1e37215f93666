# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only facts about one cluster's mesh: distribution and versions, readiness of istiod, ztunnel, CNI and
the east-west gateway, east-west address, linked peers, global services and ambient namespaces.

Both distributions are recognised from what they create, so the caller never says which one it expects;
docs/istio-facts.md says which labels and names of Istio's charts this relies on."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.ambientmesh.multicluster.plugins.module_utils.distributions import eastwest_classes

GATEWAY_API = "gateway.networking.k8s.io/v1"
EASTWEST_CLASSES = eastwest_classes()
REMOTE_CLASS = "istio-remote"                              # Solo peers (upstream may declare them by hand)
NETWORK_LABEL = "topology.istio.io/network"
CLUSTER_LABEL = "topology.istio.io/cluster"
SOLO_SCOPE_LABEL = "solo.io/service-scope"
SOLO_GLOBAL_SCOPES = ("global", "global-only")
UPSTREAM_GLOBAL_LABEL = "istio.io/global"
DATAPLANE_LABEL = "istio.io/dataplane-mode"
REMOTE_SECRET_LABEL = "istio/multiCluster=true"
REMOTE_SECRET_CLUSTER = "networking.istio.io/cluster"
TRUST_DOMAIN_ANNOTATION = "gateway.istio.io/trust-domain"
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"
# Selectors match the labels Istio's own charts put on the workload objects (not on their pods): the ztunnel
# DaemonSet carries only app.kubernetes.io/name=ztunnel (app=ztunnel is on its pods); checked on the 1.30/1.31 charts.
COMPONENTS = {
    "istiod": ("apps/v1", "Deployment", "app=istiod"),
    "ztunnel": ("apps/v1", "DaemonSet", "app.kubernetes.io/name=ztunnel"),
    "cni": ("apps/v1", "DaemonSet", "k8s-app=istio-cni-node"),
}
# istiod's gauge of each remote cluster's state (pkg/kube/multicluster): one series per state, 1 on the current one.
SYNC_METRIC = "istiod_remote_cluster_sync_status"
VARIANT_SUFFIX = re.compile(r"-(distroless|debug)$")
# What to do when a component is absent or not ready (the verify report names it beside the problem).
FIXES = {
    "istiod": "install it with the ambient role (chart istiod) and check its pod's events and logs",
    "ztunnel": "install it with the ambient role (chart ztunnel); a DaemonSet with 0 pods means no node matches "
               "its nodeSelector (kubernetes.io/os=linux)",
    "cni": "install it with the ambient role (chart cni); a DaemonSet with 0 pods means no node matches its "
           "nodeSelector (kubernetes.io/os=linux)",
    "eastwest_gateway": "run the ambient role's east-west step; the Gateway is Programmed once its Service has a "
                        "load-balancer address",
}


def _meta(obj, key):
    return (obj.get("metadata") or {}).get(key) or {}


def image_tag(image):
    """The tag of an image reference without digest ('' when untagged)."""
    ref = (image or "").split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else ""


def component_status(obj, kind):
    """Readiness of a Deployment or DaemonSet and the version of its first container. `kind` is given because
    the items of a list response carry none."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or [{}]
    image = containers[0].get("image")
    if kind == "DaemonSet":
        desired, ready = status.get("desiredNumberScheduled") or 0, status.get("numberReady") or 0
    else:
        desired, ready = spec.get("replicas", 1), status.get("readyReplicas") or 0
    return {"name": obj["metadata"]["name"], "namespace": obj["metadata"].get("namespace"), "desired": desired,
            "ready_replicas": ready, "ready": desired > 0 and ready >= desired, "image": image,
            "version": VARIANT_SUFFIX.sub("", image_tag(image)) or None}


def pick_component(objs, kind):
    """The component to report when several match: a ready one first, then by namespace/name."""
    if not objs:
        return None
    statuses = sorted((component_status(o, kind) for o in objs),
                      key=lambda s: (not s["ready"], s["namespace"] or "", s["name"]))
    return statuses[0]


def distribution(components):
    """'solo' when a component image is a Solo build, 'upstream' for other Istio images, None without Istio."""
    images = [c["image"] or "" for c in components.values() if c]
    if not images:
        return None
    if any("-solo" in image_tag(i) or "solo" in i.split(":", 1)[0] for i in images):
        return "solo"
    return "upstream"


def condition_true(obj, kind):
    return any(c.get("type") == kind and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])


def gateway_addresses(gw):
    """Addresses of a Gateway: status (what the controller assigned) before spec (what was asked for)."""
    found = [a.get("value") for a in (gw.get("status") or {}).get("addresses") or [] if a.get("value")]
    return found or [a.get("value") for a in (gw.get("spec") or {}).get("addresses") or [] if a.get("value")]


def service_address(svc):
    for ing in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
        if ing.get("ip") or ing.get("hostname"):
            return ing.get("ip") or ing.get("hostname")
    return None


def eastwest_gateway(gateways, services):
    """The east-west Gateway and its address (Gateway status, else its Service's load-balancer address)."""
    candidates = sorted((g for g in gateways if (g.get("spec") or {}).get("gatewayClassName") in EASTWEST_CLASSES),
                        key=lambda g: (g["metadata"].get("namespace"), g["metadata"]["name"]))
    if not candidates:
        return None
    gw = candidates[0]
    name, ns = gw["metadata"]["name"], gw["metadata"].get("namespace")
    addresses = gateway_addresses(gw)
    if not addresses:
        for svc in services:
            m = svc["metadata"]
            if m.get("namespace") == ns and (_meta(svc, "labels").get(GATEWAY_NAME_LABEL) == name or m["name"] == name):
                addr = service_address(svc)
                if addr:
                    addresses = [addr]
                    break
    return {"name": name, "namespace": ns, "class": gw["spec"]["gatewayClassName"],
            "network": _meta(gw, "labels").get(NETWORK_LABEL), "programmed": condition_true(gw, "Programmed"),
            "ready": condition_true(gw, "Programmed"), "address": addresses[0] if addresses else None}


def peers(gateways, remote_secrets):
    """Linked clusters: Solo `istio-remote` peer Gateways and upstream remote secrets (names only)."""
    out = []
    for gw in sorted((g for g in gateways if (g.get("spec") or {}).get("gatewayClassName") == REMOTE_CLASS),
                     key=lambda g: g["metadata"]["name"]):
        labels = _meta(gw, "labels")
        addresses = [a.get("value") for a in (gw.get("spec") or {}).get("addresses") or []]
        out.append({"kind": "peer-gateway", "name": gw["metadata"]["name"], "namespace": gw["metadata"].get("namespace"),
                    "network": labels.get(NETWORK_LABEL),
                    "cluster": labels.get(CLUSTER_LABEL) or labels.get(NETWORK_LABEL),
                    "address": addresses[0] if addresses else None,
                    "trust_domain": _meta(gw, "annotations").get(TRUST_DOMAIN_ANNOTATION),
                    "programmed": condition_true(gw, "Programmed")})
    for secret in sorted(remote_secrets, key=lambda s: s["metadata"]["name"]):
        out.append({"kind": "remote-secret", "name": secret["metadata"]["name"],
                    "namespace": secret["metadata"].get("namespace"),
                    "cluster": _meta(secret, "annotations").get(REMOTE_SECRET_CLUSTER) or None})
    return out


def is_global(labels, namespace_labels=None):
    """Global by the Service's own label, else by its namespace's Solo scope label (the Service wins)."""
    if labels.get(UPSTREAM_GLOBAL_LABEL) == "true":
        return True
    scope = labels.get(SOLO_SCOPE_LABEL) or (namespace_labels or {}).get(SOLO_SCOPE_LABEL)
    return scope in SOLO_GLOBAL_SCOPES


def global_services(services, namespaces):
    ns_labels = dict((n["metadata"]["name"], _meta(n, "labels")) for n in namespaces)
    return sorted(set("%s/%s" % (s["metadata"]["namespace"], s["metadata"]["name"]) for s in services
                      if is_global(_meta(s, "labels"), ns_labels.get(s["metadata"]["namespace"]))))


def ambient_namespaces(namespaces):
    return sorted(n["metadata"]["name"] for n in namespaces if _meta(n, "labels").get(DATAPLANE_LABEL) == "ambient")


def health(picked, eastwest, linked, expected_peers):
    """Problems of one cluster's mesh, each naming what is wrong and the fix: a component absent or not ready
    (a DaemonSet that schedules no pod is not ready), an east-west gateway not programmed, an expected peer that
    no peer Gateway or remote secret links."""
    out = []
    for name, (_api, kind, selector) in sorted(COMPONENTS.items()):
        c = picked.get(name)
        if not c:
            out.append("%s is absent (no %s labelled %s in any namespace): %s" % (name, kind, selector, FIXES[name]))
        elif not c["ready"]:
            out.append("%s %s/%s is not ready (%s of %s): %s" % (name, c["namespace"], c["name"], c["ready_replicas"],
                                                                 c["desired"], FIXES[name]))
    if not eastwest:
        out.append("eastwest_gateway is absent (no Gateway of class %s): %s"
                   % (" or ".join(EASTWEST_CLASSES), FIXES["eastwest_gateway"]))
    elif not eastwest["ready"]:
        out.append("eastwest_gateway %s/%s is not Programmed: %s"
                   % (eastwest["namespace"], eastwest["name"], FIXES["eastwest_gateway"]))
    have = set(p.get("cluster") for p in linked)
    for peer in sorted(set(expected_peers or [])):
        if peer not in have:
            out.append("not linked to %s (no peer Gateway or remote secret names it): run the link step "
                       "(playbooks/link.yml) for every cluster of the mesh" % peer)
    return out


def sync_query(selector=""):
    """PromQL for the states istiod reports its remote clusters in; `selector` adds label matchers that pick this
    cluster's istiod when one Prometheus scrapes several clusters."""
    return '%s{cluster_type="remote"%s} == 1' % (SYNC_METRIC, "," + selector.strip().strip(",") if selector else "")


def peer_sync(result):
    """{remote cluster: sorted states} from sync_query's result, one state per istiod replica. A target label
    `cluster` set by the scrape config moves istiod's own label to `exported_cluster`."""
    out = {}
    for item in result:
        labels = item.get("metric") or {}
        peer = labels.get("exported_cluster") or labels.get("cluster")
        if peer:
            out.setdefault(peer, set()).add(labels.get("status") or "?")
    return dict((peer, sorted(states)) for peer, states in out.items())


def sync_problems(sync, linked, expected_peers, where):
    """Each expected peer linked by a remote secret that istiod does not report `synced` (every replica)."""
    remote = sorted(set(p["cluster"] for p in linked if p["kind"] == "remote-secret") & set(expected_peers or []))
    if not remote:
        return []
    if not sync:
        return ["istiod's peer sync is unknown: no %s series at %s: make that Prometheus scrape istiod's port 15014 "
                "(or set the selector that picks this cluster's istiod)" % (SYNC_METRIC, where)]
    return ["istiod has not synced %s (%s): the remote secret's reader must grant secrets, configmaps and "
            "customresourcedefinitions, and its API server address must be reachable from this cluster; rerun "
            "playbooks/link.yml (mesh_api_server sets the address) and restart istiod"
            % (peer, "/".join(sync.get(peer) or ["not reported"])) for peer in remote if sync.get(peer) != ["synced"]]


def facts(kubernetes_version, components, gateways, services, namespaces, remote_secrets, istio_namespace,
          expected_peers=None, sync=None, sync_source=None):
    """Assemble the facts of one cluster from the objects gather() read; `sync` is peer_sync()'s answer (None:
    not checked) read from `sync_source`."""
    picked = dict((name, pick_component(objs, COMPONENTS[name][1])) for name, objs in components.items())
    eastwest = eastwest_gateway(gateways, services)
    network = dict((n["metadata"]["name"], _meta(n, "labels")) for n in namespaces).get(
        istio_namespace, {}).get(NETWORK_LABEL)
    linked = peers(gateways, remote_secrets)
    problems = health(picked, eastwest, linked, expected_peers)
    if sync is not None:
        problems += sync_problems(sync, linked, expected_peers, sync_source)
    return {
        "distribution": distribution(picked),
        "versions": dict([("kubernetes", kubernetes_version)] + [(k, (v or {}).get("version")) for k, v in
                                                                 sorted(picked.items())]),
        "network": network,
        "components": dict(picked, eastwest_gateway=eastwest),
        "ready": all(picked.get(k) and picked[k]["ready"] for k in COMPONENTS) and bool(eastwest and eastwest["ready"]),
        "not_ready": [k for k in COMPONENTS if not (picked.get(k) and picked[k]["ready"])]
        + ([] if eastwest and eastwest["ready"] else ["eastwest_gateway"]),
        "eastwest_address": eastwest["address"] if eastwest else None,
        "peers": linked,
        "peer_count": len(linked),
        "global_services": global_services(services, namespaces),
        "ambient_namespaces": ambient_namespaces(namespaces),
        "expected_peers": sorted(set(expected_peers or [])),
        "peer_sync": sync,
        "healthy": not problems,
        "problems": problems,
    }


def gather(kube, istio_namespace="istio-system", expected_peers=None, sync=None, sync_source=None):
    """Read what facts() needs with few list calls (label selectors, never Secret data in the result)."""
    components = dict((name, kube.list(api, kind, None, label_selector=sel))
                      for name, (api, kind, sel) in COMPONENTS.items())
    gateways = kube.list(GATEWAY_API, "Gateway") if kube.served(GATEWAY_API, "Gateway") else []
    namespaces = kube.list("v1", "Namespace")
    services = (kube.list("v1", "Service", label_selector=SOLO_SCOPE_LABEL)
                + kube.list("v1", "Service", label_selector=UPSTREAM_GLOBAL_LABEL + "=true"))
    for ns in namespaces:
        if _meta(ns, "labels").get(SOLO_SCOPE_LABEL) in SOLO_GLOBAL_SCOPES:
            services += kube.list("v1", "Service", ns["metadata"]["name"])
    for gw in gateways:
        if (gw.get("spec") or {}).get("gatewayClassName") in EASTWEST_CLASSES:
            services += kube.list("v1", "Service", gw["metadata"]["namespace"])
    # Only name and cluster of a remote secret are kept: its data (and a kubectl last-applied annotation)
    # hold a kubeconfig with a token.
    remote_secrets = [{"metadata": {"name": s["metadata"]["name"], "namespace": s["metadata"].get("namespace"),
                                    "annotations": {REMOTE_SECRET_CLUSTER: _meta(s, "annotations").get(
                                        REMOTE_SECRET_CLUSTER)}}}
                      for s in kube.list("v1", "Secret", istio_namespace, label_selector=REMOTE_SECRET_LABEL)]
    version = kube.version.get("kubernetes", {}).get("gitVersion")
    return facts(version, components, gateways, services, namespaces, remote_secrets, istio_namespace, expected_peers,
                 sync, sync_source)
