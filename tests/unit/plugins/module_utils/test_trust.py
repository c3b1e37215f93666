import base64
import copy
import datetime
import json
import os

import pytest

from ansible_collections.ambientmesh.multicluster.plugins.module_utils import trust
from ansible_collections.ambientmesh.multicluster.plugins.module_utils import trust_pki as pki
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError
from module_stub import atomic_move

NOW = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
DAY = datetime.timedelta(days=1)
LABELS = {"app.kubernetes.io/managed-by": "ambientmesh.multicluster"}


def ensure_root(params, check_mode, diff, now):
    """trust.ensure_root as the root_ca module calls it (with AnsibleModule.atomic_move)."""
    return trust.ensure_root(params, check_mode, diff, now, atomic_move=atomic_move())


def root_params(tmp_path, **kw):
    params = dict(cert_path=str(tmp_path / "mesh" / "root-cert.pem"), key_path=str(tmp_path / "mesh" / "root-key.pem"),
                  cert_content=None, key_content=None, regenerate="never", key_type="ecdsa", rsa_key_size=4096,
                  subject={"O": "Istio", "CN": "Root CA"}, valid_days=3650)
    params.update(kw)
    return params


def make_root(subject=None, now=NOW, days=3650):
    key = pki.generate_key("ecdsa")
    cert = pki.build_root(key, subject or {"CN": "Root CA", "O": "Istio"}, days, now)
    return pki.cert_pem(cert).decode(), pki.key_pem(key).decode()


def snapshot(path):
    return dict((p.name, p.read_bytes()) for p in path.rglob("*") if p.is_file())


# ---- root_ca ---------------------------------------------------------------------------------------------
def test_generates_root_with_private_modes_then_keeps_it(tmp_path):
    params = root_params(tmp_path)
    first = ensure_root(params, False, True, NOW)
    assert first["changed"] and first["action"] == "generated"
    assert first["root"]["subject"] == "CN=Root CA,O=Istio" and first["root"]["key"] == "ecdsa-secp256r1"
    assert first["diff"]["before"] == {} and first["diff"]["after"]["sha256"] == first["root"]["sha256"]
    assert os.stat(params["key_path"]).st_mode & 0o777 == 0o600
    assert os.stat(params["cert_path"]).st_mode & 0o777 == 0o644
    assert os.stat(tmp_path / "mesh").st_mode & 0o777 == 0o700
    second = ensure_root(params, False, True, NOW)
    assert not second["changed"] and second["action"] == "kept"
    assert second["root"]["sha256"] == first["root"]["sha256"]
    assert second["diff"]["before"] == second["diff"]["after"]
    assert not [f for f in os.listdir(tmp_path / "mesh") if f.startswith(".tmp-")]


def test_default_rsa_root_is_4096(tmp_path):
    result = ensure_root(root_params(tmp_path, key_type="rsa"), False, False, NOW)
    assert result["root"]["key"] == "rsa-4096"


def test_results_never_carry_key_material(tmp_path):
    params = root_params(tmp_path)
    result = ensure_root(params, False, True, NOW)
    key_pem = open(params["key_path"]).read()
    text = json.dumps(result)
    assert "PRIVATE KEY" not in text and key_pem.splitlines()[1] not in text


def test_check_mode_writes_nothing(tmp_path):
    result = ensure_root(root_params(tmp_path), True, True, NOW)
    assert result["changed"] and result["action"] == "generated" and result["root"] == {}
    assert not (tmp_path / "mesh").exists()


def test_loose_key_mode_is_fixed(tmp_path):
    params = root_params(tmp_path)
    ensure_root(params, False, False, NOW)
    os.chmod(params["key_path"], 0o644)
    checked = ensure_root(params, True, False, NOW)
    assert checked["changed"] and os.stat(params["key_path"]).st_mode & 0o777 == 0o644
    fixed = ensure_root(params, False, False, NOW)
    assert fixed["changed"] and fixed["action"] == "kept" and "had mode 0644" in fixed["msg"]
    assert os.stat(params["key_path"]).st_mode & 0o777 == 0o600


def test_import_writes_content_then_is_idempotent(tmp_path):
    cert, key = make_root({"CN": "Corp Root"})
    params = root_params(tmp_path, cert_content=cert, key_content=key)
    first = ensure_root(params, False, False, NOW)
    assert first["action"] == "imported" and first["changed"]
    assert open(params["cert_path"]).read() == cert
    assert not ensure_root(params, False, False, NOW)["changed"]


