#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: cacerts
short_description: Ensure istio-system/cacerts holds this cluster's intermediate CA, signed by the shared root
version_added: 0.1.0
author: ambientmesh.multicluster maintainers (@ambientmesh)
description:
  - Ensures the C(cacerts) Secret istiod reads at start (keys C(ca-cert.pem), C(ca-key.pem), C(root-cert.pem),
    C(cert-chain.pem)) holds an intermediate CA for one cluster, signed by the mesh's shared root, with
    C(cert-chain.pem) = intermediate followed by root. Certificates follow Istio's C(tools/certs) conventions
    (pathlen 0, critical key usage, SAN C(istiod.istio-system.svc), the cluster name as subject C(L)).
  - An existing Secret that chains to the same root, is for the same cluster and is valid beyond
    O(renew_before_days) is left alone, whoever made it. One signed by another root, for another cluster,
    expiring or malformed is reissued, or the task fails when O(on_invalid=fail).
  - When the Secret is created or reissued, the result says C(restart_required=true) - istiod and ztunnel only
    load a new intermediate when they restart.
  - Results and diffs show subjects, fingerprints and expiry, never key material.
  - With O(state=absent), deletes the Secret only when it carries the label
    C(app.kubernetes.io/managed-by=ambientmesh.multicluster).
