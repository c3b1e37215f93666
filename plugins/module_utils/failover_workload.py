# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The workload a failover drill disrupts: a Deployment, the Services that select its pods and their ready
endpoints; scaled through the scale subresource, waited on until its endpoints are gone or ready again. The
original replica count is kept in an annotation while the Deployment is scaled down."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError
from ansible_collections.ambientmesh.multicluster.plugins.module_utils import wait

ANNOTATION = "ambientmesh.multicluster/drill-original-replicas"
POLL = 0.25


class NotThereYet(MeshError):
    """The target, Deployment or probing pod does not exist (yet): a failure, or a skip in check mode."""


def selector_string(selector):
    """A Deployment's spec.selector as a label-selector string."""
    parts = ["%s=%s" % kv for kv in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op, key, values = expr["operator"], expr["key"], ",".join(expr.get("values") or [])
        parts.append({"In": "%s in (%s)", "NotIn": "%s notin (%s)"}.get(op, "%s") % ((key, values) if op in (
            "In", "NotIn") else (key if op == "Exists" else "!" + key,)))
    return ",".join(parts)


def selects(service, labels):
    """True when the Service's selector picks pods with these labels."""
    sel = (service.get("spec") or {}).get("selector") or {}
    return bool(sel) and all(labels.get(k) == v for k, v in sel.items())


def ready_endpoint_pods(slices):
    """Names of the pods that are ready endpoints in these EndpointSlices."""
    names = set()
    for item in slices:
        for ep in item.get("endpoints") or []:
            ref = ep.get("targetRef") or {}
            if ref.get("kind") == "Pod" and (ep.get("conditions") or {}).get("ready"):
                names.add(ref.get("name"))
    return names


def pod_ready(pod):
    status = pod.get("status") or {}
    return (not pod["metadata"].get("deletionTimestamp") and status.get("phase") == "Running"
            and any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []))


# ---- the workload being disrupted ------------------------------------------------------------------------

class Workload:
    """The Deployment and the EndpointSlices of the Services that select its pods."""

    def __init__(self, kube, namespace, name):
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.obj = None
        self.services = []

    def exists(self):
        return self.kube.get("apps/v1", "Deployment", self.name, self.namespace) is not None

    def read(self):
        self.obj = self.kube.get("apps/v1", "Deployment", self.name, self.namespace)
        if self.obj is None:
            raise NotThereYet("deployment: Deployment %s not found in namespace %s of this cluster; check deployment "
                              "and namespace (nothing was scaled)" % (self.name, self.namespace))
        labels = ((self.obj["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
        self.services = sorted(s["metadata"]["name"] for s in self.kube.list("v1", "Service", self.namespace)
                               if selects(s, labels))
        return self.obj

    @property
    def replicas(self):
        return self.obj["spec"].get("replicas", 1)

    @property
    def recorded(self):
        """Original replicas left in the annotation by a drill that could not restore (None: none left)."""
        value = (self.obj["metadata"].get("annotations") or {}).get(ANNOTATION)
        return int(value) if value is not None and str(value).isdigit() else None

    def pods(self):
        sel = selector_string(self.obj["spec"]["selector"])
        return self.kube.list("v1", "Pod", self.namespace, label_selector=sel)

    def endpoint_pods(self):
        if not self.services:
            return set()
        sel = "kubernetes.io/service-name in (%s)" % ",".join(self.services)
        return ready_endpoint_pods(self.kube.list("discovery.k8s.io/v1", "EndpointSlice", self.namespace,
                                                  label_selector=sel))

    def annotate(self, original):
        value = None if original is None else str(original)
        self.kube.patch("apps/v1", "Deployment", self.name, {"metadata": {"annotations": {ANNOTATION: value}}},
                        self.namespace)

    def scale(self, replicas):
        self.kube.patch("apps/v1", "Deployment", self.name, {"spec": {"replicas": replicas}}, self.namespace,
                        subresource="scale")

    def wait(self, predicate, timeout, what):
        def timed_out(_last):
            raise MeshError("Deployment %s/%s: %s did not happen within wait_timeout %ss"
                            % (self.namespace, self.name, what, timeout))

        wait.until(predicate, timeout, POLL, on_timeout=timed_out)

    def wait_gone(self, pod_names, timeout):
        """Until no ready replica is left and none of pod_names is a ready endpoint any more."""
        def gone():
            dep = self.kube.get("apps/v1", "Deployment", self.name, self.namespace) or {}
            return not (dep.get("status") or {}).get("readyReplicas") and not (self.endpoint_pods() & pod_names)
        self.wait(gone, timeout, "its ready endpoints going away")

    def wait_ready(self, replicas, timeout):
        """Until `replicas` pods are ready and each is a ready endpoint of every selecting Service."""
        def ready():
            dep = self.kube.get("apps/v1", "Deployment", self.name, self.namespace) or {}
            status = dep.get("status") or {}
            if (status.get("readyReplicas") or 0) < replicas or (status.get("updatedReplicas") or 0) < replicas:
                return False
            names = set(p["metadata"]["name"] for p in self.pods() if pod_ready(p))
            return len(names) >= replicas and (not self.services or len(self.endpoint_pods() & names) >= replicas)
        self.wait(ready, timeout, "%d ready replica(s) with ready endpoints" % replicas)

    def restore(self, replicas, timeout):
        self.scale(replicas)
        self.wait_ready(replicas, timeout)
        self.annotate(None)
