//! Provisioning (ops role): stations, riders, app and ops tokens, and
//! signing keys, created and changed through the API so that no day-to-day
//! task needs SQL (`docs/OPERATIONS.md`, "Provisioning"). The statements
//! are `gasline_store::directory` and `gasline_store::keys`; here each
//! route parses, checks, writes in one batch and answers the record as it
//! stands after the write.
//!
//! A token's secret is in the answer that issues it and nowhere else: the
//! store keeps its SM3 hash only.

use gasline_core::Millis;
use gasline_core::config::Config;
use gasline_core::matching::RiderStatus;
use gasline_core::signature::SignerPublicKey;
use gasline_core::types::{RiderId, StationId};
use gasline_http::{Problem, Request, Response, authenticate, json, read_json, read_optional_json, read_query};
use gasline_ports::{Ports, SqlStore as _, Statement, StoreError};
use gasline_store::directory::{self, Page};
use gasline_store::keys::{self, KeyRecord, KeyState};
use gasline_store::tokens::{self, Principal, Role};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

use crate::bodies::{
    ClientRole, DeviceToken, KeyRetirement, NewKey, NewRider, NewStation, NewToken, Paging, Revocation, RiderChange,
    RiderListing, StationChange, Suspension, TokenListing,
};

/// A listing page when the query names no `limit`.
const DEFAULT_PAGE: u32 = 100;

async fn ops(ports: &impl Ports, request: &Request) -> Result<Principal, Problem> {
    authenticate(ports, request, &[Role::Ops]).await
}

async fn config(ports: &impl Ports) -> Result<Config, Problem> {
    gasline_store::config(ports).await.map_err(|_| Problem::unavailable())
}

fn unavailable(_: StoreError) -> Problem {
    Problem::unavailable()
}

/// Runs a batch whose guard fails when the row it changes is not in the
/// state the route needs: that is `conflict`.
async fn write(
    ports: &impl Ports,
    statements: Vec<Statement>,
    conflict: impl FnOnce() -> Problem,
) -> Result<(), Problem> {
    match ports.sql().batch(statements).await {
        Ok(()) => Ok(()),
        Err(StoreError::Conflict(_)) => Err(conflict()),
        Err(_) => Err(Problem::unavailable()),
    }
}

fn created(location: &str, body: &impl Serialize) -> Response {
    let mut response = json(StatusCode::CREATED, body);
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

fn page<T: Serialize>(name: &str, page: Page<T>) -> Response {
    let mut body = serde_json::Map::new();
    body.insert(name.to_owned(), serde_json::json!(page.items));
    body.insert("next".to_owned(), serde_json::json!(page.next));
    json(StatusCode::OK, &body)
}

/// In a deployment split into cells, a station's or rider's id names its
/// cell (`hz_st-…`), which is how the router finds it: an id of another
/// cell, or of none, would be unreachable here.
fn in_this_cell(config: &Config, id: &str) -> Result<(), Problem> {
    match &config.cell {
        Some(cell) if !id.starts_with(&cell.qualify("")) => Err(Problem::invalid(format!(
            "id: this is cell {cell}, whose ids start with {:?}",
            cell.qualify("")
        ))),
        _ => Ok(()),
    }
}

/// A point in time from a body: not before `now` where only the future
/// makes sense (an expiry).
fn not_past(at: Option<Millis>, now: Millis, field: &str) -> Result<Option<Millis>, Problem> {
    match at {
        Some(at) if at < now => Err(Problem::invalid(format!("{field}: must not be in the past"))),
        at => Ok(at),
    }
}

/// Issues a token for `role`/`subject` in one batch with `more`, and the
/// answer that carries its secret.
async fn issue(
    ports: &impl Ports,
    role: Role,
    subject: &str,
    expires_at: Option<Millis>,
    mut more: Vec<Statement>,
    conflict: impl FnOnce() -> Problem,
) -> Result<serde_json::Value, Problem> {
    let now = ports.now();
    let token_id = tokens::new_token_id(&ports.new_id());
    let secret = ports.new_secret();
    more.push(tokens::issue(&token_id, &secret, role, subject, now, expires_at));
    write(ports, more, conflict).await?;
    Ok(serde_json::json!({
        "token_id": token_id,
        "token": format!("{token_id}.{secret}"),
        "role": role.as_str(),
        "subject": subject,
        "created_at": now,
        "expires_at": expires_at,
    }))
}

// --- stations ------------------------------------------------------------------

fn station_id(id: &str) -> Result<StationId, Problem> {
    StationId::parse(id).map_err(|_| Problem::not_found("station"))
}

async fn station_record(ports: &impl Ports, id: &StationId) -> Result<directory::StationRecord, Problem> {
    directory::station(ports.sql(), id)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| Problem::not_found("station"))
}

