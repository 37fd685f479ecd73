"""django-q2's database broker, handing out the oldest task first.

The stock ORM broker selects due tasks in no particular order, so on a busy PostgreSQL queue (where freed space is
reused) a new task can overtake old ones and the slowest orders wait longest. This one takes the oldest due tasks
with SKIP LOCKED in one short transaction, so clusters sharing the queue never hand out the same task twice.
"""

from time import sleep

from django.db import transaction
from django.utils import timezone
from django_q.brokers.orm import ORM
from django_q.conf import Conf


class OrderedORM(ORM):
    def dequeue(self):
        queue = self.get_connection()
        with transaction.atomic(using=queue.db):
            tasks = list(queue.select_for_update(skip_locked=True)
                         .filter(key=self.list_key, lock__lt=timezone.now()).order_by("id")[:Conf.BULK])
            if tasks:
                queue.filter(pk__in=[task.pk for task in tasks]).update(lock=self.timeout(None))
                return [(task.pk, task.payload) for task in tasks]
        sleep(Conf.POLL)  # an empty queue: spare the database