requirements:
  - cryptography
  - kubernetes
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - ambientmesh.multicluster.attributes
attributes:
  check_mode:
    support: full
    details: The write is a server-side dry run; before the root or the namespace exist, the change is predicted.
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  cluster_name:
    description:
      - The Istio cluster name; it becomes the intermediate's subject C(L) (locality), as in Istio's tools.
    type: str
    required: true
  state:
    description: V(present) ensures the Secret, V(absent) deletes it when this collection made it.
    type: str
    choices: [present, absent]
    default: present
  namespace:
    description: Namespace of the Secret (istiod's namespace).
    type: str
    default: istio-system
  name:
    description: Name of the Secret.
    type: str
    default: cacerts
  root_cert_path:
    description:
      - The shared root certificate (PEM) on the controller, as made by M(ambientmesh.multicluster.root_ca).
      - Required with O(state=present) unless O(root_cert_content) is given.
    type: path
  root_key_path:
    description: The shared root's private key (PEM) on the controller.
    type: path
  root_cert_content:
    description: The shared root certificate (PEM) as text, for example from an AWX credential.
    type: str
  root_key_content:
    description: The shared root's private key (PEM, unencrypted) as text.
    type: str
  key_type:
    description: Key algorithm of a new intermediate.
    type: str
    choices: [rsa, ecdsa]
    default: rsa
  rsa_key_size:
    description: RSA key size in bits when O(key_type=rsa). ECDSA keys use curve P-256.
    type: int
    choices: [2048, 3072, 4096]
    default: 4096
  subject:
    description:
      - Subject of a new intermediate, by attribute short name (C(C), C(ST), C(O), C(OU), C(CN)).
        C(L) is always O(cluster_name).
    type: dict
    default: {O: Istio, CN: Intermediate CA}
  valid_days:
    description: Validity of a new intermediate in days; it never outlives the root.
    type: int
    default: 3650
  renew_before_days:
    description: Reissue an intermediate that expires within this many days.
    type: int
    default: 30
  san_dns:
    description: DNS subject alternative names of a new intermediate.
    type: list
    elements: str
    default: [istiod.istio-system.svc]
  on_invalid:
    description:
      - What to do with an existing Secret that needs reissuing (another root, another cluster, expiring,
        malformed). V(reissue) replaces it, V(fail) fails the task naming the reasons and changes nothing.
    type: str
    choices: [reissue, fail]
    default: reissue
seealso:
  - module: ambientmesh.multicluster.root_ca
  - name: Plug in CA certificates (Istio)
    description: The Secret layout and the certificate conventions.
    link: https://istio.io/latest/docs/tasks/security/cert-management/plugin-ca-cert/
"""

EXAMPLES = r"""
- name: Ensure this cluster's intermediate CA
  ambientmesh.multicluster.cacerts:
    context: "{{ kube_context }}"
    cluster_name: "{{ mesh_cluster_name | default(inventory_hostname) }}"
    root_cert_path: ~/.ambientmesh/mesh1/root-cert.pem
    root_key_path: ~/.ambientmesh/mesh1/root-key.pem
  register: cacerts

- name: Restart istiod when its CA changed
  kubernetes.core.k8s:
    state: patched
    kind: Deployment
    name: istiod
    namespace: istio-system
    definition:
      spec:
        template:
          metadata:
            annotations:
              kubectl.kubernetes.io/restartedAt: "{{ now(utc=true).isoformat() }}"
  when: cacerts.restart_required

- name: Refuse to replace a cacerts that another root signed
  ambientmesh.multicluster.cacerts:
    cluster_name: cluster2
    root_cert_content: "{{ mesh_root_cert }}"
    root_key_content: "{{ mesh_root_key }}"
    on_invalid: fail

- name: Remove the Secret (only if this collection made it)
  ambientmesh.multicluster.cacerts:
    cluster_name: cluster2
    state: absent
"""

RETURN = r"""
status:
  description: What happened to the Secret.
  returned: always
  type: str
  choices: [created, reissued, kept, deleted, absent]
  sample: created
secret:
  description: C(namespace/name) of the Secret.
  returned: always
  type: str
  sample: istio-system/cacerts
reasons:
  description: Why the Secret was (or would be) issued; empty when it was kept.
  returned: with O(state=present)
  type: list
  elements: str
  sample: ["root-cert.pem is a different root (CN=Other Root, sha256 AB:...) than the given one (sha256 CD:...)"]
restart_required:
  description: True when the intermediate changed, so running istiod and ztunnel must restart to load it.
  returned: with O(state=present)
  type: bool
  sample: true
managed:
  description: Whether the Secret as it was carried this collection's managed-by label.
  returned: with O(state=present)
  type: bool
  sample: true
intermediate:
  description: The intermediate CA certificate (subject, issuer, serial, sha256, not_before, not_after, key).
  returned: with O(state=present)
  type: dict
  sample: {subject: "CN=Intermediate CA,O=Istio,L=cluster1", sha256: "AB:CD:...", not_after: "2035-01-01T00:00:00Z"}
root:
  description: The root certificate in the Secret (same fields as RV(intermediate)).
  returned: with O(state=present)
  type: dict
  sample: {subject: "CN=Root CA,O=Istio", sha256: "12:34:..."}
"""

from ansible_collections.ambientmesh.multicluster.plugins.module_utils import trust
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.client import Kube
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.module import cluster_module, run


def main():
    module = cluster_module(
        dict(
            cluster_name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            namespace=dict(type="str", default="istio-system"),
            name=dict(type="str", default="cacerts"),
            root_cert_path=dict(type="path"),
            root_key_path=dict(type="path", no_log=False),
            root_cert_content=dict(type="str"),
            root_key_content=dict(type="str", no_log=True),
            key_type=dict(type="str", choices=["rsa", "ecdsa"], default="rsa", no_log=False),
            rsa_key_size=dict(type="int", choices=[2048, 3072, 4096], default=4096, no_log=False),
            subject=dict(type="dict", default={"O": "Istio", "CN": "Intermediate CA"}),
            valid_days=dict(type="int", default=3650),
            renew_before_days=dict(type="int", default=30),
            san_dns=dict(type="list", elements="str", default=["istiod.istio-system.svc"]),
            on_invalid=dict(type="str", choices=["reissue", "fail"], default="reissue"),
        ),
        required_together=[("root_cert_path", "root_key_path"), ("root_cert_content", "root_key_content")],
        mutually_exclusive=[("root_cert_path", "root_cert_content")],
        required_if=[("state", "present", ("root_cert_path", "root_cert_content"), True)],
    )
    run(module, lambda m: trust.reconcile_cacerts(Kube(m), m.params, m.check_mode, m._diff))


if __name__ == "__main__":
    main()
