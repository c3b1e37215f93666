#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: mesh_preflight
short_description: Check every inventory host's cluster identity together, before anything is written
version_added: 0.2.0
author: ambientmesh.multicluster maintainers (@ambientmesh)
description:
  - Runs on the controller (an action plugin). Every playbook of the collection runs it first, once; run it first
    in your own playbooks that include the roles.
  - Reads, for each host in O(hosts), C(kube_context), C(kubeconfig_path), C(mesh_cluster_name), C(mesh_network),
    C(mesh_trust_domain), C(mesh_distribution), C(mesh_platform), C(mesh_api_server), C(mesh_eastwest_address) and
    C(mesh_eastwest_address_type), and the kubeconfig files those name (contexts and server addresses only; no
    credential is read into the result).
  - Publishes the resolved identities as the fact C(mesh_clusters) (a dict by host, the same on every host of the
    play). The roles and modules of the collection read each cluster's name, network, trust domain, distribution
    and east-west address from it, so one rule and one default decide each of them; the collection's roles run
    this check themselves when C(mesh_clusters) is not defined yet.
  - Fails, listing every problem with the host, the variable and the fix, when a host of a several-cluster
    inventory has no C(kube_context) (its tasks would go to the kubeconfig's current context), a context is
    empty or not in the kubeconfig, two hosts reach the same API server, two hosts share a cluster name or a
    network, hosts on upstream Istio have different trust domains, a network, cluster name or trust domain is
    not valid, or C(K8S_AUTH_HOST) with a credential is set in
    the environment (kubernetes.core lets it override every task's context; AWX's bearer-token credential sets it).
  - When the identities are sound, asks each cluster's API server for C(/version), all clusters at once, and fails
    naming the host, server, context and elapsed time when one does not answer within C(mesh_api_timeout)
    seconds (default 10) or cannot be reached. kubernetes.core's requests have no timeout of their own, so an API
    server that accepts connections and never answers would otherwise hold the run for ever. Any HTTP answer
    counts, also 401 or 403 (the step that needs the rights reports those).
  - With O(steps), then asks each cluster's API server, with SelfSubjectAccessReviews, whether the credential may do
    everything those steps need (C(plugins/module_utils/access.py), C(docs/rbac.md)), and fails before any write
    naming each denied verb and the step that needs it. The questions are cluster-wide, as the installer
    ClusterRole of C(playbooks/rbac.yml) is granted with a ClusterRoleBinding.
  - One rule per field, the same the modules apply (see C(docs/bad-input.md)).
extends_documentation_fragment:
  - ambientmesh.multicluster.attributes
attributes:
  check_mode:
    support: full
    details: Reads only; runs the same in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
  action_group:
    support: none
    membership: []
options:
  hosts:
    description:
      - The inventory hosts to check together, one per cluster.
      - Defaults to the play's hosts (C(ansible_play_hosts_all)).
    type: list
    elements: str
  steps:
    description:
      - The steps whose rights to check, some of C(trust), C(ambient), C(link), C(apps), C(ingress), C(verify).
      - Each playbook passes its own step (C(mesh_preflight_steps) overrides); C(site.yml)'s first preflight passes
        all six, so a missing right stops the run before its first write. Empty checks no rights.
    type: list
    elements: str
    default: []
  eastwest:
    description:
      - Also read each cluster's east-west address from its distribution's east-west Service (one GET per cluster,
        in parallel), where the inventory gives no C(mesh_eastwest_address). A Service without an address yet
        leaves it null; one that cannot be read fails the task. The link step passes C(true).
    type: bool
    default: false
notes:
  - Run it with C(run_once=true); it checks all O(hosts) in one go.
  - The wait per API server is the variable C(mesh_api_timeout) (seconds), not an option, so that the playbooks'
    preflight takes it from the inventory like the identity variables.
requirements:
  - kubernetes >= 24.2.0 (on the controller)
"""

EXAMPLES = r"""
- name: Check the clusters of group mesh before any step
  ambientmesh.multicluster.mesh_preflight:
    hosts: "{{ groups['mesh'] }}"
  run_once: true

- name: The same, and that every cluster's credential may run the link and verify steps
  ambientmesh.multicluster.mesh_preflight:
    hosts: "{{ groups['mesh'] }}"
    steps: [link, verify]
  run_once: true
"""

RETURN = r"""
clusters:
  description: Each host's resolved identity.
  returned: success
  type: list
  elements: dict
  contains:
    host:
      description: Inventory host.
      type: str
    cluster_name:
      description: C(mesh_cluster_name), else the host's name.
      type: str
    network:
      description: C(mesh_network).
      type: str
    trust_domain:
      description: C(mesh_trust_domain), else C(cluster.local).
      type: str
    context:
      description: C(kube_context), or null where a single-cluster inventory leaves it out.
      type: str
    distribution:
      description: C(mesh_distribution), else C(solo).
      type: str
    platform:
      description: C(mesh_platform), else C(kubernetes).
      type: str
    server:
      description: The API server the context points at, when the kubeconfig is on the controller.
      type: str
    kubeconfig_path:
      description: C(kubeconfig_path), or null.
      type: str
    api_server:
      description: C(mesh_api_server) (upstream, the URL written into peers' remote secrets), or null.
      type: str
    eastwest_address:
      description: C(mesh_eastwest_address), else (with O(eastwest)) the east-west Service's address, else null.
      type: str
    eastwest_address_type:
      description: C(IPAddress) or C(Hostname), following the address unless C(mesh_eastwest_address_type) says it.
      type: str
  sample:
    - {host: cluster1, cluster_name: cluster1, network: network1, trust_domain: cluster.local, distribution: solo,
       platform: kubernetes, context: cluster1, server: "https://cluster1.example:6443", kubeconfig_path: null, api_server: null,
       eastwest_address: 192.0.2.10, eastwest_address_type: IPAddress}
ansible_facts:
  description: C(mesh_clusters), the same identities by host, and C(mesh_eastwest_read) (O(eastwest)).
  returned: success
  type: dict
problems:
  description: Every problem found, one message each (also joined in C(msg)).
  returned: failure
  type: list
  elements: str
"""
