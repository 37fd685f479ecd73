"""PostgreSQL: the governor's decision as one function, so a request costs one round trip instead of five.

It mirrors PostgresGovernor._try_acquire_here (kept for SQLite) and the Redis script in governor.py.
"""

from django.db import migrations

ACQUIRE = """
CREATE OR REPLACE FUNCTION connectors_governor_acquire(
    p_connection integer, p_cap double precision, p_concurrent integer, p_window double precision,
    p_lease_seconds double precision, p_lane text) RETURNS double precision[]
LANGUAGE plpgsql AS $$
DECLARE
  s connectors_ratestate%ROWTYPE;
  now_ts timestamptz := clock_timestamp();
  now_s double precision := extract(epoch FROM now_ts);
  start_s double precision; cnt double precision; prev double precision; elapsed double precision;
  periods integer; estimate double precision; wait double precision; in_flight integer; lease bigint;
BEGIN
  INSERT INTO connectors_ratestate (connection_id, window_start, window_count, previous_count, updated_at)
    VALUES (p_connection, now_ts, 0, 0, now_ts) ON CONFLICT DO NOTHING;
  SELECT * INTO s FROM connectors_ratestate WHERE connection_id = p_connection FOR UPDATE;
  IF s.paused_until IS NOT NULL AND s.paused_until > now_ts THEN
    RETURN ARRAY[0, extract(epoch FROM s.paused_until - now_ts)];
  END IF;
  start_s := extract(epoch FROM s.window_start); cnt := s.window_count; prev := s.previous_count;
  elapsed := now_s - start_s;
  IF elapsed >= p_window THEN
    periods := floor(elapsed / p_window);
    prev := CASE WHEN periods = 1 THEN cnt ELSE 0 END;
    cnt := 0;
    start_s := start_s + periods * p_window;
    elapsed := now_s - start_s;
  END IF;
  estimate := prev * (1 - elapsed / p_window) + cnt;
  IF estimate + 1 > p_cap THEN
    wait := p_window - elapsed;
    IF prev > 0 AND cnt + 1 <= p_cap THEN wait := p_window * (estimate + 1 - p_cap) / prev; END IF;
    UPDATE connectors_ratestate SET window_start = to_timestamp(start_s), window_count = cnt, previous_count = prev
      WHERE connection_id = p_connection;
    RETURN ARRAY[0, greatest(wait, 0.01)];
  END IF;
  SELECT count(*) INTO in_flight FROM connectors_ratelease
    WHERE connection_id = p_connection AND expires_at > now_ts;
  IF in_flight >= p_concurrent THEN
    RETURN ARRAY[0, 0.05];
  END IF;
  INSERT INTO connectors_ratelease (connection_id, lane, expires_at)
    VALUES (p_connection, p_lane, now_ts + make_interval(secs => p_lease_seconds)) RETURNING id INTO lease;
  UPDATE connectors_ratestate SET window_start = to_timestamp(start_s), window_count = cnt + 1,
    previous_count = prev, updated_at = now_ts WHERE connection_id = p_connection;
  RETURN ARRAY[lease, 0];
END $$;
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(ACQUIRE, params=None)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS connectors_governor_acquire")


class Migration(migrations.Migration):
    dependencies = [("connectors", "0001_initial")]
    operations = [migrations.RunPython(create, drop)]
