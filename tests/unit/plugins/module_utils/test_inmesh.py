"""The in-mesh probe's command and parse side: the generated curl loop runs here in a real sh with a real
curl against a loopback server, and its lines are parsed as the controller parses the pod's log."""

import shutil
import subprocess

import pytest
from probe_http import Server, from_cluster

from ansible_collections.ambientmesh.multicluster.plugins.module_utils import inmesh, probe

needs_curl = pytest.mark.skipif(not shutil.which("curl") or not shutil.which("sh"), reason="needs sh and curl")


def run_script(script, timeout=30):
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=timeout,
                          check=True).stdout.splitlines()


def test_script_shape():
    script = inmesh.curl_script("http://productpage.bookinfo.mesh.internal:9080/productpage", 5, 42.7, 2,
                                host_header="bookinfo.example.com", cluster_header="x-ambientmesh-cluster")
    assert script.startswith("end=$(( $(date +%s) + 42 )); while")
    assert "sleep 0.2; done; wait; echo ambientmesh-probe-end" in script
    assert "--max-time 2 " in script
    assert "'Host: bookinfo.example.com'" in script
    assert "'ambientmesh-probe %{http_code} %{time_total} %{exitcode} %header{x-ambientmesh-cluster}\\n'" in script
    assert script.count("http://productpage.bookinfo.mesh.internal:9080/productpage") == 1


def test_script_quotes_hostile_values():
    script = inmesh.curl_script("http://h/p?a=1&b=$(reboot)", 1, 1, 1, host_header="x'; reboot; '")
    assert "'http://h/p?a=1&b=$(reboot)'" in script
    assert "'Host: x'\"'\"'; reboot; '\"'\"''" in script


@needs_curl
def test_loop_against_a_server_that_fails_for_a_window():
    """The 3rd and 4th requests get 503 (counted, not timed: a loaded machine slows the loop); what the server
    sent is what the lines say."""
    served = []

    def answer(now, handler):
        assert handler.headers["Host"] == "bookinfo.example.com"
        n = len(served)
        served.append((now, 503, None) if n in (2, 3) else (now, 200, "cluster1" if n < 2 else "cluster2"))
        return from_cluster(served[-1][1], served[-1][2])

    with Server(answer) as srv:
        # The deadline counts whole seconds of `date +%s`: 4 s runs between 3 and 4 s.
        script = inmesh.curl_script(srv.url, 10, 4, 1, host_header="bookinfo.example.com",
                                    cluster_header="x-ambientmesh-cluster")
        lines = run_script(script)
    assert lines[-1] == inmesh.END_TAG
    parsed = [inmesh.parse_line(line) for line in lines[:-1]]
    assert all(parsed) and len(parsed) == srv.hits >= 5
    assert sorted((p[0], p[2]) for p in parsed) == sorted(s[1:] for s in served)
    assert {s[1] for s in served} == {200, 503} and {s[2] for s in served} == {"cluster1", "cluster2", None}
    assert all(0 < p[1] < 2 for p in parsed)


@needs_curl
def test_loop_against_a_closed_port_reports_refused():
    with Server(lambda now, h: from_cluster(200)) as srv:
        url = srv.url
    lines = run_script(inmesh.curl_script(url, 10, 1, 1))
    parsed = [inmesh.parse_line(line) for line in lines if inmesh.parse_line(line)]
    assert parsed and {p[0] for p in parsed} == {probe.REFUSED}


@pytest.mark.parametrize("line,expected", [
    ("ambientmesh-probe 200 0.012345 0 cluster2", (200, 0.012345, "cluster2")),
    ("ambientmesh-probe 503 0.5 0 ", (503, 0.5, None)),
    ("ambientmesh-probe 200 0.1 0", (200, 0.1, None)),
    ("ambientmesh-probe 000 2.001 28 ", (probe.TIMEOUT, 2.001, None)),
    ("ambientmesh-probe 000 0.001 7", (probe.REFUSED, 0.001, None)),
    ("ambientmesh-probe 000 0.001 6", (probe.ERROR, 0.001, None)),
    ("curl: (6) Could not resolve host", None),
    ("ambientmesh-probe x y z", None),
    ("", None),
])
def test_parse_line(line, expected):
    assert inmesh.parse_line(line) == expected


def test_debug_container_is_what_kubectl_debug_adds():
    c = inmesh.debug_container("ambientmesh-probe-1", "curlimages/curl:8.11.1", "echo hi")
    assert c["name"] == "ambientmesh-probe-1" and c["image"] == "curlimages/curl:8.11.1"
    assert c["command"] == ["sh", "-c", "echo hi"] and c["stdin"] is False and c["tty"] is False


def _pod(name, phase="Running", ready="True", eph=None):
    return {"metadata": {"name": name}, "status": {"phase": phase, "conditions": [{"type": "Ready", "status": ready}],
                                                   "ephemeralContainerStatuses": eph or []}}


def test_pick_pod_takes_first_ready_by_name():
    pods = [_pod("ratings-c"), _pod("ratings-a", ready="False"), _pod("ratings-b"), _pod("ratings-0", "Pending")]
    assert inmesh.pick_pod(pods)["metadata"]["name"] == "ratings-b"
    assert inmesh.pick_pod([_pod("x", ready="False")]) is None


def test_container_state():
    pod = _pod("p", eph=[{"name": "a", "state": {"running": {}}}, {"name": "b", "state": {"terminated": {}}},
                         {"name": "c", "state": {"waiting": {"reason": "ImagePullBackOff"}}}])
    assert inmesh.container_state(pod, "a") == "running"
    assert inmesh.container_state(pod, "b") == "terminated"
    assert inmesh.container_state(pod, "c") == ("waiting", "ImagePullBackOff")
    assert inmesh.container_state(pod, "d") is None