def test_content_without_paths_is_only_validated(tmp_path):
    cert, key = make_root()
    result = ensure_root(root_params(tmp_path, cert_path=None, key_path=None, cert_content=cert,
                                     key_content=key), False, True, NOW)
    assert not result["changed"] and result["action"] == "validated" and "cert_path" not in result
    assert result["diff"]["before"] == result["diff"]["after"]


def test_different_existing_root_is_never_replaced_silently(tmp_path):
    params = root_params(tmp_path)
    ensure_root(params, False, False, NOW)
    before = snapshot(tmp_path)
    cert, key = make_root({"CN": "Other"})
    for policy in ("never", "fail"):
        with pytest.raises(MeshError, match="cert_path=.* holds a different root .* set regenerate=always"):
            ensure_root(dict(params, cert_content=cert, key_content=key, regenerate=policy), False, False, NOW)
    assert snapshot(tmp_path) == before
    replaced = ensure_root(dict(params, cert_content=cert, key_content=key, regenerate="always"),
                           False, True, NOW)
    assert replaced["action"] == "replaced" and replaced["root"]["subject"] == "CN=Other"
    assert replaced["diff"]["before"]["subject"] == "CN=Root CA,O=Istio"


@pytest.mark.parametrize("damage, message", [
    ("garbage_cert", r"cert_path=.*root-cert.pem: no PEM certificate"),
    ("garbage_key", r"key_path=.*root-key.pem: no PEM private key"),
    ("no_key", r"cert_path=.* exists but key_path=.* does not"),
    ("other_key", r"key_path=.* does not belong to cert_path=.*private key does not match"),
])
def test_broken_existing_root_fails_naming_the_file(tmp_path, damage, message):
    params = root_params(tmp_path)
    ensure_root(params, False, False, NOW)
    if damage == "garbage_cert":
        open(params["cert_path"], "w").write("not a cert")
    elif damage == "garbage_key":
        open(params["key_path"], "w").write("not a key")
    elif damage == "no_key":
        os.unlink(params["key_path"])
    else:
        open(params["key_path"], "w").write(make_root()[1])
    before = snapshot(tmp_path)
    with pytest.raises(MeshError, match=message) as exc:
        ensure_root(params, False, False, NOW)
    assert "never replaced silently" in exc.value.msg
    assert snapshot(tmp_path) == before
    regenerated = ensure_root(dict(params, regenerate="always"), False, False, NOW)
    assert regenerated["action"] == "regenerated"


def test_directory_instead_of_file_is_named(tmp_path):
    params = root_params(tmp_path)
    os.makedirs(params["cert_path"])
    with pytest.raises(MeshError, match="cert_path=.*root-cert.pem: is a directory"):
        ensure_root(params, False, False, NOW)


def test_bad_content_fails_before_touching_files(tmp_path):
    cert, key = make_root()
    _other_cert, other_key = make_root()
    with pytest.raises(MeshError, match="key_content does not belong to cert_content"):
        ensure_root(root_params(tmp_path, cert_content=cert, key_content=other_key), False, False, NOW)
    with pytest.raises(MeshError, match="cert_content: no PEM certificate"):
        ensure_root(root_params(tmp_path, cert_content="x", key_content=key), False, False, NOW)
    assert not (tmp_path / "mesh").exists()


def test_regenerate_fail_and_always_against_options(tmp_path):
    params = root_params(tmp_path)
    first = ensure_root(params, False, False, NOW)
    assert ensure_root(dict(params, key_type="rsa"), False, False, NOW)["action"] == "kept"
    with pytest.raises(MeshError, match="does not match the options .key ecdsa-secp256r1, options ask for rsa-2048"):
        ensure_root(dict(params, key_type="rsa", rsa_key_size=2048, regenerate="fail"), False, False, NOW)
    with pytest.raises(MeshError, match="subject CN=Root CA,O=Istio, options ask for CN=New"):
        ensure_root(dict(params, subject={"CN": "New"}, regenerate="fail"), False, False, NOW)
    again = ensure_root(dict(params, regenerate="always"), False, False, NOW)
    assert again["action"] == "regenerated" and again["root"]["sha256"] != first["root"]["sha256"]


def test_expired_root_fails_with_rotation_hint(tmp_path):
    params = root_params(tmp_path, valid_days=10)
    ensure_root(params, False, False, NOW)
    with pytest.raises(MeshError, match="expired at .*rotate the root"):
        ensure_root(params, False, False, NOW + 11 * DAY)


def test_bad_options_fail_first(tmp_path):
    with pytest.raises(MeshError, match="valid_days=0"):
        ensure_root(root_params(tmp_path, valid_days=0), False, False, NOW)
    with pytest.raises(MeshError, match="subject: unknown attribute"):
        ensure_root(root_params(tmp_path, subject={"cn": "x"}), False, False, NOW)
    assert not (tmp_path / "mesh").exists()


