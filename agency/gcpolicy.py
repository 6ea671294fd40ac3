"""The garbage-collector policy of agency's long-running processes (control plane, workers).

CPython's cycle collector walks every tracked object it looks at, with the event loop
stopped. Two measured problems with its defaults in the control plane: the first full
collection under load walked everything start-up built (modules, routes, schemas) for 150 to
370 ms, and with the default thresholds (700, 10, 10) a full collection came every half
second at 1,000 tasks/s, walking every live task: 20 to 80 ms each, and none found garbage.
"""

from __future__ import annotations

import gc

#: allocations before a young collection, then young and middle collections before the next
#: generation's (CPython's defaults are 700, 10, 10)
THRESHOLDS = (50_000, 20, 20)


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
