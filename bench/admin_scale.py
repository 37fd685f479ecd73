"""Bench: the admin's sync-record pages with a million records in PostgreSQL (issue #13 item 7).

    python bench/admin_scale.py [--records 1000000] [--baseline-records 10000] [--requests 20]
                                [--database portal_bench_admin] [--reuse]

Drops and creates its own database (--database, or BENCH_ADMIN_DATABASE; default portal_bench_admin; the name
must contain "bench"), migrates it, and makes one organization, an Operations user (company staff) and two live
integrations (PrestaShop, ChannelAdvisor). Records are then written with set-based SQL (INSERT … SELECT … FROM
generate_series), every column a function of the record's id, so a run is reproducible:
- flows: orders 45 %, shipments 25 %, cancellations 5 %, stock 25 %; three in five on the PrestaShop integration;
- statuses: succeeded 87 %, dead 3 %, retrying 1.5 %, held or pending 3 %, discarded 1.5 %, skipped or superseded
  4 %, spread evenly over 90 days of created_at (ids grow with time); 3 % read in shadow mode;
- PrestaShop references of nine capitals, numeric ChannelAdvisor order ids; order payloads in the canonical shape
  with a customer email (48,000 customers) and one to three line SKUs (8,000 SKUs); TIMS shipment and
  cancellation events routed to an order's business key; stock changes; dead letters with messages, causes and
  fixes as the pipeline writes them; search_text filled as integrations.pipeline.records.receive fills it;
- about 1.5 attempts per record with their API calls, and a link for every order that succeeded.

Secondary indexes are dropped while rows load and rebuilt after, then VACUUM ANALYZE (a settled table).

Measured with Django's test client, logged in as company staff, production settings (DEBUG off): --requests
requests per page after one warm-up request (which counts the SQL queries): the records list unfiltered, with each
one filter (status, flow, integration, error class, created_at ranges, shadow; the biggest and a small choice of
each), searched by a PrestaShop reference, an email, a SKU and a ChannelAdvisor order id, two record pages, the
front page and the dead letters by cause. First on a sample of about --baseline-records records (chosen by a hash
of the id, so spread over the same 90 days and both integrations), then on all of them, in the same run. Prints
JSON: per page p50/p95/max ms and the SQL queries (and the slowest), the baseline, the ratios (and to /healthz, a
request that reads no records), and whether every page kept p95 under the target. --reuse measures an existing
database again (no baseline). Talks to 127.0.0.1 only.
"""

import argparse
import json
import os
import random
import re
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from portal.env import development_encryption_key  # noqa: E402

