//! # gasline-intake
//!
//! The front door: `POST /v1/orders` validates and authenticates a new order,
//! stores it under its idempotency key together with the `order.created`
//! event (one atomic batch, the transactional outbox), publishes the event and
//! answers `202 Accepted` with the status URL. `POST /v1/orders/{id}/cancel`
//! cancels an order before pickup and compensates everything done so far.
//!
//! Platform neutral: the Spin and Workers entrypoints translate requests and
//! build the ports; all logic is here.

// The Spin SDK's export macros expand to `unsafe` glue (the component ABI).
#[cfg(target_os = "wasi")]
#[allow(unsafe_code)]
mod spin;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod workers;

use gasline_core::geo::GeoPoint;
use gasline_core::order::{self as core_order, Customer, Input, Order, Stamp};
use gasline_core::types::{Address, CancelReason, Items, Note, OrderId, PersonName, Phone};
use gasline_http::log::RequestLog;
use gasline_http::{
    Call, CommandFacts, Endpoint, Problem, Request, Response, authenticate, change_order, json, misdirected, read_json,
    read_optional_json, respond,
};
use gasline_ports::{Ports, SqlStore, StoreError, sql};
use gasline_store::order;
use gasline_store::tokens::{Principal, Role, hash_secret};
use http::{StatusCode, header};
use serde::Deserialize;

/// The body of `POST /v1/orders`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    pub customer: NewCustomer,
    pub items: Items,
    #[serde(default)]
    pub note: Option<Note>,
}

/// The customer part of [`NewOrder`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCustomer {
    pub name: PersonName,
    pub phone: Phone,
    pub address: Address,
    pub location: GeoPoint,
}

/// The body of `POST /v1/orders/{id}/cancel` (optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    #[serde(default)]
    pub reason: Option<CancelReason>,
}

/// Serves one admitted request ([`gasline_http::admit`]) for intake.
pub async fn handle(call: Call, ports: &impl Ports) -> Response {
    let log = RequestLog::start(&call, ports);
    let result = match call.endpoint() {
        Endpoint::PlaceOrder => create_order(&call.request, log.traceparent(), ports).await,
        Endpoint::CancelOrder => cancel_order(&call.request, &call.id, ports).await,
        _ => Ok(misdirected(&call)),
    };
    let response = call.finish(respond(result));
    log.finish(ports, &response).await;
    response
}

fn idempotency_key(request: &Request) -> Result<String, Problem> {
    let value = request.headers().get("idempotency-key").ok_or_else(|| {
        Problem::bad_request("the Idempotency-Key header is required (a unique value per new order, reused on retries)")
    })?;
    let key = value
        .to_str()
        .map_err(|_| Problem::bad_request("Idempotency-Key must be printable ASCII"))?;
    let ok = (1..=128).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(key.to_owned())
    } else {
        Err(Problem::bad_request(
            "Idempotency-Key must be 1-128 printable ASCII characters",
        ))
    }
}

fn accepted(order: &Order) -> Response {
    let location = format!("/v1/orders/{}", order.id);
    let mut response = json(
        StatusCode::ACCEPTED,
        &serde_json::json!({ "id": order.id, "state": order.state, "status_url": location }),
    );
    if let Ok(v) = http::HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// An earlier request with the same key by the same client, if any.
async fn earlier_request(sql: &impl SqlStore, client: &str, key: &str) -> Result<Option<(String, String)>, StoreError> {
    let rows = sql
        .query(sql!(
            "SELECT request_hash, order_id FROM idempotency_keys WHERE client = ?1 AND key = ?2",
            client,
            key
        ))
        .await?;
    rows.first()
        .map(|r| Ok((r.text("request_hash")?, r.text("order_id")?)))
        .transpose()
}

async fn replay(
    ports: &impl Ports,
    principal: &Principal,
    key: &str,
    request_hash: &str,
) -> Result<Option<Response>, Problem> {
    let Some((stored_hash, order_id)) = earlier_request(ports.sql(), &principal.subject, key)
        .await
        .map_err(|_| Problem::unavailable())?
    else {
        return Ok(None);
    };
    if stored_hash != request_hash {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "Idempotency-Key reused",
            "this Idempotency-Key was used for a different request; use a new key for a new order",
        ));
    }
    let order = order::load(ports.sql(), &order_id)
        .await
        .map_err(|_| Problem::unavailable())?
        .ok_or_else(Problem::unavailable)?;
    Ok(Some(accepted(&order)))
}

/// `traceparent`: the request's (its own, or one made for it), which the
/// order and all its events carry.
async fn create_order(request: &Request, traceparent: &str, ports: &impl Ports) -> Result<Response, Problem> {
    // The desk takes orders by phone with its ops token (the ops console):
    // its token's subject is then the order's client.
    let principal = authenticate(ports, request, &[Role::App, Role::Ops]).await?;
    let config = gasline_store::config(ports).await.map_err(|_| Problem::unavailable())?;
    let key = idempotency_key(request)?;
    let body: NewOrder = read_json(request)?;
    let request_hash = hash_secret(&String::from_utf8_lossy(request.body()));
    // No lookup first: the key's row goes into the order's batch, and a
    // repeat of the key makes that batch fail as a conflict; only then is
    // the earlier request read (a retry is the rare case, the new order the
    // hot one).

    let now = ports.now();
    let id = OrderId::parse(config.order_id(&ports.new_id())).map_err(|_| Problem::unavailable())?;
    let new = core_order::NewOrder {
        client: principal.subject.clone(),
        customer: Customer {
            name: body.customer.name,
            phone: body.customer.phone,
            address: body.customer.address,
            location: body.customer.location,
        },
        items: body.items,
        note: body.note,
        traceparent: traceparent.to_owned(),
    };
    let nonce = ports.new_id();
    let actor = principal.actor();
    let stamp = Stamp {
        now,
        id: &nonce,
        actor: Some(&actor),
    };
    let decision = Order::place(new, id.clone(), &stamp);
    let key_row = sql!(
        "INSERT INTO idempotency_keys (client, key, request_hash, order_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        principal.subject.as_str(),
        key.as_str(),
        request_hash.as_str(),
        id.as_str(),
        now
    );
    match order::commit(ports, &decision, None, vec![key_row]).await {
        Ok(()) => {}
        // The key was used before (a retry), or raced in concurrently:
        // answer as for a replay.
        Err(StoreError::Conflict(_)) => {
            return replay(ports, &principal, &key, &request_hash)
                .await?
                .ok_or_else(Problem::unavailable);
        }
        Err(_) => return Err(Problem::unavailable()),
    }
    Ok(accepted(decision.order().expect("a placed order")))
}

async fn cancel_order(request: &Request, id: &str, ports: &impl Ports) -> Result<Response, Problem> {
    let principal = authenticate(ports, request, &[Role::App, Role::Ops]).await?;
    let body: CancelRequest = read_optional_json(request)?;
    let note = body.reason.map(Note::from);
    let input = Input::Cancel { note: note.as_ref() };
    change_order(ports, &principal, id, input, CommandFacts::None).await
}
