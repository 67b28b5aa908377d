//! Status: order status and timelines, waybills, verification, keys, the rider API, telemetry, stats, metrics, and the outbox sweeper.
