-- Gasline schema, SQLite dialect: applied unchanged to Cloudflare D1, Spin
-- SQLite and the native tests (rusqlite). Times are integer milliseconds since
-- the Unix epoch, UTC. Exact state (stock, assignment, rider positions) lives
-- here, never in the key-value store.

-- Orders: one row per order; `version` is the per-order sequence number that
-- every event carries and every update checks.
CREATE TABLE orders (
    id                TEXT PRIMARY KEY,
    state             TEXT NOT NULL,
    version           INTEGER NOT NULL,
    client            TEXT NOT NULL,
    customer_name     TEXT NOT NULL,
    customer_phone    TEXT NOT NULL,
    customer_address  TEXT NOT NULL,
    lat               REAL NOT NULL,
    lon               REAL NOT NULL,
    items             TEXT NOT NULL,          -- JSON [{"spec","quantity"}]
    note              TEXT,
    traceparent       TEXT NOT NULL,
    station_id        TEXT,
    rider_id          TEXT,
    waybill_id        TEXT,
    assignment        INTEGER NOT NULL DEFAULT 0, -- riders assigned so far
    rider_timeouts    INTEGER NOT NULL DEFAULT 0,
    excluded_riders   TEXT NOT NULL DEFAULT '[]', -- JSON array of rider ids
    accept_deadline   INTEGER,
    reason            TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX orders_state ON orders (state, updated_at);
CREATE INDEX orders_accept_deadline ON orders (accept_deadline) WHERE accept_deadline IS NOT NULL;

-- Every state change with its time: the timeline and the SLA measurements.
CREATE TABLE order_timeline (
    order_id  TEXT NOT NULL REFERENCES orders (id),
    seq       INTEGER NOT NULL,
    state     TEXT NOT NULL,
    at        INTEGER NOT NULL,
    detail    TEXT,
    PRIMARY KEY (order_id, seq)
);

-- Idempotency keys of POST /v1/orders, per client.
CREATE TABLE idempotency_keys (
    client        TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    order_id      TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (client, key)
);

CREATE TABLE stations (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    lat             REAL NOT NULL,
    lon             REAL NOT NULL,
    monitored       INTEGER NOT NULL DEFAULT 0,
    suspended       INTEGER NOT NULL DEFAULT 0,
    suspend_reason  TEXT,
    leak_ppm        REAL,
    temperature_c   REAL,
    telemetry_at    INTEGER,
    low_stock_since INTEGER
);

-- The stock pool per station and spec. `locked` are cylinders pre-locked for
-- live orders. The CHECKs make overselling impossible even for a buggy caller.
CREATE TABLE station_stock (
    station_id  TEXT NOT NULL REFERENCES stations (id),
    spec        TEXT NOT NULL,
    on_hand     INTEGER NOT NULL CHECK (on_hand >= 0),
    locked      INTEGER NOT NULL DEFAULT 0 CHECK (locked >= 0),
    CHECK (locked <= on_hand),
    PRIMARY KEY (station_id, spec)
);

-- What each order holds at its station.
CREATE TABLE allocations (
    order_id    TEXT NOT NULL REFERENCES orders (id),
    station_id  TEXT NOT NULL REFERENCES stations (id),
    spec        TEXT NOT NULL,
    quantity    INTEGER NOT NULL CHECK (quantity > 0),
    status      TEXT NOT NULL CHECK (status IN ('locked', 'shipped', 'released')),
    PRIMARY KEY (order_id, spec)
);

-- Riders, indexed by geohash cell for the radius search.
CREATE TABLE riders (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('offline', 'available', 'assigned')),
    active_order_id  TEXT,
    lat              REAL,
    lon              REAL,
    cell             TEXT,
    located_at       INTEGER,
    CHECK ((status = 'assigned') = (active_order_id IS NOT NULL))
);
CREATE INDEX riders_cell ON riders (cell, status);
-- At most one rider per order.
CREATE UNIQUE INDEX riders_active_order ON riders (active_order_id) WHERE active_order_id IS NOT NULL;

-- Issued waybills (the signed JSON) and their void records.
CREATE TABLE waybills (
    id           TEXT PRIMARY KEY,
    order_id     TEXT NOT NULL REFERENCES orders (id),
    rider_id     TEXT NOT NULL,
    assignment   INTEGER NOT NULL,
    key_id       TEXT NOT NULL,
    document     TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('issued', 'void')),
    issued_at    INTEGER NOT NULL,
    voided_at    INTEGER,
    void_reason  TEXT,
    void_record  TEXT,
    UNIQUE (order_id, assignment)
);

CREATE TABLE rider_inbox (
    rider_id    TEXT NOT NULL,
    waybill_id  TEXT NOT NULL REFERENCES waybills (id),
    order_id    TEXT NOT NULL,
    added_at    INTEGER NOT NULL,
    PRIMARY KEY (rider_id, waybill_id)
);

-- Cylinder trace codes recorded at pickup, per order (the regulator report
-- carries them; the same cylinder appears again on later orders once refilled).
CREATE TABLE pickups (
    order_id    TEXT NOT NULL REFERENCES orders (id),
    trace_code  TEXT NOT NULL,
    spec        TEXT NOT NULL,
    at          INTEGER NOT NULL,
    PRIMARY KEY (order_id, trace_code)
);

-- The transactional outbox. A row is written in the same batch as the state
-- change it announces; `sent_at` is set once published; rows whose event has
-- a consumer stay pending until `processed_events` has them, and the sweeper
-- re-sends them until then (at most max_deliveries, then dead-letters them).
CREATE TABLE outbox (
    event_id      TEXT PRIMARY KEY,
    order_id      TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    topic         TEXT NOT NULL,
    body          TEXT NOT NULL,
    consumer      TEXT,
    available_at  INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    sent_at       INTEGER,
    deliveries    INTEGER NOT NULL DEFAULT 0,
    dead_at       INTEGER
);
CREATE INDEX outbox_pending ON outbox (available_at) WHERE dead_at IS NULL;

-- Events each consumer has applied, written in the same batch as the effects.
CREATE TABLE processed_events (
    consumer      TEXT NOT NULL,
    event_id      TEXT NOT NULL,
    order_id      TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    processed_at  INTEGER NOT NULL,
    PRIMARY KEY (consumer, event_id)
);

-- Always empty. A batch inserts `changes()` of the statement before into it
-- only when that count is not 1, which fails the CHECK and rolls the whole
-- batch back: how a conditional UPDATE that matched nothing aborts a D1 batch.
CREATE TABLE batch_guard (
    changed INTEGER NOT NULL CHECK (changed = 1)
);

-- Bearer tokens `<token_id>.<secret>`: looked up by id, the SM3 hash of the
-- secret compared in constant time. `subject` is the rider or station id for
-- those roles, the client name for apps and ops.
CREATE TABLE api_tokens (
    token_id     TEXT PRIMARY KEY,
    secret_hash  TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('app', 'rider', 'station', 'ops')),
    subject      TEXT NOT NULL
);
