//! Bad input to every HTTP handler. Each refusal must be a 4xx RFC 9457
//! problem document (`application/problem+json` whose body has `type`,
//! `title`, `status` equal to the HTTP status, and `detail`; `401` also says
//! `WWW-Authenticate: Bearer`, `405` says `Allow`) and must leave the database
//! exactly as it was (`World::fingerprint` before and after each case).
//!
//! Tables are data: adding a case is one line, `case(name, request, status)`.
//! Every case is checked and every failure reported by name. Each table is
//! followed by the valid request its cases were derived from, which must be
//! accepted: a refusal then proves the one thing a case changed is refused,
//! not that the template was broken.

use gasline_store::tokens::Role;
use gasline_tests::*;
use http::HeaderValue;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------
// Requests and the refusal check
// ---------------------------------------------------------------------------

/// A request exactly as a client sends it: nothing is added implicitly.
#[derive(Debug, Clone)]
struct Req {
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, Vec<u8>)>,
    body: Vec<u8>,
}

impl Req {
    fn new(method: &'static str, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn get(path: impl Into<String>) -> Self {
        Self::new("GET", path)
    }

    fn post(path: impl Into<String>) -> Self {
        Self::new("POST", path)
    }

    /// Sets a header (replacing any earlier value); bytes are sent as given.
    fn header(mut self, name: &'static str, value: impl AsRef<[u8]>) -> Self {
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.as_ref().to_vec()));
        self
    }

    fn without(mut self, name: &str) -> Self {
        self.headers.retain(|(n, _)| *n != name);
        self
    }

    fn bearer(self, token: &str) -> Self {
        self.header("authorization", format!("Bearer {token}"))
    }

    fn key(self, key: impl AsRef<[u8]>) -> Self {
        self.header("idempotency-key", key)
    }

    /// A JSON body (any bytes, labelled `application/json`).
    fn json(self, body: impl AsRef<[u8]>) -> Self {
        self.typed("application/json", body)
    }

    fn typed(self, content_type: &str, body: impl AsRef<[u8]>) -> Self {
        let mut req = self.header("content-type", content_type);
        req.body = body.as_ref().to_vec();
        req
    }

    /// A body without any `Content-Type`.
    fn untyped(self, body: impl AsRef<[u8]>) -> Self {
        let mut req = self.without("content-type");
        req.body = body.as_ref().to_vec();
        req
    }
}

/// One row of a table: what is sent and the status it must get.
struct Case {
    name: String,
    request: Req,
    expect: u16,
}

fn case(name: impl Into<String>, request: Req, expect: u16) -> Case {
    Case {
        name: name.into(),
        request,
        expect,
    }
}

fn send(world: &World, req: &Req) -> http::Response<Vec<u8>> {
    let mut builder = http::Request::builder().method(req.method).uri(req.path.as_str());
    for (name, value) in &req.headers {
        builder = builder.header(*name, HeaderValue::from_bytes(value).expect("a sendable header value"));
    }
    world
        .system
        .http(builder.body(req.body.clone()).expect("the request builds"))
}

fn header<'a>(response: &'a http::Response<Vec<u8>>, name: &str) -> &'a str {
    response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// What is wrong with `response` as the refusal `expect`; empty if nothing.
fn refusal_faults(response: &http::Response<Vec<u8>>, expect: u16) -> Vec<String> {
    let mut faults = Vec::new();
    let status = response.status().as_u16();
    if status != expect {
        faults.push(format!("got status {status}, expected {expect}"));
    }
    let content_type = header(response, "content-type");
    if content_type != "application/problem+json" {
        faults.push(format!(
            "content-type is {content_type:?}, not application/problem+json"
        ));
    }
    match serde_json::from_slice::<Value>(response.body()) {
        Ok(doc) => {
            for field in ["type", "title", "detail"] {
                if doc[field].as_str().is_none_or(|s| s.trim().is_empty()) {
                    faults.push(format!("the problem has no `{field}`"));
                }
            }
            if doc["status"] != status {
                faults.push(format!("the problem's `status` is {}", doc["status"]));
            }
        }
        Err(_) => faults.push("the body is not JSON".to_owned()),
    }
    if expect == 401 && !header(response, "www-authenticate").starts_with("Bearer") {
        faults.push("a 401 without WWW-Authenticate: Bearer".to_owned());
    }
    if expect == 405 && header(response, "allow").is_empty() {
        faults.push("a 405 without Allow".to_owned());
    }
    let text = String::from_utf8_lossy(response.body()).to_lowercase();
    for internal in ["sqlite", "select ", "insert ", "panicked", "backtrace"] {
        if text.contains(internal) {
            faults.push(format!("the body leaks internals ({internal:?})"));
        }
    }
    faults
}

/// Tables whose rows differ between two fingerprints.
fn changed_tables(before: &[(String, String)], after: &[(String, String)]) -> Vec<String> {
    after
        .iter()
        .filter(|row| !before.contains(row))
        .map(|(table, _)| table.clone())
        .collect()
}

