"""Command lines of one lab cluster's components: etcd, kube-apiserver, kube-controller-manager, kube-scheduler
and kwok, and the fake Nodes kwok keeps Ready; and those of a light cluster (etcd, kube-apiserver and a controller-manager
with the token controllers only; see LIGHT_CONTROLLERS). Pure functions of a cluster's spec (the dict `Lab.up` records per
cluster: name, dir, ports, CIDRs, advertise address) and the binaries' paths; nothing here starts a process."""

import os
from pathlib import Path

from lab import build

BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
PORTS = ("etcd", "etcd_peer", "apiserver", "kcm", "scheduler", "kwok")
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"

# Light mode (scale benchmarks): etcd, kube-apiserver and a kube-controller-manager that runs only these.
# The API server serves every API itself (Secrets, ConfigMaps, Services, CRDs, ServiceAccounts, TokenRequest);
# what it does not do is fill a kubernetes.io/service-account-token Secret, which the link role's remote_secret
# method waits for (plugins/module_utils/remote_secret.py wait_token): that is the token controller's job.
# The other two make a namespace look as on a real cluster (its `default` ServiceAccount, its kube-root-ca.crt
# ConfigMap) and watch only namespaces, ServiceAccounts and ConfigMaps.
LIGHT_CONTROLLERS = ("serviceaccount-token-controller", "serviceaccount-controller",
                     "root-ca-certificate-publisher-controller")
LIGHT_BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager")
LIGHT_PORTS = ("etcd", "etcd_peer", "apiserver", "kcm")
# Go runtime settings for light clusters: collect when the heap has grown by 25 % (50 % for etcd) instead of
# 100 %. They change when the garbage collector runs, not what the API serves. Measured on 2 light clusters with
# CRDs (20 s idle): kube-apiserver 380 -> 260 MiB RSS with no more idle CPU (0.35-0.38 s per 20 s per cluster).
# A GOMEMLIMIT below the API server's live heap (about 140 MiB with the CRDs) made it collect without end
# (160 MiB: 232 MiB RSS, but bring-up twice as slow), so there is none.
LIGHT_GO_ENV = {
    "etcd": {"GOGC": "50"},
    "kube-apiserver": {"GOGC": "25"},
    "kube-controller-manager": {"GOGC": "25"},
}
# etcd: a raft snapshot every 1000 writes instead of 10000 (and 500 entries kept for a follower instead of
# 5000), so fewer raft log entries are held in memory; a 1 GiB backend quota (a light cluster holds a few MiB).
LIGHT_ETCD_FLAGS = ("--snapshot-count=1000", "--snapshot-catchup-entries=500")


class MissingBinaries(RuntimeError):
    pass


# cluster i gets service CIDR 10.(95+i).0.0/16 and pod CIDR 10.(199+i).0.0/16
MAX_CLUSTERS = 56


def advertise_address(index):
    """The TEST-NET-2 address cluster `index` advertises (its `kubernetes` Service endpoint, kwok's node IP):
    198.51.100.(10 index) for the first 25 (as before there were more), then the fives between them (.5, .15,
    ... .245) up to 50, then .1 to .7 without .5."""
    if index <= 25:
        return "198.51.100.%d" % (10 * index)
    if index <= 50:
        return "198.51.100.%d" % (10 * (index - 25) - 5)
    return "198.51.100.%d" % (1, 2, 3, 4, 6, 7)[index - 51]


def cluster_spec(index, cdir, light=False):
    """The description of cluster `index` (without its ports, which are picked free at start)."""
    if not 1 <= index <= MAX_CLUSTERS:
        raise ValueError("cluster index %d outside 1..%d" % (index, MAX_CLUSTERS))
    spec = {
        "name": "cluster%d" % index,
        "index": index,
        "dir": str(cdir),
        "service_cidr": "10.%d.0.0/16" % (95 + index),
        "service_ip": "10.%d.0.1" % (95 + index),
        "pod_cidr": "10.%d.0.0/16" % (199 + index),
        "advertise_address": advertise_address(index),
    }
    if light:
        spec["light"] = True
    return spec


def find_binaries(light=False):
    """{name: path} of every component binary and 'kwok-stages' (light: etcd, kube-apiserver and
    kube-controller-manager only); raises MissingBinaries naming what is absent."""
    found = {n: build.find(n) for n in (LIGHT_BINARIES if light else BINARIES)}
    missing = [n for n, p in found.items() if p is None]
    if light:
        if missing:
            raise MissingBinaries(", ".join(missing))
        return found
    stages = build.bin_dir() / build.STAGES
    if missing or not stages.exists():
        raise MissingBinaries(", ".join(missing or [build.STAGES]))
    found["kwok-stages"] = stages
    return found


def ports(light=False):
    """The names of the ports a cluster listens on."""
    return LIGHT_PORTS if light else PORTS


def env(component, light=False, base=None):
    """The environment of `component` (a binary's name): `base` (None: inherit), plus the Go runtime settings
    of light mode."""
    if not light or component not in LIGHT_GO_ENV:
        return base
    return dict(base if base is not None else os.environ, **LIGHT_GO_ENV[component])


