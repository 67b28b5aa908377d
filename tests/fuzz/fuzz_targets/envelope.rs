//! The event envelope (`gasline_core::event::Envelope::from_bytes`): what
//! every consumer, the sweeper and the audit parse off a queue or the
//! outbox.
//!
//! Checks: an accepted envelope writes out (`to_bytes`) to bytes that parse
//! back to the same envelope and write out the same again (what a consumer
//! re-publishes is what it read); its topic names its type.

#![no_main]

use gasline_core::event::{Envelope, EventType};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(envelope) = Envelope::from_bytes(data) else {
        return;
    };
    let bytes = envelope.to_bytes();
    let again = Envelope::from_bytes(&bytes).unwrap_or_else(|e| {
        panic!(
            "{envelope:?} writes out to bytes it refuses ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    assert_eq!(again, envelope);
    assert_eq!(again.to_bytes(), bytes);
    assert_eq!(EventType::from_topic(envelope.kind.topic()), Some(envelope.kind));
});
