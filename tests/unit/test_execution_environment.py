"""The AWX execution environment: `ansible-builder create` on execution-environment.yml, fed with what
`make build` produces, makes a build context that installs exactly what the collection declares; and the
collection's version is written once (galaxy.yml), every other mention follows it.

No image is built (no container engine here): the test reads the generated context."""

import re
import shutil
import subprocess
import sys
import tarfile
import json
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GALAXY = yaml.safe_load((REPO / "galaxy.yml").read_text())
VERSION = GALAXY["version"]
TARBALL = "%s-%s-%s.tar.gz" % (GALAXY["namespace"], GALAXY["name"], VERSION)
EE = yaml.safe_load((REPO / "execution-environment.yml").read_text())


def pin(requirements, name):
    for line in (REPO / requirements).read_text().splitlines():
        m = re.match(r"^%s==(\S+)" % re.escape(name), line)
        if m:
            return m.group(1)
    raise AssertionError("%s is not pinned in %s" % (name, requirements))


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    """What a user does (docs/awx.md): make build, Helm at dist/helm, ansible-builder create."""
    work = tmp_path_factory.mktemp("ee")
    for name in ("execution-environment.yml", "requirements.txt", "requirements.yml", "bindep.txt"):
        shutil.copy(REPO / name, work / name)
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(work / "dist"), str(REPO)],
                   check=True, capture_output=True, text=True)
    (work / "dist" / "helm").write_bytes(b"#!/bin/sh\necho stand-in for a Helm 3 binary\n")
    res = subprocess.run([str(BIN / "ansible-builder"), "create", "-f", "execution-environment.yml", "-c", "context"],
                         cwd=str(work), capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "No matches" not in res.stdout, res.stdout  # a build file the definition names but make build did not make
    return work / "context", work / "dist" / TARBALL


def test_the_context_installs_the_built_collection_and_its_declared_needs(context):
    ctx, built = context
    build = ctx / "_build"
    assert (build / "dist" / TARBALL).read_bytes() == built.read_bytes()
    wanted = yaml.safe_load((REPO / "requirements.yml").read_text())["collections"]
    assert yaml.safe_load((build / "requirements.yml").read_text())["collections"] == wanted + [
        {"name": "%s.%s" % (GALAXY["namespace"], GALAXY["name"]), "source": "./dist/" + TARBALL, "type": "file"}]
    assert (build / "requirements.txt").read_text() == (REPO / "requirements.txt").read_text()
    assert (build / "bindep.txt").read_text() == (REPO / "bindep.txt").read_text()
    containerfile = next(p for p in (ctx / "Containerfile", ctx / "Dockerfile") if p.exists()).read_text()
    assert 'ANSIBLE_INSTALL_REFS="ansible-core==%s ansible-runner==%s"' % (
        pin("requirements-dev.txt", "ansible-core"), pin("requirements-dev.txt", "ansible-runner")) in containerfile
    assert "COPY _build/bin/helm /usr/local/bin/helm" in containerfile
    assert (build / "bin" / "helm").exists()


def test_the_built_collection_is_the_version_of_galaxy_yml_and_ships_no_harness(context):
    dummy, built = context
    with tarfile.open(built) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    info = manifest["collection_info"]
    assert info["version"] == VERSION
    # what the collection declares to Galaxy is what requirements.yml installs
    declared = dict((c["name"], c["version"]) for c in yaml.safe_load((REPO / "requirements.yml").read_text())
                    ["collections"])
    assert set(info["dependencies"]) == set(declared)
    assert not [n for n in names if n.split("/")[0] in ("lab", "bench", "scripts", ".venv", ".collections", ".ci")]
    assert "plugins/action/mesh_preflight.py" in names


def test_every_mention_of_the_version_follows_galaxy_yml():
    files = {
        "execution-environment.yml": ["dist/%s" % TARBALL, "ambientmesh-ee:%s" % VERSION],
        "docs/awx.md": ["ambientmesh-ee:%s" % VERSION],
    }
    for name, expected in files.items():
        text = (REPO / name).read_text()
        for want in expected:
            assert want in text, "%s does not say %s (galaxy.yml's version is %s)" % (name, want, VERSION)
        for other in set(re.findall(r"(?:multicluster-|ambientmesh-ee:)(\d+\.\d+\.\d+)", text)) - {VERSION}:
            raise AssertionError("%s names version %s, galaxy.yml says %s" % (name, other, VERSION))
    changelog = yaml.safe_load((REPO / "changelogs" / "changelog.yaml").read_text())
    released = sorted((changelog.get("releases") or {}), key=lambda v: [int(x) for x in v.split(".")])
    assert not released or released[-1] == VERSION or [int(x) for x in released[-1].split(".")] < [
        int(x) for x in VERSION.split(".")], "galaxy.yml's %s is older than the released %s" % (VERSION, released[-1])
