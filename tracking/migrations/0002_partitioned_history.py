"""Position and telemetry history: tables partitioned by month on ts.

`tracking_partitions_ensure(from, months)` creates the monthly partitions (idempotent);
this migration creates last month to three months ahead, and `tracking_tick` keeps
creating them ahead of time. A DEFAULT partition catches anything outside, so no fix is
ever refused for want of a partition.
"""

from django.db import migrations

SQL = """
CREATE TABLE tracking_position (
    device_id bigint NOT NULL,
    ts timestamptz NOT NULL,
    geom geometry(Point, 4326) NOT NULL,
    speed double precision,
    heading double precision,
    accuracy double precision,
    received_at timestamptz NOT NULL,
    PRIMARY KEY (device_id, ts)
) PARTITION BY RANGE (ts);
CREATE TABLE tracking_position_default PARTITION OF tracking_position DEFAULT;

CREATE TABLE tracking_telemetry (
    device_id bigint NOT NULL,
    ts timestamptz NOT NULL,
    data jsonb NOT NULL,
    received_at timestamptz NOT NULL,
    PRIMARY KEY (device_id, ts)
) PARTITION BY RANGE (ts);
CREATE TABLE tracking_telemetry_default PARTITION OF tracking_telemetry DEFAULT;

CREATE OR REPLACE FUNCTION tracking_partitions_ensure(start_month date, months integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    created integer := 0;
    m date;
    t text;
    name text;
BEGIN
    FOR i IN 0 .. months - 1 LOOP
        m := (date_trunc('month', start_month) + make_interval(months => i))::date;
        FOREACH t IN ARRAY ARRAY['tracking_position', 'tracking_telemetry'] LOOP
            name := t || '_' || to_char(m, 'YYYYMM');
            IF to_regclass(name) IS NULL THEN
                EXECUTE format(
                    'CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                    name, t, m::timestamp AT TIME ZONE 'UTC',
                    (m + interval '1 month')::timestamp AT TIME ZONE 'UTC'
                );
                created := created + 1;
            END IF;
        END LOOP;
    END LOOP;
    RETURN created;
END;
$$;

SELECT tracking_partitions_ensure((now() - interval '1 month')::date, 5);
CREATE INDEX tracking_position_ts ON tracking_position USING brin (ts);
"""

REVERSE = """
DROP TABLE IF EXISTS tracking_position CASCADE;
DROP TABLE IF EXISTS tracking_telemetry CASCADE;
DROP FUNCTION IF EXISTS tracking_partitions_ensure(date, integer);
"""


class Migration(migrations.Migration):
    dependencies = [("tracking", "0001_initial")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
