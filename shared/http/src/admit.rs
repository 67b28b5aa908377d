//! Admission: the one gate every request passes before any handler runs,
//! on every runtime (the Spin and Workers adapters, the router, the
//! in-process system of the tests).
//!
//! [`ROUTES`] is the whole API, whichever function serves each route. A
//! request is admitted when its headers are well formed and within
//! [`MAX_HEADER_BYTES`] / [`MAX_HEADERS`], its method and path name a
//! route (`HEAD` wherever `GET` is; `OPTIONS` answers the methods), and its
//! body fits the route: no body where the route takes none, JSON within the
//! route's limit where it takes one. What is refused gets its 4xx problem
//! document here, so a handler never sees a request it would have to
//! refuse for its form, and no runtime's own conversion can turn bad input
//! into a 5xx.
//!
//! Admission is in two steps because the body is read in between: the head
//! first ([`admit_head`], which also refuses a declared `Content-Length`
//! over the limit before a byte of the body is read), then the body
//! ([`Pending::with_body`]).

// The `Err` of admission is the response to send instead, built once for
// a refused request: its size costs nothing on the admitted path.
#![allow(clippy::result_large_err)]

use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};

use crate::{Problem, Request, Response};

/// Which function serves a route (on Workers, which worker; on Spin, which
/// component).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Intake,
    Status,
}

/// Every route of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Health,
    Ready,
    OpenApi,
    Console,
    ConsoleScript,
    ConsoleStyle,
    Metrics,
    Stats,
    Sweep,
    Migrate,
    Keys,
    VerifyWaybill,
    PlaceOrder,
    CancelOrder,
    OrderStatus,
    OrderWaybill,
    Accept,
    Decline,
    Pickup,
    Deliver,
    RiderInbox,
    RiderLocation,
    StationTelemetry,
    CreateStation,
    ListStations,
    GetStation,
    UpdateStation,
    SuspendStation,
    ResumeStation,
    RetireStation,
    IssueStationToken,
    CreateRider,
    ListRiders,
    GetRider,
    UpdateRider,
    SuspendRider,
    ResumeRider,
    RetireRider,
    IssueRiderToken,
    IssueToken,
    ListTokens,
    RevokeToken,
    ListKeys,
    AddKey,
    PromoteKey,
    RetireKey,
    ListOrders,
    Attention,
    ReassignOrder,
    ListDeadLetters,
    ReplayDeadLetter,
}

/// What a route takes as its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// Nothing (whitespace only at most).
    None,
    /// A JSON document, at most this many bytes.
    Json(Limit),
    /// Nothing, or a JSON document of at most this many bytes.
    OptionalJson(Limit),
}

/// A body size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Bytes(usize),
    /// The deployment's `max_body_bytes` (dispatch configuration).
    Configured,
}

/// Who may call a route at all (the roles are the handler's to check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    /// A bearer token is required: a malformed `Authorization` is a 401.
    Token,
}

/// One route: method and path pattern (`{id}` is one path segment, an
/// identifier), the function serving it, its body and access.
#[derive(Debug)]
pub struct Route {
    pub endpoint: Endpoint,
    pub method: Method,
    pub path: &'static str,
    pub function: Function,
    pub body: Body,
    pub access: Access,
}

const fn route(
    endpoint: Endpoint,
    method: Method,
    path: &'static str,
    function: Function,
    body: Body,
    access: Access,
) -> Route {
    Route {
        endpoint,
        method,
        path,
        function,
        body,
        access,
    }
}

/// The small bodies: a location report, an empty command.
const SMALL: Limit = Limit::Bytes(1024);

