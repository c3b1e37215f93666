"""mtls_check against a real Prometheus (built from its Go module by lab.prometheus) scraping a fixture exporter
that serves istio_requests_total the way Solo's L7 ztunnel and waypoints label it, and, for an upstream mesh, only
the L4 istio_tcp_connections_opened_total that upstream ztunnel exports."""

import json
from pathlib import Path

import pytest

from lab import netns
from lab import prometheus as lab_prometheus

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / "tests" / "integration" / "playbooks" / "verify" / "mtls.yml"
VERIFY = REPO / "playbooks" / "verify.yml"


def series(namespace, source_ns, source, principal, policy="mutual_tls", reporter="destination"):
    return {"reporter": reporter, "source_workload": source, "source_workload_namespace": source_ns,
            "source_principal": principal, "destination_workload": "productpage-v1",
            "destination_workload_namespace": namespace, "destination_service": "productpage.%s.svc" % namespace,
            "destination_principal": "spiffe://cluster1.local/ns/%s/sa/bookinfo-productpage" % namespace,
            "connection_security_policy": policy, "response_code": "200", "source_cluster": "cluster1",
            "destination_cluster": "cluster2"}


GATEWAY = "spiffe://cluster1.local/ns/gloo-system/sa/gloo-proxy-http"
KGATEWAY = "spiffe://cluster1.local/ns/gloo-system/sa/http"
TCP = "istio_tcp_connections_opened_total"
FIXTURE = [
    (series("bookinfo", "gloo-system", "gloo-proxy-http", GATEWAY), 5),
    # a source-side report of plaintext is not what the default reporter=destination checks
    (series("bookinfo", "default", "curl", "unknown", "none", reporter="source"), 3),
    (series("legacy", "gloo-system", "gloo-proxy-http", GATEWAY), 5),
    (series("legacy", "default", "curl-client", "unknown", "none"), 2),
    (series("quiet", "gloo-system", "gloo-proxy-http", GATEWAY), 0),
    # upstream ztunnel: L4 only, so this namespace has no istio_requests_total at all
    (series("l4", "gloo-system", "http", KGATEWAY), 4, TCP),
    (series("l4-legacy", "default", "curl-client", "unknown", "none"), 2, TCP),
]


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    if not netns.isolated():
        pytest.fail("run inside the lab's loopback-only namespace (python -m lab sandbox/exec -- pytest ...)")
    if lab_prometheus.find() is None:
        pytest.fail("Prometheus is not built: run `python -m lab.prometheus build` (outside the namespace: it "
                    "downloads Go modules)")
    exporter = lab_prometheus.FixtureExporter(FIXTURE).start()
    prom = lab_prometheus.Prometheus(tmp_path_factory.mktemp("prometheus"), [exporter.address])
    try:
        prom.start()
        prom.wait_scrapes(3)
        yield prom
    finally:
        prom.stop()
        exporter.stop()


def run_check(run_playbook, tmp_path, check=False, **extra):
    vars_ = {"out_dir": str(tmp_path)}
    vars_.update(extra)
    res = run_playbook(PLAYBOOK, "localhost,", extra_vars=vars_, check=check)
    assert res.rc == 0, res
    return json.loads((tmp_path / "result.json").read_text())


def test_all_mutual_tls_passes(prometheus, run_playbook, tmp_path):
    out = run_check(run_playbook, tmp_path, prometheus_url=prometheus.url, mtls_namespace="bookinfo")
    assert out.get("failed") is not True, out
    assert out["passed"] is True and out["changed"] is False and out["offenders"] == []
    assert len(out["series"]) == 1 and out["series"][0]["reporter"] == "destination"
    assert out["series"][0]["source_principal"] == GATEWAY and out["requests"] > 0
    assert out["summary"].startswith("mTLS check passed for namespace bookinfo")


def test_plaintext_is_listed_as_offender(prometheus, run_playbook, tmp_path):
    out = run_check(run_playbook, tmp_path, prometheus_url=prometheus.url, mtls_namespace="legacy")
    assert out["failed"] is True and out["passed"] is False
    assert "1 of 2 series are not mutual TLS with SPIFFE identities: default/curl-client -> " \
           "legacy/productpage-v1 (destination): connection_security_policy=none, source_principal=unknown" in out["msg"]
    assert [o["source_workload"] for o in out["offenders"]] == ["curl-client"]
    assert out["offenders"][0]["requests"] > 0


def test_no_traffic_proves_nothing(prometheus, run_playbook, tmp_path):
    out = run_check(run_playbook, tmp_path, prometheus_url=prometheus.url, mtls_namespace="quiet")
    assert out["failed"] is True and "only 0 requests recorded (min_requests 1)" in out["msg"]
    assert run_check(run_playbook, tmp_path, prometheus_url=prometheus.url, mtls_namespace="nothing-here",
                     mtls_min_requests=0)["passed"] is True


