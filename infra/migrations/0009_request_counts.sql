-- Requests counted per route for /metrics (gasline_core::route_stats):
-- on Workers each isolate adds its counts here every few seconds; Spin
-- keeps them in Redis instead. b0…b8 count the requests in each latency
-- bucket (BUCKETS_MS), not cumulatively.
CREATE TABLE request_counts (
    method  TEXT NOT NULL,
    route   TEXT NOT NULL,
    class   TEXT NOT NULL,
    count   INTEGER NOT NULL DEFAULT 0,
    sum_ms  INTEGER NOT NULL DEFAULT 0,
    b0 INTEGER NOT NULL DEFAULT 0,
    b1 INTEGER NOT NULL DEFAULT 0,
    b2 INTEGER NOT NULL DEFAULT 0,
    b3 INTEGER NOT NULL DEFAULT 0,
    b4 INTEGER NOT NULL DEFAULT 0,
    b5 INTEGER NOT NULL DEFAULT 0,
    b6 INTEGER NOT NULL DEFAULT 0,
    b7 INTEGER NOT NULL DEFAULT 0,
    b8 INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (method, route, class)
);
