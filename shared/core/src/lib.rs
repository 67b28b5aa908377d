//! # gasline-core
//!
//! The domain of Gasline with no I/O at all: no clock, no randomness, no
//! network, no `async`. Callers pass `now`, ids and data in; the core answers
//! with decisions (state transitions, events to emit, compensations to run).
//! The same code runs natively in tests, on Spin and on Cloudflare Workers.
//!
//! Module map:
//! - [`types`]: validated values (ids, phone, address, cylinder specs, quantities).
//! - [`geo`]: coordinates, distances and geohash cells for the spatial index.
//! - [`cell`]: which cell (one region's database, queues, stations and
//!   riders) an order, rider or station belongs to.
//! - [`breaker`]: the circuit-breaker policy for outside systems.
//! - [`limit`]: per-caller rate limits (a token bucket as one number).
//! - [`config`]: the tunables (radii, night window, timeouts, retry limits).
//! - [`state`]: the order state machine as a transition table.
//! - [`event`]: the event envelope that chains the saga.
//! - [`order`]: the order aggregate — the order value, the saga table
//!   (steps and compensations), and `decide`: input + facts → typed effects.
//! - [`matching`]: station and rider selection, including the night safety rule.
//! - [`waybill`]: the e-waybill and its canonical bytes.
//! - [`signature`]: SM2-with-SM3 signing, verification and key handling.
//! - [`sla`]: per-step latency against the service levels.
//! - [`telemetry`]: station holds from device reports (leak alarm, low stock).
//! - [`time`]: calendar arithmetic on timestamps passed in.
//! - [`error`]: the retryable/terminal split every handler relies on.

pub mod breaker;
pub mod cell;
pub mod config;
pub mod error;
pub mod event;
pub mod geo;
pub mod limit;
pub mod log;
pub mod matching;
pub mod order;
pub mod route_stats;
pub mod signature;
pub mod sla;
pub mod state;
pub mod telemetry;
pub mod time;
pub mod types;
pub mod waybill;

/// Milliseconds since the Unix epoch, UTC. The core never reads a clock:
/// every function that needs the time takes one of these.
pub type Millis = i64;
