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

use gasline_core::Millis;
use gasline_core::error::Failure;
use gasline_core::event::{Consumer, Envelope, EventType, Payload};
use gasline_core::signature::{DEFAULT_SIGNER_ID, WaybillSigner};
use gasline_core::state::OrderEvent;
use gasline_core::time::rfc3339;
use gasline_core::waybill::{Consignee, FORMAT_V1, VOID_FORMAT_V1, VoidRecord, Waybill, WaybillRider, WaybillStation};
use gasline_ports::{Ports, StoreError};
use gasline_store::consume::{self, Outcome, Received};
use gasline_store::order::{Change, OrderRecord};
use gasline_store::{riders, saga, stations, waybills};

/// Handles one queue message.
pub async fn on_message(body: &[u8], ports: &impl Ports) -> Outcome {
    let (envelope, order) = match consume::receive(ports, Consumer::Signing, body).await {
        Received::Fresh(fresh) => *fresh,
        Received::Done(outcome) => return outcome,
    };
    let env = &envelope;
    match envelope.kind {
        EventType::RiderAssigned => {
            consume::decide_and_commit(ports, Consumer::Signing, env, order, async |p, o: &OrderRecord| {
                sign_waybill(p, o, env).await
            })
            .await
        }
        EventType::WaybillVoided => {
            consume::decide_and_commit(ports, Consumer::Signing, env, order, async |p, o: &OrderRecord| {
                sign_void_record(p, o, env).await
            })
            .await
        }
        _ => Outcome::Ack,
    }
}

/// The signer for the configured key. Parsing a key and building its tables
/// is not free, so the last one is kept while the secret stays the same.
async fn signer(ports: &impl Ports) -> Result<Arc<WaybillSigner>, String> {
    static CACHE: Mutex<Option<(String, Arc<WaybillSigner>)>> = Mutex::new(None);
    let pem = ports
        .variable("signing_key")
        .await
        .ok_or("the signing_key secret is not set")?;
    let signer_id = ports
        .variable("signer_id")
        .await
        .unwrap_or_else(|| DEFAULT_SIGNER_ID.to_owned());
    let cache_key = format!("{signer_id}\n{pem}");
    if let Some((_, signer)) = CACHE
        .lock()
        .map_err(|_| "signer cache poisoned")?
        .as_ref()
        .filter(|(key, _)| *key == cache_key)
    {
        return Ok(signer.clone());
    }
    let signer = WaybillSigner::from_private_key_pem(&pem)
        .and_then(|s| s.with_signer_id(&signer_id))
        .map_err(|e| format!("the signing key is unusable: {e}"))?;
    let signer = Arc::new(signer);
    *CACHE.lock().map_err(|_| "signer cache poisoned")? = Some((cache_key, signer.clone()));
    Ok(signer)
}

fn store_failure(e: StoreError) -> Failure {
    Failure::Retryable(e.to_string())
}

/// Builds the waybill for the order's current assignment.
async fn build_waybill(
    ports: &impl Ports,
    order: &OrderRecord,
    waybill_id: String,
    now: Millis,
) -> Result<Waybill, Failure> {
    let station_id = order
        .station_id
        .as_ref()
        .ok_or_else(|| Failure::Terminal("no station".into()))?;
    let rider_id = order
        .rider_id
        .as_ref()
        .ok_or_else(|| Failure::Terminal("no rider".into()))?;
    let station = stations::info(ports.sql(), station_id)
        .await
        .map_err(store_failure)?
        .ok_or_else(|| Failure::Terminal(format!("station {station_id} is gone")))?;
    let rider = riders::info(ports.sql(), rider_id)
        .await
        .map_err(store_failure)?
        .ok_or_else(|| Failure::Terminal(format!("rider {rider_id} is gone")))?;
    Ok(Waybill {
        format: FORMAT_V1.to_owned(),
        waybill_id,
        order_id: order.id.clone(),
        issued_at: rfc3339(now),
        accept_by: rfc3339(order.accept_deadline.unwrap_or(now)),
        station: WaybillStation {
            id: station.id,
            name: station.name,
            location: station.location,
        },
        rider: WaybillRider {
            id: rider.id,
            name: rider.name,
        },
        consignee: Consignee {
            name: order.customer.name.clone(),
            phone: order.customer.phone.clone(),
            address: order.customer.address.clone(),
            location: order.customer.location,
        },
        items: order.items.clone(),
        note: order.note.clone(),
    })
}

