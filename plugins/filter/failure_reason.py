# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: failure_reason
short_description: Why a no_log task failed, with its secrets redacted
version_added: 0.2.0
author: ambientmesh.multicluster maintainers (@ambientmesh)
description:
  - A task that carries a secret runs with C(no_log), and Ansible then shows nothing of its failure. In the
    task's C(rescue), this filter turns C(ansible_failed_result) into one line saying what failed and why (the
    result's C(msg), C(stderr) and C(error) of each failed loop item, named by the item's C(name)), with every
    value of O(secrets) (and its base64 form) replaced by C(********).
  - Never prints the loop item itself (it may hold the secret).
options:
  _input:
    description: C(ansible_failed_result) of the failed task.
    type: dict
    required: true
  secrets:
    description: Values that must not appear (empty ones are ignored).
    type: list
    elements: str
    required: true
  what:
    description: What the task did, to start the line with (for example the object and the cluster).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Secret and a reason when it fails
  block:
    - name: License Secret
      kubernetes.core.k8s:
        definition: "{{ license_secret }}"
      no_log: true
  rescue:
    - name: Why the license Secret failed (the license redacted)
      ansible.builtin.fail:
        msg: "{{ ansible_failed_result | ambientmesh.multicluster.failure_reason([license], 'Secret istio-system/license') }}"
"""

RETURN = r"""
_value:
  description: One line, C(<what> failed) and the reason, secrets replaced by C(********).
  type: str
"""

import base64

from ansible.module_utils.common.text.converters import to_text

REDACTED = "********"


def _reasons(result):
    looped = isinstance(result.get("results"), list)
    out = []
    for r in result["results"] if looped else [result]:
        if not isinstance(r, dict) or not r.get("failed"):
            continue
        text = "; ".join(to_text(r[k]).strip() for k in ("msg", "error", "stderr") if r.get(k)) or "no reason given"
        item = r.get("item")
        name = item.get("name") if looped and isinstance(item, dict) else None
        out.append("%s: %s" % (name, text) if name else text)
    return out or [to_text(result.get("msg") or "no reason given")]


def failure_reason(result, secrets, what):
    text = "%s failed: %s" % (what, " | ".join(_reasons(result if isinstance(result, dict) else {})))
    for secret in sorted((to_text(s) for s in secrets or [] if s), key=len, reverse=True):
        for form in (secret, to_text(base64.b64encode(secret.encode("utf-8")))):
            text = text.replace(form, REDACTED)
    return text


class FilterModule(object):
    def filters(self):
        return {"failure_reason": failure_reason}
