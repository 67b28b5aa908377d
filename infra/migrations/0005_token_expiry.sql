-- Tokens that expire. `expires_at` (ms since the epoch, UTC) is when a token
-- stops being accepted; NULL, as for every token issued before, never. A
-- token is rotated by issuing the new one and giving the old one an
-- `expires_at` a grace period ahead (docs/OPERATIONS.md, "Tokens").
ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER;
