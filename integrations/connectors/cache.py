"""A small process-local cache that stays true: bounded in size, entries expire, and callers can invalidate.

Process-local caches save calls (reference data, custom-field definitions, customer links), but an unbounded one
grows with every tenant and key, and one without expiry keeps answering after the remote changed. Every such cache
in the connectors and flows is one of these.
"""

import threading
import time
from collections import OrderedDict

_MISSING = object()


class BoundedTTLCache:
    """At most `max_items` entries, each valid for `ttl_seconds`; the least recently used goes first. Thread-safe."""

    def __init__(self, max_items: int, ttl_seconds: float, *, clock=time.monotonic):
        if max_items < 1 or ttl_seconds <= 0:
            raise ValueError("BoundedTTLCache needs max_items >= 1 and ttl_seconds > 0")
        self.max_items = max_items
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._items = OrderedDict()  # key -> (expires at, value)
        self._lock = threading.Lock()

    def get(self, key, default=None):
        with self._lock:
            entry = self._items.get(key)
            if entry is None:
                return default
            if entry[0] <= self._clock():
                del self._items[key]
                return default
            self._items.move_to_end(key)
            return entry[1]

    def set(self, key, value, ttl_seconds: float | None = None):
        with self._lock:
            self._items[key] = (self._clock() + (ttl_seconds or self.ttl_seconds), value)
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)

    def get_or_set(self, key, compute):
        """The cached value, else compute() stored and returned. compute runs outside the lock (it may call out),
        so two threads may both compute on a miss; the last one wins, which is harmless for a cache."""
        value = self.get(key, _MISSING)
        if value is _MISSING:
            value = compute()
            self.set(key, value)
        return value

    def discard(self, key):
        with self._lock:
            self._items.pop(key, None)

    def discard_where(self, predicate):
        """Drop every key for which predicate(key) is true, e.g. all keys of one connection."""
        with self._lock:
            for key in [k for k in self._items if predicate(k)]:
                del self._items[key]

    def clear(self):
        with self._lock:
            self._items.clear()

    def __len__(self):
        with self._lock:
            now = self._clock()
            return sum(1 for expires, _ in self._items.values() if expires > now)

    def __contains__(self, key):
        return self.get(key, _MISSING) is not _MISSING
