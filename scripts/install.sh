#!/usr/bin/env bash
# Install reactorc (editable) into the current Python.
#   scripts/install.sh          the compiler and runtime, with the CPU torch the examples use
#   scripts/install.sh --test   also the test tools, Ray Serve (the ray extra), Debian's chromium and the JS client packages
# torch==2.13.0 goes first when no torch is present: a bare `torch` would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"

if ! "$PY" -c "import torch" >/dev/null 2>&1; then
    echo "installing torch==2.13.0 (CPU build)"
    "$PY" -m pip install -q torch==2.13.0
fi

if [[ "${1:-}" == "--test" ]]; then
    "$PY" -m pip install -q -e '.[test,ray]'  # ray: the scale-out tests (tests/scale)
    if ! command -v chromium >/dev/null 2>&1 && [[ ! -x /usr/lib/chromium/chromium ]]; then
        if [[ "$(id -u)" == "0" ]]; then
            echo "installing Debian's chromium"
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
        else
            echo "warning: chromium is not installed and this is not root; browser tests will be skipped" >&2
        fi
    fi
    if [[ -f tests/js/package.json ]] && command -v npm >/dev/null 2>&1; then
        (cd tests/js && npm install --no-audit --no-fund --silent)
    fi
else
    "$PY" -m pip install -q -e .
fi
