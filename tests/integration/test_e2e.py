"""End to end on the local lab: site.yml (trust → ambient → link → apps → ingress → verify) against two clusters,
real failover through the lab's Envoy, a no-op rerun, then teardown twice; for the guide's Solo + Gloo Gateway,
upstream Istio + kgateway, and Solo + kgateway. One pair runs as AWX runs it: jobs through ansible-runner on an
AWX-style private data directory with the kubeconfig credential of docs/awx.md (tests/integration/awx_job.py)."""

import json
import shutil
from pathlib import Path

import pytest
import yaml

from lab import charts as lab_charts
from lab import cluster as lab_cluster

from awx_job import PrivateDataDir

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def lab2(tmp_path_factory):
    """Its own two clusters with the lab controller and Envoy on 127.0.0.1:8080 (the `lab` fixture has three).
    One lab per test: after a kgateway pair's teardown, the next pair's install found the lab's Envoy not
    listening (connection refused on 8080; seen only upstream+kgateway then Solo+kgateway, not yet explained),
    so each pair starts from new clusters and a new Envoy and no pair depends on another's teardown."""
    the_lab = lab_cluster.Lab(tmp_path_factory.mktemp("e2e-lab"))
    try:
        the_lab.up(2, crds=True)
        the_lab.start_ingress()
        yield the_lab
    finally:
        the_lab.down()


@pytest.fixture
def inventory(lab2, tmp_path_factory):
    """inventory/lab as shipped, with the CA and reports in a temporary folder and this lab's kubeconfig."""
    work = tmp_path_factory.mktemp("e2e-inv")
    inv = work / "lab"
    shutil.copytree(REPO / "inventory" / "lab", inv)
    gv = yaml.safe_load((inv / "group_vars" / "mesh.yml").read_text())
    gv.update({"kubeconfig_path": str(lab2.kubeconfig), "trust_root_dir": str(work / "ca"),
               "verify_reports_dir": str(work / "reports"),
               # Istio's real charts; Gloo's stay stand-ins (no real chart can be had here)
               "gateway_chart_source": str(REPO / "tests" / "charts" / "gloo")})
    gv.update(lab_charts.ambient_vars())
    (inv / "group_vars" / "mesh.yml").write_text(yaml.safe_dump(gv))
    return inv


def group_vars_of(inventory):
    return yaml.safe_load((inventory / "group_vars" / "mesh.yml").read_text())


def _drill(reports_dir):
    reports = sorted(Path(reports_dir).glob("*.json"))
    assert reports, "verify wrote no JSON report in %s" % reports_dir
    assert list(Path(reports_dir).glob("*.md")) and list(Path(reports_dir).glob("*.png"))
    data = json.loads(reports[-1].read_text())
    return data


def _find(obj, key):
    """First value under `key` anywhere in a JSON document."""
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        for v in obj.values():
            found = _find(v, key)
            if found is not None:
                return found
    elif isinstance(obj, list):
        for v in obj:
            found = _find(v, key)
            if found is not None:
                return found
    return None


# (distribution, gateway product): the guide's pair, then the others the collection supports
PAIRS = [("solo", "gloo-gateway"), ("upstream", "kgateway"), ("solo", "kgateway")]
AWX_PAIR = ("upstream", "kgateway")  # runs its jobs through ansible-runner, as an AWX job template would
INSTALLER_PAIR = ("solo", "kgateway")  # runs as a ServiceAccount bound only to the installer ClusterRole
INSTALLER = {"kind": "ServiceAccount", "name": "installer", "namespace": "automation"}