/// The API: every route, the one table admission and routing read.
#[rustfmt::skip]
pub static ROUTES: &[Route] = {
    use Access::{Public, Token};
    use Body::{Json, None, OptionalJson};
    use Endpoint as E;
    use Function::{Intake, Status};
    use Limit::Configured;
    &[
        route(E::Health, Method::GET, "/healthz", Status, None, Public),
        route(E::Ready, Method::GET, "/readyz", Status, None, Public),
        route(E::OpenApi, Method::GET, "/openapi.json", Status, None, Public),
        // The ops console: a static page; its data comes from the ops API
        // with the token the operator signs in with (docs/OPERATIONS.md).
        route(E::Console, Method::GET, "/console", Status, None, Public),
        route(E::ConsoleScript, Method::GET, "/console/app.js", Status, None, Public),
        route(E::ConsoleStyle, Method::GET, "/console/app.css", Status, None, Public),
        route(E::Metrics, Method::GET, "/metrics", Status, None, Token),
        route(E::Stats, Method::GET, "/v1/stats", Status, None, Token),
        route(E::Sweep, Method::POST, "/v1/ops/sweep", Status, None, Token),
        route(E::Migrate, Method::POST, "/v1/ops/migrate", Status, None, Token),
        route(E::Keys, Method::GET, "/v1/keys", Status, None, Public),
        route(E::VerifyWaybill, Method::POST, "/v1/waybills/verify", Status, Json(Configured), Public),
        route(E::PlaceOrder, Method::POST, "/v1/orders", Intake, Json(Configured), Token),
        route(E::CancelOrder, Method::POST, "/v1/orders/{id}/cancel", Intake, OptionalJson(Configured), Token),
        route(E::OrderStatus, Method::GET, "/v1/orders/{id}", Status, None, Token),
        route(E::OrderWaybill, Method::GET, "/v1/orders/{id}/waybill", Status, None, Token),
        route(E::Accept, Method::POST, "/v1/orders/{id}/accept", Status, OptionalJson(SMALL), Token),
        route(E::Decline, Method::POST, "/v1/orders/{id}/decline", Status, OptionalJson(SMALL), Token),
        route(E::Pickup, Method::POST, "/v1/orders/{id}/pickup", Status, Json(Configured), Token),
        route(E::Deliver, Method::POST, "/v1/orders/{id}/deliver", Status, OptionalJson(SMALL), Token),
        route(E::RiderInbox, Method::GET, "/v1/riders/{id}/inbox", Status, None, Token),
        route(E::RiderLocation, Method::POST, "/v1/riders/{id}/location", Status, Json(SMALL), Token),
        route(E::StationTelemetry, Method::POST, "/v1/stations/{id}/telemetry", Status, Json(Configured), Token),
        // Provisioning (ops): docs/OPERATIONS.md, "Provisioning".
        route(E::CreateStation, Method::POST, "/v1/ops/stations", Status, Json(Configured), Token),
        route(E::ListStations, Method::GET, "/v1/ops/stations", Status, None, Token),
        route(E::GetStation, Method::GET, "/v1/ops/stations/{id}", Status, None, Token),
        route(E::UpdateStation, Method::PATCH, "/v1/ops/stations/{id}", Status, Json(Configured), Token),
        route(E::SuspendStation, Method::POST, "/v1/ops/stations/{id}/suspend", Status, Json(SMALL), Token),
        route(E::ResumeStation, Method::POST, "/v1/ops/stations/{id}/resume", Status, OptionalJson(SMALL), Token),
        route(E::RetireStation, Method::POST, "/v1/ops/stations/{id}/retire", Status, OptionalJson(SMALL), Token),
        route(E::IssueStationToken, Method::POST, "/v1/ops/stations/{id}/tokens", Status, OptionalJson(SMALL), Token),
        route(E::CreateRider, Method::POST, "/v1/ops/riders", Status, Json(SMALL), Token),
        route(E::ListRiders, Method::GET, "/v1/ops/riders", Status, None, Token),
        route(E::GetRider, Method::GET, "/v1/ops/riders/{id}", Status, None, Token),
        route(E::UpdateRider, Method::PATCH, "/v1/ops/riders/{id}", Status, Json(SMALL), Token),
        route(E::SuspendRider, Method::POST, "/v1/ops/riders/{id}/suspend", Status, Json(SMALL), Token),
        route(E::ResumeRider, Method::POST, "/v1/ops/riders/{id}/resume", Status, OptionalJson(SMALL), Token),
        route(E::RetireRider, Method::POST, "/v1/ops/riders/{id}/retire", Status, OptionalJson(SMALL), Token),
        route(E::IssueRiderToken, Method::POST, "/v1/ops/riders/{id}/tokens", Status, OptionalJson(SMALL), Token),
        route(E::IssueToken, Method::POST, "/v1/ops/tokens", Status, Json(SMALL), Token),
        route(E::ListTokens, Method::GET, "/v1/ops/tokens", Status, None, Token),
        route(E::RevokeToken, Method::POST, "/v1/ops/tokens/{id}/revoke", Status, OptionalJson(SMALL), Token),
        route(E::ListKeys, Method::GET, "/v1/ops/keys", Status, None, Token),
        route(E::AddKey, Method::POST, "/v1/ops/keys", Status, Json(Configured), Token),
        route(E::PromoteKey, Method::POST, "/v1/ops/keys/{id}/promote", Status, OptionalJson(SMALL), Token),
        route(E::RetireKey, Method::POST, "/v1/ops/keys/{id}/retire", Status, OptionalJson(SMALL), Token),
        // The order desk (ops): docs/OPERATIONS.md, "The order desk".
        route(E::ListOrders, Method::GET, "/v1/ops/orders", Status, None, Token),
        route(E::Attention, Method::GET, "/v1/ops/attention", Status, None, Token),
        route(E::ReassignOrder, Method::POST, "/v1/ops/orders/{id}/reassign", Status, OptionalJson(SMALL), Token),
        route(E::ListDeadLetters, Method::GET, "/v1/ops/dead-letters", Status, None, Token),
        route(E::ReplayDeadLetter, Method::POST, "/v1/ops/dead-letters/replay", Status, Json(SMALL), Token),
    ]
};

