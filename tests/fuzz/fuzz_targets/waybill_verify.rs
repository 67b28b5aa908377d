//! Signature verification: `POST /v1/waybills/verify` reads a signed
//! waybill (`read_json::<SignedWaybill>`) and checks it against the key
//! set (`PublicKeySet::verify`); the audit does the same for void records
//! (`verify_void`). The verifier holds one key (`gasline_fuzz::keys`),
//! which signed the seeds, so the fuzzer starts from signatures that hold.
//!
//! Checks: nothing verifies but the one signature the key makes over the
//! document's canonical bytes (signing is deterministic), so no mutation of
//! a document or of its signature verifies unless it changes neither the
//! canonical bytes nor the signature bytes; and a parsed document signed
//! afresh verifies exactly when its format is one this version knows.

#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use gasline_core::signature::{SignatureBlock, SignedVoidRecord, SignedWaybill, ensure_supported_format};
use gasline_core::waybill::VOID_FORMAT_V1;
use gasline_fuzz::body::read;
use gasline_fuzz::keys::{key_set, signer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(signed) = read::<SignedWaybill>(data) {
        let canonical = signed.waybill.canonical_bytes();
        if key_set().verify(&signed).is_ok() {
            assert_is_the_signature_of(&canonical, &signed.signature);
        }
        let resigned = signer().sign_waybill(&signed.waybill);
        assert_eq!(
            key_set().verify(&resigned).is_ok(),
            ensure_supported_format(&signed.waybill).is_ok()
        );
    }
    if let Some(signed) = read::<SignedVoidRecord>(data) {
        let canonical = signed.void.canonical_bytes();
        if key_set().verify_void(&signed).is_ok() {
            assert_is_the_signature_of(&canonical, &signed.signature);
        }
        let resigned = signer().sign_void(&signed.void);
        assert_eq!(
            key_set().verify_void(&resigned).is_ok(),
            signed.void.format == VOID_FORMAT_V1
        );
    }
});

/// A block that verified carries the key's own signature of `canonical`
/// under the block's signer id.
fn assert_is_the_signature_of(canonical: &[u8], block: &SignatureBlock) {
    let made = signer()
        .clone()
        .with_signer_id(&block.signer_id)
        .expect("a signer id that verified is valid")
        .sign_bytes(canonical);
    let carried = BASE64.decode(&block.value).expect("a verified signature is base64");
    assert_eq!(
        carried,
        made,
        "a signature that verifies but is not the one the key makes: {block:?} over {}",
        String::from_utf8_lossy(canonical)
    );
    assert_eq!(block.key_id, signer().key_id());
}
