# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The probe engine: send requests at a steady rate, record every answer, and turn the record into figures
(per phase and overall: counts, success ratio, first failure, time to recover, latency percentiles, which
cluster answered). Transports are small: an HTTP request from the controller here, a curl loop inside a
pod in inmesh.py; both feed the same Recorder."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import http.client
import math
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError

# Outcome names for requests that got no HTTP status.
TIMEOUT = "timeout"
REFUSED = "connection_refused"
ERROR = "error"


def parse_url(url):
    """(scheme, host, port, path) of an http(s) URL, or a MeshError naming `url`."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MeshError("url: %r is not an http(s) URL with a host; give e.g. http://203.0.113.10:8080/productpage"
                        % (url,))
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise MeshError("url: %r has an invalid port; use a number from 1 to 65535" % (url,))
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.scheme, parts.hostname, port, path


class HttpTarget:
    """One GET per call on a fresh connection (like curl), so every request is routed on its own."""

    def __init__(self, url, host_header=None, cluster_header=None, timeout=2.0, ssl_context=None):
        self.scheme, self.host, self.port, self.path = parse_url(url)
        self.url = url
        self.host_header = host_header
        self.cluster_header = cluster_header
        self.timeout = timeout
        self.ssl_context = ssl_context

    def __call__(self):
        """(status or outcome name, cluster or None)."""
        if self.scheme == "https":
            conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self.ssl_context)
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        headers = {"User-Agent": "ambientmesh-failover-check", "Connection": "close"}
        if self.host_header:
            headers["Host"] = self.host_header
        try:
            conn.request("GET", self.path, headers=headers)
            resp = conn.getresponse()
            resp.read()
            cluster = resp.getheader(self.cluster_header) if self.cluster_header else None
            return resp.status, cluster
        except (socket.timeout, TimeoutError):
            return TIMEOUT, None
        except ConnectionRefusedError:
            return REFUSED, None
        except (OSError, http.client.HTTPException):
            return ERROR, None
        finally:
            conn.close()


class Recorder:
    """Thread-safe list of samples and phase marks on one monotonic clock, zero at start."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.t0 = clock()
        self.samples = []
        self.marks = []
        self._lock = threading.Lock()

    def now(self):
        return self.clock() - self.t0

    def add(self, t, outcome, latency, cluster=None):
        sample = {"t": round(t, 4), "code": outcome, "ms": round(latency * 1000.0, 2), "cluster": cluster or None}
        with self._lock:
            self.samples.append(sample)

    def mark(self, phase):
        """Start `phase` now (the previous phase ends here)."""
        with self._lock:
            self.marks.append((phase, self.now()))

    def snapshot(self):
        with self._lock:
            return sorted(self.samples, key=lambda s: s["t"]), list(self.marks)


class Prober:
    """Calls target() at `rate` per second from a scheduler thread; requests run on a small pool so a slow
    answer does not delay the next send (the schedule stays steady while the target stalls)."""

    def __init__(self, target, rate, recorder, timeout=2.0):
        self.target = target
        self.interval = 1.0 / rate
        self.recorder = recorder
        self.workers = max(4, int(math.ceil(rate * timeout)) + 2)
        self._stop = threading.Event()
        self._pool = None
        self._thread = None

    def start(self):
        self._pool = ThreadPoolExecutor(max_workers=self.workers)
        self._thread = threading.Thread(target=self._schedule, name="probe-scheduler", daemon=True)
        self._thread.start()

    def _schedule(self):
        start = self.recorder.now()
        n = 0
        while not self._stop.is_set():
            self._pool.submit(self._one, self.recorder.now())
            n += 1
            delay = start + n * self.interval - self.recorder.now()
            if delay > 0 and self._stop.wait(delay):
                break

    def _one(self, sent):
        # Latency counts from the scheduled send, so a queue behind a stalled target shows as latency.
        outcome, cluster = self.target()
        self.recorder.add(sent, outcome, self.recorder.now() - sent, cluster)

    def stop(self):
        """Stop sending, wait for requests in flight; returns the time sending stopped (after every sample)."""
        self._stop.set()
        if self._thread:
            self._thread.join()
        stopped = self.recorder.now()
        if self._pool:
            self._pool.shutdown(wait=True)
        return stopped


# ---- statistics (pure) ---------------------------------------------------------------------------------------