# ---- cacerts ---------------------------------------------------------------------------------------------
class FakeKube:
    """Records calls; objects keyed by (kind, namespace, name)."""

    def __init__(self, objects=None, dry_run=False):
        self.objects = objects or {}
        self.calls = []
        self.dry_run = dry_run

    def get(self, api_version, kind, name, namespace=None):
        self.calls.append(("get", kind, name))
        return copy.deepcopy(self.objects.get((kind, namespace, name)))

    def apply(self, obj):
        meta = obj["metadata"]
        self.calls.append(("apply", obj["kind"], meta["name"]))
        before = self.objects.get((obj["kind"], meta.get("namespace"), meta["name"]))
        if not self.dry_run:
            self.objects[(obj["kind"], meta.get("namespace"), meta["name"])] = copy.deepcopy(obj)
        return before != obj, before, obj

    def delete(self, api_version, kind, name, namespace=None):
        self.calls.append(("delete", kind, name))
        if not self.dry_run:
            return self.objects.pop((kind, namespace, name), None)
        return self.objects.get((kind, namespace, name))

    def writes(self):
        return [c for c in self.calls if c[0] != "get"]


@pytest.fixture(scope="module")
def root_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("root")
    cert, key = make_root()
    (d / "root-cert.pem").write_text(cert)
    (d / "root-key.pem").write_text(key)
    return str(d / "root-cert.pem"), str(d / "root-key.pem")


def ca_params(root_files, **kw):
    params = dict(cluster_name="cluster1", state="present", namespace="istio-system", name="cacerts",
                  root_cert_path=root_files[0], root_key_path=root_files[1], root_cert_content=None,
                  root_key_content=None, key_type="ecdsa", rsa_key_size=4096,
                  subject={"O": "Istio", "CN": "Intermediate CA"}, valid_days=3650, renew_before_days=30,
                  san_dns=["istiod.istio-system.svc"], on_invalid="reissue")
    params.update(kw)
    return params


def live_secret(kube):
    return kube.objects[("Secret", "istio-system", "cacerts")]


def foreign_secret(cluster="cluster1", days=3650, labels=None, extra=None, secret_type="Opaque"):
    other = pki.generate_key("ecdsa")
    other_root = pki.build_root(other, {"CN": "Foreign Root"}, 3650, NOW)
    key = pki.generate_key("ecdsa")
    ca = pki.build_intermediate(key, other_root, other, {"CN": "I", "L": cluster}, days, [], NOW)
    secret = trust.cacerts_secret("istio-system", "cacerts", ca, key, other_root)
    secret["metadata"]["labels"] = labels or {}
    secret["type"] = secret_type
    secret["data"].update(extra or {})
    return secret


def test_creates_secret_with_chain_to_root(root_files):
    kube = FakeKube({("Namespace", None, "istio-system"): {}})
    result = trust.reconcile_cacerts(kube, ca_params(root_files), False, True, NOW)
    assert result["changed"] and result["status"] == "created" and result["restart_required"]
    assert "istiod and ztunnel must restart" in result["msg"]
    secret = live_secret(kube)
    assert secret["metadata"]["labels"] == LABELS and secret["type"] == "Opaque"
    data = dict((k, base64.b64decode(v)) for k, v in secret["data"].items())
    root = pki.load_cert(open(root_files[0]).read(), "root")
    ca = pki.load_cert(data["ca-cert.pem"], "ca")
    assert pki.signed_by(ca, root) and pki.cluster_of(ca) == "cluster1"
    assert data["cert-chain.pem"] == data["ca-cert.pem"] + data["root-cert.pem"]
    assert result["intermediate"]["sha256"] == pki.fingerprint(ca)
    assert result["diff"]["before"] == {} and result["diff"]["after"]["keys"] == sorted(pki.CACERTS_KEYS)
    text = json.dumps(result)
    assert "PRIVATE KEY" not in text and secret["data"]["ca-key.pem"] not in text


def test_second_run_keeps_secret_without_writes(root_files):
    kube = FakeKube()
    first = trust.reconcile_cacerts(kube, ca_params(root_files), False, False, NOW)
    kube.calls = []
    second = trust.reconcile_cacerts(kube, ca_params(root_files), False, True, NOW + DAY)
    assert not second["changed"] and second["status"] == "kept" and not second["restart_required"]
    assert second["intermediate"]["sha256"] == first["intermediate"]["sha256"] and second["managed"]
    assert second["diff"]["before"] == second["diff"]["after"]
    assert kube.writes() == []


