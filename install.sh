#!/usr/bin/env bash
# Set up xstilts in ./.venv: torch pinned first (an unpinned torch pulls gigabytes of CUDA
# wheels on a CPU machine), then the package, an MPI library for mpi4py, and test extras when
# called as `./install.sh test`. Idempotent: re-running only checks what is installed.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
TORCH=${XSTILTS_TORCH:-torch==2.13.0}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
pip install -q --disable-pip-version-check "$TORCH"
# mpich: an MPI runtime for mpi4py and `mpirun` (a cluster installs its own MPI instead).
extras=""; [ "${1:-}" = "test" ] && extras="[test]"
pip install -q --disable-pip-version-check -e ".${extras}" mpich
echo "xstilts installed in $(pwd)/.venv ($(python -c 'import torch; print("torch", torch.__version__)'))"
