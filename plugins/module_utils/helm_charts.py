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


def releases_problem(releases, charts, crds_of=()):
    """Why the releases (or crds_of) option is unusable (a missing key, a chart not among charts), or None."""
    unknown = [chart for chart in crds_of if chart not in charts]
    if unknown:
        return "crds_of names chart(s) %s, which are not in charts (%s)" % (", ".join(unknown), ", ".join(charts))
    for i, r in enumerate(releases):
        missing = [k for k in ("name", "namespace", "chart") if not isinstance(r.get(k), str) or not r.get(k)]
        if missing:
            return "releases[%d] has no %s: give each release its name, namespace and chart" % (i, ", ".join(missing))
        if r["chart"] not in charts:
            return "releases[%d] (%s) names chart %s, which is not in charts (%s)" % (i, r["name"], r["chart"], ", ".join(charts))
    return None


def crd_names(rendered):
    """Sorted names of the CustomResourceDefinitions in rendered manifests (`helm template` output)."""
    from ansible.module_utils.common.yaml import yaml_load_all

    return sorted(doc["metadata"]["name"] for doc in yaml_load_all(rendered or "")
                  if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition")


def chart_id(show_chart):
    """'name-version' of a chart from `helm show chart` output, as `helm list` names a release's chart; None when
    the output has no name or version."""
    from ansible.module_utils.common.yaml import yaml_load

    meta = yaml_load(show_chart or "") or {}
    if not isinstance(meta, dict) or not meta.get("name") or not meta.get("version"):
        return None
    return "%s-%s" % (meta["name"], meta["version"])


def values_digest(values):
    """sha256 of a release's user-supplied values in one canonical JSON form: a role passes the digests of the values
    its Helm tasks will pass, so values that may hold a licence never become module options (and None is {}, as
    kubernetes.core.helm reads Helm's "null")."""
    import hashlib
    import json

    text = json.dumps(values or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def release_state(listed, chart, read_values, digest):
    """Whether a release is already what kubernetes.core.helm would leave it as, by the same test that module
    applies without the helm-diff plugin (its default_check): deployed, the same chart name and version, the same
    user-supplied values. listed: the release's `helm list -o json` entry or None; read_values(): its `helm get
    values -o json`, parsed (None for none), asked only when the listing already matches; digest: values_digest()
    of the values wanted. Returns (current, why) with why a short reason."""
    if listed is None:
        return False, "not installed"
    if listed.get("status") != "deployed":
        return False, "status %s" % listed.get("status")
    if chart is None or listed.get("chart") != chart:
        return False, "chart %s, wanted %s" % (listed.get("chart"), chart)
    if values_digest(read_values()) != digest:
        return False, "values differ"
    return True, "deployed, same chart and values"