def percentile(values, q):
    """Linear-interpolated percentile (q in 0..100) of a list; None for an empty list."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(ordered) - 1)
    return round(ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo), 2)


def is_success(sample, expected):
    return sample["code"] in expected


def summarize(samples, expected=(200,)):
    """Figures for one run of samples (already in time order).

    recovery_seconds: from the first failure to the first success after the last failure (0 without
    failures, None when the last request failed: not recovered)."""
    expected = set(expected)
    codes = {}
    clusters = {}
    for s in samples:
        codes[str(s["code"])] = codes.get(str(s["code"]), 0) + 1
        if s.get("cluster"):
            clusters[s["cluster"]] = clusters.get(s["cluster"], 0) + 1
    failures = [s for s in samples if not is_success(s, expected)]
    ok = len(samples) - len(failures)
    first_failure = failures[0]["t"] if failures else None
    recovery = 0.0 if not failures else None
    if failures:
        after = [s for s in samples if s["t"] > failures[-1]["t"] and is_success(s, expected)]
        if after:
            recovery = round(after[0]["t"] - first_failure, 3)
    latencies = [s["ms"] for s in samples if is_success(s, expected)]
    return {
        "requests": len(samples),
        "successes": ok,
        "failures": len(failures),
        "success_ratio": round(ok / len(samples), 4) if samples else None,
        "status_codes": codes,
        "first_failure": first_failure,
        "recovered": recovery is not None,
        "recovery_seconds": recovery,
        "latency_ms": {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
                       "p99": percentile(latencies, 99), "max": max(latencies) if latencies else None},
        "clusters": clusters,
    }


def split_phases(samples, marks, end):
    """[(phase, start, end, samples)] for each mark; a sample belongs to the phase in which it was sent."""
    out = []
    for i, (phase, start) in enumerate(marks):
        stop = marks[i + 1][1] if i + 1 < len(marks) else end
        out.append((phase, start, stop, [s for s in samples if start <= s["t"] < stop]))
    return out


def phase_report(samples, marks, end, expected=(200,)):
    """{'phases': [per-phase figures with name/start/end/seconds], 'overall': figures} for one drill."""
    phases = []
    for name, start, stop, chunk in split_phases(samples, marks, end):
        figures = summarize(chunk, expected)
        figures.update({"name": name, "start": round(start, 3), "end": round(stop, 3),
                        "seconds": round(stop - start, 3)})
        phases.append(figures)
    first = marks[0][1] if marks else 0.0
    overall = summarize([s for s in samples if first <= s["t"] < end], expected)
    overall.update({"start": round(first, 3), "end": round(end, 3), "seconds": round(end - first, 3)})
    return {"phases": phases, "overall": overall}


def check_thresholds(overall, min_success_ratio=None, max_recovery_seconds=None):
    """Threshold violations as readable sentences (empty list: passed)."""
    problems = []
    ratio = overall.get("success_ratio")
    if min_success_ratio is not None and (ratio is None or ratio < min_success_ratio):
        problems.append("success ratio %s is below min_success_ratio %s (%d of %d requests failed)"
                        % ("n/a" if ratio is None else "%.4f" % ratio, min_success_ratio,
                           overall.get("failures", 0), overall.get("requests", 0)))
    if max_recovery_seconds is not None and overall.get("failures"):
        rec = overall.get("recovery_seconds")
        if rec is None:
            problems.append("the target did not recover: the last request failed (max_recovery_seconds %s)"
                            % max_recovery_seconds)
        elif rec > max_recovery_seconds:
            problems.append("time to recover %.2fs exceeds max_recovery_seconds %s" % (rec, max_recovery_seconds))
    return problems


def attribution_problems(overall, cluster_header):
    """Asked which cluster answered (a cluster header) and no answer said so: nothing shows where traffic went, so
    the check must not pass as if it did (a misspelt header once let a drill pass that proved no failover)."""
    if not cluster_header or not overall.get("successes") or sum((overall.get("clusters") or {}).values()):
        return []
    return ["none of the %d successful answers carried header %s, so which cluster answered is not shown: set "
            "cluster_header (verify_cluster_header) to the header the backend sets, or leave it empty to not ask"
            % (overall["successes"], cluster_header)]


def describe(figures):
    """One line for humans: requests, ratio, codes, latency, clusters."""
    lat = figures.get("latency_ms") or {}
    parts = ["%d requests" % figures.get("requests", 0)]
    if figures.get("success_ratio") is not None:
        parts.append("%.2f%% ok" % (figures["success_ratio"] * 100))
    parts.append("codes " + ", ".join("%s=%d" % kv for kv in sorted(figures.get("status_codes", {}).items())))
    if lat.get("p50") is not None:
        parts.append("p50/p95/p99 %s/%s/%s ms" % (lat["p50"], lat["p95"], lat["p99"]))
    if figures.get("failures"):
        rec = figures.get("recovery_seconds")
        parts.append("first failure at %.2fs, %s" % (
            figures["first_failure"], "recovered after %.2fs" % rec if rec is not None else "not recovered"))
    if figures.get("clusters"):
        parts.append("answered by " + ", ".join("%s=%d" % kv for kv in sorted(figures["clusters"].items())))
    return "; ".join(parts)
