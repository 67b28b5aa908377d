//! What every client of Gasline outside the functions shares: the
//! integration tests (in process and end to end), `cargo xtask bench-*`,
//! `cargo xtask up` and `gasline simulate`.
//!
//! - [`OrderBody`]: the one way to write a `POST /v1/orders` body, and the
//!   one deterministic spread of demo orders ([`OrderBody::nth`]).
//! - [`Client`]: the one HTTP client, over any [`Transport`]: [`Loopback`]
//!   (a real runtime, over HTTP/1.1 with a keep-alive pool) or a closure
//!   handing an `http::Request` to the system in process.
//! - [`DevEnv`]: the credentials `gasline demo` writes to `dev.env`.
//! - [`RedisServer`]: a throw-away `redis-server` on loopback, for the Spin
//!   test host and for several host instances sharing one (`bench-spin
//!   --instances`, the e2e-spin scale-out check).
//!
//! Not used by the functions themselves: nothing here reaches a wasm build.

mod client;
mod dev_env;
mod order;
mod redis_server;

pub use client::{Call, Client, Loopback, Reply, Transport, order_id, place_call};
pub use dev_env::DevEnv;
pub use order::{CENTRE, OrderBody, SPECS};
pub use redis_server::RedisServer;
