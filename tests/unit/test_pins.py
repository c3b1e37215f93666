"""Each version is pinned once: the lab's pins (lab/pins.py) and the roles' defaults agree, and every role's
argument spec documents the default its defaults/main.yml really has."""

from pathlib import Path

import yaml

from ansible_collections.ambientmesh.multicluster.plugins.module_utils.distributions import PRODUCTS
from lab import pins

REPO = Path(__file__).resolve().parents[2]


def defaults(role):
    return yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text())


def spec_default(role, option):
    spec = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())
    return spec["argument_specs"]["main"]["options"][option]["default"]


def minor(version):
    return ".".join(version.lstrip("v").split("-")[0].split(".")[:2])


def test_the_default_istio_is_on_the_line_the_lab_tests():
    assert minor(defaults("ambient")["ambient_istio_version"]) == minor(pins.ISTIO) == "1.31"


def test_the_default_gateway_api_is_the_labs():
    assert defaults("ambient")["ambient_gateway_api_version"] == pins.GATEWAY_API


def test_argument_specs_document_the_real_version_defaults():
    for option in ("ambient_istio_version", "ambient_gateway_api_version"):
        assert spec_default("ambient", option) == defaults("ambient")[option], option


def test_gateway_stand_in_charts_carry_the_products_default_versions():
    for product in PRODUCTS.values():
        for release in product["releases"]:
            chart = yaml.safe_load((REPO / "tests" / "charts" / "gloo" / release["chart"] / "Chart.yaml").read_text())
            assert chart["version"] == product["default_version"], release["chart"]
