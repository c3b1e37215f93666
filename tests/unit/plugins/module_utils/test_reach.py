"""The preflight's API-server probe against loopback sockets: one that never answers, one that refuses, and an HTTP
server that answers 401 (an answer is enough)."""

import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import yaml

from ansible_collections.ambientmesh.multicluster.plugins.module_utils import reach


def kubeconfig(tmp_path, servers):
    config = {"apiVersion": "v1", "kind": "Config", "current-context": next(iter(servers)),
              "clusters": [{"name": n, "cluster": {"server": s, "insecure-skip-tls-verify": True}}
                           for n, s in servers.items()],
              "users": [{"name": "u", "user": {"token": "secret-token"}}],
              "contexts": [{"name": n, "context": {"cluster": n, "user": "u"}} for n in servers]}
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return [str(path)]


def cluster(host, paths, server):
    return {"host": host, "context": host, "server": server, "kubeconfig": paths}


class Unauthorized(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.send_response(401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_stalled_and_a_refusing_server_are_named_and_one_that_answers_401_is_not(tmp_path):
    stalled = socket.socket()
    stalled.bind(("127.0.0.1", 0))
    stalled.listen(4)
    refusing = socket.socket()
    refusing.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
    answering = HTTPServer(("127.0.0.1", 0), Unauthorized)
    threading.Thread(target=answering.serve_forever, daemon=True).start()
    servers = {"c1": "http://127.0.0.1:%d" % answering.server_address[1],
               "c2": "http://127.0.0.1:%d" % stalled.getsockname()[1],
               "c3": "http://127.0.0.1:%d" % refusing.getsockname()[1]}
    paths = kubeconfig(tmp_path, servers)
    try:
        got = reach.problems([cluster(n, paths, s) for n, s in servers.items()], timeout=1.5)
    finally:
        answering.shutdown()
        stalled.close()
        refusing.close()
    assert len(got) == 2, got
    assert got[0].startswith("c2: the API server %s (context c2) did not answer within 1.5 s (after " % servers["c2"])
    assert got[0].endswith("check that it is up and that this controller reaches it, or raise mesh_api_timeout for "
                           "a slow one")
    assert got[1].startswith("c3: the API server %s (context c3) cannot be reached (" % servers["c3"])
    assert "Connection refused" in got[1] and "object at 0x" not in got[1]
    assert "secret-token" not in " ".join(got)


def test_clusters_without_a_kubeconfig_are_not_asked():
    assert reach.problems([{"host": "c1", "context": None, "server": None, "kubeconfig": None}]) == []


def test_a_kubeconfig_the_client_cannot_use_is_named(tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    got = reach.problems([cluster("c1", [str(path)], "https://x")], timeout=1)
    assert len(got) == 1 and got[0].startswith("c1: the API server https://x (context c1) cannot be used: "), got


class EastwestServices(BaseHTTPRequestHandler):
    """Solo's east-west Service with an address; upstream's absent (404); anything else forbidden."""
    def do_GET(self):  # noqa: N802
        import json
        if self.path.startswith("/api/v1/namespaces/istio-gateways/services/istio-eastwest"):
            code, body = 200, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "istio-eastwest"},
                               "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.9"}]}}}
        elif self.path.startswith("/api/v1/namespaces/istio-system/services/istio-eastwestgateway"):
            code, body = 404, {"kind": "Status", "code": 404}
        else:
            code, body = 403, {"kind": "Status", "code": 403}
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_eastwest_addresses_are_read_once_per_cluster_from_the_distributions_service(tmp_path):
    server = HTTPServer(("127.0.0.1", 0), EastwestServices)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = "http://127.0.0.1:%d" % server.server_port
        paths = kubeconfig(tmp_path, {"a": url})
        clusters = [dict(cluster("solo", paths, url), context="a", distribution="solo", eastwest_address=None),
                    dict(cluster("upstream", paths, url), context="a", distribution="upstream", eastwest_address=None),
                    dict(cluster("given", paths, url), context="a", distribution="solo",
                         eastwest_address="ew.example.test", eastwest_address_type="Hostname")]
        assert reach.eastwest(clusters, timeout=5) == []
        assert [(c["eastwest_address"], c.get("eastwest_address_type")) for c in clusters] == [
            ("192.0.2.9", "IPAddress"), (None, None), ("ew.example.test", "Hostname")]
    finally:
        server.shutdown()
