-- The rider's pickup and delivery deadlines. `due_by` is when the rider
-- must have loaded the cylinders (state `accepted`) or handed them over
-- (`picked_up`), set exactly in those two states; a `rider.timed_out` event
-- with the deadline in its payload checks it. Orders already in those states
-- get the default deadlines (30 min, 2 h) from their last change, so the
-- invariant holds for every row and none waits forever.
ALTER TABLE orders ADD COLUMN due_by INTEGER;

UPDATE orders SET due_by = updated_at + 1800000 WHERE state = 'accepted';
UPDATE orders SET due_by = updated_at + 7200000 WHERE state = 'picked_up';
