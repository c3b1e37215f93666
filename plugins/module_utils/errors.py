# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One exception type for the collection; API errors become "<verb> <kind>/<name>: <server message>"."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json


class MeshError(Exception):
    """A failure the module reports as-is: the message names the object or the field and the fix."""

    def __init__(self, msg, **details):
        super(MeshError, self).__init__(msg)
        self.msg = msg
        self.details = details


def api_message(exc):
    """The server's own words from a kubernetes ApiException (its Status.message), else str(exc)."""
    body = getattr(exc, "body", None)
    if body:
        try:
            data = json.loads(body)
            if isinstance(data, dict) and data.get("message"):
                return data["message"]
        except (TypeError, ValueError):
            pass
    status = getattr(exc, "status", None)
    reason = getattr(exc, "reason", None)
    if status:
        return "%s %s" % (status, reason or "")
    return str(exc)


def api_error(verb, kind, name, exc, namespace=None):
    """Wrap a client exception in a MeshError that says what was being done to which object."""
    where = "%s/%s" % (kind, name)
    if namespace:
        where += " in namespace %s" % namespace
    return MeshError("%s %s: %s" % (verb, where, api_message(exc)), status=getattr(exc, "status", None))
