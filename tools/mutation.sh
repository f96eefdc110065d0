#!/usr/bin/env bash
# Mutation testing with mutmut 3: plant small bugs (mutants) in eval/ and the pure parts of
# trainer/ (the modules setup.cfg [mutmut] only_mutate lists), one at a time, and run the fast
# tests (-m "not slow") that reach the changed function; a mutant no test notices survives.
#
#   tools/mutation.sh                          every listed module (hours on 2 cores)
#   tools/mutation.sh eval                     only the mutants of a package
#   tools/mutation.sh eval/metrics.py trainer/data/samplers.py    only these files
#
# Needs ./install.sh test. Works in mutants/ (gitignored; delete it to start afresh). Ends with
# the kill rate per package and file, and the surviving mutants that
# tools/mutation_equivalent.txt does not list as equivalent (inspect one with
# `.venv/bin/mutmut show NAME`). MUTATION_JOBS sets the parallel children (default: the number
# of cores). `tools/mutation.sh --report [PATH...]` prints the report of the last run only;
# `tools/mutation.sh --again [PATH...]` runs only the mutants not checked yet or not killed
# (after new tests: the killed ones stay killed, so this is the quick re-check).
# `tools/mutation.sh --sample N PATH...` runs N mutants of each file drawn at random (seeded by
# the file), an estimate of its kill rate where all of them would take hours.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/mutmut ] || { echo "tools/mutation.sh: run ./install.sh test first" >&2; exit 2; }
if [ "${1:-}" = "--report" ]; then
  shift
  exec .venv/bin/python tools/mutation_report.py "$@"
fi
export HYPOTHESIS_PROFILE=mutation  # the same examples for every mutant, no example database
# no progress watchdog in the tests' evaluations: starved of CPU by the parallel mutants it would
# end a slow test (exit 75) that is not stuck; mutmut's own time limit catches a hanging mutant
export XSTILTS_TEST_WATCHDOG_S=0
# one OpenMP thread: mutmut forks a child per mutant, and a child of a process whose OpenMP pool
# has run hangs in its first parallel region (an in-process evaluation never returned)
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
# the tests run in mutants/, one level deeper than the checkout: point them at ../shared
[ -d ../shared/data/real ] && export XSTILTS_REAL_DATA="$(cd ../shared/data/real && pwd)"
names=()
if [ "${1:-}" = "--sample" ]; then
  n=${2:?tools/mutation.sh --sample N PATH...: N mutants of each file, drawn at random}
  shift 2
  [ -d mutants ] || { echo "tools/mutation.sh --sample: no mutants/ yet; run tools/mutation.sh on one small file first" \
    "(e.g. trainer/config/batch.py): it creates the mutants of every file" >&2; exit 2; }
  mapfile -t names < <(.venv/bin/python tools/mutation_report.py --sample "$n" "$@")
  [ ${#names[@]} -gt 0 ] || exec .venv/bin/python tools/mutation_report.py "$@"
elif [ "${1:-}" = "--again" ]; then
  shift
  [ -d mutants ] || { echo "tools/mutation.sh --again: no earlier run in mutants/" >&2; exit 2; }
  mapfile -t names < <(.venv/bin/python tools/mutation_report.py --open "$@")
  [ ${#names[@]} -gt 0 ] || exec .venv/bin/python tools/mutation_report.py "$@"
else
  for path in "$@"; do
    module=${path%/}
    module=${module%.py}
    names+=("${module//\//.}.*")
  done
fi
.venv/bin/mutmut run --max-children "${MUTATION_JOBS:-$(nproc)}" "${names[@]}"
exec .venv/bin/python tools/mutation_report.py "$@"
