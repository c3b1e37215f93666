# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Links of one cluster to all its peers: validate the peer list, build the link objects (pure functions),
compare them with what the cluster holds, apply the difference and prune links to clusters no longer listed.

One reconcile loop serves every link method; what differs per method is a backend (BACKENDS, select_backend()):
- PeeringBackend (Solo): one `istio-remote` Gateway `istio-remote-peer-<peer network>` per peer;
- RemoteSecretBackend (upstream): one Secret `istio-remote-secret-<peer>` per peer holding a kubeconfig for a
  read-only ServiceAccount in that peer, which the backend ensures there first (helpers in remote_secret.py).
A backend checks its own peer fields, builds the desired link of a peer, and says what it needs from the peers.
Every link object carries our managed-by label and PEER_LABEL; pruning selects on both, so objects made by
anything else are never touched (docs/istio-facts.md).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import copy
import re

from ansible_collections.ambientmesh.multicluster.plugins.module_utils.client import (
    MANAGED_BY_LABEL, MANAGED_BY_VALUE, UNREAD, Kube, auth_argument_spec, managed)
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.compare import (
    clean, project, redact_secret, subset_differs)
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.distributions import DISTRIBUTIONS
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError
from ansible_collections.ambientmesh.multicluster.plugins.module_utils import atomic_write, remote_secret
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.identity import NETWORK, address_type

PEER_LABEL = "ambientmesh.multicluster/link-peer"
NETWORK_LABEL = "topology.istio.io/network"
DEFAULT_EASTWEST_SERVICE_ACCOUNT = DISTRIBUTIONS["solo"]["eastwest"]["service_account"]  # peering is Solo's
CLUSTER_LABEL = "topology.istio.io/cluster"
DEFAULT_TRUST_DOMAIN = "cluster.local"
DEST_MODE = 0o600
DEST_DIR_MODE = 0o700  # a missing folder of dest is made for the manifests alone

# What `istioctl multicluster link` writes (Solo): HBONE data plane and istiod-to-istiod xDS.
REMOTE_LISTENERS = [
    {"name": "cross-network", "port": 15008, "protocol": "HBONE", "tls": {"mode": "Passthrough"}},
    {"name": "xds-tls", "port": 15012, "protocol": "TLS", "tls": {"mode": "Passthrough"}},
]

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


# ---- input ---------------------------------------------------------------------------------------------------
def _blank(value):
    return value is None or (isinstance(value, str) and not value.strip())


def _validate_peer(i, peer, backend, state, check_mode=False):
    where = "peers[%d]" % i
    name = peer.get("name") or ""
    if not DNS_LABEL.match(name):
        raise MeshError("%s.name %r is not a DNS-1123 label (lowercase letters, digits and '-', at most 63 "
                        "characters); use the peer's Istio cluster name" % (where, name))
    out = {"name": name}
    if state == "absent":
        return out
    out.update(backend.peer_fields("%s (%s)" % (where, name), name, peer, check_mode))
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
    backend = select_backend(method)
    if params.get("dest") and not params.get("generate"):
        raise MeshError("dest is only used with generate=true; remove dest or set generate: true")
    if params.get("generate") and state == "absent":
        raise MeshError("generate=true returns the links to apply; it cannot be combined with state=absent")
    namespace = params.get("namespace") or backend.namespace
    if not DNS_LABEL.match(namespace):
        raise MeshError("namespace %r is not a valid namespace name" % namespace)
    peers, seen = [], {}
    for i, raw in enumerate(params.get("peers") or []):
        peer = _validate_peer(i, raw, backend, state, check_mode and not params.get("generate"))
        if peer["name"] == cluster:
            continue  # the same list serves every cluster
        if peer["name"] in seen:
            raise MeshError("peers[%d] and peers[%d] both name cluster %s; list each peer once"
                            % (seen[peer["name"]], i, peer["name"]))
        seen[peer["name"]] = i
        if state == "present":
            backend.check_against(peer, peers)
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
        "apiVersion": PeeringBackend.api_version, "kind": PeeringBackend.kind,
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


def _read_before(action, obj, live, present):
    """What apply() may take as the object before it, or UNREAD when this run did not read it."""
    if action == "update":
        return live
    if present is not None and _key(obj) not in present:
        return None
    return UNREAD


def execute(kube, steps, where, want_diff, present=None):
    """Carry out plan() steps in one cluster (named where); returns (changed, entries, diffs).

    present: the keys (kind, namespace, name) of every object of these kinds the cluster holds, when the caller read
    them, so a create knows there is nothing before it; an update's before is the live object plan() paired it with."""
    changed, entries, diffs = False, [], []
    for action, obj, live in steps:
        target = obj or live
        before = after = None
        if action in ("create", "update"):
            did_change, before, after = kube.apply(obj, before=_read_before(action, obj, live, present))
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


