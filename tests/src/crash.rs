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
    vec![
        Scenario {
            name: "orders accepted before a SIGKILL settle after the restart, and the audit is clean",
            run: settle_and_audit,
        },
        Scenario {
            name: "orders past their retention leave D1 for the archive, and the audit stays clean",
            run: purge_on_d1,
        },
    ]
}

/// The purge's statements (`json_each`, `json_extract`, one batch) on
/// D1 itself: three of the orders cancelled (and their void records
/// signed), then a year on every order that ended is archived, nothing
/// else moves, and the books still balance.
fn purge_on_d1(cx: &Context<'_>) -> Result<(), String> {
    let r = cx.remote;
    let d1 = HarnessD1::new(&r.base);
    let count = |sql: &str| -> Result<i64, String> {
        let rows = futures::executor::block_on(d1.query(Statement::new(sql, Vec::new()))).map_err(|e| e.to_string())?;
        rows.first()
            .and_then(|r| r.int("n").ok())
            .ok_or_else(|| format!("{sql}: no count"))
    };
    let ids = std::env::var("GASLINE_E2E_ORDERS").unwrap_or_default();
    for id in ids.split(',').filter(|id| !id.is_empty()).take(3) {
        let (status, reply) = r.post(&format!("/v1/orders/{id}/cancel"), r.app(), "")?;
        // 409: it had ended already (rejected, say), which serves as well.
        expect(status == 200 || status == 409, format!("cancel {id}: {status} {reply}"))?;
    }
    let start = Instant::now();
    let unsigned_voids = "SELECT COUNT(*) AS n FROM waybills WHERE status = 'void' AND void_record IS NULL";
    while count(unsigned_voids)? > 0 {
        expect(
            start.elapsed() < Duration::from_secs(30),
            "void records still unsigned after 30 s",
        )?;
        std::thread::sleep(Duration::from_millis(100));
    }
    let ended = "SELECT COUNT(*) AS n FROM orders WHERE state IN ('delivered', 'cancelled', 'rejected', 'failed')";
    let (ended_before, all_before) = (count(ended)?, count("SELECT COUNT(*) AS n FROM orders")?);
    expect(ended_before > 0, "no order has ended: nothing to purge")?;
    let a_year_on = gasline_native::Clock::system().now() + 365 * 86_400_000;
    let config = gasline_core::config::Config::default();
    let purged = futures::executor::block_on(gasline_store::purge::purge_all(&d1, a_year_on, &config))
        .map_err(|e| format!("purge on D1: {e}"))?;
    let after = (
        count(ended)?,
        count("SELECT COUNT(*) AS n FROM orders")?,
        count("SELECT COUNT(*) AS n FROM order_archive")?,
    );
    expect(
        usize::try_from(ended_before).is_ok_and(|n| n == purged)
            && after == (0, all_before - ended_before, ended_before),
        format!(
            "{purged} purged of {ended_before} ended ({all_before} orders); then (ended, orders, archived) = {after:?}"
        ),
    )?;
    audit_clean(&d1, "D1 after the purge")
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

/// The local runtime's D1 database through the harness's control path
/// (`POST /__harness/d1`): the SQL port for the audit, which reads, and
/// the purge, whose batch is one D1 `batch` (atomic, as in production).
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

fn statement_json(statement: &Statement) -> serde_json::Value {
    serde_json::json!({
        "sql": statement.sql,
        "params": statement.params.iter().map(to_json).collect::<Vec<_>>(),
    })
}

fn rows(result: &serde_json::Value) -> Vec<Row> {
    result["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(serde_json::Value::as_object)
        .map(|object| {
            let columns: Vec<String> = object.keys().cloned().collect();
            let values = object.values().map(from_json).collect();
            Row::new(columns.into(), values)
        })
        .collect()
}

impl HarnessD1 {
    /// One D1 `batch` of `statements`; each one's result.
    fn send(&self, statements: &[Statement]) -> Result<Vec<serde_json::Value>, StoreError> {
        let batch: Vec<_> = statements.iter().map(statement_json).collect();
        let body = serde_json::json!({ "batch": batch });
        let reply = self
            .client
            .send(&Call::post("/__harness/d1", body.to_string()))
            .map_err(|e| StoreError::Unavailable(format!("{e:#}")))?;
        if reply.status != 200 {
            let text = reply.text();
            return Err(if text.contains("constraint failed") {
                StoreError::Conflict(text)
            } else {
                StoreError::Backend(format!("harness D1 answered {}: {text}", reply.status))
            });
        }
        Ok(reply.json().as_array().cloned().unwrap_or_default())
    }
}

impl SqlStore for HarnessD1 {
    async fn query(&self, statement: Statement) -> Result<Vec<Row>, StoreError> {
        let results = self.send(std::slice::from_ref(&statement))?;
        Ok(results.first().map(rows).unwrap_or_default())
    }

    async fn query_many(&self, statements: Vec<Statement>) -> Result<Vec<Vec<Row>>, StoreError> {
        Ok(self.send(&statements)?.iter().map(rows).collect())
    }

    async fn batch(&self, statements: Vec<Statement>) -> Result<(), StoreError> {
        self.send(&statements).map(drop)
    }
}
