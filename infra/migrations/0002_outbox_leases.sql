-- Competing consumers on Spin, where Redis pub/sub rings every instance for
-- every event: an instance woken by a message claims the events it will
-- handle by setting `lease_until` in one conditional UPDATE, so each event is
-- worked on by one instance at a time. A lease that runs out (the instance
-- died, or is stuck) makes the event claimable again when the sweeper re-sends
-- it. Workers queues already hand each message to one consumer and leave the
-- column empty.
ALTER TABLE outbox ADD COLUMN lease_until INTEGER;
