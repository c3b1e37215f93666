"""The lab agent: what a kubelet and a cloud load balancer do, for the parts of a cluster that kwok cannot fake.

- **Load balancers.** Every `type: LoadBalancer` Service in any lab cluster, whoever made it, gets an address
  from one TEST-NET pool shared by all clusters (as MetalLB would), so no two clusters' gateways collide.
- **A real istiod.** kwok plays kubelet for every pod except those labelled `app=istiod` (the lab's kwok
  stages skip them). For each such pod the agent runs the real `pilot-discovery` with what a kubelet gives it:
  the container's args, its env with fieldRefs/resourceFieldRefs/configMap/secret refs resolved, its secret
  and configMap volumes as files under the pod's own root (`cacerts` at `etc/cacerts`, named by
  `ROOT_CA_DIR`), a ServiceAccount token and a one-context kubeconfig for it. Each pod gets its own loopback
  address (127.10.<cluster>.<n>) for istiod's ports; the pod's status is Running at once and Ready while
  istiod's `/ready` answers 200, as its readinessProbe says. A replaced pod (rollout restart) means a new
  process; a deleted pod, a stopped one; a crashed process is restarted with a growing back-off.

The API servers' webhook calls still fail (ClusterIPs do not route in the loopback-only namespace), which the
Istio webhooks tolerate (failurePolicy Ignore until istiod has proved it can answer them itself).
Run by `python -m lab up`; its children share its process group, so `lab down` stops them with it.
"""

import argparse
import base64
import ipaddress
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import yaml

from lab import build
from lab.api import Api, run_loop

# the pods kwok's stages leave to this agent (lab.build writes the stages)
SELECTOR = "app in (%s)" % ",".join(build.AGENT_RUN_APPS)

# the container image (last path part, before the tag) -> the binary the lab runs for it
IMAGES = {"pilot": "pilot-discovery"}
# istiod listens on these; each pod's own address keeps two istiods (two clusters, or a rollout) apart
ISTIOD_ADDRESS_FLAGS = {"--httpAddr": 8080, "--grpcAddr": 15010, "--secureGRPCAddr": 15012,
                        "--httpsAddr": 15017, "--monitoringAddr": 15014}
CTRLZ_FLAG = "--ctrlz_address"
LB_POOLS = ("192.0.2.0/24", "203.0.113.0/24")  # TEST-NET-1 and TEST-NET-3 (RFC 5737); TEST-NET-2 is the nodes'
TOKEN_SECONDS = 86400
VOLUME_SYNC_SECONDS = 5  # how often a running pod's secrets and configMaps are rewritten (the kubelet: ~1 min)


def lb_pool():
    return [str(ip) for net in LB_POOLS for ip in ipaddress.ip_network(net).hosts()]


def pod_address(cluster_index, slot):
    return "127.10.%d.%d" % (cluster_index, slot)


def status_path(lab_dir):
    return Path(lab_dir) / "agent" / "pods.json"


def read_status(lab_dir):
    """{cluster: [{'pod', 'uid', 'address', 'pid', 'ready', 'restarts'}]} as the agent last wrote it."""
    path = status_path(lab_dir)
    return json.loads(path.read_text()) if path.exists() else {}


class Pod:
    """One istiod pod the agent runs: its root folder, its process and what it reported."""

    def __init__(self, cluster, obj, address, root):
        self.cluster = cluster
        self.name = obj["metadata"]["name"]
        self.namespace = obj["metadata"]["namespace"]
        self.uid = obj["metadata"]["uid"]
        self.obj = obj
        self.address = address
        self.root = root
        self.proc = None
        self.ready = None
        self.restarts = 0
        self.next_start = 0.0
        self.token_at = None  # monotonic time of the last token request
        self.synced_at = 0.0  # and of the last volume sync
        self.files = {}

    def token_due(self):
        return self.token_at is None or time.monotonic() - self.token_at > TOKEN_SECONDS / 2

    def summary(self):
        return {"pod": self.name, "namespace": self.namespace, "uid": self.uid, "address": self.address,
                "pid": self.proc.pid if self.proc else None, "ready": bool(self.ready), "restarts": self.restarts}


