# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where Helm charts come from, for the ambient and gateway roles alike: a Helm repository URL, an OCI prefix or a
local directory with one folder per chart. One rule for how a chart is referenced from each, and one check that
Helm runs and reads every chart before a release is touched."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

KINDS = ("repo", "oci", "local")


def kind(source):
    if source.startswith("oci://"):
        return "oci"
    if source.startswith(("http://", "https://")):
        return "repo"
    return "local"


def locate(source, version):
    """How kubernetes.core.helm and `helm show` reach the charts of source: {kind, prefix (chart_ref = prefix +
    chart), repo_url, version (None for a directory: its charts are what they are), show_args}."""
    k = kind(source)
    prefix = "" if k == "repo" else (os.path.realpath(os.path.expanduser(source)) if k == "local" else source.rstrip("/")) + "/"
    return {"kind": k, "prefix": prefix, "repo_url": source if k == "repo" else None,
            "version": None if k == "local" else version,
            "show_args": (["--repo", source] if k == "repo" else []) + (["--version", version] if k != "local" else [])}


def helm_problem(binary, binary_var, rc, out, err):
    if rc == 0:
        return None
    return ("%s=%s cannot run (%s): install Helm 3 on the controller (or in the execution environment) or set %s to "
            "its full path" % (binary_var, binary, (err or out or "rc %s" % rc).strip(), binary_var))


def charts_problem(source, where, source_var, version_var, failed):
    """failed: [(chart, why)] in chart order."""
    if not failed:
        return None
    return ("%s=%s (%s%s): cannot read chart %s: %s; fix %s (Helm repository URL, oci:// prefix, or a directory with "
            "one folder per chart) or %s, check that the controller reaches it, or run `helm registry login` for a "
            "private registry" % (source_var, source, where["kind"],
                                  "" if where["kind"] == "local" else ", version %s" % where["version"],
                                  ", ".join(chart for chart, _why in failed), failed[0][1].strip(), source_var, version_var))
