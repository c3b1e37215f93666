"""A small JSON REST client for one lab cluster, shared by the lab's controller and agent (the lab runs
with nothing but the standard library and PyYAML, so neither pulls in a Kubernetes client)."""

import http.client
import json
import ssl
import sys
import urllib.parse
from pathlib import Path


class Api:
    """Minimal JSON REST client for one lab cluster: one kept-alive TLS connection with the lab admin cert."""

    def __init__(self, spec):
        pki = Path(spec["dir"]) / "pki"
        self.ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self.ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        self.port = spec["ports"]["apiserver"]
        self.conn = None

    def _call(self, method, path, body=None, content_type=None, query=None):
        if query:
            path += "?" + urllib.parse.urlencode(query)
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type or "application/json"
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=10)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                payload = resp.read()
                break
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        if resp.status == 404:
            return None
        if resp.status >= 400:
            raise RuntimeError("%s %s: %s %s" % (method, path, resp.status, payload[:300]))
        return json.loads(payload) if payload else None

    def get(self, path):
        return self._call("GET", path)

    def items(self, path, selector=None):
        data = self._call("GET", path, query={"labelSelector": selector} if selector else None)
        return (data or {}).get("items") or []

    def apply(self, path, obj, manager):
        return self._call("PATCH", path, body=obj, content_type="application/apply-patch+yaml",
                          query={"fieldManager": manager, "force": "true"})

    def merge(self, path, patch):
        return self._call("PATCH", path, body=patch, content_type="application/merge-patch+json")

    def create(self, path, obj):
        return self._call("POST", path, body=obj)

    def delete(self, path):
        self._call("DELETE", path)


def run_loop(name, tick, stop, interval):
    """Call tick() every `interval` seconds until `stop` is set; a failing tick (an API server restarting, say)
    is reported on the 1st, 10th and 100th failure in a row and the loop goes on."""
    errors = 0
    while not stop.is_set():
        try:
            tick()
            errors = 0
        except Exception as e:  # noqa: BLE001 - keep going, say so
            errors += 1
            if errors in (1, 10, 100):
                print("%s: tick failed (%d): %s" % (name, errors, e), file=sys.stderr, flush=True)
        stop.wait(interval)
