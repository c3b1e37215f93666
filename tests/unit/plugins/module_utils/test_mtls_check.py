"""The mTLS proof: the PromQL, the verdict per series, and the HTTP API handling against a loopback server."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from probe_http import Server

from ansible_collections.ambientmesh.multicluster.plugins.module_utils import mtls_check as mtls
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError

GOOD = {"reporter": "destination", "source_workload": "gloo-proxy-http", "source_workload_namespace": "gloo-system",
        "source_principal": "spiffe://cluster1.local/ns/gloo-system/sa/gloo-proxy-http",
        "destination_workload": "productpage-v1", "destination_workload_namespace": "bookinfo",
        "destination_principal": "spiffe://cluster1.local/ns/bookinfo/sa/bookinfo-productpage",
        "connection_security_policy": "mutual_tls"}
PLAIN = dict(GOOD, source_workload="legacy", source_workload_namespace="default", source_principal="unknown",
             connection_security_policy="none")


def params(**over):
    p = dict(prometheus_url="http://127.0.0.1:9", namespace="bookinfo", reporter="destination", window="10m",
             min_requests=1, fail_on_offenders=True, bearer_token=None, validate_certs=True, timeout=5)
    p.update(over)
    return p


def test_promql():
    q = mtls.promql("bookinfo", "destination", "10m")
    assert q.startswith("sum by (reporter, source_workload, ")
    assert q.endswith('(increase(istio_requests_total{destination_workload_namespace="bookinfo",'
                      'reporter="destination"}[10m]))')
    assert mtls.promql('we"ird', None, None).endswith('(istio_requests_total{destination_workload_namespace="we\\"ird"})')


def test_promql_of_the_l4_metric_and_its_unit():
    q = mtls.promql("bookinfo", "destination", "10m", "istio_tcp_connections_opened_total")
    assert "increase(istio_tcp_connections_opened_total{destination_workload_namespace=\"bookinfo\"," in q
    assert "only 0 connections recorded" in mtls.evaluate([], 1, "connections")["problems"][0]


def test_evaluate_lists_offenders_with_reasons():
    result = [{"metric": GOOD, "value": [1, "120"]}, {"metric": PLAIN, "value": [1, "7.5"]},
              {"metric": dict(GOOD, destination_principal=""), "value": [1, "0"]}]
    out = mtls.evaluate(result)
    assert out["requests"] == 127.5 and len(out["series"]) == 2 and out["passed"] is False
    assert out["offenders"] == [dict(PLAIN, requests=7.5, reasons=[
        "connection_security_policy=none", "source_principal=unknown"])]
    assert out["problems"] == ["1 of 2 series are not mutual TLS with SPIFFE identities: default/legacy -> "
                               "bookinfo/productpage-v1 (destination): connection_security_policy=none, "
                               "source_principal=unknown"]


def test_evaluate_all_good_and_too_little_traffic():
    assert mtls.evaluate([{"metric": GOOD, "value": [1, "3"]}])["passed"] is True
    quiet = mtls.evaluate([{"metric": GOOD, "value": [1, "0"]}])
    assert quiet["passed"] is False and "only 0 requests recorded (min_requests 1)" in quiet["problems"][0]
    assert mtls.evaluate([], min_requests=0)["passed"] is True


def test_offences_missing_labels():
    assert mtls.offences({}) == ["connection_security_policy=<missing>", "source_principal=<missing>",
                                 "destination_principal=<missing>"]


@pytest.mark.parametrize("over,field", [(dict(prometheus_url="prom:9090"), "prometheus_url"),
                                        (dict(namespace=""), "namespace"), (dict(window="10 minutes"), "window"),
                                        (dict(min_requests=-1), "min_requests")])
def test_bad_input_names_the_field(over, field):
    with pytest.raises(MeshError) as err:
        mtls.check(params(**over))
    assert err.value.msg.startswith(field + ": ")


class FakePrometheus(Server):
    """Answers every query with `body`; records the queries and Authorization headers."""

    def __init__(self, status=200, body=None):
        self.queries, self.auth = [], []
        super(FakePrometheus, self).__init__(self.answer)
        self.status, self.body = status, json.dumps(body).encode()
        self.url = "http://127.0.0.1:%d/" % self.port
        self.thread.start()

    def answer(self, now, handler):
        parts = urlsplit(handler.path)
        self.queries.append((parts.path, parse_qs(parts.query).get("query", [None])[0]))
        self.auth.append(handler.headers.get("Authorization"))
        return self.status, {"Content-Type": "application/json"}, self.body

    def close(self):
        self.__exit__()


def test_check_against_http_api():
    srv = FakePrometheus(body={"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": GOOD, "value": [1, "10"]}, {"metric": PLAIN, "value": [1, "2"]}]}})
    try:
        with pytest.raises(MeshError) as err:
            mtls.check(params(prometheus_url=srv.url, bearer_token="s3cret"))
        out = mtls.check(params(prometheus_url=srv.url, fail_on_offenders=False))
    finally:
        srv.close()
    assert err.value.msg.startswith("mTLS check FAILED for namespace bookinfo: 12.0 requests in 2 series, 1 offenders")
    assert err.value.details["offenders"][0]["source_workload"] == "legacy"
    assert srv.queries[0] == ("/api/v1/query", mtls.promql("bookinfo", "destination", "10m"))
    assert srv.auth == ["Bearer s3cret", None]
    assert out["passed"] is False and out["changed"] is False and out["query"] == srv.queries[1][1]


def test_prometheus_error_is_reported():
    srv = FakePrometheus(status=400, body={"status": "error", "errorType": "bad_data", "error": "parse error"})
    try:
        with pytest.raises(MeshError) as err:
            mtls.check(params(prometheus_url=srv.url))
    finally:
        srv.close()
    assert err.value.msg == "prometheus_url: %s answered HTTP 400: parse error" % srv.url


def test_unreachable_prometheus():
    srv = FakePrometheus(body={})
    srv.close()
    with pytest.raises(MeshError) as err:
        mtls.check(params(prometheus_url=srv.url))
    assert err.value.msg.startswith("prometheus_url: cannot reach %s" % srv.url)
