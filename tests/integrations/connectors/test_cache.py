"""BoundedTTLCache: bounded, expiring, invalidated, safe across threads."""

import threading

import pytest

from integrations.connectors.cache import BoundedTTLCache


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_entries_expire_after_their_ttl():
    clock = Clock()
    cache = BoundedTTLCache(10, 60, clock=clock)
    cache.set("a", 1)
    clock.now += 59
    assert cache.get("a") == 1 and "a" in cache
    clock.now += 2
    assert cache.get("a") is None and "a" not in cache and len(cache) == 0
    cache.set("b", 2, ttl_seconds=5)
    clock.now += 6
    assert cache.get("b", "gone") == "gone"


def test_size_is_bounded_and_the_least_recently_used_goes_first():
    cache = BoundedTTLCache(3, 60)
    for key in "abc":
        cache.set(key, key.upper())
    cache.get("a")  # a was used: b is now the oldest
    cache.set("d", "D")
    assert [cache.get(k) for k in "abcd"] == ["A", None, "C", "D"]
    for number in range(100):
        cache.set(number, number)
    assert len(cache) == 3


def test_discard_discard_where_and_clear():
    cache = BoundedTTLCache(10, 60)
    for key in [(1, "x"), (1, "y"), (2, "x")]:
        cache.set(key, True)
    cache.discard((2, "x"))
    cache.discard("never there")
    assert (2, "x") not in cache
    cache.discard_where(lambda key: key[0] == 1)
    assert len(cache) == 0
    cache.set("a", 1)
    cache.clear()
    assert cache.get("a") is None


def test_get_or_set_computes_once_until_expiry_and_caches_falsy_values():
    clock = Clock()
    cache = BoundedTTLCache(10, 60, clock=clock)
    calls = []

    def compute():
        calls.append(1)
        return {}

    assert cache.get_or_set("k", compute) == {} and cache.get_or_set("k", compute) == {}
    assert len(calls) == 1
    clock.now += 61
    cache.get_or_set("k", compute)
    assert len(calls) == 2


def test_refuses_a_cache_that_could_not_stay_true():
    with pytest.raises(ValueError):
        BoundedTTLCache(0, 60)
    with pytest.raises(ValueError):
        BoundedTTLCache(10, 0)


def test_many_threads_keep_it_bounded_and_consistent():
    cache = BoundedTTLCache(50, 60)

    def work(offset):
        for number in range(2000):
            cache.set((offset, number % 80), number)
            cache.get((offset, (number * 7) % 80))
            if number % 13 == 0:
                cache.discard((offset, number % 80))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(cache) <= 50