def pki_dir(spec):
    return Path(spec["dir"]) / "pki"


def admin_kubeconfig(spec):
    return Path(spec["dir"]) / "admin.kubeconfig"


def etcd_argv(spec, binary, light=False):
    p = spec["ports"]
    peer = "http://127.0.0.1:%d" % p["etcd_peer"]
    client = "http://127.0.0.1:%d" % p["etcd"]
    return [
        binary, "--name", spec["name"], "--data-dir", Path(spec["dir"]) / "etcd",
        "--listen-client-urls", client, "--advertise-client-urls", client,
        "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
        "--initial-cluster", "%s=%s" % (spec["name"], peer),
        "--unsafe-no-fsync", "--auto-compaction-retention=1",
        "--quota-backend-bytes=%d" % ((1 if light else 4) << 30),
        "--log-level=warn",
    ] + list(LIGHT_ETCD_FLAGS if light else ())


def apiserver_argv(spec, binary):
    pk = pki_dir(spec)
    return [
        binary,
        "--etcd-servers=http://127.0.0.1:%d" % spec["ports"]["etcd"],
        "--bind-address=127.0.0.1", "--secure-port=%d" % spec["ports"]["apiserver"],
        "--advertise-address=" + spec["advertise_address"],
        "--tls-cert-file=%s" % (pk / "apiserver.crt"), "--tls-private-key-file=%s" % (pk / "apiserver.key"),
        "--client-ca-file=%s" % (pk / "ca.crt"),
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        "--service-account-key-file=%s" % (pk / "sa.pub"),
        "--service-account-signing-key-file=%s" % (pk / "sa.key"),
        "--service-cluster-ip-range=" + spec["service_cidr"],
        "--authorization-mode=RBAC", "--allow-privileged=true",
        "--enable-priority-and-fairness=false", "--max-requests-inflight=0",
        "--max-mutating-requests-inflight=0", "--profiling=false", "--v=1",
    ]


def controller_manager_argv(spec, binary, light=False):
    pk = pki_dir(spec)
    kc = admin_kubeconfig(spec)
    return [
        binary, "--kubeconfig=%s" % kc,
        "--authentication-kubeconfig=%s" % kc, "--authorization-kubeconfig=%s" % kc,
        "--bind-address=127.0.0.1", "--secure-port=%d" % spec["ports"]["kcm"], "--leader-elect=false",
        "--service-account-private-key-file=%s" % (pk / "sa.key"), "--root-ca-file=%s" % (pk / "ca.crt"),
        "--cluster-name=" + spec["name"], "--use-service-account-credentials=false",
    ] + (["--controllers=" + ",".join(LIGHT_CONTROLLERS), "--v=1"] if light else [
        "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller",
        "--concurrent-deployment-syncs=10", "--concurrent-endpoint-syncs=10",
        "--node-monitor-grace-period=60s", "--v=1",
    ])


def scheduler_argv(spec, binary):
    kc = admin_kubeconfig(spec)
    return [
        binary, "--kubeconfig=%s" % kc,
        "--authentication-kubeconfig=%s" % kc, "--authorization-kubeconfig=%s" % kc,
        "--bind-address=127.0.0.1", "--secure-port=%d" % spec["ports"]["scheduler"], "--leader-elect=false",
        "--v=1",
    ]


def kwok_argv(spec, binary, stages):
    return [
        binary, "--kubeconfig=%s" % admin_kubeconfig(spec), "--config=%s" % stages,
        "--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=%s=fake" % KWOK_NODE_ANNOTATION,
        "--cidr=" + spec["pod_cidr"], "--node-ip=" + spec["advertise_address"],
        "--node-lease-duration-seconds=40",
        "--server-address=127.0.0.1:%d" % spec["ports"]["kwok"],
    ]


def controllers(spec, b, light=False):
    """(process name suffix, binary name, argv) of the processes started once the API server is ready."""
    if light:
        return [("kcm", "kube-controller-manager",
                 controller_manager_argv(spec, b["kube-controller-manager"], light=True))]
    return [
        ("kcm", "kube-controller-manager", controller_manager_argv(spec, b["kube-controller-manager"])),
        ("scheduler", "kube-scheduler", scheduler_argv(spec, b["kube-scheduler"])),
        ("kwok", "kwok", kwok_argv(spec, b["kwok"], b["kwok-stages"])),
    ]


def node_docs(spec, count):
    """`count` fake Nodes for kwok to keep Ready."""
    docs = []
    for n in range(count):
        docs.append({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "%s-node-%d" % (spec["name"], n),
                         "annotations": {KWOK_NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
                         # the labels a real kubelet and cloud provider set: the charts' DaemonSets
                         # select kubernetes.io/os=linux
                         "labels": {"kubernetes.io/role": "agent", "type": "kwok",
                                    "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                                    "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
                                    "kubernetes.io/hostname": "%s-node-%d" % (spec["name"], n),
                                    "topology.kubernetes.io/region": spec["name"],
                                    "topology.kubernetes.io/zone": spec["name"] + "-a"}},
            "status": {"allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                       "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                       "nodeInfo": {"operatingSystem": "linux", "architecture": "amd64"}},
        })
    return docs
