"""The rate governor: requests per minute and requests in flight per connection, shared by every worker on every
machine — in PostgreSQL by default, in Redis when settings.REDIS_URL is set.

- The window is a sliding estimate (the previous minute's count, weighted by how much of it still overlaps, plus the
  current minute's), so a burst at a minute boundary cannot double the rate.
- Concurrency is a set of leases that expire on their own (a killed worker frees its slot after LEASE_SECONDS).
- A 429's Retry-After pauses the whole connection, for every worker.
- Priority lanes: "low" (catalog syncs, bulk) may use only part of the window and one slot fewer, "normal" most of it,
  "high" (orders, shipments, checks) all of it; so a catalog sync can never starve orders.
The clock is the database's (or Redis's), so machines with drifting clocks still agree.
"""

import random
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from integrations.connectors.errors import RateLimited
from integrations.connectors.models import RateLease, RateState

WINDOW_SECONDS = 60.0
LEASE_SECONDS = 120.0
MAX_WAIT_SECONDS = 30.0
LANE_WINDOW_SHARE = {"high": 1.0, "normal": 0.9, "low": 0.7}
LANES = tuple(LANE_WINDOW_SHARE)


@dataclass(frozen=True)
class Limits:
    per_window: float
    concurrent: int


def limits_for(connection, lane) -> Limits:
    if lane not in LANE_WINDOW_SHARE:
        raise ValueError(f"Unknown lane “{lane}”; use one of {', '.join(LANES)}.")
    concurrent = max(int(connection.effective_max_concurrent), 1)
    if lane == "low" and concurrent > 1:
        concurrent -= 1  # always leave a slot for orders
    return Limits(max(connection.effective_rate_limit * LANE_WINDOW_SHARE[lane], 1.0), concurrent)


