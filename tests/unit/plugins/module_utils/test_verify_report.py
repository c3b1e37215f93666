"""The report: figures in JSON and Markdown, a real PNG, and writes that only happen on change."""

import json
import os

import pytest

from ansible_collections.ambientmesh.multicluster.plugins.module_utils import probe, verify_report as report
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError

from module_stub import atomic_move


def drill_result():
    samples = []
    for i in range(100):
        t = i * 0.1
        if t < 4:
            samples.append({"t": t, "code": 200, "ms": 2.0 + i % 3, "cluster": "cluster1"})
        elif t < 5:
            samples.append({"t": t, "code": 503, "ms": 1.0, "cluster": None})
        else:
            samples.append({"t": t, "code": 200, "ms": 4.0, "cluster": "cluster2"})
    marks = [("baseline", 0.0), ("disrupt", 3.9), ("hold", 5.0), ("restore", 8.0), ("settle", 9.0)]
    res = probe.phase_report(samples, marks, 10.0)
    res.update(timeline=samples, cluster="cluster1", url="http://127.0.0.1:8080/productpage", passed=False,
               problems=["success ratio 0.9000 is below min_success_ratio 0.99 (10 of 100 requests failed)"],
               thresholds={"min_success_ratio": 0.99, "max_recovery_seconds": 10, "expected_status": [200]},
               timings={"endpoints_gone_seconds": 1.1, "restore_seconds": 0.8},
               deployment={"namespace": "bookinfo", "name": "productpage-v1", "original_replicas": 1, "replicas": 1})
    return res


def data():
    return {
        "title": "Lab verification", "generated": "2025-01-01T00:00:00Z",
        "clusters": {"cluster1": {"distribution": "solo", "versions": {"kubernetes": "v1.36.3"}, "components": {
            "istiod": {"ready": True, "ready_replicas": 1, "desired": 1, "version": "1.29.0-solo"},
            "ztunnel": None, "cni": None, "eastwest_gateway": {"programmed": True}},
            "eastwest_address": "198.51.100.10", "peers": [{"cluster": "cluster2"}],
            "global_services": ["bookinfo/productpage"], "ambient_namespaces": ["bookinfo"]}},
        "checks": {"ingress": {"cluster1": {"passed": True, "problems": [], "overall": {
            "requests": 25, "success_ratio": 1.0, "latency_ms": {"p50": 2, "p95": 3, "p99": 4},
            "clusters": {"cluster1": 25}}}}},
        "drill": drill_result(),
        "mtls": {"namespace": "bookinfo", "passed": True, "requests": 120.0, "series": [{}], "offenders": [],
                 "problems": [], "query": "sum by (...) (...)"},
    }


def test_markdown_holds_the_figures():
    md = report.markdown(data(), "verify.png")
    assert md.startswith("# Lab verification: FAILED\n")
    assert "| ingress | cluster1 | passed | 25 requests, 100.00% ok, p50/p95/p99 2/3/4 ms, answered by cluster1: 25 |" in md
    assert "| failover drill | cluster1, bookinfo/productpage-v1 | **FAILED** | 100 requests, 90.00% ok" in md
    assert "first failure at 4.00 s, recovered after 1.00 s" in md
    assert "- failover drill: success ratio 0.9000 is below min_success_ratio 0.99" in md
    assert "| cluster1 | solo | v1.36.3 | ready 1/1 (1.29.0-solo) | absent | absent | programmed | 198.51.100.10 | " \
           "cluster2 | bookinfo/productpage | bookinfo |" in md
    assert "![Failover timeline](verify.png)" in md
    assert "| baseline | 3.90 s | 39 | 100.00% | 200: 39 | - | - | 3 | 4 | 4 | cluster1: 39 |" in md
    assert "| disrupt | 1.10 s | 11 | 9.09% | 200: 1, 503: 10 | 4.00 s | failing at the end | 2 | 2 | 2 | cluster1: 1 |" in md
    assert "| **overall** | 10.00 s | 100 | 90.00% | 200: 90, 503: 10 | 4.00 s | 1.00 s | 4 | 4 | 4 | " \
           "cluster1: 40, cluster2: 50 |" in md
    assert "Every series is `mutual_tls` with `spiffe://` principals (120.0 requests)." in md


