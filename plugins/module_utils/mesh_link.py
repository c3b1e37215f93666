# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Links of one cluster to all its peers: validate the peer list, build the link objects (pure functions),
compare them with what the cluster holds, apply the difference and prune links to clusters no longer listed.

Link objects per method (docs/istio-facts.md):
- peering (Solo): one `istio-remote` Gateway `istio-remote-peer-<peer network>` per peer;
- remote_secret (upstream): one Secret `istio-remote-secret-<peer>` per peer holding a kubeconfig for a
  read-only ServiceAccount in that peer (see remote_secret.py).
Every link object carries our managed-by label and PEER_LABEL; pruning selects on both, so objects made by
anything else are never touched.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import ipaddress
import os
import re

from ansible_collections.ambientmesh.multicluster.plugins.module_utils.client import (
    MANAGED_BY_LABEL, MANAGED_BY_VALUE, managed)
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.compare import (
    clean, project, redact_secret, subset_differs)
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError
from ansible_collections.ambientmesh.multicluster.plugins.module_utils import atomic_write, remote_secret
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.identity import NETWORK

PEER_LABEL = "ambientmesh.multicluster/link-peer"
NETWORK_LABEL = "topology.istio.io/network"
DEFAULT_EASTWEST_SERVICE_ACCOUNT = "istio-eastwest"
CLUSTER_LABEL = "topology.istio.io/cluster"
DEFAULT_TRUST_DOMAIN = "cluster.local"
DEST_MODE = 0o600

METHODS = {
    "peering": {"api_version": "gateway.networking.k8s.io/v1", "kind": "Gateway", "namespace": "istio-gateways"},
    "remote_secret": {"api_version": "v1", "kind": "Secret", "namespace": "istio-system"},
}

