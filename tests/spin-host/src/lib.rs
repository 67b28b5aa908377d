//! The Spin test host: runs the Spin components of an application
//! (`spin.toml`, spin-sdk 6 components built for `wasm32-wasip2`) on
//! wasmtime 44 with component-model async, with real backends — SQLite on
//! rusqlite, key-value and pub/sub on a real `redis-server`, variables from
//! the manifest and the environment, outbound HTTP limited to
//! `allowed_outbound_hosts`. HTTP is served on a real loopback socket and
//! routed by the manifest; Redis messages are delivered by channel.
//!
//! It is a test harness (the Spin CLI is not installable here); users run
//! real Spin. See docs/DEVELOPING.md, "Spin test host".
//!
//! ```no_run
//! use gasline_spin_host::{HostConfig, RedisServer, SpinHost};
//!
//! let redis = RedisServer::start()?;
//! let mut config = HostConfig::new("spin.toml").variable("redis_address", redis.url());
//! config.key_value.insert("default".into(), redis.url());
//! let host = SpinHost::start(config)?; // fails naming any import it cannot provide
//! println!("serving on {}", host.base_url());
//! # anyhow::Ok(())
//! ```

pub mod allowed;
mod bindings;
mod host;
pub mod manifest;
mod outbound;
pub mod resp;
pub mod router;
mod runtime;
pub mod runtime_config;
mod spin_kv;
mod spin_redis;
mod spin_sqlite;
mod spin_variables;
pub mod variables;
pub mod wasm_build;

pub use gasline_testkit::RedisServer;
pub use host::{HostConfig, SpinHost, StatsSnapshot, apply_sql_files};