def roll_window(start, count, previous, now):
    """Advance the two fixed windows to `now` (seconds); returns (start, count, previous)."""
    elapsed = now - start
    if elapsed >= WINDOW_SECONDS:
        periods = int(elapsed // WINDOW_SECONDS)
        previous = count if periods == 1 else 0
        count = 0
        start += periods * WINDOW_SECONDS
    return start, count, previous


def window_wait(start, count, previous, now, cap):
    """0 when one more request fits under `cap`, else the seconds until it will."""
    elapsed = now - start
    estimate = previous * (1 - elapsed / WINDOW_SECONDS) + count
    if estimate + 1 <= cap:
        return 0.0
    if previous and count + 1 <= cap:
        return max(WINDOW_SECONDS * (estimate + 1 - cap) / previous, 0.01)
    return max(WINDOW_SECONDS - elapsed, 0.01)


class PostgresGovernor:
    """The governor in the database: on PostgreSQL one function call (migration connectors 0002) per request; on
    SQLite (the single-machine demo) the same decision in Python."""

    def __init__(self, in_database=True):
        self.in_database = in_database

    def try_acquire(self, connection, lane):
        """(lease id, 0) or (None, seconds to wait)."""
        limits = limits_for(connection, lane)
        if self.in_database and db_connection.vendor == "postgresql":
            with db_connection.cursor() as cursor:
                cursor.execute("SELECT connectors_governor_acquire(%s, %s, %s, %s, %s, %s)",
                               [connection.pk, limits.per_window, limits.concurrent, WINDOW_SECONDS, LEASE_SECONDS,
                                lane])
                lease, wait = cursor.fetchone()[0]
            return (int(lease), 0.0) if lease else (None, float(wait))
        return self._try_acquire_here(connection, limits, lane)

    def _try_acquire_here(self, connection, limits, lane):
        with transaction.atomic():
            state = self._locked_state(connection)
            now_dt = state.db_now
            if state.paused_until and state.paused_until > now_dt:
                return None, (state.paused_until - now_dt).total_seconds()
            now = now_dt.timestamp()
            start, count, previous = roll_window(state.window_start.timestamp(), state.window_count,
                                                 state.previous_count, now)
            window = dict(window_start=state.window_start + timedelta(seconds=start - state.window_start.timestamp()),
                          window_count=count, previous_count=previous)
            wait = window_wait(start, count, previous, now, limits.per_window)
            if wait:
                RateState.objects.filter(pk=connection.pk).update(**window)
                return None, wait
            # Expired leases (killed workers) are not counted; release() clears them away.
            in_flight = RateLease.objects.filter(connection_id=connection.pk, expires_at__gt=now_dt).count()
            if in_flight >= limits.concurrent:
                return None, 0.05
            lease = RateLease.objects.create(connection_id=connection.pk, lane=lane,
                                             expires_at=now_dt + timedelta(seconds=LEASE_SECONDS))
            RateState.objects.filter(pk=connection.pk).update(**{**window, "window_count": count + 1,
                                                                  "updated_at": now_dt})
            return lease.pk, 0.0

    @staticmethod
    def _locked_state(connection):
        """The connection's row, locked, with the database's clock read in the same query."""
        locked = RateState.objects.select_for_update().filter(pk=connection.pk).annotate(db_now=Now())
        state = locked.first()
        if state is None:
            RateState.objects.get_or_create(pk=connection.pk, defaults={"window_start": _db_now()})
            state = locked.first()
        return state

    def release(self, connection, lease):
        RateLease.objects.filter(Q(pk=lease) | Q(connection_id=connection.pk, expires_at__lte=Now())).delete()

    def pause(self, connection, seconds):
        now = _db_now()
        until = now + timedelta(seconds=seconds)
        RateState.objects.get_or_create(pk=connection.pk, defaults={"window_start": now})
        RateState.objects.filter(pk=connection.pk).exclude(paused_until__gt=until).update(paused_until=until)

    def snapshot(self, connection):
        state = RateState.objects.filter(pk=connection.pk).first()
        in_flight = RateLease.objects.filter(connection_id=connection.pk, expires_at__gt=_db_now()).count()
        return {"window_count": state.window_count if state else 0, "in_flight": in_flight,
                "paused_until": state.paused_until.isoformat() if state and state.paused_until else None}


def _db_now():
    """The database's clock, shared by every machine (SQLite, used by the single-machine demo, has only ours)."""
    if db_connection.vendor != "postgresql":
        return timezone.now()
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        return cursor.fetchone()[0]


# The same decision as PostgresGovernor.try_acquire, done atomically inside Redis with Redis's clock.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local W = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local paused = tonumber(redis.call('HGET', KEYS[1], 'paused_until') or '0')
if paused > now then return {0, tostring(paused - now)} end
local start = tonumber(redis.call('HGET', KEYS[1], 'start') or tostring(now))
local count = tonumber(redis.call('HGET', KEYS[1], 'count') or '0')
local prev = tonumber(redis.call('HGET', KEYS[1], 'prev') or '0')
local elapsed = now - start
if elapsed >= W then
  local periods = math.floor(elapsed / W)
  if periods == 1 then prev = count else prev = 0 end
  count = 0
  start = start + periods * W
  elapsed = now - start
end
redis.call('HSET', KEYS[1], 'start', tostring(start), 'count', count, 'prev', prev)
redis.call('EXPIRE', KEYS[1], math.ceil(W * 3))
local estimate = prev * (1 - elapsed / W) + count
if estimate + 1 > cap then
  local wait = W - elapsed
  if prev > 0 and count + 1 <= cap then wait = W * (estimate + 1 - cap) / prev end
  return {0, tostring(math.max(wait, 0.01))}
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return {0, '0.05'} end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), ARGV[5])
redis.call('EXPIRE', KEYS[2], math.ceil(tonumber(ARGV[4]) * 2))
redis.call('HINCRBY', KEYS[1], 'count', 1)
return {1, '0'}
"""

_PAUSE = """
local t = redis.call('TIME')
local until_ = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[1])
local current = tonumber(redis.call('HGET', KEYS[1], 'paused_until') or '0')
if until_ > current then redis.call('HSET', KEYS[1], 'paused_until', tostring(until_)) end
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1]) + 180))
return 1
"""


class RedisGovernor:
    def __init__(self, url, prefix=None):
        import redis

        self.redis = redis.Redis.from_url(url)
        # Connection ids are per database: two portals (or test runs) sharing a Redis must not share limits.
        self.prefix = prefix or f"portal:governor:{settings.DATABASES['default']['NAME']}"
        self._acquire = self.redis.register_script(_ACQUIRE)
        self._pause = self.redis.register_script(_PAUSE)

    def _keys(self, connection):
        return [f"{self.prefix}:{connection.pk}:window", f"{self.prefix}:{connection.pk}:leases"]

    def try_acquire(self, connection, lane):
        limits = limits_for(connection, lane)
        holder = uuid.uuid4().hex
        ok, wait = self._acquire(keys=self._keys(connection),
                                 args=[WINDOW_SECONDS, limits.per_window, limits.concurrent, LEASE_SECONDS, holder])
        return (holder, 0.0) if int(ok) else (None, float(wait))

    def release(self, connection, lease):
        self.redis.zrem(self._keys(connection)[1], lease)

    def pause(self, connection, seconds):
        self._pause(keys=self._keys(connection)[:1], args=[seconds])

    def snapshot(self, connection):
        window, leases = self._keys(connection)
        data = {k.decode(): v.decode() for k, v in self.redis.hgetall(window).items()}
        return {"window_count": int(data.get("count", 0)), "in_flight": self.redis.zcard(leases),
                "paused_until": data.get("paused_until")}


_governors = {}


def get_governor():
    url = settings.REDIS_URL
    if url not in _governors:
        _governors[url] = RedisGovernor(url) if url else PostgresGovernor()
    return _governors[url]


def acquire(connection, lane="normal", max_wait=MAX_WAIT_SECONDS):
    """Block until the connection has room for one more request in `lane`; return a lease to release."""
    governor = get_governor()
    deadline = time.monotonic() + max_wait
    while True:
        lease, wait = governor.try_acquire(connection, lane)
        if lease is not None:
            return lease
        remaining = deadline - time.monotonic()
        if wait > remaining:
            raise RateLimited(
                f"{connection.name} is at its request limit ({connection.effective_rate_limit}/min, "
                f"{connection.effective_max_concurrent} at once); try again in {wait:.0f} s.",
                retry_after=round(wait, 2), system=connection.kind)
        # Jitter so waiting workers do not all retry in the same millisecond.
        time.sleep(min(wait, 1.0) * random.uniform(0.8, 1.2))


def release(connection, lease):
    get_governor().release(connection, lease)


def pause(connection, seconds):
    """Stop every worker's calls to this connection for `seconds` (a 429's Retry-After)."""
    get_governor().pause(connection, seconds)
