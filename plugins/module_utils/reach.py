# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Does each cluster's API server answer, within a bound? Asked once per cluster, in parallel, before any write.

kubernetes.core's requests have no timeout: an API server that accepts connections and never answers holds a
task (and the run) for ever. One GET /version per cluster with a read timeout finds it first and names it. Any
HTTP answer counts (401/403 are the credentials' business, reported by the step that needs them)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time

from concurrent.futures import ThreadPoolExecutor

from ansible_collections.ambientmesh.multicluster.plugins.module_utils import access, kubeconfig
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.distributions import (
    DISTRIBUTIONS, eastwest_address)

DEFAULT_TIMEOUT = 10
# A namespace no cluster has: its rules review holds only what ClusterRoleBindings grant (no RoleBinding lives there).
RULES_REVIEW_NAMESPACE = "ambientmesh-access-review-none"


# One loaded configuration per (kubeconfig files, context) for the life of the process: a preflight asks each
# cluster up to three things (/version, the rules review, the east-west Service) and loading a kubeconfig (YAML,
# certificate files) is the dearest part of a question.
_CONFIGS = {}


def _client(paths, context):
    from kubernetes import client, config

    key = (tuple(paths), context)
    cfg = _CONFIGS.get(key)
    if cfg is None:
        kubeconfig.use_libyaml()
        cfg = client.Configuration()
        config.load_kube_config(config_file=os.pathsep.join(paths), context=context, client_configuration=cfg,
                                persist_config=False)
        cfg.retries = False   # one try: urllib3 would retry a read timeout three times
        _CONFIGS[key] = cfg
    return client.ApiClient(cfg)


def _ask(paths, context, timeout):
    """None when the API server answered; else why not."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    with _client(paths, context) as api:
        try:
            client.VersionApi(api).get_code(_request_timeout=(timeout, timeout))
        except ApiException:
            return None
        except Exception as e:  # urllib3 timeouts and connection errors, SSL errors
            name = type(e).__name__
            if "Timeout" in name:
                return "did not answer within %g s" % timeout
            text = str(e)
            if "object at 0x" in text:  # urllib3 puts the connection's repr first
                text = text.split(": ", 1)[-1]
            return "cannot be reached (%s)" % text
    return None


def _each(clusters, one):
    """one(cluster) for every cluster with a kubeconfig (identity.resolve()'s items), all at once; its non-None
    answers, in cluster order."""
    todo = [c for c in clusters if c.get("kubeconfig")]
    if not todo:
        return []
    with ThreadPoolExecutor(max_workers=min(16, len(todo))) as pool:
        return [p for p in pool.map(one, todo) if p]


def problems(clusters, timeout=DEFAULT_TIMEOUT):
    """[problem] for every cluster whose API server does not answer."""
    def one(c):
        start = time.monotonic()
        try:
            why = _ask(c["kubeconfig"], c["context"], timeout)
        except Exception as e:  # a kubeconfig the client cannot load (exec plugin missing, bad certificate data)
            why = "cannot be used: %s" % e
        if why is None:
            return None
        return ("%s: the API server %s (context %s) %s (after %.1f s): check that it is up and that this controller "
                "reaches it, or raise mesh_api_timeout for a slow one"
                % (c["host"], c.get("server") or "?", c.get("context") or "current", why, time.monotonic() - start))

    return _each(clusters, one)


def access_problems(clusters, steps, timeout=DEFAULT_TIMEOUT):
    """[problem] for every cluster whose credential may not do all that `steps` need (access.STEPS), so a missing
    verb is found before the first write, not half-way.

    One SelfSubjectRulesReview per cluster answers every question when RBAC is the only authorizer (the review is
    asked for a namespace that does not exist, so only cluster-wide grants count, as the installer ClusterRole is
    bound); a question its rules do not allow is asked again as a SelfSubjectAccessReview when the review says it
    is incomplete (another authorizer, e.g. a webhook, may allow what RBAC does not list)."""
    from kubernetes import client

    def one(c):
        with _client(c["kubeconfig"], c["context"]) as api:
            authz = client.AuthorizationV1Api(api)
            review = authz.create_self_subject_rules_review(
                {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview",
                 "spec": {"namespace": RULES_REVIEW_NAMESPACE}}, _request_timeout=timeout)
            status = api.sanitize_for_serialization(review.status) or {}
            rules = status.get("resourceRules") or []

            def allowed(group, resource, subresource, verb):
                if access.rules_allow(rules, group, resource, subresource, verb):
                    return True
                if not status.get("incomplete"):
                    return False
                ask = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                       "spec": {"resourceAttributes": {"group": group, "resource": resource,
                                                       "subresource": subresource, "verb": verb}}}
                return bool(authz.create_self_subject_access_review(ask, _request_timeout=timeout).status.allowed)

            gaps = access.missing(allowed, steps)
        if not gaps:
            return None
        return ("%s: the credential of context %s may not %s: grant it the installer ClusterRole (playbooks/rbac.yml, "
                "docs/rbac.md) with a ClusterRoleBinding, or use a context that may"
                % (c["host"], c.get("context") or "current",
                   ", ".join("%s (%s)" % (what, step) for step, what in gaps)))

    return _each(clusters, one)


def eastwest(clusters, timeout=DEFAULT_TIMEOUT):
    """Fill eastwest_address/_type of every cluster the inventory gives none, from its distribution's east-west
    Service (one GET per cluster, in parallel); left None while the Service or its address does not exist yet.
    [problem] for clusters whose Service cannot be read."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    def one(c):
        if c.get("eastwest_address"):
            return None
        where = DISTRIBUTIONS[c["distribution"]]["eastwest"]
        with _client(c["kubeconfig"], c["context"]) as api:
            try:
                service = api.sanitize_for_serialization(client.CoreV1Api(api).read_namespaced_service(
                    where["service"], where["namespace"], _request_timeout=timeout))
            except ApiException as e:
                if e.status == 404:
                    return None
                return ("%s: the east-west Service %s/%s cannot be read (HTTP %s): grant the installer ClusterRole "
                        "(docs/rbac.md) or set mesh_eastwest_address for %s"
                        % (c["host"], where["namespace"], where["service"], e.status, c["host"]))
        c["eastwest_address"], c["eastwest_address_type"] = eastwest_address(service)
        return None

    return _each(clusters, one)
