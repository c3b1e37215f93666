#!/usr/bin/env bash
# make demo: two simulated clusters + Envoy ingress on this machine, then the whole guide (site.yml, which ends
# with the verify step) against inventory/lab. The lab stays up afterwards; `make demo-down` stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export ANSIBLE_CONFIG=$PWD/ansible.cfg
$PY -m lab up --clusters 2 --crds --ingress
start=$(date +%s)
$PY -m lab exec -- .venv/bin/ansible-playbook -i inventory/lab site.yml "$@"
echo
echo "site.yml (trust, ambient, link, apps, ingress, verify) finished in $(( $(date +%s) - start ))s."
report=$(ls -t reports/*.md 2>/dev/null | head -1 || true)
if [ -n "$report" ]; then
  echo "Failover drill summary ($report):"
  sed -n '1,40p' "$report"
  echo "Full report: ${report%.md}.json and ${report%.md}.png"
fi
cat <<MSG

The lab is still running. Try it:
  .venv/bin/python -m lab exec -- curl -si http://127.0.0.1:8080/productpage
  .venv/bin/python -m lab exec -- .venv/bin/kubectl --context cluster1 -n bookinfo scale deploy/productpage-v1 --replicas=0
Stop it with: make demo-down
MSG
