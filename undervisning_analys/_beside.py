"""One piece of work in a forked process while this process goes on.

The main job has two cores and long stretches of work for one: reading the
observation export while the other files are read (``io.folder``). :class:`Beside`
runs a function in one forked process and hands its value back; where processes
cannot be forked (no ``fork`` start method, or inside a pool's worker, which may
not have children) or one process is asked for, it calls the function in turn,
so the result is the same either way.

The function is passed to the child by the fork itself (a module-level table
read after the fork), so it may be a closure over large, unpicklable objects;
only its return value is pickled back.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_JOBS: dict[int, Callable[[], Any]] = {}
_TOKENS = itertools.count()


def _call(token: int) -> Any:
    return _JOBS[token]()


def can_fork() -> bool:
    """Whether this process may fork a worker (a pool's worker may not: it is a daemon)."""
    import multiprocessing as mp

    return "fork" in mp.get_all_start_methods() and not mp.current_process().daemon


class Beside(Generic[T]):
    """``func()`` in one forked process, started on entering the ``with`` block;
    ``get()`` waits for its value (or raises its exception). ``fork=False``, or no
    fork here: ``func()`` is called on entering, in this process."""

    def __init__(self, func: Callable[[], T], *, fork: bool = True) -> None:
        self._func = func
        self._fork = fork
        self._pool: Any = None
        self._job: Any = None
        self._token = next(_TOKENS)
        self._value: tuple[T] | None = None

    def __enter__(self) -> Beside[T]:
        import multiprocessing as mp

        if self._fork and can_fork():
            _JOBS[self._token] = self._func  # read by the child (copied at the fork)
            self._pool = mp.get_context("fork").Pool(1)
            self._job = self._pool.apply_async(_call, (self._token,))
        else:
            self._value = (self._func(),)
        return self

    @property
    def forked(self) -> bool:
        """Whether the work runs in a forked process."""
        return self._pool is not None

    def get(self) -> T:
        if self._value is None:
            self._value = (self._job.get(),)
        return self._value[0]

    def __exit__(self, *exc: Any) -> None:
        _JOBS.pop(self._token, None)
        if self._pool is not None:
            if any(exc):
                self._pool.terminate()
            else:
                self._pool.close()
            self._pool.join()
            self._pool = None
