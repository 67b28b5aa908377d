//! Order status for the app, the rider and ops, the signed waybill, and the
//! rider's progress commands (accept, decline, pickup, deliver).

use gasline_core::order::Input;

use crate::bodies::Pickup;
use gasline_core::sla::STEPS;
use gasline_http::{
    CommandFacts, Problem, Request, Response, authenticate, change_order, json, read_json, read_optional_json,
    visible_order,
};
use gasline_ports::Ports;
use gasline_store::order;
use gasline_store::tokens::Role;
use gasline_store::waybills;
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
        "due_by": order.due_by,
        "overdue": order.due_by.is_some_and(|due| due < ports.now()),
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
    response.headers_mut().insert(
        "gasline-waybill-status",
        HeaderValue::from_static(stored.status.as_str()),
    );
    Ok(response)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

/// A rider command without a body (empty or `{}`): who may send it, and
/// what it is, are the same for each.
async fn rider_command(
    request: &Request,
    id: &str,
    ports: &impl Ports,
    input: fn(&str) -> Input<'_>,
) -> Result<Response, Problem> {
    let principal = authenticate(ports, request, &[Role::Rider]).await?;
    let _: Empty = read_optional_json(request)?;
    change_order(ports, &principal, id, input(&principal.subject), CommandFacts::None).await
}

/// `POST /v1/orders/{id}/accept`: the assigned rider takes the task.
pub(crate) async fn accept(request: &Request, id: &str, ports: &impl Ports) -> Result<Response, Problem> {
    rider_command(request, id, ports, |rider| Input::Accept { rider }).await
}

/// `POST /v1/orders/{id}/decline`: the rider on the order turns it down
/// before loading; matching finds the next rider, the stock stays locked.
pub(crate) async fn decline(request: &Request, id: &str, ports: &impl Ports) -> Result<Response, Problem> {
    rider_command(request, id, ports, |rider| Input::Decline { rider }).await
}

/// `POST /v1/orders/{id}/pickup`: the rider loaded the cylinders; their
/// trace codes must match the order's items exactly (the core's
/// [`gasline_core::order::check_pickup`]). Settles the stock — unless the
/// night rule forbids loading at the order's station now, in which case
/// the order is rejected (`night_safety`) and everything undone.
pub(crate) async fn pickup(request: &Request, id: &str, ports: &impl Ports) -> Result<Response, Problem> {
    let principal = authenticate(ports, request, &[Role::Rider]).await?;
    let body: Pickup = read_json(request)?;
    let input = Input::Pickup {
        rider: &principal.subject,
        cylinders: &body.cylinders,
    };
    change_order(ports, &principal, id, input, CommandFacts::Station).await
}

/// `POST /v1/orders/{id}/deliver`: handed over; the rider is free again.
pub(crate) async fn deliver(request: &Request, id: &str, ports: &impl Ports) -> Result<Response, Problem> {
    rider_command(request, id, ports, |rider| Input::Deliver { rider }).await
}
