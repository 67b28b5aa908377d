//! Reading a request body exactly as a handler does (`gasline_http::read_json`
//! on an admitted request), and the checks every body target makes on the
//! answer.

use std::fmt::Debug;

use gasline_http::{Problem, Request, read_json, read_optional_json};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A `POST` with a JSON body, as admission hands it to a handler.
pub fn json_request(body: &[u8]) -> Request {
    http::Request::builder()
        .method(http::Method::POST)
        .uri("/")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body.to_vec())
        .expect("a fixed method, path and header make a request")
}

/// The body read as `T` by `read_json`, or `None` after checking that the
/// refusal is the right 4xx.
pub fn read<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    read_json(&json_request(body))
        .map_err(|problem| assert_right_refusal(body, &problem))
        .ok()
}

/// Like [`read`] for a body the route may leave out (`read_optional_json`):
/// a blank body is `T::default()`.
pub fn read_optional<T: DeserializeOwned + Default>(body: &[u8]) -> Option<T> {
    read_optional_json(&json_request(body))
        .map_err(|problem| assert_right_refusal(body, &problem))
        .ok()
}

/// A refused body gets 400 `malformed-json` when it is not JSON at all and
/// 422 `invalid-body` when it is JSON of the wrong shape; nothing else.
///
/// The oracle is independent of `read_json`'s own syntax pass: not UTF-8
/// must be a 400, and whatever `serde_json::Value` reads must be a 422.
/// (JSON that `Value` refuses only for its numbers, such as `1e400`, may be
/// either.)
fn assert_right_refusal(body: &[u8], problem: &Problem) {
    let status = problem.status.as_u16();
    match status {
        400 => assert_eq!(problem.kind, "malformed-json", "{problem:?}"),
        422 => assert_eq!(problem.kind, "invalid-body", "{problem:?}"),
        _ => panic!("a body was refused with {status}, not 400 or 422: {problem:?}"),
    }
    let Ok(text) = std::str::from_utf8(body) else {
        assert_eq!(status, 400, "a body that is not UTF-8 must be malformed: {problem:?}");
        return;
    };
    if serde_json::from_str::<serde_json::Value>(text).is_ok() {
        assert_eq!(status, 422, "a JSON document must be judged on its shape: {problem:?}");
    }
}

/// An accepted value serialises to a body that is accepted again as the
/// same value, and serialising that gives the same bytes: what a handler
/// read is what a client sent.
pub fn assert_round_trip<T>(value: &T)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let bytes = serde_json::to_vec(value).expect("an accepted body serialises");
    let again: T = read(&bytes).unwrap_or_else(|| {
        panic!(
            "{value:?} serialises to {:?}, which is refused",
            String::from_utf8_lossy(&bytes)
        )
    });
    assert_eq!(&again, value, "{}", String::from_utf8_lossy(&bytes));
    let bytes_again = serde_json::to_vec(&again).expect("an accepted body serialises");
    assert_eq!(bytes_again, bytes);
}
