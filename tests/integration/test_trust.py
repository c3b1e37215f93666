"""Role trust and modules root_ca/cacerts against real API servers: one root, one intermediate per cluster."""

import base64
import datetime
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / ".collections"))

from ansible_collections.ambientmesh.multicluster.plugins.module_utils import trust_pki as pki  # noqa: E402

PLAYBOOK = REPO / "playbooks" / "trust.yml"
TEARDOWN = REPO / "tests" / "integration" / "playbooks" / "trust" / "teardown.yml"
MANAGED = {"app.kubernetes.io/managed-by": "ambientmesh.multicluster"}
# A private key in PEM, or base64 of one (Secret data), anywhere in the output is a leak.
_KEY = "PRIVATE " + "KEY"  # assembled, so no key marker sits in the repository
LEAKS = (_KEY, base64.b64encode(("-----BEGIN " + _KEY).encode()).decode()[:20],
         base64.b64encode(("-----BEGIN RSA " + _KEY).encode()).decode()[:20])


def read_secret(kubectl, cluster, namespace, name="cacerts"):
    out = kubectl(cluster, "get", "secret", name, "-n", namespace, "-o", "json", check=False)
    if out.returncode != 0:
        assert "NotFound" in out.stderr, out.stderr
        return None
    secret = json.loads(out.stdout)
    secret["pem"] = dict((k, base64.b64decode(v)) for k, v in (secret.get("data") or {}).items())
    return secret


def reset_namespace(kubectl, clusters, namespace):
    for cluster in clusters:
        kubectl(cluster, "delete", "namespace", namespace, "--ignore-not-found", "--wait=true", "--timeout=90s")


def fast_trust(kubectl, cluster_names, make_inventory, run_playbook, home, namespace, **group_vars):
    """The role run once into a fresh namespace with ECDSA keys (quick); returns (inventory, env)."""
    reset_namespace(kubectl, cluster_names, namespace)
    gv = {"trust_namespace": namespace, "trust_root_key_type": "ecdsa", "trust_intermediate_key_type": "ecdsa"}
    gv.update(group_vars)
    inv = make_inventory(cluster_names, group_vars=gv)
    env = {"HOME": str(home)}
    first = run_playbook(PLAYBOOK, inv, env=env)
    assert first.rc == 0, first
    return inv, env


def openssl_verify(tmp_path, root_pem, cert_pem):
    (tmp_path / "verify-root.pem").write_bytes(root_pem)
    (tmp_path / "verify-cert.pem").write_bytes(cert_pem)
    return subprocess.run(["openssl", "verify", "-x509_strict", "-CAfile", str(tmp_path / "verify-root.pem"),
                           str(tmp_path / "verify-cert.pem")], capture_output=True, text=True, check=False)


def assert_no_key_material(result):
    text = result.stdout + result.stderr
    for leak in LEAKS:
        assert leak not in text, "key material (%s) in ansible-playbook output" % leak


def assert_intermediate(tmp_path, secret, root_pem, cluster):
    """The Secret holds an intermediate for cluster that verifies to root_pem (cryptography and openssl)."""
    root = x509.load_pem_x509_certificate(root_pem)
    ca = x509.load_pem_x509_certificate(secret["pem"]["ca-cert.pem"])
    ca.verify_directly_issued_by(root)
    assert ca.subject.get_attributes_for_oid(NameOID.LOCALITY_NAME)[0].value == cluster
    assert x509.BasicConstraints(ca=True, path_length=0) == ca.extensions.get_extension_for_class(
        x509.BasicConstraints).value
    assert secret["pem"]["root-cert.pem"] == root_pem
    assert secret["pem"]["cert-chain.pem"] == secret["pem"]["ca-cert.pem"] + root_pem
    verified = openssl_verify(tmp_path, root_pem, secret["pem"]["ca-cert.pem"])
    assert verified.returncode == 0 and verified.stdout.strip().endswith(": OK"), verified.stdout + verified.stderr
    return ca


