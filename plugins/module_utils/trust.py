# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared root of trust and each cluster's `cacerts` Secret: what the root_ca and cacerts modules do.
Results and diffs carry descriptions (subject, fingerprint, expiry), never key material."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import contextlib
import datetime
import fcntl
import os

from ansible_collections.ambientmesh.multicluster.plugins.module_utils import atomic_write, trust_pki as pki
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.client import MANAGED_BY_LABEL, MANAGED_BY_VALUE, managed
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError

KEY_MODE = 0o600
CERT_MODE = 0o644
DIR_MODE = 0o700
RESTART_NOTE = "istiod and ztunnel must restart to load the new intermediate"
NEVER_REPLACED = "an existing root is never replaced silently: %s"


# ---- files -----------------------------------------------------------------------------------------------
def read_file(path, field):
    """The file's bytes, or None when it does not exist; other failures name the field."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise MeshError("%s=%s: is a directory; give the path of a PEM file" % (field, path))
    except OSError as e:
        raise MeshError("%s=%s: cannot read it (%s); fix its permissions or give another path"
                        % (field, path, e.strerror))


def write_files(atomic_move, entries):
    """Write [(path, bytes, mode, field)] atomically: every file is staged before any is replaced."""
    fields = dict((path, field) for path, _data, _mode, field in entries)
    try:
        atomic_write.write_files(atomic_move, [entry[:3] for entry in entries], dir_mode=DIR_MODE)
    except OSError as e:
        raise MeshError("%s=%s: cannot write it (%s)" % (fields.get(e.filename, "path"), e.filename, e.strerror))


def load_root(cert_data, key_data, cert_field, key_field, now):
    """(cert, key) of a usable root, or a MeshError naming the input at fault."""
    cert = pki.load_cert(cert_data, cert_field)
    key = pki.load_key(key_data, key_field)
    pki.check_root(cert, key, cert_field, key_field, now)
    return cert, key


# ---- root_ca ---------------------------------------------------------------------------------------------
def _existing_root(cert_path, key_path, now):
    """(cert, key, problem): the root stored at the paths, None when neither file exists, or why it is unusable."""
    cert_field, key_field = "cert_path=%s" % cert_path, "key_path=%s" % key_path
    cert_data, key_data = read_file(cert_path, "cert_path"), read_file(key_path, "key_path")
    if cert_data is None and key_data is None:
        return None, None, None
    if cert_data is None or key_data is None:
        there, gone = (key_field, cert_field) if cert_data is None else (cert_field, key_field)
        return None, None, "%s exists but %s does not" % (there, gone)
    try:
        cert, key = load_root(cert_data, key_data, cert_field, key_field, now)
    except MeshError as e:
        return None, None, e.msg
    return cert, key, None


def _option_mismatch(cert, params):
    """How an existing root differs from the generation options (for regenerate=fail)."""
    out = []
    want = pki.wanted_kind(params["key_type"], params["rsa_key_size"])
    have = pki.key_kind(cert.public_key())
    if have != want:
        out.append("key %s, options ask for %s" % (have, want))
    if cert.subject != pki.build_name(params["subject"]):
        out.append("subject %s, options ask for %s"
                   % (cert.subject.rfc4514_string(), pki.build_name(params["subject"]).rfc4514_string()))
    return out


@contextlib.contextmanager
def root_lock(cert_path, check_mode):
    """Hold an exclusive lock on cert_path's folder while the root is read and written, so that two runs started
    together make one root: the second waits, then finds and keeps the first one's. The lock is on the folder
    itself (flock on a directory descriptor), so no lock file is left among the user's files. A dry run takes
    no lock (it writes nothing, and creates no folder)."""
    if check_mode or not cert_path:
        yield
        return
    directory = os.path.dirname(cert_path) or "."
    try:
        os.makedirs(directory, mode=DIR_MODE, exist_ok=True)
        fd = os.open(directory, os.O_RDONLY)
    except OSError as e:
        raise MeshError("cert_path=%s: cannot lock its folder (%s)" % (cert_path, e.strerror))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def ensure_root(params, check_mode, diff, now=None, atomic_move=None):
    """Generate, import or keep the root at cert_path/key_path (or only validate given content). The input is
    checked before anything on disk is touched; reading and writing the files happen under root_lock."""
    pki.require_cryptography()
    now = now or pki.utcnow()
    if params["valid_days"] < 1:
        raise MeshError("valid_days=%d: give a positive number of days" % params["valid_days"])
    pki.build_name(params["subject"])
    wanted = None
    if params["cert_content"] or params["key_content"]:
        wanted = load_root(params["cert_content"], params["key_content"], "cert_content", "key_content", now)
        if not params["cert_path"]:
            return root_result(False, "validated", wanted[0], None, None, diff, wanted[0])
    with root_lock(params["cert_path"], check_mode):
        return _ensure_root(params, check_mode, diff, now, wanted, atomic_move)


def _ensure_root(params, check_mode, diff, now, wanted, atomic_move):
    cert_path, key_path = params["cert_path"], params["key_path"]
    regenerate = params["regenerate"]
    cert, key, problem = _existing_root(cert_path, key_path, now)
    if problem:
        if regenerate != "always":
            raise MeshError("%s; %s" % (problem, NEVER_REPLACED % "fix or remove the files, or set regenerate=always"))
        action = "replaced" if wanted else "regenerated"
    elif cert is None:
        action = "imported" if wanted else "generated"
    elif wanted:
        if pki.fingerprint(cert) == pki.fingerprint(wanted[0]):
            action = "kept"
        elif regenerate == "always":
            action = "replaced"
        else:
            raise MeshError("cert_path=%s holds a different root (sha256 %s) than cert_content (sha256 %s); %s"
                            % (cert_path, pki.fingerprint(cert), pki.fingerprint(wanted[0]),
                               NEVER_REPLACED % "set regenerate=always to replace it (every cluster's cacerts is "
                                                "then reissued)"))
    elif regenerate == "always":
        action = "regenerated"
    else:
        mismatch = _option_mismatch(cert, params) if regenerate == "fail" else []
        if mismatch:
            raise MeshError("cert_path=%s: the existing root does not match the options (%s); set regenerate=never "
                            "to keep it or regenerate=always to replace it" % (cert_path, "; ".join(mismatch)))
        action = "kept"

    before = cert
    if action == "kept":
        return _ensure_key_mode(cert_path, key_path, check_mode, cert, diff)
    if check_mode:
        return root_result(True, action, wanted[0] if wanted else None, cert_path, key_path, diff, before)
    if wanted:
        cert, key = wanted
    else:
        key = pki.generate_key(params["key_type"], params["rsa_key_size"])
        cert = pki.build_root(key, params["subject"], params["valid_days"], now)
    write_files(atomic_move, [(key_path, pki.key_pem(key), KEY_MODE, "key_path"),
                              (cert_path, pki.cert_pem(cert), CERT_MODE, "cert_path")])
    return root_result(True, action, cert, cert_path, key_path, diff, before)


def _ensure_key_mode(cert_path, key_path, check_mode, cert, diff):
    mode = os.stat(key_path).st_mode & 0o777
    if mode == KEY_MODE:
        return root_result(False, "kept", cert, cert_path, key_path, diff, cert)
    if not check_mode:
        os.chmod(key_path, KEY_MODE)
    result = root_result(True, "kept", cert, cert_path, key_path, diff, cert)
    result["msg"] = "key_path=%s had mode %04o; set to %04o" % (key_path, mode, KEY_MODE)
    return result


def root_result(changed, action, cert, cert_path, key_path, diff, before):
    result = {"changed": changed, "action": action, "root": pki.describe(cert) if cert else {}}
    if cert_path:
        result["cert_path"] = cert_path
    if key_path:
        result["key_path"] = key_path
    if diff:
        result["diff"] = {"before": pki.describe(before) if before else {},
                          "after": result["root"] or {"root": "to be generated"}}
    return result


# ---- cacerts ---------------------------------------------------------------------------------------------
def root_from_params(params, check_mode, now):
    """The signing root from content or files; None in check mode when the files are not there yet."""
    if params["root_cert_content"] or params["root_key_content"]:
        return load_root(params["root_cert_content"], params["root_key_content"], "root_cert_content",
                         "root_key_content", now)
    cert_path, key_path = params["root_cert_path"], params["root_key_path"]
    # under the root's lock when its folder exists: never a key and a certificate from two different writes
    locked = os.path.isdir(os.path.dirname(cert_path) or ".") and not check_mode
    with root_lock(cert_path, not locked):
        cert_data, key_data = read_file(cert_path, "root_cert_path"), read_file(key_path, "root_key_path")
    if cert_data is None and key_data is None and check_mode:
        return None
    for data, field, path in ((cert_data, "root_cert_path", cert_path), (key_data, "root_key_path", key_path)):
        if data is None:
            raise MeshError("%s=%s: not found; create the root first (ambientmesh.multicluster.root_ca) or give "
                            "root_cert_content and root_key_content" % (field, path))
    return load_root(cert_data, key_data, "root_cert_path=%s" % cert_path, "root_key_path=%s" % key_path, now)


def cacerts_secret(namespace, name, ca, key, root):
    ca_pem, root_pem = pki.cert_pem(ca), pki.cert_pem(root)
    values = {pki.CA_CERT: ca_pem, pki.CA_KEY: pki.key_pem(key), pki.ROOT_CERT: root_pem,
              pki.CERT_CHAIN: ca_pem + root_pem}
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": namespace, "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE}},
            "data": dict((k, base64.b64encode(v).decode("ascii")) for k, v in values.items())}


def validate_cacerts_params(params, now, root):
    """Input errors that must stop the run before anything is read or written."""
    if params["renew_before_days"] < 0:
        raise MeshError("renew_before_days=%d: give zero or a positive number of days" % params["renew_before_days"])
    if params["valid_days"] <= params["renew_before_days"]:
        raise MeshError("valid_days=%d must be larger than renew_before_days=%d, or every run would reissue the "
                        "intermediate" % (params["valid_days"], params["renew_before_days"]))
    subject = pki.intermediate_subject(params["subject"], params["cluster_name"])
    pki.build_name(subject)
    renew_before = datetime.timedelta(days=params["renew_before_days"])
    if root and root[0].not_valid_after_utc - now < renew_before:
        raise MeshError("the root (%s) expires at %s, within renew_before_days=%d: an intermediate cannot outlive "
                        "it; rotate the root first" % (root[0].subject.rfc4514_string(),
                                                       pki.iso(root[0].not_valid_after_utc),
                                                       params["renew_before_days"]))
    return subject, renew_before


def reconcile_cacerts(kube, params, check_mode, diff, now=None):
    """Ensure (or remove) the cacerts Secret of one cluster; returns the module result."""
    pki.require_cryptography()
    now = now or pki.utcnow()
    namespace, name = params["namespace"], params["name"]
    where = "%s/%s in cluster %s" % (namespace, name, params["cluster_name"])
    if params["state"] == "absent":
        return remove_cacerts(kube, namespace, name, where, diff)

    root = root_from_params(params, check_mode, now)
    subject, renew_before = validate_cacerts_params(params, now, root)
    live = kube.get("v1", "Secret", name, namespace)
    if live is None:
        reasons = ["absent"]
    elif root is None:
        reasons = ["the root at root_cert_path does not exist yet (check mode)"]
    else:
        reasons = pki.assess_cacerts(live.get("data"), root[0], params["cluster_name"], renew_before, now)
    before = pki.describe_secret(live.get("data")) if live else {}
    result = {"secret": "%s/%s" % (namespace, name), "reasons": reasons, "managed": bool(live and managed(live))}

    if not reasons:
        result.update(changed=False, status="kept", restart_required=False, intermediate=before["intermediate"],
                      root=before["root"])
        return _with_diff(result, diff, before, before)
    if live and params["on_invalid"] == "fail":
        raise MeshError("%s needs reissuing (%s) and on_invalid=fail; set on_invalid=reissue to replace it (then %s) "
                        "or fix the Secret" % (where, "; ".join(reasons), RESTART_NOTE), reasons=reasons)
    if live and live.get("type", "Opaque") != "Opaque":
        raise MeshError("%s is a %s Secret (another tool's layout?); this module manages the Opaque layout istiod "
                        "reads (%s): delete the Secret or leave it to the tool that made it"
                        % (where, live["type"], ", ".join(pki.CACERTS_KEYS)), reasons=reasons)

    status = "reissued" if live else "created"
    result.update(changed=True, status=status, restart_required=True, msg="%s %s: %s" % (where, status, RESTART_NOTE))
    if root is None or (check_mode and live is None and kube.get("v1", "Namespace", namespace) is None):
        # Check mode ahead of the root or the namespace: nothing the server could dry-run yet.
        result.update(intermediate={}, root={})
        return _with_diff(result, diff, before, {"keys": list(pki.CACERTS_KEYS), "intermediate": "to be issued"})

    key = pki.generate_key(params["key_type"], params["rsa_key_size"])
    ca = pki.build_intermediate(key, root[0], root[1], subject, params["valid_days"], params["san_dns"], now)
    secret = cacerts_secret(namespace, name, ca, key, root[0])
    if live and set(live.get("data") or {}) - set(pki.CACERTS_KEYS):
        # Keys we do not own (an old ca-crl.pem, ...) would survive a server-side apply and mislead istiod.
        kube.delete("v1", "Secret", name, namespace)
    kube.apply(secret)
    after = pki.describe_secret(secret["data"])
    result.update(intermediate=after["intermediate"], root=after["root"])
    return _with_diff(result, diff, before, after)


def remove_cacerts(kube, namespace, name, where, diff):
    live = kube.get("v1", "Secret", name, namespace)
    if live is None:
        return {"changed": False, "status": "absent", "secret": "%s/%s" % (namespace, name)}
    before = pki.describe_secret(live.get("data"))
    if not managed(live):
        return {"changed": False, "status": "kept", "secret": "%s/%s" % (namespace, name),
                "msg": "%s has no %s=%s label, so this collection did not make it; left in place"
                       % (where, MANAGED_BY_LABEL, MANAGED_BY_VALUE)}
    kube.delete("v1", "Secret", name, namespace)
    return _with_diff({"changed": True, "status": "deleted", "secret": "%s/%s" % (namespace, name)},
                      diff, before, {})


def _with_diff(result, diff, before, after):
    if diff:
        result["diff"] = {"before": before, "after": after}
    return result
