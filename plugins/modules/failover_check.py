#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: failover_check
short_description: Measure a failover drill against a multicluster mesh
version_added: 0.1.0
author: ambientmesh.multicluster maintainers (@ambientmesh)
description:
  - Probes a target at a steady rate, either from the controller (an ingress URL) or from inside the mesh
    (an ephemeral container with curl in a workload pod, as C(kubectl debug) does in the guide).
  - With O(deployment) set, runs a drill in phases C(baseline), C(disrupt) (scale the Deployment in this
    cluster to 0 through the API and wait until its ready endpoints are gone), C(hold), C(restore) (scale back
    to the original replicas and wait until they are ready endpoints again) and C(settle).
  - Without O(deployment) it only probes for O(baseline_seconds) (an in-mesh or ingress check).
  - Returns per phase and overall the number of requests, status-code counts, success ratio, time of first
    failure, time to recover, latency p50/p95/p99 and which cluster answered (with O(cluster_header)).
  - The replicas are always restored, also when probing fails, a wait times out or the module receives
    SIGTERM, SIGINT or SIGHUP. Before scaling, the original count is written to the Deployment annotation
    C(ambientmesh.multicluster/drill-original-replicas); a later run (or O(restore_only=true)) restores a
    Deployment left behind by a drill that was killed outright.
  - Nothing is scaled when the target is unreachable or already failing during the baseline.
  - C(changed) compares the Deployment before and after the run, so a drill that restored everything reports
    no change; repairing a Deployment left by an earlier drill does. An in-mesh probe adds an ephemeral
    container to the probing pod (they cannot be removed), which is reported as a change.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - ambientmesh.multicluster.attributes
  - ambientmesh.multicluster.wait.timeout
attributes:
  check_mode:
    support: full
    details: Probes the target during the baseline but never scales nor adds an ephemeral container.
  diff_mode:
    support: full
    details: Shows the Deployment's replicas and drill annotation before and after.
  idempotent:
    support: full
    details: A drill that restores the Deployment leaves it as it was.