def make_foreign_secret(namespace, cluster, root=None, days=3650):
    """A cacerts Secret as `kubectl create secret generic` would make it, without our label."""
    if root is None:
        root_key = pki.generate_key("ecdsa")
        root = (pki.build_root(root_key, {"CN": "Foreign Root"}, 3650, pki.utcnow()), root_key)
    key = pki.generate_key("ecdsa")
    now = pki.utcnow() - datetime.timedelta(days=1)
    ca = pki.build_intermediate(key, root[0], root[1], {"CN": "Intermediate CA", "L": cluster}, days, [], now)
    values = {"ca-cert.pem": pki.cert_pem(ca), "ca-key.pem": pki.key_pem(key),
              "root-cert.pem": pki.cert_pem(root[0]), "cert-chain.pem": pki.cert_pem(ca) + pki.cert_pem(root[0])}
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": "cacerts", "namespace": namespace},
            "data": dict((k, base64.b64encode(v).decode()) for k, v in values.items())}


def apply(kubectl, cluster, *docs):
    kubectl(cluster, "apply", "-f", "-", input=yaml.safe_dump_all(docs))


def mesh_workloads(namespace):
    """Stand-ins for istiod and ztunnel: what the role must restart."""
    template = {"metadata": {"labels": {"app": "x"}},
                "spec": {"containers": [{"name": "c", "image": "example.invalid/istio:1"}]}}
    spec = {"selector": {"matchLabels": {"app": "x"}}, "template": template}
    return [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "istiod", "namespace": namespace},
             "spec": dict(spec, replicas=1)},
            {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "ztunnel", "namespace": namespace},
             "spec": spec}]


def restarted_at(kubectl, cluster, kind, namespace):
    name = "istiod" if kind == "deployment" else "ztunnel"
    obj = json.loads(kubectl(cluster, "get", kind, name, "-n", namespace, "-o", "json").stdout)
    return (obj["spec"]["template"]["metadata"].get("annotations") or {}).get("kubectl.kubernetes.io/restartedAt")


@pytest.fixture
def home(tmp_path):
    """A fresh HOME, so the role's default root folder (~/.ambientmesh/<mesh_id>) is this test's."""
    path = tmp_path / "home"
    path.mkdir()
    return path


def test_one_root_per_mesh_one_intermediate_per_cluster(lab, cluster_names, kubectl, make_inventory, run_playbook,
                                                        home, tmp_path):
    """Default variables, plain ansible-playbook: check mode, first run, idempotent rerun, diff."""
    reset_namespace(kubectl, cluster_names, "istio-system")
    inv = make_inventory(cluster_names)
    env = {"HOME": str(home)}
    root_dir = home / ".ambientmesh" / "mesh1"

    check = run_playbook(PLAYBOOK, inv, check=True, env=env)
    assert check.rc == 0 and check.changed > 0, check
    assert not root_dir.exists()
    for c in cluster_names:
        assert kubectl(c, "get", "namespace", "istio-system", check=False).returncode != 0

    started = time.monotonic()
    first = run_playbook(PLAYBOOK, inv, env=env)
    first_seconds = time.monotonic() - started
    assert first.rc == 0, first
    assert oct(os.stat(root_dir / "root-key.pem").st_mode & 0o777) == "0o600"
    assert oct(os.stat(root_dir).st_mode & 0o777) == "0o700"
    root_pem = (root_dir / "root-cert.pem").read_bytes()
    root = x509.load_pem_x509_certificate(root_pem)
    assert root.subject.rfc4514_string() == "CN=Root CA,O=Istio" and root.public_key().key_size == 4096
    serials = set()
    for c in cluster_names:
        secret = read_secret(kubectl, c, "istio-system")
        assert secret["metadata"]["labels"] == MANAGED and secret["type"] == "Opaque"
        ca = assert_intermediate(tmp_path, secret, root_pem, c)
        assert ca.public_key().key_size == 4096
        serials.add(ca.serial_number)
        ns = json.loads(kubectl(c, "get", "namespace", "istio-system", "-o", "json").stdout)
        assert ns["metadata"]["labels"]["topology.istio.io/network"] == "network-" + c
    assert len(serials) == len(cluster_names)  # one intermediate per cluster, not a shared one

    started = time.monotonic()
    second = run_playbook(PLAYBOOK, inv, env=env)
    second_seconds = time.monotonic() - started
    assert second.rc == 0 and second.changed == 0, second
    print("trust role on %d clusters: first run %.1fs, second run %.1fs"
          % (len(cluster_names), first_seconds, second_seconds))

    quiet = run_playbook(PLAYBOOK, inv, check=True, env=env)
    assert quiet.rc == 0 and quiet.changed == 0, quiet

    # A lost Secret: check mode with diff shows what would be issued and leaves it lost.
    victim = cluster_names[-1]
    kubectl(victim, "delete", "secret", "cacerts", "-n", "istio-system")
    preview = run_playbook(PLAYBOOK, inv, check=True, diff=True, env=env)
    assert preview.rc == 0 and preview.stats[victim]["changed"] == 1, preview
    assert "intermediate" in preview.stdout and pki.fingerprint(root) in preview.stdout
    assert read_secret(kubectl, victim, "istio-system") is None
    assert_no_key_material(preview)
    fixed = run_playbook(PLAYBOOK, inv, diff=True, env=env)
    assert fixed.rc == 0 and fixed.stats[victim]["changed"] == 1 and fixed.changed == 1, fixed
    assert "L=%s" % victim in fixed.stdout
    assert_intermediate(tmp_path, read_secret(kubectl, victim, "istio-system"), root_pem, victim)
    assert_no_key_material(fixed)


