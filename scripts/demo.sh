#!/usr/bin/env bash
# Set up .venv (only if it is missing, broken or lacks what the README uses) and run the demo:
# the README's main command (`bash scripts/demo.sh`). The .venv gets the operator install with
# the HSM extra, `pip install -e '.[operator,hsm]'`, so that every README step runs in it. Its output is left in demo-out/ at the repository's top; a
# previous run's output there is moved aside to demo-out.1, demo-out.2, ... (never deleted).
# Arguments replace the default `--workdir demo-out`, e.g. `bash scripts/demo.sh --workdir /tmp/d`.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "keybundle needs Python 3.11 or newer as python3; found: $(python3 --version 2>&1)" >&2
  exit 2
fi

if ! .venv/bin/keybundle --version >/dev/null 2>&1 || ! .venv/bin/python -c 'import pkcs11' 2>/dev/null; then
  echo "setting up .venv (python3 -m venv, then pip install -e '.[operator,hsm]') ..."
  if ! python3 -m venv .venv >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
      python3 -m venv .venv
    else
      echo "python3 -m venv failed; install Python's venv module (Debian/Ubuntu: apt-get install python3-venv)" >&2
      exit 2
    fi
  fi
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[operator,hsm]'
fi

if [ $# -eq 0 ]; then
  set -- --workdir demo-out
fi
exec .venv/bin/keybundle demo "$@"
