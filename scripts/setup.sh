#!/usr/bin/env bash
# Prepare .venv and the collections path. kubernetes.core comes out of the official `ansible` package's
# wheel, which bundles it: pinned, and from the Python package index alone. AMBIENTMESH_GALAXY=1 installs
# requirements.yml from Galaxy instead.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}
ANSIBLE_WHEEL_VERSION=12.3.0   # ansible 12.x bundles kubernetes.core 6.x

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r requirements-dev.txt

COLL=.collections/ansible_collections
mkdir -p "$COLL/ambientmesh"
# Our own collection, found by ansible-playbook through the collections path.
ln -sfn ../../.. "$COLL/ambientmesh/multicluster"

if [ ! -f "$COLL/kubernetes/core/MANIFEST.json" ]; then
  if [ "${AMBIENTMESH_GALAXY:-0}" = 1 ]; then
    "$VENV/bin/ansible-galaxy" collection install -r requirements.yml -p .collections
  else
    echo "kubernetes.core from the ansible $ANSIBLE_WHEEL_VERSION wheel"
    tmp=$(mktemp -d)
    "$VENV/bin/pip" download --quiet --no-deps --disable-pip-version-check -d "$tmp" "ansible==$ANSIBLE_WHEEL_VERSION"
    "$VENV/bin/python" - "$tmp" "$COLL" <<'PY'
import glob, os, sys, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(tmp, "ansible-*.whl"))[0]
prefix = "ansible_collections/kubernetes/core/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            target = os.path.join(dest, "kubernetes", "core", name[len(prefix):])
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with z.open(name) as src, open(target, "wb") as out:
                out.write(src.read())
PY
    rm -rf "$tmp"
  fi
fi
"$VENV/bin/python" -c 'import json; print("kubernetes.core", json.load(open(".collections/ansible_collections/kubernetes/core/MANIFEST.json"))["collection_info"]["version"])'