def write_manifests(path, manifests, check_mode):
    """Write manifests as one YAML stream to path (mode 0600, they may hold tokens; a missing folder is made 0700);
    True when it changed."""
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
    try:
        atomic_write.write_files(atomic_write.rename, [(path, text.encode("utf-8"), DEST_MODE)], dir_mode=DEST_DIR_MODE)
    except OSError as e:
        raise MeshError("dest %s: cannot write it (%s); give a path the controller can write" % (path, e.strerror))
    return True


# ---- backends: one per link method ---------------------------------------------------------------------------
class LinkBackend:
    """What one link method does; the defaults are those of a method that needs nothing from its peers.

    A backend names the kind of its link objects (api_version, kind, default namespace), checks the fields its
    peers need (peer_fields, check_against), builds a peer's link (probe: as far as it is known before the peers
    are read, enough to name it; link: in full), and reads, prepares and leaves what it needs in the peers
    (connect_peers, ensure_peers, leave), whose entries it reports under its result_keys.
    """

    method = api_version = kind = namespace = None
    result_keys = ()

    def __init__(self, spec, connect_peer=None, check_mode=False, hide=lambda value: None):
        self.spec, self.connect_peer, self.check_mode, self.hide = spec, connect_peer, check_mode, hide

    @staticmethod
    def peer_fields(where, name, peer, check_mode):
        """The method's fields of one peer, checked (where and name say which peer for messages)."""
        return {}

    @staticmethod
    def check_against(peer, accepted):
        """Refuse peer when it cannot be linked together with the peers accepted before it."""

    def connect_peers(self):
        """Read what the links need from the peers, before anything is written."""

    def probe(self, peer):
        raise NotImplementedError

    def link(self, peer, generate=False):
        return self.probe(peer)

    def ensure_peers(self, want_diff):
        """Make the peers ready for the links; returns (changed, entries, diffs)."""
        return False, [], []

    def leave(self, kube, want_diff):
        """What goes too when this cluster leaves the mesh (every link removed); returns (changed, entries, diffs)."""
        return False, [], []


class PeeringBackend(LinkBackend):
    """Solo Istio: a peer is declared by an `istio-remote` Gateway; nothing is needed from the peer itself."""

    method = "peering"
    api_version, kind, namespace = "gateway.networking.k8s.io/v1", "Gateway", "istio-gateways"

    @staticmethod
    def peer_fields(where, name, peer, check_mode):
        """The peer's checked fields for this method. In check mode a peer without an address is kept as pending
        (its link is reported, not dry-run): the ambient role did not really install its east-west gateway."""
        network = peer.get("network") or ""
        if not NETWORK.match(network):
            raise MeshError("%s: network %r must be a lowercase name of at most 63 characters (letters, digits, "
                            "'-', '.'); set it to the peer's topology.istio.io/network (host var mesh_network)"
                            % (where, network))
        identity = dict(trust_domain=peer.get("trust_domain") or DEFAULT_TRUST_DOMAIN,
                        service_account=peer.get("service_account") or DEFAULT_EASTWEST_SERVICE_ACCOUNT)
        if _blank(peer.get("address")) and check_mode:
            return dict(identity, network=network, address=None, address_type=None, pending=True)
        if _blank(peer.get("address")):
            raise MeshError("%s: peer %s has no east-west address; wait until its east-west gateway Service has "
                            "a LoadBalancer address, or set the address explicitly (role: host var "
                            "mesh_eastwest_address of %s)" % (where, name, name))
        address = peer["address"].strip()
        return dict(identity, network=network, address=address,
                    address_type=address_type(address, peer.get("address_type"), where + ".address"))

    @staticmethod
    def check_against(peer, accepted):
        """One Gateway per network: two peers on one network cannot both be linked."""
        other = next((p["name"] for p in accepted if p["network"] == peer["network"]), None)
        if other is not None:
            raise MeshError("peers %s and %s are both on network %s, but peering makes one Gateway per "
                            "network (istio-remote-peer-%s); give each cluster its own mesh_network"
                            % (other, peer["name"], peer["network"], peer["network"]))

    def probe(self, peer):
        return peer_gateway(peer, self.spec["namespace"])