/// The most bytes of headers (names, values and 4 bytes of framing each)
/// a request may carry: 16 KiB, a quarter of what the runtimes accept
/// themselves, and far above what any client of this API sends.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// The most header fields a request may carry.
pub const MAX_HEADERS: usize = 64;
/// The largest body a platform adapter reads at all, whatever the
/// configuration says.
pub const MAX_READ_BYTES: usize = 1024 * 1024;

/// A request's head as the runtime received it, before anything is
/// interpreted: header values are bytes, since a runtime may pass on what
/// the `http` crate (and so every handler) cannot hold.
#[derive(Debug, Clone, Default)]
pub struct Head {
    pub method: String,
    /// The path and query (`/v1/orders?x=1`); a full URL is cut to them.
    pub target: String,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Head {
    /// The head of a request the `http` crate already holds (Spin's, the
    /// tests').
    pub fn of(parts: &http::request::Parts) -> Self {
        Self {
            method: parts.method.as_str().to_owned(),
            target: parts.uri.path_and_query().map_or("/", |pq| pq.as_str()).to_owned(),
            headers: parts
                .headers
                .iter()
                .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
                .collect(),
        }
    }
}

/// An admitted request, with the route it is for.
#[derive(Debug)]
pub struct Call {
    pub route: &'static Route,
    /// The `{id}` of the path, if the route has one.
    pub id: String,
    pub request: Request,
    /// Asked as `HEAD`: answer as `GET` without the body ([`Call::finish`]).
    pub head_only: bool,
}

impl Call {
    pub fn endpoint(&self) -> Endpoint {
        self.route.endpoint
    }

    /// The response to send for this call: `HEAD` gets the head only.
    pub fn finish(&self, mut response: Response) -> Response {
        if self.head_only {
            response.body_mut().clear();
        }
        response
    }
}

/// A request whose head is admitted, waiting for its body.
#[derive(Debug)]
pub struct Pending {
    route: &'static Route,
    id: String,
    head_only: bool,
    method: Method,
    target: String,
    headers: HeaderMap,
    limit: usize,
}

impl Pending {
    /// The most body bytes to read: a body longer than this is refused.
    pub fn limit(&self) -> usize {
        self.limit
    }

    pub fn route(&self) -> &'static Route {
        self.route
    }

    /// Admits the body (read up to [`limit`](Self::limit) plus one byte, so
    /// that one over the limit is seen).
    pub fn with_body(self, body: Vec<u8>) -> Result<Call, Response> {
        let blank = body.iter().all(u8::is_ascii_whitespace);
        match self.route.body {
            Body::None if !blank => {
                return Err(Problem::bad_request(format!(
                    "{} {} takes no request body",
                    self.route.method, self.route.path
                ))
                .into_response());
            }
            Body::None => {}
            Body::OptionalJson(_) if blank => {}
            Body::Json(_) | Body::OptionalJson(_) => {
                if body.len() > self.limit {
                    return Err(too_large(Some(body.len()), self.limit).into_response());
                }
                if !is_json(&self.headers) {
                    return Err(Problem::new(
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        "unsupported-media-type",
                        "Unsupported media type",
                        "send the body as application/json",
                    )
                    .into_response());
                }
            }
        }
        let mut request = http::Request::new(body);
        *request.method_mut() = self.method;
        // The target was checked to be a path and query in `admit_head`.
        *request.uri_mut() = self.target.parse().unwrap_or_else(|_| http::Uri::from_static("/"));
        *request.headers_mut() = self.headers;
        Ok(Call {
            route: self.route,
            id: self.id,
            request,
            head_only: self.head_only,
        })
    }
}

