#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: helm_charts_info
short_description: Check that Helm runs and reads every chart from a source, and say how to reference them
version_added: 0.3.0
author: ambientmesh.multicluster maintainers (@ambientmesh)
description:
  - Runs C(helm version), then C(helm show chart) for each of O(charts) from O(source), a Helm repository URL
    (C(https://...)), an OCI prefix (C(oci://...)) or a local directory holding one folder per chart.
  - Fails before any release is touched, naming the variable to fix (O(binary_var), O(source_var),
    O(version_var)), the charts that cannot be read and Helm's first error.
  - Returns how M(kubernetes.core.helm) references each chart (C(chart_ref), C(chart_repo_url), C(chart_version)),
    the one rule the ambient and gateway roles share.
  - Runs where the play runs its Helm tasks (the controller, for hosts with C(connection=local)).
extends_documentation_fragment:
  - ambientmesh.multicluster.attributes
  - ambientmesh.multicluster.attributes.read_only
attributes:
  action_group:
    support: none
    membership: []
options:
  binary:
    description: The helm executable.
    type: str
    default: helm
  source:
    description: Where the charts are.
    type: str
    required: true
  version:
    description: Chart version for repository and OCI sources; ignored for a directory.
    type: str
  charts:
    description: Chart names.
    type: list
    elements: str
    required: true
  binary_var:
    description: The variable that sets O(binary), for messages.
    type: str
    default: binary
  source_var:
    description: The variable that sets O(source), for messages.
    type: str
    default: source
  version_var:
    description: The variable that sets O(version), for messages.
    type: str
    default: version
requirements:
  - Helm 3 on the host the module runs on
"""

EXAMPLES = r"""
- name: Istio's charts are readable
  ambientmesh.multicluster.helm_charts_info:
    source: https://istio-release.storage.googleapis.com/charts
    version: 1.31.4
    charts: [base, istiod, cni, ztunnel]
  register: charts

- name: Install istiod from there
  kubernetes.core.helm:
    release_name: istiod
    release_namespace: istio-system
    chart_ref: "{{ charts.charts.istiod.chart_ref }}"
    chart_repo_url: "{{ charts.charts.istiod.chart_repo_url or omit }}"
    chart_version: "{{ charts.charts.istiod.chart_version or omit }}"
"""

RETURN = r"""
kind:
  description: C(repo), C(oci) or C(local).
  returned: success
  type: str
  sample: repo
show_args:
  description: What C(helm show) and C(helm template) need after the chart reference (C(--repo), C(--version)).
  returned: success
  type: list
  elements: str
  sample: [--repo, "https://istio-release.storage.googleapis.com/charts", --version, 1.31.4]
charts:
  description: Per chart, its M(kubernetes.core.helm) references; C(chart_repo_url) and C(chart_version) are null where they do not apply.
  returned: success
  type: dict
  sample: {istiod: {chart_ref: istiod, chart_repo_url: "https://istio-release.storage.googleapis.com/charts", chart_version: 1.31.4}}
helm_version:
  description: What C(helm version --short) printed.
  returned: success
  type: str
  sample: v3.19.0+g3d8990f
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ambientmesh.multicluster.plugins.module_utils import helm_charts


def main():
    module = AnsibleModule(argument_spec=dict(
        binary=dict(type="str", default="helm"),
        source=dict(type="str", required=True),
        version=dict(type="str"),
        charts=dict(type="list", elements="str", required=True),
        binary_var=dict(type="str", default="binary"),
        source_var=dict(type="str", default="source"),
        version_var=dict(type="str", default="version"),
    ), supports_check_mode=True)
    p = module.params
    try:
        rc, out, err = module.run_command([p["binary"], "version", "--short"], handle_exceptions=False)
    except OSError as e:  # a missing or non-executable binary: named with its variable, not a traceback
        rc, out, err = 127, "", str(e)
    problem = helm_charts.helm_problem(p["binary"], p["binary_var"], rc, out, err)
    if problem:
        module.fail_json(msg=problem)
    where = helm_charts.locate(p["source"], p["version"])
    failed = []
    for chart in p["charts"]:
        crc, cout, cerr = module.run_command([p["binary"], "show", "chart", where["prefix"] + chart] + where["show_args"])
        if crc != 0:
            failed.append((chart, cerr or cout or "rc %s" % crc))
    problem = helm_charts.charts_problem(p["source"], where, p["source_var"], p["version_var"], failed)
    if problem:
        module.fail_json(msg=problem)
    module.exit_json(changed=False, kind=where["kind"], show_args=where["show_args"], helm_version=out.strip(),
                     charts=dict((c, {"chart_ref": where["prefix"] + c, "chart_repo_url": where["repo_url"],
                                      "chart_version": where["version"]}) for c in p["charts"]))


if __name__ == "__main__":
    main()