class Agent:
    def __init__(self, lab_dir, interval=0.5):
        from lab.cluster import Lab

        self.lab = Lab(lab_dir)
        self.specs = {c["name"]: c for c in self.lab.clusters()}
        self.apis = {name: Api(spec) for name, spec in self.specs.items()}
        self.interval = interval
        self.pods = {}  # uid -> Pod
        self.binaries = {image: build.find(binary) for image, binary in IMAGES.items()}
        self.stop = threading.Event()
        self.status_written = None

    # ---- load balancers ----------------------------------------------------------------------------------
    def assign_load_balancers(self, services):
        """Give every LoadBalancer Service without an address the first free pool address."""
        used = {ing.get("ip") for svcs in services.values() for s in svcs
                for ing in ((s.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []}
        free = (ip for ip in lb_pool() if ip not in used)
        for c, svcs in services.items():
            for s in svcs:
                spec, meta = s["spec"], s["metadata"]
                if spec.get("type") != "LoadBalancer" or spec.get("loadBalancerClass"):
                    continue
                if ((s.get("status") or {}).get("loadBalancer") or {}).get("ingress"):
                    continue
                ip = next(free, None)
                if ip is None:
                    print("lab agent: LoadBalancer pool exhausted", file=sys.stderr, flush=True)
                    return
                self.apis[c].merge("/api/v1/namespaces/%s/services/%s/status" % (meta["namespace"], meta["name"]),
                                   {"status": {"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}}})

    # ---- istiod pods -------------------------------------------------------------------------------------
    def _container(self, pod):
        for c in pod.obj["spec"]["containers"]:
            image = c.get("image", "").rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
            if image in self.binaries:
                return c, image
        return None, None

    def _node(self, c, name):
        return self.apis[c].get("/api/v1/nodes/" + name) or {}

    def _resource(self, pod, container, ref):
        """A resourceFieldRef as the kubelet resolves it: the limit, else the node's allocatable (here, at most
        this machine's CPUs: the node is this machine)."""
        kind, _, res = ref["resource"].partition(".")
        value = ((container.get("resources") or {}).get(kind) or {}).get(res)
        if value is None:
            alloc = (self._node(pod.cluster, pod.obj["spec"]["nodeName"]).get("status") or {}).get("allocatable", {})
            value = alloc.get(res, "0")
            if res == "cpu":
                value = str(min(_quantity(value), os.cpu_count() or 1))
        divisor = _quantity(ref.get("divisor", "1"))
        return str(int(math.ceil(_quantity(value) / divisor)))

    def _field(self, pod, path):
        meta, spec = pod.obj["metadata"], pod.obj["spec"]
        simple = {"metadata.name": meta["name"], "metadata.namespace": meta["namespace"], "metadata.uid": meta["uid"],
                  "spec.serviceAccountName": spec.get("serviceAccountName", "default"),
                  "spec.nodeName": spec.get("nodeName", ""), "status.podIP": self._pod_ip(pod),
                  "status.hostIP": self.specs[pod.cluster]["advertise_address"]}
        if path in simple:
            return simple[path]
        for prefix, source in (("metadata.labels", meta.get("labels")), ("metadata.annotations", meta.get("annotations"))):
            if path.startswith(prefix + "['"):
                return (source or {}).get(path[len(prefix) + 2:-2], "")
        raise ValueError("fieldRef %s is not supported by the lab agent" % path)

    def _key_ref(self, pod, ref, kind):
        api = self.apis[pod.cluster]
        obj = api.get("/api/v1/namespaces/%s/%ss/%s" % (pod.namespace, kind, ref["name"])) or {}
        data = obj.get("data") or {}
        if ref["key"] not in data:
            if ref.get("optional"):
                return None
            raise ValueError("%s %s has no key %s" % (kind, ref["name"], ref["key"]))
        return base64.b64decode(data[ref["key"]]).decode() if kind == "secret" else data[ref["key"]]

    def environment(self, pod, container):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(pod.root)}
        for src in container.get("envFrom") or []:
            for kind in ("configMap", "secret"):
                ref = src.get(kind + "Ref")
                if ref:
                    obj = self.apis[pod.cluster].get("/api/v1/namespaces/%s/%ss/%s" % (pod.namespace, kind.lower(),
                                                                                         ref["name"])) or {}
                    for k, v in (obj.get("data") or {}).items():
                        env[src.get("prefix", "") + k] = base64.b64decode(v).decode() if kind == "secret" else v
        for item in container.get("env") or []:
            vf = item.get("valueFrom")
            if vf is None:
                value = item.get("value", "")
            elif "fieldRef" in vf:
                value = self._field(pod, vf["fieldRef"]["fieldPath"])
            elif "resourceFieldRef" in vf:
                value = self._resource(pod, container, vf["resourceFieldRef"])
            elif "configMapKeyRef" in vf:
                value = self._key_ref(pod, vf["configMapKeyRef"], "configmap")
            else:
                value = self._key_ref(pod, vf["secretKeyRef"], "secret")
            if value is not None:
                env[item["name"]] = value
        # Paths under a volume mount point into the pod's root, as the container's filesystem would.
        mounts = sorted((m["mountPath"] for m in container.get("volumeMounts") or []), key=len, reverse=True)
        for k, v in env.items():
            if any(v == m or v.startswith(m.rstrip("/") + "/") for m in mounts):
                env[k] = str(pod.root) + v
        # The pod's in-cluster credentials (client-go reads them from fixed paths, so a kubeconfig carries them).
        env["KUBECONFIG"] = str(self._kubeconfig_path(pod))
        env["ROOT_CA_DIR"] = str(pod.root / "etc" / "cacerts")
        return env

    def _pod_ip(self, pod):
        # The API gets an address from the shared address space (RFC 6598), outside kwok's pod CIDR, since an
        # EndpointSlice refuses loopback addresses; the process itself listens on pod.address.
        return "100.64.%d.%s" % (self.specs[pod.cluster]["index"], pod.address.rsplit(".", 1)[1])

    def _kubeconfig_path(self, pod):
        return pod.root / "var" / "run" / "secrets" / "kubernetes.io" / "serviceaccount" / "kubeconfig"

    def _write(self, pod, path, data):
        """Write a volume file only when its content changed (atomic rename, as the kubelet's ..data swap)."""
        if pod.files.get(path) == data:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name("." + path.name + ".tmp")
        tmp.write_bytes(data)
        tmp.chmod(0o600)
        tmp.replace(path)
        pod.files[path] = data

    def sync_volumes(self, pod, container):
        api = self.apis[pod.cluster]
        volumes = {v["name"]: v for v in pod.obj["spec"].get("volumes") or []}
        for mount in container.get("volumeMounts") or []:
            vol = volumes.get(mount["name"], {})
            target = pod.root / mount["mountPath"].lstrip("/")
            target.mkdir(parents=True, exist_ok=True)
            for kind, field in (("secret", "secretName"), ("configMap", "name")):
                if kind in vol:
                    obj = api.get("/api/v1/namespaces/%s/%ss/%s" % (pod.namespace, kind.lower(), vol[kind][field]))
                    data = (obj or {}).get("data") or {}
                    for key, value in data.items():
                        raw = base64.b64decode(value) if kind == "secret" else value.encode()
                        self._write(pod, target / key, raw)
            for source in (vol.get("projected") or {}).get("sources") or []:
                sat = source.get("serviceAccountToken")
                if sat and pod.token_due():
                    token = self._token(pod, sat.get("audience"), sat.get("expirationSeconds", 3600))
                    self._write(pod, target / sat["path"], token.encode())
        if pod.token_due():
            self._write_kubeconfig(pod)
            pod.token_at = time.monotonic()
        pod.synced_at = time.monotonic()

    def _token(self, pod, audience, seconds):
        sa = pod.obj["spec"].get("serviceAccountName", "default")
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "spec": {"expirationSeconds": int(seconds),
                         "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": pod.name, "uid": pod.uid}}}
        if audience:
            body["spec"]["audiences"] = [audience]
        out = self.apis[pod.cluster].create("/api/v1/namespaces/%s/serviceaccounts/%s/token" % (pod.namespace, sa), body)
        return out["status"]["token"]

    def _write_kubeconfig(self, pod):
        spec = self.specs[pod.cluster]
        ca = (Path(spec["dir"]) / "pki" / "ca.crt").read_bytes()
        token = self._token(pod, None, TOKEN_SECONDS)
        doc = {"apiVersion": "v1", "kind": "Config", "current-context": "in-cluster",
               "clusters": [{"name": "in-cluster", "cluster": {
                   "server": "https://127.0.0.1:%d" % spec["ports"]["apiserver"],
                   "certificate-authority-data": base64.b64encode(ca).decode()}}],
               "users": [{"name": "sa", "user": {"token": token}}],
               "contexts": [{"name": "in-cluster", "context": {"cluster": "in-cluster", "user": "sa",
                                                               "namespace": pod.namespace}}]}
        self._write(pod, self._kubeconfig_path(pod), yaml.safe_dump(doc).encode())

    def argv(self, pod, container, image):
        args = list(container.get("command") or [])[1:] + list(container.get("args") or [])
        args += ["%s=%s:%d" % (flag, pod.address, port) for flag, port in ISTIOD_ADDRESS_FLAGS.items()]
        args += [CTRLZ_FLAG + "=" + pod.address, "--kubeconfig=" + str(self._kubeconfig_path(pod))]
        return [str(self.binaries[image])] + args

    def start(self, pod):
        container, image = self._container(pod)
        if self.binaries.get(image) is None:
            raise RuntimeError("no %s binary for pod %s/%s; run `python -m lab build`"
                               % (IMAGES.get(image), pod.namespace, pod.name))
        self.sync_volumes(pod, container)
        env = self.environment(pod, container)
        logs = self.lab.dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with open(logs / ("%s-%s.log" % (pod.cluster, pod.name)), "ab") as log:
            pod.proc = subprocess.Popen(self.argv(pod, container, image), cwd=str(pod.root), env=env,
                                        stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        pod.ready = None

    def halt(self, pod, timeout=10):
        if pod.proc and pod.proc.poll() is None:
            pod.proc.terminate()
            try:
                pod.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pod.proc.kill()
                pod.proc.wait()
        pod.proc = None

    def probe(self, pod, container):
        probe = ((container.get("readinessProbe") or {}).get("httpGet")) or {"path": "/ready", "port": 8080}
        try:
            with urllib.request.urlopen("http://%s:%d%s" % (pod.address, int(probe["port"]), probe["path"]),
                                        timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def publish(self, pod, ready, running):
        """Pod status as a kubelet reports it; written only when readiness or the restart count changes."""
        if (pod.ready, running, pod.restarts) == getattr(pod, "published", None):
            return
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        container, _ = self._container(pod)
        flag = "True" if ready else "False"
        conds = [{"type": t, "status": s, "lastTransitionTime": now} for t, s in
                 (("PodScheduled", "True"), ("Initialized", "True"), ("ContainersReady", flag), ("Ready", flag))]
        state = {"running": {"startedAt": now}} if running else {"waiting": {"reason": "CrashLoopBackOff"}}
        ip = self._pod_ip(pod)
        status = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                  "hostIP": self.specs[pod.cluster]["advertise_address"], "conditions": conds,
                  "containerStatuses": [{"name": container["name"], "image": container["image"], "imageID": "",
                                         "ready": ready, "started": running, "restartCount": pod.restarts,
                                         "state": state}]}
        self.apis[pod.cluster].merge("/api/v1/namespaces/%s/pods/%s/status" % (pod.namespace, pod.name),
                                     {"status": status})
        pod.published = (pod.ready, running, pod.restarts)

    def reconcile_pods(self, c, objs):
        wanted = {}
        for obj in objs:
            if obj["metadata"].get("deletionTimestamp") or not obj["spec"].get("nodeName"):
                continue
            wanted[obj["metadata"]["uid"]] = obj
        for uid, pod in list(self.pods.items()):
            if pod.cluster == c and uid not in wanted:
                self.halt(pod)
                del self.pods[uid]
        taken = {p.address for p in self.pods.values() if p.cluster == c}
        for uid, obj in wanted.items():
            pod = self.pods.get(uid)
            if pod is None:
                slot = next(n for n in range(1, 255) if pod_address(self.specs[c]["index"], n) not in taken)
                address = pod_address(self.specs[c]["index"], slot)
                taken.add(address)
                pod = Pod(c, obj, address, self.lab.dir / "agent" / c / uid)
                if self._container(pod)[0] is None:
                    continue
                self.pods[uid] = pod
            pod.obj = obj
            container, _ = self._container(pod)
            if pod.proc is not None and pod.proc.poll() is not None:  # exited: restart with back-off
                pod.proc = None
                pod.restarts += 1
                pod.next_start = time.monotonic() + min(2 ** pod.restarts, 60)
            if pod.proc is None and time.monotonic() >= pod.next_start:
                self.start(pod)
            elif pod.proc is not None and time.monotonic() - pod.synced_at > VOLUME_SYNC_SECONDS:
                self.sync_volumes(pod, container)
            ready = pod.proc is not None and self.probe(pod, container)
            pod.ready = ready
            self.publish(pod, ready, pod.proc is not None)

    def write_status(self):
        status = {}
        for pod in self.pods.values():
            status.setdefault(pod.cluster, []).append(pod.summary())
        if status != self.status_written:
            path = status_path(self.lab.dir)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(status, indent=2))
            tmp.replace(path)
            self.status_written = status

    # ---- loop --------------------------------------------------------------------------------------------
    def tick(self):
        services = {}
        for c, api in self.apis.items():
            services[c] = api.items("/api/v1/services")
            self.reconcile_pods(c, api.items("/api/v1/pods", SELECTOR))
        self.assign_load_balancers(services)
        self.write_status()

    def run(self):
        run_loop("lab agent", self.tick, self.stop, self.interval)
        for pod in self.pods.values():
            self.halt(pod)


def _quantity(text):
    """A Kubernetes quantity as a float (enough for CPU and memory)."""
    text = str(text)
    suffixes = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
                "Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40}
    for suffix in sorted(suffixes, key=len, reverse=True):
        if text.endswith(suffix):
            return float(text[:-len(suffix)]) * suffixes[suffix]
    return float(text)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lab.agent")
    parser.add_argument("--dir", required=True)
    args = parser.parse_args(argv)
    agent = Agent(args.dir)
    signal.signal(signal.SIGTERM, lambda *a: agent.stop.set())
    print("lab agent watching %s" % ", ".join(agent.specs), flush=True)
    agent.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