/// Admits a request's head: headers, method and path, declared length.
/// `configured_max` is the deployment's `max_body_bytes` (capped at
/// [`MAX_READ_BYTES`]). `Err` is the response to send instead: a problem
/// document, or the answer to `OPTIONS`.
pub fn admit_head(head: &Head, configured_max: usize) -> Result<Pending, Response> {
    let target = path_and_query(&head.target).ok_or_else(|| Problem::not_found("route").into_response())?;
    let path = target.split('?').next().unwrap_or("/");
    let (routes, id) = routes_for(path).ok_or_else(|| Problem::not_found("route").into_response())?;
    let method = head.method.as_str();
    let wanted = if method == "HEAD" { "GET" } else { method };
    let Some(route) = routes.iter().copied().find(|r| r.method.as_str() == wanted) else {
        return Err(if method == "OPTIONS" {
            options(&routes)
        } else {
            method_not_allowed(&allow(&routes))
        });
    };
    let headers = admit_headers(&head.headers, route.access).map_err(Problem::into_response)?;
    let limit = match route.body {
        Body::None => 0,
        Body::Json(limit) | Body::OptionalJson(limit) => match limit {
            Limit::Bytes(n) => n,
            Limit::Configured => configured_max,
        }
        .min(MAX_READ_BYTES),
    };
    if let Some(declared) = headers.get(header::CONTENT_LENGTH) {
        let declared = declared
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .ok_or_else(|| Problem::bad_request("Content-Length is not a number").into_response())?;
        if declared > limit && !(route.body == Body::None && declared == 0) {
            return Err(match route.body {
                Body::None => Problem::bad_request(format!("{} {} takes no request body", route.method, route.path)),
                _ => too_large(None, limit),
            }
            .into_response());
        }
    }
    Ok(Pending {
        route,
        id,
        head_only: method == "HEAD",
        method: route.method.clone(),
        target,
        headers,
        limit,
    })
}

/// Admits a request the `http` crate already holds, body included (the
/// in-process system, and runtimes that hand the body over at once).
pub fn admit(request: Request, configured_max: usize) -> Result<Call, Response> {
    let (parts, body) = request.into_parts();
    let pending = admit_head(&Head::of(&parts), configured_max)?;
    pending.with_body(body)
}

/// The path and query of a request target as the `http` crate reads it
/// (so as `Head::of` hands it over): an origin-form target (`/path?query`)
/// as is, an absolute URL (Spin hands those over) cut to its path and
/// query. Anything else (`*`, `host:port`) names no route. A fragment,
/// which no runtime hands over, is dropped as `http` drops it.
fn path_and_query(target: &str) -> Option<String> {
    let uri: http::Uri = target.parse().ok()?;
    if !target.starts_with('/') && uri.scheme().is_none() {
        return None;
    }
    Some(uri.path_and_query().map_or("/", |pq| pq.as_str()).to_owned())
}

/// The routes whose pattern `path` matches (one per method), and the
/// `{id}` it carries. A trailing slash is ignored.
fn routes_for(path: &str) -> Option<(Vec<&'static Route>, String)> {
    let trimmed = path.strip_suffix('/').filter(|p| !p.is_empty()).unwrap_or(path);
    let mut id = String::new();
    let matching: Vec<&'static Route> = ROUTES
        .iter()
        .filter(|route| match matches(route.path, trimmed) {
            Some(found) => {
                id = found.to_owned();
                true
            }
            None => false,
        })
        .collect();
    (!matching.is_empty()).then_some((matching, id))
}

