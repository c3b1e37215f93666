"""kubernetes.config with libyaml's loader: the same configuration from a kubeconfig, relative paths included."""

import yaml
from kubernetes import client, config
from kubernetes.config import kube_config

from ansible_collections.ambientmesh.multicluster.plugins.module_utils import kubeconfig


def write_kubeconfig(folder, clusters=3):
    (folder / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "c1",
           "clusters": [{"name": "c%d" % i, "cluster": {"server": "https://127.0.0.%d:6443" % i,
                                                        "certificate-authority": "ca.crt"}}
                        for i in range(1, clusters + 1)],
           "users": [{"name": "u%d" % i, "user": {"token": "token-%d" % i}} for i in range(1, clusters + 1)],
           "contexts": [{"name": "c%d" % i, "context": {"cluster": "c%d" % i, "user": "u%d" % i}}
                        for i in range(1, clusters + 1)]}
    path = folder / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def loaded(path, context):
    cfg = client.Configuration()
    config.load_kube_config(config_file=path, context=context, client_configuration=cfg, persist_config=False)
    return cfg.host, cfg.api_key, open(cfg.ssl_ca_cert).read()


def test_libyaml_gives_kubernetes_config_the_same_configuration(tmp_path, monkeypatch):
    path = write_kubeconfig(tmp_path)
    monkeypatch.setattr(kube_config, "yaml", yaml)  # PyYAML's pure-Python loader, as kubernetes.config has it
    before = [loaded(path, "c%d" % i) for i in (1, 2, 3)]
    assert kubeconfig.use_libyaml() is True and kubeconfig.use_libyaml() is True  # idempotent
    assert isinstance(kube_config.yaml, kubeconfig._LibYaml)
    assert [loaded(path, "c%d" % i) for i in (1, 2, 3)] == before
    assert before[1][0] == "https://127.0.0.2:6443" and before[1][1] == {"BearerToken": "Bearer token-2"}
    assert before[0][2].startswith("-----BEGIN CERTIFICATE-----")  # ca.crt, relative to the kubeconfig's folder


def test_the_parse_goes_through_libyaml(tmp_path, monkeypatch):
    monkeypatch.setattr(kube_config, "yaml", yaml)
    kubeconfig.use_libyaml()
    loaders = []
    real_load = yaml.load
    monkeypatch.setattr(yaml, "load", lambda stream, Loader: loaders.append(Loader) or real_load(stream, Loader))
    loaded(write_kubeconfig(tmp_path), "c1")
    assert loaders == [yaml.CSafeLoader]
