"""The lab controller: what no real component here can do for the guide, done over the lab's real API servers,
with a real Envoy as the ingress data plane. The real istiod (run by lab.agent) does istiod's share for the
upstream distribution; this keeps only

- Solo-only behaviour: `istio-eastwest` Gateways get their LoadBalancer Service (lab.agent gives it an address)
  and are Programmed once it has one; global services (`solo.io/service-scope=global`) are published as
  `autogen.<ns>.<svc>` ServiceEntries for `<svc>.<ns>.mesh.internal` in istio-system, from the local cluster
  and the peers this cluster is linked to (an `istio-remote` Gateway for the peer's network, or an upstream
  remote secret for the peer);
- Gloo Gateway / kgateway's controller: Gloo Gateways are accepted and HTTPRoutes get their status
  (ResolvedRefs false, as the real controllers say, when a Hostname backend is not a ServiceEntry host, a
  Service backend is unknown, or one in another namespace has no ReferenceGrant), and Envoy is programmed
  through file-based xDS (atomic rename): the first Gloo `http` Gateway becomes a listener on 127.0.0.1:8080,
  each Hostname or Service backend an EDS cluster with one locality per cluster, the ingress's own cluster at
  priority 0 and peers at priority 1, present only while that cluster has Ready endpoints;
- the per-cluster productpage backends: small HTTP servers stand in for each cluster's copy of each global
  service (kwok runs no containers) and say which cluster answered.
It proves the automation, not Istio's data plane.
"""

import argparse
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

from lab.api import Api, run_loop

FIELD_MANAGER = "lab-controller"
EW_CLASS = "istio-eastwest"  # Solo's peering class; upstream's istio-east-west is the real istiod's
INGRESS_CLASSES = {"gloo-gateway", "kgateway", "gloo-gateway-v2"}
GLOBAL_LABEL = "solo.io/service-scope"
UPSTREAM_GLOBAL_LABEL = "istio.io/global"
CLUSTER_HEADER = "x-ambientmesh-cluster"
GW = "/apis/gateway.networking.k8s.io/v1"
GW_BETA = "/apis/gateway.networking.k8s.io/v1beta1"  # ReferenceGrant
ISTIO = "/apis/networking.istio.io/v1"


class Backends:
    """One stand-in HTTP server per (cluster, global host): 200 while that cluster has Ready endpoints, else 503."""

    def __init__(self):
        self.servers = {}
        self.ready = {}

    def port(self, cluster, host):
        key = (cluster, host)
        if key not in self.servers:
            self.ready[key] = False
            backends = self

            class Handler(BaseHTTPRequestHandler):
                protocol_version = "HTTP/1.1"

                def do_GET(self):  # noqa: N802 - http.server naming
                    ok = self.path == "/healthz" or backends.ready.get(key, False)
                    body = ("<html><body><h1>%s</h1><p>served by %s</p></body></html>\n" % (host, cluster)
                            if ok else "no healthy upstream in %s\n" % cluster).encode()
                    self.send_response(200 if ok else 503)
                    self.send_header(CLUSTER_HEADER, cluster)
                    self.send_header("content-type", "text/html; charset=utf-8")
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

                do_HEAD = do_GET

                def log_message(self, *args):
                    pass

            server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self.servers[key] = server
        return self.servers[key].server_address[1]