SERVER = "postgres://postgres@127.0.0.1:5432"
TARGET_P95_MS = 300.0
TABLES = ("integrations_syncrecord", "integrations_syncattempt", "integrations_link")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--baseline-records", type=int, default=10_000,
                        help="About how many records the sample measured first holds.")
    parser.add_argument("--requests", type=int, default=20, help="Timed requests per page.")
    parser.add_argument("--database", default=os.environ.get("BENCH_ADMIN_DATABASE", "portal_bench_admin"))
    parser.add_argument("--reuse", action="store_true", help="Measure the database as it is (no rebuild).")
    args = parser.parse_args()
    if not re.fullmatch(r"\w*bench\w*", args.database):
        parser.error("the database is dropped and made again: its name must contain “bench”")
    if not (100 <= args.records <= 20_000_000 and 1 <= args.requests <= 1000):
        parser.error("records 100..20,000,000, requests 1..1000")
    args.baseline_records = max(min(args.baseline_records, args.records // 2), 1)
    return args


def say(*what):
    print(time.strftime("%H:%M:%S"), *what, file=sys.stderr, flush=True)


def fresh_database(name):
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def setup_django(name):
    os.environ["DATABASE_URL"] = f"{SERVER}/{name}"
    os.environ["DJANGO_DEBUG"] = "false"  # as in production
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-" + "k" * 50)
    os.environ.setdefault("FIELD_ENCRYPTION_KEYS", development_encryption_key())
    os.environ["DJANGO_ALLOWED_HOSTS"] = "testserver,127.0.0.1,localhost"  # the test client's host
    os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()


# --- data -------------------------------------------------------------------------------------------------------

FIRST_NAMES = ["anna", "ben", "clara", "david", "emma", "felix", "greta", "hugo", "ines", "jonas", "karla", "lukas",
               "marie", "noah", "olga", "paul", "quinn", "rosa", "sven", "tilda", "ugo", "vera", "willem", "xenia",
               "yusuf", "zoe", "amir", "bianca", "carlos", "dana", "eric", "fatima", "george", "hana", "ivan", "julia",
               "kenji", "lea", "mateo", "nina"]
LAST_NAMES = ["schmidt", "muller", "dubois", "martin", "rossi", "garcia", "jansen", "novak", "kowalski", "larsen",
              "nielsen", "moreau", "bianchi", "weber", "fischer", "lambert", "costa", "silva", "horvat", "berg",
              "wagner", "becker", "hoffmann", "leroy", "fontaine", "ricci", "marino", "lopez", "santos", "peeters",
              "maes", "visser", "bakker", "andersen", "holm", "virtanen", "nowak", "popescu", "ivanova", "keller"]
DOMAINS = ["example.com", "example.de", "example.fr", "example.net", "example.org"]
CITIES = ["Lyon", "Hamburg", "Rotterdam", "Milano", "Graz", "Gent", "Porto", "Brno", "Aarhus", "Lille"]
SKU_PREFIXES = ["WLD", "GAS", "TIP", "NOZ", "ROD", "GLV", "HLM", "REG"]  # 8 × 1000 SKUs: NOZ-0417

# Dead letters, per flow: (error class, message with {ref} / {sku}, suggested fix, details). Causes are computed
# with the pipeline's own cause_of, so the causes page groups them as in production.
FAILURES = {
    "orders": [
        ("permanent", "TIMS refused sales order for order {ref}: SKU “{sku}” is not in TIMS (400).",
         "Add the SKU to TIMS, or map it in the SKU value map, then retry.", {"system": "TIMS", "status": 400}),
        ("permanent", "TIMS refused customer for order {ref}: the VAT number is not valid (422).",
         "Correct the VAT number in the shop, or edit the payload and retry.", {"system": "TIMS", "status": 422}),
        ("unmapped_value", "The value “DHL Express” is missing from the value map ps_carriers.",
         "Add “DHL Express” to ps_carriers, then retry.",
         {"value_map": {"name": "ps_carriers", "value": "DHL Express", "url": "/admin/mappings/valuemap/1/change/"}}),
        ("auth", "PrestaShop answered 401 Unauthorized: the webservice key was refused.",
         "Fix the credentials of the shop's connection, then retry.", {"system": "PrestaShop", "status": 401}),
        ("crash", "KeyError: “id_customer” while mapping order {ref}.",
         "Report it with this record's id; retry once it is fixed.", {}),
        ("transient", "TIMS did not answer within 30 s (5 attempts).",
         "Check that TIMS is up, then retry.", {"system": "TIMS"}),
    ],
    "shipments": [
        ("permanent", "PrestaShop refused the tracking number of order {ref}: no order_carrier row (404).",
         "Set a carrier on the order in the shop, then retry.", {"system": "PrestaShop", "status": 404}),
        ("unmapped_value", "The value “UPS Ground” is missing from the value map tims_carriers.",
         "Add “UPS Ground” to tims_carriers, then retry.",
         {"value_map": {"name": "tims_carriers", "value": "UPS Ground", "url": "/admin/mappings/valuemap/2/change/"}}),
    ],
    "cancellations": [
        ("permanent", "The order {ref} is already shipped in the channel: it cannot be cancelled (409).",
         "Cancel the shipment in the channel by hand, then discard this record.", {"status": 409}),
    ],
    "inventory": [
        ("permanent", "The channel has no product with SKU {sku} (404).",
         "Create the product in the channel or fix the SKU map, then publish again.", {"status": 404}),
        ("auth", "ChannelAdvisor answered 401: the refresh token was revoked.",
         "Fix the credentials of the marketplace's connection, then retry.", {"system": "ChannelAdvisor"}),
    ],
}
FLOWS = ["orders", "shipments", "cancellations", "inventory"]


def failure_templates():
    """Flattened FAILURES with their causes, and per flow the (first index, how many) into them (1-based)."""
    from integrations.pipeline.causes import cause_of

    rows, where = [], {}
    for flow in FLOWS:
        where[flow] = (len(rows) + 1, len(FAILURES[flow]))
        for error_class, message, fix, details in FAILURES[flow]:
            causes = {cause_of(message.format(ref=ref, sku=sku), details)
                      for ref, sku in (("XKBKNABJK", "NOZ-0417"), ("20004512", "GLV-0009"))}
            assert len(causes) == 1, causes  # placeholders only where the cause takes ids out
            rows.append((error_class, message, fix, json.dumps(details), causes.pop()))
    return rows, where


IN_SAMPLE = "(hashint8extended({id}, 20) & 9223372036854775807) %% %(sample)s::bigint"  # 0: in the sample


def h(seed):
    """A non-negative pseudo-random bigint of the row number g (the same on every run)."""
    return f"(hashint8extended(g, {seed}) & 9223372036854775807)"


def records_sql(where):
    def by_flow(column):
        parts = " ".join(f"WHEN '{flow}' THEN {first} + hm %% {count}" for flow, (first, count) in where.items())
        return f"CASE {column} {parts} END"

    ref_of = "upper(translate(substr(md5('ref' || {n}), 1, 9), '0123456789', 'GHIJKLMNOP'))"
    sku_of = "(%(sku_prefixes)s::text[])[1 + {n} / 1000] || '-' || lpad(({n} %% 1000)::text, 4, '0')"
    iso = "to_char(({t}) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+00:00\"')"
    def line(sku, n, quantity, price):
        return (f"jsonb_build_object('sku', {sku}, 'quantity', {quantity}, 'name', 'Item ' || {sku}, "
                f"'source_id', (g * 3 + {n})::text, 'unit_price', jsonb_build_object('amount', "
                f"({price})::numeric(10, 2)::text, 'currency', 'EUR'), 'tax', NULL, 'discount', NULL)")

    second = line("sku2", 1, "1 + hm %% 3", "3 + hm %% 5000 / 100.0")
    third = line("sku3", 2, "1 + hm %% 2", "9 + hm %% 700 / 10.0")
    lines = (f"jsonb_build_array({line('sku1', 0, '1 + hm %% 4', '5 + hm %% 9000 / 100.0')})"
             f" || CASE WHEN nlines > 1 THEN jsonb_build_array({second}) ELSE '[]'::jsonb END"
             f" || CASE WHEN nlines > 2 THEN jsonb_build_array({third}) ELSE '[]'::jsonb END")
    address = ("jsonb_build_object('first_name', initcap(first_name), 'last_name', initcap(last_name), 'company', "
               "'', 'line1', (1 + hc %% 180) || ' Industrieweg', 'line2', '', 'city', city, 'state', '', "
               "'postal_code', lpad((hc %% 99999)::text, 5, '0'), 'country', 'FR', 'phone', '+33 4 72 00 '"
               " || lpad((hc %% 10000)::text, 4, '0'), 'email', email, 'source_id', (hc %% 50000)::text, "
               "'extra', '{}'::jsonb)")
    order_payload = f"""jsonb_build_object(
        'source', source_system, 'source_id', source_id, 'number', own_ref, 'currency', 'EUR',
        'total', jsonb_build_object('amount', (20 + hm %% 90000 / 100.0)::numeric(10, 2)::text, 'currency', 'EUR'),
        'status', CASE WHEN ps THEN 'Payment accepted' ELSE 'Cleared' END, 'payment_status', 'paid',
        'shipping_status', '', 'ordered_at', {iso.format(t="created_at - interval '4 minutes'")},
        'updated_at', {iso.format(t="created_at - interval '1 minute'")},
        'customer', jsonb_build_object('source', source_system, 'source_id', (hc %% 50000)::text, 'email', email,
                                       'first_name', initcap(first_name), 'last_name', initcap(last_name),
                                       'company', '', 'phone', '', 'extra', '{{}}'::jsonb),
        'shipping_address', {address}, 'billing_address', {address},
        'lines', {lines},
        'shipping', jsonb_build_object('amount', '9.90', 'currency', 'EUR'), 'subtotal', NULL, 'tax', NULL,
        'discount', NULL, 'shipping_method', 'Standard', 'payment_method', 'Bank wire', 'notes', '',
        'version', '', 'extra', '{{}}'::jsonb)"""
    shipment_payload = f"""jsonb_build_object('Type', 'shipment.created', 'Seq', g,
        'Data', jsonb_build_object('ShipmentID', source_id, 'SalesOrderID', 'SO' || lpad(k::text, 8, '0'),
            'ExternalOrderID', order_ref, 'Carrier', 'DHL', 'ShippingClass', 'Standard',
            'TrackingNumber', 'JD0146' || lpad(g::text, 10, '0'),
            'ShippedAt', {iso.format(t="created_at - interval '2 minutes'")},
            'Lines', jsonb_build_array(jsonb_build_object('SKU', sku1, 'Quantity', 1 + hm %% 4))))"""
    cancellation_payload = """jsonb_build_object('Type', 'sales_order.cancelled', 'Seq', g,
        'Data', jsonb_build_object('SalesOrderID', source_id, 'ExternalOrderID', order_ref,
                                   'Reason', 'Customer request'))"""
    stock_payload = f"""jsonb_build_object('SKU', sku1, 'Location', 'MAIN', 'Available', hm %% 500, 'Seq', g,
        'ChangedAt', {iso.format(t="created_at")})"""
    return f"""
INSERT INTO integrations_syncrecord (
    id, organization_id, integration_id, flow, entity_type, source_system, source_id, source_version, business_key,
    batch_key, parent_id, shadow, sent_at, reference, status, attempts, next_attempt_at, lease_expires_at,
    lease_owner, error_class, error_message, error_cause, suggested_fix, error_details, notes, source_payload,
    payload_edited_at, mapped_payload, mapping_version, target_id, correlation_id, created_at, updated_at,
    finished_at, search_text)
SELECT g, %(organization)s, integration_id, flow, entity_type, source_system, source_id, source_version,
    business_key, batch_key, NULL, shadow, CASE WHEN status = 'succeeded' AND flow <> 'inventory'
    THEN created_at + interval '1 second' END, reference, status, attempts, next_attempt_at, NULL, '',
    CASE WHEN failed THEN (%(classes)s::text[])[failure] WHEN status = 'retrying' THEN 'transient'
         WHEN status = 'held' THEN 'business_hold' ELSE '' END,
    CASE WHEN failed THEN replace(replace((%(messages)s::text[])[failure], '{{ref}}', reference), '{{sku}}', sku1)
         WHEN status = 'retrying' THEN 'TIMS answered 503 Service Unavailable; tried again later.'
         WHEN status = 'held' THEN 'Not paid yet: held until the payment is accepted (7 days at most).'
         ELSE '' END,
    CASE WHEN failed THEN (%(causes)s::text[])[failure]
         WHEN status = 'retrying' THEN 'TIMS answered # Service Unavailable; tried again later.'
         WHEN status = 'held' THEN 'Not paid yet: held until the payment is accepted (# days at most).'
         ELSE '' END,
    CASE WHEN failed THEN (%(fixes)s::text[])[failure]
         WHEN status = 'retrying' THEN 'Nothing to do: it is tried again.' ELSE '' END,
    CASE WHEN failed THEN (%(details)s::jsonb[])[failure] ELSE '{{}}'::jsonb END,
    CASE WHEN status = 'skipped' THEN 'Nothing to do: the target already had it.' ELSE '' END,
    payload, NULL,
    CASE WHEN status = 'succeeded' AND flow = 'orders' THEN jsonb_build_object(
        'ExternalOrderID', reference, 'CustomerID', 'C' || lpad((hc %% 50000)::text, 6, '0'), 'Location', 'MAIN',
        'LineItems', jsonb_build_array(jsonb_build_object('SKU', sku1, 'Quantity', 1 + hm %% 4, 'Price', '12.50')))
    END,
    CASE WHEN flow = 'orders' THEN 'orders-v3' ELSE '' END,
    CASE WHEN status <> 'succeeded' THEN '' WHEN flow = 'orders' THEN 'SO' || lpad(g::text, 8, '0')
         WHEN flow = 'shipments' THEN 'FUL-' || g WHEN flow = 'cancellations' THEN order_id ELSE '' END,
    md5(g::text), created_at,
    CASE WHEN status IN ('pending') THEN created_at ELSE created_at + (2 + hm %% 600) * interval '1 second' END,
    CASE WHEN status IN ('succeeded', 'dead', 'discarded', 'superseded', 'skipped')
         THEN created_at + (2 + hm %% 600) * interval '1 second' END,
    (SELECT string_agg(word, ' ' ORDER BY first) FROM (
        SELECT word, min(n) AS first FROM unnest(words) WITH ORDINALITY AS u(word, n)
        WHERE word IS NOT NULL AND word <> '' GROUP BY word) AS unique_words)
FROM (
    SELECT *, CASE flow WHEN 'orders' THEN own_ref WHEN 'inventory' THEN sku1 ELSE order_ref END AS reference,
        CASE flow WHEN 'orders' THEN {order_payload} WHEN 'shipments' THEN {shipment_payload}
                  WHEN 'cancellations' THEN {cancellation_payload} ELSE {stock_payload} END AS payload,
        CASE flow
            WHEN 'orders' THEN ARRAY[own_ref, source_id, email, sku1, CASE WHEN nlines > 1 THEN sku2 END,
                                     CASE WHEN nlines > 2 THEN sku3 END]
            WHEN 'shipments' THEN ARRAY[order_ref, source_id, sku1]
            WHEN 'cancellations' THEN ARRAY[order_ref, source_id]
            ELSE ARRAY[sku1] END AS words,
        status IN ('dead', 'discarded') AS failed, {by_flow("flow")} AS failure,
        CASE status WHEN 'succeeded' THEN CASE WHEN hm %% 100 < 55 THEN 1 WHEN hm %% 100 < 95 THEN 2 ELSE 3 END
                    WHEN 'dead' THEN 1 + hm %% 5 WHEN 'retrying' THEN 1 + hm %% 3 WHEN 'held' THEN 1 + hm %% 2
                    WHEN 'discarded' THEN 2 WHEN 'skipped' THEN 1 ELSE 0 END AS attempts,
        CASE status WHEN 'pending' THEN created_at WHEN 'retrying' THEN now() + (hm %% 3600) * interval '1 second'
                    WHEN 'held' THEN now() + (hm %% 86400) * interval '1 second' END AS next_attempt_at
    FROM (
        SELECT *,
            CASE WHEN rs < 8700 THEN 'succeeded'
                 WHEN rs < 9000 THEN CASE WHEN flow = 'inventory' THEN 'superseded' ELSE 'skipped' END
                 WHEN rs < 9300 THEN 'dead' WHEN rs < 9450 THEN 'retrying'
                 WHEN rs < 9600 THEN CASE WHEN flow = 'orders' THEN 'held' ELSE 'pending' END
                 WHEN rs < 9750 THEN 'pending' WHEN rs < 9900 THEN 'discarded' ELSE 'skipped' END AS status,
            CASE flow WHEN 'orders' THEN 'order' WHEN 'shipments' THEN 'shipment'
                      WHEN 'cancellations' THEN 'cancellation' ELSE 'stock' END AS entity_type,
            CASE WHEN flow <> 'orders' THEN 'tims' WHEN ps THEN 'prestashop' ELSE 'channeladvisor' END AS source_system,
            CASE flow WHEN 'orders' THEN own_order_id WHEN 'shipments' THEN 'SH' || lpad(g::text, 9, '0')
                      WHEN 'cancellations' THEN 'SO' || lpad(k::text, 8, '0') ELSE sku1 END AS source_id,
            CASE flow WHEN 'orders' THEN CASE WHEN ps THEN {iso.format(t="created_at - interval '1 minute'")}
                                              ELSE '' END
                      WHEN 'shipments' THEN '' WHEN 'cancellations' THEN 'seq:' || g ELSE g::text END
                AS source_version,
            integration_id || CASE flow WHEN 'orders' THEN ':order:' || own_order_id
                                        WHEN 'inventory' THEN ':stock:' || sku1 ELSE ':order:' || order_id END
                AS business_key,
            CASE WHEN flow = 'inventory' THEN integration_id || ':inventory' ELSE '' END AS batch_key
        FROM (
            SELECT *,
                CASE WHEN rf < 450 THEN 'orders' WHEN rf < 700 THEN 'shipments' WHEN rf < 750 THEN 'cancellations'
                     ELSE 'inventory' END AS flow,
                CASE WHEN ps THEN %(prestashop)s ELSE %(channeladvisor)s END AS integration_id,
                {sku_of.format(n="n1")} AS sku1, {sku_of.format(n="n2")} AS sku2, {sku_of.format(n="n3")} AS sku3,
                (%(first_names)s::text[])[1 + hc %% 40] AS first_name,
                (%(last_names)s::text[])[1 + hc / 40 %% 40] AS last_name,
                (%(first_names)s::text[])[1 + hc %% 40] || '.' || (%(last_names)s::text[])[1 + hc / 40 %% 40]
                    || (hc / 1600 %% 30) || '@' || (%(domains)s::text[])[1 + hc %% 5] AS email,
                (%(cities)s::text[])[1 + hc %% 10] AS city,
                CASE WHEN ps THEN {ref_of.format(n="g")} ELSE (20000000 + g)::text END AS own_ref,
                CASE WHEN ps THEN {ref_of.format(n="k")} ELSE (20000000 + k)::text END AS order_ref,
                CASE WHEN ps THEN g::text ELSE (20000000 + g)::text END AS own_order_id,
                CASE WHEN ps THEN k::text ELSE (20000000 + k)::text END AS order_id
            FROM (
                SELECT g, g %% 5 < 3 AS ps, {h(1)} %% 1000 AS rf, {h(2)} %% 10000 AS rs, {h(3)} %% 48000 AS hc,
                    1 + {h(5)} %% 3 AS nlines, {h(6)} %% 1000000 AS hm, {h(9)} %% 100 < 3 AS shadow,
                    {h(10)} %% 8000 AS n1, {h(11)} %% 8000 AS n2, {h(12)} %% 8000 AS n3,
                    CASE WHEN g - 5 * (1 + {h(7)} %% 40) > 0 THEN g - 5 * (1 + {h(7)} %% 40) ELSE g END AS k,
                    %(start)s::timestamptz + (g - 1) * %(step)s * interval '1 second'
                        + {h(8)} %% 60 * interval '1 second' AS created_at
                FROM generate_series(1, %(last)s::bigint) AS g
                WHERE {IN_SAMPLE.format(id="g")} {{keep}} 0
            ) AS draws
        ) AS chosen
    ) AS shaped
) AS rows
"""


ATTEMPTS_SQL = """
INSERT INTO integrations_syncattempt (record_id, number, started_at, duration_ms, outcome, error_class,
                                      error_message, calls, worker)
SELECT r.id, n, r.created_at + n * interval '20 seconds', 40 + (r.id * 7 + n * 13) %% 900,
    CASE WHEN n < r.attempts THEN 'retrying' WHEN r.status IN ('succeeded', 'skipped') THEN 'succeeded'
         WHEN r.status IN ('dead', 'discarded') THEN 'dead' WHEN r.status = 'held' THEN 'held' ELSE 'retrying' END,
    CASE WHEN n < r.attempts THEN 'transient' WHEN r.status IN ('succeeded', 'skipped') THEN ''
         ELSE r.error_class END,
    CASE WHEN n < r.attempts THEN 'TIMS answered 503 Service Unavailable'
         WHEN r.status IN ('succeeded', 'skipped') THEN '' ELSE r.error_message END,
    jsonb_build_array(
        jsonb_build_object('method', 'GET', 'url', 'https://shop.example.com/api/orders/' || r.source_id,
                           'status', 200, 'ms', 30 + r.id %% 90),
        jsonb_build_object('method', CASE r.flow WHEN 'orders' THEN 'POST' ELSE 'PATCH' END,
                           'url', 'https://tims.example.com/api/v1/sales-orders',
                           'status', CASE WHEN n < r.attempts THEN 503 WHEN r.status = 'succeeded' THEN 201
                                          ELSE 400 END, 'ms', 60 + r.id %% 400)),
    'worker-' || (r.id %% 4) || ':' || (1000 + r.id %% 7)
FROM integrations_syncrecord AS r CROSS JOIN LATERAL generate_series(1, r.attempts) AS n
WHERE {in_sample} {keep} 0
"""

LINKS_SQL = """
INSERT INTO integrations_link (integration_id, entity_type, source_id, target_id, record_id, created_at)
SELECT integration_id, 'order', source_id, target_id, id, finished_at FROM integrations_syncrecord
WHERE flow = 'orders' AND status = 'succeeded' AND shadow = false AND {in_sample} {keep} 0
ON CONFLICT DO NOTHING
"""


def secondary_indexes(cursor):
    """(name, definition) of the indexes of the loaded tables that back no constraint."""
    cursor.execute("""
        SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = ANY(%s::regclass[])
          AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)""", [list(TABLES)])
    return cursor.fetchall()


def load(setup, stage, total, sample_every):
    """Write one stage's records ("sample": the ids whose hash is a multiple of sample_every; "rest": the others),
    their attempts and links, with the secondary indexes dropped meanwhile. Returns seconds per step."""
    from django.db import connection

    keep = "=" if stage == "sample" else "<>"
    templates, where = setup["failures"]
    params = {"organization": setup["organization"], "prestashop": setup["prestashop"],
              "channeladvisor": setup["channeladvisor"], "start": setup["start"], "step": 90 * 86400 / total,
              "last": total, "sample": sample_every,
              "sku_prefixes": SKU_PREFIXES, "first_names": FIRST_NAMES, "last_names": LAST_NAMES,
              "domains": DOMAINS, "cities": CITIES, "classes": [t[0] for t in templates],
              "messages": [t[1] for t in templates], "fixes": [t[2] for t in templates],
              "details": [t[3] for t in templates], "causes": [t[4] for t in templates]}
    seconds = {}
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")  # this session's index builds only
        indexes = secondary_indexes(cursor)
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        steps = (("records", records_sql(where)), ("attempts", ATTEMPTS_SQL.replace("{in_sample}", IN_SAMPLE.format(
            id="r.id"))), ("links", LINKS_SQL.replace("{in_sample}", IN_SAMPLE.format(id="id"))))
        for step, sql in steps:
            sql = sql.replace("{keep}", keep)
            started = time.perf_counter()
            cursor.execute(sql, params)
            seconds[step] = round(time.perf_counter() - started, 1)
            say(stage, step, cursor.rowcount, "rows in", seconds[step], "s")
        started = time.perf_counter()
        for _, definition in indexes:
            cursor.execute(definition)
        seconds["indexes"] = round(time.perf_counter() - started, 1)
        cursor.execute("SELECT setval(pg_get_serial_sequence('integrations_syncrecord', 'id'), "
                       "(SELECT max(id) FROM integrations_syncrecord))")
        started = time.perf_counter()
        for table in TABLES:
            cursor.execute(f"VACUUM (ANALYZE) {table}")
        seconds["vacuum_analyze"] = round(time.perf_counter() - started, 1)
    say(stage, "indexes", seconds["indexes"], "s, vacuum", seconds["vacuum_analyze"], "s")
    return seconds


def make_setup():
    """The organization, an Operations user, two live integrations and a worker heartbeat."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.utils import timezone

    from portal.groups import sync_groups
    from portal.models import Organization, WorkerHeartbeat
    from portal.tenancy import OPERATIONS_GROUP
    from tests.factories import make_integration

    sync_groups()
    organization = Organization.objects.create(name="Bench admin scale")
    user = get_user_model().objects.create_user("bench-ops", "ops@example.com", "pw", is_staff=True)
    user.groups.add(Group.objects.get(name=OPERATIONS_GROUP))
    integrations = {}
    for template in ("prestashop_tims", "channeladvisor_tims"):
        integration = make_integration(organization, template, name=f"Bench {template}")
        integration.flows = FLOWS
        integration.state = "live"
        integration.save()
        integrations[template] = integration
    WorkerHeartbeat.objects.update_or_create(name="bench", defaults={"beat_at": timezone.now() + timedelta(days=1)})
    return {"organization": organization.pk, "user": user, "prestashop": integrations["prestashop_tims"].pk,
            "channeladvisor": integrations["channeladvisor_tims"].pk, "failures": failure_templates(),
            "start": timezone.now() - timedelta(days=90)}


def existing_setup():
    from django.contrib.auth import get_user_model

    from integrations.models import Integration

    integrations = {i.template: i.pk for i in Integration.objects.filter(name__startswith="Bench ")}
    return {"user": get_user_model().objects.get(username="bench-ops"), "prestashop": integrations["prestashop_tims"],
            "channeladvisor": integrations["channeladvisor_tims"]}


# --- measuring --------------------------------------------------------------------------------------------------

def subjects(setup):
    """What the pages look at, taken from the records of the sample (so both stages show the same ones)."""
    from django.db.models.expressions import RawSQL

    from integrations.models import SyncRecord

    in_sample = IN_SAMPLE.format(id="id").replace("%(sample)s", "%s")
    sample = SyncRecord.objects.filter(id__in=RawSQL(f"SELECT id FROM integrations_syncrecord WHERE {in_sample} = 0",
                                                     [setup["sample_every"]]))
    orders = sample.filter(flow="orders", integration_id=setup["prestashop"]).order_by("id")
    middle = orders.count() // 2
    order = orders.filter(status="succeeded", shadow=False)[middle // 2]
    dead = orders.filter(status="dead")[max(orders.filter(status="dead").count() // 2, 0)]
    ca_order = sample.filter(flow="orders", integration_id=setup["channeladvisor"]).order_by("id")[middle // 3]
    payload = order.source_payload
    return {"record": order.pk, "dead_record": dead.pk, "reference": order.reference,
            "email": payload["customer"]["email"], "sku": payload["lines"][0]["sku"],
            "channeladvisor_id": ca_order.source_id}


def pages(setup, chosen):
    from django.urls import reverse
    from django.utils import timezone

    changelist = reverse("admin:integrations_syncrecord_changelist")
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    tomorrow = today + timedelta(days=1)

    def created(since, until):
        return changelist + "?" + urlencode({"created_at__gte": str(since), "created_at__lt": str(until)})

    def search(term):
        return changelist + "?" + urlencode({"q": term})

    return {
        "healthz": "/healthz",
        "list": changelist,
        "list_status_succeeded": changelist + "?status__exact=succeeded",
        "list_status_dead": changelist + "?status__exact=dead",
        "list_flow_orders": changelist + "?flow=orders",
        "list_flow_cancellations": changelist + "?flow=cancellations",
        "list_integration": changelist + f"?integration__id__exact={setup['prestashop']}",
        "list_error_class_permanent": changelist + "?error_class__exact=permanent",
        "list_error_class_auth": changelist + "?error_class__exact=auth",
        "list_created_today": created(today, tomorrow),
        "list_created_past_7_days": created(today - timedelta(days=7), tomorrow),
        "list_created_this_year": created(today.replace(month=1, day=1), today.replace(year=today.year + 1, month=1,
                                                                                        day=1)),
        "list_shadow_yes": changelist + "?shadow__exact=1",
        "list_shadow_no": changelist + "?shadow__exact=0",
        "search_reference": search(chosen["reference"]),
        "search_email": search(chosen["email"]),
        "search_sku": search(chosen["sku"]),
        "search_channeladvisor_id": search(chosen["channeladvisor_id"]),
        "record_page": reverse("admin:integrations_syncrecord_change", args=[chosen["record"]]),
        "record_page_dead": reverse("admin:integrations_syncrecord_change", args=[chosen["dead_record"]]),
        "front_page": reverse("admin:index"),
        "causes": reverse("admin:integrations_syncrecord_causes"),
    }


def percentile(values, share):
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = share * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class QueryLog:
    """Counts the SQL queries run through the connection and keeps the slowest (an execute wrapper)."""

    def __init__(self):
        self.count, self.slowest_s, self.slowest_sql = 0, 0.0, ""

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            took = time.perf_counter() - started
            self.count += 1
            if took > self.slowest_s:
                self.slowest_s, self.slowest_sql = took, sql


def get(client, url, retries):
    """One request; a database that restarted under it (other suites on the machine do) is retried afresh."""
    from django.db import DatabaseError, connections

    for attempt in range(4):
        try:
            started = time.perf_counter()
            response = client.get(url)
            return response, (time.perf_counter() - started) * 1000
        except DatabaseError:
            if attempt == 3:
                raise
            retries.append(url)
            connections.close_all()
            time.sleep(3)


def measure(user, urls, requests):
    from django.db import connection
    from django.test import Client

    client = Client()
    client.force_login(user)
    results, retries = {}, []
    for name, url in urls.items():
        log = QueryLog()
        with connection.execute_wrapper(log):
            response, _ = get(client, url, retries)  # warm-up: its queries are counted, its time is not
        if response.status_code != 200:
            raise SystemExit(f"{name}: {url} answered {response.status_code}")
        times = []
        for _ in range(requests):
            response, took = get(client, url, retries)
            times.append(took)
            assert response.status_code == 200, (name, response.status_code)
        results[name] = {"p50_ms": round(statistics.median(times), 1), "p95_ms": round(percentile(times, 0.95), 1),
                         "max_ms": round(max(times), 1), "queries": log.count,
                         "slowest_query_ms": round(log.slowest_s * 1000, 1), "slowest_query": log.slowest_sql[:240]}
        say(f"{name}: p50 {results[name]['p50_ms']} ms, p95 {results[name]['p95_ms']} ms, "
            f"{log.count} queries (slowest {results[name]['slowest_query_ms']} ms)")
    if retries:
        say(len(retries), "requests retried after a database restart")
    return results


def matches(chosen):
    from integrations.models import SyncRecord

    return {kind: SyncRecord.objects.filter(search_text__icontains=chosen[kind]).count()
            for kind in ("reference", "email", "sku", "channeladvisor_id")}


def search_text_agrees(total, limit=300):
    """The SQL's search_text has the words the pipeline's search_text_of makes of the same row (order aside)."""
    from integrations.models import SyncRecord
    from integrations.pipeline.records import search_text_of

    ids = random.Random(7).sample(range(1, total + 1), min(limit, total))
    rows = SyncRecord.objects.filter(id__in=ids).values_list("reference", "source_id", "source_payload",
                                                             "search_text")
    return all(set(search_text_of(ref, sid, payload).split()) == set(text.split()) for ref, sid, payload, text in rows)


def sizes():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("""SELECT c.relname, pg_relation_size(c.oid) FROM pg_index i JOIN pg_class c
                          ON c.oid = i.indexrelid WHERE i.indrelid = 'integrations_syncrecord'::regclass
                          ORDER BY c.relname""")
        indexes = {name: round(size / 2**20, 1) for name, size in cursor.fetchall()}
        cursor.execute("SELECT pg_total_relation_size('integrations_syncrecord'), "
                       "pg_total_relation_size('integrations_syncattempt')")
        records, attempts = cursor.fetchone()
    return {"records_table_mb": round(records / 2**20), "attempts_table_mb": round(attempts / 2**20),
            "record_indexes_mb": indexes}


def counts():
    from integrations.models import Link, SyncAttempt, SyncRecord

    return {"records": SyncRecord.objects.count(), "attempts": SyncAttempt.objects.count(),
            "links": Link.objects.count()}


def ratios(run, baseline):
    return {name: round(run[name]["p95_ms"] / baseline[name]["p95_ms"], 2) for name in run
            if name in baseline and baseline[name]["p95_ms"]}


def main():
    args = parse_args()
    if not args.reuse:
        fresh_database(args.database)
    setup_django(args.database)
    from django.core.management import call_command

    result = {"records": args.records, "baseline_records": args.baseline_records, "requests": args.requests,
              "target_p95_ms": TARGET_P95_MS, "cores": os.cpu_count(), "database": args.database}
    started = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    result["migrate_s"] = round(time.perf_counter() - started, 1)
    every = max(args.records // args.baseline_records, 2)
    if args.reuse:
        setup = existing_setup()
    else:
        setup = make_setup()
    setup.update(sample_every=every)
    if not args.reuse:
        result["load_sample_s"] = load(setup, "sample", args.records, every)
        result["sample_counts"] = counts()
        chosen = subjects(setup)
        urls = pages(setup, chosen)
        say("baseline:", result["sample_counts"])
        result["load_average_at_baseline"] = os.getloadavg()[0]
        result["baseline"] = measure(setup["user"], urls, args.requests)
        result["baseline_search_matches"] = matches(chosen)
        result["load_rest_s"] = load(setup, "rest", args.records, every)
    else:
        from django.db import connection

        with connection.cursor() as cursor:
            for table in TABLES:
                cursor.execute(f"ANALYZE {table}")
        chosen = subjects(setup)
        urls = pages(setup, chosen)
    result["counts"] = counts()
    result["search_text_agrees_with_pipeline"] = search_text_agrees(args.records)
    result["subjects"] = chosen
    result["search_matches"] = matches(chosen)
    result["sizes"] = sizes()
    say("full:", result["counts"])
    result["load_average_before"] = os.getloadavg()[0]  # other work on the machine shows in the figures
    run = result["pages"] = measure(setup["user"], urls, args.requests)
    result["load_average_after"] = os.getloadavg()[0]
    if "baseline" in result:
        result["p95_vs_baseline"] = ratios(run, result["baseline"])
    result["p95_vs_healthz"] = {name: round(page["p95_ms"] / max(run["healthz"]["p95_ms"], 0.1), 1)
                                for name, page in run.items()}
    over = {name: page["p95_ms"] for name, page in run.items() if page["p95_ms"] >= TARGET_P95_MS}
    result["over_target"] = over
    result["target_met"] = not over
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