/// `rider.assigned`: sign and deliver the waybill, or fail and compensate.
async fn sign_waybill(ports: &impl Ports, order: &OrderRecord, envelope: &Envelope) -> Result<Option<Change>, Failure> {
    // Only the latest assignment of an order still waiting for its waybill.
    if !consume::still_live(envelope, order) {
        return Ok(None);
    }
    let now = ports.now();
    let mut change = Change::new(order, now);
    let mut new_id = || ports.new_id();
    let signer = match signer(ports).await {
        Ok(s) => s,
        Err(why) => {
            // No usable key will appear by retrying: compensate now.
            saga::close(&mut change, OrderEvent::Failed, "signing_failed", &mut new_id)
                .map_err(|e| Failure::Terminal(format!("{e:?}")))?;
            change.processed(Consumer::Signing, &envelope.id, &format!("failed: {why}"));
            return Ok(Some(change));
        }
    };
    let waybill_id = format!("wb-{}", new_id());
    let waybill = build_waybill(ports, order, waybill_id.clone(), now).await?;
    let signed = signer.sign_waybill(&waybill);
    let document = serde_json::to_string(&signed).map_err(|e| Failure::Terminal(e.to_string()))?;
    let rider = order
        .rider_id
        .clone()
        .ok_or_else(|| Failure::Terminal("no rider".into()))?;

    change
        .transition(OrderEvent::WaybillSigned, Some(&waybill_id))
        .map_err(|e| Failure::Terminal(format!("{e:?}")))?;
    change.order.waybill_id = Some(waybill_id.clone());
    change.effect(waybills::issue(
        &waybill_id,
        &order.id,
        &rider,
        order.assignment,
        signer.key_id(),
        &document,
        now,
    ));
    let payload = Payload {
        waybill_id: Some(waybill_id),
        rider_id: Some(rider),
        ..Payload::default()
    };
    change.emit(new_id(), EventType::WaybillSigned, payload, 0);
    change.processed(Consumer::Signing, &envelope.id, "signed");
    Ok(Some(change))
}

/// `waybill.voided`: sign the void record of a waybill that was withdrawn.
async fn sign_void_record(
    ports: &impl Ports,
    order: &OrderRecord,
    envelope: &Envelope,
) -> Result<Option<Change>, Failure> {
    let Some(waybill_id) = envelope.payload.waybill_id.as_deref() else {
        return Ok(None);
    };
    let stored = waybills::by_id(ports.sql(), waybill_id).await.map_err(store_failure)?;
    let Some(stored) =
        stored.filter(|w| w.status == "void" && w.void_record.is_none() && w.order_id == order.id.as_str())
    else {
        return Ok(None);
    };
    let signer = signer(ports).await.map_err(Failure::Retryable)?;
    let now = ports.now();
    let record = VoidRecord {
        format: VOID_FORMAT_V1.to_owned(),
        waybill_id: stored.id.clone(),
        order_id: order.id.clone(),
        reason: stored.void_reason.clone().unwrap_or_default(),
        voided_at: rfc3339(stored.voided_at.unwrap_or(now)),
    };
    let document = serde_json::to_string(&signer.sign_void(&record)).map_err(|e| Failure::Terminal(e.to_string()))?;
    let mut change = Change::new(order, now);
    change.effect([waybills::record_void(&stored.id, &document)]);
    change.processed(Consumer::Signing, &envelope.id, "void_signed");
    Ok(Some(change))
}
