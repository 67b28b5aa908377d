//! Operations: health, Prometheus metrics, SLA statistics, and the routes
//! that run the outbox sweeper (`gasline_store::sweep`) and the migrations.

use std::fmt::Write as _;

use gasline_core::sla::{self, STEPS};
use gasline_http::{Problem, Request, Response, authenticate, json, read_query};
use gasline_ports::{Ports, Publisher as _, RouteCounters as _};
use gasline_store::tokens::Role;
use gasline_store::{order, outbox};
use http::{HeaderValue, StatusCode, header};

use crate::bodies::StatsWindow;

/// How far back `/v1/stats` and `/metrics` look.
const STATS_WINDOW_MS: i64 = 24 * 3_600_000;
/// Orders at most in one stats computation.
const STATS_LIMIT: u32 = 10_000;

/// An event waiting this long for its consumer means the queue (or the
/// consumer) is behind: longer than a sweep interval on Workers (one
/// minute) plus the first re-send.
const BEHIND_MS: i64 = 60_000;

/// `GET /healthz`: liveness — this function runs and answers. It reads no
/// storage, so a database outage never makes an orchestrator restart
/// healthy instances; whether orders can be served is `/readyz`.
pub(crate) fn live() -> Response {
    json(StatusCode::OK, &serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: readiness — whether this deployment can serve orders: its database
/// answers and holds this build's schema. `200 {"status": "ok", …}`, or
/// `503` naming what is not (the migrations missing are named: no secret
/// in them, and the operator needs them).
///
/// It also says how the queue is moving (`queue`): whether it answers
/// where that can be asked without a message (Spin's Redis), how many
/// events wait for their consumer past their time and for how long the
/// oldest has (from the outbox, which every publish goes through):
/// `ok`, `behind` (more than a minute), `stalled` (past the sweeper's
/// give-up horizon by a minute: the sweeper is not running) or
/// `unreachable`. The queue never makes this a 503: orders are still
/// taken and kept in the outbox, and a load balancer that pulled every
/// instance over it would stop intake too.
pub(crate) async fn ready(ports: &impl Ports) -> Response {
    let (status, database, schema) = match gasline_store::migrations::missing(ports.sql()).await {
        Ok(missing) if missing.is_empty() => (StatusCode::OK, "ok", "current".to_owned()),
        Ok(missing) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "ok",
            format!("behind: {} not applied", missing.join(", ")),
        ),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", "unknown".to_owned()),
    };
    let queue = if status == StatusCode::OK {
        queue_health(ports).await
    } else {
        serde_json::json!({ "status": "unknown" })
    };
    let body = serde_json::json!({
        "status": if status == StatusCode::OK { "ok" } else { "unavailable" },
        "database": database,
        "schema": schema,
        "queue": queue,
    });
    let mut response = json(status, &body);
    if status != StatusCode::OK {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    response
}

/// The `queue` part of `/readyz`.
async fn queue_health(ports: &impl Ports) -> serde_json::Value {
    let now = ports.now();
    let reachable = ports.queue().check().await.is_ok();
    let Ok((waiting, oldest)) = outbox::waiting(ports.sql(), now).await else {
        return serde_json::json!({ "status": "unknown", "reachable": reachable });
    };
    let oldest_ms = oldest.map_or(0, |at| (now - at).max(0));
    let horizon = match gasline_store::config(ports).await {
        Ok(config) => config
            .outbox_redeliver_ms
            .saturating_mul((1_i64 << config.max_deliveries.min(32)) - 1),
        Err(_) => i64::MAX,
    };
    let status = if !reachable {
        "unreachable"
    } else if oldest_ms > horizon.saturating_add(BEHIND_MS) {
        "stalled"
    } else if oldest_ms > BEHIND_MS {
        "behind"
    } else {
        "ok"
    };
    serde_json::json!({
        "status": status,
        "reachable": reachable,
        "waiting": waiting,
        "oldest_waiting_ms": oldest_ms,
    })
}

/// `GET /openapi.json`: the OpenAPI 3.1 document of the whole API
/// (`gasline_http::openapi`, written to `docs/openapi.json`), embedded as
/// text: the status function carries the document, not its generator.
pub(crate) fn openapi() -> Response {
    let mut response = http::Response::new(include_bytes!("../../../docs/openapi.json").to_vec());
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// `POST /v1/ops/sweep`: runs the sweeper (for a cron job or an operator).
pub(crate) async fn sweep_route(request: &Request, ports: &impl Ports) -> Result<Response, Problem> {
    authenticate(ports, request, &[Role::Ops]).await?;
    let report = gasline_store::sweep::sweep(ports)
        .await
        .map_err(|_| Problem::unavailable())?;
    Ok(json(StatusCode::OK, &report))
}

/// `POST /v1/ops/migrate`: applies the schema migrations this build carries
/// that the database has not recorded, and lists what the database has
/// now. The deployment step where nothing else migrates (Spin, whose
/// instances no longer check the schema on every request: docs/SPIN.md).
/// Safe to repeat and to run from several places at once.
pub(crate) async fn migrate_route(request: &Request, ports: &impl Ports) -> Result<Response, Problem> {
    authenticate(ports, request, &[Role::Ops]).await?;
    // Ops alone can call this, so the problem names the migration (not
    // what the database said, which stays internal).
    let applied_now = gasline_store::migrations::migrate(ports.sql()).await.map_err(|e| {
        let detail = match e.migration.as_str() {
            "" => "the migration history could not be read or created; retry".to_owned(),
            name => format!("{name} failed and was rolled back (earlier migrations stay applied)"),
        };
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "migration-failed",
            "A migration failed",
            detail,
        )
    })?;
    let recorded = gasline_store::migrations::applied(ports.sql())
        .await
        .map_err(|_| Problem::unavailable())?;
    let body = serde_json::json!({ "applied": applied_now, "migrations": recorded });
    Ok(json(StatusCode::OK, &body))
}

/// `GET /v1/stats?since=`: SLA compliance per step over the orders
/// received since `since` (at most, and by default, the last 24 hours),
/// and orders per state.
pub(crate) async fn stats(request: &Request, ports: &impl Ports) -> Result<Response, Problem> {
    authenticate(ports, request, &[Role::Ops]).await?;
    let window: StatsWindow = read_query(request)?;
    let earliest = ports.now() - STATS_WINDOW_MS;
    let since = match window.since {
        None => earliest,
        Some(since) if since >= earliest => since,
        Some(_) => return Err(Problem::bad_request("since: at most 24 hours back")),
    };
    let reached = order::reached_steps(ports.sql(), since, STATS_LIMIT)
        .await
        .map_err(|_| Problem::unavailable())?;
    let by_state = order::count_by_state(ports.sql())
        .await
        .map_err(|_| Problem::unavailable())?;
    let body = serde_json::json!({
        "since": since,
        "window_ms": (ports.now() - since).max(0),
        "orders_in_window": reached.len(),
        "steps": sla::report(&reached),
        "orders_by_state": by_state.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
    });
    Ok(json(StatusCode::OK, &body))
}

/// `GET /metrics`: Prometheus text exposition.
pub(crate) async fn metrics(request: &Request, ports: &impl Ports) -> Result<Response, Problem> {
    authenticate(ports, request, &[Role::Ops]).await?;
    let unavailable = |_| Problem::unavailable();
    let by_state = order::count_by_state(ports.sql()).await.map_err(unavailable)?;
    let (pending, dead) = outbox::backlog(ports.sql(), ports.now()).await.map_err(unavailable)?;
    let reached = order::reached_steps(ports.sql(), ports.now() - STATS_WINDOW_MS, STATS_LIMIT)
        .await
        .map_err(unavailable)?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP gasline_orders Orders by state.\n# TYPE gasline_orders gauge"
    );
    for (state, n) in by_state {
        let _ = writeln!(out, "gasline_orders{{state=\"{state}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP gasline_outbox_pending Due outbox events not yet published or not yet processed."
    );
    let _ = writeln!(
        out,
        "# TYPE gasline_outbox_pending gauge\ngasline_outbox_pending {pending}"
    );
    let _ = writeln!(out, "# HELP gasline_outbox_dead Outbox events given up on.");
    let _ = writeln!(out, "# TYPE gasline_outbox_dead gauge\ngasline_outbox_dead {dead}");
    let _ = writeln!(
        out,
        "# HELP gasline_sla_compliance Share of orders reaching a step within its target (24 h)."
    );
    let _ = writeln!(out, "# TYPE gasline_sla_compliance gauge");
    let report = sla::report(&reached);
    for step in &report {
        let _ = writeln!(
            out,
            "gasline_sla_compliance{{step=\"{}\"}} {}",
            step.step, step.compliance
        );
    }
    let _ = writeln!(
        out,
        "# HELP gasline_step_latency_ms Latency from receipt to a step (24 h)."
    );
    let _ = writeln!(out, "# TYPE gasline_step_latency_ms gauge");
    for step in &report {
        for (q, v) in [("0.5", step.p50_ms), ("0.95", step.p95_ms), ("0.99", step.p99_ms)] {
            if let Some(v) = v {
                let _ = writeln!(
                    out,
                    "gasline_step_latency_ms{{step=\"{}\",quantile=\"{q}\"}} {v}",
                    step.step
                );
            }
        }
    }
    let gauges = gasline_store::desk::gauges(ports.sql(), ports.now())
        .await
        .map_err(unavailable)?;
    let _ = writeln!(
        out,
        "# HELP gasline_riders Riders in service per status.\n# TYPE gasline_riders gauge"
    );
    for (status, n) in &gauges.riders {
        let _ = writeln!(out, "gasline_riders{{status=\"{status}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP gasline_station_holds Stations held by their sensors or an operator, and retired.\n\
         # TYPE gasline_station_holds gauge"
    );
    for (kind, n) in gauges.station_holds {
        let _ = writeln!(out, "gasline_station_holds{{kind=\"{kind}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP gasline_outbox_redeliveries Publishes beyond the first, all outbox rows.\n\
         # TYPE gasline_outbox_redeliveries gauge\ngasline_outbox_redeliveries {}",
        gauges.redeliveries
    );
    let _ = writeln!(
        out,
        "# HELP gasline_dead_letters_24h Events given up on in the last 24 hours.\n\
         # TYPE gasline_dead_letters_24h gauge\ngasline_dead_letters_24h {}",
        gauges.dead_letters_recent
    );
    // Requests per route: rate, errors, latency (`RouteCounters`).
    let requests = ports.counters().totals().await.map_err(unavailable)?;
    gasline_core::route_stats::render(&requests, &mut out);
    // The GIS breaker, as matching keeps it (`gasline_store::gis`).
    let gis = gasline_store::gis::breaker(ports).await;
    let _ = writeln!(
        out,
        "# HELP gasline_breaker_open Whether an outside system's circuit breaker is open (calls held back, fallback used).\n\
         # TYPE gasline_breaker_open gauge\ngasline_breaker_open{{dependency=\"gis\"}} {}",
        u8::from(!gis.allows(ports.now()))
    );
    let _ = writeln!(
        out,
        "# HELP gasline_breaker_failures Consecutive failures its breaker has counted of an outside system.\n\
         # TYPE gasline_breaker_failures gauge\ngasline_breaker_failures{{dependency=\"gis\"}} {}",
        gis.failures
    );
    let _ = writeln!(out, "# HELP gasline_sla_target_ms Service level target per step.");
    let _ = writeln!(out, "# TYPE gasline_sla_target_ms gauge");
    for (step, target) in STEPS {
        let _ = writeln!(out, "gasline_sla_target_ms{{step=\"{step}\"}} {target}");
    }
    let mut response = http::Response::new(out.into_bytes());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    Ok(response)
}
