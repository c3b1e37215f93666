#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: mesh_link
short_description: Link one cluster of a multicluster Istio ambient mesh to all its peers
version_added: 0.1.0
author: ambientmesh.multicluster maintainers (@ambientmesh)
description:
  - Runs on the controller (an action plugin), once per host, like M(ambientmesh.multicluster.mesh_preflight). The
    kubeconfig files and contexts are the controller's, and O(dest) is written there.
  - Reconciles, in one call, every link object of one cluster to the list of its peers. It creates missing links,
    updates drifted ones and prunes the links this collection made to clusters that are no longer listed.
  - With O(method=peering) (Solo Istio) a link is an C(istio-remote) Gateway C(istio-remote-peer-<peer network>)
    carrying the peer's east-west address, network and trust domain, as C(istioctl multicluster link) writes it.
  - With O(method=remote_secret) (upstream Istio) a link is a Secret C(istio-remote-secret-<peer>) labelled
    C(istio/multiCluster=true) holding a kubeconfig for a dedicated read-only ServiceAccount in the peer. Linking
    needs both ends here, so the module also connects to every peer (through O(peers[].context)), creates the
    reader there (ServiceAccount, ClusterRole with get/list/watch only, ClusterRoleBinding and a long-lived token
    Secret) and reads its token. The token never appears in results, logs or diffs.
  - Every link object is labelled C(app.kubernetes.io/managed-by=ambientmesh.multicluster) and
    C(ambientmesh.multicluster/link-peer=<peer>); objects without these labels are never changed or deleted, and
    a same-named object made by something else (for example C(istioctl)) stops the run before anything is applied.
  - All input is checked before any cluster is contacted; errors name the field and the fix.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - ambientmesh.multicluster.attributes
attributes:
  check_mode:
    support: full
    details: Writes are sent as server-side dry runs. With O(method=remote_secret) a peer whose reader does not exist
      yet has no token, so its link is reported as changing.
  diff_mode:
    support: full
    details: Secret values are shown as C(<redacted>).
  idempotent:
    support: full
options:
  cluster:
    description:
      - The Istio cluster name of the cluster this task talks to. A peer entry with this name is checked like the
        others and then skipped, so the same peer list can be given to every cluster.
    type: str
    required: true
  method:
    description:
      - How clusters are linked. V(peering) for Solo Istio (C(istio-remote) Gateways), V(remote_secret) for upstream
        Istio (remote secrets).
    type: str
    choices: [peering, remote_secret]
    default: peering
  namespace:
    description:
      - Namespace of the link objects (and, with O(method=remote_secret), of the reader in every peer).
      - Defaults to C(istio-gateways) for V(peering) and C(istio-system) for V(remote_secret). It must exist.
    type: str
  peers:
    description:
      - Every cluster this one links to. With O(state=present) links to clusters missing from this list are pruned.
      - With O(state=absent) only the links to the listed peers are removed; an empty list removes every link this
        collection made in the cluster (and, with V(remote_secret), the reader it offers to its peers).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Istio cluster name of the peer (a DNS-1123 label).
        type: str
        required: true
      network:
        description: The peer's network (C(topology.istio.io/network)). Required with V(peering).
        type: str
      trust_domain:
        description: The peer's SPIFFE trust domain (V(peering)).
        type: str
        default: cluster.local
      address:
        description:
          - The peer's east-west gateway address, reachable from this cluster. Required with V(peering).
        type: str
      address_type:
        description: Gateway API address type of O(peers[].address); inferred from the value when omitted.
        type: str
        choices: [IPAddress, Hostname]
      service_account:
        description:
          - ServiceAccount the peer's east-west gateway runs as (annotation C(gateway.istio.io/service-account) of
            the peer Gateway). Istio names it after the peer's east-west Gateway (C(istio-eastwest)) unless that
            Gateway sets C(gateway.istio.io/service-account) itself.
        type: str
        default: istio-eastwest
        aliases: [eastwest_service]
      context:
        description:
          - Kubeconfig context of the peer. Required with V(remote_secret), where the module connects to the peer.
        type: str
      kubeconfig:
        description: Kubeconfig file holding O(peers[].context); defaults to O(kubeconfig).
        type: path
      api_server:
        description:
          - API server URL written into the remote secret (V(remote_secret)); it must be reachable from this
            cluster's istiod. Defaults to the server of the peer's kubeconfig context.
          - A loopback or link-local address (what kind's kubeconfig gives) is refused unless
            O(allow_local_api_server=true), before anything is written.
        type: str
  reader_service_account:
    description: Name of the read-only ServiceAccount (and its ClusterRole and binding) in every peer (V(remote_secret)).
    type: str
    default: ambientmesh-mesh-reader
  state:
    description: V(present) links the cluster to O(peers); V(absent) unlinks it.
    type: str
    choices: [present, absent]
    default: present
  generate:
    description:
      - Apply nothing and return the link objects in RV(manifests), like C(istioctl multicluster link --generate),
        for GitOps or air-gapped use.
      - With V(remote_secret) the returned Secrets are redacted; give O(dest) to get them in full in a file. The
        readers must already exist in the peers (a run without O(generate) creates them).
    type: bool
    default: false
  dest:
    description:
      - With O(generate), also write the manifests, unredacted, as one YAML stream to this file (mode 0600), on the
        controller. A missing directory is created with mode 0700.
    type: path
  allow_local_api_server:
    description:
      - Accept a loopback or link-local API server address in a remote secret (V(remote_secret)). Only right when
        every cluster's istiod runs on the controller's own host, as in a local lab.
    type: bool
    default: false
notes:
  - The peer list usually comes from the inventory; the C(ambientmesh.multicluster.link) role gathers every
    cluster's east-west address first and then calls this module once per cluster.
  - It runs in the controller's process, so the task keyword C(environment) does not reach it; C(K8S_AUTH_*)
    variables are read from the controller's environment (where AWX's credential injectors put them).
