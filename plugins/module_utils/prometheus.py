# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Prometheus HTTP API as the collection's modules ask it: check the URL and label matchers a user gives, run
an instant query and turn every failure into a MeshError naming prometheus_url. Used by mtls_check (the mTLS
proof, mtls_check.py) and mesh_info (istiod's peer sync)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from urllib.error import HTTPError, URLError
from urllib.parse import urlencode, urlsplit

from ansible.module_utils.urls import open_url

from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError

_MATCHER = r'\s*[A-Za-z_][A-Za-z0-9_]*\s*(=|!=|=~|!~)\s*"(?:[^"\\]|\\.)*"\s*'
SELECTOR = re.compile(r"^%s(,%s)*,?$" % (_MATCHER, _MATCHER))


def validate_url(url):
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise MeshError("prometheus_url: %r is not an http(s) URL; give the Prometheus base URL, e.g. "
                        "http://prometheus.monitoring:9090" % (url,))


def validate_selector(selector, field):
    """Label matchers to put inside {...}; checked here so a typo is not reported as Prometheus' parse error."""
    if selector and not SELECTOR.match(selector):
        raise MeshError('%s: %r is not a list of PromQL label matchers; write e.g. mesh_cluster="cluster1" '
                        '(several joined by commas)' % (field, selector))


def query(base_url, expr, timeout=10, validate_certs=True, bearer_token=None):
    """Run an instant query; returns the result vector or a MeshError saying what Prometheus said."""
    url = base_url.rstrip("/") + "/api/v1/query?" + urlencode({"query": expr})
    headers = {"Accept": "application/json"}
    if bearer_token:
        headers["Authorization"] = "Bearer " + bearer_token
    try:
        resp = open_url(url, headers=headers, timeout=timeout, validate_certs=validate_certs)
        body = json.loads(resp.read())
    except HTTPError as e:
        try:
            detail = json.loads(e.read()).get("error")
        except (ValueError, AttributeError):
            detail = None
        raise MeshError("prometheus_url: %s answered HTTP %s%s" % (base_url, e.code, ": %s" % detail if detail else ""))
    except (URLError, OSError) as e:
        raise MeshError("prometheus_url: cannot reach %s (%s); check the URL and that the controller can reach it"
                        % (base_url, getattr(e, "reason", e)))
    except ValueError:
        raise MeshError("prometheus_url: %s did not answer with JSON; is it the Prometheus base URL?" % base_url)
    if body.get("status") != "success":
        raise MeshError("prometheus query failed: %s: %s" % (body.get("errorType"), body.get("error")))
    data = body.get("data") or {}
    if data.get("resultType") != "vector":
        raise MeshError("prometheus query returned %s, expected a vector" % data.get("resultType"))
    return data.get("result") or []
