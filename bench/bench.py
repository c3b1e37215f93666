"""Benchmarks: prints figures, asserts nothing. Run inside a loopback-only namespace:

    .venv/bin/python -m lab sandbox -- .venv/bin/python bench/bench.py [--only NAME ...]

Figures: lab warm start (2 and 3 clusters) and memory per cluster (without Istio, and with the real istiod after
site.yml); the per-task floor of an empty module run;
site.yml cold and its no-op rerun (task count, ratio to tasks x floor); the link step for 2, 4 and 8 clusters
(forks >= N) and t(8)/t(2); the probe engine's maximum sustained rate through the lab Envoy; `awx`: the same cold
site.yml as a plain ansible-playbook run and as an ansible-runner job (AWX's engine), its event count and the size
of its artifacts folder.

`site` also counts the API requests of the no-op rerun per cluster and verb (kube-apiserver's
apiserver_request_total before and after, less the lab's own background measured just before), and lists its ten
slowest tasks (bench/callback/task_times.py, a callback enabled for that run only).
`scale`: on light labs (etcd + kube-apiserver + token controllers, `Lab.up(light=True)`) of 2, 8, 16 and 32
clusters, the trust and link steps (forks >= N), t(N)/t(2), changed counts, memory per cluster and how the cost
grows (BENCH_SCALE_SIZES="2 8" picks other sizes).
`accel`: the no-op rerun of site.yml (ingress lab) and the link step at 8 light clusters with the default, with
ANSIBLE_PIPELINING=True, with ANSIBLE_STRATEGY=free and with Mitogen's mitogen_linear strategy, as ratios to the
default, each run's recap compared with the default's. Mitogen is not a requirement: install it beside the venv,
`pip install --target DIR mitogen` and set BENCH_MITOGEN=DIR (skipped when unset).
"""

import argparse
import contextlib
import json
import math
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
from lab.cluster import Lab, LabError  # noqa: E402

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


def env_for(lab, extra=None):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=str(REPO / ".collections"),
               KUBECONFIG=str(lab.kubeconfig), ANSIBLE_NOCOLOR="1")
    env["PATH"] = os.pathsep.join([str(build.bin_dir()), str(Path(PY).parent), env.get("PATH", "")])
    env.update(extra or {})
    return env


def playbook(lab, inventory, book, *extra, env=None):
    start = time.monotonic()
    proc = subprocess.run([PLAYBOOK, "-i", str(inventory), str(book)] + list(extra), cwd=str(REPO),
                          capture_output=True, text=True, env=env_for(lab, env), check=False)
    secs = time.monotonic() - start
    if proc.returncode != 0:
        fatal = "\n".join(re.findall(r"^(?:fatal|failed): .*$", proc.stdout, re.M)[:3])
        raise SystemExit("%s failed:\n%s\n...\n%s\n%s" % (book, fatal, proc.stdout[-4000:], proc.stderr[-2000:]))
    changed = sum(int(m.group(3)) for m in RECAP.finditer(proc.stdout))
    tasks = len(re.findall(r"^TASK \[", proc.stdout, re.M))
    return secs, changed, tasks, proc.stdout


def task_times(path):
    """Environment that has bench/callback/task_times.py write each task's wall time to path."""
    return {"ANSIBLE_CALLBACK_PLUGINS": str(REPO / "bench" / "callback"), "ANSIBLE_CALLBACKS_ENABLED": "task_times",
            "BENCH_TASK_TIMES": str(path)}


def slowest(path, n=10):
    """The n slowest tasks of a run task_times() recorded: {"name (hosts run/skipped)": seconds}."""
    rows = sorted(json.loads(Path(path).read_text()), key=lambda r: -r[1])[:n]
    return dict(("%s (%d run, %d skipped)" % (name, run, skipped), secs) for name, secs, run, skipped in rows)


