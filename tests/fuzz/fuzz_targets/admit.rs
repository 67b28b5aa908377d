//! Admission (`gasline_http::admit_head`, `Pending::with_body`, `admit`):
//! the gate every request passes on every runtime, fed requests written as
//! text (`gasline_fuzz::head`), then what handlers read from the headers of
//! an admitted request (the bearer token, `traceparent`, the router's
//! `Gasline-Cell`).
//!
//! Checks: admission never answers 5xx, and answers 2xx only to `OPTIONS`;
//! a refusal is a problem document carrying its own status; what it admits
//! fits its route (method, `{id}`, headers, body size and media type); and
//! the `http::Request` path (`admit`, used by the Spin adapter and the
//! tests) answers as the head-then-body path (the Workers adapter) does.

#![no_main]
// Admission's `Err` is the response to send, as in `gasline_http::admit`.
#![allow(clippy::result_large_err)]

use gasline_core::config::Config;
use gasline_core::event::is_valid_traceparent;
use gasline_fuzz::head::{self, RawRequest};
use gasline_http::{Body, Call, MAX_HEADERS, MAX_READ_BYTES, Response, admit, admit_head, bearer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let raw = head::parse(data);
    let configured_max = Config::default().max_body_bytes;
    let outcome = admit_in_two_steps(&raw, configured_max);
    match &outcome {
        Ok(call) => check_admitted(&raw, call),
        Err(response) => check_refused(&raw, response),
    }
    if let Some(request) = as_http_request(&raw) {
        let at_once = admit(request, configured_max);
        assert_eq!(
            status(&at_once),
            status(&outcome),
            "admit and admit_head + with_body disagree on {raw:?}"
        );
    }
});

fn admit_in_two_steps(raw: &RawRequest, configured_max: usize) -> Result<Call, Response> {
    let pending = admit_head(&raw.head, configured_max)?;
    assert!(pending.limit() <= MAX_READ_BYTES);
    // Both adapters read the whole body before `with_body`.
    pending.with_body(raw.body.clone())
}

fn status(outcome: &Result<Call, Response>) -> u16 {
    outcome.as_ref().map_or_else(|r| r.status().as_u16(), |_| 200)
}

fn check_refused(raw: &RawRequest, response: &Response) {
    let status = response.status();
    if status == http::StatusCode::NO_CONTENT {
        assert_eq!(raw.head.method, "OPTIONS", "204 to {raw:?}");
        assert!(response.headers().contains_key(http::header::ALLOW));
        return;
    }
    assert!(status.is_client_error(), "{status} to {raw:?}");
    let problem: serde_json::Value =
        serde_json::from_slice(response.body()).expect("a refusal is a JSON problem document");
    assert_eq!(problem["status"], status.as_u16(), "{problem}");
    assert_eq!(
        response.headers()[http::header::CONTENT_TYPE],
        "application/problem+json"
    );
}

fn check_admitted(raw: &RawRequest, call: &Call) {
    let route = call.route;
    let method = raw.head.method.as_str();
    assert!(
        method == route.method.as_str() || (method == "HEAD" && route.method == http::Method::GET),
        "{method} admitted for {} {}",
        route.method,
        route.path
    );
    assert_eq!(call.head_only, method == "HEAD");
    assert_eq!(call.id.is_empty(), !route.path.contains("{id}"), "{:?}", call.id);
    assert!(
        call.id.len() <= 64
            && call
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "id {:?}",
        call.id
    );
    let request = &call.request;
    assert!(request.headers().len() <= MAX_HEADERS);
    let body = request.body();
    let blank = body.iter().all(u8::is_ascii_whitespace);
    match route.body {
        Body::None => assert!(blank, "a body admitted for {}", route.path),
        Body::Json(_) | Body::OptionalJson(_) if !blank => {
            let media = request
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            assert!(media.to_ascii_lowercase().contains("application/json"), "{media:?}");
        }
        Body::Json(_) | Body::OptionalJson(_) => {}
    }
    if let Some(token) = bearer(request) {
        assert_eq!(token, token.trim(), "the bearer token keeps surrounding blanks");
    }
    let traceparent = request.headers().get("traceparent").and_then(|v| v.to_str().ok());
    if let Some(value) = traceparent.filter(|v| is_valid_traceparent(v)) {
        assert_eq!(value.len(), 55, "{value:?}");
    }
    let map = gasline_fuzz::two_cells();
    match gasline_router::cell_for(call, &map) {
        Ok(cell) => assert!(map.named(cell.as_str()).is_some()),
        Err(problem) => assert_eq!(problem.status, http::StatusCode::BAD_REQUEST),
    }
}

/// The same request as the `http` crate holds it, when it can hold it.
fn as_http_request(raw: &RawRequest) -> Option<gasline_http::Request> {
    let mut builder = http::Request::builder()
        .method(raw.head.method.as_str())
        .uri(raw.head.target.as_str());
    for (name, value) in &raw.head.headers {
        builder = builder.header(name.as_str(), value.as_slice());
    }
    builder.body(raw.body.clone()).ok()
}
