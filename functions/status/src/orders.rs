//! Order status for the app, the rider and ops, the signed waybill, and the
//! rider's progress commands (accept, pickup, deliver).

use gasline_core::event::{EventType, Payload};
use gasline_core::sla::STEPS;
use gasline_core::state::OrderEvent;
use gasline_core::types::{CylinderSpec, TraceCode};
use gasline_http::{
    Problem, Request, Response, authenticate, change_order, json, read_json, read_optional_json, visible_order,
};
use gasline_ports::{Ports, sql};
use gasline_store::order::{self, Change};
use gasline_store::tokens::{Principal, Role};
use gasline_store::{riders, stations, waybills};
use http::{HeaderValue, StatusCode};
use serde::Deserialize;

/// `GET /v1/orders/{id}`.
pub(crate) async fn status(request: &Request, id: &str, ports: &impl Ports) -> Result<Response, Problem> {
    let principal = authenticate(ports, request, &[Role::App, Role::Rider, Role::Ops]).await?;
    let order = visible_order(ports, &principal, id).await?;
    let timeline = order::timeline(ports.sql(), id)
        .await
        .map_err(|_| Problem::unavailable())?;
    let first = |state: &str| timeline.iter().find(|t| t.state == state).map(|t| t.at);
    let sla: serde_json::Map<String, serde_json::Value> = STEPS
        .iter()
        .map(|(step, target)| {
            let elapsed = first(step).map(|at| at - order.created_at);
            let value = serde_json::json!({
                "target_ms": target,
                "elapsed_ms": elapsed,
                "met": elapsed.map(|e| e <= *target),
            });
            ((*step).to_owned(), value)
        })
        .collect();
    let body = serde_json::json!({
        "id": order.id,
        "state": order.state,
        "version": order.version,
        "reason": order.reason,
        "customer": {
            "name": order.customer.name,
            "phone": order.customer.phone.masked(),
            "address": order.customer.address,
            "location": order.customer.location,
        },
        "items": order.items,
        "note": order.note,
        "station_id": order.station_id,
        "rider_id": order.rider_id,
        "waybill_id": order.waybill_id,
        "accept_deadline": order.accept_deadline,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "traceparent": order.traceparent,
        "timeline": timeline,
        "sla": sla,
    });
    Ok(json(StatusCode::OK, &body))
}

/// `GET /v1/orders/{id}/waybill`: the signed waybill exactly as issued (the
/// body verifies as is); `Gasline-Waybill-Status` says `issued` or `void`.
pub(crate) async fn waybill(request: &Request, id: &str, ports: &impl Ports) -> Result<Response, Problem> {
    let principal = authenticate(ports, request, &[Role::App, Role::Rider, Role::Ops]).await?;
    let order = visible_order(ports, &principal, id).await?;
    let stored = waybills::latest_for_order(ports.sql(), order.id.as_str())
        .await
        .map_err(|_| Problem::unavailable())?
        .ok_or_else(|| Problem::not_found("waybill (not signed yet)"))?;
    let mut response = http::Response::new(stored.document.into_bytes());
    response
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let status = if stored.status == "void" { "void" } else { "issued" };
    response
        .headers_mut()
        .insert("gasline-waybill-status", HeaderValue::from_static(status));
    Ok(response)
}

/// Applies a rider's progress step to the rider's own order, with `extra`
/// adding effects; retries a few times if the order changes underneath.
async fn progress<P: Ports>(
    principal: &Principal,
    id: &str,
    ports: &P,
    event: OrderEvent,
    announce: EventType,
    mut extra: impl FnMut(&mut Change),
) -> Result<Response, Problem> {
    change_order(ports, principal, id, |order, change| {
        change
            .transition(event, Some(&principal.subject))
            .map_err(|_| Problem::conflict(format!("the order is {}", order.state.as_str())))?;
        extra(change);
        let payload = Payload {
            rider_id: order.rider_id.clone(),
            ..Payload::default()
        };
        change.emit(ports.new_id(), announce, payload, 0);
        Ok(true)
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

/// `POST /v1/orders/{id}/accept`: the assigned rider takes the task.
pub(crate) async fn accept(request: &Request, id: &str, ports: &impl Ports) -> Result<Response, Problem> {
    let principal = authenticate(ports, request, &[Role::Rider]).await?;
    let _: Empty = read_optional_json(request, 1024)?;
    progress(
        &principal,
        id,
        ports,
        OrderEvent::RiderAccepted,
        EventType::OrderAccepted,
        |c| {
            c.order.accept_deadline = None;
        },
    )
    .await
}

/// One cylinder loaded at pickup.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cylinder {
    spec: CylinderSpec,
    trace_code: TraceCode,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pickup {
    cylinders: Vec<Cylinder>,
}

/// `POST /v1/orders/{id}/pickup`: the rider loaded the cylinders; their
/// trace codes must match the order's items exactly. Settles the stock.
pub(crate) async fn pickup(request: &Request, id: &str, ports: &impl Ports) -> Result<Response, Problem> {
    let principal = authenticate(ports, request, &[Role::Rider]).await?;
    let config = gasline_store::config(ports).await.map_err(|_| Problem::unavailable())?;
    let body: Pickup = read_json(request, config.max_body_bytes)?;
    let mut codes: Vec<&str> = body.cylinders.iter().map(|c| c.trace_code.as_str()).collect();
    codes.sort_unstable();
    if codes.windows(2).any(|w| w[0] == w[1]) {
        return Err(Problem::invalid("cylinders: each trace code may appear once"));
    }
    let order = visible_order(ports, &principal, id).await?;
    for item in order.items.as_slice() {
        let n = body.cylinders.iter().filter(|c| c.spec == item.spec).count();
        if u32::try_from(n).ok() != Some(item.quantity.get()) {
            return Err(Problem::invalid(format!(
                "cylinders: the order has {} × {}, the pickup lists {n}",
                item.quantity.get(),
                item.spec
            )));
        }
    }
    if body.cylinders.len() != usize::try_from(order.items.total_cylinders()).unwrap_or(0) {
        return Err(Problem::invalid(
            "cylinders: the pickup lists specs the order does not have",
        ));
    }
    let now = ports.now();
    progress(
        &principal,
        id,
        ports,
        OrderEvent::PickedUp,
        EventType::OrderPickedUp,
        |c| {
            let order_id = c.order.id.clone();
            c.effect(stations::settle_stock(&order_id));
            c.effect(body.cylinders.iter().map(|cyl| {
                sql!(
                    "INSERT INTO pickups (order_id, trace_code, spec, at) VALUES (?1, ?2, ?3, ?4)",
                    order_id.as_str(),
                    cyl.trace_code.as_str(),
                    cyl.spec.code(),
                    now
                )
            }));
        },
    )
    .await
}

/// `POST /v1/orders/{id}/deliver`: handed over; the rider is free again.
pub(crate) async fn deliver(request: &Request, id: &str, ports: &impl Ports) -> Result<Response, Problem> {
    let principal = authenticate(ports, request, &[Role::Rider]).await?;
    let _: Empty = read_optional_json(request, 1024)?;
    progress(
        &principal,
        id,
        ports,
        OrderEvent::Delivered,
        EventType::OrderDelivered,
        |c| {
            if let Some(rider) = c.order.rider_id.clone() {
                let order_id = c.order.id.clone();
                c.effect([riders::free_rider(&rider, &order_id)]);
            }
        },
    )
    .await
}
