# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The verify report: one JSON document for machines, a Markdown page for people, and a PNG timeline of the
failover drill (outcome and latency of every request, phases shaded). Rendering is pure; writing compares
with what is on disk so `changed` is real."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import json
import os

from ansible_collections.ambientmesh.multicluster.plugins.module_utils import atomic_write
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError

REPORT_MODE = 0o644
PHASE_COLOURS = {"baseline": "#e8f0fe", "disrupt": "#fde2e1", "hold": "#fff4d6", "restore": "#e6f4ea",
                 "settle": "#f1f3f4"}
CHECK_TITLES = (("in_mesh", "in-mesh"), ("ingress", "ingress"))


def _pct(ratio):
    return "n/a" if ratio is None else "%.2f%%" % (ratio * 100)


def _ms(value):
    return "n/a" if value is None else "%g" % value


def _secs(value):
    return "-" if value is None else "%.2f s" % value


def _recovery(fig):
    if not fig.get("failures"):
        return "-"
    return _secs(fig.get("recovery_seconds")) if fig.get("recovered") else "failing at the end"


def _kv(counts):
    return ", ".join("%s: %d" % kv for kv in sorted((counts or {}).items())) or "-"


def _figures_line(fig):
    lat = fig.get("latency_ms") or {}
    line = "%d requests, %s ok, p50/p95/p99 %s/%s/%s ms" % (
        fig.get("requests") or 0, _pct(fig.get("success_ratio")), _ms(lat.get("p50")), _ms(lat.get("p95")),
        _ms(lat.get("p99")))
    if fig.get("clusters"):
        line += ", answered by " + _kv(fig["clusters"])
    return line


# Keys of a registered result that say how the task ran, not what it measured.
TASK_KEYS = ("invocation", "diff", "changed", "failed", "skipped", "skip_reason", "warnings", "deprecations",
             "false_condition", "msg")


def _ran(result):
    return isinstance(result, dict) and bool(result) and not result.get("skipped")


def _measured(result):
    return dict((k, v) for k, v in result.items() if k not in TASK_KEYS and not k.startswith("_ansible"))


def normalize(data):
    """Fold `hosts` (per cluster: the registered results of mesh_info and failover_check, skipped or not) into
    `clusters`, `checks` and `drill`; explicit keys win."""
    out = dict((k, v) for k, v in data.items() if k != "hosts")
    clusters, checks, drill = {}, {}, None
    for host in data.get("hosts") or []:
        name = host.get("cluster")
        if _ran(host.get("mesh")):
            clusters[name] = host["mesh"].get("mesh", host["mesh"])
        for key, _title in CHECK_TITLES:
            if _ran(host.get(key)):
                checks.setdefault(key, {})[name] = _measured(host[key])
        if _ran(host.get("drill")):
            drill = dict(_measured(host["drill"]), cluster=name)
    out["clusters"] = out.get("clusters") or clusters
    out["checks"] = out.get("checks") or checks
    out["drill"] = out.get("drill") or drill
    out["mtls"] = _measured(out["mtls"]) if _ran(out.get("mtls")) else None
    return out


def _health_rows(data):
    """(cluster, facts) of every cluster whose mesh facts carry a health check (mesh_info's problems)."""
    return [(name, f) for name, f in sorted((data.get("clusters") or {}).items()) if "problems" in f]


