-- Harness self-test schema (exercises the splitter: comments, quotes with ';', a trigger).
CREATE TABLE hops (
    id           TEXT PRIMARY KEY,
    sent_at      INTEGER NOT NULL,
    received_at  INTEGER,             -- first delivery
    attempts     INTEGER NOT NULL DEFAULT 0,
    dead_at      INTEGER
);
CREATE TABLE cron_runs (cron TEXT NOT NULL, at INTEGER NOT NULL);
CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT NOT NULL, touched INTEGER NOT NULL DEFAULT 0);
/* a block comment; with a semicolon */
CREATE TRIGGER items_touch AFTER UPDATE OF name ON items
BEGIN
    UPDATE items SET touched = touched + 1 WHERE id = NEW.id;
END;
INSERT INTO items (id, name) VALUES ('a', 'semi;colon ''quoted''');
