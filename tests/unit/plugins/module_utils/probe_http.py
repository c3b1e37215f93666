"""A loopback HTTP server for the probe, report, mTLS and client tests (real sockets, a thread per request)."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Server:
    """GET answers from `answer(now, handler)` -> (status, headers dict, body bytes[, delay seconds])."""

    def __init__(self, answer):
        self.hits = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                with outer.lock:
                    outer.hits += 1
                status, headers, body, *delay = answer(time.monotonic(), self)
                if delay and delay[0]:
                    time.sleep(delay[0])
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d/productpage" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def from_cluster(status, cluster=None, delay=0, header="x-ambientmesh-cluster"):
    """An answer naming the cluster that served it, as the lab's stand-in productpage does."""
    return status, {header: cluster} if cluster else {}, b"ok" if status == 200 else b"unavailable", delay
