# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: cluster_names
short_description: The mesh cluster name of each inventory host
version_added: 0.1.0
author: ambientmesh.multicluster maintainers (@ambientmesh)
description:
  - Maps inventory hosts to their cluster names, C(mesh_cluster_name) where a host sets it, else the host's name.
options:
  _input:
    description: Inventory host names.
    type: list
    elements: str
    required: true
  hostvars:
    description: The play's C(hostvars).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: The clusters this one must be linked to
  ansible.builtin.debug:
    msg: "{{ groups['mesh'] | difference([inventory_hostname]) | ambientmesh.multicluster.cluster_names(hostvars) }}"
"""

RETURN = r"""
_value:
  description: Cluster names, in the order of the hosts.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError


def cluster_names(hosts, hostvars):
    out = []
    for host in hosts:
        if host not in hostvars:
            raise AnsibleFilterError("cluster_names: %r is not an inventory host" % (host,))
        name = hostvars[host].get("mesh_cluster_name") or host
        out.append(str(name))
    return out


class FilterModule(object):
    def filters(self):
        return {"cluster_names": cluster_names}