def recap(stdout):
    """{host: {ok, changed, unreachable, failed, skipped, rescued, ignored}} from the last PLAY RECAP."""
    tail = stdout.rsplit("PLAY RECAP", 1)[-1]
    return {m.group(1): {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
            for m in re.finditer(r"^(\S+)\s+:\s+(ok=.*)$", tail, re.M)}


def loadavg():
    return float(Path("/proc/loadavg").read_text().split()[0])


# ---- API requests (kube-apiserver's own counter) ---------------------------------------------------------------
METRIC = re.compile(r'^apiserver_request_total\{([^}]*)\}\s+([0-9.e+]+)$', re.M)


def api_requests(lab, names):
    """{cluster: {verb: requests served so far}} from each API server's /metrics (apiserver_request_total)."""
    out = {}
    for name in names:
        text = lab.kubectl(name, "get", "--raw", "/metrics").stdout
        verbs = {}
        for labels, value in METRIC.findall(text):
            verb = re.search(r'verb="([^"]*)"', labels)
            key = verb.group(1) if verb else "?"
            verbs[key] = verbs.get(key, 0) + float(value)
        out[name] = verbs
    return out


def request_delta(before, after):
    """after - before per cluster and verb, less the GET of the scrape `before` itself."""
    out = {}
    for name, verbs in after.items():
        d = {v: n - before.get(name, {}).get(v, 0) for v, n in verbs.items()}
        d["GET"] = d.get("GET", 0) - 1
        out[name] = {v: n for v, n in d.items() if n}
    return out


def net_requests(lab, names, run, background_s=30):
    """Run run() and return (its result, {cluster: {verb: requests}} it caused, the background per second):
    the lab's agent, controller, kwok and controllers keep calling the API servers, so their rate, measured
    over `background_s` just before, is subtracted."""
    m0 = api_requests(lab, names)
    t0 = time.monotonic()
    time.sleep(background_s)
    m1 = api_requests(lab, names)
    t1 = time.monotonic()
    result = run()
    m2 = api_requests(lab, names)
    t2 = time.monotonic()
    bg = {c: {v: n / (t1 - t0) for v, n in d.items()} for c, d in request_delta(m0, m1).items()}
    raw = request_delta(m1, m2)
    net = {c: {v: raw[c].get(v, 0) - bg[c].get(v, 0) * (t2 - t1) for v in set(raw[c]) | set(bg[c])} for c in raw}
    return result, raw, net, bg


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
        names = ["cluster1", "cluster2"]
        figures["site_noop_load"] = loadavg()
        times = work / "site-noop-task-times.json"
        (secs, changed, tasks, _), raw, net, bg = net_requests(
            lab, names, lambda: playbook(lab, inv, REPO / "site.yml", "--skip-tags", "verify", env=task_times(times)))
        figures["site_noop_slowest_tasks_s"] = slowest(times)
        figures["site_noop_s"] = round(secs, 1)
        figures["site_noop_changed"] = changed
        figures["site_noop_tasks"] = tasks
        if "empty_module_task_floor_s" in figures:
            figures["site_noop_ratio_to_task_floor"] = round(secs / (tasks * figures["empty_module_task_floor_s"]), 2)
        per_cluster = sum(sum(net[c].values()) for c in names) / len(names)
        figures["site_noop_api_requests_per_cluster"] = round(per_cluster)
        figures["site_noop_api_requests_per_cluster_raw"] = round(sum(sum(raw[c].values()) for c in names) / 2)
        figures["site_noop_api_background_rps_per_cluster"] = round(sum(sum(bg[c].values()) for c in names) / 2, 1)
        verbs = sorted({v for c in names for v in net[c]})
        figures["site_noop_api_requests_per_cluster_by_verb"] = {
            v: round(sum(net[c].get(v, 0) for c in names) / 2) for v in verbs
            if abs(sum(net[c].get(v, 0) for c in names)) >= 1}
        figures["site_noop_api_requests_per_task"] = round(2 * per_cluster / tasks, 1)
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


def eastwest(names):
    """Fixed east-west addresses (no Istio runs on a light lab), as bench_link gives them."""
    return dict((c, {"mesh_eastwest_address": "192.0.2.%d" % i, "mesh_eastwest_address_type": "IPAddress"})
                for i, c in enumerate(names, 1))


def lab_cpu_s(lab):
    """CPU seconds (user + system) the lab's processes (etcd, API servers, controllers) have used so far."""
    total = 0
    for p in lab.running():
        try:
            fields = Path("/proc/%d/stat" % p["pid"]).read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def playbook_cpu(lab, *args, **kwargs):
    """playbook(), plus the CPU seconds it used (Ansible and its workers) and the lab's servers used meanwhile."""
    before, before_lab = os.times(), lab_cpu_s(lab)
    out = playbook(lab, *args, **kwargs)
    after = os.times()
    ansible = after.children_user - before.children_user + after.children_system - before.children_system
    return out, round(ansible, 1), round(lab_cpu_s(lab) - before_lab, 1)


def rss_by_component(lab):
    """Mean RSS (MiB) per component over the clusters: {'etcd': .., 'apiserver': .., 'kcm': ..}."""
    per = {}
    for p in lab.running():
        if p["cluster"]:
            per.setdefault(p["name"][len(p["cluster"]) + 1:], []).append(rss_mib(p["pid"]))
    return {k: round(sum(v) / len(v)) for k, v in sorted(per.items())}


def light_lab(work, name, n, figures, key):
    """A light lab of n clusters with CRDs and the namespace the link role expects (the ambient role makes it);
    records its start time under key. None when it did not come up (the reason and how far it got recorded)."""
    lab = Lab(work / name)
    start = time.monotonic()
    try:
        lab.up(n, crds=True, light=True, timeout=900)
    except (LabError, subprocess.CalledProcessError) as e:
        figures[key + "_error"] = str(e)[-400:]
        figures[key + "_api_servers_up"] = len([p for p in lab.running() if p["name"].endswith("-apiserver")])
        figures[key + "_failed_after_s"] = round(time.monotonic() - start, 1)
        lab.down(remove=True)
        return None
    figures[key + "_up_s"] = round(time.monotonic() - start, 1)
    names = ["cluster%d" % i for i in range(1, n + 1)]
    ns = "".join("---\napiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n" % x for x in ("istio-gateways",))
    for c in names:
        lab.kubectl(c, "apply", "-f", "-", input=ns)
    return lab


def growth(t, sizes, what):
    """How a step's time t {N: s} grows: per cluster, per peer link, per added cluster, and the exponent."""
    out = {}
    for n in sizes:
        out["%s_%d_per_cluster_s" % (what, n)] = round(t[n] / n, 2)
        out["%s_%d_per_peer_link_s" % (what, n)] = round(t[n] / (n * (n - 1)), 3)
    for a, b in zip(sizes, sizes[1:]):
        out["%s_marginal_%d_to_%d_s_per_cluster" % (what, a, b)] = round((t[b] - t[a]) / (b - a), 2)
    if len(sizes) > 1:
        a, b = sizes[0], sizes[-1]
        # t ~ N^k: k = 1 linear in clusters, 2 linear in peer links
        out["%s_exponent_%d_to_%d" % (what, a, b)] = round(math.log(t[b] / t[a]) / math.log(b / a), 2)
    return out


def bench_scale(work, figures):
    sizes = [int(x) for x in os.environ.get("BENCH_SCALE_SIZES", "2 8 16 32").split()]
    done, t_trust, t_link = [], {}, {}
    for n in sizes:
        key = "scale_%d" % n
        figures[key + "_load_before"] = loadavg()
        lab = light_lab(work, "scale%d" % n, n, figures, key)
        if lab is None:
            break
        try:
            names = ["cluster%d" % i for i in range(1, n + 1)]
            inv = lab_inventory(work / ("scale%d.yml" % n), names, eastwest(names))
            forks = str(max(n, 5))
            secs, changed, tasks, _ = playbook(lab, inv, REPO / "playbooks" / "trust.yml", "--forks", forks)
            t_trust[n] = secs
            figures[key + "_trust_s"] = round(secs, 1)
            figures[key + "_trust_changed"] = changed
            idle = lab_cpu_s(lab)
            time.sleep(10)
            # what the lab's servers burn doing nothing, of the 2 cores the link step shares with them
            figures[key + "_idle_server_cores"] = round((lab_cpu_s(lab) - idle) / 10, 2)
            (secs, changed, tasks, _), ansible_cpu, server_cpu = playbook_cpu(
                lab, inv, REPO / "playbooks" / "link.yml", "--forks", forks)
            t_link[n] = secs
            figures[key + "_link_s"] = round(secs, 1)
            figures[key + "_link_changed"] = changed
            figures[key + "_link_ansible_cpu_s"] = ansible_cpu
            figures[key + "_link_server_cpu_s"] = server_cpu
            # the objects a cluster holds afterwards: its own and one per peer
            figures[key + "_link_objects_cluster1"] = len(lab.kubectl(
                "cluster1", "get", "gateways.gateway.networking.k8s.io,secrets,configmaps", "-A", "-o", "name",
                "-l", "app.kubernetes.io/managed-by=ambientmesh.multicluster").stdout.split())
            secs, changed, tasks, _ = playbook(lab, inv, REPO / "playbooks" / "link.yml", "--forks", forks)
            figures[key + "_link_noop_s"] = round(secs, 1)
            figures[key + "_link_noop_changed"] = changed
            time.sleep(5)
            figures[key + "_rss_per_cluster_mib"] = round(rss_per_cluster(lab))
            figures[key + "_rss_by_component_mib"] = rss_by_component(lab)
            figures[key + "_load_after"] = loadavg()
            if n == sizes[0]:
                # the remote_secret method (upstream) on the same light lab: needs the token controller
                secs, changed, _, _ = playbook(lab, inv, REPO / "playbooks" / "link.yml", "--forks", forks,
                                               "-e", "mesh_distribution=upstream")
                figures[key + "_link_upstream_s"] = round(secs, 1)
                figures[key + "_link_upstream_changed"] = changed
            done.append(n)
        finally:
            lab.down(remove=True)
    base = done[0] if done else None
    for n in done:
        figures["scale_%d_trust_over_t%d" % (n, base)] = round(t_trust[n] / t_trust[base], 2)
        figures["scale_%d_link_over_t%d" % (n, base)] = round(t_link[n] / t_link[base], 2)
    if done:
        figures.update(growth(t_trust, done, "scale_trust"))
        figures.update(growth(t_link, done, "scale_link"))


UNLINK = [{"name": "unlink", "hosts": "mesh", "gather_facts": False,
           "module_defaults": {"group/ambientmesh.multicluster.k8s": {
               "context": "{{ kube_context | default(omit) }}", "kubeconfig": "{{ kubeconfig_path | default(omit) }}"}},
           "tasks": [{"name": "Unlink", "ansible.builtin.include_role": {
               "name": "ambientmesh.multicluster.link", "tasks_from": "teardown"}}]}]


def accel_variants():
    variants = [("default", {}), ("pipelining", {"ANSIBLE_PIPELINING": "True"}),
                ("free", {"ANSIBLE_STRATEGY": "free"})]
    mitogen = os.environ.get("BENCH_MITOGEN")
    if mitogen:
        variants.append(("mitogen", {
            "ANSIBLE_STRATEGY": "mitogen_linear",
            "ANSIBLE_STRATEGY_PLUGINS": str(Path(mitogen) / "ansible_mitogen" / "plugins" / "strategy"),
            "PYTHONPATH": os.pathsep.join([mitogen] + [p for p in [os.environ.get("PYTHONPATH")] if p])}))
    return variants + [("default_again", {})]


def accel_run(figures, prefix, variants, run):
    """run(env) -> (seconds, stdout) for each variant; ratios to the default and a recap check."""
    base = None
    rounds = int(os.environ.get("BENCH_ACCEL_ROUNDS", "1"))
    for r in range(rounds):
        if r:  # later rounds: their own keys, ratios still to the first default
            variants_r = [("%s_r%d" % (name, r + 1), env) for name, env in variants]
        else:
            variants_r = variants
        base = _accel_round(figures, prefix, variants_r, run, base)


def _accel_round(figures, prefix, variants, run, base):
    for name, env in variants:
        try:
            secs, out = run(env)
        except SystemExit as e:  # a variant that breaks the run is a result, not the end of the benchmark
            text = str(e)
            failed = re.findall(r"^(?:fatal|failed): .*$", text, re.M)
            figures["%s_%s_error" % (prefix, name)] = [f[:400] for f in failed[:2]] + [text[-300:]]
            continue
        rc = recap(out)
        figures["%s_%s_s" % (prefix, name)] = round(secs, 1)
        figures["%s_%s_changed" % (prefix, name)] = sum(h.get("changed", 0) for h in rc.values())
        if base is None:
            base = (secs, rc)
        else:
            figures["%s_%s_ratio" % (prefix, name)] = round(secs / base[0], 2)
            figures["%s_%s_recap_matches" % (prefix, name)] = rc == base[1]
            if rc != base[1]:
                figures["%s_%s_recap" % (prefix, name)] = rc
                figures["%s_default_recap" % prefix] = base[1]
    return base


def bench_accel(work, figures):
    variants = accel_variants()
    parts = os.environ.get("BENCH_ACCEL_PARTS", "site link").split()
    figures["accel_variants"] = [name for name, _ in variants]
    figures["accel_load_before"] = loadavg()
    if "site" in parts:
        _accel_site(work, figures, variants)
    figures["accel_load_mid"] = loadavg()
    if "link" in parts:
        _accel_link(work, figures, variants)
    figures["accel_load_after"] = loadavg()


def _accel_site(work, figures, variants):
    with ingress_lab(work, "accel") as (lab, inv):
        playbook(lab, inv, REPO / "site.yml")

        def site(env):
            secs, _, _, out = playbook(lab, inv, REPO / "site.yml", "--skip-tags", "verify", env=env)
            return secs, out

        accel_run(figures, "accel_site_noop", variants, site)


def _accel_link(work, figures, variants):
    lab = light_lab(work, "accel-link", 8, figures, "accel_lab8")
    if lab is None:
        return
    try:
        names = ["cluster%d" % i for i in range(1, 9)]
        inv = lab_inventory(work / "accel-link.yml", names, eastwest(names))
        unlink = work / "unlink.yml"
        unlink.write_text(yaml.safe_dump(UNLINK))
        book = REPO / "playbooks" / "link.yml"
        playbook(lab, inv, REPO / "playbooks" / "trust.yml", "--forks", "8")
        playbook(lab, inv, book, "--forks", "8")  # first run: API discovery caches

        def link_cold(env):
            playbook(lab, inv, unlink, "--forks", "8")
            secs, _, _, out = playbook(lab, inv, book, "--forks", "8", env=env)
            return secs, out

        def link_noop(env):
            secs, _, _, out = playbook(lab, inv, book, "--forks", "8", env=env)
            return secs, out

        accel_run(figures, "accel_link8", variants, link_cold)
        accel_run(figures, "accel_link8_noop", variants, link_noop)
    finally:
        lab.down(remove=True)


BENCHES = {"lab": bench_lab_start, "floor": bench_task_floor, "site": bench_site, "link": bench_link,
           "awx": bench_awx, "scale": bench_scale, "accel": bench_accel}


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