def verdicts(data):
    """[(check, where, passed, figures text)] for every check present in data."""
    rows = []
    for name, f in _health_rows(data):
        comp = f.get("components") or {}
        text = "%d of %d components ready, %d of %d peers linked" % (
            len([k for k in ("istiod", "ztunnel", "cni", "eastwest_gateway") if (comp.get(k) or {}).get("ready")]), 4,
            len(set(f.get("expected_peers") or []) & set(p.get("cluster") for p in f.get("peers") or [])),
            len(f.get("expected_peers") or []))
        sync = f.get("peer_sync")
        if sync is not None:
            text += ", %d of %d peers synced by istiod" % (len([p for p, s in sync.items() if s == ["synced"]]),
                                                           len(sync))
        elif any(p.get("kind") == "remote-secret" for p in f.get("peers") or []):
            text += ", peer sync not checked (no Prometheus)"
        rows.append(("mesh health", name, not f["problems"], text))
    for key, title in CHECK_TITLES:
        for cluster, res in sorted((data.get("checks") or {}).get(key, {}).items()):
            rows.append((title, cluster, bool(res.get("passed")), _figures_line(res.get("overall") or {})))
    drill = data.get("drill")
    if drill:
        o = drill.get("overall") or {}
        dep = drill.get("deployment") or {}
        text = _figures_line(o) + ("; first failure at %s, %s" % (
            _secs(o.get("first_failure")), "recovered after %s" % _secs(o.get("recovery_seconds"))
            if o.get("recovered") else "never recovered") if o.get("failures") else "; no failed request")
        rows.append(("failover drill", "%s, %s/%s" % (drill.get("cluster"), dep.get("namespace"), dep.get("name")),
                     bool(drill.get("passed")), text))
    mtls = data.get("mtls")
    if mtls:
        rows.append(("mTLS", mtls.get("namespace"), bool(mtls.get("passed")), "%s %s in %d series, %d offenders"
                     % (mtls.get("requests"), mtls.get("unit") or "requests", len(mtls.get("series") or []),
                        len(mtls.get("offenders") or []))))
    return rows


def passed(data):
    rows = verdicts(data)
    return bool(rows) and all(r[2] for r in rows)


def problems(data):
    out = ["mesh health (%s): %s" % (name, p) for name, f in _health_rows(data) for p in f["problems"]]
    for key, title in CHECK_TITLES:
        for cluster, res in sorted((data.get("checks") or {}).get(key, {}).items()):
            out += ["%s (%s): %s" % (title, cluster, p) for p in res.get("problems") or []]
    if data.get("drill"):
        out += ["failover drill: " + p for p in data["drill"].get("problems") or []]
    if data.get("mtls"):
        out += ["mTLS: " + p for p in data["mtls"].get("problems") or []]
    if not verdicts(data):
        out.append("no check ran: enable at least one of the in-mesh, ingress, failover or mTLS checks")
    return out


def _component(c):
    if not c:
        return "absent"
    return "%s %s/%s%s" % ("ready" if c.get("ready") else "NOT READY", c.get("ready_replicas", "-"), c.get("desired", "-"),
                           " (%s)" % c["version"] if c.get("version") else "")


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return lines


