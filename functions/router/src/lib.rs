//! # gasline-router
//!
//! The front door of a deployment split into cells (`docs/SCALING.md`): it
//! picks the cell of each request and forwards the request to that cell
//! unchanged, and the cell's reply back unchanged but for a `Gasline-Cell`
//! header naming the cell that answered. It holds no state and reads no
//! database, so it never makes a cell wait on another: a new order goes to
//! the cell of its delivery location, a request about an order, rider or
//! station to the cell its id names (`gasline_core::cell`), anything else
//! (health, keys, waybill verification) to the home cell, and an operator
//! addresses one cell with the `Gasline-Cell` request header (statistics,
//! the sweeper, migrations of that cell).
//!
//! Authentication, validation and every answer are the cell's: the router
//! only refuses what it cannot route (a `Gasline-Cell` header naming no
//! cell) and answers 503 when the cell cannot be reached, which is safe to
//! retry (an order retried with the same `Idempotency-Key` lands in the same
//! cell, which recognises it).
//!
//! Platform neutral: the Spin and Workers entrypoints read the `cells`
//! variable, translate requests and hand over their outbound HTTP client.

#[cfg(target_os = "wasi")]
mod spin;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod workers;

use std::collections::BTreeMap;

use gasline_core::cell::{CellArea, CellMap, CellName};
use gasline_http::{Call, Endpoint, Problem, Response};
use gasline_ports::HttpClient;
use http::{HeaderName, HeaderValue, StatusCode, header};
use serde::Deserialize;

/// The header an operator names a cell with, and the router names the cell
/// that answered with.
pub const CELL_HEADER: HeaderName = HeaderName::from_static("gasline-cell");

/// How long the router waits for a cell's answer (ms): longer than any
/// route takes when the cell is well, short enough that a client retries
/// while its order can still meet the 3 s sourcing level.
pub const FORWARD_TIMEOUT_MS: u32 = 2_500;

/// One entry of the `cells` variable: a cell's area, as the core knows it,
/// and where its functions answer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CellEntry {
    name: CellName,
    #[serde(default)]
    geohash: Vec<String>,
    /// Base URL of the cell (scheme, host, port, optional path prefix).
    url: String,
}

/// The cells a router serves: the map and each cell's base URL.
#[derive(Debug)]
pub struct Cells {
    map: CellMap,
    urls: BTreeMap<CellName, String>,
}

impl Cells {
    /// Reads the `cells` variable: a JSON list of
    /// `{"name": "sh", "geohash": ["wtw"], "url": "https://sh.example"}`,
    /// the home cell first.
    pub fn parse(json: &str) -> Result<Self, String> {
        let entries: Vec<CellEntry> = serde_json::from_str(json).map_err(|e| format!("cells: {e}"))?;
        let mut urls = BTreeMap::new();
        let mut areas = Vec::with_capacity(entries.len());
        for entry in entries {
            let url = entry.url.trim_end_matches('/').to_owned();
            let parsed: http::Uri = url
                .parse()
                .map_err(|e| format!("cell {}: url {url:?}: {e}", entry.name))?;
            if parsed.scheme().is_none() || parsed.host().is_none() || parsed.query().is_some() {
                return Err(format!(
                    "cell {}: url {url:?} must be absolute (scheme and host) without a query",
                    entry.name
                ));
            }
            urls.insert(entry.name.clone(), url);
            areas.push(CellArea {
                name: entry.name,
                geohash: entry.geohash,
            });
        }
        Ok(Self {
            map: CellMap::new(areas)?,
            urls,
        })
    }

    pub fn map(&self) -> &CellMap {
        &self.map
    }

    /// The base URL of `cell`, one of [`Cells::map`]'s.
    pub fn url(&self, cell: &CellName) -> &str {
        &self.urls[cell]
    }
}

/// The part of `POST /v1/orders` the router reads: the delivery location.
/// Everything else, and whether the body is valid at all, is the cell's.
#[derive(Deserialize)]
struct Located {
    customer: LocatedCustomer,
}

#[derive(Deserialize)]
struct LocatedCustomer {
    location: gasline_core::geo::GeoPoint,
}

/// The cell that serves `call`. A new order whose body has no valid
/// location goes to the home cell, which refuses it as any cell would.
pub fn cell_for<'m>(call: &Call, map: &'m CellMap) -> Result<&'m CellName, Problem> {
    if let Some(named) = call.request.headers().get(&CELL_HEADER) {
        let name = named.to_str().unwrap_or_default();
        return map.named(name).ok_or_else(|| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "unknown-cell",
                "No such cell",
                format!(
                    "the Gasline-Cell header names no cell of this deployment (cells: {})",
                    names(map)
                ),
            )
        });
    }
    Ok(match call.endpoint() {
        Endpoint::PlaceOrder => serde_json::from_slice::<Located>(call.request.body())
            .map_or_else(|_| map.home(), |b| map.for_location(b.customer.location)),
        _ if !call.id.is_empty() => map.for_id(&call.id),
        _ => map.home(),
    })
}

