"""Command lines of one lab cluster's components: etcd, kube-apiserver, kube-controller-manager, kube-scheduler
and kwok, and the fake Nodes kwok keeps Ready. Pure functions of a cluster's spec (the dict `Lab.up` records per
cluster: name, dir, ports, CIDRs, advertise address) and the binaries' paths; nothing here starts a process."""

from pathlib import Path

from lab import build

BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
PORTS = ("etcd", "etcd_peer", "apiserver", "kcm", "scheduler", "kwok")
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"


class MissingBinaries(RuntimeError):
    pass


def find_binaries():
    """{name: path} of every component binary and 'kwok-stages'; raises MissingBinaries naming what is absent."""
    found = {n: build.find(n) for n in BINARIES}
    missing = [n for n, p in found.items() if p is None]
    stages = build.bin_dir() / build.STAGES
    if missing or not stages.exists():
        raise MissingBinaries(", ".join(missing or [build.STAGES]))
    found["kwok-stages"] = stages
    return found


def pki_dir(spec):
    return Path(spec["dir"]) / "pki"


def admin_kubeconfig(spec):
    return Path(spec["dir"]) / "admin.kubeconfig"


def etcd_argv(spec, binary):
    p = spec["ports"]
    peer = "http://127.0.0.1:%d" % p["etcd_peer"]
    client = "http://127.0.0.1:%d" % p["etcd"]
    return [
        binary, "--name", spec["name"], "--data-dir", Path(spec["dir"]) / "etcd",
        "--listen-client-urls", client, "--advertise-client-urls", client,
        "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
        "--initial-cluster", "%s=%s" % (spec["name"], peer),
        "--unsafe-no-fsync", "--auto-compaction-retention=1", "--quota-backend-bytes=4294967296",
        "--log-level=warn",
    ]


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


def controller_manager_argv(spec, binary):
    pk = pki_dir(spec)
    kc = admin_kubeconfig(spec)
    return [
        binary, "--kubeconfig=%s" % kc,
        "--authentication-kubeconfig=%s" % kc, "--authorization-kubeconfig=%s" % kc,
        "--bind-address=127.0.0.1", "--secure-port=%d" % spec["ports"]["kcm"], "--leader-elect=false",
        "--service-account-private-key-file=%s" % (pk / "sa.key"), "--root-ca-file=%s" % (pk / "ca.crt"),
        "--cluster-name=" + spec["name"], "--use-service-account-credentials=false",
        "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller",
        "--concurrent-deployment-syncs=10", "--concurrent-endpoint-syncs=10",
        "--node-monitor-grace-period=60s", "--v=1",
    ]


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


def controllers(spec, b):
    """(process name suffix, argv) of the processes started once the API server is ready."""
    return [
        ("kcm", controller_manager_argv(spec, b["kube-controller-manager"])),
        ("scheduler", scheduler_argv(spec, b["kube-scheduler"])),
        ("kwok", kwok_argv(spec, b["kwok"], b["kwok-stages"])),
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