def test_root_from_content_equals_root_from_files(root_files):
    kube = FakeKube()
    params = ca_params(root_files, root_cert_path=None, root_key_path=None,
                       root_cert_content=open(root_files[0]).read(), root_key_content=open(root_files[1]).read())
    trust.reconcile_cacerts(kube, params, False, False, NOW)
    assert not trust.reconcile_cacerts(kube, ca_params(root_files), False, False, NOW)["changed"]


def test_foreign_root_is_reissued(root_files):
    kube = FakeKube({("Secret", "istio-system", "cacerts"): foreign_secret()})
    result = trust.reconcile_cacerts(kube, ca_params(root_files), False, True, NOW)
    assert result["status"] == "reissued" and result["restart_required"] and not result["managed"]
    assert any("different root (CN=Foreign Root" in r for r in result["reasons"])
    assert result["diff"]["before"]["root"]["subject"] == "CN=Foreign Root"
    assert result["diff"]["after"]["root"]["subject"] == "CN=Root CA,O=Istio"
    assert kube.writes() == [("apply", "Secret", "cacerts")]


def test_foreign_root_with_policy_fail_changes_nothing(root_files):
    secret = foreign_secret()
    kube = FakeKube({("Secret", "istio-system", "cacerts"): copy.deepcopy(secret)})
    expected = "istio-system/cacerts in cluster cluster1 needs reissuing .*different root.*on_invalid=fail; set on_invalid=reissue"
    with pytest.raises(MeshError, match=expected) as exc:
        trust.reconcile_cacerts(kube, ca_params(root_files, on_invalid="fail"), False, False, NOW)
    assert exc.value.details["reasons"]
    assert kube.writes() == [] and live_secret(kube) == secret


def test_expiring_and_other_cluster_are_reissued(root_files):
    kube = FakeKube()
    trust.reconcile_cacerts(kube, ca_params(root_files, valid_days=40), False, False, NOW)
    result = trust.reconcile_cacerts(kube, ca_params(root_files), False, False, NOW + 15 * DAY)
    assert result["status"] == "reissued" and "within renew_before_days=30" in result["reasons"][0]
    result = trust.reconcile_cacerts(kube, ca_params(root_files, cluster_name="cluster9"), False, False, NOW)
    assert result["status"] == "reissued" and "not 'cluster9'" in result["reasons"][0]
    assert result["intermediate"]["subject"] == "CN=Intermediate CA,O=Istio,L=cluster9"


def test_extra_keys_are_dropped_by_recreating(root_files):
    extra = {"ca-crl.pem": base64.b64encode(b"old crl").decode()}
    kube = FakeKube({("Secret", "istio-system", "cacerts"): foreign_secret(extra=extra)})
    trust.reconcile_cacerts(kube, ca_params(root_files), False, False, NOW)
    assert kube.writes() == [("delete", "Secret", "cacerts"), ("apply", "Secret", "cacerts")]
    assert "ca-crl.pem" not in live_secret(kube)["data"]


def test_other_secret_type_is_refused(root_files):
    kube = FakeKube({("Secret", "istio-system", "cacerts"): foreign_secret(secret_type="kubernetes.io/tls")})
    with pytest.raises(MeshError, match="is a kubernetes.io/tls Secret"):
        trust.reconcile_cacerts(kube, ca_params(root_files), False, False, NOW)
    assert kube.writes() == []


def test_check_mode_dry_runs_the_apply(root_files):
    kube = FakeKube({("Namespace", None, "istio-system"): {}}, dry_run=True)
    result = trust.reconcile_cacerts(kube, ca_params(root_files), True, True, NOW)
    assert result["changed"] and result["status"] == "created" and result["intermediate"]["sha256"]
    assert ("Secret", "istio-system", "cacerts") not in kube.objects


def test_check_mode_predicts_before_namespace_or_root_exist(root_files, tmp_path):
    kube = FakeKube(dry_run=True)
    result = trust.reconcile_cacerts(kube, ca_params(root_files), True, True, NOW)
    assert result["changed"] and result["status"] == "created" and kube.writes() == []
    missing = ca_params(root_files, root_cert_path=str(tmp_path / "no-cert"), root_key_path=str(tmp_path / "no-key"))
    kube = FakeKube({("Secret", "istio-system", "cacerts"): foreign_secret()}, dry_run=True)
    result = trust.reconcile_cacerts(kube, missing, True, False, NOW)
    assert result["status"] == "reissued" and "does not exist yet (check mode)" in result["reasons"][0]
    with pytest.raises(MeshError, match="root_cert_path=.*no-cert: not found"):
        trust.reconcile_cacerts(FakeKube(), missing, False, False, NOW)


