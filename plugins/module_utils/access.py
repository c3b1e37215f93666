# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What each step may need to do in a cluster, as RBAC rules: the preflight asks each cluster's API server about
every verb (SelfSubjectAccessReview) before the first write, and the same table renders the installer ClusterRole
(filter installer_rules, playbooks/rbac.yml). docs/rbac.md says why each rule is there.

Installing Istio's and the gateway's charts creates ClusterRoles, webhooks and CRDs, so the ambient and ingress
steps need near cluster-admin: `escalate` and `bind` let Helm create roles that grant more than the installer
holds (Kubernetes refuses that otherwise). The other steps need much less."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from concurrent.futures import ThreadPoolExecutor

READ = ("get", "list", "watch")
WRITE = READ + ("create", "update", "patch", "delete")
# What Helm installs from Istio's charts (base, istiod, cni, ztunnel) and the gateway products' charts, and reads
# while it waits for them; kubernetes.core.helm also reads the release Secrets.
CHART_OBJECTS = (
    ("", ("secrets", "configmaps", "services", "serviceaccounts", "pods", "endpoints"), WRITE),
    ("apps", ("deployments", "daemonsets", "replicasets", "statefulsets"), WRITE),
    ("batch", ("jobs",), WRITE),
    ("autoscaling", ("horizontalpodautoscalers",), WRITE),
    ("policy", ("poddisruptionbudgets",), WRITE),
    ("rbac.authorization.k8s.io", ("clusterroles", "roles"), WRITE + ("escalate", "bind")),
    ("rbac.authorization.k8s.io", ("clusterrolebindings", "rolebindings"), WRITE),
    ("admissionregistration.k8s.io", ("mutatingwebhookconfigurations", "validatingwebhookconfigurations"), WRITE),
    ("apiextensions.k8s.io", ("customresourcedefinitions",), WRITE),
    ("gateway.networking.k8s.io", ("gatewayclasses", "gateways", "httproutes", "grpcroutes", "referencegrants"),
     WRITE),
)
# Read by teardown before it deletes a namespace (foreign_objects_info), beyond the chart objects above.
TEARDOWN_READS = (
    ("networking.istio.io", ("serviceentries",), READ),
    ("security.istio.io", ("authorizationpolicies",), READ),
)
NAMESPACES = ("", ("namespaces",), WRITE)

STEPS = {
    # cacerts in the istio namespace; a rollout restart of istiod and ztunnel when the intermediate changes
    "trust": (NAMESPACES, ("", ("secrets",), WRITE), ("apps", ("deployments", "daemonsets"), ("get", "list", "patch"))),
    "ambient": (NAMESPACES,) + CHART_OBJECTS + TEARDOWN_READS,
    # remote secrets and the reader (ServiceAccount, ClusterRole, binding, token Secret); Solo peer Gateways
    "link": (NAMESPACES, ("", ("secrets", "serviceaccounts", "services"), WRITE),
             ("rbac.authorization.k8s.io", ("clusterroles",), WRITE + ("escalate", "bind")),
             ("rbac.authorization.k8s.io", ("clusterrolebindings",), WRITE),
             ("gateway.networking.k8s.io", ("gateways",), WRITE)),
    # enroll (namespace labels), Bookinfo, global services and Solo's ServiceEntries
    "apps": (NAMESPACES, ("", ("services", "serviceaccounts", "pods"), WRITE),
             ("apps", ("deployments", "replicasets"), WRITE),
             ("networking.istio.io", ("serviceentries",), READ)),
    "ingress": (NAMESPACES,) + CHART_OBJECTS + TEARDOWN_READS,
    # mesh facts, probes from a mesh pod (ephemeral container, its log), the drill (scale, endpoints)
    "verify": (("", ("namespaces", "services", "secrets", "pods", "endpoints"), READ),
               ("", ("pods/ephemeralcontainers",), ("get", "patch", "update")), ("", ("pods/log",), ("get",)),
               ("apps", ("deployments",), READ + ("patch",)), ("apps", ("daemonsets",), READ),
               ("apps", ("deployments/scale",), ("get", "patch", "update")),
               ("discovery.k8s.io", ("endpointslices",), READ),
               ("networking.istio.io", ("serviceentries",), READ),
               ("gateway.networking.k8s.io", ("gateways",), READ)),
}
ORDER = ("trust", "ambient", "link", "apps", "ingress", "verify")


def wanted(steps):
    """{(group, resource): sorted verbs} the steps need together."""
    out = {}
    for step in steps:
        for group, resources, verbs in STEPS[step]:
            for resource in resources:
                out.setdefault((group, resource), set()).update(verbs)
    return dict((key, sorted(verbs)) for key, verbs in out.items())


def cluster_role_rules(steps=ORDER):
    """PolicyRules for a ClusterRole that allows `steps`, one rule per group and verb set."""
    by_verbs = {}
    for (group, resource), verbs in sorted(wanted(steps).items()):
        by_verbs.setdefault((group, tuple(verbs)), []).append(resource)
    return [{"apiGroups": [group], "resources": sorted(resources), "verbs": list(verbs)}
            for (group, verbs), resources in sorted(by_verbs.items())]


def unknown_steps(steps):
    return [s for s in steps if s not in STEPS]


def rules_allow(rules, group, resource, subresource, verb):
    """Whether RBAC resource rules (a SelfSubjectRulesReview's resourceRules) allow a request without a resource
    name, the way Kubernetes' RBAC authorizer matches them: '*' for any group, resource or verb, 'pods/*' or
    '*/log' for subresources; a rule limited to resourceNames does not allow an unnamed request."""
    wanted = resource + ("/" + subresource if subresource else "")
    for rule in rules:
        if rule.get("resourceNames"):
            continue
        if not any(g in ("*", group) for g in rule.get("apiGroups") or []):
            continue
        if not any(v in ("*", verb) for v in rule.get("verbs") or []):
            continue
        for r in rule.get("resources") or []:
            if r in ("*", wanted) or (subresource and r in (resource + "/*", "*/" + subresource)):
                return True
    return False


def missing(allowed, steps, workers=8):
    """[(step, 'verb resource.group')] that `allowed(group, resource, subresource, verb)` denies, in step order.

    Asked cluster-wide (no namespace): the installer ClusterRole is granted with a ClusterRoleBinding."""
    questions = []
    for step in steps:
        for (group, resource), verbs in sorted(wanted([step]).items()):
            name, sub = (resource.split("/", 1) + [""])[:2]
            questions += [(step, group, name, sub, verb) for verb in verbs]
    unique = sorted(set(q[1:] for q in questions))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        answers = dict(zip(unique, pool.map(lambda q: allowed(*q), unique)))
    out, seen = [], set()
    for step, group, name, sub, verb in questions:
        what = "%s %s%s%s" % (verb, name, "/" + sub if sub else "", "." + group if group else "")
        if not answers[(group, name, sub, verb)] and what not in seen:
            seen.add(what)
            out.append((step, what))
    return out
