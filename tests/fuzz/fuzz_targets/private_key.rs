//! The signing key: the signing function reads its secret PEM
//! (`WaybillSigner::from_private_key_pem`: PKCS#8 or SEC1, with or without
//! a parameters block before it).
//!
//! Checks: a key read writes out (`private_key_pem`) to a key with the
//! same key id; its public key reads back from its own PEM; and what it
//! signs verifies under that public key.

#![no_main]

use gasline_core::signature::{DEFAULT_SIGNER_ID, SignerPublicKey, WaybillSigner};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(signer) = WaybillSigner::from_private_key_pem(text) else {
        return;
    };
    let again = WaybillSigner::from_private_key_pem(&signer.private_key_pem()).expect("a written key reads back");
    assert_eq!(again.key_id(), signer.key_id());
    let public = SignerPublicKey::from_spki_pem(&signer.public_key().to_spki_pem()).expect("its public key reads back");
    assert_eq!(public.key_id(), signer.key_id());
    let signature = signer.sign_bytes(data);
    assert_eq!(public.verify_bytes(data, &signature, DEFAULT_SIGNER_ID), Ok(()));
});
