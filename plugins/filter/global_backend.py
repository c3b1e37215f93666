# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: global_backend
short_description: How an HTTPRoute names a Service's global name, the way an Istio distribution needs it
version_added: 0.3.0
author: ambientmesh.multicluster maintainers (@ambientmesh)
description:
  - A backend for M(ambientmesh.multicluster.http_route) from the distribution table
    (C(plugins/module_utils/distributions.py)). Solo's global name is a ServiceEntry host, which the gateways
    resolve as a Hostname backend, C({host, port}); upstream's is the Service's own name, which kgateway resolves
    only as a Service backend, C({service, namespace, port}).
options:
  _input:
    description: Service name.
    type: str
    required: true
  namespace:
    description: Namespace of the Service.
    type: str
    required: true
  distribution:
    description: C(solo) or C(upstream).
    type: str
    required: true
  port:
    description: Service port.
    type: int
    required: true
"""

EXAMPLES = r"""
- name: The route backend of Bookinfo's productpage
  ansible.builtin.debug:
    msg: "{{ 'productpage' | ambientmesh.multicluster.global_backend('bookinfo', mesh_distribution, 9080) }}"
"""

RETURN = r"""
_value:
  description: The backend.
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.ambientmesh.multicluster.plugins.module_utils.distributions import global_backend
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError


def _global_backend(service, namespace, distribution, port):
    try:
        return global_backend(service, namespace, distribution, int(port))
    except MeshError as e:
        raise AnsibleFilterError(e.msg)


class FilterModule(object):
    def filters(self):
        return {"global_backend": _global_backend}
