"""The lab's component command lines, full and light (lab.components): pure functions of a cluster's spec."""

import ipaddress

import pytest

from lab import components

BINARIES = {"etcd": "/bin/etcd", "kube-apiserver": "/bin/kube-apiserver",
            "kube-controller-manager": "/bin/kcm", "kube-scheduler": "/bin/sched", "kwok": "/bin/kwok",
            "kwok-stages": "/bin/stages.yaml"}


def _spec(tmp_path, index=1, light=False):
    spec = components.cluster_spec(index, tmp_path / ("cluster%d" % index), light)
    spec["ports"] = {k: 10000 + n for n, k in enumerate(components.ports(light))}
    return spec


def _flag(argv, name):
    values = [a.split("=", 1)[1] for a in map(str, argv) if a.startswith(name + "=")]
    assert len(values) == 1, (name, argv)
    return values[0]


def test_full_cluster_runs_every_component(tmp_path):
    spec = _spec(tmp_path)
    procs = components.controllers(spec, BINARIES)
    expected = [("kcm", "kube-controller-manager"), ("scheduler", "kube-scheduler"), ("kwok", "kwok")]
    assert [(s, b) for s, b, _argv in procs] == expected
    kcm = procs[0][2]
    assert _flag(kcm, "--controllers") == "*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller"
    assert "light" not in spec and set(spec["ports"]) == set(components.PORTS)
    etcd = components.etcd_argv(spec, BINARIES["etcd"])
    assert _flag(etcd, "--quota-backend-bytes") == str(4 << 30)
    assert not [a for a in map(str, etcd) if a.startswith("--snapshot")]
    for binary in ("etcd", "kube-apiserver", "kube-controller-manager"):
        assert components.env(binary, light=False) is None  # inherit the lab's environment unchanged


def test_light_cluster_keeps_only_the_token_controllers(tmp_path):
    spec = _spec(tmp_path, light=True)
    assert spec["light"] is True and set(spec["ports"]) == {"etcd", "etcd_peer", "apiserver", "kcm"}
    procs = components.controllers(spec, {k: v for k, v in BINARIES.items() if k in components.LIGHT_BINARIES},
                                   light=True)
    assert [(s, b) for s, b, _argv in procs] == [("kcm", "kube-controller-manager")]
    kcm = procs[0][2]
    # remote_secret.wait_token needs the token controller to fill the reader's service-account-token Secret
    assert "serviceaccount-token-controller" in _flag(kcm, "--controllers").split(",")
    assert "*" not in _flag(kcm, "--controllers")
    # the token controller signs with the cluster's service-account key and publishes its CA
    assert _flag(kcm, "--service-account-private-key-file").endswith("pki/sa.key")
    assert _flag(kcm, "--root-ca-file").endswith("pki/ca.crt")
    assert _flag(kcm, "--secure-port") == str(spec["ports"]["kcm"])


def test_light_etcd_and_api_server(tmp_path):
    full, light = _spec(tmp_path), _spec(tmp_path, light=True)
    etcd = [str(a) for a in components.etcd_argv(light, BINARIES["etcd"], light=True)]
    assert _flag(etcd, "--quota-backend-bytes") == str(1 << 30)
    assert _flag(etcd, "--snapshot-count") == "1000"
    assert "--unsafe-no-fsync" in etcd and _flag(etcd, "--log-level") == "warn"
    # the API server's flags do not change: light mode must serve the same API

    def strip(argv):
        return [a for a in map(str, argv) if not a.startswith(("--secure-port", "--etcd-servers"))]

    assert strip(components.apiserver_argv(light, "x")) == strip(components.apiserver_argv(full, "x"))


def test_light_env_sets_only_go_runtime_knobs():
    base = {"PATH": "/usr/bin", "GOGC": "off"}
    env = components.env("kube-apiserver", light=True, base=base)
    assert env["PATH"] == "/usr/bin" and env["GOGC"] == components.LIGHT_GO_ENV["kube-apiserver"]["GOGC"]
    assert set(env) - set(base) <= {"GOGC", "GOMEMLIMIT"}
    assert base["GOGC"] == "off"  # not modified in place
    assert components.env("kwok", light=True, base=base) is base


def test_find_binaries_light_needs_no_kwok(monkeypatch, tmp_path):
    monkeypatch.setattr(components.build, "find", lambda n: None if n in ("kwok", "kube-scheduler") else "/b/" + n)
    monkeypatch.setattr(components.build, "bin_dir", lambda: tmp_path)
    assert set(components.find_binaries(light=True)) == set(components.LIGHT_BINARIES)
    with pytest.raises(components.MissingBinaries, match="kube-scheduler, kwok"):
        components.find_binaries()


def test_cluster_addresses_are_distinct_up_to_the_maximum(tmp_path):
    specs = [components.cluster_spec(i, tmp_path) for i in range(1, components.MAX_CLUSTERS + 1)]
    net2 = ipaddress.ip_network("198.51.100.0/24")  # TEST-NET-2
    addrs = [ipaddress.ip_address(s["advertise_address"]) for s in specs]
    assert len(set(addrs)) == len(addrs)
    assert all(a in net2 and a not in (net2.network_address, net2.broadcast_address) for a in addrs)
    assert [s["advertise_address"] for s in specs[:3]] == ["198.51.100.10", "198.51.100.20", "198.51.100.30"]
    nets = [ipaddress.ip_network(s[k]) for s in specs for k in ("service_cidr", "pod_cidr")]
    assert all(not a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1:])
    assert all(ipaddress.ip_address(s["service_ip"]) in ipaddress.ip_network(s["service_cidr"]) for s in specs)
    with pytest.raises(ValueError):
        components.cluster_spec(components.MAX_CLUSTERS + 1, tmp_path)


def test_node_docs_carry_the_kwok_annotation(tmp_path):
    docs = components.node_docs(_spec(tmp_path), 2)
    assert [d["metadata"]["name"] for d in docs] == ["cluster1-node-0", "cluster1-node-1"]
    assert all(d["metadata"]["annotations"][components.KWOK_NODE_ANNOTATION] == "fake" for d in docs)
    kwok = components.kwok_argv(_spec(tmp_path), "kwok", "stages.yaml")
    assert _flag(kwok, "--manage-nodes-with-annotation-selector") == components.KWOK_NODE_ANNOTATION + "=fake"