def as_installer(lab, inventory, admin_run):
    """A ServiceAccount per cluster bound to the installer ClusterRole (playbooks/rbac.yml, run as admin), and a copy
    of the inventory whose kubeconfig holds only its tokens, under the same context names."""
    config = yaml.safe_load(Path(lab.kubeconfig).read_text())
    for c in ("cluster1", "cluster2"):
        lab.kubectl(c, "create", "namespace", INSTALLER["namespace"])
        lab.kubectl(c, "create", "serviceaccount", INSTALLER["name"], "-n", INSTALLER["namespace"])
    granted = admin_run(REPO / "playbooks" / "rbac.yml", inventory, extra={"rbac_subjects": [INSTALLER]})
    assert granted.rc == 0 and granted.changed == 4, granted
    users = []
    for ctx in config["contexts"]:
        token = lab.kubectl(ctx["name"], "create", "token", INSTALLER["name"], "-n", INSTALLER["namespace"],
                            "--duration=2h").stdout.strip()
        users.append({"name": "installer-" + ctx["name"], "user": {"token": token}})
        ctx["context"]["user"] = "installer-" + ctx["name"]
    config["users"] = users
    installer = inventory.parent / "installer"
    shutil.copytree(inventory, installer)
    (installer / "kubeconfig").write_text(yaml.safe_dump(config))
    gv = yaml.safe_load((installer / "group_vars" / "mesh.yml").read_text())
    gv["kubeconfig_path"] = str(installer / "kubeconfig")
    (installer / "group_vars" / "mesh.yml").write_text(yaml.safe_dump(gv))
    return installer


def awx_data_dir(root, inventory, kubeconfig, extravars=None, envvars=None):
    """An AWX job's private data directory for the e2e inventory: its hosts and group vars as AWX's inventory,
    the kubeconfig as the credential of docs/awx.md (so no kubeconfig_path in the inventory)."""
    hosts = yaml.safe_load((inventory / "hosts.yml").read_text())
    group_vars = yaml.safe_load((inventory / "group_vars" / "mesh.yml").read_text())
    group_vars.pop("kubeconfig_path")
    hosts["mesh"]["vars"] = group_vars
    return PrivateDataDir(root, hosts, Path(kubeconfig).read_text(), extravars, envvars)


def kubeconfig_secrets(kubeconfig):
    """The credential values in a kubeconfig (tokens, client keys): none may show in any job output."""
    users = yaml.safe_load(Path(kubeconfig).read_text()).get("users") or []
    return [v for u in users for k, v in (u.get("user") or {}).items()
            if k in ("token", "client-key-data", "password") and v]


def assert_no_secret(job, kubeconfig):
    text = job.text()
    for secret in kubeconfig_secrets(kubeconfig) + ["PRIVATE " + "KEY", "lab-license-not-checked"]:
        assert secret not in text, "a secret is in the job's artifacts (%s...)" % secret[:6]


