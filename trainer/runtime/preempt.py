"""Stop requests from the scheduler: a signal sets a flag, the training loop reads it once per
step, and every rank stops at the same step after a checkpoint.

  SIGUSR1  a time limit or pre-emption is near (``sbatch --signal=USR1@S``): checkpoint, then
           exit ``REQUEUE_EXIT``, which the batch script turns into ``scontrol requeue``
  SIGTERM  ``scancel`` (handled inside a Slurm job only; elsewhere TERM ends the process as
           before, which is what the deepspeed launcher relies on to end the other ranks when
           one fails): checkpoint, then exit ``STOP_EXIT``; the job is not requeued

Slurm signals each task at its own moment, and a rank that stops alone leaves the others
waiting in a collective: so the loop all-reduces the flag at the end of every step (a scalar,
on the host) and all ranks stop at the first step at which any of them saw the signal.
"""
from __future__ import annotations

import signal
import sys
import time

REQUEUE_EXIT = 85  # stopped early, checkpoint written, run me again (75 is the watchdog's: a stuck rank)
STOP_EXIT = 143  # 128 + SIGTERM: stopped on request, checkpoint written
_EXIT = {signal.SIGUSR1: REQUEUE_EXIT, signal.SIGTERM: STOP_EXIT}
_REASON = {REQUEUE_EXIT: "SIGUSR1 (time limit or pre-emption near)", STOP_EXIT: "SIGTERM (cancelled)"}
_requested = [0]  # the exit code asked for (0: none); a list, so the handler needs no global


class Stopped(SystemExit):
    """Raised by the loop after the checkpoint of a stop request: the process exits with
    ``code`` (``REQUEUE_EXIT`` or ``STOP_EXIT``)."""


def _on_signal(signum: int, _frame) -> None:
    code = _EXIT[signal.Signals(signum)]
    # a cancel outranks a requeue: scancel after a time-limit warning means "do not come back"
    _requested[0] = max(_requested[0], code)
    # no logging here: the handler may run while the main thread holds a logging lock
    sys.stderr.write(f"xstilts: got {signal.Signals(signum).name} (t={time.time():.3f}); "
                     f"stopping after this step's checkpoint\n")
    sys.stderr.flush()


def install(handle_term: bool) -> None:
    """Handle SIGUSR1 always and SIGTERM when ``handle_term`` (inside a Slurm job)."""
    signal.signal(signal.SIGUSR1, _on_signal)
    if handle_term:
        signal.signal(signal.SIGTERM, _on_signal)


def requested() -> int:
    """This process's request: 0, ``REQUEUE_EXIT`` or ``STOP_EXIT``."""
    return _requested[0]


def reset() -> None:
    _requested[0] = 0


def reason(code: int) -> str:
    return _REASON.get(code, f"exit {code}")
