"""A progress watchdog: if the loop makes no progress for ``timeout_s``, end the process with an
error naming the rank and where it was. Collective timeouts catch a peer that died; this catches
a rank that is alive but stuck (and the peers stuck in a collective with it)."""
from __future__ import annotations

import faulthandler
import logging
import os
import sys
import threading
import time

log = logging.getLogger("xstilts.watchdog")
EXIT_CODE = 75


class Watchdog:
    def __init__(self, timeout_s: float, label: str):
        self.timeout_s, self.label = timeout_s, label
        self.last = time.monotonic()
        self._stop = threading.Event()
        self._thread = None
        if timeout_s > 0:
            self._thread = threading.Thread(target=self._watch, daemon=True, name="xstilts-watchdog")
            self._thread.start()

    def beat(self) -> None:
        self.last = time.monotonic()

    def stop(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        interval = min(5.0, self.timeout_s / 4)
        while not self._stop.wait(interval):
            idle = time.monotonic() - self.last
            if idle > self.timeout_s:
                msg = (f"xstilts watchdog: {self.label} made no progress for {idle:.0f} s "
                       f"(deepspeed.watchdog_s = {self.timeout_s:g}); ending the job")
                print(msg, file=sys.stderr, flush=True)
                faulthandler.dump_traceback(file=sys.stderr)
                sys.stderr.flush()
                os._exit(EXIT_CODE)
