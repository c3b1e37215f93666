# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: helm_values_digests
short_description: Digests of Helm release values, for M(ambientmesh.multicluster.helm_charts_info)
version_added: 0.3.0
author: ambientmesh.multicluster maintainers (@ambientmesh)
description:
  - Maps each release name to the sha256 of its values in one canonical JSON form, the form
    M(ambientmesh.multicluster.helm_charts_info) uses for the values deployed, so it can tell whether a release
    is current without being given values that may hold a licence.
options:
  _input:
    description: Per release name, the values its Helm task passes.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Which releases are current
  ambientmesh.multicluster.helm_charts_info:
    source: ./charts
    charts: [istiod]
    releases: [{name: istiod, namespace: istio-system, chart: istiod}]
    values_digests: "{{ {'istiod': istiod_values} | ambientmesh.multicluster.helm_values_digests }}"
"""

RETURN = r"""
_value:
  description: Per release name, a sha256 hex digest.
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.ambientmesh.multicluster.plugins.module_utils.helm_charts import values_digest


def helm_values_digests(values):
    if not isinstance(values, dict):
        raise AnsibleFilterError("helm_values_digests: give a dict of release name to values, not %s" % type(values).__name__)
    return dict((name, values_digest(v)) for name, v in values.items())


class FilterModule(object):
    def filters(self):
        return {"helm_values_digests": helm_values_digests}
