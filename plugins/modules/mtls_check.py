#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: mtls_check
short_description: Prove from Prometheus metrics that requests into a namespace use mutual TLS
version_added: 0.1.0
author: ambientmesh.multicluster maintainers (@ambientmesh)
description:
  - Queries the Prometheus HTTP API for O(metric) into O(namespace) (by default as reported by
    the destination, over O(window)) and checks that every series has
    C(connection_security_policy="mutual_tls") and C(spiffe://) source and destination principals.
  - Lists the offending series with their workloads and reasons, and fails when there are offenders or fewer
    than O(min_requests) requests.
  - Talks only to the Prometheus URL; no cluster credentials are used.
  - Upstream ztunnel exports TCP metrics only, so prove it there from C(istio_tcp_connections_opened_total);
    C(istio_requests_total) comes from waypoints, Istio gateways, or Solo ztunnel with C(L7_ENABLED=true).
extends_documentation_fragment:
  - ambientmesh.multicluster.attributes
  - ambientmesh.multicluster.attributes.read_only
attributes:
  action_group:
    support: none
options:
  prometheus_url:
    description: Base URL of the Prometheus HTTP API, e.g. C(http://prometheus.monitoring:9090).
    type: str
    required: true
  namespace:
    description: Destination workload namespace whose inbound requests must be mutual TLS.
    type: str
    required: true
  metric:
    description:
      - The counter that proves it. V(istio_requests_total) (HTTP requests; Solo ztunnel with L7, waypoints) or
        V(istio_tcp_connections_opened_total) (connections; what upstream ztunnel exports). Both carry the
        labels checked.
    type: str
    choices: [istio_requests_total, istio_tcp_connections_opened_total]
    default: istio_requests_total
  reporter:
    description: Which reporter's series to check; an empty string checks both.
    type: str
    default: destination
  window:
    description:
      - Only count requests of this recent span (a Prometheus duration such as V(10m)).
      - An empty string checks the counters over their whole life, including traffic from before the mesh.
    type: str
    default: 10m
  min_requests:
    description: Fewest requests that must be seen; with fewer the check fails (no traffic proves nothing).
    type: float
    default: 1
  fail_on_offenders:
    description: Fail the task on offenders or too few requests; with V(false) return RV(passed) instead.
    type: bool
    default: true
  bearer_token:
    description: Bearer token for a Prometheus behind authentication.
    type: str
  validate_certs:
    description: Verify the TLS certificate of an https Prometheus.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for Prometheus.
    type: float
    default: 10
"""

EXAMPLES = r"""
- name: Requests into bookinfo are mutual TLS with SPIFFE identities
  ambientmesh.multicluster.mtls_check:
    prometheus_url: http://127.0.0.1:9091
    namespace: bookinfo
    window: 15m
  register: mtls
"""

RETURN = r"""
passed:
  description: Whether every series was mutual TLS with SPIFFE principals and enough requests were seen.
  returned: success
  type: bool
requests:
  description: Counts of O(metric) over all series (requests or connections, see RV(unit)).
  returned: success
  type: float
metric:
  description: The metric queried.
  returned: success
  type: str
unit:
  description: What RV(requests) counts, C(requests) or C(connections).
  returned: success
  type: str
series:
  description: The series checked (their labels and C(requests)).
  returned: success
  type: list
  elements: dict
offenders:
  description: Series that break the rule, with C(reasons) such as C(connection_security_policy=none).
  returned: success
  type: list
  elements: dict
  sample:
    - source_workload: legacy-client
      source_workload_namespace: default
      destination_workload: productpage-v1
      connection_security_policy: none
      source_principal: unknown
      requests: 12.0
      reasons: [connection_security_policy=none, source_principal=unknown]
problems:
  description: Why the check failed, as sentences.
  returned: success
  type: list
  elements: str
query:
  description: The PromQL that was run.
  returned: success
  type: str
namespace:
  description: The namespace checked.
  returned: success
  type: str
summary:
  description: One readable line.
  returned: success
  type: str
"""

from ansible_collections.ambientmesh.multicluster.plugins.module_utils.module import cluster_module, run
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.mtls_check import check


def main():
    module = cluster_module(dict(
        prometheus_url=dict(type="str", required=True),
        namespace=dict(type="str", required=True),
        metric=dict(type="str", default="istio_requests_total",
                    choices=["istio_requests_total", "istio_tcp_connections_opened_total"]),
        reporter=dict(type="str", default="destination"),
        window=dict(type="str", default="10m"),
        min_requests=dict(type="float", default=1),
        fail_on_offenders=dict(type="bool", default=True),
        bearer_token=dict(type="str", no_log=True),
        validate_certs=dict(type="bool", default=True),
        timeout=dict(type="float", default=10),
    ), with_auth=False, supports_check_mode=True)
    run(module, lambda m: check(m.params))


if __name__ == "__main__":
    main()
