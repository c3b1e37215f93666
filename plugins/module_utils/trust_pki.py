# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Certificate logic for the mesh's root of trust, as pure functions over `cryptography` objects: make keys,
the root and per-cluster intermediates (Istio's tools/certs conventions), parse PEM, check a root and an
existing `cacerts` Secret, and describe certificates without key material (fingerprints, subjects, expiry)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import datetime

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID
    HAS_CRYPTOGRAPHY = True
except ImportError:
    HAS_CRYPTOGRAPHY = False

# Subject attributes users may set, by their usual short names, in the order they appear in a subject.
SUBJECT_OIDS = {
    "C": "COUNTRY_NAME",
    "ST": "STATE_OR_PROVINCE_NAME",
    "L": "LOCALITY_NAME",
    "O": "ORGANIZATION_NAME",
    "OU": "ORGANIZATIONAL_UNIT_NAME",
    "CN": "COMMON_NAME",
}
# The Secret's keys istiod reads (security/pkg/pki/ca/ca.go).
CA_CERT, CA_KEY, ROOT_CERT, CERT_CHAIN = "ca-cert.pem", "ca-key.pem", "root-cert.pem", "cert-chain.pem"
CACERTS_KEYS = (CA_CERT, CA_KEY, ROOT_CERT, CERT_CHAIN)
# Backdate notBefore so a controller clock slightly ahead of the clusters' does not yield a not-yet-valid CA.
CLOCK_SKEW = datetime.timedelta(minutes=5)


def require_cryptography():
    if not HAS_CRYPTOGRAPHY:
        raise MeshError(missing_required_lib("cryptography"))


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


# ---- keys ------------------------------------------------------------------------------------------------
def generate_key(key_type, rsa_key_size=4096):
    """A new private key: RSA (Istio's default, 4096 bits) or ECDSA P-256."""
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=rsa_key_size)
    if key_type == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    raise MeshError("key_type=%s: unsupported; use rsa or ecdsa" % key_type)


