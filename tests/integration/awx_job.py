"""Run a playbook the way an AWX execution node does: ansible-runner on a private data directory laid out like an
AWX job's (project, inventory, env/extravars, env/envvars), with the kubeconfig credential injected exactly as
the credential type in docs/awx.md says (its injector YAML is read from that file, so docs and test are one)."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import jinja2
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def credential_type():
    """(inputs, injectors) of the `Kubeconfig (multi-cluster)` credential type, as docs/awx.md gives them."""
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", (REPO / "docs" / "awx.md").read_text(), re.S)]
    inputs = next(b for b in blocks if isinstance(b, dict) and "fields" in b)
    injectors = next(b for b in blocks if isinstance(b, dict) and "file" in b and "env" in b)
    return inputs, injectors


def _render(value, context):
    if isinstance(value, dict):
        return dict((k, _render(v, context)) for k, v in value.items())
    return jinja2.Template(value).render(**context)


class Job:
    """One finished ansible-runner job: status, rc, stdout, the events AWX would store, and the stats."""

    def __init__(self, artifacts, seconds):
        self.dir = artifacts
        self.seconds = seconds
        self.status = (artifacts / "status").read_text().strip()
        self.rc = int((artifacts / "rc").read_text().strip())
        self.stdout = (artifacts / "stdout").read_text()
        files = sorted((artifacts / "job_events").glob("*.json"), key=lambda p: int(p.name.split("-")[0]))
        self.events = [json.loads(p.read_text()) for p in files]
        stats = [e for e in self.events if e.get("event") == "playbook_on_stats"]
        self.stats = stats[-1]["event_data"] if stats else {}

    @property
    def changed(self):
        return sum((self.stats.get("changed") or {}).values())

    @property
    def failed_hosts(self):
        return sorted(set(self.stats.get("failures") or {}) | set(self.stats.get("dark") or {}))

    def changed_tasks(self):
        return [(e["event_data"].get("task"), e["event_data"].get("host")) for e in self.events
                if e.get("event") == "runner_on_ok" and e["event_data"].get("res", {}).get("changed")]

    def size(self):
        return sum(p.stat().st_size for p in self.dir.rglob("*") if p.is_file())

    def text(self):
        """What AWX shows and keeps of a job: its stdout and every event. (ansible-runner's own `command` file
        holds the job's environment, as AWX's job_env does, which AWX redacts; it is not output.)"""
        return "\n".join([self.stdout] + [json.dumps(e) for e in self.events])

    def __repr__(self):
        return "Job(status=%s, rc=%s, failed=%s)\n%s" % (self.status, self.rc, self.failed_hosts, self.stdout[-6000:])


class PrivateDataDir:
    """An AWX job's private data directory for `inventory` (hosts and group vars of group `mesh`/`mesh_ingress`)
    and a kubeconfig credential; `run(playbook)` runs one job in it."""

    def __init__(self, root, inventory, kubeconfig_text, extravars=None, envvars=None):
        self.root = Path(root)
        (self.root / "env").mkdir(parents=True, exist_ok=True)
        (self.root / "inventory").mkdir(exist_ok=True)
        if not (self.root / "project").exists():
            # AWX syncs the project (this repository) into the job's folder; a link serves the same
            (self.root / "project").symlink_to(REPO)
        (self.root / "inventory" / "hosts.yml").write_text(yaml.safe_dump(inventory))
        # the credential: its file and its env/extra vars, rendered from docs/awx.md's injector
        dummy, injectors = credential_type()
        cred_file = self.root / "credential_kubeconfig"
        cred_file.write_text(_render(injectors["file"]["template"], {"kubeconfig": kubeconfig_text}))
        cred_file.chmod(0o600)
        context = {"tower": {"filename": str(cred_file)}}
        env = dict(_render(injectors.get("env", {}), context))
        env.update(envvars or {})
        extra = dict(extravars or {})
        extra.update(_render(injectors.get("extra_vars", {}), context))
        (self.root / "env" / "envvars").write_text(yaml.safe_dump(env))
        (self.root / "env" / "extravars").write_text(yaml.safe_dump(extra))
        self.secrets = [kubeconfig_text]

    def run(self, playbook, ident, timeout=1800):
        env = dict(os.environ)
        # the execution node's PATH has ansible-playbook (and helm, kubectl); nothing of the test's KUBECONFIG
        env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", "")])
        for var in ("KUBECONFIG", "ANSIBLE_CONFIG", "ANSIBLE_COLLECTIONS_PATH", "K8S_AUTH_KUBECONFIG"):
            env.pop(var, None)
        start = time.monotonic()
        subprocess.run([str(BIN / "ansible-runner"), "run", str(self.root), "-p", playbook, "--ident", ident],
                       env=env, capture_output=True, text=True, timeout=timeout, check=False)
        return Job(self.root / "artifacts" / ident, time.monotonic() - start)
