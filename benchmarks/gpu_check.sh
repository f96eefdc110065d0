#!/usr/bin/env bash
# Every figure the GPU results need, in one command (benchmarks/gpu_check.py says which steps):
#
#   benchmarks/gpu_check.sh OUT_DIR          on one H100/H200, at most 9 minutes with start-up
#   benchmarks/gpu_check.sh --cpu OUT_DIR    the same steps at a tiny size on CPU, < 3 minutes
#   benchmarks/gpu_check.sh --prepare        where the real samples are (../shared/data/real):
#                                            the side by side's workspace into benchmarks/prepared/
#
# What the machine needs (it installs nothing: there may be no internet):
#   - a Python with torch (CUDA build on the GPU machine), deepspeed, transformers, accelerate,
#     datasets and tokenizers: ./.venv if it works, else $PYTHON, else python3 on PATH
#   - the real samples beside the checkout, or benchmarks/prepared/ (made by --prepare here and
#     carried with the working tree, about a few MB) for the side by side; without either that
#     step is reported under "failed" and the others run
# The last line printed is one JSON object (the summary); every figure is under OUT_DIR.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=""
for cand in ./.venv/bin/python "${PYTHON:-}" python3; do
    [ -n "$cand" ] || continue
    if "$cand" -c "import importlib.util as u, sys; sys.exit(any(u.find_spec(m) is None for m in
        ('torch', 'deepspeed', 'transformers', 'accelerate', 'datasets', 'tokenizers')))" 2>/dev/null; then
        PY=$cand; break
    fi
done
if [ -z "$PY" ]; then
    echo "gpu_check: no Python here imports torch, deepspeed, transformers, accelerate, datasets and" \
         "tokenizers (tried ./.venv/bin/python, \$PYTHON, python3). Install them (./install.sh," \
         "where there is a package index) or point PYTHON at an interpreter that has them." >&2
    exit 2
fi
case "${1:-}" in --cpu|--prepare|-h|--help) gpu=0 ;; *) gpu=1 ;; esac
if [ "$gpu" = 1 ]; then
    if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
        echo "gpu_check: $PY sees no CUDA GPU (torch $("$PY" -c 'import torch; print(torch.__version__)'));" \
             "run it on the GPU machine, or with --cpu for the small CPU run" >&2
        exit 2
    fi
fi
export PYTHONPATH="$(pwd)${PYTHONPATH:+:$PYTHONPATH}" DS_ACCELERATOR="${DS_ACCELERATOR:-}"
[ -n "$DS_ACCELERATOR" ] || unset DS_ACCELERATOR
exec "$PY" benchmarks/gpu_check.py "$@"
