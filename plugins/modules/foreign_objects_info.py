#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: foreign_objects_info
short_description: List what in a namespace this collection did not make, before teardown deletes the namespace
version_added: 0.2.0
author: ambientmesh.multicluster maintainers (@ambientmesh)
description:
  - Lists the objects of a namespace that are neither labelled C(app.kubernetes.io/managed-by=ambientmesh.multicluster)
    nor part of one of O(helm_releases) (annotation C(meta.helm.sh/release-name), or Helm's release storage).
  - Objects with an owner reference go with their owner and are not listed; neither are the root-CA ConfigMaps
    (C(kube-root-ca.crt), C(istio-ca-root-cert), C(istio-ca-crl)), the C(default) ServiceAccount and ServiceAccount token Secrets.
  - Looks at Gateways, HTTPRoutes, GRPCRoutes, ReferenceGrants, Deployments, StatefulSets, DaemonSets, Jobs, Pods,
    Services, ConfigMaps, Secrets, ServiceAccounts, Roles, RoleBindings, ServiceEntries and AuthorizationPolicies
    (the kinds the cluster serves).
  - The teardown of the gateway and ambient roles deletes their namespace only when this lists nothing, and
    otherwise keeps it and warns naming what is left. Never returns Secret data.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - ambientmesh.multicluster.attributes
  - ambientmesh.multicluster.attributes.read_only
options:
  namespace:
    description: The namespace to look in.
    type: str
    required: true
  helm_releases:
    description: Helm releases whose objects count as the collection's.
    type: list
    elements: str
    default: []
  warn:
    description: Emit a warning naming the foreign objects when there are any.
    type: bool
    default: true
requirements:
  - kubernetes >= 24.2.0
"""

EXAMPLES = r"""
- name: What else lives in gloo-system
  ambientmesh.multicluster.foreign_objects_info:
    namespace: gloo-system
    helm_releases: [gloo]
  register: foreign

- name: Delete gloo-system only when nothing of anyone else is in it
  kubernetes.core.k8s:
    kind: Namespace
    name: gloo-system
    state: absent
  when: foreign.objects | length == 0
"""

RETURN = r"""
namespace_exists:
  description: Whether the namespace exists.
  returned: always
  type: bool
objects:
  description: C(Kind/name) of each object this collection did not make, sorted; empty when the namespace is absent.
  returned: always
  type: list
  elements: str
  sample: [Gateway/team-edge, HTTPRoute/legacy]
"""

from ansible_collections.ambientmesh.multicluster.plugins.module_utils.client import Kube
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.foreign import foreign_objects
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.module import cluster_module, run


def read(module):
    kube, namespace = Kube(module), module.params["namespace"]
    if kube.get("v1", "Namespace", namespace) is None:
        return {"changed": False, "namespace_exists": False, "objects": []}
    objects = foreign_objects(kube, namespace, module.params["helm_releases"])
    if objects and module.params["warn"]:
        module.warn("namespace %s holds %d object(s) this collection did not make, so it is kept: %s; move or delete "
                    "them, then run the teardown again to remove the namespace"
                    % (namespace, len(objects), ", ".join(objects)))
    return {"changed": False, "namespace_exists": True, "objects": objects}


def main():
    module = cluster_module(dict(namespace=dict(type="str", required=True),
                                 helm_releases=dict(type="list", elements="str", default=[]),
                                 warn=dict(type="bool", default=True)), supports_check_mode=True)
    run(module, read)


if __name__ == "__main__":
    main()