class RemoteSecretBackend(LinkBackend):
    """Upstream Istio: a peer is reached through a remote secret holding a kubeconfig for the reader that peer
    offers. The readers are inspected first (reads only), then ensured, then their tokens read."""

    method = "remote_secret"
    api_version, kind, namespace = "v1", "Secret", "istio-system"
    result_keys = ("readers",)

    def __init__(self, spec, connect_peer=None, check_mode=False, hide=lambda value: None):
        super(RemoteSecretBackend, self).__init__(spec, connect_peer, check_mode, hide)
        self.peers = {}

    @staticmethod
    def peer_fields(where, name, peer, check_mode):
        if _blank(peer.get("context")):
            raise MeshError("%s: context is required with method=remote_secret: the module reads the peer's "
                            "reader token through it; set the peer's kubeconfig context (role: host var "
                            "kube_context of %s)" % (where, name))
        server = peer.get("api_server")
        if not _blank(server) and not re.match(r"^https?://\S+$", server):
            raise MeshError("%s: api_server %r must be a URL such as https://api.%s.example:6443"
                            % (where, server, name))
        return dict(context=peer["context"], kubeconfig=peer.get("kubeconfig"),
                    api_server=None if _blank(server) else server)

    def connect_peers(self):
        spec = self.spec
        for peer in spec["peers"]:
            kube = self.connect_peer(peer)
            remote_secret.check_reachable_server(remote_secret.server_of(kube, peer), peer, spec["cluster"],
                                                 spec["allow_local_api_server"])
            objects = remote_secret.reader_objects(spec["namespace"], spec["reader"])
            pairs = [(obj, _get(kube, obj)) for obj in objects]
            _refuse_foreign(pairs, peer["name"])
            self.peers[peer["name"]] = {"peer": peer, "kube": kube, "objects": objects,
                                        "live": [pair[1] for pair in pairs if pair[1] is not None],
                                        "token": remote_secret.token_of(pairs[-1][1])}

    def probe(self, peer):
        return link_secret(peer["name"], self.spec["namespace"], "")

    def link(self, peer, generate=False):
        return link_secret(peer["name"], self.spec["namespace"], self.kubeconfig(peer, generate))

    def ensure_peers(self, want_diff):
        """Create or repair every peer's reader, then wait for its token."""
        changed, entries, diffs = False, [], []
        for item in self.peers.values():
            name = item["peer"]["name"]
            did, found, more = execute(item["kube"], plan(item["objects"], item["live"]), name, want_diff,
                                       set(map(_key, item["live"])))
            changed, entries, diffs = changed or did, entries + found, diffs + more
            if not item["token"] and not self.check_mode:
                item["token"] = remote_secret.wait_token(item["kube"], self.spec["namespace"], self.spec["reader"],
                                                         name)
        return changed, entries, diffs

    def leave(self, kube, want_diff):
        """The reader this cluster offered to its peers goes too."""
        mine = [_get(kube, obj) for obj in remote_secret.reader_objects(self.spec["namespace"], self.spec["reader"])]
        return execute(kube, plan([], [o for o in mine if o is not None and managed(o)]), self.spec["cluster"],
                       want_diff)

    def kubeconfig(self, peer, generate=False):
        """The kubeconfig text for peer; in check mode a placeholder while the peer has issued no token yet."""
        item = self.peers[peer["name"]]
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


BACKENDS = dict((backend.method, backend) for backend in (PeeringBackend, RemoteSecretBackend))


def select_backend(method):
    """The backend class of a link method (the module's choices are the keys of BACKENDS)."""
    try:
        return BACKENDS[method]
    except KeyError:
        raise MeshError("method %r is not one of %s" % (method, ", ".join(sorted(BACKENDS))))


# ---- reconcile ---------------------------------------------------------------------------------------------
def _pending(spec, live, kube, backend):
    """Link entries for check-mode peers without an address; their live links are kept, not pruned."""
    entries = []
    for peer in spec["peers"]:
        if not peer.get("pending"):
            continue
        obj = backend.probe(peer)
        exists = any(o["metadata"]["name"] == obj["metadata"]["name"] for o in live)
        kube.warn("check mode: peer %s has no east-west address yet, so its link was not dry-run; a real run "
                  "needs the address (from its east-west gateway Service or mesh_eastwest_address)" % peer["name"])
        entries.append({"cluster": spec["cluster"], "peer": peer["name"], "kind": obj["kind"],
                        "namespace": spec["namespace"], "name": obj["metadata"]["name"],
                        "action": "unchanged" if exists else "create"})
    names = set(e["name"] for e in entries)
    return entries, [o for o in live if o["metadata"]["name"] not in names]


def _desired(spec, backend):
    return [backend.link(p, generate=spec["generate"]) for p in spec["peers"] if not p.get("pending")]