/// Sends every case; each must be refused as its row says and change nothing.
fn assert_refused(world: &World, cases: &[Case]) {
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        assert!(
            (400..500).contains(&case.expect),
            "{}: a refusal is a 4xx (table error)",
            case.name
        );
        assert!(
            cases[..i].iter().all(|c| c.name != case.name),
            "{}: case names must be unique",
            case.name
        );
        let before = world.fingerprint();
        let response = send(world, &case.request);
        let mut faults = refusal_faults(&response, case.expect);
        let after = world.fingerprint();
        if after != before {
            faults.push(format!("the database changed: {:?}", changed_tables(&before, &after)));
        }
        if !faults.is_empty() {
            failures.push(format!(
                "{}: {}\n      body: {}",
                case.name,
                faults.join("; "),
                String::from_utf8_lossy(response.body())
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases were not refused as required:\n  {}",
        failures.len(),
        cases.len(),
        failures.join("\n  ")
    );
}

/// Sends a request that must succeed with `expect`; returns its JSON body.
fn assert_accepted(world: &World, what: &str, req: &Req, expect: u16) -> Value {
    let response = send(world, req);
    let body = String::from_utf8_lossy(response.body()).into_owned();
    assert_eq!(response.status().as_u16(), expect, "{what}: {body}");
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

// ---------------------------------------------------------------------------
// Bodies and credentials
// ---------------------------------------------------------------------------

/// The valid order every order case is a variation of.
fn valid_order() -> Value {
    OrderBody::new().item("YSP35.5", 2).note("请放在门口").json()
}

/// The valid order with one change.
fn order_with(change: impl FnOnce(&mut Value)) -> String {
    let mut order = valid_order();
    change(&mut order);
    order.to_string()
}

/// Removes `field` from the object at `pointer`.
fn remove(value: &mut Value, pointer: &str, field: &str) {
    value
        .pointer_mut(pointer)
        .and_then(Value::as_object_mut)
        .expect("an object at the pointer")
        .remove(field)
        .expect("the field was there");
}

/// `text` with the first `from` replaced by raw bytes (which need not be UTF-8).
fn splice(text: &str, from: &str, to: &[u8]) -> Vec<u8> {
    let at = text.find(from).expect("the text contains it");
    [&text.as_bytes()[..at], to, &text.as_bytes()[at + from.len()..]].concat()
}

/// `body` followed by whitespace up to exactly `len` bytes: still valid JSON.
fn padded(body: &str, len: usize) -> String {
    assert!(body.len() <= len);
    format!("{body}{}", " ".repeat(len - body.len()))
}

/// The largest body the HTTP functions accept by default (16 KiB).
const MAX_BODY: usize = 16 * 1024;

/// Requests that must not get past authentication (401): no, malformed or
/// forged credentials. `token` is a valid token of the caller the template
/// was built for; it is only ever sent altered.
fn unauthenticated(label: &str, template: &Req, token: &str) -> Vec<Case> {
    let (id, secret) = token.split_once('.').expect("<token_id>.<secret>");
    let mut tampered = secret.to_owned();
    let last = if tampered.pop() == Some('0') { '1' } else { '0' };
    tampered.push(last);
    let with = |auth: &[u8]| template.clone().header("authorization", auth);
    let zeros = "0".repeat(64);
    #[rustfmt::skip]
    let cases = [
        ("no Authorization", template.clone().without("authorization")),
        ("empty Authorization", with(b"")),
        ("scheme without token", with(b"Bearer")),
        ("Bearer and a blank", with(b"Bearer ")),
        ("unknown token id", with(format!("Bearer nobody-here.{zeros}").as_bytes())),
        ("right id, wrong secret", with(format!("Bearer {id}.{zeros}").as_bytes())),
        ("right id, last secret char changed", with(format!("Bearer {id}.{tampered}").as_bytes())),
        ("right id, empty secret", with(format!("Bearer {id}.").as_bytes())),
        ("secret without id", with(format!("Bearer .{secret}").as_bytes())),
        ("token without a dot", with(format!("Bearer {id}{secret}").as_bytes())),
        ("garbage token", with(b"Bearer !!!not-a-token###")),
        ("over-long token id", with(format!("Bearer {}.{secret}", "a".repeat(65)).as_bytes())),
        ("over-long secret", with(format!("Bearer {id}.{}", "0".repeat(257)).as_bytes())),
        ("non-UTF-8 token", with(b"Bearer \xff\xfe.\xfd")),
        ("Basic scheme", with(b"Basic YXBwLWRlbW86c2VjcmV0")),
        ("valid token under Basic", with(format!("Basic {token}").as_bytes())),
        ("valid token without scheme", with(token.as_bytes())),
        ("valid token in another header", template.clone().without("authorization").header("x-api-key", token)),
    ];
    cases
        .into_iter()
        .map(|(name, req)| case(format!("{label}: {name}"), req, 401))
        .collect()
}

/// The same request with each of `tokens` instead: (who, token, status).
fn as_callers(label: &str, template: &Req, tokens: &[(&str, &str, u16)]) -> Vec<Case> {
    tokens
        .iter()
        .map(|(who, token, status)| case(format!("{label}: as {who}"), template.clone().bearer(token), *status))
        .collect()
}

/// A token for a second customer app (a different client).
fn other_app(world: &World) -> String {
    gasline_local::demo::add_token(&world.system, "app-other", Role::App, "other-app", world.seed())
}

/// An order that has reached `waybill_signed`, and who is on it.
struct Assigned {
    id: String,
    rider: String,
    rider_token: String,
    station: String,
    /// A rider who is not on this order.
    other_rider: String,
    other_rider_token: String,
}

fn signed_order(world: &World) -> Assigned {
    let id = world.place_order(&OrderBody::new().item("YSP35.5", 2).to_string());
    world.system.run_for(2_000);
    let status = world.status(&id);
    assert_eq!(status["state"], "waybill_signed", "{status:#}");
    let rider = status["rider_id"].as_str().expect("a rider").to_owned();
    let station = status["station_id"].as_str().expect("a station").to_owned();
    let (other_rider, other_rider_token) = world
        .creds
        .riders
        .iter()
        .find(|(r, _)| *r != rider)
        .cloned()
        .expect("a second rider");
    Assigned {
        rider_token: world.rider_token(&rider),
        id,
        rider,
        station,
        other_rider,
        other_rider_token,
    }
}

fn station_token(world: &World, station: &str) -> String {
    world
        .creds
        .stations
        .iter()
        .find(|(s, _)| s == station)
        .map(|(_, t)| t.clone())
        .expect("a known station")
}

/// Pickup body listing `codes` as YSP35.5 cylinders.
fn pickup_body(codes: &[&str]) -> String {
    let cylinders: Vec<_> = codes
        .iter()
        .map(|c| json!({"spec": "YSP35.5", "trace_code": c}))
        .collect();
    json!({ "cylinders": cylinders }).to_string()
}

// ---------------------------------------------------------------------------
// POST /v1/orders
// ---------------------------------------------------------------------------

#[test]
fn create_order_refuses_malformed_and_wrong_shaped_bodies() {
    let world = World::demo(11, 4);
    let key = "bad-input-order-1";
    let create = |body: &str| Req::post("/v1/orders").bearer(&world.creds.app).key(key).json(body);
    let create_bytes = |body: &[u8]| Req::post("/v1/orders").bearer(&world.creds.app).key(key).json(body);
    let valid = valid_order().to_string();
    let lat = CENTRE_LAT.to_string();
    assert!(valid.contains(&lat), "the template spells the latitude as {lat}");
    let raw = |from: &str, to: &str| create(&valid.replacen(from, to, 1));

    #[rustfmt::skip]
    let cases = vec![
        // Malformed JSON: 400.
        case("empty body", create(""), 400),
        case("whitespace only", create("  \n"), 400),
        case("lone brace", create("{"), 400),
        case("unterminated array", create("[1,2"), 400),
        case("not JSON", create("customer=王芳&items=2"), 400),
        case("single quotes", create("{'customer': {}}"), 400),
        case("trailing comma", create(&valid.replacen('}', ",}", 1)), 400),
        case("trailing garbage", create(&format!("{valid} x")), 400),
        case("two documents", create(&format!("{valid}{valid}")), 400),
        case("comment", create(&format!("/* order */ {valid}")), 400),
        case("byte order mark", create(&format!("\u{feff}{valid}")), 400),
        case("non-UTF-8 bytes", create_bytes(b"\xff\xfe{\"customer\":1}"), 400),
        case("non-UTF-8 inside a string", create_bytes(&splice(&valid, "王芳", b"\xe7\x8e")), 400),
        case("raw control character in a string", raw("王芳", "王\u{1}芳"), 400),
        case("NaN literal", raw(&lat, "NaN"), 400),
        case("Infinity literal", raw(&lat, "Infinity"), 400),
        case("hex number", raw(&lat, "0x1F"), 400),
        // Wrong types: 422.
        case("body is null", create("null"), 422),
        case("body is a string", create("\"order\""), 422),
        case("body is a number", create("2"), 422),
        case("body is an empty array", create("[]"), 422),
        case("body is the order as an array", create(&json!([valid_order()["customer"], valid_order()["items"]]).to_string()), 422),
        case("deeply nested arrays, unclosed", create(&"[".repeat(10_000)), 400),
        case("deeply nested arrays, closed", create(&format!("{}{}", "[".repeat(5_000), "]".repeat(5_000))), 422),
        // Grammatical JSON (RFC 8259 §8.2) whose value is not a Unicode string.
        case("lone surrogate escape", raw("王芳", "\\ud800"), 422),
        case("quantity as a string", create(&order_with(|o| o["items"][0]["quantity"] = json!("2"))), 422),
        case("quantity as a fraction", create(&order_with(|o| o["items"][0]["quantity"] = json!(2.5))), 422),
        case("quantity as 2.0", raw("\"quantity\":2", "\"quantity\":2.0"), 422),
        case("quantity as true", create(&order_with(|o| o["items"][0]["quantity"] = json!(true))), 422),
        case("lat as a string", create(&order_with(|o| o["customer"]["location"]["lat"] = json!("31"))), 422),
        case("lon as null", create(&order_with(|o| o["customer"]["location"]["lon"] = Value::Null)), 422),
        case("location as [lat, lon]", create(&order_with(|o| o["customer"]["location"] = json!([CENTRE_LAT, CENTRE_LON]))), 422),
        case("location as a string", create(&order_with(|o| o["customer"]["location"] = json!("31.23,121.47"))), 422),
        case("phone as a number", create(&order_with(|o| o["customer"]["phone"] = json!(13_800_138_000_u64))), 422),
        case("name as an array", create(&order_with(|o| o["customer"]["name"] = json!(["王", "芳"]))), 422),
        case("customer as a string", create(&order_with(|o| o["customer"] = json!("王芳"))), 422),
        case("customer as an array", create(&order_with(|o| o["customer"] = json!(["王芳", "13800138000", "上海", {"lat": 31.2, "lon": 121.4}]))), 422),
        case("items as an object", create(&order_with(|o| o["items"] = json!({"spec": "YSP35.5", "quantity": 2}))), 422),
        case("item as an array", create(&order_with(|o| o["items"] = json!([["YSP35.5", 2]]))), 422),
        case("spec as a number", create(&order_with(|o| o["items"][0]["spec"] = json!(35.5))), 422),
        case("note as a number", create(&order_with(|o| o["note"] = json!(1))), 422),
        // Unknown fields: 422.
        case("unknown top-level field", create(&order_with(|o| o["priority"] = json!("high"))), 422),
        case("unknown field in customer", create(&order_with(|o| o["customer"]["email"] = json!("a@b.cn"))), 422),
        case("unknown field in location", create(&order_with(|o| o["customer"]["location"]["alt"] = json!(4))), 422),
        case("unknown field in an item", create(&order_with(|o| o["items"][0]["price"] = json!(120))), 422),
        case("field with wrong case", create(&order_with(|o| { let items = o["items"].take(); remove(o, "", "items"); o["Items"] = items; })), 422),
        case("duplicate top-level field", create(&format!("{{\"note\":\"x\",{}", &valid[1..])), 422),
        case("duplicate nested field", raw("\"phone\":", "\"phone\":\"13900139000\",\"phone\":"), 422),
        // Missing required fields: 422.
        case("empty object", create("{}"), 422),
        case("missing customer", create(&order_with(|o| remove(o, "", "customer"))), 422),
        case("missing items", create(&order_with(|o| remove(o, "", "items"))), 422),
        case("missing name", create(&order_with(|o| remove(o, "/customer", "name"))), 422),
        case("missing phone", create(&order_with(|o| remove(o, "/customer", "phone"))), 422),
        case("missing address", create(&order_with(|o| remove(o, "/customer", "address"))), 422),
        case("missing location", create(&order_with(|o| remove(o, "/customer", "location"))), 422),
        case("missing lat", create(&order_with(|o| remove(o, "/customer/location", "lat"))), 422),
        case("missing lon", create(&order_with(|o| remove(o, "/customer/location", "lon"))), 422),
        case("missing spec", create(&order_with(|o| remove(o, "/items/0", "spec"))), 422),
        case("missing quantity", create(&order_with(|o| remove(o, "/items/0", "quantity"))), 422),
        // Out of range: 422.
        case("lat 91", create(&order_with(|o| o["customer"]["location"]["lat"] = json!(91))), 422),
        case("lat -90.0001", create(&order_with(|o| o["customer"]["location"]["lat"] = json!(-90.0001))), 422),
        case("lon -181", create(&order_with(|o| o["customer"]["location"]["lon"] = json!(-181))), 422),
        case("lon 180.5", create(&order_with(|o| o["customer"]["location"]["lon"] = json!(180.5))), 422),
        case("lat 1e308", create(&order_with(|o| o["customer"]["location"]["lat"] = json!(1e308))), 422),
        case("lat 1e400", raw(&lat, "1e400"), 422),
        case("lon -1e400", raw(&CENTRE_LON.to_string(), "-1e400"), 422),
        case("quantity 0", create(&order_with(|o| o["items"][0]["quantity"] = json!(0))), 422),
        case("quantity 21", create(&order_with(|o| o["items"][0]["quantity"] = json!(21))), 422),
        case("quantity -1", create(&order_with(|o| o["items"][0]["quantity"] = json!(-1))), 422),
        case("quantity 2^32", create(&order_with(|o| o["items"][0]["quantity"] = json!(4_294_967_296_u64))), 422),
        case("quantity 1e400", raw("\"quantity\":2", "\"quantity\":1e400"), 422),
        case("unknown cylinder spec", create(&order_with(|o| o["items"][0]["spec"] = json!("YSP50"))), 422),
        case("spec in lower case", create(&order_with(|o| o["items"][0]["spec"] = json!("ysp35.5"))), 422),
        case("empty spec", create(&order_with(|o| o["items"][0]["spec"] = json!(""))), 422),
        case("duplicate specs", create(&order_with(|o| o["items"] = json!([{"spec": "YSP12", "quantity": 1}, {"spec": "YSP12", "quantity": 1}]))), 422),
        case("five lines", create(&order_with(|o| o["items"] = json!(["YSP4.7", "YSP12", "YSP35.5", "YSP118", "YSP12"].map(|s| json!({"spec": s, "quantity": 1}))))), 422),
        case("empty items", create(&order_with(|o| o["items"] = json!([]))), 422),
        case("items null", create(&order_with(|o| o["items"] = Value::Null)), 422),
        case("phone with 10 digits", create(&order_with(|o| o["customer"]["phone"] = json!("1380013800"))), 422),
        case("phone with 12 digits", create(&order_with(|o| o["customer"]["phone"] = json!("138001380000"))), 422),
        case("phone not starting with 1", create(&order_with(|o| o["customer"]["phone"] = json!("23800138000"))), 422),
        case("phone 12x prefix", create(&order_with(|o| o["customer"]["phone"] = json!("12800138000"))), 422),
        case("phone with +86", create(&order_with(|o| o["customer"]["phone"] = json!("+8613800138000"))), 422),
        case("phone with dashes", create(&order_with(|o| o["customer"]["phone"] = json!("138-0013-8000"))), 422),
        case("phone in full-width digits", create(&order_with(|o| o["customer"]["phone"] = json!("１３８００１３８０００"))), 422),
        case("empty phone", create(&order_with(|o| o["customer"]["phone"] = json!(""))), 422),
        case("empty name", create(&order_with(|o| o["customer"]["name"] = json!(""))), 422),
        case("blank name", create(&order_with(|o| o["customer"]["name"] = json!("   "))), 422),
        case("name of 65 characters", create(&order_with(|o| o["customer"]["name"] = json!("王".repeat(65)))), 422),
        case("name with NUL", create(&order_with(|o| o["customer"]["name"] = json!("王\u{0}芳"))), 422),
        case("name with a newline", create(&order_with(|o| o["customer"]["name"] = json!("王\n芳"))), 422),
        case("empty address", create(&order_with(|o| o["customer"]["address"] = json!(""))), 422),
        case("address of 201 characters", create(&order_with(|o| o["customer"]["address"] = json!("路".repeat(201)))), 422),
        case("address with a bell", create(&order_with(|o| o["customer"]["address"] = json!("人民大道\u{7}200号"))), 422),
        case("empty note", create(&order_with(|o| o["note"] = json!(""))), 422),
        case("note of 201 characters", create(&order_with(|o| o["note"] = json!("门".repeat(201)))), 422),
        // Size and media type.
        case("body of 16 KiB + 1", create(&padded(&valid, MAX_BODY + 1)), 413),
        case("body of 1 MiB", create(&padded(&valid, 1 << 20)), 413),
        case("no content type", Req::post("/v1/orders").bearer(&world.creds.app).key(key).untyped(&valid), 415),
        case("text/plain", create(&valid).header("content-type", "text/plain"), 415),
        case("form encoded", create(&valid).header("content-type", "application/x-www-form-urlencoded"), 415),
        case("multipart", create(&valid).header("content-type", "multipart/form-data; boundary=x"), 415),
        case("application/jsonp", create(&valid).header("content-type", "application/jsonp"), 415),
        case("problem+json", create(&valid).header("content-type", "application/problem+json"), 415),
        case("content type json", create(&valid).header("content-type", "json"), 415),
        case("non-ASCII content type", create(&valid).header("content-type", b"application/json\xff"), 415),
    ];
    assert_refused(&world, &cases);

    // The template is valid, at the size limit and with a charset parameter,
    // and the refused requests did not use up the key.
    let ok = create(&padded(&valid, MAX_BODY)).header("content-type", "application/json; charset=utf-8");
    let created = assert_accepted(&world, "the valid order at the size limit", &ok, 202);
    assert!(created["id"].is_string(), "{created:#}");
}

#[test]
fn create_order_requires_an_app_or_ops_token() {
    let world = World::demo(12, 4);
    let template = Req::post("/v1/orders")
        .bearer(&world.creds.app)
        .key("auth-1")
        .json(valid_order().to_string());
    let rider = world.creds.riders[0].1.clone();
    let station = world.creds.stations[0].1.clone();
    let mut cases = unauthenticated("create", &template, &world.creds.app);
    cases.extend(as_callers(
        "create",
        &template,
        &[("a rider", &rider, 403), ("a station device", &station, 403)],
    ));
    // Authentication comes first: a bad body without credentials is a 401.
    cases.push(case(
        "create: bad body, no token",
        template.clone().without("authorization").json("{"),
        401,
    ));
    assert_refused(&world, &cases);
    assert_accepted(&world, "the template with the app token", &template, 202);
    // The desk takes orders by phone (the ops console) with its ops token.
    let by_phone = Req::post("/v1/orders")
        .bearer(&world.creds.ops)
        .key("auth-desk")
        .json(valid_order().to_string());
    assert_accepted(&world, "the template with the ops token", &by_phone, 202);
}

#[test]
fn idempotency_key_is_required_valid_and_bound_to_its_body() {
    let world = World::demo(13, 4);
    let app = world.creds.app.clone();
    let body = valid_order().to_string();
    let create = |key: &[u8], body: &str| Req::post("/v1/orders").bearer(&app).key(key).json(body);
    let long = "k".repeat(129);
    #[rustfmt::skip]
    let cases = vec![
        case("missing Idempotency-Key", create(b"k-1", &body).without("idempotency-key"), 400),
        case("empty Idempotency-Key", create(b"", &body), 400),
        case("Idempotency-Key of 129 characters", create(long.as_bytes(), &body), 400),
        case("Idempotency-Key with a space", create(b"order 1", &body), 400),
        case("Idempotency-Key with a tab", create(b"order\t1", &body), 400),
        case("Idempotency-Key in UTF-8", create("订单-1".as_bytes(), &body), 400),
        case("Idempotency-Key with a raw high byte", create(b"order-\xff", &body), 400),
    ];
    assert_refused(&world, &cases);

    // The longest key is fine.
    let key = "k".repeat(128);
    let first = assert_accepted(&world, "a 128-character key", &create(key.as_bytes(), &body), 202);
    let id = first["id"].as_str().expect("an order id").to_owned();

    // Reusing the key for anything else is refused and creates nothing.
    let other_quantity = order_with(|o| o["items"][0]["quantity"] = json!(3));
    let other_note = order_with(|o| o["note"] = json!("改成下午送"));
    #[rustfmt::skip]
    let reuse = vec![
        case("same key, other quantity", create(key.as_bytes(), &other_quantity), 422),
        case("same key, other note", create(key.as_bytes(), &other_note), 422),
        case("same key, invalid body", create(key.as_bytes(), "{"), 400),
    ];
    assert_refused(&world, &reuse);

    // The same key with the same body answers with the same order, again and
    // again, and writes nothing.
    for attempt in 1..=3 {
        let before = world.fingerprint();
        let again = assert_accepted(&world, "a replay", &create(key.as_bytes(), &body), 202);
        assert_eq!(again["id"], id.as_str(), "replay {attempt} names the first order");
        assert_eq!(world.fingerprint(), before, "replay {attempt} wrote nothing");
    }
    let orders = world.query(gasline_ports::sql!("SELECT id FROM orders"));
    assert_eq!(orders.len(), 1, "one order for one key");
}

// ---------------------------------------------------------------------------
// POST /v1/orders/{id}/cancel
// ---------------------------------------------------------------------------

#[test]
fn cancel_refuses_bad_bodies_and_other_callers() {
    let world = World::demo(14, 6);
    let order = signed_order(&world);
    let other_app = other_app(&world);
    let path = format!("/v1/orders/{}/cancel", order.id);
    let cancel = |body: &str| Req::post(path.as_str()).bearer(&world.creds.app).json(body);
    let station = station_token(&world, &order.station);

    #[rustfmt::skip]
    let mut cases = vec![
        case("cancel: lone brace", cancel("{"), 400),
        case("cancel: unterminated array", cancel("[1,2"), 400),
        case("cancel: non-UTF-8", cancel("").json(b"{\"reason\":\"\xff\"}"), 400),
        case("cancel: trailing garbage", cancel("{} {}"), 400),
        case("cancel: body is null", cancel("null"), 422),
        case("cancel: body is an empty array", cancel("[]"), 422),
        case("cancel: body is [reason]", cancel("[\"太贵了\"]"), 422),
        case("cancel: body is a string", cancel("\"cancel\""), 422),
        case("cancel: unknown field", cancel(r#"{"why": "太贵了"}"#), 422),
        case("cancel: reason as a number", cancel(r#"{"reason": 1}"#), 422),
        case("cancel: reason as an object", cancel(r#"{"reason": {"text": "x"}}"#), 422),
        case("cancel: empty reason", cancel(r#"{"reason": ""}"#), 422),
        case("cancel: reason of 201 characters", cancel(&json!({"reason": "贵".repeat(201)}).to_string()), 422),
        case("cancel: reason with NUL", cancel(&json!({"reason": "a\u{0}b"}).to_string()), 422),
        case("cancel: duplicate reason", cancel(r#"{"reason": "a", "reason": "b"}"#), 422),
        case("cancel: body of 16 KiB + 1", cancel(&padded("{}", MAX_BODY + 1)), 413),
        case("cancel: text/plain", cancel("{}").header("content-type", "text/plain"), 415),
        case("cancel: no content type", Req::post(path.as_str()).bearer(&world.creds.app).untyped("{}"), 415),
        case("cancel: unknown order", Req::post("/v1/orders/01NOSUCHORDER/cancel").bearer(&world.creds.app), 404),
        case("cancel: invalid order id", Req::post("/v1/orders/..%2F..%2Fetc/cancel").bearer(&world.creds.app), 404),
    ];
    let template = Req::post(path.as_str()).bearer(&world.creds.app);
    cases.extend(unauthenticated("cancel", &template, &world.creds.app));
    cases.extend(as_callers(
        "cancel",
        &template,
        &[
            ("another app", &other_app, 404),
            ("the assigned rider", &order.rider_token, 403),
            ("another rider", &order.other_rider_token, 403),
            ("the station device", &station, 403),
        ],
    ));
    assert_refused(&world, &cases);
    assert_eq!(world.status(&order.id)["state"], "waybill_signed");
    // The refusal names the field the client sent.
    let empty = send(&world, &cancel(r#"{"reason": ""}"#));
    let detail: Value = serde_json::from_slice(empty.body()).unwrap();
    assert!(
        detail["detail"]
            .as_str()
            .unwrap()
            .starts_with("reason: must not be empty"),
        "{detail}"
    );

    let done = assert_accepted(&world, "the owner's cancel", &cancel(r#"{"reason": "不需要了"}"#), 200);
    assert_eq!(done["state"], "cancelled");
}

#[test]
fn cancel_after_pickup_or_delivery_conflicts() {
    let world = World::demo(15, 6);
    let order = signed_order(&world);
    let rider = |step: &str, body: &str| {
        let req = Req::post(format!("/v1/orders/{}/{step}", order.id)).bearer(&order.rider_token);
        if body.is_empty() { req } else { req.json(body) }
    };
    let cancel_by = |token: &str| Req::post(format!("/v1/orders/{}/cancel", order.id)).bearer(token);
    assert_accepted(&world, "accept", &rider("accept", ""), 200);
    assert_accepted(
        &world,
        "pickup",
        &rider("pickup", &pickup_body(&["LPG00000001", "LPG00000002"])),
        200,
    );
    assert_refused(
        &world,
        &[
            case(
                "cancel of a picked-up order by the app",
                cancel_by(&world.creds.app),
                409,
            ),
            case("cancel of a picked-up order by ops", cancel_by(&world.creds.ops), 409),
            case(
                "cancel of a picked-up order with a reason",
                cancel_by(&world.creds.app).json(r#"{"reason": "等太久"}"#),
                409,
            ),
        ],
    );
    assert_accepted(&world, "deliver", &rider("deliver", ""), 200);
    assert_refused(
        &world,
        &[
            case(
                "cancel of a delivered order by the app",
                cancel_by(&world.creds.app),
                409,
            ),
            case("cancel of a delivered order by ops", cancel_by(&world.creds.ops), 409),
        ],
    );
    assert_eq!(world.status(&order.id)["state"], "delivered");
}

// ---------------------------------------------------------------------------
// POST /v1/orders/{id}/accept · /pickup · /deliver
// ---------------------------------------------------------------------------

#[test]
fn accept_and_deliver_refuse_bad_input_and_other_callers() {
    let world = World::demo(16, 6);
    let order = signed_order(&world);
    let station = station_token(&world, &order.station);
    let mut cases = Vec::new();
    for step in ["accept", "deliver"] {
        let path = format!("/v1/orders/{}/{step}", order.id);
        let template = Req::post(path.as_str()).bearer(&order.rider_token);
        let with = |body: &str| template.clone().json(body);
        cases.extend([
            case(format!("{step}: lone brace"), with("{"), 400),
            case(format!("{step}: non-UTF-8"), template.clone().json(b"\xff"), 400),
            case(format!("{step}: body is null"), with("null"), 422),
            case(format!("{step}: body is an empty array"), with("[]"), 422),
            case(format!("{step}: body is a number"), with("1"), 422),
            case(format!("{step}: unknown field"), with(r#"{"eta_minutes": 10}"#), 422),
            case(format!("{step}: body over 1 KiB"), with(&padded("{}", 1025)), 413),
            case(
                format!("{step}: text/plain"),
                template.clone().typed("text/plain", "{}"),
                415,
            ),
            case(format!("{step}: no content type"), template.clone().untyped("{}"), 415),
            case(
                format!("{step}: unknown order"),
                Req::post(format!("/v1/orders/01NOSUCHORDER/{step}")).bearer(&order.rider_token),
                404,
            ),
            // Authentication comes before the body is read.
            case(
                format!("{step}: bad body, no token"),
                with("{").without("authorization"),
                401,
            ),
        ]);
        cases.extend(unauthenticated(step, &template, &order.rider_token));
        cases.extend(as_callers(
            step,
            &template,
            &[
                ("a rider not on the order", &order.other_rider_token, 404),
                ("the app", &world.creds.app, 403),
                ("ops", &world.creds.ops, 403),
                ("the station device", &station, 403),
            ],
        ));
    }
    // Out of order: nothing is picked up yet.
    cases.push(case(
        "deliver before pickup",
        Req::post(format!("/v1/orders/{}/deliver", order.id)).bearer(&order.rider_token),
        409,
    ));
    cases.push(case(
        "pickup before accept",
        Req::post(format!("/v1/orders/{}/pickup", order.id))
            .bearer(&order.rider_token)
            .json(pickup_body(&["LPG00000001", "LPG00000002"])),
        409,
    ));
    assert_refused(&world, &cases);

    let accept = Req::post(format!("/v1/orders/{}/accept", order.id)).bearer(&order.rider_token);
    assert_accepted(&world, "the assigned rider accepts", &accept.clone().json("{}"), 200);
    assert_refused(&world, &[case("accept twice", accept, 409)]);
}

#[test]
fn pickup_refuses_wrong_cylinders_and_leaves_stock_alone() {
    let world = World::demo(17, 6);
    let order = signed_order(&world);
    let path = format!("/v1/orders/{}/pickup", order.id);
    assert_accepted(
        &world,
        "accept",
        &Req::post(format!("/v1/orders/{}/accept", order.id)).bearer(&order.rider_token),
        200,
    );
    let stock_before = world.stock(&order.station, "YSP35.5");
    assert_eq!(stock_before, (60, 2), "two cylinders locked for the order");

    let template = Req::post(path.as_str()).bearer(&order.rider_token);
    let pickup = |body: &str| template.clone().json(body);
    let valid = pickup_body(&["LPG00000001", "LPG00000002"]);
    let cylinder = |spec: &str, code: &str| json!({"spec": spec, "trace_code": code});
    let station = station_token(&world, &order.station);
    #[rustfmt::skip]
    let mut cases = vec![
        case("pickup: one cylinder for two", pickup(&pickup_body(&["LPG00000001"])), 422),
        case("pickup: three cylinders for two", pickup(&pickup_body(&["LPG00000001", "LPG00000002", "LPG00000003"])), 422),
        case("pickup: no cylinders", pickup(&pickup_body(&[])), 422),
        case("pickup: duplicate trace codes", pickup(&pickup_body(&["LPG00000001", "LPG00000001"])), 422),
        case("pickup: lower-case trace code", pickup(&pickup_body(&["LPG00000001", "lpg00000002"])), 422),
        case("pickup: trace code of 7 characters", pickup(&pickup_body(&["LPG00000001", "LPG0000"])), 422),
        case("pickup: trace code of 33 characters", pickup(&pickup_body(&["LPG00000001", &"A".repeat(33)])), 422),
        case("pickup: trace code with a dash", pickup(&pickup_body(&["LPG00000001", "LPG-0000002"])), 422),
        case("pickup: empty trace code", pickup(&pickup_body(&["LPG00000001", ""])), 422),
        case("pickup: trace code as a number", pickup(&json!({"cylinders": [cylinder("YSP35.5", "LPG00000001"), {"spec": "YSP35.5", "trace_code": 12_345_678}]}).to_string()), 422),
        case("pickup: a spec the order lacks", pickup(&json!({"cylinders": [cylinder("YSP35.5", "LPG00000001"), cylinder("YSP12", "LPG00000002")]}).to_string()), 422),
        case("pickup: an extra spec", pickup(&json!({"cylinders": [cylinder("YSP35.5", "LPG00000001"), cylinder("YSP35.5", "LPG00000002"), cylinder("YSP12", "LPG00000003")]}).to_string()), 422),
        case("pickup: unknown spec", pickup(&json!({"cylinders": [cylinder("YSP35.5", "LPG00000001"), cylinder("YSP50", "LPG00000002")]}).to_string()), 422),
        case("pickup: missing trace code", pickup(&json!({"cylinders": [cylinder("YSP35.5", "LPG00000001"), {"spec": "YSP35.5"}]}).to_string()), 422),
        case("pickup: missing spec", pickup(&json!({"cylinders": [cylinder("YSP35.5", "LPG00000001"), {"trace_code": "LPG00000002"}]}).to_string()), 422),
        case("pickup: unknown field in a cylinder", pickup(&json!({"cylinders": [cylinder("YSP35.5", "LPG00000001"), {"spec": "YSP35.5", "trace_code": "LPG00000002", "weight_kg": 15}]}).to_string()), 422),
        case("pickup: cylinder as [spec, code]", pickup(&json!({"cylinders": [cylinder("YSP35.5", "LPG00000001"), ["YSP35.5", "LPG00000002"]]}).to_string()), 422),
        case("pickup: unknown top-level field", pickup(&valid.replacen('{', r#"{"photo":"x","#, 1)), 422),
        case("pickup: missing cylinders", pickup("{}"), 422),
        case("pickup: cylinders as an object", pickup(&json!({"cylinders": cylinder("YSP35.5", "LPG00000001")}).to_string()), 422),
        case("pickup: cylinders as a string", pickup(r#"{"cylinders": "LPG00000001,LPG00000002"}"#), 422),
        case("pickup: body is an array", pickup(&json!([[cylinder("YSP35.5", "LPG00000001"), cylinder("YSP35.5", "LPG00000002")]]).to_string()), 422),
        case("pickup: empty body", template.clone(), 415),
        case("pickup: empty JSON body", pickup(""), 400),
        case("pickup: lone brace", pickup("{"), 400),
        case("pickup: non-UTF-8", template.clone().json(b"{\"cylinders\":[\xff]}"), 400),
        case("pickup: body of 16 KiB + 1", pickup(&padded(&valid, MAX_BODY + 1)), 413),
        case("pickup: text/plain", template.clone().typed("text/plain", &valid), 415),
        case("pickup: unknown order", Req::post("/v1/orders/01NOSUCHORDER/pickup").bearer(&order.rider_token).json(&valid), 404),
        // Authentication comes before anything in the body is looked at.
        case("pickup: duplicate codes, no token", pickup(&pickup_body(&["LPG00000001", "LPG00000001"])).without("authorization"), 401),
        case("pickup: malformed body, no token", pickup("{").without("authorization"), 401),
    ];
    cases.extend(unauthenticated("pickup", &pickup(&valid), &order.rider_token));
    cases.extend(as_callers(
        "pickup",
        &pickup(&valid),
        &[
            ("a rider not on the order", &order.other_rider_token, 404),
            ("the app", &world.creds.app, 403),
            ("ops", &world.creds.ops, 403),
            ("the station device", &station, 403),
        ],
    ));
    assert_refused(&world, &cases);
    assert_eq!(world.stock(&order.station, "YSP35.5"), stock_before, "stock unchanged");

    assert_accepted(&world, "the right pickup", &pickup(&valid), 200);
    assert_eq!(world.stock(&order.station, "YSP35.5"), (58, 0), "stock settled once");
    assert_refused(&world, &[case("pickup twice", pickup(&valid), 409)]);
}

// ---------------------------------------------------------------------------
// Rider inbox and location
// ---------------------------------------------------------------------------

#[test]
fn rider_location_refuses_bad_input_and_other_callers() {
    let world = World::demo(18, 4);
    let (rider, token) = world.creds.riders[0].clone();
    let (other, other_token) = world.creds.riders[1].clone();
    let path = format!("/v1/riders/{rider}/location");
    let template = Req::post(path.as_str()).bearer(&token);
    let report = |body: Value| template.clone().json(body.to_string());
    let at = |lat: Value, lon: Value| report(json!({"location": {"lat": lat, "lon": lon}}));
    let valid = json!({"location": {"lat": CENTRE_LAT, "lon": CENTRE_LON}, "available": true}).to_string();
    let lat = CENTRE_LAT.to_string();
    let raw = |from: &str, to: &str| template.clone().json(valid.replacen(from, to, 1));
    let station = world.creds.stations[0].1.clone();

    #[rustfmt::skip]
    let mut cases = vec![
        case("location: lone brace", template.clone().json("{"), 400),
        case("location: unterminated array", template.clone().json("[1,2"), 400),
        case("location: non-UTF-8", template.clone().json(b"{\"location\":\xff}"), 400),
        case("location: empty JSON body", template.clone().json(""), 400),
        case("location: NaN", raw(&lat, "NaN"), 400),
        case("location: lat as a string", at(json!("31"), json!(CENTRE_LON)), 422),
        case("location: lon as a string", at(json!(CENTRE_LAT), json!("121.47")), 422),
        case("location: lat null", at(Value::Null, json!(CENTRE_LON)), 422),
        case("location: lat 91", at(json!(91), json!(CENTRE_LON)), 422),
        case("location: lat -91", at(json!(-91), json!(CENTRE_LON)), 422),
        case("location: lon -181", at(json!(CENTRE_LAT), json!(-181)), 422),
        case("location: lon 181", at(json!(CENTRE_LAT), json!(181)), 422),
        case("location: lat 1e400", raw(&lat, "1e400"), 422),
        case("location: lat -1e400", raw(&lat, "-1e400"), 422),
        case("location: lat 1e308", at(json!(1e308), json!(CENTRE_LON)), 422),
        case("location: as [lat, lon]", report(json!({"location": [CENTRE_LAT, CENTRE_LON]})), 422),
        case("location: as a geohash", report(json!({"location": "wtw3s"})), 422),
        case("location: body is an array", report(json!([{"lat": CENTRE_LAT, "lon": CENTRE_LON}, true])), 422),
        case("location: missing location", report(json!({"available": true})), 422),
        case("location: missing lat", report(json!({"location": {"lon": CENTRE_LON}})), 422),
        case("location: missing lon", report(json!({"location": {"lat": CENTRE_LAT}})), 422),
        case("location: empty object", report(json!({})), 422),
        case("location: unknown top-level field", report(json!({"location": {"lat": CENTRE_LAT, "lon": CENTRE_LON}, "speed": 3})), 422),
        case("location: unknown field in location", report(json!({"location": {"lat": CENTRE_LAT, "lon": CENTRE_LON, "accuracy_m": 5}})), 422),
        case("location: available as a string", report(json!({"location": {"lat": CENTRE_LAT, "lon": CENTRE_LON}, "available": "yes"})), 422),
        case("location: available as 1", report(json!({"location": {"lat": CENTRE_LAT, "lon": CENTRE_LON}, "available": 1})), 422),
        case("location: duplicate location", raw("\"location\":", "\"location\":{\"lat\":0,\"lon\":0},\"location\":"), 422),
        case("location: body over 1 KiB", template.clone().json(padded(&valid, 1025)), 413),
        case("location: text/plain", template.clone().typed("text/plain", &valid), 415),
        case("location: no content type", template.clone().untyped(&valid), 415),
        case("location: another rider's location", Req::post(format!("/v1/riders/{other}/location")).bearer(&token).json(&valid), 403),
        case("location: an unknown rider's location", Req::post("/v1/riders/rd-9999/location").bearer(&token).json(&valid), 403),
        case("location: bad body, no token", template.clone().json("{").without("authorization"), 401),
    ];
    let good = template.clone().json(&valid);
    cases.extend(unauthenticated("location", &good, &token));
    cases.extend(as_callers(
        "location",
        &good,
        &[
            ("another rider", &other_token, 403),
            ("the app", &world.creds.app, 403),
            ("ops", &world.creds.ops, 403),
            ("a station device", &station, 403),
        ],
    ));
    assert_refused(&world, &cases);

    let moved = assert_accepted(&world, "the rider's own report", &good, 200);
    assert_eq!(moved["rider_id"], rider.as_str());
}

#[test]
fn rider_inbox_is_only_for_that_rider() {
    let world = World::demo(19, 4);
    let (rider, token) = world.creds.riders[0].clone();
    let (other, other_token) = world.creds.riders[1].clone();
    let template = Req::get(format!("/v1/riders/{rider}/inbox")).bearer(&token);
    let station = world.creds.stations[0].1.clone();
    let mut cases = unauthenticated("inbox", &template, &token);
    cases.extend(as_callers(
        "inbox",
        &template,
        &[
            ("another rider", &other_token, 403),
            ("the app", &world.creds.app, 403),
            ("ops", &world.creds.ops, 403),
            ("a station device", &station, 403),
        ],
    ));
    cases.push(case(
        "inbox: another rider's inbox",
        Req::get(format!("/v1/riders/{other}/inbox")).bearer(&token),
        403,
    ));
    assert_refused(&world, &cases);
    assert_accepted(&world, "the rider's own inbox", &template, 200);
}

// ---------------------------------------------------------------------------
// POST /v1/stations/{id}/telemetry
// ---------------------------------------------------------------------------

#[test]
fn station_telemetry_refuses_bad_input_and_other_devices() {
    let world = World::demo(20, 4);
    // Thirty-odd reports in one simulated instant are over a device's rate
    // limit; this test is about what each is refused for, so no limit.
    world.configure(r#"{"rate_limits": {"station": null}}"#);
    let (station, token) = world.creds.stations[0].clone();
    let (other, other_token) = world.creds.stations[1].clone();
    let path = format!("/v1/stations/{station}/telemetry");
    let template = Req::post(path.as_str()).bearer(&token);
    let report = |body: Value| template.clone().json(body.to_string());
    let valid = json!({"stock": {"YSP12": 40, "YSP35.5": 60}, "leak_ppm": 12.5, "temperature_c": 21.0}).to_string();
    let raw = |from: &str, to: &str| template.clone().json(valid.replacen(from, to, 1));
    let rider = world.creds.riders[0].1.clone();

    #[rustfmt::skip]
    let mut cases = vec![
        case("telemetry: lone brace", template.clone().json("{"), 400),
        case("telemetry: unterminated array", template.clone().json("[1,2"), 400),
        case("telemetry: non-UTF-8", template.clone().json(b"{\"stock\":{\"\xff\":1}}"), 400),
        case("telemetry: empty JSON body", template.clone().json(""), 400),
        case("telemetry: body is null", template.clone().json("null"), 422),
        case("telemetry: body is an empty array", template.clone().json("[]"), 422),
        case("telemetry: body is an array", report(json!([{"YSP12": 40}, 12.5, 21.0])), 422),
        case("telemetry: unknown cylinder spec", report(json!({"stock": {"YSP50": 3}})), 422),
        case("telemetry: spec in lower case", report(json!({"stock": {"ysp12": 3}})), 422),
        case("telemetry: duplicate spec", raw("\"YSP12\":40", "\"YSP12\":2,\"YSP12\":40"), 422),
        case("telemetry: negative count", report(json!({"stock": {"YSP12": -1}})), 422),
        case("telemetry: fractional count", report(json!({"stock": {"YSP12": 1.5}})), 422),
        case("telemetry: count as a string", report(json!({"stock": {"YSP12": "40"}})), 422),
        case("telemetry: implausible count", report(json!({"stock": {"YSP12": 100_001}})), 422),
        case("telemetry: count 2^32", report(json!({"stock": {"YSP12": 4_294_967_296_u64}})), 422),
        case("telemetry: stock as an array", report(json!({"stock": [{"spec": "YSP12", "count": 40}]})), 422),
        case("telemetry: stock as a number", report(json!({"stock": 40})), 422),
        case("telemetry: negative leak", report(json!({"leak_ppm": -0.5})), 422),
        case("telemetry: leak as a string", report(json!({"leak_ppm": "high"})), 422),
        case("telemetry: leak 1e400", raw("12.5", "1e400"), 422),
        case("telemetry: temperature 151", report(json!({"temperature_c": 151})), 422),
        case("telemetry: temperature -61", report(json!({"temperature_c": -61})), 422),
        case("telemetry: temperature -1e400", raw("21.0", "-1e400"), 422),
        case("telemetry: temperature as a string", report(json!({"temperature_c": "21"})), 422),
        case("telemetry: unknown top-level field", report(json!({"stock": {"YSP12": 40}, "humidity": 40})), 422),
        case("telemetry: duplicate field", raw("\"leak_ppm\":", "\"leak_ppm\":0,\"leak_ppm\":"), 422),
        case("telemetry: body of 16 KiB + 1", template.clone().json(padded(&valid, MAX_BODY + 1)), 413),
        case("telemetry: text/plain", template.clone().typed("text/plain", &valid), 415),
        case("telemetry: no content type", template.clone().untyped(&valid), 415),
        case("telemetry: for another station", Req::post(format!("/v1/stations/{other}/telemetry")).bearer(&token).json(&valid), 403),
        case("telemetry: for an unknown station", Req::post("/v1/stations/st-nowhere-99/telemetry").bearer(&token).json(&valid), 403),
        case("telemetry: bad body, no token", template.clone().json("{").without("authorization"), 401),
    ];
    let good = template.clone().json(&valid);
    cases.extend(unauthenticated("telemetry", &good, &token));
    cases.extend(as_callers(
        "telemetry",
        &good,
        &[
            ("another station's device", &other_token, 403),
            ("a rider", &rider, 403),
            ("the app", &world.creds.app, 403),
            ("ops", &world.creds.ops, 403),
        ],
    ));
    assert_refused(&world, &cases);

    let recorded = assert_accepted(&world, "the station's own report", &good, 200);
    assert_eq!(recorded["station_id"], station.as_str(), "{recorded:#}");
}

// ---------------------------------------------------------------------------
// POST /v1/waybills/verify
// ---------------------------------------------------------------------------

#[test]
fn verify_refuses_what_is_not_a_signed_waybill() {
    let world = World::demo(21, 6);
    let order = signed_order(&world);
    let signed: Value = serde_json::from_str(&world.waybill(&order.id)).expect("the waybill is JSON");
    let verify = |body: &str| Req::post("/v1/waybills/verify").json(body);
    let with = |change: &dyn Fn(&mut Value)| {
        let mut doc = signed.clone();
        change(&mut doc);
        verify(&doc.to_string())
    };
    let text = signed.to_string();

    #[rustfmt::skip]
    let cases = vec![
        case("verify: empty JSON body", verify(""), 400),
        case("verify: lone brace", verify("{"), 400),
        case("verify: unterminated array", verify("[1,2"), 400),
        case("verify: non-UTF-8", verify("").json(b"\xff\xfe"), 400),
        case("verify: trailing garbage", verify(&format!("{text}]")), 400),
        case("verify: body is null", verify("null"), 422),
        case("verify: body is an empty object", verify("{}"), 422),
        case("verify: body is [waybill, signature]", verify(&json!([signed["waybill"], signed["signature"]]).to_string()), 422),
        case("verify: the waybill alone", verify(&signed["waybill"].to_string()), 422),
        case("verify: missing signature", with(&|d| remove(d, "", "signature")), 422),
        case("verify: missing signature value", with(&|d| remove(d, "/signature", "value")), 422),
        case("verify: missing waybill id", with(&|d| remove(d, "/waybill", "waybill_id")), 422),
        case("verify: unknown top-level field", with(&|d| d["comment"] = json!("hi")), 422),
        case("verify: unknown field in signature", with(&|d| d["signature"]["x5c"] = json!([])), 422),
        case("verify: unknown field in waybill", with(&|d| d["waybill"]["extra"] = json!(1)), 422),
        case("verify: unknown field in consignee", with(&|d| d["waybill"]["consignee"]["email"] = json!("a@b.cn")), 422),
        case("verify: signature value as a number", with(&|d| d["signature"]["value"] = json!(1)), 422),
        case("verify: consignee phone invalid", with(&|d| d["waybill"]["consignee"]["phone"] = json!("12345")), 422),
        case("verify: station lat 91", with(&|d| d["waybill"]["station"]["location"]["lat"] = json!(91)), 422),
        case("verify: quantity 0", with(&|d| d["waybill"]["items"][0]["quantity"] = json!(0)), 422),
        case("verify: unknown spec", with(&|d| d["waybill"]["items"][0]["spec"] = json!("YSP50")), 422),
        case("verify: empty items", with(&|d| d["waybill"]["items"] = json!([])), 422),
        case("verify: body of 16 KiB + 1", verify(&padded(&text, MAX_BODY + 1)), 413),
        case("verify: text/plain", verify(&text).header("content-type", "text/plain"), 415),
        case("verify: no content type", Req::post("/v1/waybills/verify").untyped(&text), 415),
    ];
    assert_refused(&world, &cases);

    let checked = assert_accepted(&world, "the issued waybill", &verify(&text), 200);
    assert_eq!(checked["valid"], true, "{checked:#}");
    // A well-formed but tampered waybill is not bad input: it is answered,
    // with the reason it does not verify.
    let tampered = with(&|d| d["waybill"]["consignee"]["address"] = json!("别的地址"));
    let answer = assert_accepted(&world, "a tampered waybill", &tampered, 200);
    assert_eq!(answer["valid"], false, "{answer:#}");
}

// ---------------------------------------------------------------------------
// Reads, ops, routing
// ---------------------------------------------------------------------------

#[test]
fn reads_and_ops_refuse_callers_without_the_right() {
    let world = World::demo(22, 6);
    let order = signed_order(&world);
    let other_app = other_app(&world);
    let station = station_token(&world, &order.station);
    let mut cases = Vec::new();
    for (label, path) in [
        ("order", format!("/v1/orders/{}", order.id)),
        ("waybill", format!("/v1/orders/{}/waybill", order.id)),
    ] {
        let template = Req::get(path.as_str()).bearer(&world.creds.app);
        cases.extend(unauthenticated(label, &template, &world.creds.app));
        cases.extend(as_callers(
            label,
            &template,
            &[
                ("another app", &other_app, 404),
                ("a rider not on the order", &order.other_rider_token, 404),
                ("a station device", &station, 403),
            ],
        ));
        cases.push(case(
            format!("{label}: unknown order"),
            Req::get(path.replace(&order.id, "01NOSUCHORDER")).bearer(&world.creds.ops),
            404,
        ));
    }
    for (label, method, path) in [
        ("stats", "GET", "/v1/stats"),
        ("metrics", "GET", "/metrics"),
        ("sweep", "POST", "/v1/ops/sweep"),
        ("migrate", "POST", "/v1/ops/migrate"),
    ] {
        let template = Req::new(method, path).bearer(&world.creds.ops);
        cases.extend(unauthenticated(label, &template, &world.creds.ops));
        cases.extend(as_callers(
            label,
            &template,
            &[
                ("the app", &world.creds.app, 403),
                ("a rider", &order.rider_token, 403),
                ("a station device", &station, 403),
            ],
        ));
    }
    assert_refused(&world, &cases);

    // Those who may read, can.
    let order_path = format!("/v1/orders/{}", order.id);
    for (who, token) in [
        ("app", &world.creds.app),
        ("rider", &order.rider_token),
        ("ops", &world.creds.ops),
    ] {
        assert_accepted(
            &world,
            &format!("{who} reads the order"),
            &Req::get(order_path.as_str()).bearer(token),
            200,
        );
    }
    assert_accepted(
        &world,
        "ops reads stats",
        &Req::get("/v1/stats").bearer(&world.creds.ops),
        200,
    );
    let metrics = send(&world, &Req::get("/metrics").bearer(&world.creds.ops));
    assert_eq!(metrics.status(), 200);
    assert_accepted(
        &world,
        "ops sweeps",
        &Req::post("/v1/ops/sweep").bearer(&world.creds.ops),
        200,
    );
    assert_accepted(
        &world,
        "ops migrates",
        &Req::post("/v1/ops/migrate").bearer(&world.creds.ops),
        200,
    );
    assert_ne!(order.rider, order.other_rider);
}

#[test]
fn wrong_methods_and_unknown_paths_are_refused() {
    let world = World::demo(23, 4);
    let order = world.place_order(&OrderBody::new().item("YSP35.5", 1).to_string());
    let (rider, rider_token) = world.creds.riders[0].clone();
    let (station, _) = world.creds.stations[0].clone();
    let ops = world.creds.ops.clone();
    let on = |method: &'static str, path: &str| Req::new(method, path.to_owned()).bearer(&ops);
    let o = |suffix: &str| format!("/v1/orders/{order}{suffix}");
    #[rustfmt::skip]
    let cases = vec![
        case("GET /v1/orders", on("GET", "/v1/orders"), 405),
        case("PUT /v1/orders", on("PUT", "/v1/orders").json(valid_order().to_string()), 405),
        case("DELETE /v1/orders", on("DELETE", "/v1/orders"), 405),
        case("POST /v1/orders/{id}", on("POST", &o("")).json("{}"), 405),
        case("DELETE /v1/orders/{id}", on("DELETE", &o("")), 405),
        case("PATCH /v1/orders/{id}", on("PATCH", &o("")).json("{}"), 405),
        case("GET cancel", on("GET", &o("/cancel")), 405),
        case("DELETE cancel", on("DELETE", &o("/cancel")), 405),
        case("POST waybill", on("POST", &o("/waybill")), 405),
        case("GET accept", on("GET", &o("/accept")), 405),
        case("GET pickup", on("GET", &o("/pickup")), 405),
        case("PUT deliver", on("PUT", &o("/deliver")), 405),
        case("POST inbox", Req::post(format!("/v1/riders/{rider}/inbox")).bearer(&rider_token), 405),
        case("GET location", Req::get(format!("/v1/riders/{rider}/location")).bearer(&rider_token), 405),
        case("GET telemetry", on("GET", &format!("/v1/stations/{station}/telemetry")), 405),
        case("GET verify", on("GET", "/v1/waybills/verify"), 405),
        case("POST keys", on("POST", "/v1/keys").json("{}"), 405),
        case("POST stats", on("POST", "/v1/stats"), 405),
        case("DELETE metrics", on("DELETE", "/metrics"), 405),
        case("POST healthz", on("POST", "/healthz"), 405),
        case("GET sweep", on("GET", "/v1/ops/sweep"), 405),
        case("GET migrate", on("GET", "/v1/ops/migrate"), 405),
        case("unknown root", on("GET", "/"), 404),
        case("unknown version", on("GET", "/v2/orders"), 404),
        case("unknown collection", on("GET", "/v1/customers"), 404),
        case("unknown order action", on("POST", &o("/refund")), 404),
        case("too deep under an order", on("GET", &o("/waybill/extra")), 404),
        case("unknown rider action", Req::post(format!("/v1/riders/{rider}/teleport")).bearer(&rider_token), 404),
        case("stations without action", on("GET", &format!("/v1/stations/{station}")), 404),
        case("riders collection", on("GET", "/v1/riders"), 404),
        case("unknown path, POST with body", on("POST", "/v1/anything").json("{"), 404),
    ];
    assert_refused(&world, &cases);
    assert_eq!(
        send(&world, &Req::get("/healthz")).status(),
        200,
        "health needs no token"
    );
    // The 405 names what the path takes; HEAD is GET without the body, and
    // OPTIONS lists the methods.
    let refused = send(&world, &on("GET", "/v1/orders"));
    assert_eq!(header(&refused, "allow"), "POST, OPTIONS");
    let refused = send(&world, &on("POST", &o("")).json("{}"));
    assert_eq!(header(&refused, "allow"), "GET, HEAD, OPTIONS");
    let head = send(&world, &on("HEAD", &o("")));
    assert_eq!((head.status().as_u16(), head.body().len()), (200, 0));
    let options = send(&world, &on("OPTIONS", &o("/cancel")));
    assert_eq!(options.status(), 204);
    assert_eq!(header(&options, "allow"), "POST, OPTIONS");
}
