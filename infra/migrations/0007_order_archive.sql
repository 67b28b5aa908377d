-- Orders past their retention (dispatch_config.personal_data_retention_days
-- after they ended) leave the live tables for this archive, which holds no
-- personal data: no name, phone, address, note or free text; the delivery
-- point only as a geohash cell of 5 characters (about 5 km). What stays is
-- what the books and the regulator need: who carried what from where and
-- when, the cylinder trace codes, and each waybill's SM3 digest and
-- signature, so that whoever holds the original document can still prove
-- it was signed (docs/OPERATIONS.md, "Retention of personal data").
CREATE TABLE order_archive (
    id          TEXT PRIMARY KEY,
    client      TEXT NOT NULL,
    state       TEXT NOT NULL,
    reason      TEXT,
    station_id  TEXT,
    rider_id    TEXT,
    items       TEXT NOT NULL,          -- JSON [{"spec","quantity"}]
    area        TEXT NOT NULL,          -- geohash, 5 characters
    created_at  INTEGER NOT NULL,
    ended_at    INTEGER NOT NULL,
    purged_at   INTEGER NOT NULL,
    record      TEXT NOT NULL           -- JSON: timeline, trace codes, waybills
);
CREATE INDEX order_archive_ended ON order_archive (ended_at);