# What `istioctl multicluster link` writes (Solo): HBONE data plane and istiod-to-istiod xDS.
REMOTE_LISTENERS = [
    {"name": "cross-network", "port": 15008, "protocol": "HBONE", "tls": {"mode": "Passthrough"}},
    {"name": "xds-tls", "port": 15012, "protocol": "TLS", "tls": {"mode": "Passthrough"}},
]

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
IP_SHAPED = re.compile(r"^[0-9]+(\.[0-9]+){3}$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


# ---- input ---------------------------------------------------------------------------------------------------
def _blank(value):
    return value is None or (isinstance(value, str) and not value.strip())


def address_type(address, declared, where):
    """The Gateway API address type for address, checked against the declared one (inferred when None)."""
    try:
        ipaddress.ip_address(address)
        is_ip = True
    except ValueError:
        is_ip = False
    if not is_ip and IP_SHAPED.match(address):
        # 999.1.1.1 is a valid DNS name, but nobody means a host called that: an IPv4 address with a typo
        raise MeshError("%s.address %r looks like an IPv4 address but is not one (each part 0-255); fix the address "
                        "(host var mesh_eastwest_address, or the east-west Service's load-balancer address)"
                        % (where, address))
    if declared is None:
        declared = "IPAddress" if is_ip else "Hostname"
    if declared == "IPAddress" and not is_ip:
        raise MeshError("%s.address %r is not an IP address; set address_type: Hostname for a DNS name"
                        % (where, address))
    if declared == "Hostname" and (is_ip or len(address) > 253 or not DNS_SUBDOMAIN.match(address)):
        raise MeshError("%s.address %r is not a DNS hostname; give a lowercase DNS name, or set "
                        "address_type: IPAddress for an IP" % (where, address))
    return declared


def _validate_peer(i, peer, method, state, check_mode=False):
    where = "peers[%d]" % i
    name = peer.get("name") or ""
    if not DNS_LABEL.match(name):
        raise MeshError("%s.name %r is not a DNS-1123 label (lowercase letters, digits and '-', at most 63 "
                        "characters); use the peer's Istio cluster name" % (where, name))
    where = "%s (%s)" % (where, name)
    out = {"name": name}
    if state == "absent":
        return out
    if method == "peering":
        network = peer.get("network") or ""
        if not NETWORK.match(network):
            raise MeshError("%s: network %r must be a lowercase name of at most 63 characters (letters, digits, "
                            "'-', '.'); set it to the peer's topology.istio.io/network (host var mesh_network)"
                            % (where, network))
        if _blank(peer.get("address")) and check_mode:
            # Check mode of a whole play: the ambient role did not really install the east-west gateway.
            out.update(network=network, address=None, address_type=None, pending=True,
                       trust_domain=peer.get("trust_domain") or DEFAULT_TRUST_DOMAIN,
                       service_account=peer.get("service_account") or DEFAULT_EASTWEST_SERVICE_ACCOUNT)
            return out
        if _blank(peer.get("address")):
            raise MeshError("%s: peer %s has no east-west address; wait until its east-west gateway Service has "
                            "a LoadBalancer address, or set the address explicitly (role: host var "
                            "mesh_eastwest_address of %s)" % (where, name, name))
        address = peer["address"].strip()
        out.update(network=network, address=address,
                   address_type=address_type(address, peer.get("address_type"), where),
                   trust_domain=peer.get("trust_domain") or DEFAULT_TRUST_DOMAIN,
                   service_account=peer.get("service_account") or DEFAULT_EASTWEST_SERVICE_ACCOUNT)
    else:
        if _blank(peer.get("context")):
            raise MeshError("%s: context is required with method=remote_secret: the module reads the peer's "
                            "reader token through it; set the peer's kubeconfig context (role: host var "
                            "kube_context of %s)" % (where, name))
        server = peer.get("api_server")
        if not _blank(server) and not re.match(r"^https?://\S+$", server):
            raise MeshError("%s: api_server %r must be a URL such as https://api.%s.example:6443"
                            % (where, server, name))
        out.update(context=peer["context"], kubeconfig=peer.get("kubeconfig"),
                   api_server=None if _blank(server) else server)
    return out


def validate(params, check_mode=False):
    """The module's parameters checked and normalised, before any cluster is contacted.

    Returns a dict with method, namespace, state, generate, dest, reader and the peers without this cluster.
    Every problem is reported with the field that carries it and how to fix it. In check mode a peering peer
    without an address is kept as pending (its link is reported, not dry-run) instead of failing.
    """
    cluster = params.get("cluster") or ""
    if not DNS_LABEL.match(cluster):
        raise MeshError("cluster %r is not a DNS-1123 label; give this cluster's Istio cluster name" % cluster)
    method, state = params["method"], params["state"]
    if params.get("dest") and not params.get("generate"):
        raise MeshError("dest is only used with generate=true; remove dest or set generate: true")
    if params.get("generate") and state == "absent":
        raise MeshError("generate=true returns the links to apply; it cannot be combined with state=absent")
    namespace = params.get("namespace") or METHODS[method]["namespace"]
    if not DNS_LABEL.match(namespace):
        raise MeshError("namespace %r is not a valid namespace name" % namespace)
    peers, seen, networks = [], {}, {}
    for i, raw in enumerate(params.get("peers") or []):
        peer = _validate_peer(i, raw, method, state, check_mode and not params.get("generate"))
        if peer["name"] == cluster:
            continue  # the same list serves every cluster
        if peer["name"] in seen:
            raise MeshError("peers[%d] and peers[%d] both name cluster %s; list each peer once"
                            % (seen[peer["name"]], i, peer["name"]))
        seen[peer["name"]] = i
        if method == "peering" and state == "present":
            other = networks.get(peer["network"])
            if other is not None:
                raise MeshError("peers %s and %s are both on network %s, but peering makes one Gateway per "
                                "network (istio-remote-peer-%s); give each cluster its own mesh_network"
                                % (other, peer["name"], peer["network"], peer["network"]))
            networks[peer["network"]] = peer["name"]
        peers.append(peer)
    return {"cluster": cluster, "method": method, "namespace": namespace, "state": state, "peers": peers,
            "generate": bool(params.get("generate")), "dest": params.get("dest"),
            "allow_local_api_server": bool(params.get("allow_local_api_server")),
            "reader": params.get("reader_service_account") or remote_secret.DEFAULT_READER}


# ---- link objects (pure) -----------------------------------------------------------------------------------
def link_labels(peer_name, extra=None):
    labels = {MANAGED_BY_LABEL: MANAGED_BY_VALUE, PEER_LABEL: peer_name}
    labels.update(extra or {})
    return labels


def peer_gateway(peer, namespace):
    """The `istio-remote` Gateway that declares peer (its network, address and trust domain) in this cluster."""
    return {
        "apiVersion": METHODS["peering"]["api_version"], "kind": "Gateway",
        "metadata": {
            "name": "istio-remote-peer-" + peer["network"], "namespace": namespace,
            "labels": link_labels(peer["name"], {NETWORK_LABEL: peer["network"], CLUSTER_LABEL: peer["name"]}),
            # the identity the peer's east-west gateway runs as (its ServiceAccount), which istiod expects in its
            # SPIFFE ID; Istio names it after the east-west Gateway unless that Gateway overrides it
            "annotations": {"gateway.istio.io/service-account": peer["service_account"],
                            "gateway.istio.io/trust-domain": peer["trust_domain"]},
        },
        "spec": {
            "gatewayClassName": "istio-remote",
            "addresses": [{"type": peer["address_type"], "value": peer["address"]}],
            "listeners": [dict(listener, tls=dict(listener["tls"])) for listener in REMOTE_LISTENERS],
        },
    }


def link_secret(peer_name, namespace, kubeconfig):
    """The upstream remote secret for peer_name (what `istioctl create-remote-secret` writes)."""
    return {
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {
            "name": "istio-remote-secret-" + peer_name, "namespace": namespace,
            "labels": link_labels(peer_name, {"istio/multiCluster": "true"}),
            "annotations": {"networking.istio.io/cluster": peer_name},
        },
        "data": {peer_name: base64.b64encode(kubeconfig.encode("utf-8")).decode("ascii")},
    }


def selector():
    """Label selector of every link object this collection made (any peer)."""
    return "%s=%s,%s" % (MANAGED_BY_LABEL, MANAGED_BY_VALUE, PEER_LABEL)


def ref(obj):
    meta = obj["metadata"]
    return "%s %s%s" % (obj["kind"], meta["namespace"] + "/" if meta.get("namespace") else "", meta["name"])


def shown(obj):
    """obj as results and diffs may show it: Secrets with values redacted, no server noise."""
    obj = clean(obj)
    return redact_secret(obj) if obj and obj.get("kind") == "Secret" else obj


def _key(obj):
    meta = obj["metadata"]
    return obj["kind"], meta.get("namespace") or "", meta["name"]


def plan(desired, live):
    """Pair desired objects with the live ones we own.

    desired: list of objects; live: list of live objects carrying our labels. Returns a list of
    (action, desired_or_None, live_or_None) with action create, update, unchanged or prune; a live object
    is pruned when no desired object has its kind, namespace and name.
    """
    by_key = dict((_key(o), o) for o in live)
    steps = []
    for obj in desired:
        current = by_key.pop(_key(obj), None)
        if current is None:
            steps.append(("create", obj, None))
        elif subset_differs(obj, current):
            steps.append(("update", obj, current))
        else:
            steps.append(("unchanged", obj, current))
    steps.extend(("prune", None, by_key[key]) for key in sorted(by_key))
    return steps


def diff_entry(header, before, after, shape=None):
    """A --diff entry; with shape (the desired object) both sides show only the fields we set."""
    before, after = shown(before), shown(after)
    if shape is not None:
        before, after = (project(side, shape) if side is not None else None for side in (before, after))
    return {"before_header": header, "after_header": header, "before": before or {}, "after": after or {}}


def execute(kube, steps, where, want_diff):
    """Carry out plan() steps in one cluster (named where); returns (changed, entries, diffs)."""
    changed, entries, diffs = False, [], []
    for action, obj, live in steps:
        target = obj or live
        before = after = None
        if action in ("create", "update"):
            did_change, before, after = kube.apply(obj)
            if not did_change:
                action = "unchanged"
        elif action == "prune":
            before = kube.delete(target["apiVersion"], target["kind"], target["metadata"]["name"],
                                 target["metadata"].get("namespace"))
            if before is None:
                action = "unchanged"
        entry = {"cluster": where, "kind": target["kind"], "namespace": target["metadata"].get("namespace"),
                 "name": target["metadata"]["name"], "action": action}
        peer = (target["metadata"].get("labels") or {}).get(PEER_LABEL)
        if peer:
            entry["peer"] = peer
        entries.append(entry)
        if action != "unchanged":
            changed = True
            if want_diff:
                diffs.append(diff_entry("%s in %s" % (ref(target), where), before, after, shape=obj))
    return changed, entries, diffs


# ---- reconcile ---------------------------------------------------------------------------------------------
def _get(kube, obj):
    meta = obj["metadata"]
    return kube.get(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))


