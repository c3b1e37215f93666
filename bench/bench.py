"""Benchmarks: prints figures, asserts nothing. Run inside a loopback-only namespace:

    .venv/bin/python -m lab sandbox -- .venv/bin/python bench/bench.py [--only NAME ...]

Figures: lab warm start (2 and 3 clusters) and memory per cluster (without Istio, and with the real istiod after
site.yml); the per-task floor of an empty module run;
site.yml cold and its no-op rerun (task count, ratio to tasks x floor); the link step for 2, 4 and 8 clusters
(forks >= N) and t(8)/t(2); the probe engine's maximum sustained rate through the lab Envoy; `awx`: the same cold
site.yml as a plain ansible-playbook run and as an ansible-runner job (AWX's engine), its event count and the size
of its artifacts folder.
"""

import argparse
import contextlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / ".collections"))

from lab import agent, build, charts, netns  # noqa: E402
from lab.cluster import Lab  # noqa: E402

sys.path.insert(0, str(REPO / "tests" / "integration"))
from awx_job import PrivateDataDir  # noqa: E402

PY = sys.executable
PLAYBOOK = str(Path(PY).parent / "ansible-playbook")
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+).*failed=(\d+)", re.M)


def rss_mib(pid):
    try:
        for line in Path("/proc/%d/status" % pid).read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def rss_per_cluster(lab):
    """Mean RSS of one cluster's processes: etcd, API server, controllers, kwok and the istiod the agent runs."""
    per = {}
    for p in lab.running():
        if p["cluster"]:
            per[p["cluster"]] = per.get(p["cluster"], 0.0) + rss_mib(p["pid"])
    for cluster, pods in agent.read_status(lab.dir).items():
        per[cluster] = per.get(cluster, 0.0) + sum(rss_mib(p["pid"]) for p in pods if p["pid"])
    return sum(per.values()) / len(per)


def env_for(lab):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=str(REPO / ".collections"),
               KUBECONFIG=str(lab.kubeconfig), ANSIBLE_NOCOLOR="1")
    env["PATH"] = os.pathsep.join([str(build.bin_dir()), str(Path(PY).parent), env.get("PATH", "")])
    return env


def playbook(lab, inventory, book, *extra):
    start = time.monotonic()
    proc = subprocess.run([PLAYBOOK, "-i", str(inventory), str(book)] + list(extra), cwd=str(REPO),
                          capture_output=True, text=True, env=env_for(lab), check=False)
    secs = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit("%s failed:\n%s\n%s" % (book, proc.stdout[-4000:], proc.stderr[-2000:]))
    changed = sum(int(m.group(3)) for m in RECAP.finditer(proc.stdout))
    tasks = len(re.findall(r"^TASK \[", proc.stdout, re.M))
    return secs, changed, tasks, proc.stdout


def lab_inventory(path, names, extra_host_vars=None, group_vars=None):
    hosts = {}
    for i, n in enumerate(names, 1):
        hosts[n] = {"kube_context": n, "mesh_network": "network%d" % i}
        hosts[n].update((extra_host_vars or {}).get(n, {}))
    gv = yaml.safe_load((REPO / "inventory" / "lab" / "group_vars" / "mesh.yml").read_text())
    # The lab inventory's paths are relative to its own folder; this one lives elsewhere.
    gv.update({"trust_root_dir": str(path.parent / "ca"), "verify_reports_dir": str(path.parent / "reports"),
               # Istio's real charts; Gloo's stay stand-ins (no real chart can be had here)
               "gateway_chart_source": str(REPO / "tests" / "charts" / "gloo")})
    gv.update(charts.ambient_vars())
    gv.update(group_vars or {})
    inv = {"mesh": {"hosts": hosts, "vars": gv}, "mesh_ingress": {"hosts": {names[0]: {}}}}
    path.write_text(yaml.safe_dump(inv))
    return path


def bench_lab_start(work, figures):
    for n in (2, 3):
        lab = Lab(work / ("start%d" % n))
        start = time.monotonic()
        lab.up(n, crds=True)
        figures["lab_warm_start_%d_clusters_s" % n] = round(time.monotonic() - start, 1)
        time.sleep(5)
        figures["lab_rss_per_cluster_mib_%d" % n] = round(rss_per_cluster(lab), 0)
        lab.down(remove=True)


def bench_task_floor(work, figures):
    book = work / "floor.yml"
    book.write_text(yaml.safe_dump([{"name": "floor", "hosts": "localhost", "gather_facts": False,
                                     "tasks": [{"name": "ping %d" % i, "ansible.builtin.ping": {}}
                                               for i in range(20)]}]))
    lab = Lab(work / "none")
    start = time.monotonic()
    proc = subprocess.run([PLAYBOOK, "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=" + PY,
                           str(book)], capture_output=True, text=True, check=False, env=env_for(lab))
    if proc.returncode != 0:
        raise SystemExit("empty-module playbook failed:\n%s\n%s" % (proc.stdout[-2000:], proc.stderr[-2000:]))
    figures["empty_module_task_floor_s"] = round((time.monotonic() - start) / 20, 3)


@contextlib.contextmanager
def ingress_lab(work, name):
    """Two clusters with the lab Envoy and controller, and an inventory for them; torn down afterwards."""
    lab = Lab(work / name)
    lab.up(2, crds=True)
    lab.start_ingress()
    try:
        yield lab, lab_inventory(work / (name + "-inv.yml"), ["cluster1", "cluster2"])
    finally:
        lab.down(remove=True)


