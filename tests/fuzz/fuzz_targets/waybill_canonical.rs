//! The waybill canonicaliser: any JSON rendering of a waybill or a void
//! record, parsed as a verifier parses it, and the canonical bytes
//! (`Waybill::canonical_bytes`, `VoidRecord::canonical_bytes`) that are
//! signed.
//!
//! Checks: canonical bytes are deterministic and a fixed point (parsing
//! them gives the same document, whose canonical bytes are the same bytes),
//! compact, with the items in spec order; and the strict reader of the
//! verify endpoint (`read_json`) never accepts a document the plain parser
//! of the CLI reads differently.

#![no_main]

use gasline_core::waybill::{VoidRecord, Waybill};
use gasline_fuzz::body::read;
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;

fuzz_target!(|data: &[u8]| {
    if let Some(waybill) = canonicalise::<Waybill>(data, Waybill::canonical_bytes) {
        let items = waybill.items.as_slice();
        assert!(items.windows(2).all(|w| w[0].spec < w[1].spec), "{items:?}");
    }
    canonicalise::<VoidRecord>(data, VoidRecord::canonical_bytes);
});

/// Parses `data` as `T` both ways and checks its canonical bytes.
fn canonicalise<T>(data: &[u8], canonical_bytes: fn(&T) -> Vec<u8>) -> Option<T>
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug + Clone,
{
    let plain = serde_json::from_slice::<T>(data).ok();
    let strict = read::<T>(data);
    if let Some(strict) = &strict {
        assert_eq!(
            plain.as_ref(),
            Some(strict),
            "read_json and serde_json read it differently"
        );
    }
    let document = plain?;
    let canonical = canonical_bytes(&document);
    assert_eq!(canonical_bytes(&document.clone()), canonical, "canonical bytes vary");
    let reparsed: T = serde_json::from_slice(&canonical).unwrap_or_else(|e| {
        panic!(
            "canonical bytes that do not parse ({e}): {}",
            String::from_utf8_lossy(&canonical)
        )
    });
    assert_eq!(reparsed, document);
    assert_eq!(
        canonical_bytes(&reparsed),
        canonical,
        "canonical bytes are not a fixed point"
    );
    assert!(is_compact(&canonical), "{}", String::from_utf8_lossy(&canonical));
    Some(document)
}

/// No whitespace outside strings (inside them, JSON escapes every control
/// character, so a raw byte below 0x20 is never there either).
fn is_compact(json: &[u8]) -> bool {
    let mut in_string = false;
    let mut escaped = false;
    for &byte in json {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                (false, b) if b < 0x20 => return false,
                _ => {}
            }
        } else {
            match byte {
                b'"' => in_string = true,
                b' ' | b'\t' | b'\n' | b'\r' => return false,
                _ => {}
            }
        }
    }
    !in_string
}
