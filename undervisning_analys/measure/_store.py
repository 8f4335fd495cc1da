"""What ``measure`` computes once per Dataset, held by the Dataset itself.

A :class:`~undervisning_analys.dataset.Dataset` is immutable, so anything
derived from it only (the scored forms, each dimension's fitted
teaching-quality model) can be computed once and reused by every front door:
``teaching_quality``, ``growth``, ``link``, ``plan_observations``, the reports.

Where it is kept: in a private attribute (``_measure_store``) set with
``object.__setattr__`` on the frozen Dataset. It is not a dataclass field, so it
takes no part in ``==``, ``repr`` or ``dataclasses.replace`` (a replaced Dataset
starts empty), and it lives and dies with the Dataset. Not chosen: a global
dictionary keyed by ``id(ds)`` (ids are reused after garbage collection, which
needs weak-reference bookkeeping) and a ``WeakKeyDictionary`` (a Dataset is a
frozen dataclass with ``eq=True``, so it hashes its DataFrames and is
unhashable). A pickled or copied Dataset starts with an empty store. One lock per Dataset and key makes concurrent callers wait for
the first computation instead of repeating it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # pragma: no cover
    from ..dataset import Dataset

T = TypeVar("T")
_ATTR = "_measure_store"
_CREATE = threading.Lock()


class _Store:
    def __init__(self) -> None:
        self.values: dict[Any, Any] = {}
        self.locks: dict[Any, threading.Lock] = {}
        self.lock = threading.Lock()

    def __reduce__(self) -> tuple[Any, ...]:
        # a pickled or copied Dataset carries an empty store (locks do not pickle,
        # and the values are recomputed on demand)
        return (_Store, ())


def _store(ds: Dataset) -> _Store:
    store = ds.__dict__.get(_ATTR)
    if store is None:
        with _CREATE:
            store = ds.__dict__.get(_ATTR)
            if store is None:
                store = _Store()
                object.__setattr__(ds, _ATTR, store)
    return store


def cached(ds: Dataset, key: Any, make: Callable[[], T]) -> T:
    """``make()`` once per Dataset and key; later calls return the same object."""
    store = _store(ds)
    with store.lock:
        if key in store.values:
            return store.values[key]
        lock = store.locks.setdefault(key, threading.Lock())
    with lock:
        with store.lock:
            if key in store.values:
                return store.values[key]
        value = make()
        with store.lock:
            store.values[key] = value
        return value


def peek(ds: Dataset, key: Any) -> Any:
    """The stored value for ``key`` or None (nothing is computed)."""
    store = ds.__dict__.get(_ATTR)
    if store is None:
        return None
    with store.lock:
        return store.values.get(key)


def put(ds: Dataset, key: Any, value: Any) -> None:
    """Store ``value`` for ``key`` unless one is there already."""
    store = _store(ds)
    with store.lock:
        store.values.setdefault(key, value)