def _refuse_foreign(objects_and_live, cluster):
    foreign = [ref(obj) for obj, live in objects_and_live if live is not None and not managed(live)]
    if foreign:
        raise MeshError("%s already exist in cluster %s and were not made by this collection (no label %s=%s); "
                        "delete them (e.g. links made by istioctl) and rerun"
                        % (", ".join(foreign), cluster, MANAGED_BY_LABEL, MANAGED_BY_VALUE))


def _check_namespace(kube, namespace, cluster, check_mode):
    if kube.get("v1", "Namespace", namespace) is not None:
        return
    if check_mode:
        kube.warn("check mode: namespace %s does not exist in cluster %s yet; a real run fails unless an earlier "
                  "task (the ambient role) creates it" % (namespace, cluster))
    else:
        raise MeshError("namespace %s does not exist in cluster %s; install the mesh there first (the ambient "
                        "role creates it) or set namespace" % (namespace, cluster))


def write_manifests(path, manifests, check_mode, atomic_move):
    """Write manifests as one YAML stream to path (mode 0600, they may hold tokens); True when it changed."""
    from ansible.module_utils.common.yaml import yaml_dump_all

    text = yaml_dump_all(manifests, default_flow_style=False, sort_keys=True)
    try:
        with open(path, "r") as f:
            if f.read() == text:
                return False
    except (IOError, OSError):
        pass
    if check_mode:
        return True
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise MeshError("dest %s: directory %s does not exist; create it first" % (path, directory))
    atomic_write.write_files(atomic_move, [(path, text.encode("utf-8"), DEST_MODE)])
    return True


