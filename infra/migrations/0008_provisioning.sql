-- Provisioning through the ops API (docs/OPERATIONS.md, "Provisioning"):
-- what an operator decides about stations, riders, tokens and signing
-- keys, kept apart from what devices report, so that neither overwrites
-- the other.

-- An operator's hold on a station (its reason), beside the sensor hold in
-- `suspended` / `suspend_reason` that telemetry sets and lifts; and when
-- the station was retired (it serves no new order, its books stay).
ALTER TABLE stations ADD COLUMN ops_hold TEXT;
ALTER TABLE stations ADD COLUMN retired_at INTEGER;

-- The same for riders: a held or retired rider is never made `available`
-- (by a location report or by being freed from an order).
ALTER TABLE riders ADD COLUMN ops_hold TEXT;
ALTER TABLE riders ADD COLUMN retired_at INTEGER;

-- When a token was issued (NULL for tokens from before this migration).
ALTER TABLE api_tokens ADD COLUMN created_at INTEGER;

-- Signing keys as the operators manage them: the public half only (the
-- private half stays in the signing function's secret). `signing` is the
-- one key new waybills are signed with; `verify` keys are published and
-- accepted; a `retired` key still verifies what was signed before
-- `valid_until`.
CREATE TABLE signing_keys (
    key_id          TEXT PRIMARY KEY,
    public_key_pem  TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('verify', 'signing', 'retired')),
    added_at        INTEGER NOT NULL,
    promoted_at     INTEGER,
    valid_until     INTEGER,
    CHECK ((state = 'retired') = (valid_until IS NOT NULL))
);
CREATE UNIQUE INDEX signing_keys_one_signing ON signing_keys (state) WHERE state = 'signing';