/// `Some(id)` (empty without `{id}`) when `path` fits `pattern`.
fn matches<'p>(pattern: &str, path: &'p str) -> Option<&'p str> {
    let mut want = pattern.split('/');
    let mut have = path.split('/');
    let mut id = "";
    loop {
        match (want.next(), have.next()) {
            (None, None) => return Some(id),
            (Some("{id}"), Some(segment)) if is_identifier(segment) => id = segment,
            (Some(w), Some(h)) if w == h => {}
            _ => return None,
        }
    }
}

/// The ids of the API (orders, riders, stations): 1–64 characters of
/// `A-Z a-z 0-9 - _`. Anything else names nothing (a 404, not a parse
/// error deep in a handler).
fn is_identifier(segment: &str) -> bool {
    (1..=64).contains(&segment.len())
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks every header and builds the map handlers read.
fn admit_headers(raw: &[(String, Vec<u8>)], access: Access) -> Result<HeaderMap, Problem> {
    if raw.len() > MAX_HEADERS {
        return Err(headers_too_large(format!(
            "{} header fields; the limit is {MAX_HEADERS}",
            raw.len()
        )));
    }
    let total: usize = raw.iter().map(|(n, v)| n.len() + v.len() + 4).sum();
    if total > MAX_HEADER_BYTES {
        return Err(headers_too_large(format!(
            "{total} bytes of headers; the limit is {MAX_HEADER_BYTES}"
        )));
    }
    let mut headers = HeaderMap::with_capacity(raw.len());
    for (name, value) in raw {
        let Ok(parsed_name) = HeaderName::from_bytes(name.as_bytes()) else {
            return Err(Problem::bad_request("a header field name is not a valid token"));
        };
        // Visible ASCII, space, tab and obs-text (0x80–0xFF) only (RFC 9110,
        // section 5.5): no control character, no DEL.
        let clean = value.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f));
        let parsed = clean.then(|| HeaderValue::from_bytes(value).ok()).flatten();
        let Some(parsed) = parsed else {
            if parsed_name == header::AUTHORIZATION && access == Access::Token {
                return Err(Problem::unauthorized());
            }
            return Err(Problem::bad_request(format!(
                "the {parsed_name} header carries a control character"
            )));
        };
        headers.append(parsed_name, parsed);
    }
    Ok(headers)
}

fn headers_too_large(detail: String) -> Problem {
    Problem::new(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "headers-too-large",
        "Request header fields too large",
        detail,
    )
}

fn too_large(actual: Option<usize>, limit: usize) -> Problem {
    let detail = match actual {
        Some(n) => format!("the body is {n} bytes; the limit is {limit}"),
        None => format!("the declared body is over the limit of {limit} bytes"),
    };
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body-too-large",
        "Request body too large",
        detail,
    )
}

fn is_json(headers: &HeaderMap) -> bool {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    media.eq_ignore_ascii_case("application/json")
}

