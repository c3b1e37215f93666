import base64
import datetime
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from ansible_collections.ambientmesh.multicluster.plugins.module_utils import trust_pki as pki
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError

NOW = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
DAY = datetime.timedelta(days=1)
ROOT_SUBJECT = {"O": "Istio", "CN": "Root CA"}
INT_SUBJECT = {"O": "Istio", "CN": "Intermediate CA"}


@pytest.fixture(scope="module")
def root():
    key = pki.generate_key("ecdsa")
    return pki.build_root(key, ROOT_SUBJECT, 3650, NOW), key


@pytest.fixture(scope="module")
def other_root():
    key = pki.generate_key("ecdsa")
    return pki.build_root(key, {"CN": "Other Root"}, 3650, NOW), key


def issue(root, cluster="cluster1", days=3650, now=NOW):
    key = pki.generate_key("ecdsa")
    cert = pki.build_intermediate(key, root[0], root[1], pki.intermediate_subject(INT_SUBJECT, cluster), days,
                                  ["istiod.istio-system.svc"], now)
    return cert, key


def secret_data(ca, key, root_cert, chain=None):
    values = {pki.CA_CERT: pki.cert_pem(ca), pki.CA_KEY: pki.key_pem(key), pki.ROOT_CERT: pki.cert_pem(root_cert),
              pki.CERT_CHAIN: chain if chain is not None else pki.cert_pem(ca) + pki.cert_pem(root_cert)}
    return dict((k, base64.b64encode(v).decode()) for k, v in values.items())


def ext(cert, cls):
    return cert.extensions.get_extension_for_class(cls)