def markdown(data, png_name=None):
    ok = passed(data)
    out = ["# %s: %s" % (data.get("title") or "Mesh verification", "PASSED" if ok else "FAILED"), ""]
    if data.get("generated"):
        out += ["Generated %s for %d cluster(s)." % (data["generated"], len(data.get("clusters") or {})), ""]
    out += ["## Verdict", ""]
    out += _table(["check", "where", "result", "figures"],
                  [(c, w, "passed" if p else "**FAILED**", f) for c, w, p, f in verdicts(data)] or
                  [("none", "-", "-", "no check ran")])
    issues = problems(data)
    if issues:
        out += ["", "## Problems", ""] + ["- " + p for p in issues]
    clusters = data.get("clusters") or {}
    if clusters:
        out += ["", "## Clusters", ""]
        rows = []
        for name, f in sorted(clusters.items()):
            comp = f.get("components") or {}
            ew = comp.get("eastwest_gateway")
            rows.append((name, f.get("distribution") or "-", (f.get("versions") or {}).get("kubernetes") or "-",
                         _component(comp.get("istiod")), _component(comp.get("ztunnel")), _component(comp.get("cni")),
                         ("programmed" if ew.get("programmed") else "NOT PROGRAMMED") if ew else "absent",
                         f.get("eastwest_address") or "-",
                         ", ".join(p.get("cluster") or p.get("name") for p in f.get("peers") or []) or "-",
                         ", ".join(f.get("global_services") or []) or "-",
                         ", ".join(f.get("ambient_namespaces") or []) or "-"))
        out += _table(["cluster", "distribution", "kubernetes", "istiod", "ztunnel", "cni", "east-west",
                       "e/w address", "peers", "global services", "ambient namespaces"], rows)
    drill = data.get("drill")
    if drill:
        dep = drill.get("deployment") or {}
        th = drill.get("thresholds") or {}
        timings = drill.get("timings") or {}
        out += ["", "## Failover drill", "",
                "Scaled Deployment `%s/%s` in %s from %s to 0 and back while probing `%s`."
                % (dep.get("namespace"), dep.get("name"), drill.get("cluster"), dep.get("original_replicas"),
                   drill.get("url")),
                "Endpoints gone after %s, replicas ready again after %s. Thresholds: min success ratio %s, "
                "max recovery %s." % (_secs(timings.get("endpoints_gone_seconds")),
                                      _secs(timings.get("restore_seconds")),
                                      th.get("min_success_ratio", "-"), _secs(th.get("max_recovery_seconds"))), ""]
        if png_name:
            out += ["![Failover timeline](%s)" % png_name, ""]
        rows = []
        for ph in (drill.get("phases") or []) + [dict(drill.get("overall") or {}, name="**overall**")]:
            lat = ph.get("latency_ms") or {}
            rows.append((ph.get("name"), _secs(ph.get("seconds")), ph.get("requests"), _pct(ph.get("success_ratio")),
                         _kv(ph.get("status_codes")), _secs(ph.get("first_failure")),
                         _recovery(ph),
                         _ms(lat.get("p50")), _ms(lat.get("p95")), _ms(lat.get("p99")), _kv(ph.get("clusters"))))
        out += _table(["phase", "duration", "requests", "ok", "status codes", "first failure", "recovery",
                       "p50 ms", "p95 ms", "p99 ms", "answered by"], rows)
        out += ["", "Times are seconds since probing started; recovery runs from the first failure to the first "
                "success after the last failure."]
    mtls = data.get("mtls")
    if mtls:
        out += ["", "## mTLS (%s)" % mtls.get("namespace"), "", "Query: `%s`" % mtls.get("query"), ""]
        if mtls.get("offenders"):
            out += _table(["source", "destination", "reporter", mtls.get("unit") or "requests", "reasons"],
                          [("%s/%s" % (o.get("source_workload_namespace"), o.get("source_workload")),
                            "%s/%s" % (o.get("destination_workload_namespace"), o.get("destination_workload")),
                            o.get("reporter"), o.get("requests"), ", ".join(o.get("reasons") or []))
                           for o in mtls["offenders"]])
        else:
            out.append("Every series is `mutual_tls` with `spiffe://` principals (%s %s)."
                       % (mtls.get("requests"), mtls.get("unit") or "requests"))
    return "\n".join(out) + "\n"