@pytest.mark.parametrize("distribution,product", PAIRS, ids=["-".join(p) for p in PAIRS])
def test_site_verify_rerun_teardown(distribution, product, lab2, inventory, playbook_for):
    admin = playbook_for(str(lab2.kubeconfig))
    base = admin
    pair = {"mesh_distribution": distribution, "mesh_gateway_product": product}

    def run_playbook(book, inv, check=False, timeout=900, extra=None):
        return base(book, inv, extra_vars=dict(pair, **(extra or {})), check=check, timeout=timeout)

    kubectl = lab2.kubectl
    if (distribution, product) == INSTALLER_PAIR:
        # everything below, site and teardown, runs with only the installer ClusterRole: a missing rule fails here
        inventory = as_installer(lab2, inventory, run_playbook)
        base = playbook_for(str(inventory / "kubeconfig"))
        # one verb taken away in cluster2: the first preflight names it and nothing is written
        rules = json.loads(kubectl("cluster2", "get", "clusterrole", "ambientmesh-installer", "-o", "json").stdout)["rules"]
        for rule in rules:
            if rule["resources"] == ["clusterroles", "roles"]:
                rule["verbs"].remove("escalate")
        kubectl("cluster2", "patch", "clusterrole", "ambientmesh-installer", "--type=merge",
                "-p", json.dumps({"rules": rules}))
        denied = run_playbook(REPO / "site.yml", inventory)
        assert denied.rc != 0, denied
        assert "1 cluster would refuse what the steps (trust, ambient, link, apps, ingress, verify) need, nothing was " \
               "changed: - cluster2: the credential of context cluster2 may not escalate " \
               "clusterroles.rbac.authorization.k8s.io (ambient), escalate roles.rbac.authorization.k8s.io (ambient): " \
               "grant it the installer ClusterRole" in " ".join(denied.stdout.replace("\\n", " ").split()), denied
        assert all(st["ok"] == 0 and st["changed"] == 0 for st in denied.stats.values()), denied.stats
        assert not Path(group_vars_of(inventory)["trust_root_dir"]).exists()
        regrant = admin(REPO / "playbooks" / "rbac.yml", inventory.parent / "lab",
                        extra_vars={"rbac_subjects": [INSTALLER]})
        assert regrant.rc == 0 and regrant.changed == 1, regrant
    group_vars = group_vars_of(inventory)
    # the guide's pair gets every check; the others (same playbooks, other table entries) the real run and
    # teardown, the AWX pair also the no-op rerun (Solo's install and kgateway's each get theirs in one of the
    # two pairs that rerun), to keep CI's time
    full = (distribution, product) == PAIRS[0]
    for old in Path(group_vars["verify_reports_dir"]).glob("*"):
        old.unlink()

    if full:
        # A dry run on empty clusters says what would change, warns about what earlier steps would create, and
        # leaves no trace: no namespace, no release, no CA on disk, no report.
        dry = run_playbook(REPO / "site.yml", inventory, check=True, timeout=1800)
        assert dry.rc == 0, dry
        assert dry.changed > 0, dry
        for c in ("cluster1", "cluster2"):
            namespaces = kubectl(c, "get", "namespaces", "-o", "name").stdout.split()
            assert not set(namespaces) & {"namespace/istio-system", "namespace/bookinfo", "namespace/gloo-system"}
            assert kubectl(c, "get", "secrets", "-A", "-l", "owner=helm", "-o", "name").stdout.split() == []
        assert not Path(group_vars["trust_root_dir"]).exists()
        assert not Path(group_vars["verify_reports_dir"]).exists()

    awx = (distribution, product) == AWX_PAIR
    if awx:
        pdd = awx_data_dir(inventory.parent / "awx", inventory, lab2.kubeconfig, extravars=pair)
        job = pdd.run("site.yml", "site")
        assert (job.status, job.rc, job.failed_hosts) == ("successful", 0, []), job
        assert set(job.stats["ok"]) == {"cluster1", "cluster2"} and job.changed > 0, job.stats
        assert_no_secret(job, lab2.kubeconfig)
        print("AWX site job: %.1f s, %d events, artifacts %d bytes" % (job.seconds, len(job.events), job.size()))
        # the scheduled drill: verify.yml as a job of its own, its report kept as an artifact
        drill_job = pdd.run("playbooks/verify.yml", "verify")
        assert (drill_job.status, drill_job.rc, drill_job.changed) == ("successful", 0, 0), drill_job
        verdict = drill_job.stats["artifact_data"]["ambientmesh_verify"]
        assert verdict["passed"] is True and verdict["problems"] == [], verdict
        assert Path(verdict["files"]["json"]).parent == Path(group_vars["verify_reports_dir"]), verdict
        assert_no_secret(drill_job, lab2.kubeconfig)
    else:
        site = run_playbook(REPO / "site.yml", inventory, timeout=1800)
        assert site.rc == 0, site
        assert set(site.stats) == {"cluster1", "cluster2"}

    report = _drill(Path(group_vars["verify_reports_dir"]))
    assert report["passed"] is True and report["problems"] == [], report["problems"]
    assert {c: f["healthy"] for c, f in report["clusters"].items()} == {"cluster1": True, "cluster2": True}
    assert {c: f["distribution"] for c, f in report["clusters"].items()} == dict.fromkeys(("cluster1", "cluster2"),
                                                                                          distribution)
    route = json.loads(kubectl("cluster1", "get", "httproute", "productpage", "-n", "gloo-system", "-o",
                               "json").stdout)
    backend = route["spec"]["rules"][0]["backendRefs"][0]
    # upstream: kgateway resolves no Hostname for a Service's own name, so the route names the Service
    assert (backend.get("kind", "Service"), backend["name"]) == (
        ("Hostname", "productpage.bookinfo.mesh.internal") if distribution == "solo" else ("Service", "productpage"))
    drill = _find(report, "drill")
    assert drill, "no drill in the report"
    text = json.dumps(drill)
    # While productpage-v1 is at 0 in cluster1, cluster2 answers; the thresholds of the lab inventory hold.
    assert "cluster2" in text and "cluster1" in text
    overall = _find(drill, "overall") or drill
    assert overall["success_ratio"] >= 0.99, overall
    recovery = overall.get("recovery_seconds")
    assert recovery is None or recovery <= 10, overall
    replicas = json.loads(lab2.kubectl("cluster1", "get", "deploy", "productpage-v1", "-n", "bookinfo",
                                       "-o", "json").stdout)["spec"]["replicas"]
    assert replicas == 1, "the drill restored productpage-v1"

    if awx:
        again = pdd.run("site.yml", "site-again")
        assert (again.status, again.rc) == ("successful", 0), again
        assert again.changed == 0, again.changed_tasks()
    elif full:
        again = run_playbook(REPO / "site.yml", inventory, timeout=1800)
        assert again.rc == 0, again
        assert again.changed == 0, again.changed_tasks
    if full:
        converged = run_playbook(REPO / "site.yml", inventory, check=True, timeout=1800)
        assert converged.rc == 0, converged
        assert converged.changed == 0, converged.changed_tasks

    down = run_playbook(REPO / "playbooks" / "teardown.yml", inventory)
    assert down.rc == 0, down
    for c in ("cluster1", "cluster2"):
        assert kubectl(c, "get", "secret", "cacerts", "-n", "istio-system", check=False).returncode != 0
        # istio-system stays (others may share it), without the labels the collection put on it
        labels = json.loads(kubectl(c, "get", "namespace", "istio-system", "-o", "json").stdout)["metadata"]["labels"]
        assert not {"topology.istio.io/network", "app.kubernetes.io/managed-by"} & set(labels), labels
        releases = kubectl(c, "get", "secrets", "-A", "-l", "owner=helm", "-o", "name").stdout.split()
        assert releases == [], releases
        gws = json.loads(kubectl(c, "get", "gateways.gateway.networking.k8s.io", "-A", "-o", "json").stdout)["items"]
        assert [g["metadata"]["name"] for g in gws] == []
        routes = kubectl(c, "get", "httproutes", "-A", "-o", "name").stdout.split()
        assert routes == []
        for label in ("solo.io/service-scope", "istio.io/global"):
            svc = kubectl(c, "get", "services", "-A", "-l", label, "-o", "name").stdout.split()
            assert svc == [], (label, svc)
        assert kubectl(c, "get", "referencegrants", "-A", "-o", "name").stdout.split() == []
    if full:
        down2 = run_playbook(REPO / "playbooks" / "teardown.yml", inventory)
        assert down2.rc == 0, down2
        assert down2.changed == 0, down2.changed_tasks