def reconcile(spec, local, connect_peer, check_mode=False, want_diff=False, hide=lambda value: None):
    """Make this cluster's links match spec (from validate()).

    local() returns the cluster client (Kube) of this cluster, connect_peer(peer) one for a peer; both are
    only called when needed (generate mode with peering contacts no cluster). hide(value) registers a
    secret value so Ansible masks it anywhere in output. Everything is read and checked before the first write.
    """
    backend = select_backend(spec["method"])(spec, connect_peer, check_mode, hide)
    result = {"changed": False, "cluster": spec["cluster"], "method": spec["method"], "links": []}
    if spec["state"] == "present":
        backend.connect_peers()

    if spec["generate"]:
        manifests = _desired(spec, backend)
        result["manifests"] = [shown(m) for m in manifests]
        if spec["dest"]:
            result["dest"] = spec["dest"]
            result["changed"] = write_manifests(spec["dest"], manifests, check_mode)
        return result

    kube = local()
    diffs, present = [], None
    result.update((key, []) for key in backend.result_keys)
    live = kube.list(backend.api_version, backend.kind, spec["namespace"], selector())
    for obj in live:  # items of core lists come without them
        obj.update(apiVersion=backend.api_version, kind=backend.kind)
    if spec["state"] == "absent":
        wanted = set(p["name"] for p in spec["peers"])
        steps = plan([], [o for o in live if not wanted or o["metadata"]["labels"].get(PEER_LABEL) in wanted])
        if not wanted:  # leaving the mesh
            did, entries, diffs = backend.leave(kube, want_diff)
            result["changed"] = did
            result.update((key, entries) for key in backend.result_keys)
    else:
        _check_namespace(kube, spec["namespace"], spec["cluster"], check_mode)
        pending, live = _pending(spec, live, kube, backend)
        live_names = set(o["metadata"]["name"] for o in live)
        missing = [o for o in map(backend.probe, spec["peers"]) if o["metadata"]["name"] not in live_names]
        if missing:  # one metadata-only list instead of a GET per new peer (never a Secret's data)
            held = kube.metadata(backend.api_version, backend.kind, spec["namespace"])
            _refuse_foreign([(o, held.get(o["metadata"]["name"])) for o in missing], spec["cluster"])
            present = set((backend.kind, spec["namespace"], name) for name in held)
        result["changed"], entries, diffs = backend.ensure_peers(want_diff)
        result.update((key, entries) for key in backend.result_keys)
        steps = plan(_desired(spec, backend), live)

    changed, result["links"], link_diffs = execute(kube, steps, spec["cluster"], want_diff, present)
    if spec["state"] == "present":
        result["links"] += pending
        changed = changed or any(e["action"] == "create" for e in pending)
    result["changed"] = result["changed"] or changed
    if want_diff:
        result["diff"] = diffs + link_diffs
    return result


PEER_OPTIONS = dict(
    name=dict(type="str", required=True),
    network=dict(type="str"),
    trust_domain=dict(type="str", default=DEFAULT_TRUST_DOMAIN),
    address=dict(type="str"),
    address_type=dict(type="str", choices=["IPAddress", "Hostname"]),
    service_account=dict(type="str", default=DEFAULT_EASTWEST_SERVICE_ACCOUNT, aliases=["eastwest_service"]),
    context=dict(type="str"),
    kubeconfig=dict(type="path"),
    api_server=dict(type="str"),
)


def argument_spec():
    """The options of mesh_link (documented in plugins/modules/mesh_link.py) with kubernetes.core's auth options."""
    spec = auth_argument_spec()
    spec.update(
        cluster=dict(type="str", required=True),
        method=dict(type="str", default="peering", choices=sorted(BACKENDS)),
        namespace=dict(type="str"),
        peers=dict(type="list", elements="dict", default=[], options=copy.deepcopy(PEER_OPTIONS)),
        reader_service_account=dict(type="str", default=remote_secret.DEFAULT_READER),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        generate=dict(type="bool", default=False),
        dest=dict(type="path"),
        allow_local_api_server=dict(type="bool", default=False),
    )
    return spec


def run(params, check_mode=False, want_diff=False, warn=lambda msg: None, hide=lambda value: None):
    """Validate params (the options checked against argument_spec(); no cluster contact on bad input), then
    reconcile this cluster's links. warn(msg) reports a warning, hide(value) masks a secret value in the output."""
    spec = validate(params, check_mode)
    return reconcile(spec, lambda: Kube.connect(params, check_mode, warn),
                     lambda peer: remote_secret.connect_peer(params, check_mode, warn, peer),
                     check_mode, want_diff, hide)
