//! # gasline-signing
//!
//! Consumes `rider.assigned`: builds the e-waybill, signs its canonical bytes
//! with SM2/SM3, stores it, puts it in the rider's inbox and emits
//! `waybill.signed` — one atomic batch. If the key is missing or unusable the
//! order fails and everything done so far is compensated. Also consumes
//! `waybill.voided` and signs the void record, so a voided waybill carries
//! proof that it was withdrawn.
//!
//! The private key comes only from the `signing_key` secret (PKCS#8 PEM);
//! `signer_id` optionally overrides the SM2 distinguishing id.

// The Spin SDK's export macros expand to `unsafe` glue (the component ABI).
#[cfg(target_os = "wasi")]
#[allow(unsafe_code)]
mod spin;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod workers;

use std::sync::{Arc, Mutex};

use gasline_core::event::{Consumer, Envelope, EventType};
use gasline_core::order::{Decision, Facts, Input, Order, Stamp, VoidedWaybill, decide, sign_void_record};
use gasline_core::signature::{DEFAULT_SIGNER_ID, WaybillSigner};
use gasline_core::waybill::WaybillStatus;
use gasline_ports::{Ports, Row, SqlStore as _, Statement, StoreError};
use gasline_store::consume::{self, Outcome};
use gasline_store::keys::{self, KeyRecord, KeyState};
use gasline_store::{riders, stations, waybills};

/// Handles one queue message.
pub async fn on_message(body: &[u8], ports: &impl Ports) -> Outcome {
    consume::run(ports, Consumer::Signing, body, reads, decide_one).await
}

/// Handles a queue batch: one read for every order of it with its station,
/// rider or waybill, one signature each, one atomic write for all of them
/// (`consume::run_batch`).
pub async fn on_batch(bodies: &[Vec<u8>], ports: &impl Ports) -> Vec<Outcome> {
    consume::run_batch(ports, Consumer::Signing, bodies, reads, decide_one).await
}

async fn decide_one(
    ports: &impl Ports,
    event: &Envelope,
    order: &Order,
    rows: &[Vec<Row>],
) -> Result<Decision, StoreError> {
    match event.kind {
        EventType::RiderAssigned => sign_waybill(ports, order, event, rows).await,
        _ => sign_void(ports, order, rows).await,
    }
}

/// What to read with the order, from the ids the event carries:
/// `rider.assigned` names the station and the rider (read as `[station,
/// rider, key table]`), `waybill.voided` the waybill (`[waybill, key
/// table]`). The key table is a few rows: reading it with the order costs
/// no round trip, and a promotion counts from the next event on.
fn reads(event: &Envelope) -> Vec<Statement> {
    let p = &event.payload;
    match (event.kind, &p.station_id, &p.rider_id, &p.waybill_id) {
        (EventType::RiderAssigned, Some(station), Some(rider), _) => vec![
            stations::candidate_statement(station),
            riders::candidate_statement(rider),
            keys::table_statement(),
        ],
        (EventType::WaybillVoided, _, _, Some(waybill)) => {
            vec![waybills::by_id_statement(waybill), keys::table_statement()]
        }
        _ => Vec::new(),
    }
}