def test_root_follows_istio_conventions(root):
    cert = root[0]
    assert cert.subject.rfc4514_string() == "CN=Root CA,O=Istio"
    assert cert.issuer == cert.subject
    bc = ext(cert, x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length is None
    ku = ext(cert, x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.digital_signature
    assert cert.not_valid_after_utc - NOW == 3650 * DAY
    assert cert.not_valid_before_utc < NOW  # backdated for clock skew


def test_rsa_default_size_and_ecdsa_curve():
    assert pki.key_kind(pki.generate_key("rsa", 2048).public_key()) == "rsa-2048"
    assert pki.key_kind(pki.generate_key("ecdsa").public_key()) == "ecdsa-secp256r1"
    assert pki.wanted_kind("rsa", 4096) == "rsa-4096" and pki.wanted_kind("ecdsa", 4096) == "ecdsa-secp256r1"
    with pytest.raises(MeshError, match="key_type=dsa"):
        pki.generate_key("dsa")


def test_intermediate_is_pathlen0_ca_for_the_cluster_signed_by_root(root):
    ca, key = issue(root, "east")
    assert pki.signed_by(ca, root[0])
    assert pki.cluster_of(ca) == "east"
    assert ca.issuer == root[0].subject
    assert ext(ca, x509.BasicConstraints).value.path_length == 0 and ext(ca, x509.BasicConstraints).critical
    assert ext(ca, x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName) == ["istiod.istio-system.svc"]
    aki = ext(ca, x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki == ext(root[0], x509.SubjectKeyIdentifier).value.digest
    assert pki.key_matches(key, ca)


def test_intermediate_never_outlives_root(root):
    ca, _key = issue(root, days=99999)
    assert ca.not_valid_after_utc == root[0].not_valid_after_utc


def test_openssl_verifies_intermediate_against_root(root, tmp_path):
    ca, _key = issue(root)
    (tmp_path / "root.pem").write_bytes(pki.cert_pem(root[0]))
    (tmp_path / "ca.pem").write_bytes(pki.cert_pem(ca))
    # attime: the fixtures are issued at NOW (2030), not at the wall clock.
    out = subprocess.run(["openssl", "verify", "-x509_strict", "-attime", str(int(NOW.timestamp()) + 3600),
                          "-CAfile", str(tmp_path / "root.pem"), str(tmp_path / "ca.pem")],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith(": OK")


def test_fingerprint_matches_openssl(root, tmp_path):
    (tmp_path / "root.pem").write_bytes(pki.cert_pem(root[0]))
    out = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", str(tmp_path / "root.pem")],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip().split("=", 1)[1] == pki.fingerprint(root[0])


def test_build_name_orders_and_validates():
    assert pki.build_name({"CN": "x", "O": "y", "C": "US"}).rfc4514_string() == "CN=x,O=y,C=US"
    with pytest.raises(MeshError, match=r"subject: unknown attribute\(s\) XX"):
        pki.build_name({"CN": "x", "XX": "y"})
    with pytest.raises(MeshError, match="subject.O: empty value"):
        pki.build_name({"CN": "x", "O": ""})
    with pytest.raises(MeshError, match="subject.C=USA"):
        pki.build_name({"C": "USA"})
    with pytest.raises(MeshError, match="subject: empty"):
        pki.build_name({})


def test_intermediate_subject_sets_cluster_locality():
    assert pki.intermediate_subject({"CN": "I", "L": "x"}, "c2") == {"CN": "I", "L": "c2"}
    with pytest.raises(MeshError, match="cluster_name: empty"):
        pki.intermediate_subject(INT_SUBJECT, "")


def test_load_cert_and_key_errors_name_the_field(root):
    with pytest.raises(MeshError, match="cert_content: no PEM certificate"):
        pki.load_cert("hello", "cert_content")
    two = pki.cert_pem(root[0]) * 2
    with pytest.raises(MeshError, match="root_cert_path=/x: holds 2 certificates"):
        pki.load_cert(two, "root_cert_path=/x")
    with pytest.raises(MeshError, match="key_content: no PEM private key"):
        pki.load_key(pki.cert_pem(root[0]), "key_content")
    # A PEM frame around junk, assembled here: no key-shaped block sits in the repository.
    label = b"PRIVATE " + b"KEY-----"
    garbage = b"-----BEGIN " + label + b"\nAAAA\n-----END " + label + b"\n"
    with pytest.raises(MeshError, match="key_content: cannot parse") as exc:
        pki.load_key(garbage, "key_content")
    assert "AAAA" not in exc.value.msg
    encrypted = root[1].private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.BestAvailableEncryption(b"pw"))
    with pytest.raises(MeshError, match="key_content: the private key is encrypted"):
        pki.load_key(encrypted, "key_content")
    assert pki.key_matches(pki.load_key(pki.key_pem(root[1]).decode(), "k"), root[0])


def test_check_root_accepts_good_root(root):
    pki.check_root(root[0], root[1], "cert", "key", NOW)


def test_check_root_rejects_mismatched_key(root, other_root):
    with pytest.raises(MeshError, match="key does not belong to cert .CN=Root CA,O=Istio."):
        pki.check_root(root[0], other_root[1], "cert", "key", NOW)


def test_check_root_rejects_leaf_and_intermediate(root):
    ca, ca_key = issue(root)
    with pytest.raises(MeshError, match="pathlen:0"):
        pki.check_root(ca, ca_key, "cert", "key", NOW)
    leaf_key = pki.generate_key("ecdsa")
    name = pki.build_name({"CN": "leaf"})
    leaf = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(leaf_key.public_key())
            .serial_number(1).not_valid_before(NOW - DAY).not_valid_after(NOW + DAY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(leaf_key, pki.hashes.SHA256()))
    with pytest.raises(MeshError, match="cert .CN=leaf.: is not a CA certificate"):
        pki.check_root(leaf, leaf_key, "cert", "key", NOW)


def test_check_root_rejects_non_self_signed(root):
    key = pki.generate_key("ecdsa")
    sub = (x509.CertificateBuilder().subject_name(pki.build_name({"CN": "Sub"})).issuer_name(root[0].subject)
           .public_key(key.public_key()).serial_number(2).not_valid_before(NOW - DAY).not_valid_after(NOW + DAY)
           .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
           .sign(root[1], pki.hashes.SHA256()))
    with pytest.raises(MeshError, match="is not self-signed"):
        pki.check_root(sub, key, "cert", "key", NOW)


def test_check_root_rejects_expired_and_future(root):
    with pytest.raises(MeshError, match="expired at"):
        pki.check_root(root[0], root[1], "cert", "key", NOW + 3651 * DAY)
    with pytest.raises(MeshError, match="not valid before"):
        pki.check_root(root[0], root[1], "cert", "key", NOW - DAY)


def test_check_root_rejects_key_types_istiod_cannot_use():
    key = ed25519.Ed25519PrivateKey.generate()
    name = pki.build_name({"CN": "ed"})
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(3).not_valid_before(NOW - DAY).not_valid_after(NOW + DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(key, None))
    with pytest.raises(MeshError, match="key type is not supported by istiod"):
        pki.check_root(cert, key, "cert", "key", NOW)


def test_assess_valid_secret_has_no_reasons(root):
    ca, key = issue(root)
    assert pki.assess_cacerts(secret_data(ca, key, root[0]), root[0], "cluster1", 30 * DAY, NOW) == []


def test_assess_detects_foreign_root(root, other_root):
    ca, key = issue(other_root)
    reasons = pki.assess_cacerts(secret_data(ca, key, other_root[0]), root[0], "cluster1", 30 * DAY, NOW)
    assert any("root-cert.pem is a different root (CN=Other Root" in r for r in reasons)
    assert "ca-cert.pem is not signed by the given root" in reasons


def test_assess_detects_expiring_and_other_cluster(root):
    ca, key = issue(root, "cluster2", days=10)
    reasons = pki.assess_cacerts(secret_data(ca, key, root[0]), root[0], "cluster1", 30 * DAY, NOW)
    assert any("within renew_before_days=30" in r for r in reasons)
    assert "ca-cert.pem is for cluster 'cluster2' (subject L), not 'cluster1'" in reasons
    assert pki.assess_cacerts(secret_data(ca, key, root[0]), root[0], "cluster2", 5 * DAY, NOW) == []


def test_assess_detects_structural_problems(root):
    ca, key = issue(root)
    data = secret_data(ca, key, root[0])
    assert pki.assess_cacerts({}, root[0], "cluster1", DAY, NOW) == [
        "missing or empty key(s): ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem"]
    bad = dict(data, **{pki.CA_CERT: base64.b64encode(b"junk").decode()})
    assert pki.assess_cacerts(bad, root[0], "cluster1", DAY, NOW)[0].startswith("malformed: ca-cert.pem")
    bad = dict(data, **{pki.CA_KEY: "%%%not-base64"})
    assert pki.assess_cacerts(bad, root[0], "cluster1", DAY, NOW) == ["missing or empty key(s): ca-key.pem"]
    wrong_key = base64.b64encode(pki.key_pem(pki.generate_key("ecdsa"))).decode()
    assert pki.assess_cacerts(dict(data, **{pki.CA_KEY: wrong_key}), root[0], "cluster1", DAY, NOW) == [
        "ca-key.pem does not match ca-cert.pem"]
    only_ca = secret_data(ca, key, root[0], chain=pki.cert_pem(ca))
    assert pki.assess_cacerts(only_ca, root[0], "cluster1", DAY, NOW) == [
        "cert-chain.pem is not ca-cert.pem followed by the root"]


def test_describe_secret_shows_certs_never_keys(root):
    ca, key = issue(root)
    desc = pki.describe_secret(secret_data(ca, key, root[0]))
    assert desc["keys"] == sorted(pki.CACERTS_KEYS)
    assert desc["intermediate"]["sha256"] == pki.fingerprint(ca)
    assert desc["root"]["subject"] == "CN=Root CA,O=Istio"
    assert "PRIVATE KEY" not in repr(desc) and pki.key_pem(key).decode() not in repr(desc)
    assert pki.describe_secret({"x": "eA=="}) == {"keys": ["x"], "intermediate": "unreadable", "root": "unreadable"}
