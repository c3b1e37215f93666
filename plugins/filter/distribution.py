# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: distribution
short_description: What the collection knows about an Istio distribution
version_added: 0.3.0
author: ambientmesh.multicluster maintainers (@ambientmesh)
description:
  - The entry of the distribution table (C(plugins/module_utils/distributions.py)) that the modules read too -
    chart source and version suffix, licence, the east-west Gateway (namespace, Gateway, class, Service,
    ServiceAccount), the link method and namespace, how a Service is made global (labels, domain, backend form),
    the default traffic preference and the metric that proves mTLS.
options:
  _input:
    description: C(solo) or C(upstream).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Where this cluster's east-west Service is
  ansible.builtin.debug:
    msg: "{{ (mesh_clusters[inventory_hostname].distribution | ambientmesh.multicluster.distribution).eastwest }}"
"""

RETURN = r"""
_value:
  description: The table entry.
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.ambientmesh.multicluster.plugins.module_utils.distributions import distribution
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError


def _distribution(name):
    try:
        return distribution(name)
    except MeshError as e:
        raise AnsibleFilterError(e.msg)


class FilterModule(object):
    def filters(self):
        return {"distribution": _distribution}