def test_render_json_and_png(tmp_path):
    files = report.render(data(), "verify", ["json", "markdown", "png"])
    assert sorted(files) == ["json", "markdown", "png"]
    doc = json.loads(files["json"][1])
    assert doc["passed"] is False and doc["drill"]["overall"]["requests"] == 100
    assert doc["drill"]["overall"]["recovery_seconds"] == 1.0
    assert len(doc["problems"]) == 1
    name, png = files["png"]
    assert name == "verify.png" and png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 20000
    import matplotlib.image
    path = tmp_path / "t.png"
    path.write_bytes(png)
    assert matplotlib.image.imread(str(path)).shape[:2] == (600, 1100)
    assert report.render(data(), "verify", ["json", "markdown", "png"])["png"][1] == png, "png not reproducible"


def test_no_png_without_a_drill():
    d = data()
    del d["drill"]
    files = report.render(d, "v", ["png", "markdown"])
    assert sorted(files) == ["markdown"] and "![" not in files["markdown"][1].decode()
    assert report.passed(d) is True
    d["drill"] = dict(drill_result(), passed=True, problems=[])
    d["drill"]["overall"] = dict(d["drill"]["overall"], failures=0)
    assert "; no failed request |" in report.markdown(d)


def test_write_only_on_change_and_not_in_check_mode(tmp_path):
    params = {"path": str(tmp_path / "reports"), "name": "verify", "formats": ["json", "markdown", "png"],
              "data": data()}
    dry = report.report(params, check_mode=True)
    assert dry["changed"] is True and not os.path.exists(params["path"])
    first = report.report(params, atomic_move=atomic_move())
    assert first["changed"] is True and first["passed"] is False
    assert sorted(os.listdir(params["path"])) == ["verify.json", "verify.md", "verify.png"]
    assert first["diff"]["before"] == "" and first["diff"]["after"].startswith("# Lab verification: FAILED")
    again = report.report(params, atomic_move=atomic_move())
    assert again["changed"] is False and again["diff"]["before"] == again["diff"]["after"]
    params["data"]["drill"]["passed"] = True
    params["data"]["drill"]["problems"] = []
    changed = report.report(params, check_mode=True)
    assert changed["changed"] is True and "FAILED" in changed["diff"]["before"] and "PASSED" in changed["diff"]["after"]
    assert "FAILED" in (tmp_path / "reports" / "verify.md").read_text()


@pytest.mark.parametrize("bad,field", [({}, "data"), ({"title": "x"}, "data"),
                                       ({"hosts": [{"cluster": "c1", "drill": {"skipped": True}}]}, "data")])
def test_bad_data(tmp_path, bad, field):
    with pytest.raises(MeshError) as err:
        report.report({"path": str(tmp_path), "name": "v", "formats": ["json"], "data": bad})
    assert err.value.msg.startswith(field + ": ")