def test_vvv_output_never_holds_private_keys(lab, cluster_names, kubectl, make_inventory, run_playbook, home,
                                             tmp_path):
    """Whole -vvv runs that generate a root and issue intermediates: no private key PEM, raw or base64."""
    namespace = "trust-vvv"
    reset_namespace(kubectl, cluster_names, namespace)
    inv = make_inventory(cluster_names)
    result = run_playbook(PLAYBOOK, inv, extra_vars={"trust_namespace": namespace}, verbosity=3, diff=True,
                          env={"HOME": str(home)})
    assert result.rc == 0 and result.changed > 0, result
    assert "ESTABLISH LOCAL CONNECTION" in result.stdout  # really -vvv
    assert_no_key_material(result)
    root_key = (home / ".ambientmesh" / "mesh1" / "root-key.pem").read_text()
    assert root_key.splitlines()[1] not in result.stdout
    for c in cluster_names:
        key_body = read_secret(kubectl, c, namespace)["pem"]["ca-key.pem"].decode().splitlines()[1]
        assert key_body not in result.stdout + result.stderr


def test_awx_style_root_content_is_stateless(lab, cluster_names, kubectl, make_inventory, run_playbook, home,
                                             tmp_path):
    namespace = "trust-content"
    reset_namespace(kubectl, cluster_names, namespace)
    root_key = pki.generate_key("ecdsa")
    root = pki.build_root(root_key, {"O": "Example", "CN": "Corp Mesh Root"}, 365, pki.utcnow())
    root_pem, key_pem = pki.cert_pem(root), pki.key_pem(root_key)
    inv = make_inventory(cluster_names, group_vars={"trust_root_cert_content": root_pem.decode(),
                                                    "trust_root_key_content": key_pem.decode(),
                                                    "trust_namespace": namespace,
                                                    "trust_intermediate_key_type": "ecdsa"})
    first = run_playbook(PLAYBOOK, inv, verbosity=3, env={"HOME": str(home)})
    assert first.rc == 0, first
    assert_no_key_material(first)
    assert key_pem.decode().splitlines()[1] not in first.stdout
    assert not (home / ".ambientmesh").exists()
    for c in cluster_names:
        ca = assert_intermediate(tmp_path, read_secret(kubectl, c, namespace), root_pem, c)
        assert ca.not_valid_after_utc <= root.not_valid_after_utc  # never outlives the root
    second = run_playbook(PLAYBOOK, inv, env={"HOME": str(home)})
    assert second.rc == 0 and second.changed == 0, second


