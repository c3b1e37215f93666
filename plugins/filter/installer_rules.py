# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: installer_rules
short_description: The RBAC rules a credential needs to run the given steps of the collection
version_added: 0.2.0
author: ambientmesh.multicluster maintainers (@ambientmesh)
description:
  - The rules of the installer ClusterRole, from the same table the preflight checks with SelfSubjectAccessReviews
    (C(plugins/module_utils/access.py)); C(docs/rbac.md) explains each.
  - The ambient and ingress steps install Istio's and the gateway's charts (CRDs, webhooks, ClusterRoles) and so need
    near cluster-admin, including C(escalate) and C(bind) on roles; trust, link, apps and verify need much less.
options:
  _input:
    description: Steps, some of C(trust), C(ambient), C(link), C(apps), C(ingress), C(verify).
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: A ClusterRole that may run the verify step only
  kubernetes.core.k8s:
    definition:
      apiVersion: rbac.authorization.k8s.io/v1
      kind: ClusterRole
      metadata:
        name: ambientmesh-verifier
      rules: "{{ ['verify'] | ambientmesh.multicluster.installer_rules }}"
"""

RETURN = r"""
_value:
  description: PolicyRules (apiGroups, resources, verbs).
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.ambientmesh.multicluster.plugins.module_utils import access


def installer_rules(steps):
    unknown = access.unknown_steps(steps or [])
    if unknown:
        raise AnsibleFilterError("installer_rules: %s not a step; use some of %s"
                                 % (", ".join(unknown), ", ".join(access.ORDER)))
    return access.cluster_role_rules(steps)


class FilterModule(object):
    def filters(self):
        return {"installer_rules": installer_rules}
