//! Public keys and waybill verification: open to anyone, so third parties
//! can check a waybill without trusting the caller that showed it to them.

use gasline_core::signature::{ALGORITHM, PublicKeySet, SignedWaybill};
use gasline_core::time::rfc3339;
use gasline_http::{Problem, Request, Response, json, read_json};
use gasline_ports::Ports;
use gasline_store::keys::{self, KeyRecord};
use http::StatusCode;

/// The published keys (`gasline_store::keys`): every SubjectPublicKeyInfo
/// PEM block in the `verify_keys` variable, with the key table's entries
/// (added, promoted, retired through the ops API) over them.
pub(crate) async fn key_records(ports: &impl Ports) -> Result<Vec<KeyRecord>, Problem> {
    let raw = ports.variable("verify_keys").await.unwrap_or_default();
    let variable = PublicKeySet::from_pem_list(&raw).map_err(|_| Problem::unavailable())?;
    keys::records(ports.sql(), &variable)
        .await
        .map_err(|_| Problem::unavailable())
}

/// The set waybills are verified against.
async fn key_set(ports: &impl Ports) -> Result<PublicKeySet, Problem> {
    keys::key_set(&key_records(ports).await?).map_err(|_| Problem::unavailable())
}

/// `GET /v1/keys`: each key with its id and PEM, its `status` (`signing`,
/// `verify` or `retired`) and, once retired, the time until which what it
/// signed verifies (`valid_until`, RFC 3339).
pub(crate) async fn keys(ports: &impl Ports) -> Result<Response, Problem> {
    let keys: Vec<_> = key_records(ports)
        .await?
        .into_iter()
        .map(|k| {
            let mut key = serde_json::json!({
                "key_id": k.key_id,
                "algorithm": ALGORITHM,
                "public_key_pem": k.public_key_pem,
                "status": k.state.as_str(),
            });
            if let Some(until) = k.valid_until {
                key["valid_until"] = rfc3339(until).into();
            }
            key
        })
        .collect();
    Ok(json(StatusCode::OK, &serde_json::json!({ "keys": keys })))
}

/// `POST /v1/waybills/verify`: `{"valid": true, "key_id": …}` or
/// `{"valid": false, "reason": …}`. A body that is not a signed waybill at
/// all is a 4xx problem instead.
pub(crate) async fn verify(request: &Request, ports: &impl Ports) -> Result<Response, Problem> {
    let signed: SignedWaybill = read_json(request)?;
    let set = key_set(ports).await?;
    let body = match set.verify(&signed) {
        Ok(()) => serde_json::json!({ "valid": true, "key_id": signed.signature.key_id }),
        Err(why) => serde_json::json!({ "valid": false, "reason": why.to_string() }),
    };
    Ok(json(StatusCode::OK, &body))
}
