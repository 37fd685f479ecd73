import multiprocessing
import threading
import time

import pytest
from django.db import connections

from integrations.connectors import governor
from integrations.connectors.errors import RateLimited
from integrations.models import Connection

PER_MINUTE, CONCURRENT, HOLD = 12, 2, 0.1
PROCESSES, THREADS, TRIES = 2, 3, 3  # 18 attempts for 12 window places and 2 slots


def _worker(connection_pk, results):
    """One process: THREADS threads each trying TRIES times to get a slot, holding it HOLD seconds."""

    def run():
        try:
            connection = Connection.objects.get(pk=connection_pk)
            for _ in range(TRIES):
                try:
                    lease = governor.acquire(connection, "high", max_wait=5)
                except RateLimited:
                    results.put(("refused", 0, 0))
                    continue
                start = time.time()
                time.sleep(HOLD)
                end = time.time()
                governor.release(connection, lease)
                results.put(("ok", start, end))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _run_two_processes(connection):
    connections.close_all()  # children must open their own database connections
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    processes = [context.Process(target=_worker, args=(connection.pk, results)) for _ in range(PROCESSES)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    outcomes = [results.get(timeout=5) for _ in range(PROCESSES * THREADS * TRIES)]
    granted = [(start, end) for kind, start, end in outcomes if kind == "ok"]
    events = sorted([(start, 1) for start, _ in granted] + [(end, -1) for _, end in granted])
    in_flight = peak = 0
    for _, step in events:
        in_flight += step
        peak = max(peak, in_flight)
    return len(granted), peak


@pytest.fixture
def limited(make_connection):
    return make_connection("prestashop", rate_limit_per_minute=PER_MINUTE, max_concurrent_requests=CONCURRENT)


@pytest.fixture(params=[True, False], ids=["postgres-function", "python"])
def db_governor(request, monkeypatch):
    """Both forms of the database governor: PostgreSQL's function and the Python one SQLite uses."""
    chosen = governor.PostgresGovernor(in_database=request.param)
    monkeypatch.setattr(governor, "_governors", {"": chosen, None: chosen})
    return chosen


@pytest.mark.django_db(transaction=True)
def test_postgres_governor_holds_limits_across_processes(limited, db_governor, settings):
    settings.REDIS_URL = ""
    granted, peak = _run_two_processes(limited)
    assert granted == PER_MINUTE
    assert peak <= CONCURRENT
    assert db_governor.snapshot(limited)["window_count"] == PER_MINUTE


@pytest.mark.django_db(transaction=True)
def test_redis_governor_holds_limits_across_processes(limited, settings):
    redis = pytest.importorskip("redis")
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(settings.REDIS_URL).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    governor._governors.clear()
    chosen = governor.get_governor()
    assert isinstance(chosen, governor.RedisGovernor)
    chosen.redis.delete(*chosen._keys(limited))  # keys of an earlier run with the same id
    try:
        granted, peak = _run_two_processes(limited)
        assert granted == PER_MINUTE
        assert peak <= CONCURRENT
        assert chosen.snapshot(limited)["window_count"] == PER_MINUTE
    finally:
        chosen.redis.delete(*chosen._keys(limited))
        governor._governors.clear()


def test_low_lane_leaves_room_for_orders(make_connection, db_governor):
    connection = make_connection("prestashop", rate_limit_per_minute=10, max_concurrent_requests=3)
    pg = db_governor
    low = []
    while True:
        lease, wait = pg.try_acquire(connection, "low")
        if lease is None:
            break
        low.append(lease)
        pg.release(connection, lease)
    assert len(low) == 7  # 70 % of the window
    assert wait > 1  # the window is full for the low lane: a long wait, not a busy loop
    high = [pg.try_acquire(connection, "high")[0] for _ in range(4)]
    assert [lease is not None for lease in high] == [True, True, True, False]


def test_low_lane_keeps_a_slot_free(make_connection, db_governor):
    connection = make_connection("prestashop", rate_limit_per_minute=100, max_concurrent_requests=3)
    pg = db_governor
    held = [pg.try_acquire(connection, "low")[0] for _ in range(3)]
    assert held[2] is None and all(held[:2])
    assert pg.try_acquire(connection, "high")[0] is not None


def test_retry_after_pauses_every_lane(make_connection, db_governor):
    connection = make_connection("channeladvisor")
    governor.pause(connection, 30)
    for lane in governor.LANES:
        lease, wait = governor.get_governor().try_acquire(connection, lane)
        assert lease is None and 28 < wait <= 30
    with pytest.raises(RateLimited) as info:
        governor.acquire(connection, "high", max_wait=0.2)
    assert info.value.retry_after > 28


def test_channeladvisor_defaults():
    connection = Connection(kind="channeladvisor")
    assert governor.limits_for(connection, "high") == governor.Limits(2000, 5)


def test_sliding_window_blends_the_previous_minute():
    # 60 requests at the end of the last minute, 10 s into this one: 50 of them still count.
    start, count, previous = governor.roll_window(0.0, 60, 0, 70.0)
    assert (start, count, previous) == (60.0, 0, 60)
    assert governor.window_wait(start, count, previous, 70.0, cap=50) > 0
    assert governor.window_wait(start, count, previous, 70.0, cap=51) == 0
