-- Which outbox events their consumer has handled, on the outbox row itself,
-- so that "the events waiting for this consumer" is a range of one partial
-- index instead of a scan of every recent row with a lookup in
-- processed_events each. The consumer's commit sets `handled_at` in the same
-- batch that records the processed event (processed_events stays the record
-- that makes a redelivery a no-op). Spin's doorbell claims from this index:
-- under a backlog it finds waiting events however old they are, and its cost
-- no longer grows with the traffic of the last seconds.
ALTER TABLE outbox ADD COLUMN handled_at INTEGER;

UPDATE outbox SET handled_at = (
    SELECT p.processed_at FROM processed_events p
    WHERE p.consumer = outbox.consumer AND p.event_id = outbox.event_id
) WHERE consumer IS NOT NULL;

CREATE INDEX outbox_waiting ON outbox (consumer, available_at)
    WHERE consumer IS NOT NULL AND handled_at IS NULL AND dead_at IS NULL;
