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
  - With O(releases), also reads each release from the cluster (C(helm list), C(helm get values)) and says which
    are already what M(kubernetes.core.helm) would leave them as, by the test that module makes without the
    helm-diff plugin (status C(deployed), the same chart name and version, the same user-supplied values). A role
    skips the Helm task of a current release, so a no-op rerun runs no M(kubernetes.core.helm) at all; any other
    release gets the task, which decides as always.
  - With O(crds_of), renders those charts (C(helm template), default values) and returns the names of the
    CustomResourceDefinitions each would install, wherever the chart keeps them (Istio's base chart has them in
    its templates, not in C(crds/)).
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
  releases:
    description:
      - Releases to compare with the cluster, each a dict with C(name), C(namespace) and C(chart) (one of
        O(charts)); other keys are ignored, so a role can pass its release table as it is. Empty reads no cluster.
    type: list
    elements: dict
    default: []
  values_digests:
    description:
      - Per release name, the digest of the values its Helm task passes (C(release_values)), from the filter
        P(ambientmesh.multicluster.helm_values_digests#filter) over exactly what that task gets, so the comparison
        is the one the task makes and values that may hold a licence never reach this module. A release without
        one is compared with no values.
    type: dict
    default: {}
  crds_of:
    description: Charts of O(charts) whose CustomResourceDefinitions to name (RV(crds)).
    type: list
    elements: str
    default: []
  context:
    description: Kubeconfig context of the cluster the releases are in (Helm's C(HELM_KUBECONTEXT)).
    type: str
  kubeconfig:
    description: Kubeconfig file (Helm's C(KUBECONFIG)); Helm's default when omitted.
    type: path
requirements:
  - Helm 3 on the host the module runs on
"""

EXAMPLES = r"""
- name: Istio's charts are readable
  ambientmesh.multicluster.helm_charts_info:
    source: https://istio-release.storage.googleapis.com/charts
    version: 1.31.4
    charts: [base, istiod, cni, ztunnel]
    releases:
      - {name: istiod, namespace: istio-system, chart: istiod}
    values_digests: "{{ {'istiod': istiod_values} | ambientmesh.multicluster.helm_values_digests }}"
    context: cluster1
  register: charts

- name: Install istiod from there
  kubernetes.core.helm:
    release_name: istiod
    release_namespace: istio-system
    chart_ref: "{{ charts.charts.istiod.chart_ref }}"
    chart_repo_url: "{{ charts.charts.istiod.chart_repo_url or omit }}"
    chart_version: "{{ charts.charts.istiod.chart_version or omit }}"
    release_values: "{{ istiod_values }}"
  when: "'istiod' not in charts.current"
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
releases:
  description: Per release of O(releases), whether it is current and why (or why not).
  returned: success
  type: dict
  sample: {istiod: {current: false, reason: values differ}}
current:
  description: The names of the releases of O(releases) that are current, whose Helm task can be skipped.
  returned: success
  type: list
  elements: str
  sample: [istio-base, istiod]
crds:
  description: Per chart of O(crds_of), the names of the CustomResourceDefinitions it renders, sorted.
  returned: success
  type: dict
  sample: {base: [authorizationpolicies.security.istio.io, destinationrules.networking.istio.io]}
helm_version:
  description: What C(helm version --short) printed.
  returned: success
  type: str
  sample: v3.19.0+g3d8990f
"""

import json

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ambientmesh.multicluster.plugins.module_utils import helm_charts


def read_releases(module, p, ids):
    """{release: (current, why)} for p['releases'], read with the same helm and cluster as the Helm tasks."""
    env = {}
    if p["context"]:
        env["HELM_KUBECONTEXT"] = p["context"]
    if p["kubeconfig"]:
        env["KUBECONFIG"] = p["kubeconfig"]
    listed = {}
    for namespace in sorted(set(r["namespace"] for r in p["releases"])):
        rc, out, err = module.run_command([p["binary"], "list", "--all", "-n", namespace, "-o", "json"], environ_update=env)
        if rc != 0:
            module.fail_json(msg="helm list -n %s failed: %s" % (namespace, (err or out).strip()))
        for item in json.loads(out or "[]") or []:
            listed[(namespace, item.get("name"))] = item

    def read_values(r):
        rc, out, err = module.run_command([p["binary"], "get", "values", r["name"], "-n", r["namespace"], "-o", "json"],
                                          environ_update=env)
        if rc != 0:
            module.fail_json(msg="helm get values %s -n %s failed: %s" % (r["name"], r["namespace"], (err or out).strip()))
        return json.loads(out or "null")

    states = {}
    for r in p["releases"]:
        wanted = p["values_digests"].get(r["name"]) or helm_charts.values_digest(None)
        states[r["name"]] = helm_charts.release_state(listed.get((r["namespace"], r["name"])), ids.get(r["chart"]),
                                                      lambda r=r: read_values(r), wanted)
    return states


def main():
    module = AnsibleModule(argument_spec=dict(
        binary=dict(type="str", default="helm"),
        source=dict(type="str", required=True),
        version=dict(type="str"),
        charts=dict(type="list", elements="str", required=True),
        binary_var=dict(type="str", default="binary"),
        source_var=dict(type="str", default="source"),
        version_var=dict(type="str", default="version"),
        releases=dict(type="list", elements="dict", default=[]),
        values_digests=dict(type="dict", default={}),
        crds_of=dict(type="list", elements="str", default=[]),
        context=dict(type="str"),
        kubeconfig=dict(type="path"),
    ), supports_check_mode=True)
    p = module.params
    problem = helm_charts.releases_problem(p["releases"], p["charts"], p["crds_of"])
    if problem:  # bad input, named before helm runs
        module.fail_json(msg=problem)
    try:
        rc, out, err = module.run_command([p["binary"], "version", "--short"], handle_exceptions=False)
    except OSError as e:  # a missing or non-executable binary: named with its variable, not a traceback
        rc, out, err = 127, "", str(e)
    problem = helm_charts.helm_problem(p["binary"], p["binary_var"], rc, out, err)
    if problem:
        module.fail_json(msg=problem)
    where = helm_charts.locate(p["source"], p["version"])
    failed, ids = [], {}
    for chart in p["charts"]:
        crc, cout, cerr = module.run_command([p["binary"], "show", "chart", where["prefix"] + chart] + where["show_args"])
        if crc != 0:
            failed.append((chart, cerr or cout or "rc %s" % crc))
        ids[chart] = helm_charts.chart_id(cout) if crc == 0 else None
    problem = helm_charts.charts_problem(p["source"], where, p["source_var"], p["version_var"], failed)
    if problem:
        module.fail_json(msg=problem)
    states = read_releases(module, p, ids)
    crds = {}
    for chart in p["crds_of"]:
        trc, tout, terr = module.run_command([p["binary"], "template", chart, where["prefix"] + chart] + where["show_args"])
        if trc != 0:
            module.fail_json(msg="helm template %s failed: %s" % (chart, (terr or tout).strip()))
        crds[chart] = helm_charts.crd_names(tout)
    module.exit_json(crds=crds, changed=False, kind=where["kind"], show_args=where["show_args"], helm_version=out.strip(),
                     releases=dict((name, {"current": current, "reason": why}) for name, (current, why) in states.items()),
                     current=[r["name"] for r in p["releases"] if states[r["name"]][0]],
                     charts=dict((c, {"chart_ref": where["prefix"] + c, "chart_repo_url": where["repo_url"],
                                      "chart_version": where["version"]}) for c in p["charts"]))


if __name__ == "__main__":
    main()