async fn station_answer(ports: &impl Ports, id: &StationId) -> Result<Response, Problem> {
    Ok(json(StatusCode::OK, &station_record(ports, id).await?))
}

/// A write to a station that must exist and not be retired: the conflict
/// says which it was.
async fn station_write(ports: &impl Ports, id: &StationId, statements: Vec<Statement>) -> Result<Response, Problem> {
    if let Err(problem) = write(ports, statements, || Problem::conflict("the station is retired")).await {
        station_record(ports, id).await?;
        return Err(problem);
    }
    station_answer(ports, id).await
}

/// `POST /v1/ops/stations`: `201` with the station and its first device
/// token.
pub(crate) async fn create_station(request: &Request, ports: &impl Ports) -> Result<Response, Problem> {
    ops(ports, request).await?;
    let body: NewStation = read_json(request)?;
    in_this_cell(&config(ports).await?, body.id.as_str())?;
    let station = directory::NewStation {
        id: body.id,
        name: body.name,
        location: body.location,
        monitored: body.monitored,
        stock: body.stock,
    };
    let token = issue(
        ports,
        Role::Station,
        station.id.as_str(),
        None,
        directory::create_station(&station),
        || Problem::conflict(format!("station {} exists already", station.id)),
    )
    .await?;
    let record = station_record(ports, &station.id).await?;
    Ok(created(
        &format!("/v1/ops/stations/{}", station.id),
        &serde_json::json!({ "station": record, "device_token": token }),
    ))
}

/// `GET /v1/ops/stations?after=&limit=`: stations by id, with stock and holds.
pub(crate) async fn list_stations(request: &Request, ports: &impl Ports) -> Result<Response, Problem> {
    ops(ports, request).await?;
    let query: Paging = read_query(request)?;
    let found = directory::stations(
        ports.sql(),
        query.after.as_deref().unwrap_or_default(),
        query.limit.unwrap_or(DEFAULT_PAGE),
    )
    .await
    .map_err(unavailable)?;
    Ok(page("stations", found))
}

/// `GET /v1/ops/stations/{id}`.
pub(crate) async fn get_station(request: &Request, id: &str, ports: &impl Ports) -> Result<Response, Problem> {
    ops(ports, request).await?;
    station_answer(ports, &station_id(id)?).await
}

/// `PATCH /v1/ops/stations/{id}`: name, location, monitored flag. Stock
/// comes from the station's own telemetry, never from here.
pub(crate) async fn update_station(request: &Request, id: &str, ports: &impl Ports) -> Result<Response, Problem> {
    ops(ports, request).await?;
    let id = station_id(id)?;
    let body: StationChange = read_json(request)?;
    if body.name.is_none() && body.location.is_none() && body.monitored.is_none() {
        return Err(Problem::invalid("nothing to change: give name, location or monitored"));
    }
    let change = directory::StationChange {
        name: body.name,
        location: body.location,
        monitored: body.monitored,
    };
    station_write(ports, &id, directory::update_station(&id, &change)).await
}

/// `POST /v1/ops/stations/{id}/suspend` `{"reason"}`: no new order is
/// sourced there until it is resumed; orders holding stock there go on.
pub(crate) async fn suspend_station(request: &Request, id: &str, ports: &impl Ports) -> Result<Response, Problem> {
    ops(ports, request).await?;
    let id = station_id(id)?;
    let body: Suspension = read_json(request)?;
    station_write(ports, &id, directory::hold_station(&id, Some(&body.reason))).await
}

/// `POST /v1/ops/stations/{id}/resume`: lifts the operator's hold (a
/// sensor hold stays until the sensors clear it).
pub(crate) async fn resume_station(request: &Request, id: &str, ports: &impl Ports) -> Result<Response, Problem> {
    ops(ports, request).await?;
    let id = station_id(id)?;
    station_write(ports, &id, directory::hold_station(&id, None)).await
}

