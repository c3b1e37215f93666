# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: mesh_peers
short_description: The peer list of M(ambientmesh.multicluster.mesh_link) from the resolved cluster identities
version_added: 0.3.0
author: ambientmesh.multicluster maintainers (@ambientmesh)
description:
  - Builds one O(ambientmesh.multicluster.mesh_link#module:peers) entry per host of O(hosts) from C(mesh_clusters),
    the identities M(ambientmesh.multicluster.mesh_preflight) resolved (name, network, trust domain, east-west
    address and type, context, kubeconfig, API server), and the east-west ServiceAccount of each peer's
    distribution. Values that are not set are left out.
  - Fails naming the host when one of O(hosts) has no resolved identity.
options:
  _input:
    description: The fact C(mesh_clusters).
    type: dict
    required: true
  hosts:
    description: The inventory hosts of the mesh (the cluster itself may be among them; the module skips it).
    type: list
    elements: str
    required: true
  service_account:
    description: The east-west ServiceAccount of every peer, instead of its distribution's.
    type: str
"""

EXAMPLES = r"""
- name: Link this cluster to every cluster of group mesh
  ambientmesh.multicluster.mesh_link:
    cluster: "{{ mesh_clusters[inventory_hostname].cluster_name }}"
    peers: "{{ mesh_clusters | ambientmesh.multicluster.mesh_peers(groups['mesh']) }}"
"""

RETURN = r"""
_value:
  description: Peer entries.
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.ambientmesh.multicluster.plugins.module_utils.distributions import DISTRIBUTIONS

# mesh_link's peer option <- the identity's field
FIELDS = (("name", "cluster_name"), ("network", "network"), ("trust_domain", "trust_domain"),
          ("address", "eastwest_address"), ("address_type", "eastwest_address_type"), ("context", "context"),
          ("kubeconfig", "kubeconfig_path"), ("api_server", "api_server"))


def mesh_peers(clusters, hosts, service_account=None):
    missing = [h for h in hosts if h not in (clusters or {})]
    if missing:
        raise AnsibleFilterError("mesh_peers: %s ha%s no resolved identity: run ambientmesh.multicluster.mesh_preflight "
                                 "with hosts that include %s" % (", ".join(missing), "s" if len(missing) == 1 else "ve",
                                                                 "it" if len(missing) == 1 else "them"))
    peers = []
    for host in hosts:
        c = clusters[host]
        peer = dict((option, c.get(field)) for option, field in FIELDS)
        peer["service_account"] = service_account or DISTRIBUTIONS[c["distribution"]]["eastwest"]["service_account"]
        # unset options are left out: the module checks choices even on null values
        peers.append(dict((k, v) for k, v in peer.items() if v is not None))
    return peers


class FilterModule(object):
    def filters(self):
        return {"mesh_peers": mesh_peers}
