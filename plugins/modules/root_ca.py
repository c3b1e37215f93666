#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: root_ca
short_description: Ensure the mesh's shared root CA exists (generate, import or validate)
version_added: 0.1.0
author: ambientmesh.multicluster maintainers (@ambientmesh)
description:
  - Ensures the root certificate authority that every cluster of the mesh shares. Each cluster's
    intermediate CA (see M(ambientmesh.multicluster.cacerts)) is signed by it.
  - Runs on the controller and talks to no cluster. Run it once (C(run_once), C(delegate_to=localhost)).
  - With O(cert_path)/O(key_path) only, generates the root there when neither file exists, and otherwise
    keeps and validates what is there.
  - With O(cert_content)/O(key_content) (for example from an AWX credential), validates the given root and,
    when paths are also given, writes it there. Without paths nothing is written, so runs stay stateless.
  - An existing root is never replaced silently; see O(regenerate).
  - The private key never appears in results or diffs; they show subject, SHA-256 fingerprint and expiry.
  - Key files are written with mode C(0600), their directory with C(0700).
requirements:
  - cryptography
extends_documentation_fragment:
  - ambientmesh.multicluster.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: partial
    details: Idempotent unless O(regenerate=always) without O(cert_content), which makes a new root on every run.
  action_group:
    support: none
    membership: []
options:
  cert_path:
    description:
      - Where the root certificate (PEM) is kept, for example C(~/.ambientmesh/mesh1/root-cert.pem).
    type: path
  key_path:
    description:
      - Where the root's private key (PEM, unencrypted, mode C(0600)) is kept.
    type: path
  cert_content:
    description:
      - The user's own root certificate (PEM) to validate, and to write to O(cert_path) when that is given.
    type: str
  key_content:
    description:
      - The private key (PEM, unencrypted) of O(cert_content).
    type: str
  regenerate:
    description:
      - What to do when a root already exists at O(cert_path)/O(key_path).
      - V(never) keeps a valid existing root whatever the generation options say; an unreadable, mismatched,
        non-CA or expired root, or one that differs from O(cert_content), fails the task.
      - V(fail) also fails when the existing root does not match O(key_type), O(rsa_key_size) or O(subject).
      - V(always) replaces it (a new root on every run unless O(cert_content) is given). Every cluster's
        C(cacerts) is then reissued and istiod and ztunnel must restart.
    type: str
    choices: [never, fail, always]
    default: never
  key_type:
    description: Key algorithm of a generated root.
    type: str
    choices: [rsa, ecdsa]
    default: rsa
  rsa_key_size:
    description: RSA key size in bits when O(key_type=rsa) (Istio's tools use 4096). ECDSA keys use curve P-256.
    type: int
    choices: [2048, 3072, 4096]
    default: 4096
  subject:
    description:
      - Subject of a generated root, by attribute short name (C(C), C(ST), C(L), C(O), C(OU), C(CN)).
    type: dict
    default: {O: Istio, CN: Root CA}
  valid_days:
    description: Validity of a generated root in days.
    type: int
    default: 3650
seealso:
  - module: ambientmesh.multicluster.cacerts
notes:
  - Keep the key in Ansible Vault or an AWX credential when you pass O(key_content); it is never logged.
"""

EXAMPLES = r"""
- name: Ensure the shared root CA on the controller
  ambientmesh.multicluster.root_ca:
    cert_path: ~/.ambientmesh/mesh1/root-cert.pem
    key_path: ~/.ambientmesh/mesh1/root-key.pem
  run_once: true
  delegate_to: localhost

- name: Use an ECDSA root with a custom subject
  ambientmesh.multicluster.root_ca:
    cert_path: /secure/mesh/root-cert.pem
    key_path: /secure/mesh/root-key.pem
    key_type: ecdsa
    subject: {O: Example Corp, CN: Mesh Root CA}
    regenerate: fail

- name: Validate a root supplied by an AWX credential (nothing written)
  ambientmesh.multicluster.root_ca:
    cert_content: "{{ mesh_root_cert }}"
    key_content: "{{ mesh_root_key }}"
  no_log: true
"""

RETURN = r"""
action:
  description: What happened to the root.
  returned: always
  type: str
  sample: generated
  choices: [generated, imported, kept, regenerated, replaced, validated]
root:
  description: The root certificate (empty in check mode before it exists). Never the key.
  returned: always
  type: dict
  contains:
    subject:
      description: Subject, RFC 4514.
      type: str
      sample: CN=Root CA,O=Istio
    issuer:
      description: Issuer, RFC 4514 (the subject for a root).
      type: str
      sample: CN=Root CA,O=Istio
    serial:
      description: Serial number in hex.
      type: str
      sample: 3e1f0c5a
    sha256:
      description: SHA-256 fingerprint as C(openssl x509 -fingerprint -sha256) prints it.
      type: str
      sample: "AB:CD:..."
    not_before:
      description: Start of validity (UTC).
      type: str
      sample: "2025-01-01T00:00:00Z"
    not_after:
      description: End of validity (UTC).
      type: str
      sample: "2035-01-01T00:00:00Z"
    key:
      description: Key algorithm and size or curve.
      type: str
      sample: rsa-4096
cert_path:
  description: Path of the root certificate.
  returned: when O(cert_path) is given
  type: str
  sample: /home/me/.ambientmesh/mesh1/root-cert.pem
key_path:
  description: Path of the root key.
  returned: when O(key_path) is given
  type: str
  sample: /home/me/.ambientmesh/mesh1/root-key.pem
"""

from ansible_collections.ambientmesh.multicluster.plugins.module_utils import trust
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.module import cluster_module, run


def main():
    module = cluster_module(
        dict(
            cert_path=dict(type="path"),
            key_path=dict(type="path", no_log=False),
            cert_content=dict(type="str"),
            key_content=dict(type="str", no_log=True),
            regenerate=dict(type="str", choices=["never", "fail", "always"], default="never"),
            key_type=dict(type="str", choices=["rsa", "ecdsa"], default="rsa", no_log=False),
            rsa_key_size=dict(type="int", choices=[2048, 3072, 4096], default=4096, no_log=False),
            subject=dict(type="dict", default={"O": "Istio", "CN": "Root CA"}),
            valid_days=dict(type="int", default=3650),
        ),
        with_auth=False,
        required_together=[("cert_path", "key_path"), ("cert_content", "key_content")],
        required_one_of=[("cert_path", "cert_content")],
    )
    run(module, lambda m: trust.ensure_root(m.params, m.check_mode, m._diff, atomic_move=m.atomic_move))


if __name__ == "__main__":
    main()
