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
use gasline_ports::{Ports, StoreError};
use gasline_store::consume::{self, Outcome, Received};
use gasline_store::{riders, stations, waybills};

/// Handles one queue message.
pub async fn on_message(body: &[u8], ports: &impl Ports) -> Outcome {
    let (envelope, order) = match consume::receive(ports, Consumer::Signing, body).await {
        Received::Fresh(fresh) => *fresh,
        Received::Done(outcome) => return outcome,
    };
    let env = &envelope;
    match envelope.kind {
        EventType::RiderAssigned => {
            consume::decide_and_commit(ports, Consumer::Signing, env, order, async |p, o: &Order| {
                sign_waybill(p, o, env).await
            })
            .await
        }
        EventType::WaybillVoided => {
            consume::decide_and_commit(ports, Consumer::Signing, env, order, async |p, o: &Order| {
                sign_void(p, o, env).await
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

/// `rider.assigned`: loads the order's station and rider and the signer,
/// and lets the core sign and issue the waybill (or fail the order).
async fn sign_waybill(ports: &impl Ports, order: &Order, event: &Envelope) -> Result<Decision, StoreError> {
    if !order.is_live(event) {
        return Ok(Decision::stale(order, ports.now()));
    }
    let config = gasline_store::config(ports).await.map_err(StoreError::Backend)?;
    let mut stations = Vec::new();
    if let Some(id) = &order.station_id {
        stations.extend(stations::candidate(ports.sql(), id).await?);
    }
    let mut riders = Vec::new();
    if let Some(id) = &order.rider_id {
        riders.extend(riders::candidate(ports.sql(), id).await?);
    }
    let signer = signer(ports).await;
    let input = Input::Sign {
        event,
        signer: signer.as_deref().map_err(String::as_str),
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
    };
    Ok(decide(order, input, &facts, &stamp, &config).unwrap_or_else(|_| Decision::stale(order, ports.now())))
}

/// `waybill.voided`: sign the void record of a waybill that was withdrawn.
async fn sign_void(ports: &impl Ports, order: &Order, event: &Envelope) -> Result<Decision, StoreError> {
    let Some(waybill_id) = event.payload.waybill_id.as_deref() else {
        return Ok(Decision::stale(order, ports.now()));
    };
    let stored = waybills::by_id(ports.sql(), waybill_id).await?;
    let Some(stored) = stored
        .filter(|w| w.status == WaybillStatus::Void && w.void_record.is_none() && w.order_id == order.id.as_str())
    else {
        return Ok(Decision::stale(order, ports.now()));
    };
    // A key that is missing now may be configured later: retry.
    let signer = signer(ports).await.map_err(StoreError::Unavailable)?;
    let voided = VoidedWaybill {
        id: stored.id,
        reason: stored.void_reason.unwrap_or_default(),
        voided_at: stored.voided_at,
    };
    Ok(sign_void_record(order, &voided, &signer, ports.now()))
}