def test_awx_bearer_token_credential_fails_fast_and_touches_no_cluster(lab2, inventory, tmp_path):
    """AWX's built-in Kubernetes bearer-token credential sets K8S_AUTH_HOST/K8S_AUTH_API_KEY, which kubernetes.core
    lets override every task's context: the job fails in the preflight with docs/awx.md's message."""
    def state():
        return [lab2.kubectl(c, "get", "namespaces,secrets,configmaps", "-A", "-o", "name").stdout
                for c in ("cluster1", "cluster2")]

    before = state()
    pdd = awx_data_dir(tmp_path / "awx", inventory, lab2.kubeconfig, envvars={
        "K8S_AUTH_HOST": "https://127.0.0.1:6443", "K8S_AUTH_API_KEY": "bearer-t0ken", "K8S_AUTH_VERIFY_SSL": "no"})
    job = pdd.run("site.yml", "bearer")
    assert (job.status, job.rc) == ("failed", 2), job
    assert "K8S_AUTH_HOST is set in the environment" in job.stdout, job
    documented = " ".join(line.lstrip("> ") for line in (REPO / "docs" / "awx.md").read_text().splitlines())
    assert "remove the Kubernetes bearer-token credential" in " ".join(documented.split())
    ran = [e["event_data"].get("task") for e in job.events if e.get("event") in ("runner_on_ok", "runner_on_failed")]
    assert set(ran) == {"Preflight: every cluster's identity, checked together before anything is written"}, ran
    assert "bearer-t0ken" not in job.text()
    assert state() == before
