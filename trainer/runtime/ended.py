"""What a rank of a multi-rank job says when it is told to end (SIGTERM).

When one rank exits with an error, the deepspeed launcher and torchrun end the others with
SIGTERM, and the launcher's own message names whichever rank it spawned last. A survivor that was
computing, not waiting in a collective, never sees the collective error that would make it report
the dead peer: with SIGTERM's default action it would end without a word. With this module it
says which peers are gone, then exits.

The signal is taken at C level and written to a pipe (``signal.set_wakeup_fd``); a daemon thread
reads the pipe and reports. So the report comes, and the process ends, even while the main thread
is blocked in a collective or a long kernel, where a Python handler would not run until the call
returns. The process exits with ``EXIT`` within ``limit_s`` of the signal, report or not.

A child forked after ``install`` (a worker pool, a data-loader worker) gets SIGTERM's default
action back and no wakeup fd: it would otherwise ignore the SIGTERM that ends it and, through the
inherited pipe, have this process report and exit instead.

For ``xstilts train`` inside a Slurm job SIGTERM means "checkpoint and stop" (runtime/preempt.py
handles it), and ``install`` leaves a SIGTERM that already has a handler alone; everywhere else
(``evaluate`` under srun too) this module takes it. If another module later sets its own wakeup
fd, the main thread's handler reports instead, which waits for the main thread to come back to
Python.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Callable

from trainer.runtime.watchdog import main_thread_location

EXIT = 143  # 128 + SIGTERM, what a shell reports for a process that the signal ended
_installed: list[int] = []  # the pipe's two ends while installed
_report: list = []  # (label, say, limit_s) while installed
_fork_hook: list[bool] = []  # registered once per process
_ending = threading.Lock()  # held by whichever thread reports first


def _on_term(_signum, frame) -> None:
    """The Python-level handler, run by the main thread when it is next in Python. Its presence
    replaces the default action, which would end the process before the thread could report.
    The thread has the signal in hand, unless something set another wakeup fd since ``install``:
    then the report is made here."""
    report = list(_report)
    if not _installed or not report:
        return
    current = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(current)
    if current != _installed[1]:
        _end(*report, frame=frame)


def install(label: str, say: Callable[[], list[str]], limit_s: float = 20.0) -> bool:
    """On SIGTERM, print a line naming ``label`` (this rank) and where its main thread is, then the
    lines ``say()`` returns, then exit with ``EXIT``. Returns False, and
    changes nothing, off the main thread, where SIGTERM already has a handler, or where another
    wakeup fd is set."""
    if _installed or threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return False
    read, write = os.pipe()
    os.set_blocking(write, False)
    previous = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    if previous != -1:  # someone else's: put it back
        signal.set_wakeup_fd(previous)
        os.close(read)
        os.close(write)
        return False
    signal.signal(signal.SIGTERM, _on_term)
    _installed.extend((read, write))
    _report[:] = [label, say, limit_s]
    if not _fork_hook:
        os.register_at_fork(after_in_child=_forget_in_child)
        _fork_hook.append(True)
    threading.Thread(target=_wait, args=(read, label, say, limit_s), daemon=True, name="xstilts-sigterm").start()
    return True


def uninstall() -> None:
    """SIGTERM ends the process by default again (the job is over: there is nothing to report)."""
    if not _installed or threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.set_wakeup_fd(-1)
    write = _installed[1]
    _installed.clear()
    _report.clear()
    os.close(write)  # the thread's read returns b"": it closes its end and ends


def _forget_in_child() -> None:
    if not _installed:
        return
    try:  # the forking thread is the child's main thread
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    except ValueError:  # not the main thread after all: this child keeps the parent's set-up
        return
    for fd in _installed:
        os.close(fd)
    _installed.clear()


def _wait(read: int, label: str, say: Callable[[], list[str]], limit_s: float) -> None:
    # Every signal with a Python handler (SIGINT, SIGUSR1 too) writes its number here. A SIGTERM
    # written just before ``uninstall`` still counts (the pipe is read to its end); one whose
    # handler another module has since taken over is that module's.
    while True:
        try:
            got = os.read(read, 64)
        except OSError:
            return
        if not got:
            os.close(read)
            return
        if signal.SIGTERM in got and signal.getsignal(signal.SIGTERM) in (_on_term, signal.SIG_DFL):
            _end(label, say, limit_s)


def _end(label: str, say: Callable[[], list[str]], limit_s: float, frame=None) -> None:
    if not _ending.acquire(blocking=False):  # the other thread is at it already
        return
    done = threading.Event()

    def report() -> None:  # every print here: a blocked stderr must not outlast the limit
        try:
            where, in_collective = main_thread_location(frame)
            print(f"xstilts: {label}: got SIGTERM (t={time.time():.3f}): the launcher or the scheduler "
                  f"is ending this rank; its main thread is at {where}, "
                  f"{'in a collective' if in_collective else 'outside any collective'}",
                  file=sys.stderr, flush=True)
            lines = say()
        except Exception as err:  # never let the report keep the process alive
            lines = [f"xstilts: could not check the peers: {err}"]
        if lines:
            print("\n".join(lines), file=sys.stderr, flush=True)
        done.set()

    threading.Thread(target=report, daemon=True, name="xstilts-sigterm-report").start()
    done.wait(limit_s)
    os._exit(EXIT)  # no flush here: the report flushed what it printed, and a blocked stderr would hold us
