//! # gasline-store
//!
//! Everything the functions read from and write to the SQL store, as typed
//! operations over the [`gasline_ports::SqlStore`] port. The core's
//! decisions become one atomic batch each ([`order::statements`]), so a
//! state change, its effects, its outbox events and the processed-event
//! record always land together or not at all.

pub mod audit;
pub mod consume;
pub mod desk;
pub mod directory;
pub mod gis;
pub mod keys;
pub mod migrations;
pub mod order;
pub mod outbox;
pub mod purge;
pub mod riders;
pub mod route_counts;
pub mod stations;
pub mod sweep;
pub mod tokens;
pub mod waybills;

use gasline_ports::{Statement, sql};

/// Makes the batch fail (and roll back) unless the statement just before it
/// changed exactly one row. See the `batch_guard` table in the migrations.
pub fn exactly_one_row() -> Statement {
    sql!("INSERT INTO batch_guard (changed) SELECT changes() WHERE changes() <> 1")
}

/// The dispatch configuration: the JSON in the `dispatch_config` variable
/// (any subset of [`gasline_core::config::Config`]'s fields), or the defaults.
/// An unparsable value is an error, never silently ignored.
pub async fn config(ports: &impl gasline_ports::Ports) -> Result<gasline_core::config::Config, String> {
    parse_config(ports.variable("dispatch_config").await.as_deref())
}

/// [`config`] from the variable's value (`None` or blank: the defaults).
pub fn parse_config(raw: Option<&str>) -> Result<gasline_core::config::Config, String> {
    match raw.map(str::trim) {
        None | Some("") => Ok(gasline_core::config::Config::default()),
        Some(raw) => serde_json::from_str(raw).map_err(|e| format!("dispatch_config is invalid: {e}")),
    }
}
