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


def test_rules_allow_matches_as_the_rbac_authorizer_does():
    from ansible_collections.ambientmesh.multicluster.plugins.module_utils.access import rules_allow
    admin = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]
    assert rules_allow(admin, "apps", "deployments", "scale", "patch")
    rules = [{"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]},
             {"apiGroups": ["apps"], "resources": ["deployments/*"], "verbs": ["patch"]},
             {"apiGroups": [""], "resources": ["*/ephemeralcontainers"], "verbs": ["update"]},
             {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": ["cacerts"]}]
    assert rules_allow(rules, "", "pods", "", "list") and rules_allow(rules, "", "pods", "log", "get")
    assert not rules_allow(rules, "", "pods", "", "delete")
    assert not rules_allow(rules, "", "pods", "exec", "get")  # a subresource is not its resource
    assert rules_allow(rules, "apps", "deployments", "scale", "patch")
    assert not rules_allow(rules, "apps", "deployments", "", "patch")  # deployments/* is subresources only
    assert rules_allow(rules, "", "pods", "ephemeralcontainers", "update")
    assert not rules_allow(rules, "apps", "pods", "", "get")  # another group
    assert not rules_allow(rules, "", "secrets", "", "get")  # named only: not an unnamed request


def test_the_installer_cluster_role_allows_every_question_of_every_step():
    from ansible_collections.ambientmesh.multicluster.plugins.module_utils import access
    rules = access.cluster_role_rules()
    assert access.missing(lambda *q: access.rules_allow(rules, *q), access.ORDER) == []
    without_escalate = [dict(r, verbs=[v for v in r["verbs"] if v != "escalate"]) for r in rules]
    gaps = access.missing(lambda *q: access.rules_allow(without_escalate, *q), access.ORDER)
    assert ("ambient", "escalate clusterroles.rbac.authorization.k8s.io") in gaps
