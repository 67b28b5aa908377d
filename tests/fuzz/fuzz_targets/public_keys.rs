//! Public keys: the `verify_keys` variable read by every verifier
//! (`PublicKeySet::from_pem_list`), one PEM key
//! (`SignerPublicKey::from_spki_pem`, the CLI's `--key`), and DER
//! SubjectPublicKeyInfo (`SignerPublicKey::from_spki_der`).
//!
//! Checks: every key read writes out (DER and PEM) to a key with the same
//! key id; the key id is derived from the DER as documented (`sm2-` and the
//! first 16 hex digits of its SM3); a list yields at most one key per PEM
//! block, and the keys written out as a list read back as the same set.

#![no_main]

use gasline_core::signature::{PublicKeySet, SignerPublicKey};
use libfuzzer_sys::fuzz_target;
use sm3::{Digest, Sm3};

const END: &str = "-----END PUBLIC KEY-----";

fuzz_target!(|data: &[u8]| {
    if let Ok(key) = SignerPublicKey::from_spki_der(data) {
        check_key(&key);
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(key) = SignerPublicKey::from_spki_pem(text) {
        check_key(&key);
    }
    if let Ok(set) = PublicKeySet::from_pem_list(text) {
        assert!(set.len() <= text.matches(END).count());
        set.iter().for_each(check_key);
        let written: String = set.iter().map(SignerPublicKey::to_spki_pem).collect();
        let again = PublicKeySet::from_pem_list(&written).expect("written keys read back");
        let ids = |s: &PublicKeySet| s.iter().map(|k| k.key_id().to_owned()).collect::<Vec<_>>();
        assert_eq!(ids(&again), ids(&set), "{written}");
    }
});

fn check_key(key: &SignerPublicKey) {
    let der = key.to_spki_der();
    let digest = Sm3::digest(&der);
    let expected: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(key.key_id(), format!("sm2-{expected}"));
    let from_der = SignerPublicKey::from_spki_der(&der).expect("a written key reads back from DER");
    assert_eq!(from_der.key_id(), key.key_id());
    assert_eq!(from_der.to_spki_der(), der);
    let from_pem = SignerPublicKey::from_spki_pem(&key.to_spki_pem()).expect("a written key reads back from PEM");
    assert_eq!(from_pem.key_id(), key.key_id());
}