class Readers:
    """The reader each peer offers (upstream): inspected first (reads only), then ensured, then its token."""

    def __init__(self, spec, connect_peer, check_mode, hide):
        self.spec, self.check_mode, self.hide = spec, check_mode, hide
        self.peers = []
        for peer in spec["peers"]:
            kube = connect_peer(peer)
            remote_secret.check_reachable_server(remote_secret.server_of(kube, peer), peer, spec["cluster"],
                                                 spec["allow_local_api_server"])
            objects = remote_secret.reader_objects(spec["namespace"], spec["reader"])
            pairs = [(obj, _get(kube, obj)) for obj in objects]
            _refuse_foreign(pairs, peer["name"])
            self.peers.append({"peer": peer, "kube": kube, "objects": objects,
                               "live": [pair[1] for pair in pairs if pair[1] is not None],
                               "token": remote_secret.token_of(pairs[-1][1])})

    def ensure(self, want_diff):
        """Create or repair every peer's reader; returns (changed, entries, diffs)."""
        changed, entries, diffs = False, [], []
        for item in self.peers:
            name = item["peer"]["name"]
            did, found, more = execute(item["kube"], plan(item["objects"], item["live"]), name, want_diff)
            changed, entries, diffs = changed or did, entries + found, diffs + more
            if not item["token"] and not self.check_mode:
                item["token"] = remote_secret.wait_token(item["kube"], self.spec["namespace"], self.spec["reader"], name)
        return changed, entries, diffs

    def kubeconfig(self, peer, generate=False):
        """The kubeconfig text for peer; in check mode a placeholder while the peer has issued no token yet."""
        item = next(i for i in self.peers if i["peer"]["name"] == peer["name"])
        if not item["token"]:
            if generate:
                raise MeshError("peer %s has no reader token yet (Secret %s/%s); run mesh_link once without "
                                "generate for any cluster linked to %s, which creates the reader there"
                                % (peer["name"], self.spec["namespace"],
                                   remote_secret.token_secret_name(self.spec["reader"]), peer["name"]))
            return "# token not issued yet (check mode)\n"
        token, ca_data = item["token"]
        self.hide(token)
        text = remote_secret.kubeconfig(peer["name"], remote_secret.server_of(item["kube"], peer), ca_data, token)
        self.hide(base64.b64encode(text.encode("utf-8")).decode("ascii"))
        return text


