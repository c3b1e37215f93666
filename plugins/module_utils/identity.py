# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Each inventory host's cluster identity, resolved and checked across the whole inventory before any write.

One rule per field (the names below); the preflight (action plugin mesh_preflight) applies them to every host
together, because what makes an inventory wrong is often between hosts: two hosts on one API server, two
clusters with one network, a host without a context that silently goes to the kubeconfig's current one."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import os
import re

from ansible_collections.ambientmesh.multicluster.plugins.module_utils.distributions import (
    DEFAULT_DISTRIBUTION, DEFAULT_PLATFORM, DISTRIBUTIONS, PLATFORMS)
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError

# Istio's cluster name becomes a label value and part of object names: a DNS-1123 label.
CLUSTER_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# The network becomes a label value and part of the peer Gateway's name: lowercase, at most 63 characters.
NETWORK = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$")
# A SPIFFE trust domain: lowercase letters, digits, '.', '-', '_' (spec: no upper case, no port).
TRUST_DOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9._]{0,253}[a-z0-9])?$")
DEFAULT_TRUST_DOMAIN = "cluster.local"
IP_SHAPED = re.compile(r"^[0-9]+(\.[0-9]+){3}$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
ADDRESS_TYPES = ("IPAddress", "Hostname")

# The host variables an identity is made of; nothing else of a host is read.
IDENTITY_VARS = ("kube_context", "kubeconfig_path", "mesh_cluster_name", "mesh_network", "mesh_trust_domain",
                 "mesh_distribution", "mesh_platform", "mesh_api_server", "mesh_eastwest_address",
                 "mesh_eastwest_address_type")

# kubernetes.core reads these from the environment; with a host and a credential they override `context`.
AUTH_ENV_CREDENTIALS = ("K8S_AUTH_API_KEY", "K8S_AUTH_CERT_FILE", "K8S_AUTH_USERNAME")


def _text(value):
    """None for undefined, empty or blank values: one meaning of 'missing'."""
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def address_type(address, declared, where):
    """The Gateway API address type of an east-west address, checked against the declared one (inferred when
    None). The one rule for it: the preflight applies it to mesh_eastwest_address, mesh_link to its peers."""
    try:
        ipaddress.ip_address(address)
        is_ip = True
    except ValueError:
        is_ip = False
    if not is_ip and IP_SHAPED.match(address):
        # 999.1.1.1 is a valid DNS name, but nobody means a host called that: an IPv4 address with a typo
        raise MeshError("%s %r looks like an IPv4 address but is not one (each part 0-255); fix the address "
                        "(host var mesh_eastwest_address, or the east-west Service's load-balancer address)"
                        % (where, address))
    if declared is None:
        declared = "IPAddress" if is_ip else "Hostname"
    if declared == "IPAddress" and not is_ip:
        raise MeshError("%s %r is not an IP address; set address_type: Hostname for a DNS name" % (where, address))
    if declared == "Hostname" and (is_ip or len(address) > 253 or not DNS_SUBDOMAIN.match(address)):
        raise MeshError("%s %r is not a DNS hostname; give a lowercase DNS name, or set address_type: IPAddress "
                        "for an IP" % (where, address))
    return declared


def kubeconfig_paths(kubeconfig_path, environ, home):
    """The kubeconfig files a task of this host reads, in kubernetes.core's order: the kubeconfig option
    (kubeconfig_path), K8S_AUTH_KUBECONFIG, KUBECONFIG (a path list), ~/.kube/config."""
    for value, where in ((kubeconfig_path, "kubeconfig_path"), (environ.get("K8S_AUTH_KUBECONFIG"), "K8S_AUTH_KUBECONFIG"),
                         (environ.get("KUBECONFIG"), "KUBECONFIG")):
        value = _text(value)
        if value:
            return [os.path.expanduser(p) for p in value.split(os.pathsep) if p], where
    return [os.path.join(home, ".kube", "config")], "~/.kube/config"


def read_kubeconfig(paths, load_yaml):
    """{'contexts': {name: cluster}, 'clusters': {name: server}, 'current': name} merged first-wins, as kubectl
    merges a KUBECONFIG list; None when no file exists. Nothing else (credentials) is kept."""
    contexts, clusters, current, found = {}, {}, None, False
    for path in paths:
        if not os.path.isfile(path):
            continue
        found = True
        try:
            with open(path) as f:
                data = load_yaml(f) or {}
        except Exception as e:  # unreadable or not YAML: the path is named, the content never
            raise MeshError("kubeconfig %s cannot be read as a kubeconfig (%s): fix the file or point kubeconfig_path "
                            "at another one" % (path, type(e).__name__))
        for item in data.get("contexts") or []:
            contexts.setdefault(item.get("name"), (item.get("context") or {}).get("cluster"))
        for item in data.get("clusters") or []:
            clusters.setdefault(item.get("name"), (item.get("cluster") or {}).get("server"))
        current = current or data.get("current-context")
    if not found:
        return None
    return {"contexts": contexts, "clusters": clusters, "current": current}


def _server(url):
    return (url or "").strip().rstrip("/").lower() or None


def resolve(hosts, environ, home, load_yaml):
    """Check every host's identity and return [{host, cluster_name, network, trust_domain, context, server,
    kubeconfig (the files read)}].

    hosts: {inventory host: its variables (IDENTITY_VARS)}. Each item also carries kubeconfig_path, api_server
    (mesh_api_server) and the east-west address given in the inventory (mesh_eastwest_address[_type]; None: the
    east-west Service's, read later by reach.eastwest()). Raises MeshError listing every problem found (each names the host, the variable and
    the fix), so one run shows them all."""
    problems, out = [], []
    several = len(hosts) > 1
    env_host = _text(environ.get("K8S_AUTH_HOST"))
    env_credential = [k for k in AUTH_ENV_CREDENTIALS if _text(environ.get(k))]
    configs = {}
    for host in sorted(hosts):
        hv = hosts[host]
        context = _text(hv.get("kube_context"))
        name = _text(hv.get("mesh_cluster_name")) or host
        network = _text(hv.get("mesh_network"))
        trust_domain = _text(hv.get("mesh_trust_domain")) or DEFAULT_TRUST_DOMAIN
        distribution = _text(hv.get("mesh_distribution")) or DEFAULT_DISTRIBUTION
        platform = _text(hv.get("mesh_platform")) or DEFAULT_PLATFORM
        item = {"host": host, "cluster_name": name, "network": network, "trust_domain": trust_domain,
                "distribution": distribution, "platform": platform, "context": context, "server": None, "kubeconfig": None,
                "kubeconfig_path": _text(hv.get("kubeconfig_path")), "api_server": _text(hv.get("mesh_api_server")),
                "eastwest_address": _text(hv.get("mesh_eastwest_address")),
                "eastwest_address_type": _text(hv.get("mesh_eastwest_address_type"))}
        out.append(item)
        if distribution not in DISTRIBUTIONS:
            problems.append("%s: mesh_distribution=%r is not a distribution: use one of %s"
                            % (host, distribution, ", ".join(sorted(DISTRIBUTIONS))))
        if platform not in PLATFORMS:
            problems.append("%s: mesh_platform=%r is not a platform: use one of %s"
                            % (host, platform, ", ".join(sorted(PLATFORMS))))
        if item["eastwest_address_type"] is not None and item["eastwest_address_type"] not in ADDRESS_TYPES:
            problems.append("%s: mesh_eastwest_address_type=%r: use %s (or leave it out: it follows the address)"
                            % (host, item["eastwest_address_type"], " or ".join(ADDRESS_TYPES)))
        elif item["eastwest_address"] is not None:
            try:
                item["eastwest_address_type"] = address_type(item["eastwest_address"], item["eastwest_address_type"],
                                                             "%s: mesh_eastwest_address" % host)
            except MeshError as e:
                problems.append(e.msg)
        if item["api_server"] is not None and not re.match(r"^https?://\S+$", item["api_server"]):
            problems.append("%s: mesh_api_server=%r must be a URL such as https://api.%s.example:6443"
                            % (host, item["api_server"], name))
        if hv.get("kube_context") is not None and context is None:
            problems.append("%s: kube_context is empty; set it to this cluster's context in the kubeconfig" % host)
        elif context is None and several:
            problems.append("%s: kube_context is not set; with %d clusters in the inventory every host must name its "
                            "own context, or its tasks go to the kubeconfig's current context: set kube_context for %s"
                            % (host, len(hosts), host))
        if env_host and env_credential and context:
            problems.append("%s: kube_context=%s was given but K8S_AUTH_HOST is set in the environment (with %s), which "
                            "kubernetes.core lets override the context and would send this cluster's tasks to %s; "
                            "remove the Kubernetes bearer-token credential (or unset K8S_AUTH_HOST) and give clusters "
                            "through a kubeconfig and per-host contexts"
                            % (host, context, ", ".join(env_credential), env_host))
        if not CLUSTER_NAME.match(name):
            problems.append("%s: mesh_cluster_name=%r (default: the inventory host name) is not a DNS-1123 label: set "
                            "mesh_cluster_name for %s (lower case letters, digits, '-'; at most 63 characters)"
                            % (host, name, host))
        if network is None:
            problems.append("%s: mesh_network is not set; give every cluster its own network name in the inventory "
                            "(e.g. mesh_network: network-%s)" % (host, name))
        elif not NETWORK.match(network):
            problems.append("%s: mesh_network=%r is not a valid network name: use lower case letters, digits, '-' and "
                            "'.', at most 63 characters (e.g. %r)" % (host, network, _suggest(network)))
        if not TRUST_DOMAIN.match(trust_domain):
            problems.append("%s: mesh_trust_domain=%r is not a SPIFFE trust domain: use lower case letters, digits, "
                            "'.', '-', '_' (e.g. %r)" % (host, trust_domain, _suggest(trust_domain)))
        if context is None and several:
            continue  # already a problem; its server would be the current context's, a second report of it
        paths, where = kubeconfig_paths(hv.get("kubeconfig_path"), environ, home)
        key = tuple(paths)
        if key not in configs:
            configs[key] = read_kubeconfig(paths, load_yaml)
        config = configs[key]
        if config is None:
            if context:
                problems.append("%s: kube_context=%s but no kubeconfig exists at %s (from %s): set kubeconfig_path to "
                                "the file that holds the contexts" % (host, context, ", ".join(paths), where))
            continue
        use = context or config["current"]
        if context and context not in config["contexts"]:
            problems.append("%s: kube_context=%s is not a context of %s (contexts there: %s): fix kube_context or "
                            "kubeconfig_path" % (host, context, ", ".join(paths),
                                                 ", ".join(sorted(c for c in config["contexts"] if c)) or "none"))
            continue
        item["server"] = _server(config["clusters"].get(config["contexts"].get(use)))
        item["kubeconfig"] = paths
    _across(out, problems)
    if problems:
        raise MeshError("the inventory has %d problem%s, nothing was changed:\n- %s"
                        % (len(problems), "" if len(problems) == 1 else "s", "\n- ".join(problems)),
                        problems=problems)
    return out


def _across(items, problems):
    """What no single host can get wrong alone: unique API servers, cluster names and networks, and (upstream) one
    trust domain."""
    checks = [
        ("server", "reach the same API server %s",
         "each inventory host must be a different cluster: fix kube_context (or kubeconfig_path) of one of them"),
        ("cluster_name", "have the same cluster name %s",
         "Istio tells clusters apart by name: set mesh_cluster_name for one of them"),
        ("network", "have the same mesh_network %s",
         "peer Gateways and remote secrets are named after the network: give each cluster its own mesh_network")]
    # Upstream istiod accepts a peer's workload identities only in its own trust domain (meshConfig.trustDomainAliases
    # would widen that; the collection does not set it). Solo peering carries each peer's trust domain on its Gateway.
    upstream = [item for item in items if item["distribution"] == "upstream"]
    if len(set(item["trust_domain"] for item in upstream)) > 1:
        problems.append("%s run upstream Istio with different mesh_trust_domain (%s): upstream istiod trusts a peer's "
                        "workloads only in its own trust domain; give every cluster of the mesh the same "
                        "mesh_trust_domain (Solo's peering allows one per cluster)"
                        % (", ".join(item["host"] for item in upstream),
                           ", ".join("%s=%s" % (item["host"], item["trust_domain"]) for item in upstream)))
    for field, what, fix in checks:
        seen = {}
        for item in items:
            value = item[field]
            if value is None:
                continue
            if value in seen:
                problems.append("%s and %s %s: %s" % (seen[value], item["host"], what % value, fix))
            else:
                seen[value] = item["host"]


def _suggest(value):
    return re.sub(r"[^-a-z0-9.]", "-", value.lower()).strip("-.")[:63] or "network1"


# What a later read adds to a resolved identity (the kubeconfig files are dropped before it is published).
_READ_FIELDS = ("kubeconfig", "eastwest_address", "eastwest_address_type")


def checked_before(clusters, known, need_eastwest):
    """Whether known (the mesh_clusters fact) already holds every one of the resolved clusters with the same
    identity, so that no cluster needs to be reached again; never when east-west addresses are needed and unread."""
    if need_eastwest or not known:
        return False
    for c in clusters:
        k = known.get(c["host"])
        if not isinstance(k, dict) or any(k.get(f) != v for f, v in c.items() if f not in _READ_FIELDS):
            return False
        if c.get("eastwest_address") and c["eastwest_address"] != k.get("eastwest_address"):
            return False
    return True
