//! After a crash: the local Workers runtime (workerd, state on disk) was
//! killed with SIGKILL in the middle of a burst of orders and started again
//! on the same state (`cargo xtask test`, step `e2e-workers`). What must
//! hold: every order the runtime accepted before it died settles (signed,
//! or closed with a reason) without anyone calling the sweeper — the cron
//! fires on its schedule — and the audit of the D1 database, read through
//! the harness, finds nothing.
//!
//! `GASLINE_E2E_ORDERS`: the ids the runtime answered `202` for before it
//! was killed, comma-separated.

use std::time::{Duration, Instant};

use gasline_ports::{Row, SqlStore, Statement, StoreError, Value};
use gasline_testkit::{Call, Client, Loopback};

use crate::remote::{Context, Scenario, audit_clean, expect};

pub fn scenarios() -> Vec<Scenario> {
    vec![Scenario {
        name: "orders accepted before a SIGKILL settle after the restart, and the audit is clean",
        run: settle_and_audit,
    }]
}

/// A minute for the cron to come round, the sweeper's grace, and the saga.
const SETTLE_LIMIT: Duration = Duration::from_secs(150);

fn settle_and_audit(cx: &Context<'_>) -> Result<(), String> {
    let r = cx.remote;
    let ids: Vec<String> = std::env::var("GASLINE_E2E_ORDERS")
        .map_err(|_| "GASLINE_E2E_ORDERS is not set".to_owned())?
        .split(',')
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .collect();
    expect(!ids.is_empty(), "no order was accepted before the crash")?;
    let settled = |o: &serde_json::Value| {
        o["state"] == "waybill_signed"
            || ["delivered", "rejected", "cancelled", "failed"].contains(&o["state"].as_str().unwrap_or(""))
    };
    let start = Instant::now();
    let mut moving = Vec::new();
    for id in &ids {
        if !settled(&r.order(id)?) {
            moving.push(id.as_str());
        }
    }
    eprintln!(
        "{} of {} orders accepted before the crash had not settled at the restart: {moving:?}",
        moving.len(),
        ids.len()
    );
    for id in &ids {
        let left = SETTLE_LIMIT.saturating_sub(start.elapsed());
        r.wait_for(id, left, settled)?;
    }
    eprintln!(
        "all {} settled {:.1} s after the restart",
        ids.len(),
        start.elapsed().as_secs_f64()
    );
    audit_clean(&HarnessD1::new(&r.base), "D1 after the restart")
}

/// The local runtime's D1 database, read through the harness's control
/// path (`POST /__harness/d1`): enough of the SQL port for the audit, which
/// only reads.
pub struct HarnessD1 {
    client: Client<Loopback>,
}

impl HarnessD1 {
    pub fn new(base: &str) -> Self {
        Self {
            client: Client::new(Loopback::new(base, Duration::from_secs(30))),
        }
    }
}

fn to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Integer(i) => (*i).into(),
        Value::Real(r) => (*r).into(),
        Value::Text(t) => t.clone().into(),
        Value::Blob(_) => serde_json::Value::Null,
    }
}

fn from_json(value: &serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Integer(i64::from(*b)),
        serde_json::Value::Number(n) => n
            .as_i64()
            .map_or_else(|| Value::Real(n.as_f64().unwrap_or(f64::NAN)), Value::Integer),
        serde_json::Value::String(s) => Value::Text(s.clone()),
        other => Value::Text(other.to_string()),
    }
}

impl SqlStore for HarnessD1 {
    async fn query(&self, statement: Statement) -> Result<Vec<Row>, StoreError> {
        let body = serde_json::json!({
            "sql": statement.sql,
            "params": statement.params.iter().map(to_json).collect::<Vec<_>>(),
        });
        let reply = self
            .client
            .send(&Call::post("/__harness/d1", body.to_string()))
            .map_err(|e| StoreError::Unavailable(format!("{e:#}")))?;
        if reply.status != 200 {
            return Err(StoreError::Backend(format!(
                "harness D1 answered {}: {}",
                reply.status,
                reply.text()
            )));
        }
        let results = reply.json()["results"].as_array().cloned().unwrap_or_default();
        Ok(results
            .iter()
            .filter_map(serde_json::Value::as_object)
            .map(|object| {
                let columns: Vec<String> = object.keys().cloned().collect();
                let values = object.values().map(from_json).collect();
                Row::new(columns.into(), values)
            })
            .collect())
    }

    async fn batch(&self, _: Vec<Statement>) -> Result<(), StoreError> {
        Err(StoreError::Backend("the audit's view of D1 is read-only".into()))
    }
}
