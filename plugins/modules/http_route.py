#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: http_route
short_description: Route a path on a Gateway to global hostnames of the mesh
version_added: 0.1.0
author: ambientmesh.multicluster maintainers (@ambientmesh)
description:
  - Ensures a Gateway API C(HTTPRoute) with one rule - a path match and one or more backends, each a global
    hostname referenced as C(kind=Hostname), C(group=networking.istio.io) (as Gloo Gateway and kgateway expect for
    Solo's C(*.mesh.internal) ServiceEntry hosts), or a Service (for upstream Istio, where the global name is the
    Service's own and kgateway resolves no Hostname for it).
  - A Service in another namespace than the route gets a C(ReferenceGrant) there that allows exactly this
    route's namespace and those Services (Gateway API refuses the reference without one); it is pruned when no
    longer needed and removed with the route.
  - Validates the input and checks that every parent Gateway exists before anything is applied.
  - Writes with server-side apply (field manager C(ambientmesh-multicluster)); the route is labelled
    C(app.kubernetes.io/managed-by=ambientmesh.multicluster).
  - Optionally (O(wait)) waits until every parent reports C(Accepted) and C(ResolvedRefs) true for the current
    generation; on timeout the error shows the route's conditions.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - ambientmesh.multicluster.attributes
  - ambientmesh.multicluster.wait
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  name:
    description: Name of the HTTPRoute.
    type: str
    required: true
  namespace:
    description: Namespace of the HTTPRoute.
    type: str
    required: true
  parent_refs:
    description: Gateways the route attaches to. Required with O(state=present).
    type: list
    elements: dict
    suboptions:
      name:
        description: Gateway name.
        type: str
        required: true
      namespace:
        description: Gateway namespace; defaults to O(namespace).
        type: str
      section_name:
        description: Listener name on the Gateway.
        type: str
      port:
        description: Listener port on the Gateway.
        type: int
  hostnames:
    description: Host headers the route matches; empty matches every host of the listener.
    type: list
    elements: str
  path:
    description:
      - Path to match.
      - With O(path_type=RegularExpression), an RE2 expression (the engine of the gateway's Envoy); one that does
        not compile, or that uses lookaround, backreferences, atomic groups or possessive quantifiers (which RE2
        lacks), is refused before anything is applied, because the HTTPRoute schema accepts any string and the
        gateway would only reject the route later.
    type: str
    default: /
  path_type:
    description: How O(path) matches.
    type: str
    choices: [PathPrefix, Exact, RegularExpression]
    default: PathPrefix
  backends:
    description: Where matching requests go. Required with O(state=present).
    type: list
    elements: dict
    suboptions:
      host:
        description: Global hostname, for example C(productpage.bookinfo.mesh.internal). Give this or O(backends[].service).
        type: str
      service:
        description: A Service name (upstream Istio's global Services keep their own name). Give this or O(backends[].host).
        type: str
      namespace:
        description: Namespace of O(backends[].service); defaults to the route's.
        type: str
      port:
        description: The Service port (not the container port), 1-65535.
        type: int
        required: true
      weight:
        description: Share of requests relative to the other backends, 0-1000000.
        type: int
  timeouts:
    description: Gateway API durations such as C(10s), C(500ms) or C(1m30s).
    type: dict
    suboptions:
      request:
        description: Time for the whole request, retries included.
        type: str
      backend_request:
        description: Time for one request to a backend.
        type: str
  state:
    description:
      - C(present) ensures the route, C(absent) deletes it.
      - C(absent) deletes only a route labelled C(app.kubernetes.io/managed-by=ambientmesh.multicluster); a route of
        the same name that someone else made is left in place with a warning.
    type: str
    choices: [present, absent]
    default: present
  missing_parents_in_check_mode:
    description:
      - What check mode does when a parent Gateway does not exist. V(warn) suits a dry run of a whole play, where
        an earlier task (the gateway role) would have created it; V(fail) suits a pre-flight check that must stop
        the play, as outside check mode.
    type: str
    choices: [warn, fail]
    default: warn
"""

EXAMPLES = r"""
- name: The guide's route - /productpage on the http Gateway to the global productpage
  ambientmesh.multicluster.http_route:
    name: productpage
    namespace: gloo-system
    parent_refs:
      - name: http
        namespace: gloo-system
    path: /productpage
    backends:
      - host: productpage.bookinfo.mesh.internal
        port: 9080
    wait: true

- name: Split reviews 90/10 with a request timeout
  ambientmesh.multicluster.http_route:
    name: reviews
    namespace: gloo-system
    parent_refs: [{name: http}]
    path: /reviews
    backends:
      - {host: reviews.bookinfo.mesh.internal, port: 9080, weight: 90}
      - {host: reviews-canary.bookinfo.mesh.internal, port: 9080, weight: 10}
    timeouts:
      request: 15s

- name: Upstream Istio with kgateway - the global Service itself, with the ReferenceGrant it needs in bookinfo
  ambientmesh.multicluster.http_route:
    name: productpage
    namespace: gloo-system
    parent_refs: [{name: http}]
    path: /productpage
    backends:
      - {service: productpage, namespace: bookinfo, port: 9080}

- name: Remove the route
  ambientmesh.multicluster.http_route:
    name: productpage
    namespace: gloo-system
    state: absent
"""

RETURN = r"""
route:
  description: The HTTPRoute as the server holds it (empty after O(state=absent)); C(status) is current after O(wait=true).
  returned: always
  type: dict
  sample:
    apiVersion: gateway.networking.k8s.io/v1
    kind: HTTPRoute
    metadata: {name: productpage, namespace: gloo-system}
    spec:
      parentRefs: [{name: http, namespace: gloo-system}]
      rules:
        - matches: [{path: {type: PathPrefix, value: /productpage}}]
          backendRefs: [{name: productpage.bookinfo.mesh.internal, port: 9080, kind: Hostname, group: networking.istio.io}]
    status: {}
reference_grants:
  description: The ReferenceGrants the route needs, as C(namespace/name).
  returned: with O(state=present)
  type: list
  elements: str
  sample: [bookinfo/gloo-system-productpage]
diff:
  description:
    - The route's metadata and spec before and after; a list with one entry more per ReferenceGrant changed.
  returned: in diff mode
  type: raw
"""

from ansible_collections.ambientmesh.multicluster.plugins.module_utils.client import Kube
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.http_route import reconcile
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.module import cluster_module, run
from ansible_collections.ambientmesh.multicluster.plugins.module_utils import wait


def main():
    module = cluster_module(
        dict(
            name=dict(type="str", required=True),
            namespace=dict(type="str", required=True),
            parent_refs=dict(type="list", elements="dict", options=dict(
                name=dict(type="str", required=True),
                namespace=dict(type="str"),
                section_name=dict(type="str"),
                port=dict(type="int"),
            )),
            hostnames=dict(type="list", elements="str"),
            path=dict(type="str", default="/"),
            path_type=dict(type="str", choices=["PathPrefix", "Exact", "RegularExpression"], default="PathPrefix"),
            backends=dict(type="list", elements="dict", options=dict(
                host=dict(type="str"),
                service=dict(type="str"),
                namespace=dict(type="str"),
                port=dict(type="int", required=True),
                weight=dict(type="int"),
            )),
            timeouts=dict(type="dict", options=dict(
                request=dict(type="str"),
                backend_request=dict(type="str"),
            )),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            missing_parents_in_check_mode=dict(type="str", choices=["warn", "fail"], default="warn"),
            **wait.argument_spec()
        ),
        required_if=[("state", "present", ("parent_refs", "backends"))],
    )
    run(module, lambda m: reconcile(Kube(m), m.params, m.check_mode, m._diff))


if __name__ == "__main__":
    main()
