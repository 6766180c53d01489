#!/usr/bin/env bash
# Build, once, the two Reactor runtime environments the platform tests serve converted models
# with (tests/platform), and reuse them on later runs:
#   $CACHE/reactor-runtime-3.10.0   Python 3.12: reactor-runtime 3.10.0, torch 2.13.0, tqdm
#   $CACHE/reactor-runtime-2.7.8    Python 3.12: reactor-runtime 2.7.8, aiortc 1.15.0, torch, tqdm
# CACHE is $REACTORC_PLATFORM_CACHE, default ~/.cache/reactorc-ci. An environment is reused when
# its .reactorc-spec file records the same packages (written when the install has succeeded, so
# an interrupted build is built again).
#
# Python 3.12: $PYTHON312, else pyenv's newest 3.12 (under `pyenv root`, or ~/.pyenv), else
# python3.12 on PATH.
# torch: PyPI's 2.13.0 (the package index has no CPU-only build of it for Python 3.12; its
# CUDA build runs on the CPU here). reactor-runtime 2.7.8 gets aiortc 1.15.0: it subclasses
# aiortc's ICE gatherer, whose constructor changed in aiortc 1.16 (every offer fails there).
set -euo pipefail

CACHE="${REACTORC_PLATFORM_CACHE:-$HOME/.cache/reactorc-ci}"
FIXTURES="torch==2.13.0 tqdm" # what the fixture pipelines import besides numpy
declare -A SPECS=(
    ["3.10.0"]="reactor-runtime==3.10.0 $FIXTURES"
    ["2.7.8"]="reactor-runtime==2.7.8 aiortc==1.15.0 $FIXTURES"
)

find_python312() {
    if [[ -n "${PYTHON312:-}" ]]; then
        echo "$PYTHON312"
        return
    fi
    local root="${PYENV_ROOT:-$HOME/.pyenv}"
    if command -v pyenv >/dev/null 2>&1; then
        root="$(pyenv root)"
    fi
    local found
    found="$(ls -d "$root"/versions/3.12*/bin/python3.12 2>/dev/null | sort -V | tail -1 || true)"
    if [[ -n "$found" ]]; then
        echo "$found"
        return
    fi
    if python3.12 -c "" >/dev/null 2>&1; then
        command -v python3.12
        return
    fi
    echo "error: no Python 3.12 found (reactor-runtime 3.x needs it): install one with pyenv, or set PYTHON312" >&2
    exit 2
}

mkdir -p "$CACHE"
# While this runs, $CACHE/.building holds its pid: tests/platform waits for it to finish
# (.ci/run builds in the background while the other tests run).
echo $$ >"$CACHE/.building"
trap 'rm -f "$CACHE/.building"' EXIT
PY312=""
for version in "3.10.0" "2.7.8"; do
    env="$CACHE/reactor-runtime-$version"
    spec="${SPECS[$version]}"
    if [[ -x "$env/bin/python" && "$(cat "$env/.reactorc-spec" 2>/dev/null)" == "$spec" ]]; then
        echo "reactor-runtime $version: reusing $env"
        continue
    fi
    PY312="${PY312:-$(find_python312)}"
    echo "reactor-runtime $version: building $env ($spec; a few minutes the first time)"
    rm -rf "$env"
    "$PY312" -m venv "$env"
    if ! "$env/bin/python" -m pip install -q $spec >"$env/install.log" 2>&1; then
        grep -v "^WARNING: Location" "$env/install.log" | tail -20 >&2
        echo "error: installing $spec into $env failed (log: $env/install.log)" >&2
        exit 1
    fi
    echo "$spec" >"$env/.reactorc-spec" # written last: an interrupted build is built again
done
