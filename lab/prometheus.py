"""A real Prometheus for the mTLS and peer-sync tests: built from its Go module into the cache, run on 127.0.0.1,
scraping a small fixture exporter that serves `istio_requests_total` and `istio_tcp_connections_opened_total` series
the way ztunnel and waypoints label them, and any real process the test points it at (the lab's istiods).

    python -m lab.prometheus build      build (or find) ~/.cache/ambientmesh/prometheus-<version>/prometheus
    python -m lab.prometheus demo       run it with the fixture exporter until Ctrl-C (inside the lab namespace)
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from lab import build, netns, pins

MODULE = "github.com/prometheus/prometheus"
PACKAGE = MODULE + "/cmd/prometheus"


def binary_dir():
    return build.cache_root() / ("prometheus-" + pins.PROMETHEUS)


def find():
    path = binary_dir() / "prometheus"
    return path if path.is_file() and os.access(path, os.X_OK) else None


def build_prometheus(force=False):
    """go build cmd/prometheus at the pinned module version. `remove_all_sd` leaves out the cloud service
    discoveries (static and file configs remain), which halves the dependencies; the web UI assets are not
    embedded (no `builtinassets`): the HTTP API is all the tests use."""
    out = binary_dir()
    if find() and not force:
        return out / "prometheus"
    out.mkdir(parents=True, exist_ok=True)
    env = build._go_env()
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="prometheus-") as work:
        build._run(["go", "mod", "init", "example.invalid/prometheus"], cwd=work, env=env)
        build._run(["go", "get", PACKAGE + "@" + pins.PROMETHEUS], cwd=work, env=env)
        # The Go module is v0.3xx.y; the Prometheus release it carries is in its VERSION file (3.xx.y).
        info = subprocess.run(["go", "list", "-m", "-json", MODULE], cwd=work, env=env, capture_output=True,
                              text=True, check=True)
        version = (Path(json.loads(info.stdout)["Dir"]) / "VERSION").read_text().strip()
        ldflags = "-s -w -X github.com/prometheus/common/version.Version=" + version
        build._run(["go", "build", "-trimpath", "-tags", "remove_all_sd", "-ldflags", ldflags,
                    "-o", str(out / "prometheus"), PACKAGE], cwd=work, env=env)
    print("built prometheus %s (module %s) in %.0fs" % (version, pins.PROMETHEUS, time.monotonic() - start))
    return out / "prometheus"


class FixtureExporter:
    """Serves /metrics with counters that grow on every scrape, so `increase()` sees traffic.

    series: list of (labels dict, increment per scrape[, metric name, istio_requests_total when left out])."""

    def __init__(self, series):
        self.series = [(dict(entry[0]), entry[1], entry[2] if len(entry) > 2 else "istio_requests_total")
                       for entry in series]
        self.values = [0.0] * len(self.series)
        self.scrapes = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                body = outer.render().encode()
                self.send_response(200 if self.path == "/metrics" else 404)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = "127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def render(self):
        with self.lock:
            self.scrapes += 1
            lines = []
            for i in range(len(self.series)):
                self.values[i] += self.series[i][1]
            # the text format wants each metric family in one block, under its TYPE line
            for metric in sorted(set(entry[2] for entry in self.series)):
                lines.append("# TYPE %s counter" % metric)
                for i, (labels, _step, name) in enumerate(self.series):
                    if name == metric:
                        text = ",".join('%s="%s"' % (k, v.replace("\\", "\\\\").replace('"', '\\"'))
                                        for k, v in sorted(labels.items()))
                        lines.append("%s{%s} %g" % (metric, text, self.values[i]))
            return "\n".join(lines) + "\n"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Prometheus:
    """One Prometheus process on 127.0.0.1 scraping `targets` every second; stopped by PID."""

    def __init__(self, workdir, targets, port=None):
        netns.require_isolated()
        self.dir = Path(workdir)
        self.targets = list(targets)
        self.port = port or _free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.proc = None

    def start(self, timeout=60):
        binary = find()
        if binary is None:
            raise RuntimeError("prometheus is not built; run `python -m lab.prometheus build`")
        self.dir.mkdir(parents=True, exist_ok=True)
        config = self.dir / "prometheus.yml"
        self.discover([])
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            "  - job_name: fixture\n"
            "    static_configs:\n"
            "      - targets: [%s]\n"
            # what discover() writes: real processes (istiod) whose addresses change when their pod is replaced
            "  - job_name: discovered\n"
            "    file_sd_configs:\n"
            "      - files: [%s]\n" % (", ".join('"%s"' % t for t in self.targets), json.dumps(str(self.sd_file))))
        log = open(self.dir / "prometheus.log", "ab")
        self.proc = subprocess.Popen(
            [str(binary), "--config.file=%s" % config, "--storage.tsdb.path=%s" % (self.dir / "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port, "--log.level=warn"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("prometheus exited (%s); see %s" % (self.proc.returncode, self.dir / "prometheus.log"))
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError("prometheus not ready after %ss; see %s" % (timeout, self.dir / "prometheus.log"))

    @property
    def sd_file(self):
        return self.dir / "discovered.json"

    def discover(self, groups):
        """Scrape these [(address, {label: value})] from now on (file discovery sees the rename at once)."""
        tmp = self.sd_file.with_suffix(".tmp")
        tmp.write_text(json.dumps([{"targets": [address], "labels": labels} for address, labels in groups]))
        tmp.replace(self.sd_file)

    def wait_scrapes(self, count=2, timeout=30):
        """Until every target was scraped `count` times (so increase() has two samples)."""
        deadline = time.monotonic() + timeout
        query = "count_over_time(up[1m])"
        while time.monotonic() < deadline:
            with urllib.request.urlopen(self.url + "/api/v1/query?query=" + urllib.parse.quote(query),
                                        timeout=5) as r:
                result = json.loads(r.read())["data"]["result"]
            if len(result) >= len(self.targets) and all(float(x["value"][1]) >= count for x in result):
                return
            time.sleep(0.5)
        raise RuntimeError("targets not scraped %d times within %ss" % (count, timeout))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv):
    if argv[:1] == ["build"]:
        print(build_prometheus(force="--force" in argv))
        return 0
    if argv[:1] == ["demo"]:
        exporter = FixtureExporter([({"reporter": "destination", "destination_workload_namespace": "bookinfo",
                                      "connection_security_policy": "mutual_tls",
                                      "source_principal": "spiffe://cluster.local/ns/gloo-system/sa/gloo-proxy-http",
                                      "destination_principal": "spiffe://cluster.local/ns/bookinfo/sa/bookinfo-productpage"},
                                     5)]).start()
        prom = Prometheus(tempfile.mkdtemp(prefix="prometheus-demo-"), [exporter.address]).start()
        print("prometheus at %s scraping %s; Ctrl-C stops" % (prom.url, exporter.address), flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
        finally:
            prom.stop()
            exporter.stop()
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
