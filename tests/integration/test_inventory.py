"""The inventory preflight on real API servers: a bad inventory fails every step's playbook before its first
write, naming the host, the variable and the fix; nothing on any cluster or on the controller's disk changes."""

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PLAYS = REPO / "playbooks"


def snapshot(kubectl, clusters):
    """What any step would write first: namespaces, Helm releases, everything in istio-system, by version."""
    out = {}
    for c in clusters:
        res = kubectl(c, "get", "namespaces,secrets,configmaps", "-A", "-o",
                      "jsonpath={range .items[*]}{.kind}/{.metadata.namespace}/{.metadata.name}="
                      "{.metadata.resourceVersion}{'\\n'}{end}")
        out[c] = sorted(line for line in res.stdout.splitlines() if "kube-root-ca.crt" not in line)
    return out


def edit(path, host=None, drop=(), **values):
    """Change one host's variables (or the group's when host is None) in an inventory written by make_inventory."""
    inv = yaml.safe_load(path.read_text())
    target = inv["mesh"]["hosts"][host] if host else inv["mesh"]["vars"]
    for key in drop:
        target.pop(key, None)
    target.update(values)
    path.write_text(yaml.safe_dump(inv))
    return path


# case: (playbook, how the inventory is broken, environment, what the message must say)
CASES = {
    "no-context": ("trust.yml", dict(host="cluster2", drop=["kube_context"]), {},
                   "cluster2: kube_context is not set; with 2 clusters in the inventory every host must name its own "
                   "context"),
    "empty-context": ("trust.yml", dict(host="cluster2", kube_context=""), {},
                      "cluster2: kube_context is empty"),
    "misspelt-context": ("trust.yml", dict(host="cluster2", kube_context="clsuter2"), {},
                         "cluster2: kube_context=clsuter2 is not a context of"),
    "same-cluster-twice": ("trust.yml", dict(host="cluster2", kube_context="cluster1"), {},
                           "cluster1 and cluster2 reach the same API server https://127.0.0.1:"),
    "uppercase-network": ("ambient.yml", dict(host="cluster2", mesh_network="Network2"), {},
                          "cluster2: mesh_network='Network2' is not a valid network name"),
    "underscore-network": ("trust.yml", dict(host="cluster2", mesh_network="net_2"), {},
                           "cluster2: mesh_network='net_2' is not a valid network name"),
    "shared-network": ("link.yml", dict(host="cluster2", mesh_network="network-cluster1"), {},
                       "cluster1 and cluster2 have the same mesh_network network-cluster1"),
    "awx-bearer-token": ("trust.yml", {}, {"K8S_AUTH_HOST": "https://127.0.0.1:1", "K8S_AUTH_API_KEY": "t0ken"},
                         "cluster1: kube_context=cluster1 was given but K8S_AUTH_HOST is set in the environment"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_inventory_changes_nothing_anywhere(case, make_inventory, run_playbook, kubectl, cluster_names,
                                                  tmp_path):
    book, broken, env, expected = CASES[case]
    clusters = cluster_names[:2]
    inventory = edit(make_inventory(clusters), **broken)
    ca_dir = tmp_path / "ca"
    before = snapshot(kubectl, clusters)
    res = run_playbook(PLAYS / book, inventory, extra_vars={"trust_root_dir": str(ca_dir)}, env=env)
    assert res.rc != 0, res
    assert expected in res.stdout, res
    assert "nothing was changed" in res.stdout
    # the preflight is the first task: no other task ran, on any host
    assert all(s["ok"] == 0 and s["changed"] == 0 for s in res.stats.values()), res.stats
    assert not ca_dir.exists(), "the root CA was written before the inventory was checked"
    assert snapshot(kubectl, clusters) == before
    assert "t0ken" not in res.stdout + res.stderr


def test_site_stops_at_the_first_preflight(make_inventory, run_playbook, kubectl, cluster_names, tmp_path):
    """site.yml runs the steps' preflights in turn; the first one stops the whole run."""
    clusters = cluster_names[:2]
    inventory = edit(make_inventory(clusters), host="cluster1", mesh_network="net work")
    before = snapshot(kubectl, clusters)
    res = run_playbook(REPO / "site.yml", inventory, extra_vars={"trust_root_dir": str(tmp_path / "ca")})
    assert res.rc != 0 and "cluster1: mesh_network='net work' is not a valid network name" in res.stdout, res
    assert res.stdout.count("TASK [Preflight") == 1, res
    assert snapshot(kubectl, clusters) == before


@pytest.mark.parametrize("server", ["stalled", "refusing"])
def test_an_api_server_that_never_answers_fails_the_preflight_naming_it(server, make_inventory, run_playbook,
                                                                        kubectl, cluster_names, lab, tmp_path):
    """An API server that accepts connections and never answers held trust.yml for good (kubernetes.core sets no
    timeout); the preflight asks every server first, with a bound, and names the one that does not answer."""
    import socket

    clusters = cluster_names[:2]
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    if server == "stalled":
        listener.listen(8)  # the kernel completes the handshake; nobody ever reads or answers
    port = listener.getsockname()[1]
    try:
        config = yaml.safe_load(Path(lab.kubeconfig).read_text())
        cluster_of = {c["name"]: c["context"]["cluster"] for c in config["contexts"]}
        for entry in config["clusters"]:
            if entry["name"] == cluster_of["cluster2"]:
                entry["cluster"]["server"] = "https://127.0.0.1:%d" % port
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump(config))
        inventory = edit(make_inventory(clusters), kubeconfig_path=str(kubeconfig), mesh_api_timeout=3)
        before = snapshot(kubectl, clusters)
        res = run_playbook(PLAYS / "trust.yml", inventory, extra_vars={"trust_root_dir": str(tmp_path / "ca")},
                           timeout=120)
    finally:
        listener.close()
    assert res.rc != 0, res
    why = "did not answer within 3 s" if server == "stalled" else "cannot be reached ("
    assert "1 API server did not answer, nothing was changed" in res.stdout, res
    assert "cluster2: the API server https://127.0.0.1:%d (context cluster2) %s" % (port, why) in res.stdout, res
    assert "cluster1: the API server" not in res.stdout
    assert all(s["ok"] == 0 and s["changed"] == 0 for s in res.stats.values()), res.stats
    assert not (tmp_path / "ca").exists() and snapshot(kubectl, clusters) == before


def test_an_api_server_that_stalls_mid_run_fails_its_tasks_within_the_budget_and_a_rerun_converges(
        make_inventory, run_playbook, kubectl, cluster_names, lab, tmp_path):
    """The preflight found cluster2's API server answering; it stops (SIGSTOP) once the root CA is on disk, so
    cluster2's next task waits on a server that never answers. The play's per-task budget ends that task, naming
    the host, instead of holding the run for good; cluster1 finishes, and a rerun after the server is back
    converges."""
    import os
    import signal
    import threading
    import time

    clusters = cluster_names[:2]
    inventory = edit(make_inventory(clusters), mesh_task_timeout=20)
    ca = tmp_path / "ca"
    server = [p["pid"] for p in lab.load()["processes"]
              if p.get("cluster") == "cluster2" and p["argv0"].endswith("kube-apiserver")]
    assert len(server) == 1, server
    done = threading.Event()

    def stall_when_the_root_exists():
        while not done.is_set():
            if (ca / "root-cert.pem").exists():
                os.kill(server[0], signal.SIGSTOP)
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=stall_when_the_root_exists)
    watcher.start()
    try:
        res = run_playbook(PLAYS / "trust.yml", inventory, extra_vars={"trust_root_dir": str(ca)}, timeout=300)
    finally:
        done.set()
        watcher.join()
        os.kill(server[0], signal.SIGCONT)
    assert res.rc != 0, res
    assert res.stats["cluster2"]["failed"] == 1 and res.stats["cluster1"]["failed"] == 0, res.stats
    assert "fatal: [cluster2]" in res.stdout and "Timed out after 20 second(s)" in res.stdout, res
    try:
        again = run_playbook(PLAYS / "trust.yml", inventory, extra_vars={"trust_root_dir": str(ca)})
        assert again.rc == 0 and again.stats["cluster2"]["changed"] >= 1, again
        settled = run_playbook(PLAYS / "trust.yml", inventory, extra_vars={"trust_root_dir": str(ca)})
        assert settled.rc == 0 and settled.changed == 0, settled.changed_tasks
    finally:
        down = run_playbook(REPO / "tests" / "integration" / "playbooks" / "trust" / "teardown.yml", inventory)
        assert down.rc == 0, down