options:
  url:
    description:
      - The http(s) URL to probe, e.g. the ingress address C(http://203.0.113.10:8080/productpage) or, with
        O(in_mesh), the global hostname C(http://productpage.bookinfo.mesh.internal:9080/productpage).
      - Required unless O(restore_only=true).
    type: str
  host_header:
    description: Host header to send (for virtual-host routing on the ingress).
    type: str
  cluster_header:
    description:
      - Response header that names the cluster that answered; counted per phase when present.
      - Setting it asks for proof of where traffic went; when no successful answer carries it, the check fails
        saying so (a misspelt header would otherwise pass a drill that showed no failover).
    type: str
  expected_status:
    description: HTTP status codes that count as success.
    type: list
    elements: int
    default: [200]
  rate:
    description: Requests per second, sent on a fixed schedule (a slow answer does not delay the next request).
    type: float
    default: 5
  request_timeout:
    description: Seconds before one request counts as C(timeout).
    type: float
    default: 2
  namespace:
    description: Namespace of O(deployment).
    type: str
    default: bookinfo
  deployment:
    description:
      - Deployment to scale to 0 in this cluster during the drill. Without it the module only probes.
    type: str
  baseline_seconds:
    description: How long to probe before disrupting (or in total, without O(deployment)).
    type: float
    default: 10
  hold_seconds:
    description: How long to keep the Deployment at 0 after its endpoints are gone.
    type: float
    default: 10
  settle_seconds:
    description: How long to keep probing after the restored replicas are ready.
    type: float
    default: 10
  min_success_ratio:
    description: Smallest acceptable overall success ratio (0..1). Also the floor for the baseline.
    type: float
  max_recovery_seconds:
    description: Longest acceptable time from the first failed request to the first success after the last failure.
    type: float
  fail_on_threshold:
    description:
      - Fail the task when a threshold is missed. With V(false) the task succeeds and returns RV(passed) and
        RV(problems), e.g. to write a report before failing.
    type: bool
    default: true
  restore_only:
    description:
      - Only restore O(deployment) if an earlier drill left it scaled down (its annotation says so); no probing.
    type: bool
    default: false
  in_mesh:
    description:
      - Probe from inside the mesh instead of the controller, from an ephemeral container in a pod of this cluster.
    type: dict
    suboptions:
      namespace:
        description: Namespace of the pod to probe from.
        type: str
        default: bookinfo
      label_selector:
        description: Label selector of the pod to probe from (the first Running and Ready pod is used).
        type: str
        default: app=ratings
      image:
        description: Image with C(sh) and C(curl) 7.84 or later for the ephemeral container.
        type: str
        default: curlimages/curl:8.11.1
      start_timeout:
        description: Seconds to wait for the ephemeral container to start (image pull included).
        type: float
        default: 120
requirements:
  - kubernetes >= 24.2.0
"""

EXAMPLES = r"""
- name: Drill through the ingress, scaling productpage-v1 in this cluster
  ambientmesh.multicluster.failover_check:
    context: cluster1
    url: http://203.0.113.10:8080/productpage
    cluster_header: x-ambientmesh-cluster
    namespace: bookinfo
    deployment: productpage-v1
    min_success_ratio: 0.99
    max_recovery_seconds: 10
  register: drill

- name: Route from ratings to the global hostname, as the guide's kubectl debug does
  ambientmesh.multicluster.failover_check:
    context: cluster1
    url: http://productpage.bookinfo.mesh.internal:9080/productpage
    in_mesh:
      namespace: bookinfo
      label_selector: app=ratings
    baseline_seconds: 5
    min_success_ratio: 1.0

- name: Put back a Deployment left at 0 by a drill that was killed
  ambientmesh.multicluster.failover_check:
    context: cluster1
    namespace: bookinfo
    deployment: productpage-v1
    restore_only: true
"""

RETURN = r"""
phases:
  description: Figures per phase (baseline, disrupt, hold, restore, settle), each with name, start, end, seconds
    and the same keys as RV(overall).
  returned: unless restore_only
  type: list
  elements: dict
overall:
  description:
    - Figures over the whole run. Times are seconds since probing started.
    - C(recovery_seconds) is the time from the first failure to the first success after the last failure
      (0 without failures, null when the last request failed).
  returned: unless restore_only
  type: dict
  sample:
    requests: 150
    successes: 150
    failures: 0
    success_ratio: 1.0
    status_codes: {"200": 150}
    first_failure: null
    recovered: true
    recovery_seconds: 0.0
    latency_ms: {p50: 3.1, p95: 5.2, p99: 8.0, max: 9.9}
    clusters: {cluster1: 90, cluster2: 60}
timeline:
  description: Every request, in order, with send time C(t) (s), outcome C(code), latency C(ms) and C(cluster).
  returned: unless restore_only
  type: list
  elements: dict
timings:
  description: Seconds the endpoints took to go away (C(endpoints_gone_seconds)) and the replicas to be ready
    again (C(restore_seconds)).
  returned: unless restore_only
  type: dict
passed:
  description: Whether every threshold was met.
  returned: unless restore_only
  type: bool
problems:
  description: The thresholds that were missed, as sentences.
  returned: unless restore_only
  type: list
  elements: str
summary:
  description: A readable summary, one line per phase.
  returned: unless restore_only
  type: str
thresholds:
  description: The thresholds applied.
  returned: unless restore_only
  type: dict
url:
  description: The probed URL.
  returned: unless restore_only
  type: str
deployment:
  description: The disrupted Deployment, the Services whose endpoints were watched, and the replica counts.
  returned: when deployment is set
  type: dict
probe_pod:
  description: With O(in_mesh), the pod probed from and its ephemeral containers including the new one.
  returned: when in_mesh is set
  type: dict
  sample: {pod: ratings-v1-5d8f9c7b6d-x2x9k, ephemeralContainers: [ambientmesh-probe-1a2b3c4d]}
notes:
  description: What was restored or would be done (check mode).
  returned: always
  type: list
  elements: str
"""

from ansible_collections.ambientmesh.multicluster.plugins.module_utils.client import Kube
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.failover_check import check
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.module import cluster_module, run
from ansible_collections.ambientmesh.multicluster.plugins.module_utils import wait


def main():
    module = cluster_module(dict(
        url=dict(type="str"),
        host_header=dict(type="str"),
        cluster_header=dict(type="str"),
        expected_status=dict(type="list", elements="int", default=[200]),
        rate=dict(type="float", default=5),
        request_timeout=dict(type="float", default=2),
        namespace=dict(type="str", default="bookinfo"),
        deployment=dict(type="str"),
        baseline_seconds=dict(type="float", default=10),
        hold_seconds=dict(type="float", default=10),
        settle_seconds=dict(type="float", default=10),
        min_success_ratio=dict(type="float"),
        max_recovery_seconds=dict(type="float"),
        fail_on_threshold=dict(type="bool", default=True),
        restore_only=dict(type="bool", default=False),
        in_mesh=dict(type="dict", options=dict(
            namespace=dict(type="str", default="bookinfo"),
            label_selector=dict(type="str", default="app=ratings"),
            image=dict(type="str", default="curlimages/curl:8.11.1"),
            start_timeout=dict(type="float", default=120),
        )),
        **wait.argument_spec(with_wait=False)
    ), supports_check_mode=True)
    run(module, lambda m: check(Kube(m), m.params, m.check_mode, m.warn))


if __name__ == "__main__":
    main()
