"""The one rule for BLAS threads in the package.

Rule: the engine's linear algebra (the mixed-model fit's many small dense
operations, the sparse solves of the mixed-model equations) runs with ONE BLAS
thread. With a multi-threaded OpenBLAS these calls run several times slower and
with much noisier timings on a 2-core machine (benchmarks/ENGINE.md); the
package gets its parallelism from fitting models side by side in Python threads
(the engine and SuperLU release the GIL) instead.

The limit is process-wide (BLAS libraries have one thread setting), so nested
and concurrent uses share one limit: the first to enter sets it, the last to
leave restores what was there before.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["one_blas_thread"]

_LOCK = threading.Lock()
_STATE: dict[str, Any] = {"depth": 0, "limiter": None}


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the block with one BLAS thread (shared, reference-counted limit)."""
    from threadpoolctl import threadpool_limits

    with _LOCK:
        if _STATE["depth"] == 0:
            _STATE["limiter"] = threadpool_limits(limits=1, user_api="blas")
        _STATE["depth"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _STATE["depth"] -= 1
            if _STATE["depth"] == 0 and _STATE["limiter"] is not None:
                _STATE["limiter"].restore_original_limits()
                _STATE["limiter"] = None
