# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: platform
short_description: What the collection knows about a Kubernetes platform
version_added: 0.3.0
author: ambientmesh.multicluster maintainers (@ambientmesh)
description:
  - The entry of the platform table (C(plugins/module_utils/distributions.py)) - the namespace of the node agents
    (istio-cni, ztunnel) and whether the platform brings the Gateway API CRDs itself.
options:
  _input:
    description: C(kubernetes) or C(openshift).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Where this cluster runs ztunnel
  ansible.builtin.debug:
    msg: "{{ (mesh_clusters[inventory_hostname].platform | ambientmesh.multicluster.platform).node_namespace }}"
"""

RETURN = r"""
_value:
  description: The table entry.
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.ambientmesh.multicluster.plugins.module_utils.distributions import platform
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError


def _platform(name):
    try:
        return platform(name)
    except MeshError as e:
        raise AnsibleFilterError(e.msg)


class FilterModule(object):
    def filters(self):
        return {"platform": _platform}
