#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: verify_report
short_description: Write the mesh verification report (JSON, Markdown, PNG timeline)
version_added: 0.1.0
author: ambientmesh.multicluster maintainers (@ambientmesh)
description:
  - Writes the results of M(ambientmesh.multicluster.mesh_info), M(ambientmesh.multicluster.failover_check)
    and M(ambientmesh.multicluster.mtls_check) to a reports folder as C(<name>.json) (machine readable),
    C(<name>.md) (a page for people, with a verdict table, cluster facts, the drill per phase and mTLS offenders)
    and C(<name>.png) (the drill's timeline of status and latency with the phases marked).
  - Run it on the controller (with C(delegate_to=localhost)), once per run.
  - A file is only written when its content differs.
extends_documentation_fragment:
  - ambientmesh.multicluster.attributes
attributes:
  check_mode:
    support: full
    details: Reports whether files would change without writing them.
  diff_mode:
    support: full
    details: Shows the Markdown report before and after.
  idempotent:
    support: full
  action_group:
    support: none
options:
  path:
    description: The reports folder; created when missing.
    type: path
    required: true
  name:
    description: Base name of the report files.
    type: str
    default: verify
  formats:
    description: Which files to write. V(png) needs matplotlib on the controller and is only written for a drill.
    type: list
    elements: str
    choices: [json, markdown, png]
    default: [json, markdown, png]
  data:
    description:
      - What to report. Keys C(title), C(generated) (a timestamp), C(clusters) (cluster name to the C(mesh)
        result of mesh_info), C(checks) (C(in_mesh) and C(ingress), each cluster name to a failover_check result),
        C(drill) (a failover_check result with C(cluster)), C(mtls) (an mtls_check result).
    type: dict
    required: true
requirements:
  - matplotlib (for the png format)
"""

EXAMPLES = r"""
- name: Write the report
  ambientmesh.multicluster.verify_report:
    path: "{{ playbook_dir }}/reports"
    name: verify-20250101T120000Z
    data:
      title: Multicluster ambient mesh verification
      clusters: "{{ {'cluster1': mesh1.mesh, 'cluster2': mesh2.mesh} }}"
      drill: "{{ drill | combine({'cluster': 'cluster1'}) }}"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
files:
  description: Path of each written (or unchanged) file by format.
  returned: always
  type: dict
  sample: {json: reports/verify.json, markdown: reports/verify.md, png: reports/verify.png}
checks_run:
  description: How many verdicts the report holds (checks per cluster, the drill, mTLS); 0 when every check was
    skipped, e.g. in a dry run on clusters that have nothing to check yet.
  returned: always
  type: int
  sample: 4
passed:
  description: Whether every check in data passed.
  returned: always
  type: bool
problems:
  description: Every problem the checks reported, prefixed with the check.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.ambientmesh.multicluster.plugins.module_utils.module import cluster_module, run
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.verify_report import report


def main():
    module = cluster_module(dict(
        path=dict(type="path", required=True),
        name=dict(type="str", default="verify"),
        formats=dict(type="list", elements="str", choices=["json", "markdown", "png"],
                     default=["json", "markdown", "png"]),
        data=dict(type="dict", required=True),
    ), with_auth=False, supports_check_mode=True)
    run(module, lambda m: report(m.params, m.check_mode, atomic_move=m.atomic_move))


if __name__ == "__main__":
    main()
