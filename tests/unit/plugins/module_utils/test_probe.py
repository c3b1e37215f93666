"""The probe engine against real HTTP servers on loopback (threads in this test)."""

import time

import pytest
from probe_http import Server, from_cluster

from ansible_collections.ambientmesh.multicluster.plugins.module_utils import probe
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError


def run_for(target, rate, seconds, recorder, timeout=2.0, marks=()):
    prober = probe.Prober(target, rate, recorder, timeout)
    recorder.mark("baseline")
    prober.start()
    start = time.monotonic()
    for name, at in marks:
        time.sleep(max(0.0, start + at - time.monotonic()))
        recorder.mark(name)
    time.sleep(max(0.0, start + seconds - time.monotonic()))
    return prober.stop()


def test_steady_server_counts_every_request_at_the_rate():
    with Server(lambda now, h: from_cluster(200, "cluster1")) as srv:
        rec = probe.Recorder()
        end = run_for(probe.HttpTarget(srv.url, cluster_header="x-ambientmesh-cluster"), 20, 2.0, rec)
        samples, marks = rec.snapshot()
    report = probe.phase_report(samples, marks, end)
    overall = report["overall"]
    assert 38 <= overall["requests"] <= 42
    assert overall["requests"] == srv.hits == len(samples)
    assert overall["status_codes"] == {"200": overall["requests"]}
    assert overall["success_ratio"] == 1.0 and overall["recovery_seconds"] == 0.0 and overall["first_failure"] is None
    assert overall["clusters"] == {"cluster1": overall["requests"]}
    assert 0 < overall["latency_ms"]["p50"] <= overall["latency_ms"]["p95"] <= overall["latency_ms"]["p99"]
    # Steady: sends 50 ms apart; a late one (a busy machine) is followed by a catch-up, not a lasting drift.
    gaps = sorted(b["t"] - a["t"] for a, b in zip(samples, samples[1:]))
    assert 0.045 <= gaps[len(gaps) // 2] <= 0.055 and sum(g > 0.1 for g in gaps) <= 2, gaps


def test_failure_window_is_measured_exactly():
    """503 (cluster1 gone) from 1.0 s to 2.0 s after start, cluster2 answers afterwards."""
    rate, seconds = 20, 3.0
    rec = probe.Recorder()
    t1, t2 = rec.t0 + 1.0, rec.t0 + 2.0

    served = []

    def answer(now, handler):
        served.append(200 if now < t1 or now >= t2 else 503)
        if now < t1:
            return from_cluster(200, "cluster1")
        if now < t2:
            return from_cluster(503)
        return from_cluster(200, "cluster2")

    with Server(answer) as srv:
        end = run_for(probe.HttpTarget(srv.url, cluster_header="x-ambientmesh-cluster"), rate, seconds, rec,
                      marks=[("disrupt", 1.0), ("settle", 2.0)])
        samples, marks = rec.snapshot()
    report = probe.phase_report(samples, marks, end)
    overall = report["overall"]
    assert 58 <= overall["requests"] <= 62 and overall["requests"] == srv.hits
    assert overall["status_codes"] == {"200": served.count(200), "503": served.count(503)}
    assert 18 <= overall["failures"] <= 22
    # within two send intervals (50 ms each) of the window's edges
    assert abs(overall["first_failure"] - 1.0) <= 0.1
    assert abs(overall["recovery_seconds"] - 1.0) <= 0.1
    assert overall["recovered"] is True
    assert abs(overall["success_ratio"] - 2 / 3.0) < 0.05
    names = [p["name"] for p in report["phases"]]
    assert names == ["baseline", "disrupt", "settle"]
    base, disrupt, settle = report["phases"]
    assert base["failures"] <= 1 and settle["failures"] <= 1
    assert disrupt["success_ratio"] <= 0.1
    assert set(base["clusters"]) == {"cluster1"} and set(settle["clusters"]) == {"cluster2"}
    assert sum(p["requests"] for p in report["phases"]) == overall["requests"]
    problems = probe.check_thresholds(overall, min_success_ratio=0.99, max_recovery_seconds=0.5)
    assert len(problems) == 2
    assert "below min_success_ratio 0.99" in problems[0] and "exceeds max_recovery_seconds 0.5" in problems[1]
    assert probe.check_thresholds(overall, min_success_ratio=0.5, max_recovery_seconds=1.5) == []


def test_slow_answers_do_not_slow_the_schedule_and_time_out():
    """Every answer takes 0.5 s and the timeout is 0.2 s: still ~rate*seconds requests, all timeouts."""
    with Server(lambda now, h: from_cluster(200, delay=0.5)) as srv:
        rec = probe.Recorder()
        end = run_for(probe.HttpTarget(srv.url, timeout=0.2), 10, 1.0, rec, timeout=0.2)
        samples, marks = rec.snapshot()
    overall = probe.phase_report(samples, marks, end)["overall"]
    assert 9 <= overall["requests"] <= 11
    assert overall["status_codes"] == {probe.TIMEOUT: overall["requests"]}
    assert overall["recovered"] is False and overall["recovery_seconds"] is None
    assert all(180 <= s["ms"] < 450 for s in samples)
    assert "did not recover" in probe.check_thresholds(overall, max_recovery_seconds=5)[0]


def test_host_header_is_sent():
    seen = []
    with Server(lambda now, h: seen.append(h.headers["Host"]) or from_cluster(200)) as srv:
        assert probe.HttpTarget(srv.url, host_header="bookinfo.example.com")() == (200, None)
    assert seen == ["bookinfo.example.com"]


def test_refused_connection_is_named():
    with Server(lambda now, h: from_cluster(200)) as srv:
        url = srv.url
    assert probe.HttpTarget(url, timeout=0.5)() == (probe.REFUSED, None)


@pytest.mark.parametrize("url", ["", "ftp://x/y", "http:///nohost", "http://h:99999/"])
def test_bad_urls_name_the_field(url):
    with pytest.raises(MeshError) as err:
        probe.parse_url(url)
    assert err.value.msg.startswith("url: ")


def test_parse_url_defaults():
    assert probe.parse_url("http://h") == ("http", "h", 80, "/")
    assert probe.parse_url("https://h/p?q=1") == ("https", "h", 443, "/p?q=1")


def test_percentile_interpolates():
    assert probe.percentile([], 50) is None
    assert probe.percentile([5], 99) == 5
    assert probe.percentile([1, 2, 3, 4], 50) == 2.5
    assert probe.percentile(list(range(1, 101)), 95) == 95.05
    assert probe.percentile([10, 1, 100], 100) == 100


def test_summarize_recovery_spans_first_failure_to_success_after_last_failure():
    samples = [{"t": t, "code": c, "ms": 1.0, "cluster": None} for t, c in
               [(0.0, 200), (1.0, 503), (1.5, 200), (2.0, probe.TIMEOUT), (3.0, 200), (4.0, 200)]]
    fig = probe.summarize(samples)
    assert fig["first_failure"] == 1.0 and fig["recovery_seconds"] == 2.0
    assert fig["status_codes"] == {"200": 4, "503": 1, "timeout": 1}
    assert fig["success_ratio"] == round(4 / 6.0, 4)
    assert probe.summarize([])["success_ratio"] is None
    line = probe.describe(fig)
    assert "6 requests" in line and "recovered after 2.00s" in line


def test_split_phases_assigns_by_send_time():
    samples = [{"t": t, "code": 200, "ms": 1.0} for t in (0.1, 0.9, 1.0, 2.5)]
    parts = probe.split_phases(samples, [("a", 0.0), ("b", 1.0)], 3.0)
    assert [(part[0], len(part[3])) for part in parts] == [("a", 2), ("b", 2)]
