#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: global_service
short_description: Make Services global across a multicluster Istio ambient mesh
version_added: 0.1.0
author: ambientmesh.multicluster maintainers (@ambientmesh)
description:
  - Marks existing Services global the way the chosen Istio distribution expects and returns their global hostnames.
  - C(solo) labels the Service C(solo.io/service-scope=global); the mesh then serves it as
    C(<service>.<namespace>.mesh.internal). An optional traffic preference goes into the
    C(networking.istio.io/traffic-distribution) annotation.
  - C(upstream) labels the Service C(istio.io/global=true) and sets C(spec.trafficDistribution) (default C(PreferClose));
    the global hostname stays C(<service>.<namespace>.svc.cluster.local).
  - Writes with server-side apply (field manager C(ambientmesh-multicluster)), so other owners of the Service keep
    their fields. With O(state=absent) the global and takeover labels are removed, and the traffic preference
    when this module set it.
  - Optionally (O(wait)) waits until the mesh has programmed each global host (Solo - a ServiceEntry in
    O(istio_namespace) whose C(spec.hosts) contains it); on timeout the error names the hosts still missing.
    With C(upstream) there is no object to watch; the module warns and returns.
  - Run it in every cluster of the mesh; only the local cluster's scope setting is trusted.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - ambientmesh.multicluster.attributes
  - ambientmesh.multicluster.wait
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  services:
    description: Names of the Services to mark global. They must exist in O(namespace).
    type: list
    elements: str
    required: true
  namespace:
    description: Namespace of the Services.
    type: str
    required: true
  distribution:
    description: Which Istio decides what "global" means (see the description).
    type: str
    choices: [solo, upstream]
    default: solo
  traffic_distribution:
    description:
      - How the mesh spreads requests over clusters.
      - C(solo) accepts C(Any), C(PreferNetwork), C(PreferClose), C(PreferSameZone), C(PreferSameNode); unset means
        no annotation (Solo's own default applies).
      - C(upstream) accepts C(PreferClose), C(PreferSameZone), C(PreferSameNode); unset means C(PreferClose).
    type: str
  takeover:
    description: C(solo) only - also label C(solo.io/service-takeover=true) so calls to the local name reach the global service.
    type: bool
    default: false
  state:
    description: C(present) makes the Services global, C(absent) makes them local again.
    type: str
    choices: [present, absent]
    default: present
  istio_namespace:
    description: Namespace where the mesh writes its ServiceEntries.
    type: str
    default: istio-system
notes:
  - The Service (and its namespace) must exist in each cluster that calls the global host.
"""

EXAMPLES = r"""
- name: Expose productpage on productpage.bookinfo.mesh.internal and wait until the mesh knows it
  ambientmesh.multicluster.global_service:
    services: [productpage]
    namespace: bookinfo
    traffic_distribution: Any
    wait: true
  register: productpage_global

- name: Upstream Istio, local endpoints first
  ambientmesh.multicluster.global_service:
    services: [productpage, reviews]
    namespace: bookinfo
    distribution: upstream

- name: Make them local again
  ambientmesh.multicluster.global_service:
    services: [productpage]
    namespace: bookinfo
    state: absent
"""

RETURN = r"""
hosts:
  description: The global hostname of each Service, in the order of O(services).
  returned: always
  type: list
  elements: str
  sample: [productpage.bookinfo.mesh.internal]
services:
  description: One entry per Service.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Service name.
      type: str
    namespace:
      description: Service namespace.
      type: str
    host:
      description: Global hostname.
      type: str
    changed:
      description: Whether this Service changed.
      type: bool
  sample: [{name: productpage, namespace: bookinfo, host: productpage.bookinfo.mesh.internal, changed: true}]
service_entries:
  description: Global host to the name of the ServiceEntry that carries it.
  returned: when O(wait=true) with C(solo), outside check mode
  type: dict
  sample: {productpage.bookinfo.mesh.internal: autogen.bookinfo.productpage}
diff:
  description: The global-service labels, annotation and traffic preference of each Service, before and after.
  returned: in diff mode
  type: dict
"""

from ansible_collections.ambientmesh.multicluster.plugins.module_utils.client import Kube
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.global_service import reconcile
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.module import cluster_module, run
from ansible_collections.ambientmesh.multicluster.plugins.module_utils import wait


def main():
    module = cluster_module(dict(
        services=dict(type="list", elements="str", required=True),
        namespace=dict(type="str", required=True),
        distribution=dict(type="str", choices=["solo", "upstream"], default="solo"),
        traffic_distribution=dict(type="str"),
        takeover=dict(type="bool", default=False),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        istio_namespace=dict(type="str", default="istio-system"),
        **wait.argument_spec()
    ))
    run(module, lambda m: reconcile(Kube(m), m.params, m.check_mode, m._diff, m.warn))


if __name__ == "__main__":
    main()