class Controller:
    def __init__(self, lab_dir, ingress_port=8080, admin_port=None, interval=0.5):
        from lab.cluster import Lab

        self.lab = Lab(lab_dir)
        self.clusters = [c["name"] for c in self.lab.clusters()]
        self.index = {c["name"]: c["index"] for c in self.lab.clusters()}
        self.apis = {c["name"]: Api(c) for c in self.lab.clusters()}
        self.ingress_port = ingress_port
        self.interval = interval
        self.xds = self.lab.dir / "envoy" / "xds"
        self.backends = Backends()
        self.written = {}
        self.stop = threading.Event()

    # ---- per-cluster facts -------------------------------------------------------------------------------
    def network_of(self, c):
        ns = self.apis[c].get("/api/v1/namespaces/istio-system") or {}
        return ((ns.get("metadata") or {}).get("labels") or {}).get("topology.istio.io/network")

    def peers_of(self, c, networks):
        """Clusters c is linked to: an istio-remote Gateway for their network, or a remote secret naming them."""
        api = self.apis[c]
        linked = set()
        for gw in api.items(GW + "/gateways"):
            if gw["spec"].get("gatewayClassName") == "istio-remote":
                net = (gw["metadata"].get("labels") or {}).get("topology.istio.io/network")
                linked |= {p for p, n in networks.items() if n and n == net and p != c}
        for secret in api.items("/api/v1/namespaces/istio-system/secrets", "istio/multiCluster=true"):
            peer = (secret["metadata"].get("annotations") or {}).get("networking.istio.io/cluster")
            if peer in self.apis and peer != c:
                linked.add(peer)
        return linked

    def global_services(self, c):
        """{(ns, svc): {'host', 'port', 'ready'}} for services marked global in cluster c."""
        api = self.apis[c]
        result = {}
        selectors = ["%s in (global,global-only)" % GLOBAL_LABEL, UPSTREAM_GLOBAL_LABEL + "=true"]
        for selector in selectors:
            for svc in api.items("/api/v1/services", selector):
                ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
                solo = GLOBAL_LABEL in (svc["metadata"].get("labels") or {})
                host = "%s.%s.%s" % (name, ns, "mesh.internal" if solo else "svc.cluster.local")
                ports = svc["spec"].get("ports") or [{"port": 80}]
                slices = api.items("/apis/discovery.k8s.io/v1/namespaces/%s/endpointslices" % ns,
                                   "kubernetes.io/service-name=" + name)
                ready = sum(1 for s in slices for ep in (s.get("endpoints") or [])
                            if (ep.get("conditions") or {}).get("ready"))
                result[(ns, name)] = {"host": host, "ports": ports, "ready": ready, "solo": solo}
        return result

    # ---- istiod's share ----------------------------------------------------------------------------------
    def reconcile_eastwest(self, c):
        """Solo's istio-eastwest Gateways get their LoadBalancer Service (the lab agent gives it an address) and
        are Programmed once it has one. Upstream's istio-east-west class is left to the real istiod."""
        api = self.apis[c]
        for gw in api.items(GW + "/gateways"):
            if gw["spec"].get("gatewayClassName") != EW_CLASS:
                continue
            ns, name = gw["metadata"]["namespace"], gw["metadata"]["name"]
            labels = dict((k, v) for k, v in (gw["metadata"].get("labels") or {}).items()
                          if k.startswith(("istio.io/", "topology.istio.io/")))
            # owned by its Gateway, as istiod's own gateway Services are: the API server's GC deletes it with it
            owner = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "name": name,
                     "uid": gw["metadata"]["uid"]}
            svc = {"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": name, "namespace": ns, "labels": labels, "ownerReferences": [owner]},
                   "spec": {"type": "LoadBalancer",
                            "selector": {"gateway.networking.k8s.io/gateway-name": name},
                            "ports": [{"name": "l-%d" % ln["port"], "port": ln["port"], "protocol": "TCP"}
                                      for ln in gw["spec"].get("listeners", [])]}}
            path = "/api/v1/namespaces/%s/services/%s" % (ns, name)
            current = api.get(path)
            # what we wrote may have been deleted since (a teardown): write it again then, cache or not
            if current is None or self.written.get((c, path)) != svc:
                api.apply(path, svc, FIELD_MANAGER)
                self.written[(c, path)] = svc
                current = api.get(path)
            ingress = ((current or {}).get("status") or {}).get("loadBalancer", {}).get("ingress") or []
            if ingress:
                self.set_gateway_status(c, gw, ingress[0].get("ip") or ingress[0]["hostname"], "solo.io/eastwest")

    def set_gateway_status(self, c, gw, address, controller):
        ns, name = gw["metadata"]["namespace"], gw["metadata"]["name"]
        gen = gw["metadata"].get("generation", 1)
        now = "2000-01-01T00:00:00Z"  # constant: status must not churn on every tick
        conds = [{"type": t, "status": "True", "reason": t, "message": "lab controller (%s)" % controller,
                  "observedGeneration": gen, "lastTransitionTime": now} for t in ("Accepted", "Programmed")]
        status = {"addresses": [{"type": "IPAddress", "value": address}], "conditions": conds}
        if (gw.get("status") or {}).get("conditions") == conds and gw["status"].get("addresses") == status["addresses"]:
            return
        self.apis[c].apply("%s/namespaces/%s/gateways/%s/status" % (GW, ns, name),
                           {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                            "metadata": {"name": name, "namespace": ns}, "status": status}, FIELD_MANAGER)

    def reconcile_service_entries(self, c, known):
        """ServiceEntries for every Solo global host known here (local or from linked peers); prune the rest."""
        api = self.apis[c]
        if api.get("/api/v1/namespaces/istio-system") is None:
            return
        wanted = {}
        for (ns, name), info in known.items():
            if not info["solo"]:
                continue
            se_name = "autogen.%s.%s" % (ns, name)
            wanted[se_name] = {
                "apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
                "metadata": {"name": se_name, "namespace": "istio-system",
                             "labels": {"solo.io/parent-service": name, "solo.io/parent-service-namespace": ns,
                                        "app.kubernetes.io/managed-by": FIELD_MANAGER}},
                "spec": {"hosts": [info["host"]], "location": "MESH_INTERNAL", "resolution": "STATIC",
                         "ports": [{"number": p["port"], "name": p.get("name") or "http-%d" % p["port"],
                                    "protocol": "HTTP"} for p in info["ports"]]}}
        existing = {se["metadata"]["name"] for se in api.items(ISTIO + "/namespaces/istio-system/serviceentries",
                                                               "app.kubernetes.io/managed-by=" + FIELD_MANAGER)}
        for se_name, obj in wanted.items():
            if self.written.get((c, se_name)) != obj:
                api.apply("%s/namespaces/istio-system/serviceentries/%s" % (ISTIO, se_name), obj, FIELD_MANAGER)
                self.written[(c, se_name)] = obj
        for se_name in existing - set(wanted):
            api.delete("%s/namespaces/istio-system/serviceentries/%s" % (ISTIO, se_name))
            self.written.pop((c, se_name), None)

    # ---- Gloo Gateway's share ----------------------------------------------------------------------------
    def granted(self, c, route_ns, ref):
        """Whether a ReferenceGrant in the Service's namespace lets HTTPRoutes of route_ns refer to it."""
        for grant in self.apis[c].items("%s/namespaces/%s/referencegrants" % (GW_BETA, ref["namespace"])):
            spec = grant.get("spec") or {}
            if any(f.get("kind") == "HTTPRoute" and f.get("namespace") == route_ns for f in spec.get("from") or []) \
                    and any(t.get("kind") == "Service" and t.get("name") in (None, ref["name"]) for t in spec.get("to") or []):
                return True
        return False

    def unresolved(self, c, route, hosts, services):
        """(reason, [refs]) of the backendRefs the gateway cannot resolve, as kgateway and Gloo do: a Hostname only
        names a ServiceEntry host (Solo's *.mesh.internal; a plain Service FQDN is not one), a Service must exist
        (here: a global one, the only kind with stand-in backends) and, in another namespace, be granted."""
        ns = route["metadata"]["namespace"]
        unknown, denied = [], []
        for rule in route["spec"].get("rules") or []:
            for b in rule.get("backendRefs") or []:
                if b.get("kind") == "Hostname":
                    if b["name"] not in hosts:
                        unknown.append(b["name"])
                elif b.get("kind", "Service") == "Service" and b.get("group", "") == "":
                    ref = {"name": b["name"], "namespace": b.get("namespace") or ns}
                    if (ref["namespace"], ref["name"]) not in services:
                        unknown.append("%s/%s" % (ref["namespace"], ref["name"]))
                    elif ref["namespace"] != ns and not self.granted(c, ns, ref):
                        denied.append("%s/%s" % (ref["namespace"], ref["name"]))
        if unknown:
            return "BackendNotFound", "unknown backend(s): " + ", ".join(unknown)
        if denied:
            return "RefNotPermitted", "no ReferenceGrant for: " + ", ".join(denied)
        return None, None

    def reconcile_routes(self, c, hosts, services):
        """Accept Gloo Gateways, set HTTPRoute parent status; return [(route, gateway)] attached to Gloo Gateways."""
        api = self.apis[c]
        gloo = {}
        for gw in api.items(GW + "/gateways"):
            if gw["spec"].get("gatewayClassName") in INGRESS_CLASSES:
                gloo[(gw["metadata"]["namespace"], gw["metadata"]["name"])] = gw
                self.set_gateway_status(c, gw, "127.0.0.1", "solo.io/gloo-gateway")
        attached = []
        for route in api.items(GW + "/httproutes"):
            ns, name = route["metadata"]["namespace"], route["metadata"]["name"]
            parents = []
            for ref in route["spec"].get("parentRefs") or []:
                key = (ref.get("namespace") or ns, ref["name"])
                if key not in gloo:
                    continue
                attached.append((route, gloo[key]))
                reason, message = self.unresolved(c, route, hosts, services)
                resolved = {"type": "ResolvedRefs", "status": "False" if reason else "True",
                            "reason": reason or "ResolvedRefs", "message": message or "all refs resolved",
                            "observedGeneration": route["metadata"].get("generation", 1),
                            "lastTransitionTime": "2000-01-01T00:00:00Z"}
                accepted = dict(resolved, type="Accepted", status="True", reason="Accepted", message="lab controller")
                parents.append({"parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                              "name": key[1], "namespace": key[0]},
                                "controllerName": "solo.io/gloo-gateway", "conditions": [accepted, resolved]})
            if parents and (route.get("status") or {}).get("parents") != parents:
                api.apply("%s/namespaces/%s/httproutes/%s/status" % (GW, ns, name),
                          {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                           "metadata": {"name": name, "namespace": ns}, "status": {"parents": parents}}, FIELD_MANAGER)
        return attached

    # ---- Envoy -------------------------------------------------------------------------------------------
    def envoy_config(self, ingress, routes, services, peers):
        """(lds, cds, eds) DiscoveryResponses for the ingress cluster's first Gloo Gateway."""
        vhost_routes, clusters, assignments = [], [], []
        for route, _gw in routes:
            for rule in route["spec"].get("rules") or []:
                # a Service backend is served by the stand-ins of its upstream global host
                backends = [dict(b, name=b["name"] if b.get("kind") == "Hostname" else "%s.%s.svc.cluster.local" % (
                    b["name"], b.get("namespace") or route["metadata"]["namespace"]))
                    for b in rule.get("backendRefs") or [] if b.get("kind", "Service") in ("Hostname", "Service")]
                if not backends:
                    continue
                weighted = []
                for b in backends:
                    cname = "%s_%s" % (b["name"], b.get("port", 80))
                    weighted.append({"name": cname, "weight": b.get("weight", 1) or 1})
                    if any(c["name"] == cname for c in clusters):
                        continue
                    clusters.append({
                        "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster", "name": cname, "type": "EDS",
                        "connect_timeout": "0.5s",
                        "eds_cluster_config": {"service_name": cname, "eds_config": {
                            "resource_api_version": "V3",
                            "path_config_source": {"path": str(self.xds / "eds.yaml"),
                                                   "watched_directory": {"path": str(self.xds)}}}},
                        "common_lb_config": {"healthy_panic_threshold": {"value": 0}},
                        "outlier_detection": {"consecutive_5xx": 1, "interval": "0.5s", "base_ejection_time": "2s",
                                              "max_ejection_percent": 100}})
                    localities = []
                    for c in [ingress] + sorted(peers):
                        info = services.get(c, {}).get(b["name"])
                        if not info or not info["ready"]:
                            continue
                        port = self.backends.port(c, b["name"])
                        localities.append({"locality": {"region": "lab", "zone": c},
                                           "priority": 0 if c == ingress else 1,
                                           "lb_endpoints": [{"endpoint": {"address": {"socket_address": {
                                               "address": "127.0.0.1", "port_value": port}}}}]})
                    # Envoy wants priorities without gaps: lone peers move up to priority 0.
                    if localities and all(loc["priority"] == 1 for loc in localities):
                        for loc in localities:
                            loc["priority"] = 0
                    assignments.append({
                        "@type": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
                        "cluster_name": cname, "endpoints": localities,
                        "policy": {"overprovisioning_factor": 100}})
                matches = rule.get("matches") or [{"path": {"type": "PathPrefix", "value": "/"}}]
                for m in matches:
                    path = m.get("path") or {"type": "PathPrefix", "value": "/"}
                    match = ({"path": path["value"]} if path["type"] == "Exact"
                             else {"safe_regex": {"regex": path["value"]}} if path["type"] == "RegularExpression"
                             else {"path_separated_prefix": path["value"].rstrip("/")} if path["value"] != "/"
                             else {"prefix": "/"})
                    action = {"weighted_clusters": {"clusters": weighted}} if len(weighted) > 1 else \
                        {"cluster": weighted[0]["name"]}
                    action["retry_policy"] = {
                        "retry_on": "connect-failure,refused-stream,reset,5xx", "num_retries": 2,
                        "retry_priority": {"name": "envoy.retry_priorities.previous_priorities", "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3."
                                     "PreviousPrioritiesConfig", "update_frequency": 1}}}
                    action["timeout"] = "5s"
                    vhost_routes.append({"match": match, "route": action})
        listener = {
            "@type": "type.googleapis.com/envoy.config.listener.v3.Listener", "name": "http",
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": self.ingress_port}},
            "filter_chains": [{"filters": [{
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
                             "HttpConnectionManager",
                    "stat_prefix": "ingress_http",
                    "route_config": {"name": "http", "virtual_hosts": [
                        {"name": "all", "domains": ["*"], "routes": vhost_routes}]},
                    "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]}}]}]}
        return ([listener], clusters, assignments)

    def write_xds(self, name, resources):
        doc = {"version_info": str(abs(hash(json.dumps(resources, sort_keys=True)))), "resources": resources}
        if self.written.get(("xds", name)) == doc:
            return False
        tmp = self.xds / (".%s.tmp" % name)
        tmp.write_text(yaml.safe_dump(doc))
        os.replace(tmp, self.xds / ("%s.yaml" % name))  # Envoy only reloads on a move into the watched dir
        self.written[("xds", name)] = doc
        return True

    def bootstrap(self, admin_port):
        self.xds.mkdir(parents=True, exist_ok=True)
        for name in ("lds", "cds", "eds"):
            if not (self.xds / ("%s.yaml" % name)).exists():
                self.write_xds(name, [])
        boot = {
            "node": {"id": "lab-ingress", "cluster": "lab"},
            "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
            "dynamic_resources": {
                "cds_config": {"resource_api_version": "V3", "path_config_source": {
                    "path": str(self.xds / "cds.yaml"), "watched_directory": {"path": str(self.xds)}}},
                "lds_config": {"resource_api_version": "V3", "path_config_source": {
                    "path": str(self.xds / "lds.yaml"), "watched_directory": {"path": str(self.xds)}}}}}
        path = self.xds.parent / "bootstrap.yaml"
        path.write_text(yaml.safe_dump(boot))
        return path

    # ---- loop --------------------------------------------------------------------------------------------
    def tick(self):
        networks = {c: self.network_of(c) for c in self.clusters}
        local = {c: self.global_services(c) for c in self.clusters}
        peers = {c: self.peers_of(c, networks) for c in self.clusters}
        services_by_host = {c: dict((info["host"], info) for info in local[c].values()) for c in self.clusters}
        for (c, host), _server in list(self.backends.servers.items()):
            info = services_by_host.get(c, {}).get(host)
            self.backends.ready[(c, host)] = bool(info and info["ready"])
        ingress_done = False
        for c in self.clusters:
            self.reconcile_eastwest(c)
            known = dict(local[c])
            for p in peers[c]:
                for key, info in local[p].items():
                    known.setdefault(key, info)
            self.reconcile_service_entries(c, known)
            hosts = {info["host"] for info in known.values() if info["solo"]}
            routes = self.reconcile_routes(c, hosts, {key for key, info in known.items() if not info["solo"]})
            if routes and not ingress_done:
                lds, cds, eds = self.envoy_config(c, routes, services_by_host, peers[c])
                for c2, host in [(c2, h) for c2 in [c] + sorted(peers[c]) for h in services_by_host[c2]]:
                    self.backends.ready[(c2, host)] = bool(services_by_host[c2][host]["ready"])
                # Order matters for Envoy: endpoints and clusters before the listener that uses them.
                self.write_xds("eds", eds)
                self.write_xds("cds", cds)
                self.write_xds("lds", lds)
                ingress_done = True
        if not ingress_done:
            self.write_xds("lds", [])

    def run(self):
        run_loop("lab controller", self.tick, self.stop, self.interval)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lab.controller")
    parser.add_argument("--dir", required=True)
    parser.add_argument("--ingress-port", type=int, default=8080)
    parser.add_argument("--admin-port", type=int, default=19000)
    parser.add_argument("--bootstrap-only", action="store_true")
    args = parser.parse_args(argv)
    ctl = Controller(args.dir, args.ingress_port)
    path = ctl.bootstrap(args.admin_port)
    if args.bootstrap_only:
        print(path)
        return 0
    signal.signal(signal.SIGTERM, lambda *a: ctl.stop.set())
    print("lab controller watching %s" % ", ".join(ctl.clusters), flush=True)
    ctl.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
