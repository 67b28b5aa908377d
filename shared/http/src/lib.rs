//! # gasline-http
//!
//! The HTTP edge shared by the HTTP functions (intake, status), platform
//! neutral: requests and responses are `http` crate types with byte bodies.
//! Bodies are size-limited and parsed strictly (unknown fields refused);
//! every refusal is an RFC 9457 problem document; callers are authenticated
//! by bearer token and role before anything is read or written.

use gasline_ports::Ports;
use gasline_store::tokens::{self, Principal, Role};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A request as every platform adapter hands it over.
pub type Request = http::Request<Vec<u8>>;
/// A response as every platform adapter sends it back.
pub type Response = http::Response<Vec<u8>>;

/// An RFC 9457 problem: why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub status: StatusCode,
    /// A short machine-readable slug (`invalid-body`), also used in `type`.
    pub kind: &'static str,
    pub title: &'static str,
    pub detail: String,
}

impl Problem {
    pub fn new(status: StatusCode, kind: &'static str, title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            title,
            detail: detail.into(),
        }
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not found",
            format!("no such {what}"),
        )
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authentication required",
            "send a valid bearer token: Authorization: Bearer <token_id>.<secret>",
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Not allowed", detail)
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "conflict",
            "Conflicts with the current state",
            detail,
        )
    }

    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-body",
            "Request body is invalid",
            detail,
        )
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", "Bad request", detail)
    }

    /// A 503 that says nothing about internals (the cause goes to logs only).
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Temporarily unavailable",
            "the service could not complete the request; retry with the same Idempotency-Key",
        )
    }

    pub fn into_response(self) -> Response {
        let body = serde_json::json!({
            "type": format!("urn:gasline:problem:{}", self.kind),
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        let mut response = http::Response::new(serde_json::to_vec(&body).expect("json"));
        *response.status_mut() = self.status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// A JSON response.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    let mut response = http::Response::new(serde_json::to_vec(value).expect("responses serialize"));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Parses the body as `T`, refusing oversize bodies (413), other media types
/// (415), malformed JSON (400) and JSON of the wrong shape — unknown fields,
/// wrong types, out-of-range values (422).
pub fn read_json<T: DeserializeOwned>(request: &Request, max_bytes: usize) -> Result<T, Problem> {
    let body = request.body();
    if body.len() > max_bytes {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "Request body too large",
            format!("the body is {} bytes; the limit is {max_bytes}", body.len()),
        ));
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/json") {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            "send the body as application/json",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => Problem::invalid(e.to_string()),
            Category::Syntax | Category::Eof | Category::Io => Problem::new(
                StatusCode::BAD_REQUEST,
                "malformed-json",
                "Malformed JSON",
                e.to_string(),
            ),
        }
    })
}

/// Like [`read_json`], but an empty body means `T::default()`.
pub fn read_optional_json<T: DeserializeOwned + Default>(request: &Request, max_bytes: usize) -> Result<T, Problem> {
    if request.body().iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        read_json(request, max_bytes)
    }
}

/// The bearer token of the request, if it carries one.
pub fn bearer(request: &Request) -> Option<&str> {
    let value = request.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Authenticates the caller and checks its role is one of `roles`.
pub async fn authenticate(ports: &impl Ports, request: &Request, roles: &[Role]) -> Result<Principal, Problem> {
    let token = bearer(request).ok_or_else(Problem::unauthorized)?;
    let principal = tokens::verify(ports.sql(), token)
        .await
        .map_err(|_| Problem::unavailable())?
        .ok_or_else(Problem::unauthorized)?;
    if roles.contains(&principal.role) {
        Ok(principal)
    } else {
        Err(Problem::forbidden(format!(
            "a {} token cannot do this",
            principal.role.as_str()
        )))
    }
}

/// The path split into segments, without the query string.
pub fn segments(request: &Request) -> Vec<&str> {
    request.uri().path().trim_matches('/').split('/').collect()
}

/// The `405` for a known path with the wrong method.
pub fn method_not_allowed(allowed: &str) -> Response {
    let mut response = Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        format!("use {allowed}"),
    )
    .into_response();
    if let Ok(v) = HeaderValue::from_str(allowed) {
        response.headers_mut().insert(header::ALLOW, v);
    }
    response
}

/// Turns a handler's `Result` into the response.
pub fn respond(result: Result<Response, Problem>) -> Response {
    result.unwrap_or_else(Problem::into_response)
}
