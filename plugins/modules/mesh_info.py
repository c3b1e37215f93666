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
  - With O(prometheus_url), also checks that istiod has synced every expected peer it is linked to by a remote
    secret (upstream), from the C(istiod_remote_cluster_sync_status) gauge istiod exports on port 15014. A peer
    whose credential cannot read what istiod watches stays C(syncing) or C(timeout), and istiod then serves no
    endpoints of it. Solo peer Gateways have no such gauge and are not checked this way.
  - Never returns Secret data.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - ambientmesh.multicluster.attributes
  - ambientmesh.multicluster.attributes.read_only
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
  prometheus_url:
    description:
      - Base URL of a Prometheus that scrapes this cluster's istiod; queried from where the module runs.
      - Empty does not check peer sync (RV(mesh.peer_sync) is null).
    type: str
    default: ""
  prometheus_selector:
    description:
      - PromQL label matchers that pick this cluster's istiod series when one Prometheus scrapes several clusters,
        for example C(mesh_cluster="cluster1").
      - Empty when the Prometheus of O(prometheus_url) sees only this cluster.
    type: str
    default: ""
  prometheus_bearer_token:
    description: Bearer token for O(prometheus_url).
    type: str
  prometheus_validate_certs:
    description: Verify the TLS certificate of O(prometheus_url).
    type: bool
    default: true
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

- name: The same, and cluster1's istiod must report both peers synced (one Prometheus for every cluster)
  ambientmesh.multicluster.mesh_info:
    context: cluster1
    expected_peers: [cluster2, cluster3]
    prometheus_url: http://prometheus.monitoring:9090
    prometheus_selector: mesh_cluster="cluster1"
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
    peer_sync:
      description:
        - Per remote cluster, the states this cluster's istiod reports it in (one per replica; C(synced),
          C(syncing), C(timeout) or C(closed)).
        - Null when O(prometheus_url) is empty.
      type: dict
      sample: {cluster2: [synced], cluster3: [timeout]}
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
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.mesh_info import gather, peer_sync, sync_query
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.module import cluster_module, run
from ansible_collections.ambientmesh.multicluster.plugins.module_utils import prometheus


def istiod_sync(params):
    """peer_sync() from the Prometheus of `prometheus_url`, or None when it is not set."""
    url, selector = params["prometheus_url"], params["prometheus_selector"]
    if not url:
        return None, None
    prometheus.validate_url(url)
    prometheus.validate_selector(selector, "prometheus_selector")
    result = prometheus.query(url, sync_query(selector), validate_certs=params["prometheus_validate_certs"],
                              bearer_token=params["prometheus_bearer_token"])
    return peer_sync(result), "%s%s" % (url, " {%s}" % selector if selector else "")


def read(module):
    sync, source = istiod_sync(module.params)
    mesh = gather(Kube(module), module.params["istio_namespace"], module.params["expected_peers"], sync, source)
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
                                 fail_on_problems=dict(type="bool", default=False),
                                 prometheus_url=dict(type="str", default=""),
                                 prometheus_selector=dict(type="str", default=""),
                                 prometheus_bearer_token=dict(type="str", no_log=True),
                                 prometheus_validate_certs=dict(type="bool", default=True)), supports_check_mode=True)
    run(module, read)


if __name__ == "__main__":
    main()