def test_path_must_be_a_directory(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(MeshError, match="^path: "):
        report.report({"path": str(f), "name": "v", "formats": ["json"], "data": data()})


def test_a_reports_folder_that_cannot_be_made_names_the_field(tmp_path):
    # under a regular file no folder can be created: os.makedirs once surfaced as a bare FileNotFoundError
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(MeshError, match=r"^path: cannot write the report to .*/file/reports \(Not a directory\): give a "
                                        r"folder this controller can create and write \(the verify role's "
                                        r"verify_reports_dir\)$"):
        report.report({"path": str(blocker / "reports"), "name": "v", "formats": ["json"], "data": data()},
                      atomic_move=atomic_move())


def test_registered_results_are_folded_per_cluster():
    drill = dict(drill_result(), changed=False, invocation={"module_args": {}}, diff={"before": {}})
    del drill["cluster"]
    hosts = [{"cluster": "cluster1", "mesh": {"changed": False, "mesh": {"distribution": "solo"}},
              "in_mesh": {"skipped": True, "skip_reason": "Conditional result was False"},
              "ingress": {"changed": False, "passed": True, "overall": {"requests": 3}}, "drill": drill},
             {"cluster": "cluster2", "mesh": {"changed": False, "mesh": {"distribution": "upstream"}},
              "in_mesh": None, "ingress": {"skipped": True}, "drill": {"skipped": True}}]
    out = report.normalize({"title": "t", "hosts": hosts, "mtls": {"skipped": True}})
    assert out["clusters"] == {"cluster1": {"distribution": "solo"}, "cluster2": {"distribution": "upstream"}}
    assert out["checks"] == {"ingress": {"cluster1": {"passed": True, "overall": {"requests": 3}}}}
    assert out["drill"]["cluster"] == "cluster1" and "invocation" not in out["drill"] and "diff" not in out["drill"]
    assert out["mtls"] is None and "hosts" not in out
    assert [r[:3] for r in report.verdicts(out)] == [("ingress", "cluster1", True),
                                                     ("failover drill", "cluster1, bookinfo/productpage-v1", False)]


def test_no_check_is_not_a_pass_and_says_why():
    facts_only = {"title": "t", "clusters": data()["clusters"]}
    assert not report.passed(facts_only)
    assert report.problems(facts_only) == [
        "no check ran: enable at least one of the in-mesh, ingress, failover or mTLS checks"]
    assert not any(p.startswith("no check ran") for p in report.problems(data()))


def test_checks_run_counts_verdicts(tmp_path):
    params = {"path": str(tmp_path), "name": "v", "formats": ["json"], "data": data()}
    assert report.report(params, check_mode=True)["checks_run"] == len(report.verdicts(data())) > 0
    facts_only = dict(params, data={"title": "t", "clusters": data()["clusters"]})
    assert report.report(facts_only, check_mode=True)["checks_run"] == 0


def healthy_cluster(name, peers):
    ready = {"ready": True, "ready_replicas": 1, "desired": 1}
    return {"components": {"istiod": ready, "ztunnel": ready, "cni": ready, "eastwest_gateway": {"ready": True}},
            "peers": [{"cluster": p} for p in peers], "expected_peers": peers, "problems": []}


def test_a_mesh_missing_ztunnel_fails_the_report_even_when_every_probe_passed():
    d = {"checks": {"ingress": {"cluster1": {"passed": True, "problems": [], "overall": {"requests": 5}}}},
         "clusters": {"cluster1": healthy_cluster("cluster1", ["cluster2"]),
                      "cluster2": healthy_cluster("cluster2", ["cluster1"])}}
    assert report.passed(d) and report.problems(d) == []
    assert "| mesh health | cluster2 | passed | 4 of 4 components ready, 1 of 1 peers linked |" in report.markdown(d)
    d["clusters"]["cluster2"]["components"]["ztunnel"] = None
    d["clusters"]["cluster2"]["problems"] = ["ztunnel is absent (...): install it"]
    assert not report.passed(d)
    md = report.markdown(d)
    assert md.splitlines()[0].endswith(": FAILED")
    assert "| mesh health | cluster2 | **FAILED** | 3 of 4 components ready, 1 of 1 peers linked |" in md
    assert report.problems(d) == ["mesh health (cluster2): ztunnel is absent (...): install it"]


def test_facts_without_a_health_check_add_no_row():
    d = data()
    assert [r[0] for r in report.verdicts(d)] == ["ingress", "failover drill", "mTLS"]


def test_the_mesh_health_row_says_how_many_peers_istiod_synced_or_that_it_was_not_checked():
    d = {"clusters": {"cluster1": dict(healthy_cluster("cluster1", ["cluster2", "cluster3"]),
                                       peer_sync={"cluster2": ["synced"], "cluster3": ["timeout"]},
                                       problems=["istiod has not synced cluster3 (timeout): ..."])}}
    assert ("| mesh health | cluster1 | **FAILED** | 4 of 4 components ready, 2 of 2 peers linked, 1 of 2 peers "
            "synced by istiod |") in report.markdown(d)
    d["clusters"]["cluster1"].update(peer_sync=None, problems=[],
                                     peers=[{"kind": "remote-secret", "cluster": "cluster2"}, {"cluster": "cluster3"}])
    assert "2 peers linked, peer sync not checked (no Prometheus) |" in report.markdown(d)
