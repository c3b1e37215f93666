# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: global_host
short_description: The global hostname of a Service, the way an Istio distribution names it
version_added: 0.1.0
author: ambientmesh.multicluster maintainers (@ambientmesh)
description:
  - C(<service>.<namespace>.mesh.internal) for Solo, C(<service>.<namespace>.svc.cluster.local) for upstream Istio,
    from the distribution table the modules read (C(plugins/module_utils/distributions.py)).
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
"""

EXAMPLES = r"""
- name: The URL of Bookinfo's productpage on its global name
  ansible.builtin.debug:
    msg: "http://{{ 'productpage' | ambientmesh.multicluster.global_host('bookinfo', mesh_distribution) }}:9080/"
"""

RETURN = r"""
_value:
  description: The global hostname.
  type: str
"""

from ansible_collections.ambientmesh.multicluster.plugins.module_utils.distributions import DISTRIBUTIONS, global_host


def _global_host(service, namespace, distribution):
    return global_host(service, namespace, distribution) if distribution in DISTRIBUTIONS else ""


class FilterModule(object):
    def filters(self):
        return {"global_host": _global_host}
