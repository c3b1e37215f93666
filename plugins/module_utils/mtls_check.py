# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mTLS proof of the guide's "View metrics" step, as a query instead of a look at the expression browser:
every series of the metric into a namespace must say `connection_security_policy="mutual_tls"` and carry SPIFFE
principals on both ends; anything else is an offender, listed with its workloads.

Which metric proves it depends on what the data plane exports: upstream ztunnel only has the L4 `istio_tcp_*`
metrics; `istio_requests_total` comes from waypoints or Solo's ztunnel with L7_ENABLED. Both carry the same
reporter, workload, principal and security-policy labels."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.prometheus import query, validate_url

# metric -> what one count of it is
METRICS = {"istio_requests_total": "requests", "istio_tcp_connections_opened_total": "connections"}
DEFAULT_METRIC = "istio_requests_total"
GROUP_BY = ("reporter", "source_workload", "source_workload_namespace", "source_principal", "destination_workload",
            "destination_workload_namespace", "destination_principal", "destination_service",
            "connection_security_policy", "source_cluster", "destination_cluster")
WINDOW = re.compile(r"^[0-9]+(ms|s|m|h|d|w|y)$")


def _label_value(value):
    return value.replace("\\", "\\\\").replace('"', '\\"')


def validate(params):
    validate_url(params.get("prometheus_url"))
    if not params.get("namespace"):
        raise MeshError("namespace: give the namespace whose inbound requests must be mTLS, e.g. bookinfo")
    if params.get("window") and not WINDOW.match(params["window"]):
        raise MeshError("window: %r is not a Prometheus duration; use e.g. 5m or 1h (or an empty string for the "
                        "counters' whole life)" % params["window"])
    if params.get("min_requests", 0) < 0:
        raise MeshError("min_requests: must be 0 or more")


def promql(namespace, reporter=None, window=None, metric=DEFAULT_METRIC):
    """Counts of `metric` into `namespace` grouped by the labels the proof looks at; per `window` when given."""
    selector = 'destination_workload_namespace="%s"' % _label_value(namespace)
    if reporter:
        selector += ',reporter="%s"' % _label_value(reporter)
    series = "%s{%s}" % (metric, selector)
    if window:
        series = "increase(%s[%s])" % (series, window)
    return "sum by (%s) (%s)" % (", ".join(GROUP_BY), series)


def offences(labels):
    """Why one series breaks the mTLS rule (empty list: it does not)."""
    why = []
    policy = labels.get("connection_security_policy")
    if policy != "mutual_tls":
        why.append("connection_security_policy=%s" % (policy or "<missing>"))
    for side in ("source_principal", "destination_principal"):
        if not (labels.get(side) or "").startswith("spiffe://"):
            why.append("%s=%s" % (side, labels.get(side) or "<missing>"))
    return why


def evaluate(result, min_requests=1, unit="requests"):
    """{'series', 'offenders', 'requests', 'passed', 'problems'} for a query result (`requests` counts `unit`)."""
    series, offenders = [], []
    for item in result:
        labels = dict(item.get("metric") or {})
        value = float((item.get("value") or [0, "0"])[1])
        if value <= 0:
            continue
        entry = dict(labels, requests=round(value, 3))
        series.append(entry)
        why = offences(labels)
        if why:
            offenders.append(dict(entry, reasons=why))
    total = round(sum(s["requests"] for s in series), 3)
    problems = []
    if offenders:
        problems.append("%d of %d series are not mutual TLS with SPIFFE identities: %s" % (
            len(offenders), len(series), "; ".join(describe(o) for o in offenders[:10])))
    if total < min_requests:
        problems.append("only %g %s recorded (min_requests %g): send traffic first, and check that Prometheus "
                        "scrapes the reporters (ztunnel/waypoints)" % (total, unit, min_requests))
    return {"series": series, "offenders": offenders, "requests": total, "passed": not problems,
            "problems": problems}


def describe(series):
    return "%s/%s -> %s/%s (%s): %s" % (
        series.get("source_workload_namespace") or "?", series.get("source_workload") or "?",
        series.get("destination_workload_namespace") or "?", series.get("destination_workload") or "?",
        series.get("reporter") or "?", ", ".join(series.get("reasons") or []))


def check(params):
    validate(params)
    metric = params.get("metric") or DEFAULT_METRIC
    unit = METRICS[metric]
    expr = promql(params["namespace"], params.get("reporter") or None, params.get("window") or None, metric)
    result = evaluate(query(params["prometheus_url"], expr, params["timeout"], params["validate_certs"],
                            params.get("bearer_token")), params["min_requests"], unit)
    result.update(changed=False, query=expr, namespace=params["namespace"], metric=metric, unit=unit,
                  summary="mTLS check %s for namespace %s: %s %s in %d series, %d offenders%s" % (
                      "passed" if result["passed"] else "FAILED", params["namespace"], result["requests"], unit,
                      len(result["series"]), len(result["offenders"]),
                      "" if result["passed"] else "; " + "; ".join(result["problems"])))
    if result["problems"] and params["fail_on_offenders"]:
        raise MeshError(result["summary"], **result)
    return result