/// The keys of the `signing_key` secret (several while a key is rotated).
/// Parsing a key and building its tables is not free, so the last set is
/// kept while the secret stays the same.
async fn held_keys(ports: &impl Ports) -> Result<Arc<[WaybillSigner]>, String> {
    static CACHE: Mutex<Option<(String, Arc<[WaybillSigner]>)>> = Mutex::new(None);
    let pem = ports
        .variable("signing_key")
        .await
        .ok_or("the signing_key secret is not set")?;
    let signer_id = ports
        .variable("signer_id")
        .await
        .unwrap_or_else(|| DEFAULT_SIGNER_ID.to_owned());
    let cache_key = format!("{signer_id}\n{pem}");
    if let Some((_, held)) = CACHE
        .lock()
        .map_err(|_| "signer cache poisoned")?
        .as_ref()
        .filter(|(key, _)| *key == cache_key)
    {
        return Ok(held.clone());
    }
    let held: Arc<[WaybillSigner]> = WaybillSigner::all_from_pem(&pem)
        .and_then(|keys| {
            keys.into_iter()
                .map(|s| s.with_signer_id(&signer_id))
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(|e| format!("the signing key is unusable: {e}"))?
        .into();
    *CACHE.lock().map_err(|_| "signer cache poisoned")? = Some((cache_key, held.clone()));
    Ok(held)
}

/// The key to sign with now, of those the secret holds: the one the
/// operators promoted (`gasline_store::keys`), else the first that is not
/// retired. `table` is the key table, read with the order.
async fn signer(ports: &impl Ports, table: Option<&[Row]>) -> Result<WaybillSigner, String> {
    let held = held_keys(ports).await?;
    let table = match table {
        Some(rows) => keys::records_from(rows),
        None => match ports.sql().query(keys::table_statement()).await {
            Ok(rows) => keys::records_from(&rows),
            Err(e) => Err(e),
        },
    }
    .map_err(|e| format!("the key table could not be read: {e}"))?;
    choose_signer(&held, &table, ports.now())
        .cloned()
        .ok_or_else(|| "every key of the signing_key secret is retired".to_owned())
}

/// [`signer`]'s choice. A promoted key the secret does not hold (promoted
/// before the secret was deployed) is passed over for the first held key
/// in service, so orders keep being signed under a published key.
fn choose_signer<'k>(held: &'k [WaybillSigner], table: &[KeyRecord], now: i64) -> Option<&'k WaybillSigner> {
    let record = |s: &WaybillSigner| table.iter().find(|r| r.key_id == s.key_id());
    let promoted = table.iter().find(|r| r.state == KeyState::Signing);
    let in_service = |s: &&WaybillSigner| {
        record(s).is_none_or(|r| r.state != KeyState::Retired || r.valid_until.is_some_and(|until| now < until))
    };
    promoted
        .and_then(|p| held.iter().find(|s| s.key_id() == p.key_id))
        .filter(in_service)
        .or_else(|| held.iter().find(in_service))
}

/// `rider.assigned`: the order's station and rider (read with the order
/// when the event named them, else now) and the signer; the core signs and
/// issues the waybill, or fails the order.
async fn sign_waybill(
    ports: &impl Ports,
    order: &Order,
    event: &Envelope,
    rows: &[Vec<Row>],
) -> Result<Decision, StoreError> {
    if !order.is_live(event) {
        return Ok(Decision::stale(order, ports.now()));
    }
    let config = gasline_store::config(ports).await.map_err(StoreError::Backend)?;
    let (mut stations, mut riders) = (Vec::new(), Vec::new());
    let mut table = None;
    if let [station_rows, rider_rows, key_rows] = rows {
        table = Some(key_rows.as_slice());
        stations = stations::candidates_from_rows(station_rows)?;
        riders = rider_rows
            .iter()
            .map(riders::candidate_from_row)
            .collect::<Result<_, _>>()?;
    }
    if let Some(id) = order
        .station_id
        .as_ref()
        .filter(|id| !stations.iter().any(|s| s.id == **id))
    {
        stations.extend(stations::candidate(ports.sql(), id).await?);
    }
    if let Some(id) = order
        .rider_id
        .as_ref()
        .filter(|id| !riders.iter().any(|r| r.id == **id))
    {
        riders.extend(riders::candidate(ports.sql(), id).await?);
    }
    let signer = signer(ports, table).await;
    let input = Input::Sign {
        event,
        signer: signer.as_ref().map_err(String::as_str),
    };
    let facts = Facts {
        stations: &stations,
        riders: &riders,
        ..Facts::none()
    };
    let id = ports.new_id();
    let stamp = Stamp {
        now: ports.now(),
        id: &id,
        actor: None,
    };
    Ok(decide(order, input, &facts, &stamp, &config).unwrap_or_else(|_| Decision::stale(order, ports.now())))
}

/// `waybill.voided`: sign the void record of a waybill that was withdrawn.
async fn sign_void(ports: &impl Ports, order: &Order, rows: &[Vec<Row>]) -> Result<Decision, StoreError> {
    let stored = match rows.first() {
        Some(rows) => waybills::first_of(rows)?,
        None => None,
    };
    let Some(stored) = stored
        .filter(|w| w.status == WaybillStatus::Void && w.void_record.is_none() && w.order_id == order.id.as_str())
    else {
        return Ok(Decision::stale(order, ports.now()));
    };
    // A key that is missing now may be configured later: retry.
    let signer = signer(ports, rows.get(1).map(Vec::as_slice))
        .await
        .map_err(StoreError::Unavailable)?;
    let voided = VoidedWaybill {
        id: stored.id,
        reason: stored.void_reason.unwrap_or_default(),
        voided_at: stored.voided_at,
    };
    Ok(sign_void_record(order, &voided, &signer, ports.now()))
}
