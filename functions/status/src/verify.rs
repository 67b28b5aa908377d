//! Public keys and waybill verification: open to anyone, so third parties
//! can check a waybill without trusting the caller that showed it to them.

use gasline_core::signature::{ALGORITHM, PublicKeySet, SignedWaybill};
use gasline_http::{Problem, Request, Response, json, read_json};
use gasline_ports::Ports;
use http::StatusCode;

/// The keys waybills may be verified against: every SubjectPublicKeyInfo
/// PEM block in the `verify_keys` variable (several during a rotation).
pub(crate) async fn key_set(ports: &impl Ports) -> Result<PublicKeySet, Problem> {
    let raw = ports.variable("verify_keys").await.unwrap_or_default();
    PublicKeySet::from_pem_list(&raw).map_err(|_| Problem::unavailable())
}

/// `GET /v1/keys`.
pub(crate) async fn keys(ports: &impl Ports) -> Result<Response, Problem> {
    let set = key_set(ports).await?;
    let keys: Vec<_> = set
        .iter()
        .map(|k| serde_json::json!({ "key_id": k.key_id(), "algorithm": ALGORITHM, "public_key_pem": k.to_spki_pem() }))
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