def bench_site(work, figures):
    with ingress_lab(work, "site") as (lab, inv):
        secs, changed, tasks, _ = playbook(lab, inv, REPO / "site.yml")
        figures["site_cold_s"] = round(secs, 1)
        figures["site_cold_changed"] = changed
        figures["lab_rss_per_cluster_with_istiod_mib"] = round(rss_per_cluster(lab), 0)
        figures["istiod_rss_mib"] = round(sum(rss_mib(p["pid"]) for pods in agent.read_status(lab.dir).values()
                                              for p in pods if p["pid"]) / 2, 0)
        secs, changed, tasks, _ = playbook(lab, inv, REPO / "site.yml", "--skip-tags", "verify")
        figures["site_noop_s"] = round(secs, 1)
        figures["site_noop_changed"] = changed
        figures["site_noop_tasks"] = tasks
        if "empty_module_task_floor_s" in figures:
            figures["site_noop_ratio_to_task_floor"] = round(secs / (tasks * figures["empty_module_task_floor_s"]), 2)
        bench_probe(lab, figures)


def bench_probe(lab, figures):
    from ansible_collections.ambientmesh.multicluster.plugins.module_utils import probe

    url = "http://127.0.0.1:%d/productpage" % lab.load()["ingress"]["port"]
    best, saturated = 0.0, False
    for rate in (50, 100, 200, 400, 800, 1600, 3200):
        rec = probe.Recorder()
        prober = probe.Prober(probe.HttpTarget(url, timeout=2.0), rate, rec)
        prober.start()
        time.sleep(5)
        end = prober.stop()
        samples, _ = rec.snapshot()
        ok = [s for s in samples if s["code"] == 200]
        achieved = len(ok) / end if end else 0
        figures["probe_rate_%d_achieved_rps" % rate] = round(achieved, 1)
        figures["probe_rate_%d_p99_ms" % rate] = probe.percentile([s["ms"] for s in samples], 99)
        if achieved < 0.95 * rate:
            saturated = True
            break
        best = achieved
    figures["probe_max_sustained_rps"] = round(best, 1)
    # False: even the highest rate tried was sustained, so the figure is a lower bound.
    figures["probe_saturated"] = saturated


def bench_link(work, figures):
    lab = Lab(work / "link")
    try:
        for n in (2, 4, 8):
            lab.up(n, crds=True)
            names = ["cluster%d" % i for i in range(1, n + 1)]
            ew = dict((c, {"mesh_eastwest_address": "192.0.2.%d" % i,
                           "mesh_eastwest_address_type": "IPAddress"}) for i, c in enumerate(names, 1))
            inv = lab_inventory(work / ("link%d.yml" % n), names, ew)
            for c in names:  # the link role expects the namespaces the ambient role makes
                lab.kubectl(c, "create", "namespace", "istio-gateways", check=False)
                lab.kubectl(c, "create", "namespace", "istio-system", check=False)
            secs, changed, _, _ = playbook(lab, inv, REPO / "playbooks" / "link.yml", "--forks", str(max(n, 5)))
            figures["link_%d_clusters_s" % n] = round(secs, 1)
            figures["link_%d_clusters_changed" % n] = changed
        figures["link_t8_over_t2"] = round(figures["link_8_clusters_s"] / figures["link_2_clusters_s"], 2)
    finally:
        lab.down(remove=True)


def bench_awx(work, figures):
    """One cold site.yml through ansible-playbook, teardown, then one through ansible-runner, on the same lab."""
    with ingress_lab(work, "awx") as (lab, inv):
        secs, changed, tasks, _ = playbook(lab, inv, REPO / "site.yml")
        figures["awx_plain_site_cold_s"] = round(secs, 1)
        playbook(lab, inv, REPO / "playbooks" / "teardown.yml")
        data = yaml.safe_load(inv.read_text())
        data["mesh"]["vars"].pop("kubeconfig_path")
        pdd = PrivateDataDir(work / "awx-job", data, Path(lab.kubeconfig).read_text())
        job = pdd.run("site.yml", "site")
        if job.rc != 0:
            raise SystemExit("runner job failed:\n%s" % job.stdout[-4000:])
        figures["awx_runner_site_cold_s"] = round(job.seconds, 1)
        figures["awx_runner_to_plain_ratio"] = round(job.seconds / secs, 2)
        figures["awx_runner_events"] = len(job.events)
        figures["awx_runner_artifacts_kib"] = round(job.size() / 1024.0, 0)


BENCHES = {"lab": bench_lab_start, "floor": bench_task_floor, "site": bench_site, "link": bench_link,
           "awx": bench_awx}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHES))
    args = parser.parse_args()
    netns.require_isolated()
    figures = {"date": time.strftime("%Y-%m-%d"), "machine": "%s, %d cores, %s" % (
        platform.machine(), os.cpu_count(), platform.python_version())}
    with tempfile.TemporaryDirectory(prefix="ambientmesh-bench-") as tmp:
        for name in (args.only or ["lab", "floor", "site", "link"]):
            start = time.monotonic()
            BENCHES[name](Path(tmp), figures)
            # Figures so far, after every benchmark, so a later failure does not lose them.
            print("# %s done in %.0fs: %s" % (name, time.monotonic() - start, json.dumps(figures)),
                  file=sys.stderr, flush=True)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