/// `POST /v1/ops/stations/{id}/retire`: for good; its device tokens stop
/// working at once.
pub(crate) async fn retire_station(request: &Request, id: &str, ports: &impl Ports) -> Result<Response, Problem> {
    ops(ports, request).await?;
    let id = station_id(id)?;
    station_write(ports, &id, directory::retire_station(&id, ports.now())).await
}

/// `POST /v1/ops/stations/{id}/tokens`: `201` with a new device token (the
/// device's others keep working until revoked: a rotation).
pub(crate) async fn issue_station_token(request: &Request, id: &str, ports: &impl Ports) -> Result<Response, Problem> {
    ops(ports, request).await?;
    let id = station_id(id)?;
    let body: DeviceToken = read_optional_json(request)?;
    let expires_at = not_past(body.expires_at, ports.now(), "expires_at")?;
    let record = station_record(ports, &id).await?;
    if record.retired_at.is_some() {
        return Err(Problem::conflict("the station is retired"));
    }
    let token = issue(ports, Role::Station, id.as_str(), expires_at, Vec::new(), || {
        Problem::conflict("the token id is taken; retry")
    })
    .await?;
    Ok(created("/v1/ops/tokens", &token))
}

// --- riders --------------------------------------------------------------------

fn rider_id(id: &str) -> Result<RiderId, Problem> {
    RiderId::parse(id).map_err(|_| Problem::not_found("rider"))
}

async fn rider_record(ports: &impl Ports, id: &RiderId) -> Result<directory::RiderRecord, Problem> {
    directory::rider(ports.sql(), id)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| Problem::not_found("rider"))
}

async fn rider_write(
    ports: &impl Ports,
    id: &RiderId,
    statements: Vec<Statement>,
    conflict: &str,
) -> Result<Response, Problem> {
    if let Err(problem) = write(ports, statements, || Problem::conflict(conflict)).await {
        rider_record(ports, id).await?;
        return Err(problem);
    }
    Ok(json(StatusCode::OK, &rider_record(ports, id).await?))
}

/// `POST /v1/ops/riders` `{"id", "name"}`: `201` with the rider (off duty
/// until its first report that it is available) and its token.
pub(crate) async fn create_rider(request: &Request, ports: &impl Ports) -> Result<Response, Problem> {
    ops(ports, request).await?;
    let body: NewRider = read_json(request)?;
    in_this_cell(&config(ports).await?, body.id.as_str())?;
    let token = issue(
        ports,
        Role::Rider,
        body.id.as_str(),
        None,
        vec![directory::create_rider(&body.id, &body.name)],
        || Problem::conflict(format!("rider {} exists already", body.id)),
    )
    .await?;
    let record = rider_record(ports, &body.id).await?;
    Ok(created(
        &format!("/v1/ops/riders/{}", body.id),
        &serde_json::json!({ "rider": record, "token": token }),
    ))
}

/// `GET /v1/ops/riders?status=&after=&limit=`.
pub(crate) async fn list_riders(request: &Request, ports: &impl Ports) -> Result<Response, Problem> {
    ops(ports, request).await?;
    let query: RiderListing = read_query(request)?;
    let status = query
        .status
        .as_deref()
        .map(|s| {
            RiderStatus::parse(s).ok_or_else(|| Problem::bad_request("status: one of available, assigned, offline"))
        })
        .transpose()?;
    let found = directory::riders(
        ports.sql(),
        status,
        query.after.as_deref().unwrap_or_default(),
        query.limit.unwrap_or(DEFAULT_PAGE),
    )
    .await
    .map_err(unavailable)?;
    Ok(page("riders", found))
}

/// `GET /v1/ops/riders/{id}`.
pub(crate) async fn get_rider(request: &Request, id: &str, ports: &impl Ports) -> Result<Response, Problem> {
    ops(ports, request).await?;
    Ok(json(StatusCode::OK, &rider_record(ports, &rider_id(id)?).await?))
}

