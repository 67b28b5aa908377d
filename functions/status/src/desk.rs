//! The order desk (ops role): orders listed and searched, the attention
//! view (late, overdue, stuck, dead-lettered), reassignment, and dead
//! letters with their replay (`docs/OPERATIONS.md`, "The order desk").
//! Cancelling with a reason is `POST /v1/orders/{id}/cancel` with an ops
//! token (intake); the timeline records who did it.

use gasline_core::order::Input;
use gasline_core::sla::STEPS;
use gasline_core::state::OrderState;
use gasline_http::{
    CommandFacts, Problem, Request, Response, authenticate, change_order, json, read_json, read_optional_json,
    read_query,
};
use gasline_ports::{Ports, SqlStore as _, StoreError};
use gasline_store::desk::{self, OrderFilter, StateFilter};
use gasline_store::outbox;
use gasline_store::tokens::Role;
use http::StatusCode;

use crate::bodies::{OrderListing, Paging, Reassignment, Replay};

/// A listing page when the query names no `limit`.
const DEFAULT_PAGE: u32 = 100;

fn unavailable(_: StoreError) -> Problem {
    Problem::unavailable()
}

/// The filter a query names; a value it does not know is a 400.
fn filter_of(query: OrderListing) -> Result<OrderFilter, Problem> {
    let state = match query.state.as_deref() {
        None => None,
        Some("live") => Some(StateFilter::Live),
        Some(name) => Some(StateFilter::Is(
            OrderState::ALL
                .into_iter()
                .find(|s| s.as_str() == name)
                .ok_or_else(|| Problem::bad_request(format!("state: no state {name:?} (or live)")))?,
        )),
    };
    let breach = match query.breach.as_deref() {
        None => None,
        Some("any") => Some(None),
        Some(step) => Some(Some(
            STEPS
                .iter()
                .map(|(name, _)| *name)
                .find(|name| *name == step)
                .ok_or_else(|| {
                    Problem::bad_request("breach: source_allocated, rider_assigned, waybill_signed or any")
                })?,
        )),
    };
    Ok(OrderFilter {
        state,
        station_id: query.station_id,
        rider_id: query.rider_id,
        since: query.since,
        until: query.until,
        breach,
    })
}

/// `GET /v1/ops/orders?state=&station_id=&rider_id=&since=&until=&breach=&after=&limit=`:
/// newest first, `{"orders": [summary…], "next"}`.
pub(crate) async fn list_orders(request: &Request, ports: &impl Ports) -> Result<Response, Problem> {
    authenticate(ports, request, &[Role::Ops]).await?;
    let mut query: OrderListing = read_query(request)?;
    let after = query.after.take().unwrap_or_default();
    let limit = query.limit.take().unwrap_or(DEFAULT_PAGE);
    let filter = filter_of(query)?;
    let page = desk::orders(ports.sql(), &filter, &after, limit, ports.now())
        .await
        .map_err(unavailable)?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "orders": page.items, "next": page.next }),
    ))
}

/// `GET /v1/ops/attention?limit=`: `{"items": [{"why", "detail", "order"}]}`
/// — live orders late against the service level of their next step,
/// orders overdue on the road or stuck past a deadline, and orders with a
/// dead letter in the last 24 hours; at most `limit` (default 100) of each.
pub(crate) async fn attention(request: &Request, ports: &impl Ports) -> Result<Response, Problem> {
    authenticate(ports, request, &[Role::Ops]).await?;
    let query: Paging = read_query(request)?;
    if query.after.is_some() {
        return Err(Problem::bad_request("after: the attention view is one page"));
    }
    let items = desk::attention(ports.sql(), ports.now(), query.limit.unwrap_or(DEFAULT_PAGE))
        .await
        .map_err(unavailable)?;
    Ok(json(StatusCode::OK, &serde_json::json!({ "items": items })))
}

/// `POST /v1/ops/orders/{id}/reassign` `{"rider_id"?}`: takes the order
/// from its rider (waybill voided, rider freed, not tried again) and gives
/// it to the named rider, who must be available with a fresh position, or
/// back to matching. Until pickup; it does not count against the order's
/// rider limit. `{"id", "state"}`.
pub(crate) async fn reassign(request: &Request, id: &str, ports: &impl Ports) -> Result<Response, Problem> {
    let principal = authenticate(ports, request, &[Role::Ops]).await?;
    let body: Reassignment = read_optional_json(request)?;
    let (input, facts) = match &body.rider_id {
        Some(rider) => (Input::Reassign { to: Some(rider) }, CommandFacts::Rider(rider)),
        None => (Input::Reassign { to: None }, CommandFacts::None),
    };
    change_order(ports, &principal, id, input, facts).await
}

/// `GET /v1/ops/dead-letters?after=&limit=`: events given up on, newest
/// first, each with its order's state now.
pub(crate) async fn dead_letters(request: &Request, ports: &impl Ports) -> Result<Response, Problem> {
    authenticate(ports, request, &[Role::Ops]).await?;
    let query: Paging = read_query(request)?;
    let page = desk::dead_letters(
        ports.sql(),
        query.after.as_deref().unwrap_or_default(),
        query.limit.unwrap_or(DEFAULT_PAGE),
    )
    .await
    .map_err(unavailable)?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "dead_letters": page.items, "next": page.next }),
    ))
}

/// `POST /v1/ops/dead-letters/replay` `{"event_id"}`: publishes the event
/// again through the outbox (its row alive, deliveries counted afresh, sent
/// now and swept again if lost); its consumer decides on it as on any
/// delivery. Idempotent: an event that is not dead any more is not sent
/// again, and the answer says where it stands. `{"event_id", "replayed",
/// "status": "pending"|"handled"|"dead"}`.
pub(crate) async fn replay(request: &Request, ports: &impl Ports) -> Result<Response, Problem> {
    authenticate(ports, request, &[Role::Ops]).await?;
    let body: Replay = read_json(request)?;
    let now = ports.now();
    let replayed = match ports.sql().batch(desk::replay(&body.event_id, now)).await {
        Ok(()) => true,
        Err(StoreError::Conflict(_)) => false,
        Err(_) => return Err(Problem::unavailable()),
    };
    if replayed && let Ok(Some(row)) = outbox::row(ports.sql(), &body.event_id).await {
        // Lost here, the next sweep sends it.
        outbox::resend(ports.sql(), ports.queue(), &row, now).await;
    }
    let status = desk::event_status(ports.sql(), &body.event_id)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| Problem::not_found("event"))?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "event_id": body.event_id, "replayed": replayed, "status": status }),
    ))
}
