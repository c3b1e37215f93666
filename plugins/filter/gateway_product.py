# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: gateway_product
short_description: What the collection knows about a gateway product
version_added: 0.3.0
author: ambientmesh.multicluster maintainers (@ambientmesh)
description:
  - The entry of the product table (C(plugins/module_utils/distributions.py)) - chart source, default and oldest
    supported version, the distributions it routes to (and why not the others), licence, GatewayClass, controller
    workload, Helm releases (name, chart, whether its values are secret) and the name of the proxy Service and
    ServiceAccount it makes for a Gateway (C(proxy_name), a pattern with the Gateway's name in place of C(%s)).
  - With O(gateway), returns only that Gateway's proxy name.
options:
  _input:
    description: C(gloo-gateway) or C(kgateway).
    type: str
    required: true
  gateway:
    description: A Gateway's name; return its proxy Service's name instead of the entry.
    type: str
"""

EXAMPLES = r"""
- name: The Service that fronts Gateway http
  ansible.builtin.debug:
    msg: "{{ gateway_product | ambientmesh.multicluster.gateway_product(gateway='http') }}"
"""

RETURN = r"""
_value:
  description: The table entry, or the proxy name with O(gateway).
  type: raw
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.ambientmesh.multicluster.plugins.module_utils.distributions import product
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError


def _product(name, gateway=None):
    try:
        entry = product(name)
    except MeshError as e:
        raise AnsibleFilterError(e.msg)
    return entry if gateway is None else entry["proxy_name"] % gateway


class FilterModule(object):
    def filters(self):
        return {"gateway_product": _product}