fn names(map: &CellMap) -> String {
    map.names().map(CellName::as_str).collect::<Vec<_>>().join(", ")
}

/// Headers that belong to one connection, not to the request: not
/// forwarded (RFC 9110, section 7.6.1), nor `Host`, which names the router,
/// nor `Accept-Encoding` (see [`handle`]).
fn hop_by_hop(name: &HeaderName) -> bool {
    [
        header::CONNECTION,
        header::HOST,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        header::PROXY_AUTHORIZATION,
        header::CONTENT_LENGTH,
        header::ACCEPT_ENCODING,
    ]
    .contains(name)
        || name.as_str() == "keep-alive"
}

/// Routes an admitted request to its cell through `http` and answers with
/// the cell's reply. Admission at the edge ([`gasline_http::admit`], with
/// the read limit as the body limit: the cell holds the body to its own
/// configuration) refuses what no cell would serve without a hop.
pub async fn handle(call: Call, cells: &Cells, http: &impl HttpClient) -> Response {
    let cell = match cell_for(&call, cells.map()) {
        Ok(cell) => cell,
        Err(problem) => return problem.into_response(),
    };
    // Admission answered a HEAD as the GET route; the cell is asked the same.
    let method = if call.head_only {
        http::Method::HEAD
    } else {
        call.request.method().clone()
    };
    let (parts, body) = call.request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut forward = http::Request::builder()
        .method(method)
        .uri(format!("{}{path}", cells.url(cell)));
    for (name, value) in &parts.headers {
        if !hop_by_hop(name) && *name != CELL_HEADER {
            forward = forward.header(name, value);
        }
    }
    // The hop to the cell is not compressed: a runtime's fetch may add
    // `Accept-Encoding` by itself and decode the answer without taking
    // `Content-Encoding` off it, and the client's own preference is for
    // the router's answer, not the cell's.
    forward = forward.header(header::ACCEPT_ENCODING, "identity");
    let Ok(forward) = forward.body(body) else {
        return Problem::bad_request("the request cannot be forwarded").into_response();
    };
    let mut response = match http.send(forward, FORWARD_TIMEOUT_MS).await {
        Ok(response) => response,
        Err(error) => {
            eprintln!("gasline-router: cell {cell}: {error}");
            return Problem::unavailable().into_response();
        }
    };
    let connection_only: Vec<HeaderName> = response.headers().keys().filter(|n| hop_by_hop(n)).cloned().collect();
    for name in connection_only {
        response.headers_mut().remove(name);
    }
    if let Ok(value) = HeaderValue::from_str(cell.as_str()) {
        response.headers_mut().insert(CELL_HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use futures::executor::block_on;
    use gasline_ports::HttpError;
    use http::Method;

    use super::*;

    const CELLS: &str = r#"[
        {"name": "sh", "geohash": ["wtw"], "url": "http://127.0.0.1:3001"},
        {"name": "hz", "geohash": ["wtm"], "url": "http://127.0.0.1:3002/prefix/"}
    ]"#;

    fn request(method: Method, path: &str, body: &str) -> Call {
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::HOST, "router.example")
            .header(header::AUTHORIZATION, "Bearer t.s")
            .header(header::CONNECTION, "keep-alive")
            .header(header::ACCEPT_ENCODING, "gzip, br")
            .body(body.as_bytes().to_vec())
            .unwrap();
        gasline_http::admit(request, gasline_http::MAX_READ_BYTES).expect("admitted")
    }

    fn order_at(lat: f64, lon: f64) -> String {
        format!(r#"{{"customer": {{"name": "A", "location": {{"lat": {lat}, "lon": {lon}}}}}, "items": []}}"#)
    }

    fn cell_of(call: &Call) -> Result<String, Problem> {
        let cells = Cells::parse(CELLS).unwrap();
        cell_for(call, cells.map()).map(|c| c.as_str().to_owned())
    }

    #[test]
    fn a_new_order_goes_to_the_cell_of_its_location() {
        let hangzhou = request(Method::POST, "/v1/orders", &order_at(30.2431, 120.15));
        assert_eq!(cell_of(&hangzhou).unwrap(), "hz");
        let shanghai = request(Method::POST, "/v1/orders", &order_at(31.2304, 121.4737));
        assert_eq!(cell_of(&shanghai).unwrap(), "sh");
        // Not an order body, or a location out of range: the home cell
        // refuses it as any cell would.
        for body in ["", "{", r#"{"customer": {"location": {"lat": 91, "lon": 0}}}"#] {
            assert_eq!(cell_of(&request(Method::POST, "/v1/orders", body)).unwrap(), "sh");
        }
    }

    #[test]
    fn a_request_about_an_order_rider_or_station_goes_to_the_cell_its_id_names() {
        for (method, path) in [
            (Method::GET, "/v1/orders/hz_01JF"),
            (Method::GET, "/v1/orders/hz_01JF/waybill"),
            (Method::POST, "/v1/orders/hz_01JF/cancel"),
            (Method::GET, "/v1/riders/hz_rd-0001/inbox"),
            (Method::POST, "/v1/stations/hz_st-1/telemetry"),
        ] {
            assert_eq!(cell_of(&request(method, path, "")).unwrap(), "hz", "{path}");
        }
        for path in [
            "/v1/orders/01JF",
            "/v1/orders/bj_01JF",
            "/healthz",
            "/v1/keys",
            "/v1/stats",
        ] {
            assert_eq!(cell_of(&request(Method::GET, path, "")).unwrap(), "sh", "{path}");
        }
    }

    #[test]
    fn an_operator_names_the_cell_with_a_header() {
        let mut stats = request(Method::GET, "/v1/stats", "");
        let headers = stats.request.headers_mut();
        headers.insert(CELL_HEADER, HeaderValue::from_static("hz"));
        assert_eq!(cell_of(&stats).unwrap(), "hz");
        stats
            .request
            .headers_mut()
            .insert(CELL_HEADER, HeaderValue::from_static("bj"));
        let refused = cell_of(&stats).unwrap_err();
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        assert!(refused.detail.contains("sh, hz"), "{}", refused.detail);
    }

    #[test]
    fn the_cells_variable_is_checked() {
        assert!(Cells::parse(CELLS).is_ok());
        for bad in [
            "",
            "[]",
            r#"[{"name": "sh", "url": "/relative"}]"#,
            r#"[{"name": "sh", "url": "http://h?q=1"}]"#,
            r#"[{"name": "sh", "url": "http://h", "extra": 1}]"#,
            r#"[{"name": "sh", "url": "http://a"}, {"name": "sh", "url": "http://b"}]"#,
        ] {
            assert!(Cells::parse(bad).is_err(), "{bad}");
        }
    }

    /// The outbound port, answering as a cell would and keeping what it was
    /// sent.
    struct Cell {
        sent: RefCell<Vec<http::Request<Vec<u8>>>>,
        answer: Result<u16, HttpError>,
    }

    impl HttpClient for Cell {
        async fn send(&self, request: http::Request<Vec<u8>>, _: u32) -> Result<http::Response<Vec<u8>>, HttpError> {
            self.sent.borrow_mut().push(request);
            match &self.answer {
                Ok(status) => Ok(http::Response::builder()
                    .status(*status)
                    .header(header::CONNECTION, "close")
                    .header("x-from-cell", "yes")
                    .body(b"{}".to_vec())
                    .unwrap()),
                Err(HttpError::Timeout) => Err(HttpError::Timeout),
                Err(HttpError::Unreachable(why)) => Err(HttpError::Unreachable(why.clone())),
            }
        }
    }

    #[test]
    fn the_request_reaches_its_cell_whole_and_the_answer_names_the_cell() {
        let cells = Cells::parse(CELLS).unwrap();
        let cell = Cell {
            sent: RefCell::new(Vec::new()),
            answer: Ok(202),
        };
        let body = order_at(30.2431, 120.15);
        let mut incoming = request(Method::POST, "/v1/orders?x=1", &body);
        incoming
            .request
            .headers_mut()
            .insert("idempotency-key", HeaderValue::from_static("k1"));
        let response = block_on(handle(incoming, &cells, &cell));
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        assert_eq!(response.headers()[&CELL_HEADER], "hz");
        assert_eq!(response.headers()["x-from-cell"], "yes");
        assert!(!response.headers().contains_key(header::CONNECTION));
        let sent = cell.sent.borrow();
        let forwarded = &sent[0];
        assert_eq!(forwarded.uri(), "http://127.0.0.1:3002/prefix/v1/orders?x=1");
        assert_eq!(forwarded.method(), Method::POST);
        assert_eq!(forwarded.body(), body.as_bytes());
        assert_eq!(forwarded.headers()[header::AUTHORIZATION], "Bearer t.s");
        assert_eq!(forwarded.headers()["idempotency-key"], "k1");
        assert!(!forwarded.headers().contains_key(header::HOST));
        assert!(!forwarded.headers().contains_key(header::CONNECTION));
        assert_eq!(forwarded.headers()[header::ACCEPT_ENCODING], "identity");
    }

    #[test]
    fn a_cell_that_cannot_be_reached_is_a_retryable_503() {
        let cells = Cells::parse(CELLS).unwrap();
        for answer in [Err(HttpError::Timeout), Err(HttpError::Unreachable("refused".into()))] {
            let cell = Cell {
                sent: RefCell::new(Vec::new()),
                answer,
            };
            let response = block_on(handle(request(Method::GET, "/v1/orders/hz_1", ""), &cells, &cell));
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert!(String::from_utf8_lossy(response.body()).contains("retry"));
        }
    }
}