def test_foreign_root_is_refused_or_replaced_and_mesh_restarted(lab, cluster_names, kubectl, make_inventory,
                                                                run_playbook, home, tmp_path):
    namespace = "trust-foreign"
    target, other = cluster_names[0], cluster_names[1]
    inv, env = fast_trust(kubectl, cluster_names, make_inventory, run_playbook, home, namespace,
                          trust_ztunnel_namespace=namespace)
    root_pem = (home / ".ambientmesh" / "mesh1" / "root-cert.pem").read_bytes()

    foreign = make_foreign_secret(namespace, target)
    kubectl(target, "delete", "secret", "cacerts", "-n", namespace)
    apply(kubectl, target, foreign, *mesh_workloads(namespace))
    apply(kubectl, other, *mesh_workloads(namespace))
    planted = read_secret(kubectl, target, namespace)

    refused = run_playbook(PLAYBOOK, inv, extra_vars={"trust_on_invalid": "fail"}, env=env)
    assert refused.rc != 0 and refused.stats[target]["failed"] == 1 and refused.stats[other]["failed"] == 0, refused
    assert "%s/cacerts in cluster %s needs reissuing" % (namespace, target) in refused.stdout
    assert "different root (CN=Foreign Root" in refused.stdout and "on_invalid=reissue" in refused.stdout
    assert read_secret(kubectl, target, namespace)["data"] == planted["data"]
    assert restarted_at(kubectl, target, "deployment", namespace) is None

    replaced = run_playbook(PLAYBOOK, inv, diff=True, env=env)
    assert replaced.rc == 0 and replaced.stats[other]["changed"] == 0, replaced
    # cacerts, then the restart task (istiod and ztunnel)
    assert replaced.stats[target]["changed"] == 2, replaced
    secret = read_secret(kubectl, target, namespace)
    assert_intermediate(tmp_path, secret, root_pem, target)
    assert secret["metadata"]["labels"] == MANAGED
    assert "CN=Foreign Root" in replaced.stdout  # the diff's before
    assert_no_key_material(replaced)
    stamp = restarted_at(kubectl, target, "deployment", namespace)
    assert stamp and restarted_at(kubectl, target, "daemonset", namespace)
    assert restarted_at(kubectl, other, "deployment", namespace) is None  # its cacerts did not change

    again = run_playbook(PLAYBOOK, inv, env=env)
    assert again.rc == 0 and again.changed == 0, again
    assert restarted_at(kubectl, target, "deployment", namespace) == stamp


def test_nearly_expired_intermediate_is_renewed(lab, cluster_names, kubectl, make_inventory, run_playbook, home,
                                                tmp_path):
    namespace = "trust-renew"
    target = cluster_names[0]
    inv, env = fast_trust(kubectl, cluster_names, make_inventory, run_playbook, home, namespace)
    root_dir = home / ".ambientmesh" / "mesh1"
    root_pem = (root_dir / "root-cert.pem").read_bytes()
    root = (x509.load_pem_x509_certificate(root_pem), pki.load_key((root_dir / "root-key.pem").read_bytes(), "k"))
    expiring = make_foreign_secret(namespace, target, root=root, days=10)
    expiring["metadata"]["labels"] = MANAGED
    kubectl(target, "delete", "secret", "cacerts", "-n", namespace)
    apply(kubectl, target, expiring)
    old = x509.load_pem_x509_certificate(read_secret(kubectl, target, namespace)["pem"]["ca-cert.pem"])
    assert old.not_valid_after_utc - pki.utcnow() < datetime.timedelta(days=10)

    renewed = run_playbook(PLAYBOOK, inv, env=env)
    assert renewed.rc == 0 and renewed.stats[target]["changed"] == 1 and renewed.changed == 1, renewed
    new = assert_intermediate(tmp_path, read_secret(kubectl, target, namespace), root_pem, target)
    assert new.not_valid_after_utc - pki.utcnow() > datetime.timedelta(days=3000)
    assert new.fingerprint(hashes.SHA256()) != old.fingerprint(hashes.SHA256())


def _leaf(tmp_path):
    key = pki.generate_key("ecdsa")
    name = pki.build_name({"CN": "leaf.example"})
    now = pki.utcnow()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(7).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (tmp_path / "bad" / "root-cert.pem").write_bytes(pki.cert_pem(cert))
    (tmp_path / "bad" / "root-key.pem").write_bytes(pki.key_pem(key))
    return re.escape("cert_path=%s (CN=leaf.example): is not a CA certificate" % (tmp_path / "bad" / "root-cert.pem"))


def _mismatched(tmp_path):
    key = pki.generate_key("ecdsa")
    (tmp_path / "bad" / "root-cert.pem").write_bytes(pki.cert_pem(pki.build_root(key, {"CN": "R"}, 30, pki.utcnow())))
    (tmp_path / "bad" / "root-key.pem").write_bytes(pki.key_pem(pki.generate_key("ecdsa")))
    return re.escape("key_path=%s does not belong to cert_path=" % (tmp_path / "bad" / "root-key.pem"))


def _unreadable(tmp_path):
    (tmp_path / "bad" / "root-cert.pem").write_bytes(os.urandom(64))
    (tmp_path / "bad" / "root-key.pem").write_bytes(os.urandom(64))
    return re.escape("cert_path=%s: no PEM certificate" % (tmp_path / "bad" / "root-cert.pem"))


def _directory(tmp_path):
    (tmp_path / "bad" / "root-cert.pem").mkdir()
    (tmp_path / "bad" / "root-key.pem").write_bytes(b"")
    return re.escape("cert_path=%s: is a directory" % (tmp_path / "bad" / "root-cert.pem"))


