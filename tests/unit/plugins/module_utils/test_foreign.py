"""What teardown may take with a namespace: ours by label or Helm release, owned objects with their owner, the
automatic ones; everything else is foreign and keeps the namespace."""

from ansible_collections.ambientmesh.multicluster.plugins.module_utils import foreign


def obj(kind, name, labels=None, annotations=None, owners=None, type_=None):
    meta = {"name": name, "namespace": "gloo-system", "labels": labels or {}, "annotations": annotations or {}}
    if owners:
        meta["ownerReferences"] = owners
    out = {"kind": kind, "metadata": meta}
    if type_:
        out["type"] = type_
    return out


class FakeKube:
    def __init__(self, objects, served=None):
        self.objects = objects
        self.unserved = set(served or ())

    def served(self, api_version, kind):
        return kind not in self.unserved

    def list(self, api_version, kind, namespace=None, label_selector=None):
        assert namespace == "gloo-system" and label_selector is None
        # list items carry no kind, as the API server sends them
        return [dict((k, v) for k, v in o.items() if k != "kind") for o in self.objects if o["kind"] == kind]


def test_only_what_no_one_of_ours_made_is_listed():
    ours = [obj("Gateway", "http", labels={"app.kubernetes.io/managed-by": "ambientmesh.multicluster"}),
            obj("Deployment", "gloo", annotations={"meta.helm.sh/release-name": "gloo"}),
            obj("Secret", "sh.helm.release.v1.gloo.v1", labels={"name": "gloo", "owner": "helm"},
                type_="helm.sh/release.v1"),
            obj("Pod", "gloo-abc", owners=[{"kind": "ReplicaSet", "name": "gloo-x"}]),
            obj("Service", "gloo-proxy-http", owners=[{"kind": "Gateway", "name": "http"}]),
            obj("ConfigMap", "kube-root-ca.crt"), obj("ConfigMap", "istio-ca-root-cert"), obj("ConfigMap", "istio-ca-crl"),
            obj("ServiceAccount", "default"), obj("Secret", "t", type_="kubernetes.io/service-account-token")]
    theirs = [obj("Gateway", "team-edge"), obj("HTTPRoute", "legacy", labels={"app.kubernetes.io/managed-by": "Helm"}),
              obj("Deployment", "other", annotations={"meta.helm.sh/release-name": "someone-elses"}),
              obj("Secret", "sh.helm.release.v1.mine.v1", labels={"name": "mine"}, type_="helm.sh/release.v1"),
              obj("ConfigMap", "settings")]
    kube = FakeKube(ours + theirs)
    assert foreign.foreign_objects(kube, "gloo-system", ["gloo"]) == [
        "ConfigMap/settings", "Deployment/other", "Gateway/team-edge", "HTTPRoute/legacy",
        "Secret/sh.helm.release.v1.mine.v1"]
    assert foreign.foreign_objects(FakeKube(ours), "gloo-system", ["gloo"]) == []
    # without the release named, its objects are someone else's
    assert "Deployment/gloo" in foreign.foreign_objects(FakeKube(ours), "gloo-system", [])


def test_kinds_the_cluster_does_not_serve_are_skipped():
    kube = FakeKube([obj("ServiceEntry", "x")], served=["ServiceEntry"])
    assert foreign.foreign_objects(kube, "gloo-system", []) == []
