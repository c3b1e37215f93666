"""Command line of the lab harness.

    python -m lab build                 build or find the binaries (cached by version)
    python -m lab up --clusters 2       start clusters in the named loopback-only namespace
    python -m lab up --light 32         light clusters (etcd, API server, token controllers) for scale benchmarks
    python -m lab exec -- CMD...        run CMD in that namespace with KUBECONFIG set
    python -m lab sandbox -- CMD...     run CMD in a private namespace that dies with it (tests)
    python -m lab status                what runs
    python -m lab down                  stop everything the lab started
"""

import argparse
import json
import os
import sys

from lab import build, charts, cluster, netns


def _env_for(lab):
    env = dict(os.environ)
    env["KUBECONFIG"] = str(lab.kubeconfig)
    env["AMBIENTMESH_LAB_DIR"] = str(lab.dir)
    # the lab inventory installs Istio's real charts from here (lab.charts)
    for key, value in charts.ambient_vars().items():
        env["AMBIENTMESH_" + key.upper()] = value
    # helm, etcd... from the cache and kubectl/envoy from the venv, ahead of anything else on PATH
    env["PATH"] = os.pathsep.join([str(build.bin_dir()), os.path.dirname(sys.executable), env.get("PATH", "")])
    return env


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", help="lab state directory (default .lab or $AMBIENTMESH_LAB_DIR)")
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build the lab binaries into the cache")
    b.add_argument("--force", action="store_true")
    sub.add_parser("crds", help="make sure CRD files are available (downloads when ../shared is absent)")
    u = sub.add_parser("up", help="start N clusters")
    u.add_argument("count", nargs="?", type=int, help="number of clusters (same as --clusters)")
    u.add_argument("--clusters", type=int, default=2)
    u.add_argument("--light", action="store_true",
                   help="etcd, kube-apiserver and the token controllers only: no scheduler, kwok, nodes or agent")
    u.add_argument("--nodes", type=int, default=1, help="kwok fake nodes per cluster")
    u.add_argument("--crds", action="store_true", help="apply Gateway API and Istio CRDs")
    u.add_argument("--ingress", action="store_true", help="also start Envoy on 127.0.0.1:8080 and the lab controller")
    for name in ("exec", "sandbox"):
        e = sub.add_parser(name)
        e.add_argument("command", nargs=argparse.REMAINDER)
    sub.add_parser("status")
    d = sub.add_parser("down")
    d.add_argument("--purge", action="store_true", help="also delete the state directory")
    sub.add_parser("kubeconfig", help="print the kubeconfig path")
    args = parser.parse_args(argv)
    lab = cluster.Lab(args.dir)
    if args.cmd == "up":
        if args.count is not None:
            args.clusters = args.count
        if args.light and args.ingress:
            parser.error("--ingress needs full clusters (the lab agent), not --light")

    if args.cmd == "build":
        build.build(force=args.force)
    elif args.cmd == "crds":
        from lab import crds

        for key, paths in crds.sources().items():
            print(key, " ".join(str(p) for p in paths))
    elif args.cmd == "up":
        if not netns.isolated():
            build.build()
            from lab import crds

            if args.crds:
                crds.sources()  # fail on missing CRDs before starting anything
            netns.ensure_named()
            forwarded = ["--dir", str(lab.dir), "up", "--clusters", str(args.clusters), "--nodes", str(args.nodes)]
            forwarded += [f for f, on in (("--crds", args.crds), ("--ingress", args.ingress), ("--light", args.light))
                          if on]
            netns.exec_in_named(netns.python_argv(*forwarded))
        clusters = lab.up(args.clusters, crds=args.crds, nodes=args.nodes, light=args.light)
        if args.ingress:
            lab.start_ingress()
            print("ingress: http://127.0.0.1:%d (Envoy, programmed by the lab controller)" % lab.load()["ingress"]["port"])
        print("clusters up: %s" % ", ".join(c["name"] for c in clusters))
        print("kubeconfig: %s" % lab.kubeconfig)
    elif args.cmd in ("exec", "sandbox"):
        command = args.command[1:] if args.command[:1] == ["--"] else args.command
        if not command:
            parser.error("%s needs a command after --" % args.cmd)
        if args.cmd == "exec":
            netns.exec_in_named(command, _env_for(lab))
        netns.exec_in_private(command, _env_for(lab))
    elif args.cmd == "status":
        print(json.dumps({"dir": str(lab.dir), "clusters": [c["name"] for c in lab.clusters()],
                          "processes": lab.status()}, indent=2))
    elif args.cmd == "down":
        stopped = lab.down(remove=args.purge)
        netns.delete_named()
        print("stopped %d processes" % len(stopped))
    elif args.cmd == "kubeconfig":
        print(lab.kubeconfig)
    return 0


if __name__ == "__main__":
    sys.exit(main())