@pytest.mark.parametrize("make_bad_root", [_mismatched, _leaf, _unreadable, _directory],
                         ids=["key-mismatch", "not-a-ca", "unreadable", "directory"])
def test_bad_root_fails_naming_the_input_and_writes_nothing(lab, cluster_names, kubectl, make_inventory,
                                                            run_playbook, tmp_path, make_bad_root):
    namespace = "trust-bad"
    reset_namespace(kubectl, cluster_names, namespace)
    (tmp_path / "bad").mkdir()
    expected = make_bad_root(tmp_path)
    before = dict((p.name, p.read_bytes() if p.is_file() else None) for p in (tmp_path / "bad").iterdir())
    inv = make_inventory(cluster_names, group_vars={"trust_namespace": namespace,
                                                    "trust_root_dir": str(tmp_path / "bad")})
    result = run_playbook(PLAYBOOK, inv)
    # The root task runs once: its failure ends the play for every cluster after argument validation (of the
    # preflight role the trust role depends on, and of the trust role) and the inventory preflight, which runs
    # once, on the first host (the preflight role's own run is skipped: the playbook's already resolved it).
    assert result.rc != 0 and result.failed == 1 and result.changed == 0, result
    oks = sorted(stats["ok"] for stats in result.stats.values())
    assert oks == [2] * (len(oks) - 1) + [3], result
    assert re.search(expected, result.stdout), result
    assert_no_key_material(result)
    after = dict((p.name, p.read_bytes() if p.is_file() else None) for p in (tmp_path / "bad").iterdir())
    assert after == before
    for c in cluster_names:
        assert kubectl(c, "get", "namespace", namespace, check=False).returncode != 0


def test_cacerts_module_refuses_bad_root_content_before_writing(lab, cluster_names, kubectl, make_inventory,
                                                                run_playbook, tmp_path):
    """The module on its own (not behind root_ca) validates the root first and names the input."""
    namespace = "trust-module"
    target = cluster_names[0]
    reset_namespace(kubectl, [target], namespace)
    kubectl(target, "create", "namespace", namespace)
    key = pki.generate_key("ecdsa")
    cert = pki.build_root(key, {"CN": "R"}, 30, pki.utcnow())
    playbook = tmp_path / "module.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "cacerts with a root whose key does not match", "hosts": target, "gather_facts": False,
        "tasks": [{"name": "Issue", "ambientmesh.multicluster.cacerts": {
            "context": "{{ kube_context }}", "kubeconfig": "{{ kubeconfig_path }}", "cluster_name": target,
            "namespace": namespace, "root_cert_content": pki.cert_pem(cert).decode(),
            "root_key_content": pki.key_pem(pki.generate_key("ecdsa")).decode()}}]}]))
    result = run_playbook(playbook, make_inventory(cluster_names), verbosity=3)
    assert result.rc != 0, result
    assert "root_key_content does not belong to root_cert_content (CN=R)" in result.stdout
    assert_no_key_material(result)
    assert read_secret(kubectl, target, namespace) is None


def test_teardown_removes_only_our_secret_and_keeps_the_root(lab, cluster_names, kubectl, make_inventory,
                                                             run_playbook, home):
    namespace = "trust-teardown"
    ours, theirs = cluster_names[0], cluster_names[1]
    inv, env = fast_trust(kubectl, cluster_names, make_inventory, run_playbook, home, namespace)
    kubectl(theirs, "label", "secret", "cacerts", "-n", namespace, "app.kubernetes.io/managed-by-")

    down = run_playbook(TEARDOWN, inv, env=env)
    # ours: cacerts and the namespace's labels; theirs: only the labels (its cacerts is not ours)
    assert down.rc == 0 and down.stats[ours]["changed"] == 2 and down.stats[theirs]["changed"] == 1, down
    assert read_secret(kubectl, ours, namespace) is None
    assert read_secret(kubectl, theirs, namespace) is not None
    for c in (ours, theirs):
        labels = json.loads(kubectl(c, "get", "namespace", namespace, "-o", "json").stdout)["metadata"]["labels"]
        assert not {"topology.istio.io/network", "app.kubernetes.io/managed-by"} & set(labels), labels
    assert (home / ".ambientmesh" / "mesh1" / "root-key.pem").exists()
    again = run_playbook(TEARDOWN, inv, env=env)
    assert again.rc == 0 and again.changed == 0, again