def _pending(spec, live, kube):
    """Link entries for check-mode peers without an address; their live links are kept, not pruned."""
    entries = []
    for peer in spec["peers"]:
        if not peer.get("pending"):
            continue
        gateway = peer_gateway(peer, spec["namespace"])
        exists = any(o["metadata"]["name"] == gateway["metadata"]["name"] for o in live)
        kube.warn("check mode: peer %s has no east-west address yet, so its link was not dry-run; a real run "
                  "needs the address (from its east-west gateway Service or mesh_eastwest_address)" % peer["name"])
        entries.append({"cluster": spec["cluster"], "peer": peer["name"], "kind": gateway["kind"],
                        "namespace": spec["namespace"], "name": gateway["metadata"]["name"],
                        "action": "unchanged" if exists else "create"})
    names = set(e["name"] for e in entries)
    return entries, [o for o in live if o["metadata"]["name"] not in names]


def _desired(spec, readers):
    if spec["method"] == "peering":
        return [peer_gateway(p, spec["namespace"]) for p in spec["peers"] if not p.get("pending")]
    return [link_secret(p["name"], spec["namespace"], readers.kubeconfig(p, generate=spec["generate"]))
            for p in spec["peers"]]


def reconcile(spec, local, connect_peer, check_mode=False, want_diff=False, hide=lambda value: None,
              atomic_move=None):
    """Make this cluster's links match spec (from validate()).

    local() returns the cluster client (Kube) of this cluster, connect_peer(peer) one for a peer; both are
    only called when needed (generate mode with peering contacts no cluster). hide(value) registers a
    secret value so Ansible masks it anywhere in output. Everything is read and checked before the first
    write.
    """
    method = METHODS[spec["method"]]
    result = {"changed": False, "cluster": spec["cluster"], "method": spec["method"], "links": []}
    readers = None
    if spec["state"] == "present" and spec["method"] == "remote_secret":
        readers = Readers(spec, connect_peer, check_mode, hide)

    if spec["generate"]:
        manifests = _desired(spec, readers)
        result["manifests"] = [shown(m) for m in manifests]
        if spec["dest"]:
            result["dest"] = spec["dest"]
            result["changed"] = write_manifests(spec["dest"], manifests, check_mode, atomic_move)
        return result

    kube = local()
    diffs = []
    if spec["method"] == "remote_secret":
        result["readers"] = []
    live = kube.list(method["api_version"], method["kind"], spec["namespace"], selector())
    for obj in live:  # items of core lists come without them
        obj.update(apiVersion=method["api_version"], kind=method["kind"])
    if spec["state"] == "absent":
        wanted = set(p["name"] for p in spec["peers"])
        steps = plan([], [o for o in live if not wanted or o["metadata"]["labels"].get(PEER_LABEL) in wanted])
        if spec["method"] == "remote_secret" and not wanted:
            # Leaving the mesh: the reader this cluster offered to its peers goes too.
            mine = [_get(kube, obj) for obj in remote_secret.reader_objects(spec["namespace"], spec["reader"])]
            did, result["readers"], diffs = execute(kube, plan([], [o for o in mine if o is not None and managed(o)]),
                                                    spec["cluster"], want_diff)
            result["changed"] = did
    else:
        _check_namespace(kube, spec["namespace"], spec["cluster"], check_mode)
        pending, live = _pending(spec, live, kube)
        live_names = set(o["metadata"]["name"] for o in live)
        probe = [peer_gateway(p, spec["namespace"]) if spec["method"] == "peering"
                 else link_secret(p["name"], spec["namespace"], "") for p in spec["peers"]]
        _refuse_foreign([(o, _get(kube, o)) for o in probe if o["metadata"]["name"] not in live_names],
                        spec["cluster"])
        if readers is not None:
            result["changed"], result["readers"], diffs = readers.ensure(want_diff)
        steps = plan(_desired(spec, readers), live)

    changed, result["links"], link_diffs = execute(kube, steps, spec["cluster"], want_diff)
    if spec["state"] == "present":
        result["links"] += pending
        changed = changed or any(e["action"] == "create" for e in pending)
    result["changed"] = result["changed"] or changed
    if want_diff:
        result["diff"] = diffs + link_diffs
    return result


def run_module(module):
    """Module entry: validate first (no cluster contact on bad input), then reconcile."""
    from ansible_collections.ambientmesh.multicluster.plugins.module_utils.client import Kube

    spec = validate(module.params, module.check_mode)

    return reconcile(spec, lambda: Kube(module), lambda peer: remote_secret.connect_peer(module, peer),
                     module.check_mode, module._diff, module.no_log, module.atomic_move)  # pylint: disable=protected-access