@pytest.mark.parametrize("change, message", [
    (dict(valid_days=30), "valid_days=30 must be larger than renew_before_days=30"),
    (dict(renew_before_days=-1), "renew_before_days=-1"),
    (dict(subject={"CN": "x", "bogus": "y"}), "subject: unknown attribute"),
    (dict(cluster_name=""), "cluster_name: empty"),
])
def test_bad_parameters_fail_before_any_api_call(root_files, change, message):
    kube = FakeKube()
    with pytest.raises(MeshError, match=message):
        trust.reconcile_cacerts(kube, ca_params(root_files, **change), False, False, NOW)
    assert kube.calls == []


def test_bad_root_fails_before_any_api_call(root_files, tmp_path):
    cert = make_root()[0]
    other_key = make_root()[1]
    kube = FakeKube()
    params = ca_params(root_files, root_cert_path=None, root_key_path=None, root_cert_content=cert,
                       root_key_content=other_key)
    with pytest.raises(MeshError, match="root_key_content does not belong to root_cert_content"):
        trust.reconcile_cacerts(kube, params, False, False, NOW)
    (tmp_path / "c.pem").write_text("junk")
    params = ca_params(root_files, root_cert_path=str(tmp_path / "c.pem"))
    with pytest.raises(MeshError, match="root_cert_path=.*c.pem: no PEM certificate"):
        trust.reconcile_cacerts(kube, params, False, False, NOW)
    assert kube.calls == []


def test_root_expiring_within_renew_window_is_refused(root_files):
    with pytest.raises(MeshError, match="the root .* expires at .* rotate the root first"):
        trust.reconcile_cacerts(FakeKube(), ca_params(root_files), False, False, NOW + 3640 * DAY)


def test_absent_deletes_only_our_secret(root_files):
    ours = FakeKube()
    trust.reconcile_cacerts(ours, ca_params(root_files), False, False, NOW)
    result = trust.reconcile_cacerts(ours, ca_params(root_files, state="absent"), False, True, NOW)
    assert result["changed"] and result["status"] == "deleted" and result["diff"]["after"] == {}
    assert "PRIVATE KEY" not in json.dumps(result)
    again = trust.reconcile_cacerts(ours, ca_params(root_files, state="absent"), False, False, NOW)
    assert not again["changed"] and again["status"] == "absent"
    theirs = FakeKube({("Secret", "istio-system", "cacerts"): foreign_secret()})
    kept = trust.reconcile_cacerts(theirs, ca_params(root_files, state="absent"), False, False, NOW)
    assert not kept["changed"] and kept["status"] == "kept" and "left in place" in kept["msg"]
    assert theirs.writes() == []


def test_half_given_content_names_the_missing_half(tmp_path, root_files):
    key = make_root()[1]
    with pytest.raises(MeshError, match="cert_content: no PEM certificate"):
        ensure_root(root_params(tmp_path, cert_path=None, key_path=None, cert_content="", key_content=key),
                    False, False, NOW)
    params = ca_params(root_files, root_cert_path=None, root_key_path=None, root_cert_content="", root_key_content=key)
    with pytest.raises(MeshError, match="root_cert_content: no PEM certificate"):
        trust.reconcile_cacerts(FakeKube(), params, False, False, NOW)


def _race(params, barrier, results):
    import time
    slow = pki.generate_key

    def generate(*a, **kw):  # every racer is past its existence check before the first one writes
        time.sleep(0.3)
        return slow(*a, **kw)
    pki.generate_key = generate
    barrier.wait()
    try:
        out = ensure_root(params, False, False, NOW)
        results.put((out["action"], out["root"]["sha256"]))
    except MeshError as e:
        results.put(("error", e.msg))


def test_runs_started_together_make_one_root(tmp_path):
    """Two (here five) first runs at once: one generates, the others wait for it and keep its root."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    params = root_params(tmp_path)
    barrier, results = ctx.Barrier(5), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(params, barrier, results)) for _i in range(5)]
    for p in procs:
        p.start()
    got = [results.get(timeout=60) for _p in procs]
    for p in procs:
        p.join(10)
    assert sorted(action for action, _sha in got) == ["generated", "kept", "kept", "kept", "kept"], got
    assert len(set(sha for _action, sha in got)) == 1
    on_disk = pki.fingerprint(trust.load_root(open(params["cert_path"]).read(), open(params["key_path"]).read(),
                                              "c", "k", NOW)[0])
    assert on_disk == got[0][1]
