# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compare live objects with desired ones on the fields we own, and shape before/after for --diff."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

# Server-managed metadata that never counts as a change and never shows in a diff.
NOISE = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink")


def subset_differs(desired, live):
    """True when some value in desired is missing or different in live (extra live fields are ignored)."""
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return True
        return any(subset_differs(v, live.get(k)) for k, v in desired.items())
    if isinstance(desired, list):
        if not isinstance(live, list) or len(desired) != len(live):
            return True
        return any(subset_differs(d, l) for d, l in zip(desired, live))
    return desired != live


def project(live, shape):
    """The parts of live that shape (a desired object) talks about: what a diff should show as 'before'."""
    if isinstance(shape, dict) and isinstance(live, dict):
        return dict((k, project(live[k], v)) for k, v in shape.items() if k in live)
    if isinstance(shape, list) and isinstance(live, list):
        out = []
        for i, item in enumerate(live):
            out.append(project(item, shape[i]) if i < len(shape) else item)
        return out
    return live


def clean(obj):
    """A copy of obj without status and server-managed metadata."""
    if obj is None:
        return None
    obj = copy.deepcopy(obj)
    obj.pop("status", None)
    meta = obj.get("metadata") or {}
    for key in NOISE:
        meta.pop(key, None)
    annotations = meta.get("annotations") or {}
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    if "annotations" in meta and not annotations:
        meta.pop("annotations")
    return obj


def redact_secret(obj):
    """A Secret as diffs may show it: keys listed, values replaced."""
    if obj is None:
        return None
    obj = copy.deepcopy(obj)
    for field in ("data", "stringData"):
        if isinstance(obj.get(field), dict):
            obj[field] = dict((k, "<redacted>") for k in obj[field])
    return obj