def timeline_png(drill, title=None):
    """PNG bytes: each request's outcome (which cluster answered, or the failure) and latency over time, with
    the phases shaded and the first failure / recovery marked."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError:
        raise MeshError("formats: png needs the Python package matplotlib on the controller; install it "
                        "(pip install matplotlib) or leave png out of formats")
    samples = drill.get("timeline") or []
    expected = set((drill.get("thresholds") or {}).get("expected_status") or [200])
    fig, (top, bottom) = pyplot.subplots(2, 1, sharex=True, figsize=(11, 6), gridspec_kw={"height_ratios": [1, 2]})
    try:
        ok = [s for s in samples if s["code"] in expected]
        bad = [s for s in samples if s["code"] not in expected]
        labels = sorted(set(s.get("cluster") or "ok" for s in ok)) + sorted(set("failed: %s" % s["code"] for s in bad))
        row = dict((name, i) for i, name in enumerate(labels))
        top.scatter([s["t"] for s in ok], [row[s.get("cluster") or "ok"] for s in ok], s=8, c="#1e8e3e", label="ok")
        top.scatter([s["t"] for s in bad], [row["failed: %s" % s["code"]] for s in bad], s=10, c="#d93025",
                    marker="x", label="failed")
        top.set_yticks(range(len(labels)))
        top.set_yticklabels(labels)
        top.set_ylim(-0.6, max(len(labels), 1) - 0.4)
        top.set_ylabel("answer")
        bottom.scatter([s["t"] for s in ok], [s["ms"] for s in ok], s=6, c="#1a73e8", label="ok")
        bottom.scatter([s["t"] for s in bad], [s["ms"] for s in bad], s=10, c="#d93025", marker="x", label="failed")
        bottom.set_ylabel("latency (ms)")
        bottom.set_ylim(bottom=0)
        bottom.set_xlabel("seconds since probing started")
        for ph in drill.get("phases") or []:
            for ax in (top, bottom):
                ax.axvspan(ph["start"], ph["end"], color=PHASE_COLOURS.get(ph["name"], "#eeeeee"), zorder=0)
            top.text((ph["start"] + ph["end"]) / 2.0, 1.02, ph["name"], transform=top.get_xaxis_transform(),
                     ha="center", va="bottom", fontsize=9)
        overall = drill.get("overall") or {}
        if overall.get("first_failure") is not None:
            marks = [(overall["first_failure"], "#d93025", "first failure")]
            if overall.get("recovered"):
                marks.append((overall["first_failure"] + overall["recovery_seconds"], "#1e8e3e", "recovered"))
            for x, colour, label in marks:
                top.axvline(x, color=colour, linestyle="--", linewidth=1)
                bottom.axvline(x, color=colour, linestyle="--", linewidth=1, label=label)
        bottom.legend(loc="upper right", fontsize=8)
        fig.suptitle(title or "Failover drill: %s" % drill.get("url", ""), fontsize=11)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
        return buf.getvalue()
    finally:
        pyplot.close(fig)


def render(data, name, formats):
    """{format: (file name, bytes)} for the requested formats (png only when there was a drill)."""
    files = {}
    png_name = name + ".png" if "png" in formats and data.get("drill") else None
    doc = dict(data, passed=passed(data), problems=problems(data))
    if "json" in formats:
        files["json"] = (name + ".json", (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    if "markdown" in formats:
        files["markdown"] = (name + ".md", markdown(data, png_name).encode("utf-8"))
    if png_name:
        files["png"] = (png_name, timeline_png(data["drill"]))
    return files


def write(directory, files, check_mode=False, atomic_move=None):
    """Write files that differ from what is on disk; returns (written {format: path}, changed, before md)."""
    paths, changed, before_md, entries = {}, False, "", []
    for fmt, (fname, content) in sorted(files.items()):
        path = os.path.join(directory, fname)
        paths[fmt] = path
        current = None
        if os.path.exists(path):
            with open(path, "rb") as f:
                current = f.read()
        if fmt == "markdown" and current is not None:
            before_md = current.decode("utf-8", "replace")
        if current == content:
            continue
        changed = True
        entries.append((path, content, REPORT_MODE))
    if entries and not check_mode:
        if not os.path.isdir(directory):
            os.makedirs(directory)
        atomic_write.write_files(atomic_move, entries)
    return paths, changed, before_md


def report(params, check_mode=False, atomic_move=None):
    data = normalize(params["data"])
    if not any(data.get(k) for k in ("checks", "drill", "mtls", "clusters")):
        raise MeshError("data: give hosts (per cluster the registered results of mesh_info and failover_check) or "
                        "at least one of clusters, checks, drill or mtls; every result given was skipped or empty")
    if os.path.exists(params["path"]) and not os.path.isdir(params["path"]):
        raise MeshError("path: %s exists and is not a directory; give the reports folder" % params["path"])
    files = render(data, params["name"], params["formats"])
    try:
        paths, changed, before_md = write(params["path"], files, check_mode, atomic_move)
    except OSError as e:
        raise MeshError("path: cannot write the report to %s (%s): give a folder this controller can create and "
                        "write (the verify role's verify_reports_dir)" % (params["path"], e.strerror or e))
    after_md = files["markdown"][1].decode("utf-8") if "markdown" in files else ""
    return {"changed": changed, "files": paths, "passed": passed(data), "problems": problems(data),
            "checks_run": len(verdicts(data)),
            "diff": {"before": before_md, "after": after_md,
                     "before_header": paths.get("markdown", ""), "after_header": paths.get("markdown", "")}}
