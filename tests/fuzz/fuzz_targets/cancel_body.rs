//! The optional body of `POST /v1/orders/{id}/cancel`
//! (`gasline_intake::CancelRequest`, read with
//! `gasline_http::read_optional_json`).
//!
//! Checks: a blank body is no reason; a refusal is 400 or 422 as the body
//! deserves; an accepted reason holds the rules of the note it becomes and,
//! written out again, reads back the same.

#![no_main]

use gasline_core::types::Note;
use gasline_fuzz::body::read_optional;
use gasline_intake::CancelRequest;
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Some(request) = read_optional::<CancelRequest>(data) else {
        return;
    };
    if data.iter().all(u8::is_ascii_whitespace) {
        assert!(request.reason.is_none());
    }
    let Some(reason) = request.reason else {
        return;
    };
    let note = Note::from(reason.clone());
    assert_eq!(
        Note::parse(note.as_str()).as_ref(),
        Ok(&note),
        "a reason is a valid note"
    );
    let written = json!({ "reason": reason }).to_string();
    let again = read_optional::<CancelRequest>(written.as_bytes()).expect("an accepted reason is accepted again");
    assert_eq!(again.reason, Some(reason), "{written}");
});
