//! [`HttpClient`] for tests: answers outbound calls (GIS traffic, the remote
//! signer) from a script of canned responses and errors, and records every
//! request so a test can check what was sent.
//!
//! Scripted answers are used first, in order; once they run out, an optional
//! responder function answers; with neither, the call fails as
//! [`HttpError::Unreachable`].

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use gasline_ports::{HttpClient, HttpError};

/// A request as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// The HTTP method.
    pub method: http::Method,
    /// The full request URI.
    pub uri: http::Uri,
    /// The request headers.
    pub headers: http::HeaderMap,
    /// The request body.
    pub body: Vec<u8>,
    /// The timeout the caller asked for.
    pub timeout_ms: u32,
}

/// The answer to one call.
pub type HttpResult = Result<http::Response<Vec<u8>>, HttpError>;

type Responder = Box<dyn Fn(&RecordedRequest) -> HttpResult + Send>;

/// A scripted HTTP client. Every method takes `&self`, so a test can keep
/// scripting while the client is lent to the ports.
#[derive(Default)]
pub struct ScriptedHttp {
    state: Mutex<HttpState>,
}

#[derive(Default)]
struct HttpState {
    script: VecDeque<HttpResult>,
    responder: Option<Responder>,
    requests: Vec<RecordedRequest>,
}

impl fmt::Debug for ScriptedHttp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("ScriptedHttp")
            .field("scripted", &state.script.len())
            .field("has_responder", &state.responder.is_some())
            .field("requests", &state.requests.len())
            .finish()
    }
}

impl ScriptedHttp {
    /// A client with no script and no responder: every call is unreachable.
    pub fn new() -> Self {
        Self::default()
    }

    /// A client that answers every call (after any scripted answers) with
    /// `responder`.
    pub fn with_responder(responder: impl Fn(&RecordedRequest) -> HttpResult + Send + 'static) -> Self {
        let client = Self::new();
        client.set_responder(responder);
        client
    }

    /// Replaces the fallback responder.
    pub fn set_responder(&self, responder: impl Fn(&RecordedRequest) -> HttpResult + Send + 'static) {
        self.lock().responder = Some(Box::new(responder));
    }

    /// Queues an answer (response or error) for a later call.
    pub fn push(&self, result: HttpResult) {
        self.lock().script.push_back(result);
    }

    /// Queues a response with `status` and `body` as `application/json`.
    pub fn push_json(&self, status: u16, body: &str) {
        self.push(Ok(json_response(status, body)));
    }

    /// Queues an error ([`HttpError::Timeout`] or [`HttpError::Unreachable`]).
    pub fn push_error(&self, error: HttpError) {
        self.push(Err(error));
    }

    /// Scripted answers not used yet.
    pub fn remaining(&self) -> usize {
        self.lock().script.len()
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// How many requests were received.
    pub fn request_count(&self) -> usize {
        self.lock().requests.len()
    }

    fn lock(&self) -> MutexGuard<'_, HttpState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A response with `status`, `content-type: application/json` and `body`.
///
/// # Panics
/// When `status` is not a valid HTTP status code (100–999).
pub fn json_response(status: u16, body: &str) -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body.as_bytes().to_vec())
        .expect("a valid status code")
}

impl HttpClient for ScriptedHttp {
    async fn send(&self, request: http::Request<Vec<u8>>, timeout_ms: u32) -> HttpResult {
        let (parts, body) = request.into_parts();
        let recorded = RecordedRequest {
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body,
            timeout_ms,
        };
        let mut state = self.lock();
        state.requests.push(recorded.clone());
        if let Some(answer) = state.script.pop_front() {
            return answer;
        }
        match &state.responder {
            Some(responder) => responder(&recorded),
            None => Err(HttpError::Unreachable(format!(
                "no scripted response for {} {}",
                recorded.method, recorded.uri
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;

    fn get(uri: &str) -> http::Request<Vec<u8>> {
        http::Request::get(uri).body(Vec::new()).unwrap()
    }

    #[test]
    fn scripted_answers_come_in_order_then_unreachable() {
        let client = ScriptedHttp::new();
        client.push_json(200, r#"{"factor":1.3}"#);
        client.push_error(HttpError::Timeout);
        assert_eq!(client.remaining(), 2);

        let response = block_on(client.send(get("https://gis.example/traffic?cell=wtw3s"), 200)).unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.body(), br#"{"factor":1.3}"#);
        assert_eq!(response.headers()[http::header::CONTENT_TYPE], "application/json");
        assert_eq!(
            block_on(client.send(get("https://gis.example/a"), 200)).unwrap_err(),
            HttpError::Timeout
        );
        assert!(matches!(
            block_on(client.send(get("https://gis.example/b"), 200)),
            Err(HttpError::Unreachable(_))
        ));
        assert_eq!(client.request_count(), 3);
    }

    #[test]
    fn requests_are_recorded() {
        let client = ScriptedHttp::new();
        client.push_json(202, "{}");
        let request = http::Request::post("https://signer.example/sign")
            .header("x-key-id", "k1")
            .body(b"digest".to_vec())
            .unwrap();
        block_on(client.send(request, 150)).unwrap();
        let recorded = &client.requests()[0];
        assert_eq!(recorded.method, http::Method::POST);
        assert_eq!(recorded.uri, "https://signer.example/sign");
        assert_eq!(recorded.headers["x-key-id"], "k1");
        assert_eq!(recorded.body, b"digest");
        assert_eq!(recorded.timeout_ms, 150);
    }

    #[test]
    fn the_responder_answers_after_the_script() {
        let client = ScriptedHttp::with_responder(|request| {
            if request.uri.path() == "/down" {
                Err(HttpError::Unreachable("connection refused".to_owned()))
            } else {
                Ok(json_response(200, request.uri.path()))
            }
        });
        client.push_error(HttpError::Timeout);
        assert_eq!(
            block_on(client.send(get("https://x.example/one"), 10)).unwrap_err(),
            HttpError::Timeout
        );
        assert_eq!(
            block_on(client.send(get("https://x.example/one"), 10)).unwrap().body(),
            b"/one"
        );
        assert!(block_on(client.send(get("https://x.example/down"), 10)).is_err());
    }
}
