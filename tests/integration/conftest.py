"""Fixtures for integration tests: real API servers from the lab harness, real ansible-playbook runs.

These tests must run inside a loopback-only network namespace (`make integration` does
`python -m lab sandbox -- pytest tests/integration`); the `lab` fixture refuses to start otherwise.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from lab import cluster as lab_cluster  # noqa: E402
from lab import netns  # noqa: E402

CLUSTERS = int(os.environ.get("AMBIENTMESH_TEST_CLUSTERS", "3"))
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+"
                   r"skipped=(\d+)\s+rescued=(\d+)\s+ignored=(\d+)", re.M)


class PlaybookResult:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.stats = {}
        for m in RECAP.finditer(proc.stdout):
            keys = ("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored")
            self.stats[m.group(1)] = dict(zip(keys, (int(x) for x in m.groups()[1:])))

    @property
    def changed(self):
        return sum(s["changed"] for s in self.stats.values())

    @property
    def changed_tasks(self):
        """[(task, host)] for every 'changed:' line, to say which task broke idempotency."""
        out, task = [], None
        for line in self.stdout.splitlines():
            if line.startswith("TASK ["):
                task = line[len("TASK ["):].split("]", 1)[0]
            elif line.startswith("changed: ["):
                out.append((task, line[len("changed: ["):].split("]", 1)[0]))
        return out

    @property
    def failed(self):
        return sum(s["failed"] + s["unreachable"] for s in self.stats.values())

    def failures(self):
        """The failed tasks' headers and messages, wherever they are in a long output."""
        lines, out = self.stdout.splitlines(), []
        for i, line in enumerate(lines):
            if line.startswith(("fatal:", "failed:")):
                start = max(i - 1, 0)
                while start > 0 and not lines[start].startswith("TASK ["):
                    start -= 1
                out += [lines[start]] + lines[i:i + 25] + ["..."]
        return "\n".join(out)

    def __repr__(self):
        return "PlaybookResult(rc=%s, stats=%s)\n--- failures ---\n%s\n--- stdout ---\n%s\n--- stderr ---\n%s" % (
            self.rc, self.stats, self.failures()[:6000], self.stdout[-4000:], self.stderr[-3000:])


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """CLUSTERS independent clusters (default 3) with Gateway API and Istio CRDs, torn down at the end."""
    if not netns.isolated():
        pytest.fail("integration tests must run in a loopback-only namespace: "
                    "`python -m lab sandbox -- pytest tests/integration` (or `make integration`)")
    if os.environ.get("AMBIENTMESH_LAB_REUSE") == "1":
        # Developer loop: keep the clusters of $AMBIENTMESH_LAB_DIR running between pytest runs
        # (`python -m lab --dir D exec -- env AMBIENTMESH_LAB_REUSE=1 pytest ...`).
        the_lab = lab_cluster.Lab(os.environ.get("AMBIENTMESH_LAB_DIR"))
        the_lab.up(CLUSTERS, crds=True)
        yield the_lab
        return
    the_lab = lab_cluster.Lab(tmp_path_factory.mktemp("lab"))
    try:
        the_lab.up(CLUSTERS, crds=True)
        yield the_lab
    finally:
        the_lab.down()


@pytest.fixture(scope="session")
def kubeconfig(lab):
    return str(lab.kubeconfig)


@pytest.fixture(scope="session")
def cluster_names(lab):
    return [c["name"] for c in lab.clusters()]


@pytest.fixture
def make_inventory(tmp_path, kubeconfig):
    """Write an inventory with one host per cluster (group `mesh`), returns its path.

    hosts: list of cluster names, or dict name -> extra host vars. group_vars: extra vars for `mesh`.
    """
    def _make(hosts, group_vars=None, ingress=None, name="inventory.yml"):
        if isinstance(hosts, (list, tuple)):
            hosts = dict((h, {}) for h in hosts)
        host_entries = {}
        for i, (host, extra) in enumerate(hosts.items(), 1):
            entry = {"kube_context": host, "mesh_network": "network-" + host}
            entry.update(extra or {})
            host_entries[host] = entry
        # every istiod of the lab runs on this host, so the loopback API servers are what peers reach
        gv = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
              "kubeconfig_path": kubeconfig, "link_allow_local_api_server": True}
        gv.update(group_vars or {})
        inv = {"mesh": {"hosts": host_entries, "vars": gv}}
        ingress_hosts = list(hosts)[:1] if ingress is None else ingress
        inv["mesh_ingress"] = {"hosts": dict((h, {}) for h in ingress_hosts)}
        path = tmp_path / name
        path.write_text(yaml.safe_dump(inv))
        return path
    return _make


def _make_runner(kubeconfig):
    """A function running ansible-playbook from the repo with our ansible.cfg against `kubeconfig`."""
    def _run(playbook, inventory, extra_vars=None, check=False, diff=False, verbosity=0, tags=None,
             limit=None, env=None, timeout=900):
        cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), str(playbook)]
        for ev in ([extra_vars] if isinstance(extra_vars, dict) else (extra_vars or [])):
            cmd += ["-e", yaml.safe_dump(ev, default_flow_style=True).strip()]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        if verbosity:
            cmd.append("-" + "v" * verbosity)
        if tags:
            cmd += ["--tags", tags]
        if limit:
            cmd += ["--limit", limit]
        full_env = dict(os.environ)
        full_env.update({"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
                         "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".collections"),
                         "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "KUBECONFIG": kubeconfig,
                         "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")})
        full_env.update(env or {})
        proc = subprocess.run(cmd, cwd=str(REPO), capture_output=True, text=True, env=full_env, timeout=timeout,
                              check=False)
        return PlaybookResult(proc)
    return _run


@pytest.fixture(scope="session")
def run_playbook(kubeconfig):
    """Run ansible-playbook against the session lab; returns a PlaybookResult."""
    return _make_runner(kubeconfig)


@pytest.fixture(scope="session")
def playbook_for():
    """playbook_for(kubeconfig) -> a run_playbook for another lab (e.g. the end-to-end test's own clusters)."""
    return _make_runner


@pytest.fixture(scope="session")
def kube(kubeconfig):
    """kube(cluster) -> kubernetes DynamicClient for direct assertions on a cluster."""
    from kubernetes import config, dynamic

    clients = {}

    def _client(name):
        if name not in clients:
            clients[name] = dynamic.DynamicClient(config.new_client_from_config(kubeconfig, context=name))
        return clients[name]
    return _client


@pytest.fixture(scope="session")
def kubectl(lab):
    """kubectl(cluster, *args) -> CompletedProcess (check=True by default)."""
    return lab.kubectl


def pytest_collection_modifyitems(items):
    """The end-to-end test brings its own two clusters: run it first, before the session lab's three start, so
    no idle clusters share the machine's cores with it."""
    items.sort(key=lambda item: 0 if item.module.__name__ == "test_e2e" else 1)