def key_kind(public_key):
    """'rsa-4096', 'ecdsa-secp256r1', ... (what istiod can sign with), or None for other key types."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return "rsa-%d" % public_key.key_size
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return "ecdsa-%s" % public_key.curve.name
    return None


def wanted_kind(key_type, rsa_key_size):
    return "rsa-%d" % rsa_key_size if key_type == "rsa" else "ecdsa-secp256r1"


def key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def _spki(public_key):
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_matches(key, cert):
    return _spki(key.public_key()) == _spki(cert.public_key())


# ---- names -----------------------------------------------------------------------------------------------
def build_name(subject, field="subject"):
    """x509.Name from {'O': 'Istio', 'CN': 'Root CA', ...}; unknown or empty attributes fail naming field."""
    if not subject:
        raise MeshError("%s: empty; give at least CN, e.g. {CN: Root CA, O: Istio}" % field)
    unknown = sorted(set(subject) - set(SUBJECT_OIDS))
    if unknown:
        raise MeshError("%s: unknown attribute(s) %s; use %s" % (field, ", ".join(unknown), ", ".join(SUBJECT_OIDS)))
    attrs = []
    for short in (k for k in SUBJECT_OIDS if k in subject):
        value = str(subject[short] or "")
        if not value:
            raise MeshError("%s.%s: empty value; give a value or leave the attribute out" % (field, short))
        if short == "C" and len(value) != 2:
            raise MeshError("%s.C=%s: a country is a two-letter ISO code, e.g. US" % (field, value))
        attrs.append(x509.NameAttribute(getattr(NameOID, SUBJECT_OIDS[short]), value))
    return x509.Name(attrs)


def intermediate_subject(subject, cluster_name):
    """The intermediate's subject: the given attributes with L=<cluster> (Istio's tools/certs put it there)."""
    if not cluster_name:
        raise MeshError("cluster_name: empty; give the Istio cluster name (mesh_cluster_name or the host name)")
    merged = dict(subject or {})
    merged["L"] = cluster_name
    return merged


def cluster_of(cert):
    values = cert.subject.get_attributes_for_oid(NameOID.LOCALITY_NAME)
    return values[0].value if values else None


# ---- building certificates --------------------------------------------------------------------------------
# Istio's tools/certs keyUsage for both root and intermediate: digitalSignature, nonRepudiation,
# keyEncipherment, keyCertSign (critical).
def _key_usage():
    return x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=True,
                         data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=False,
                         encipher_only=False, decipher_only=False)


def build_root(key, subject, valid_days, now):
    name = build_name(subject)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW).not_valid_after(now + datetime.timedelta(days=valid_days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_key_usage(), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))


def build_intermediate(key, root_cert, root_key, subject, valid_days, san_dns, now):
    """An intermediate CA (pathlen 0) signed by the root; it never outlives the root."""
    not_after = min(now + datetime.timedelta(days=valid_days), root_cert.not_valid_after_utc)
    builder = (x509.CertificateBuilder().subject_name(build_name(subject)).issuer_name(root_cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - CLOCK_SKEW).not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(_key_usage(), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_cert.public_key()),
                              critical=False))
    if san_dns:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in san_dns]),
                                        critical=False)
    return builder.sign(root_key, hashes.SHA256())


# ---- parsing ---------------------------------------------------------------------------------------------
def _text(data):
    return data.encode("utf-8") if isinstance(data, str) else data


def load_certs(data, field):
    """Every certificate in a PEM text; fails naming field when there is none or it is not PEM."""
    raw = _text(data or b"")
    try:
        certs = x509.load_pem_x509_certificates(raw)
    except ValueError:
        certs = []
    if not certs:
        raise MeshError("%s: no PEM certificate found (expected a '-----BEGIN CERTIFICATE-----' block)" % field)
    return certs


def load_cert(data, field):
    certs = load_certs(data, field)
    if len(certs) != 1:
        raise MeshError("%s: holds %d certificates; give exactly one" % (field, len(certs)))
    return certs[0]


def load_key(data, field):
    """An unencrypted PEM private key; the message never quotes the input."""
    raw = _text(data or b"")
    if b"PRIVATE KEY-----" not in raw:
        raise MeshError("%s: no PEM private key found (expected a '-----BEGIN ... PRIVATE KEY-----' block)" % field)
    try:
        return serialization.load_pem_private_key(raw, password=None)
    except TypeError:
        raise MeshError("%s: the private key is encrypted; give it unencrypted (keep it in Ansible Vault or an "
                        "AWX credential instead)" % field)
    except (ValueError, UnsupportedAlgorithm) as e:
        raise MeshError("%s: cannot parse the private key (%s)" % (field, type(e).__name__))


# ---- checks ----------------------------------------------------------------------------------------------
def _basic_constraints(cert):
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return None


def _can_sign_certs(cert):
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    except x509.ExtensionNotFound:
        return True


def is_ca(cert):
    bc = _basic_constraints(cert)
    return bool(bc and bc.ca) and _can_sign_certs(cert)


def signed_by(cert, issuer):
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def check_root(cert, key, cert_field, key_field, now):
    """Raise a MeshError naming the input when cert/key cannot serve as the mesh root."""
    who = "%s (%s)" % (cert_field, cert.subject.rfc4514_string())
    if key_kind(cert.public_key()) is None:
        raise MeshError("%s: its key type is not supported by istiod; use an RSA or ECDSA root" % who)
    if not is_ca(cert):
        raise MeshError("%s: is not a CA certificate (needs basicConstraints CA:TRUE and keyCertSign); "
                        "give the root CA certificate, not a leaf" % who)
    bc = _basic_constraints(cert)
    if bc.path_length == 0:
        raise MeshError("%s: has pathlen:0, so it cannot sign the per-cluster intermediate CAs; "
                        "use a root without a path length limit (or pathlen >= 1)" % who)
    if cert.issuer != cert.subject or not signed_by(cert, cert):
        raise MeshError("%s: is not self-signed (issuer %s); give the root certificate itself"
                        % (who, cert.issuer.rfc4514_string()))
    if not key_matches(key, cert):
        raise MeshError("%s does not belong to %s: the private key does not match the certificate's public key; "
                        "give the key that was generated with this root" % (key_field, who))
    if cert.not_valid_after_utc <= now:
        raise MeshError("%s: expired at %s; rotate the root (regenerate=always, then every cluster's cacerts is "
                        "reissued and istiod/ztunnel restart)" % (who, iso(cert.not_valid_after_utc)))
    if cert.not_valid_before_utc > now + CLOCK_SKEW:
        raise MeshError("%s: not valid before %s; check the clock of the machine that made it"
                        % (who, iso(cert.not_valid_before_utc)))


def _decode(data):
    """Secret data values are base64 in the API; undecodable values become None."""
    out = {}
    for k, v in (data or {}).items():
        try:
            out[k] = base64.b64decode(v, validate=True)
        except (binascii.Error, ValueError, TypeError):
            out[k] = None
    return out


def assess_cacerts(secret_data, root_cert, cluster_name, renew_before, now):
    """Why an existing cacerts Secret (its base64 `data`) needs reissuing: a list of reasons, empty when it is
    a valid intermediate for cluster_name chaining to root_cert and valid beyond now + renew_before."""
    data = _decode(secret_data)
    missing = [k for k in CACERTS_KEYS if not data.get(k)]
    if missing:
        return ["missing or empty key(s): %s" % ", ".join(missing)]
    reasons = []
    try:
        ca = load_cert(data[CA_CERT], CA_CERT)
        key = load_key(data[CA_KEY], CA_KEY)
        root = load_cert(data[ROOT_CERT], ROOT_CERT)
        chain = load_certs(data[CERT_CHAIN], CERT_CHAIN)
    except MeshError as e:
        return ["malformed: %s" % e.msg]
    if fingerprint(root) != fingerprint(root_cert):
        reasons.append("%s is a different root (%s, sha256 %s) than the given one (sha256 %s)"
                       % (ROOT_CERT, root.subject.rfc4514_string(), fingerprint(root), fingerprint(root_cert)))
    if not signed_by(ca, root_cert):
        reasons.append("%s is not signed by the given root" % CA_CERT)
    if not key_matches(key, ca):
        reasons.append("%s does not match %s" % (CA_KEY, CA_CERT))
    if not is_ca(ca):
        reasons.append("%s is not a CA certificate" % CA_CERT)
    if [fingerprint(c) for c in chain] != [fingerprint(ca), fingerprint(root_cert)]:
        reasons.append("%s is not %s followed by the root" % (CERT_CHAIN, CA_CERT))
    if cluster_of(ca) != cluster_name:
        reasons.append("%s is for cluster %r (subject L), not %r" % (CA_CERT, cluster_of(ca), cluster_name))
    if ca.not_valid_after_utc - now < renew_before:
        reasons.append("%s expires at %s, within renew_before_days=%d"
                       % (CA_CERT, iso(ca.not_valid_after_utc), renew_before.days))
    if ca.not_valid_before_utc > now + CLOCK_SKEW:
        reasons.append("%s is not valid before %s" % (CA_CERT, iso(ca.not_valid_before_utc)))
    return reasons


# ---- descriptions (safe to print) ------------------------------------------------------------------------
def iso(when):
    return when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def fingerprint(cert):
    """SHA-256 fingerprint as `openssl x509 -fingerprint -sha256` prints it."""
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def describe(cert):
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "sha256": fingerprint(cert),
        "not_before": iso(cert.not_valid_before_utc),
        "not_after": iso(cert.not_valid_after_utc),
        "key": key_kind(cert.public_key()),
    }


def describe_secret(secret_data):
    """What a diff may show of a cacerts Secret: its keys and, when readable, its certificates."""
    data = _decode(secret_data)
    out = {"keys": sorted(data)}
    for field, name in ((CA_CERT, "intermediate"), (ROOT_CERT, "root")):
        try:
            out[name] = describe(load_cert(data.get(field), field))
        except MeshError:
            out[name] = "unreadable"
    return out
