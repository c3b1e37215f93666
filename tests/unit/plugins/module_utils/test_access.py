"""The installer rules: one table renders the ClusterRole and drives the preflight's access reviews."""

from ansible_collections.ambientmesh.multicluster.plugins.module_utils import access


def grants(rules):
    return {(g, r, v) for rule in rules for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}


def test_the_cluster_role_grants_exactly_what_the_steps_need():
    rules = access.cluster_role_rules()
    want = {(g, r, v) for (g, r), verbs in access.wanted(access.ORDER).items() for v in verbs}
    assert grants(rules) == want
    # helm may create roles granting more than the installer holds only with escalate and bind, on roles alone
    assert ("rbac.authorization.k8s.io", "clusterroles", "escalate") in want
    assert not {(g, r, v) for g, r, v in want if v in ("escalate", "bind") and r.endswith("bindings")}
    # no wildcard anywhere
    assert not [r for r in rules if "*" in r["verbs"] + r["resources"] + r["apiGroups"]]


def test_the_verify_step_alone_writes_nothing_but_the_drill_and_its_probe():
    writes = {(g, r) for (g, r), verbs in access.wanted(["verify"]).items()
              if set(verbs) & {"create", "update", "patch", "delete"}}
    assert writes == {("", "pods/ephemeralcontainers"), ("apps", "deployments"), ("apps", "deployments/scale")}


def test_missing_lists_each_denied_verb_once_with_the_first_step_that_needs_it():
    asked = []

    def allowed(group, resource, subresource, verb):
        asked.append((group, resource, subresource, verb))
        return not (resource == "clusterroles" and verb == "escalate") and not (
            resource == "deployments" and subresource == "scale" and verb == "patch")

    got = access.missing(allowed, ["ambient", "link", "verify"])
    assert got == [("ambient", "escalate clusterroles.rbac.authorization.k8s.io"),
                   ("verify", "patch deployments/scale.apps")]
    assert len(asked) == len(set(asked)), "a question was asked twice"
    assert access.missing(lambda *a: True, access.ORDER) == []


def test_unknown_steps_are_named():
    assert access.unknown_steps(["trust", "gateway", "verify", "istio"]) == ["gateway", "istio"]
