"""A step's tag runs that step's tasks and the preflights, nothing of another step (no stray `always`)."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def listed_tasks(tag):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(REPO / "inventory" / "example"),
                           str(REPO / "site.yml"), "--tags", tag, "--list-tasks"],
                          cwd=str(REPO), env=env, capture_output=True, text=True, check=True)
    return [line.strip() for line in proc.stdout.splitlines() if line.startswith("      ")]


def test_the_link_tag_lists_no_task_of_another_role():
    tasks = listed_tasks("link")
    own = [t for t in tasks if t.startswith("ambientmesh.multicluster.") and "Validating arguments" not in t
           and not t.startswith("ambientmesh.multicluster.preflight : ")]
    assert own and all(t.startswith("ambientmesh.multicluster.link : ") for t in own), own
    others = [t for t in tasks if not t.startswith(("ambientmesh.multicluster.", "Preflight: "))]
    assert others == [], others
