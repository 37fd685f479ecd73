"""The database broker hands out the oldest task first, and never the same task twice."""

import threading

import pytest
from django.db import connection
from django_q.brokers import get_broker
from django_q.models import OrmQ

from portal.broker import OrderedORM

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_database_broker_is_the_ordered_one_without_redis(settings):
    assert isinstance(get_broker(), OrderedORM)


def test_oldest_task_first_even_when_newer_rows_reuse_freed_space():
    broker = OrderedORM(list_key="ordered-test")
    old = [broker.enqueue(f"old-{n}") for n in range(30)]
    for pk in old[:20]:  # done and acknowledged: their space is freed...
        broker.acknowledge(pk)
    with connection.cursor() as cursor:  # ...and reused by the next inserts once vacuumed
        cursor.execute(f"VACUUM {OrmQ._meta.db_table}")
    [broker.enqueue(f"new-{n}") for n in range(10)]
    handed_out = [broker.dequeue()[0][1] for _ in range(20)]
    assert handed_out == [f"old-{n}" for n in range(20, 30)] + [f"new-{n}" for n in range(10)]


def test_concurrent_pushers_never_take_the_same_task():
    broker = OrderedORM(list_key="ordered-race")
    for n in range(60):
        broker.enqueue(f"task-{n}")
    taken, lock = [], threading.Lock()

    def pusher():
        mine = OrderedORM(list_key="ordered-race")
        try:
            while True:
                got = mine.dequeue()
                if not got:
                    return
                with lock:
                    taken.extend(payload for _, payload in got)
        finally:
            connection.close()

    threads = [threading.Thread(target=pusher) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(taken) == sorted(f"task-{n}" for n in range(60))