/// `PATCH /v1/ops/riders/{id}` `{"name"}` (waybills signed from now on
/// carry it).
pub(crate) async fn update_rider(request: &Request, id: &str, ports: &impl Ports) -> Result<Response, Problem> {
    ops(ports, request).await?;
    let id = rider_id(id)?;
    let body: RiderChange = read_json(request)?;
    rider_write(
        ports,
        &id,
        directory::update_rider(&id, &body.name),
        "the rider is retired",
    )
    .await
}

/// `POST /v1/ops/riders/{id}/suspend` `{"reason"}`: no new order; an order
/// the rider is on stays with it (reassign it to take it away).
pub(crate) async fn suspend_rider(request: &Request, id: &str, ports: &impl Ports) -> Result<Response, Problem> {
    ops(ports, request).await?;
    let id = rider_id(id)?;
    let body: Suspension = read_json(request)?;
    rider_write(
        ports,
        &id,
        directory::hold_rider(&id, Some(&body.reason)),
        "the rider is retired",
    )
    .await
}

/// `POST /v1/ops/riders/{id}/resume`: lifts the hold; the rider is off duty
/// until it reports that it is available.
pub(crate) async fn resume_rider(request: &Request, id: &str, ports: &impl Ports) -> Result<Response, Problem> {
    ops(ports, request).await?;
    let id = rider_id(id)?;
    rider_write(ports, &id, directory::hold_rider(&id, None), "the rider is retired").await
}

/// `POST /v1/ops/riders/{id}/retire`: for good, only while on no order;
/// its tokens stop working at once.
pub(crate) async fn retire_rider(request: &Request, id: &str, ports: &impl Ports) -> Result<Response, Problem> {
    ops(ports, request).await?;
    let id = rider_id(id)?;
    rider_write(
        ports,
        &id,
        directory::retire_rider(&id, ports.now()),
        "the rider is on an order: reassign or cancel it first",
    )
    .await
}

/// `POST /v1/ops/riders/{id}/tokens`: `201` with a new rider token.
pub(crate) async fn issue_rider_token(request: &Request, id: &str, ports: &impl Ports) -> Result<Response, Problem> {
    ops(ports, request).await?;
    let id = rider_id(id)?;
    let body: DeviceToken = read_optional_json(request)?;
    let expires_at = not_past(body.expires_at, ports.now(), "expires_at")?;
    if rider_record(ports, &id).await?.retired_at.is_some() {
        return Err(Problem::conflict("the rider is retired"));
    }
    let token = issue(ports, Role::Rider, id.as_str(), expires_at, Vec::new(), || {
        Problem::conflict("the token id is taken; retry")
    })
    .await?;
    Ok(created("/v1/ops/tokens", &token))
}

// --- tokens --------------------------------------------------------------------

/// `POST /v1/ops/tokens` `{"role": "app"|"ops", "subject", "expires_at"?}`:
/// `201` with the token. Rider and station tokens come from their own
/// routes, which check that the rider or station exists.
pub(crate) async fn issue_token(request: &Request, ports: &impl Ports) -> Result<Response, Problem> {
    ops(ports, request).await?;
    let body: NewToken = read_json(request)?;
    let expires_at = not_past(body.expires_at, ports.now(), "expires_at")?;
    let role = match body.role {
        ClientRole::App => Role::App,
        ClientRole::Ops => Role::Ops,
    };
    let token = issue(ports, role, body.subject.as_str(), expires_at, Vec::new(), || {
        Problem::conflict("the token id is taken; retry")
    })
    .await?;
    Ok(created("/v1/ops/tokens", &token))
}

/// `GET /v1/ops/tokens?role=&subject=&after=&limit=`: ids, roles, subjects
/// and times; never a secret.
pub(crate) async fn list_tokens(request: &Request, ports: &impl Ports) -> Result<Response, Problem> {
    ops(ports, request).await?;
    let query: TokenListing = read_query(request)?;
    let role = query
        .role
        .as_deref()
        .map(|r| Role::parse(r).ok_or_else(|| Problem::bad_request("role: one of app, rider, station, ops")))
        .transpose()?;
    let found = directory::tokens(
        ports.sql(),
        role,
        query.subject.as_deref(),
        query.after.as_deref().unwrap_or_default(),
        query.limit.unwrap_or(DEFAULT_PAGE),
    )
    .await
    .map_err(unavailable)?;
    Ok(page("tokens", found))
}

