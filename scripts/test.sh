#!/usr/bin/env bash
# Set up and run every check: the README's test command (`bash scripts/test.sh`).
# Idempotent: re-running reuses .venv and skips system packages already present.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the tests use for real components: SoftHSM2 (a real PKCS#11 token), nginx
# (serving the log's static tiles) and curl (the README's walkthrough, run by
# tests/test_readme.py). Installed only when missing.
need=()
command -v softhsm2-util >/dev/null 2>&1 || need+=(softhsm2)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v curl >/dev/null 2>&1 || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing system packages: ${need[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "warning: missing ${need[*]}; the tests that need them will be skipped" >&2
  fi
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

echo "== ruff"
.venv/bin/ruff check .
echo "== mypy"
.venv/bin/mypy
echo "== import contracts"
.venv/bin/lint-imports
echo "== pytest"
.venv/bin/pytest -q "$@"
