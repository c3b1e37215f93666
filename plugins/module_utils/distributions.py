# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What differs between Istio distributions and between gateway products: one table each, read by the modules
(import) and by the roles (filters `distribution` and `gateway_product`). A new distribution or product is one
entry here plus its tests; docs/istio-facts.md says where each fact comes from.

Helm values stay in the roles (they are templated per host); everything a role or module looks up by name is here."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError

DISTRIBUTIONS = {
    "solo": {
        "chart_source": "oci://us-docker.pkg.dev/soloio-img/istio-helm",
        "version_suffix": "-solo",
        "license_required": True,
        # the east-west Gateway the ambient role makes; Istio names its Service and ServiceAccount after it
        "eastwest": {"namespace": "istio-gateways", "owns_namespace": True, "gateway": "istio-eastwest",
                     "gateway_class": "istio-eastwest", "service": "istio-eastwest",
                     "service_account": "istio-eastwest"},
        # peering: one istio-remote Gateway per peer, next to the east-west Gateway
        "link": {"method": "peering", "namespace": "istio-gateways"},
        "global": {"labels": {"solo.io/service-scope": "global"}, "domain": "mesh.internal",
                   # the gateways resolve the global name as a Hostname backend (a ServiceEntry host)
                   "backend": "host"},
        "traffic_distribution": "Any",
        # the counter whose source/destination principals prove mTLS
        "mtls_metric": "istio_requests_total",
    },
    "upstream": {
        "chart_source": "https://istio-release.storage.googleapis.com/charts",
        "version_suffix": "",
        "license_required": False,
        "eastwest": {"namespace": "istio-system", "owns_namespace": False, "gateway": "istio-eastwestgateway",
                     "gateway_class": "istio-east-west", "service": "istio-eastwestgateway",
                     "service_account": "istio-eastwestgateway"},
        # remote secrets: one kubeconfig Secret per peer, in istiod's namespace
        "link": {"method": "remote_secret", "namespace": "istio-system"},
        "global": {"labels": {"istio.io/global": "true"}, "domain": "svc.cluster.local",
                   # the global name is the Service's own: kgateway resolves it only as a Service backend
                   "backend": "service"},
        "traffic_distribution": "PreferClose",
        "mtls_metric": "istio_tcp_connections_opened_total",
    },
}

PRODUCTS = {
    "gloo-gateway": {
        "chart_source": "https://storage.googleapis.com/gloo-ee-helm",
        "default_version": "1.20.0",
        # GG_AMBIENT_MULTINETWORK is documented for 1.19 and 1.20; unconfirmed before
        "min_version": "1.19.0",
        "distributions": ["solo"],
        "unsupported": "Gloo Gateway 1.x reaches other clusters only through Solo's *.mesh.internal ServiceEntry "
                       "hosts (GG_AMBIENT_MULTINETWORK), which upstream Istio does not create",
        "license_required": True,
        "gateway_class": "gloo-gateway",
        "controller": {"kind": "Deployment", "name": "gloo"},
        # the releases in install order; `secret`: its values carry the license key
        "releases": [{"name": "gloo", "chart": "gloo-ee", "secret": True}],
        # the Service (and ServiceAccount) the controller makes for a Gateway
        "proxy_name": "gloo-proxy-%s",
    },
    "kgateway": {
        "chart_source": "oci://cr.kgateway.dev/kgateway-dev/charts",
        "default_version": "v2.5.0",
        "min_version": "2.0.0",
        "distributions": ["solo", "upstream"],
        "unsupported": None,
        "license_required": False,
        "gateway_class": "kgateway",
        "controller": {"kind": "Deployment", "name": "kgateway"},
        "releases": [{"name": "kgateway-crds", "chart": "kgateway-crds", "secret": False},
                     {"name": "kgateway", "chart": "kgateway", "secret": False}],
        "proxy_name": "%s",
    },
}

DEFAULT_DISTRIBUTION = "solo"

# Where a platform runs the node agents (cni, ztunnel) and whether it brings the Gateway API CRDs itself
# (docs/istio-facts.md, OpenShift). Its Helm values are in the ambient role.
PLATFORMS = {
    "kubernetes": {"node_namespace": "istio-system", "gateway_api_crds": True},
    "openshift": {"node_namespace": "kube-system", "gateway_api_crds": False},
}
DEFAULT_PLATFORM = "kubernetes"

# Derived, not a second source: which products route to each distribution.
for _name, _dist in DISTRIBUTIONS.items():
    _dist["gateway_products"] = sorted(p for p, entry in PRODUCTS.items() if _name in entry["distributions"])


def distribution(name, var="mesh_distribution"):
    """The table entry of a distribution; an unknown name is an error naming the variable and the choices."""
    if name not in DISTRIBUTIONS:
        raise MeshError("%s=%r is not a distribution: use one of %s" % (var, name, ", ".join(sorted(DISTRIBUTIONS))))
    return DISTRIBUTIONS[name]


def platform(name, var="mesh_platform"):
    if name not in PLATFORMS:
        raise MeshError("%s=%r is not a platform: use one of %s" % (var, name, ", ".join(sorted(PLATFORMS))))
    return PLATFORMS[name]


def product(name, var="gateway_product"):
    if name not in PRODUCTS:
        raise MeshError("%s=%r is not a gateway product: use one of %s" % (var, name, ", ".join(sorted(PRODUCTS))))
    return PRODUCTS[name]


def eastwest_classes():
    return tuple(sorted(set(d["eastwest"]["gateway_class"] for d in DISTRIBUTIONS.values())))


def global_host(name, namespace, dist):
    return "%s.%s.%s" % (name, namespace, distribution(dist)["global"]["domain"])


def proxy_name(gateway, prod):
    return product(prod)["proxy_name"] % gateway


def eastwest_address(service):
    """(address, Gateway API address type) of an east-west Service's first load-balancer ingress; (None, None)
    while it has none. The one rule for it: the ambient role waits on it, the link step publishes it, mesh_info
    reports it."""
    ingress = (((service or {}).get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    first = ingress[0] if ingress else {}
    if first.get("ip"):
        return first["ip"], "IPAddress"
    if first.get("hostname"):
        return first["hostname"], "Hostname"
    return None, None


def global_backend(name, namespace, dist, port):
    """How an HTTPRoute of the gateways names a Service's global name in a distribution: a Hostname backend to
    the global host (Solo's ServiceEntry host), or the Service itself (upstream's global name is its own)."""
    if distribution(dist)["global"]["backend"] == "host":
        return {"host": global_host(name, namespace, dist), "port": port}
    return {"service": name, "namespace": namespace, "port": port}
