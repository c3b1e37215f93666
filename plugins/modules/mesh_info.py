#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: mesh_info
short_description: Read-only facts about one cluster of a multicluster ambient mesh
version_added: 0.1.0
author: ambientmesh.multicluster maintainers (@ambientmesh)
description:
  - Reports the Istio distribution (Solo or upstream) and versions, the readiness of istiod, ztunnel, the
    CNI node agent and the east-west gateway, the east-west address, linked peers (Solo peer Gateways of class
    C(istio-remote) and upstream remote secrets, by name only), global services and ambient namespaces.
  - Components are found by their standard labels in any namespace (C(app=istiod), C(app.kubernetes.io/name=ztunnel),
    C(k8s-app=istio-cni-node)); the east-west gateway by its class (C(istio-east-west) upstream,
    C(istio-eastwest) Solo).
  - Checks the cluster's health, that is every component present and ready (a DaemonSet that schedules no pod is
    not ready), the east-west gateway Programmed, and a link to every cluster of O(expected_peers). Each problem
    names what is wrong and the fix.
  - Never returns Secret data.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - ambientmesh.multicluster.attributes
attributes:
  check_mode:
    support: full
    details: Read-only; runs the same in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  istio_namespace:
    description: Namespace of istiod, of remote secrets and of the C(topology.istio.io/network) label.
    type: str
    default: istio-system
  expected_peers:
    description:
      - Cluster names this cluster must be linked to (a Solo peer Gateway labelled C(topology.istio.io/cluster),
        or an upstream remote secret annotated C(networking.istio.io/cluster), naming each).
      - Empty checks no link.
    type: list
    elements: str
    default: []
  fail_on_problems:
    description: Fail the task, listing the problems, when the cluster is not healthy.
    type: bool
    default: false
requirements:
  - kubernetes >= 24.2.0
"""

EXAMPLES = r"""
- name: Facts of this cluster's mesh
  ambientmesh.multicluster.mesh_info:
    context: cluster1
  register: mesh

- name: Every component is ready and both clusters are linked
  ansible.builtin.assert:
    that:
      - mesh.mesh.ready
      - mesh.mesh.peer_count >= 1
    fail_msg: "not ready: {{ mesh.mesh.not_ready }}"

- name: Fail unless every component is ready and the cluster is linked to cluster2 and cluster3
  ambientmesh.multicluster.mesh_info:
    context: cluster1
    expected_peers: [cluster2, cluster3]
    fail_on_problems: true
"""

RETURN = r"""
mesh:
  description: Facts about this cluster's mesh.
  returned: always
  type: dict
  contains:
    distribution:
      description: C(solo), C(upstream), or null when no Istio component was found.
      type: str
      sample: solo
    versions:
      description: Kubernetes version and image version of each component (null when absent).
      type: dict
      sample: {kubernetes: v1.36.3, istiod: 1.29.0-solo, ztunnel: 1.29.0-solo, cni: 1.29.0-solo}
    network:
      description: The C(topology.istio.io/network) label of the istio namespace.
      type: str
    components:
      description:
        - Per component (istiod, ztunnel, cni, eastwest_gateway) its name, namespace, readiness and version;
          null when absent.
      type: dict
    ready:
      description: Whether istiod, ztunnel, the CNI agent and the east-west gateway are all ready.
      type: bool
    not_ready:
      description: Components that are absent or not ready.
      type: list
      elements: str
    eastwest_address:
      description: Address of the east-west gateway (Gateway status, else its Service's load balancer).
      type: str
    peers:
      description: Linked clusters (peer Gateways and remote secrets, names only).
      type: list
      elements: dict
    peer_count:
      description: Number of entries in peers.
      type: int
    global_services:
      description: Services exposed across clusters, as C(namespace/name).
      type: list
      elements: str
    ambient_namespaces:
      description: Namespaces labelled C(istio.io/dataplane-mode=ambient).
      type: list
      elements: str
    expected_peers:
      description: The O(expected_peers) checked, sorted.
      type: list
      elements: str
    healthy:
      description: Whether problems is empty; null in check mode on a cluster without Istio (not checked).
      type: bool
    problems:
      description: What is wrong with this cluster's mesh, each with its fix; left out when not checked.
      type: list
      elements: str
      sample:
        - "ztunnel is absent (no DaemonSet labelled app.kubernetes.io/name=ztunnel in any namespace): install it with
          the ambient role (chart ztunnel)"
"""

from ansible_collections.ambientmesh.multicluster.plugins.module_utils.client import Kube
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.mesh_facts import gather
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.module import cluster_module, run


def read(module):
    mesh = gather(Kube(module), module.params["istio_namespace"], module.params["expected_peers"])
    if module.check_mode and mesh["distribution"] is None:
        # a dry run of a whole play on empty clusters: the ambient role only dry-ran, so there is no health to judge
        module.warn("check mode: no Istio component in this cluster yet, so its mesh health is not checked; a real "
                    "run checks it once the ambient role has installed them")
        mesh.pop("problems")
        mesh["healthy"] = None
    if module.params["fail_on_problems"] and mesh["problems"]:
        raise MeshError("the mesh in this cluster is not healthy: " + "; ".join(mesh["problems"]), mesh=mesh)
    return {"changed": False, "mesh": mesh}


def main():
    module = cluster_module(dict(istio_namespace=dict(type="str", default="istio-system"),
                                 expected_peers=dict(type="list", elements="str", default=[]),
                                 fail_on_problems=dict(type="bool", default=False)), supports_check_mode=True)
    run(module, read)


if __name__ == "__main__":
    main()
