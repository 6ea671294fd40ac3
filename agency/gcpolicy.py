"""The garbage-collector policy of agency's long-running processes (control plane, workers).

CPython's cycle collector walks every tracked object it looks at, with the event loop
stopped. Two measured problems with its defaults in the control plane: the first full
collection under load walked everything start-up built (modules, routes, schemas) for 150 to
370 ms, and with the default thresholds (700, 10, 10) a full collection came every half
second at 1,000 tasks/s, walking every live task: 20 to 80 ms each, and none found garbage.

The control plane also shortens the GIL's switch interval (``hand_off_quickly``): its writer
thread, back from an ``fdatasync``, waited for the event loop to give up the GIL, up to the
default 5 ms, on every acknowledgement.
"""

from __future__ import annotations

import gc
import sys

#: allocations before a young collection, then young and middle collections before the next
#: generation's (CPython's defaults are 700, 10, 10)
THRESHOLDS = (50_000, 20, 20)
#: seconds a thread holds the GIL while another waits for it (CPython's default is 0.005)
SWITCH_INTERVAL = 0.0005


def settle_after_start() -> None:
    """Freeze what start-up built (no collection walks it again) and space collections out.

    Call once the process has started: what exists then lives as long as the process.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


def release() -> None:
    """Undo the freeze before the process exits, so its objects are finalized normally
    (extension types such as DuckDB's report frozen instances as leaks at exit)."""
    gc.unfreeze()


def hand_off_quickly() -> None:
    """Let a thread waiting for the GIL have it after ``SWITCH_INTERVAL``, not 5 ms.

    Measured in-process at 150 tasks/s (2 busy cores): a journal commit (prepare, append,
    ``fdatasync``) took p50 19 / 13 ms wall with the default and 6 / 7 ms with 0.5 ms, most
    of it spent waiting for the GIL held by the event loop or the DuckDB ingest thread.
    """
    sys.setswitchinterval(SWITCH_INTERVAL)
