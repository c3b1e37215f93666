# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What in a namespace this collection did not make, so teardown deletes a namespace only when nothing else lives
there (a user's Gateway or HTTPRoute placed in gloo-system went with the namespace before).

An object is ours when it carries our managed-by label or belongs to one of the given Helm releases; an object
with an owner goes with its owner (which is judged itself); the few objects Kubernetes and istiod put in every
namespace are nobody's. Everything else of the kinds below is foreign."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ambientmesh.multicluster.plugins.module_utils.client import managed

# The kinds people put in a gateway or mesh namespace; Events, Endpoints and EndpointSlices follow others.
KINDS = (
    ("gateway.networking.k8s.io/v1", "Gateway"), ("gateway.networking.k8s.io/v1", "HTTPRoute"),
    ("gateway.networking.k8s.io/v1", "GRPCRoute"), ("gateway.networking.k8s.io/v1beta1", "ReferenceGrant"),
    ("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"), ("apps/v1", "DaemonSet"), ("batch/v1", "Job"),
    ("v1", "Pod"), ("v1", "Service"), ("v1", "ConfigMap"), ("v1", "Secret"), ("v1", "ServiceAccount"),
    ("rbac.authorization.k8s.io/v1", "Role"), ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("networking.istio.io/v1", "ServiceEntry"), ("security.istio.io/v1", "AuthorizationPolicy"),
)
# Put in every namespace by Kubernetes (root CA, default ServiceAccount) and istiod's namespace controller (the mesh
# root, and with a plugged-in CA its revocation list: PILOT_CA_CERT_CONFIGMAP, PILOT_CRL_CONFIGMAP).
AUTOMATIC = {("ConfigMap", "kube-root-ca.crt"), ("ConfigMap", "istio-ca-root-cert"), ("ConfigMap", "istio-ca-crl"),
             ("ServiceAccount", "default")}
HELM_RELEASE_ANNOTATION = "meta.helm.sh/release-name"
HELM_STORAGE_TYPE = "helm.sh/release.v1"


def is_ours(obj, releases):
    meta = obj.get("metadata") or {}
    labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
    kind = obj.get("kind")
    return bool(
        meta.get("ownerReferences")
        or managed(obj)
        or annotations.get(HELM_RELEASE_ANNOTATION) in releases
        or (kind == "Secret" and obj.get("type") == HELM_STORAGE_TYPE and labels.get("name") in releases)
        or (kind == "Secret" and obj.get("type") == "kubernetes.io/service-account-token")
        or (kind, meta.get("name")) in AUTOMATIC)


def foreign_objects(kube, namespace, releases):
    """Sorted 'Kind/name' of every object in namespace that is not ours (kinds the cluster does not serve are
    skipped)."""
    out, releases = [], set(releases or [])
    for api_version, kind in KINDS:
        if not kube.served(api_version, kind):
            continue
        for obj in kube.list(api_version, kind, namespace):
            obj.setdefault("kind", kind)
            if not is_ours(obj, releases):
                out.append("%s/%s" % (kind, obj["metadata"]["name"]))
    return sorted(out)