seealso:
  - name: Istio multi-primary on different networks (ambient)
    description: The upstream guide that uses remote secrets.
    link: https://istio.io/latest/docs/ambient/install/multicluster/multi-primary_multi-network/
"""

EXAMPLES = r"""
- name: Link cluster1 to its Solo peers (istio-remote Gateways)
  ambientmesh.multicluster.mesh_link:
    context: ctx-cluster1
    cluster: cluster1
    peers:
      - name: cluster2
        network: network2
        trust_domain: cluster2.local
        address: 203.0.113.20
      - name: cluster3
        network: network3
        address: eastwest.cluster3.example.com
        address_type: Hostname

- name: Link cluster1 to cluster2 with an upstream remote secret
  ambientmesh.multicluster.mesh_link:
    context: ctx-cluster1
    cluster: cluster1
    method: remote_secret
    peers:
      - name: cluster2
        context: ctx-cluster2
        api_server: https://api.cluster2.example.com:6443

- name: Write the links of cluster1 to a file instead of applying them
  ambientmesh.multicluster.mesh_link:
    cluster: cluster1
    generate: true
    dest: /srv/gitops/cluster1/links.yaml
    peers:
      - {name: cluster2, network: network2, address: 203.0.113.20}

- name: Unlink cluster1 from every peer
  ambientmesh.multicluster.mesh_link:
    context: ctx-cluster1
    cluster: cluster1
    state: absent
"""

RETURN = r"""
cluster:
  description: The cluster the links were reconciled in.
  returned: always
  type: str
  sample: cluster1
method:
  description: The link method used.
  returned: always
  type: str
  sample: peering
links:
  description: One entry per link object considered in this cluster, with what was done to it.
  returned: always
  type: list
  elements: dict
  sample:
    - {cluster: cluster1, peer: cluster2, kind: Gateway, namespace: istio-gateways,
       name: istio-remote-peer-network2, action: create}
    - {cluster: cluster1, peer: cluster9, kind: Gateway, namespace: istio-gateways,
       name: istio-remote-peer-network9, action: prune}
  contains:
    cluster:
      description: Cluster holding the object.
      type: str
    peer:
      description: The peer the link points to.
      type: str
    kind:
      description: Kind of the object.
      type: str
    namespace:
      description: Namespace of the object.
      type: str
    name:
      description: Name of the object.
      type: str
    action:
      description: V(create), V(update), V(prune) or V(unchanged) (in check mode, what would be done).
      type: str
readers:
  description:
    - With V(remote_secret), the reader objects ensured in the peers (O(state=present)) or removed from this cluster
      (O(state=absent) without peers). Same fields as RV(links), RV(links[].cluster) naming the cluster holding them.
  returned: with method=remote_secret, when not generating
  type: list
  elements: dict
manifests:
  description: The link objects this cluster should hold (O(generate)); Secret values are redacted.
  returned: when generate=true
  type: list
  elements: dict
dest:
  description: File the manifests were written to.
  returned: when generate=true and dest is set
  type: str
"""