/// `POST /v1/ops/tokens/{id}/revoke` `{"at"?}`: the token stops working at
/// `at` (now by default; an earlier expiry stays). The token making the
/// request cannot revoke itself, so that the last ops token is not lost by
/// a slip: revoke it with another.
pub(crate) async fn revoke_token(request: &Request, id: &str, ports: &impl Ports) -> Result<Response, Problem> {
    let principal = ops(ports, request).await?;
    let body: Revocation = read_optional_json(request)?;
    let now = ports.now();
    let at = body.at.unwrap_or(now).max(now);
    if principal.token_id == id {
        return Err(Problem::conflict("a token cannot revoke itself: use another ops token"));
    }
    directory::token(ports.sql(), id)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| Problem::not_found("token"))?;
    write(ports, vec![tokens::revoke(id, at)], || Problem::not_found("token")).await?;
    let record = directory::token(ports.sql(), id)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| Problem::not_found("token"))?;
    Ok(json(StatusCode::OK, &record))
}

// --- signing keys --------------------------------------------------------------

async fn key_record(ports: &impl Ports, id: &str) -> Result<KeyRecord, Problem> {
    crate::verify::key_records(ports)
        .await?
        .into_iter()
        .find(|k| k.key_id == id)
        .ok_or_else(|| Problem::not_found("key"))
}

/// `GET /v1/ops/keys`: every published key with its state and times.
pub(crate) async fn list_keys(request: &Request, ports: &impl Ports) -> Result<Response, Problem> {
    ops(ports, request).await?;
    let keys = crate::verify::key_records(ports).await?;
    Ok(json(StatusCode::OK, &serde_json::json!({ "keys": keys })))
}

/// `POST /v1/ops/keys` `{"public_key_pem"}`: publishes a key to verify
/// with (`201`; `200` with the key as it is when it is published already).
pub(crate) async fn add_key(request: &Request, ports: &impl Ports) -> Result<Response, Problem> {
    ops(ports, request).await?;
    let body: NewKey = read_json(request)?;
    let key = SignerPublicKey::from_spki_pem(body.public_key_pem.trim())
        .map_err(|e| Problem::invalid(format!("public_key_pem: {e}")))?;
    if let Ok(known) = key_record(ports, key.key_id()).await
        && known.source == "api"
    {
        return Ok(json(StatusCode::OK, &known));
    }
    let conflict = || Problem::conflict("the key was added meanwhile");
    write(ports, vec![keys::add(&key, ports.now())], conflict).await?;
    let record = key_record(ports, key.key_id()).await?;
    Ok(created("/v1/ops/keys", &record))
}

/// `POST /v1/ops/keys/{id}/promote`: new waybills are signed with this key
/// from the next event on, if the signing function's `signing_key` secret
/// holds its private half (else it goes on with the first held key in
/// service); the key that signed before becomes a verify key.
pub(crate) async fn promote_key(request: &Request, id: &str, ports: &impl Ports) -> Result<Response, Problem> {
    ops(ports, request).await?;
    let key = key_record(ports, id).await?;
    if key.state == KeyState::Retired {
        return Err(Problem::conflict("a retired key cannot sign again"));
    }
    write(ports, keys::promote(&key, ports.now()), || {
        Problem::conflict("a retired key cannot sign again")
    })
    .await?;
    Ok(json(StatusCode::OK, &key_record(ports, id).await?))
}

/// `POST /v1/ops/keys/{id}/retire` `{"valid_until"?}`: what the key signed
/// before `valid_until` (now by default) still verifies, nothing after.
/// Not the signing key: promote another first.
pub(crate) async fn retire_key(request: &Request, id: &str, ports: &impl Ports) -> Result<Response, Problem> {
    ops(ports, request).await?;
    let body: KeyRetirement = read_optional_json(request)?;
    let now = ports.now();
    let key = key_record(ports, id).await?;
    let signing = || Problem::conflict("this is the signing key: promote another key first");
    if key.state == KeyState::Signing {
        return Err(signing());
    }
    write(ports, keys::retire(&key, body.valid_until.unwrap_or(now), now), signing).await?;
    Ok(json(StatusCode::OK, &key_record(ports, id).await?))
}
