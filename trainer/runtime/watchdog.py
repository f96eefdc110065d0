"""The progress watchdog and the heartbeat of a rank.

The watchdog ends the process when the training loop makes no progress for ``timeout_s``,
with a message naming the rank, where its main thread is, and whether that is inside a
collective: collective timeouts catch a peer that died, the watchdog catches a rank that is
alive but stuck (and the peers waiting in a collective for it). The heartbeat publishes
(beat count, last finished step, where the main thread is) through a callback, so that a rank
whose collective failed can tell which peer stopped (see ``peers.describe_peers``). Both run in
daemon threads; the heartbeat gets its own, because publishing may block on a dead peer and
must never keep the watchdog from firing.
"""
from __future__ import annotations

import faulthandler
import logging
import os
import sys
import threading
import time
import traceback
from typing import Callable

log = logging.getLogger("xstilts.watchdog")
EXIT_CODE = 75
HEARTBEAT_S = 1.0
# Frames from these paths mean "waiting for the other ranks", not "stuck on its own".
COLLECTIVE_PATHS = ("torch/distributed/", "deepspeed/comm/", "deepspeed/runtime/zero/")


def main_thread_location(frame=None) -> tuple[str, bool]:
    """(where the main thread is, whether it is inside a collective), for stuck-rank messages;
    from ``frame`` (the main thread's, as a signal handler gets it) where given."""
    frame = frame or sys._current_frames().get(threading.main_thread().ident)
    if frame is None:
        return "unknown", False
    stack = traceback.extract_stack(frame)
    in_collective = any(p in f.filename.replace(os.sep, "/") for f in stack for p in COLLECTIVE_PATHS)
    ours = [f for f in stack if f"{os.sep}trainer{os.sep}" in f.filename]
    top = ours[-1] if ours else stack[-1]
    return f"{os.path.basename(top.filename)}:{top.lineno} in {top.name}()", in_collective


class Watchdog:
    def __init__(self, timeout_s: float, label: str,
                 heartbeat: Callable[[str], None] | None = None,
                 peers: Callable[[], list[str]] | None = None):
        """``heartbeat(text)`` publishes this rank's state for its peers; ``peers()`` describes
        the other ranks when the watchdog fires (both None in a single-process run)."""
        self.timeout_s, self.label = timeout_s, label
        self.peers = peers
        self.last = time.monotonic()
        self.step = 0
        self._stop = threading.Event()
        self._stepped = threading.Event()  # wakes the heartbeat at once when a step finishes
        self._threads: list[threading.Thread] = []
        if timeout_s > 0:
            self._start(self._watch, "xstilts-watchdog")
        if heartbeat is not None:
            self._start(lambda: self._publish(heartbeat), "xstilts-heartbeat")

    def _start(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, daemon=True, name=name)
        thread.start()
        self._threads.append(thread)

    def beat(self, step: int | None = None) -> None:
        self.last = time.monotonic()
        if step is not None:
            self.step = step
            self._stepped.set()

    def stop(self) -> None:
        self._stop.set()
        self._stepped.set()

    def _publish(self, heartbeat: Callable[[str], None]) -> None:
        count = 0
        while not self._stop.is_set():
            count += 1
            where, in_collective = main_thread_location()
            try:
                heartbeat(f"{count} {self.step} {int(in_collective)} {where}")
            except Exception:  # a dead store is reported by the rank that needs it, not here
                pass
            self._stepped.wait(HEARTBEAT_S)
            self._stepped.clear()

    def _watch(self) -> None:
        interval = min(1.0, self.timeout_s / 4)
        # A rank waiting in a collective gives the stuck rank a head start, so that the first
        # (and often only) message, before the launcher ends the rest, is the stuck rank's own.
        grace = min(5.0, 0.2 * self.timeout_s)
        while not self._stop.wait(interval):
            idle = time.monotonic() - self.last
            if idle > self.timeout_s and (idle > self.timeout_s + grace or not main_thread_location()[1]):
                self._fire(idle)

    def _fire(self, idle: float) -> None:
        where, in_collective = main_thread_location()
        why = ("waiting in a collective for a peer that does not arrive (the stuck or dead rank "
               "reports itself)" if in_collective else
               "not in a collective: this rank itself is stuck and holds the others up")
        msg = (f"xstilts watchdog: {self.label} made no progress for {idle:.0f} s after step "
               f"{self.step} (deepspeed.watchdog_s = {self.timeout_s:g}); main thread at {where}, "
               f"{why}; ending the job")
        print(msg, file=sys.stderr, flush=True)
        if self.peers is not None:
            try:
                lines = self.peers()
            except Exception as err:  # never let the report stop the exit
                lines = [f"could not check the peers: {err}"]
            print("\n".join(f"xstilts watchdog: peer {ln}" for ln in lines), file=sys.stderr, flush=True)
        faulthandler.dump_traceback(file=sys.stderr)
        sys.stderr.flush()
        os._exit(EXIT_CODE)