def test_check_mode_runs_the_same_query(prometheus, run_playbook, tmp_path):
    out = run_check(run_playbook, tmp_path, check=True, prometheus_url=prometheus.url, mtls_namespace="legacy",
                    mtls_window="1h")
    assert out["failed"] is True and "increase(istio_requests_total{" in out["query"] and "[1h]" in out["query"]


def test_bad_inputs(prometheus, run_playbook, tmp_path):
    closed = "http://127.0.0.1:1"
    out = run_check(run_playbook, tmp_path, prometheus_url=closed, mtls_namespace="bookinfo")
    assert out["failed"] is True and out["msg"].startswith("prometheus_url: cannot reach http://127.0.0.1:1")
    out = run_check(run_playbook, tmp_path, prometheus_url=prometheus.url, mtls_namespace="bookinfo",
                    mtls_window="ten minutes")
    assert out["failed"] is True and out["msg"].startswith("window: 'ten minutes' is not a Prometheus duration")


def test_role_reports_the_mtls_proof(prometheus, lab, make_inventory, run_playbook, tmp_path, cluster_names):
    inv = make_inventory(cluster_names[:2])
    off = {"verify_mesh_info": False, "verify_in_mesh": False, "verify_ingress": False, "verify_failover": False}
    base = dict(off, verify_prometheus_url=prometheus.url, verify_reports_dir=str(tmp_path / "r"),
                verify_report_formats=["json", "markdown"])
    good = run_playbook(VERIFY, inv, extra_vars=dict(base, verify_mtls_namespace="bookinfo"))
    assert good.rc == 0, good
    bad = run_playbook(VERIFY, inv, extra_vars=dict(base, verify_mtls_namespace="legacy", verify_report_prefix="legacy"))
    assert bad.rc != 0 and "mTLS: 1 of 2 series are not mutual TLS" in bad.stdout
    files = sorted(p.name for p in (tmp_path / "r").iterdir())
    assert len(files) == 4 and [f.rsplit(".", 1)[1] for f in files] == ["json", "md", "json", "md"]
    legacy_md = (tmp_path / "r" / files[1]).read_text()
    assert "| default/curl-client | legacy/productpage-v1 | destination |" in legacy_md
    good_doc = json.loads((tmp_path / "r" / files[2]).read_text())
    assert good_doc["passed"] is True and good_doc["mtls"]["namespace"] == "bookinfo"


def test_an_l4_only_mesh_is_proven_from_tcp_connections(prometheus, run_playbook, tmp_path):
    out = run_check(run_playbook, tmp_path, prometheus_url=prometheus.url, mtls_namespace="l4", mtls_metric=TCP)
    assert out["passed"] is True and out["unit"] == "connections" and out["requests"] > 0, out
    assert out["query"].startswith("sum by (") and TCP + "{" in out["query"]
    assert out["summary"].startswith("mTLS check passed for namespace l4:") and " connections in 1 series" in out["summary"]
    bad = run_check(run_playbook, tmp_path, prometheus_url=prometheus.url, mtls_namespace="l4-legacy", mtls_metric=TCP)
    assert bad["failed"] is True and "connection_security_policy=none" in bad["msg"]
    # the L7 metric does not exist there: asking for it proves nothing, and says so
    l7 = run_check(run_playbook, tmp_path, prometheus_url=prometheus.url, mtls_namespace="l4")
    assert l7["failed"] is True and "only 0 requests recorded" in l7["msg"]


@pytest.mark.parametrize("distribution,passed", [("upstream", True), ("solo", False)])
def test_the_role_proves_mtls_from_what_the_distributions_ztunnel_exports(distribution, passed, prometheus, lab,
                                                                          make_inventory, run_playbook, tmp_path,
                                                                          cluster_names):
    inv = make_inventory(cluster_names[:2], group_vars={"mesh_distribution": distribution})
    res = run_playbook(VERIFY, inv, extra_vars={
        "verify_mesh_info": False, "verify_in_mesh": False, "verify_ingress": False, "verify_failover": False,
        "verify_prometheus_url": prometheus.url, "verify_reports_dir": str(tmp_path), "verify_mtls_namespace": "l4",
        "verify_report_formats": ["json"]})
    doc = json.loads(next(tmp_path.glob("verify-*.json")).read_text())
    assert (res.rc == 0) is passed and doc["passed"] is passed, res
    assert doc["mtls"]["metric"] == {"upstream": TCP, "solo": "istio_requests_total"}[distribution]