/// The `Allow` value for a path's routes: their methods, `HEAD` with
/// `GET`, and `OPTIONS`.
fn allow(routes: &[&'static Route]) -> String {
    let mut methods: Vec<&str> = Vec::new();
    for route in routes {
        methods.push(route.method.as_str());
        if route.method == Method::GET {
            methods.push("HEAD");
        }
    }
    methods.push("OPTIONS");
    methods.join(", ")
}

/// The answer to `OPTIONS`: no content, the methods in `Allow`.
fn options(routes: &[&'static Route]) -> Response {
    let mut response = http::Response::new(Vec::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    if let Ok(v) = HeaderValue::from_str(&allow(routes)) {
        response.headers_mut().insert(header::ALLOW, v);
    }
    response
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

/// The answer of a function handed a route another function serves: a
/// deployment whose routes are wired wrong (RFC 9110, 421).
pub fn misdirected(call: &Call) -> Response {
    Problem::new(
        StatusCode::MISDIRECTED_REQUEST,
        "misdirected",
        "Misdirected request",
        format!(
            "{} {} is served by the {:?} function",
            call.route.method, call.route.path, call.route.function
        ),
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(method: &str, target: &str, headers: &[(&str, &[u8])]) -> Head {
        Head {
            method: method.to_owned(),
            target: target.to_owned(),
            headers: headers.iter().map(|(n, v)| ((*n).to_owned(), v.to_vec())).collect(),
        }
    }

    fn status(result: Result<Pending, Response>) -> u16 {
        match result {
            Ok(_) => 200,
            Err(response) => response.status().as_u16(),
        }
    }

    #[test]
    fn every_pattern_is_well_formed_and_every_method_path_pair_unique() {
        for (i, a) in ROUTES.iter().enumerate() {
            assert!(a.path.starts_with('/') && !a.path.ends_with('/'), "{}", a.path);
            for b in &ROUTES[i + 1..] {
                assert!(
                    !(a.path == b.path && a.method == b.method),
                    "{} {} twice",
                    a.method,
                    a.path
                );
            }
        }
    }

    #[test]
    fn routes_are_found_with_their_id() {
        let pending = admit_head(&head("GET", "/v1/orders/hz_01JF/waybill?x=1", &[]), 100).unwrap();
        assert_eq!(pending.route().endpoint, Endpoint::OrderWaybill);
        assert_eq!(pending.id, "hz_01JF");
        let full_url = admit_head(&head("POST", "http://127.0.0.1:3000/v1/orders", &[]), 100).unwrap();
        assert_eq!(full_url.route().endpoint, Endpoint::PlaceOrder);
        assert_eq!(full_url.target, "/v1/orders");
        assert_eq!(status(admit_head(&head("GET", "/healthz/", &[]), 100)), 200);
    }

    /// `target` names no route (404), whether admitted head first or whole.
    fn assert_no_route_either_way(method: &str, target: &str) {
        assert_eq!(status(admit_head(&head(method, target, &[]), 100)), 404);
        let request = http::Request::builder()
            .method(method)
            .uri(target)
            .body(Vec::new())
            .unwrap();
        assert_eq!(admit(request, 100).unwrap_err().status(), 404);
    }

    /// Found by the `admit` fuzz target: a URL in the path or the query
    /// of an origin-form target was taken for the target itself, so that
    /// `GET /v1/orders/o1?next=https://h/healthz` was admitted as
    /// `/healthz`, and the Spin adapter (whose target is the full URL's
    /// path and query) routed the fuzzer's request below otherwise than
    /// the head-then-body path did.
    #[test]
    fn a_url_inside_an_origin_form_target_is_not_the_target() {
        let pending = admit_head(&head("GET", "/v1/orders/o1?next=https://h/healthz", &[]), 100).unwrap();
        assert_eq!(
            (pending.route().endpoint, pending.id.as_str()),
            (Endpoint::OrderStatus, "o1")
        );
        assert_eq!(pending.target, "/v1/orders/o1?next=https://h/healthz");
        let found = "htt://127.0.0.1:3000/v1/orders/01JWQ3K8T4XG6Z1V9N2B5Mp://127.0.0.1:3000/v1/orders/01JWQ3K8T4XG6Z1V9N2B5M7C8D/cancel/";
        assert_no_route_either_way("POST", found);
    }

    /// Found by the `admit` fuzz target: absolute URLs and fragments were
    /// cut by hand, not as the `http` crate (and so `admit`) reads them:
    /// the path of `http://host?/v1/…` was taken from its query, and a
    /// fragment stayed in the path.
    #[test]
    fn a_target_is_read_as_the_http_crate_reads_it() {
        let found = "Http://127.0.0.1:300?/v1/orders/01J/cancel/";
        assert_no_route_either_way("POST", found);
        let fragment = admit_head(&head("POST", "/v1/orders#content-type: x", &[]), 100).unwrap();
        assert_eq!(
            (fragment.route().endpoint, fragment.target.as_str()),
            (Endpoint::PlaceOrder, "/v1/orders")
        );
        assert_eq!(status(admit_head(&head("GET", "127.0.0.1:3000", &[]), 100)), 404);
    }

    #[test]
    fn unknown_paths_and_ids_that_cannot_exist_are_404() {
        for target in [
            "/",
            "/v2/orders",
            "/v1/orders/a%2Fb",
            "/v1/orders/has.dot",
            "/v1/orders//cancel",
            "*",
        ] {
            assert_eq!(status(admit_head(&head("GET", target, &[]), 100)), 404, "{target}");
        }
        let long = format!("/v1/orders/{}", "a".repeat(65));
        assert_eq!(status(admit_head(&head("GET", &long, &[]), 100)), 404);
    }

    #[test]
    fn a_known_path_with_another_method_is_405_with_allow() {
        let Err(response) = admit_head(&head("GET", "/v1/orders", &[]), 100) else {
            panic!("admitted")
        };
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers()[header::ALLOW], "POST, OPTIONS");
        let Err(response) = admit_head(&head("DELETE", "/v1/orders/o1", &[]), 100) else {
            panic!("admitted")
        };
        assert_eq!(response.headers()[header::ALLOW], "GET, HEAD, OPTIONS");
        let Err(response) = admit_head(&head("OPTIONS", "/healthz", &[]), 100) else {
            panic!("admitted")
        };
        assert_eq!(response.status(), 204);
        assert_eq!(response.headers()[header::ALLOW], "GET, HEAD, OPTIONS");
        let pending = admit_head(&head("HEAD", "/healthz", &[]), 100).unwrap();
        assert!(pending.head_only);
        assert_eq!(pending.route().endpoint, Endpoint::Health);
    }

    #[test]
    fn control_characters_in_any_header_are_refused_with_a_4xx() {
        for bad in [&b"a\x01b"[..], b"a\x7f", b"\x00", b"line\nbreak", b"cr\r"] {
            let probe = head("GET", "/healthz", &[("x-probe", bad)]);
            assert_eq!(status(admit_head(&probe, 100)), 400, "{bad:?}");
            let token = head(
                "GET",
                "/v1/orders/o1",
                &[("authorization", &[b"Bearer t.s", bad].concat())],
            );
            assert_eq!(status(admit_head(&token, 100)), 401, "{bad:?}");
        }
        let public = head("GET", "/healthz", &[("authorization", b"Bearer x\x7f")]);
        assert_eq!(status(admit_head(&public, 100)), 400);
        let fine = head(
            "GET",
            "/healthz",
            &[("user-agent", "tab\tand ünïcode".as_bytes()), ("x-empty", b"")],
        );
        assert_eq!(status(admit_head(&fine, 100)), 200);
        assert_eq!(
            status(admit_head(&head("GET", "/healthz", &[("bad name", b"v")]), 100)),
            400
        );
    }

    #[test]
    fn too_many_or_too_large_headers_are_431() {
        let many: Vec<(String, Vec<u8>)> = (0..=MAX_HEADERS).map(|i| (format!("x-h{i}"), b"v".to_vec())).collect();
        let h = Head {
            method: "GET".into(),
            target: "/healthz".into(),
            headers: many,
        };
        assert_eq!(status(admit_head(&h, 100)), 431);
        let big = vec![b'a'; MAX_HEADER_BYTES];
        assert_eq!(
            status(admit_head(&head("GET", "/healthz", &[("x-big", &big)]), 100)),
            431
        );
    }

    #[test]
    fn bodies_are_held_to_the_route() {
        let json = ("content-type", &b"application/json"[..]);
        let declared = head("POST", "/v1/orders", &[json, ("content-length", b"101")]);
        assert_eq!(status(admit_head(&declared, 100)), 413);
        let pending = admit_head(&head("POST", "/v1/orders", &[json]), 100).unwrap();
        assert_eq!(pending.limit(), 100);
        assert_eq!(pending.with_body(vec![b' '; 101]).unwrap_err().status(), 413);
        let plain = admit_head(&head("POST", "/v1/orders", &[("content-type", b"text/plain")]), 100).unwrap();
        assert_eq!(plain.with_body(b"{}".to_vec()).unwrap_err().status(), 415);
        let no_body = admit_head(&head("POST", "/v1/ops/sweep", &[]), 100).unwrap();
        assert_eq!(no_body.with_body(b"{}".to_vec()).unwrap_err().status(), 400);
        let empty = admit_head(&head("POST", "/v1/ops/sweep", &[("content-length", b"0")]), 100).unwrap();
        assert!(empty.with_body(Vec::new()).is_ok());
        let optional = admit_head(&head("POST", "/v1/orders/o1/accept", &[]), 100).unwrap();
        assert_eq!(optional.limit(), 1024);
        let call = optional.with_body(Vec::new()).unwrap();
        assert_eq!((call.endpoint(), call.id.as_str()), (Endpoint::Accept, "o1"));
        let capped = admit_head(&head("POST", "/v1/orders", &[json]), usize::MAX).unwrap();
        assert_eq!(capped.limit(), MAX_READ_BYTES);
    }
}
