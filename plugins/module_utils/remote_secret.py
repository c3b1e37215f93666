# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Upstream linking: the read-only reader a peer offers (ServiceAccount, ClusterRole, binding and a
long-lived token Secret) and the kubeconfig a remote secret carries to reach that peer with its token.

The token Secret is of type kubernetes.io/service-account-token, so the peer's token controller fills it
and the token stays the same between runs: the remote secret is rebuilt byte for byte (idempotent).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import ipaddress
import json
import time

from ansible.module_utils.six.moves.urllib.parse import urlsplit

from ansible_collections.ambientmesh.multicluster.plugins.module_utils.client import (
    MANAGED_BY_LABEL, MANAGED_BY_VALUE)
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError
from ansible_collections.ambientmesh.multicluster.plugins.module_utils import wait

DEFAULT_READER = "ambientmesh-mesh-reader"
COMPONENT_LABEL = "app.kubernetes.io/component"
COMPONENT = "mesh-link-reader"
TOKEN_TIMEOUT = 60
READ = ["get", "list", "watch"]
# What istiod reads from a peer: the rules of Istio's own istio-reader ClusterRole (istiod chart,
# reader-clusterrole.yaml; a unit test compares them with the lab's chart), read-only. istiod lists secrets and configmaps cluster-wide and CRDs before it
# reports a peer synced; without them /debug/clusterz shows the peer "timeout" after 30s.
READER_RULES = [
    {"apiGroups": ["config.istio.io", "security.istio.io", "networking.istio.io", "authentication.istio.io",
                   "rbac.istio.io", "telemetry.istio.io", "extensions.istio.io"], "resources": ["*"], "verbs": READ},
    {"apiGroups": [""], "resources": ["endpoints", "pods", "services", "nodes", "replicationcontrollers", "namespaces",
                                      "secrets", "configmaps"], "verbs": READ},
    # networking.x-k8s.io: the Gateway API's first group, still in Istio's reader
    {"apiGroups": ["gateway.networking.k8s.io", "gateway.networking.x-k8s.io", "networking.x-k8s.io"],
     "resources": ["*"], "verbs": READ},
    {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": READ},
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": READ},
    {"apiGroups": ["multicluster.x-k8s.io"], "resources": ["serviceexports", "serviceimports"], "verbs": READ},
    {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": READ},
    {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
    {"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"], "verbs": ["create"]},
]
# Auth options a peer connection inherits from the module; credentials and CA belong to one cluster only.
SHARED_AUTH = ("validate_certs", "proxy", "no_proxy", "proxy_headers")


def token_secret_name(reader):
    return reader + "-token"


def reader_objects(namespace, reader):
    """The reader a peer offers to the clusters linked to it."""
    labels = {MANAGED_BY_LABEL: MANAGED_BY_VALUE, COMPONENT_LABEL: COMPONENT}
    meta = {"name": reader, "labels": labels}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": dict(meta, namespace=namespace)},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": dict(meta),
         "rules": [dict(rule) for rule in READER_RULES]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": dict(meta),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": reader},
         "subjects": [{"kind": "ServiceAccount", "name": reader, "namespace": namespace}]},
        {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
         "metadata": {"name": token_secret_name(reader), "namespace": namespace, "labels": labels,
                      "annotations": {"kubernetes.io/service-account.name": reader}}},
    ]


def token_of(secret):
    """(token, base64 CA bundle) from a filled service-account-token Secret, or None while it is empty."""
    data = (secret or {}).get("data") or {}
    if not data.get("token") or not data.get("ca.crt"):
        return None
    return base64.b64decode(data["token"]).decode("utf-8"), data["ca.crt"]


def kubeconfig(cluster, server, ca_data, token):
    """A kubeconfig with one context for cluster, authenticating with token (same text for same input)."""
    config = {
        "apiVersion": "v1", "kind": "Config", "preferences": {}, "current-context": cluster,
        "clusters": [{"name": cluster, "cluster": {"server": server, "certificate-authority-data": ca_data}}],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": cluster}}],
        "users": [{"name": cluster, "user": {"token": token}}],
    }
    return json.dumps(config, indent=2, sort_keys=True) + "\n"


def connect_peer(params, dry_run, warn, peer):
    """A Kube client for peer (same kubeconfig as this cluster unless the peer names its own), a dry run in check
    mode like this cluster's own; params are this cluster's auth options."""
    from ansible_collections.ambientmesh.multicluster.plugins.module_utils.client import Kube

    auth = dict((key, params.get(key)) for key in SHARED_AUTH)
    auth.update(context=peer["context"], kubeconfig=peer.get("kubeconfig") or params.get("kubeconfig"))
    try:
        return Kube.connect(auth, dry_run, warn)
    except MeshError as e:
        raise MeshError("peer %s: %s" % (peer["name"], e.msg))


def server_of(kube, peer):
    """The API server URL written into the remote secret: the peer's api_server, else its kubeconfig server."""
    return peer.get("api_server") or kube.host


def local_address(url):
    """'loopback' or 'link-local' when the URL's host is such an address (or localhost), else None: another
    cluster's istiod cannot reach an API server there (kind's kubeconfig says 127.0.0.1, clouds may give
    link-local or private endpoints)."""
    host = urlsplit(url or "").hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return "loopback"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    return "loopback" if ip.is_loopback else "link-local" if ip.is_link_local else None


def check_reachable_server(url, peer, cluster, allow_local):
    """Refuse to publish a loopback or link-local API server in a remote secret, naming the variable to set."""
    kind = local_address(url)
    if kind and not allow_local:
        source = "its api_server" if peer.get("api_server") else "the server of its kubeconfig context"
        raise MeshError("peer %s: the remote secret would point %s's istiod at %s (%s, a %s address) that no other "
                        "cluster can reach: set the peer's API server address as istiod sees it (role: host var "
                        "mesh_api_server of %s; module: peers[].api_server), or allow_local_api_server=true (role: "
                        "link_allow_local_api_server) when every istiod runs on this one host, as in a lab"
                        % (peer["name"], cluster, url, source, kind, peer["name"]))


def wait_token(kube, namespace, reader, peer_name, timeout=TOKEN_TIMEOUT, sleep=time.sleep, clock=time.monotonic):
    """Wait until the peer's token controller has filled the reader's token Secret; returns token_of()."""
    name = token_secret_name(reader)

    def timed_out(_last):
        raise MeshError("peer %s: Secret %s/%s got no token within %ss; the peer's kube-controller-manager must "
                        "run its serviceaccount-token controller (--service-account-private-key-file)"
                        % (peer_name, namespace, name, timeout))

    return wait.until(lambda: token_of(kube.get("v1", "Secret", name, namespace)), timeout, 0.5,
                      on_timeout=timed_out, sleep=sleep, clock=clock)
