//! # gasline-http
//!
//! The HTTP edge shared by the HTTP functions (intake, status), platform
//! neutral: requests and responses are `http` crate types with byte bodies.
//! Bodies are size-limited and parsed strictly (unknown fields refused);
//! every refusal is an RFC 9457 problem document; callers are authenticated
//! by bearer token and role before anything is read or written.

mod admit;
pub mod log;
pub mod openapi;

pub use admit::{
    Access, Body, Call, Endpoint, Function, Head, Limit, MAX_HEADER_BYTES, MAX_HEADERS, MAX_READ_BYTES, Pending,
    ROUTES, Route, admit, admit_head, method_not_allowed, misdirected,
};
use gasline_ports::{Ports, RateLimiter, Taken};
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
    /// Seconds after which the request may succeed (`Retry-After`).
    pub retry_after_s: Option<u32>,
}

impl Problem {
    pub fn new(status: StatusCode, kind: &'static str, title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            title,
            detail: detail.into(),
            retry_after_s: None,
        }
    }

    /// A 429: the caller's token is over its rate limit; one more request
    /// fits in `retry_after_ms` (`Retry-After` in whole seconds, rounded up).
    pub fn too_many_requests(retry_after_ms: i64) -> Self {
        let seconds = u32::try_from((retry_after_ms.max(1) + 999) / 1000).unwrap_or(u32::MAX);
        Self {
            retry_after_s: Some(seconds),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
                format!("this token is over its rate limit; retry in {seconds} s"),
            )
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
        if let Some(seconds) = self.retry_after_s {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
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

/// Parses the body as `T` (admission has held it to the route's size and
/// media type: [`admit`]), refusing bodies that are not JSON at all — not
/// UTF-8, bad syntax, trailing data (400) — and JSON of the wrong shape —
/// unknown or duplicate fields, wrong types, out-of-range values such as
/// `1e400`, an array where an object belongs (422).
pub fn read_json<T: DeserializeOwned>(request: &Request) -> Result<T, Problem> {
    let body = request.body();
    let malformed = |detail: String| Problem::new(StatusCode::BAD_REQUEST, "malformed-json", "Malformed JSON", detail);
    let text = std::str::from_utf8(body).map_err(|e| malformed(format!("the body is not UTF-8: {e}")))?;
    // Syntax alone first (nothing is built, no number is range-checked), so
    // that whatever is JSON is judged on its shape below and only what is
    // not JSON is a 400.
    serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|e| malformed(e.to_string()))?;
    let mut json = serde_json::Deserializer::from_str(text);
    T::deserialize(strict::Strict(&mut json)).map_err(|e| Problem::invalid(e.to_string()))
}

/// The request's query string as `T` (a struct with `deny_unknown_fields`:
/// a parameter it does not name is refused), or a 400 saying what is wrong.
/// No query is an empty one.
pub fn read_query<T: DeserializeOwned>(request: &Request) -> Result<T, Problem> {
    serde_urlencoded::from_str(request.uri().query().unwrap_or_default())
        .map_err(|e| Problem::bad_request(format!("query string: {e}")))
}

/// Structs from JSON objects only. serde_json also reads a struct from an
/// array of its fields in order (`[31.2, 121.4]` as `{"lat", "lon"}`, `[]` as
/// a struct whose fields all have defaults), which `deny_unknown_fields` does
/// not stop. [`Strict`] wraps a deserializer so that, at every depth, a
/// struct is read with `deserialize_map`; everything else is forwarded as is.
mod strict {
    use std::fmt;

    use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};

    pub(crate) struct Strict<D>(pub(crate) D);

    /// What a deserializer hands on (visitor, seeds, accessors), wrapped so
    /// that the values nested in it are read strictly too.
    struct Nested<T>(T);

    macro_rules! forward_deserialize {
        ($($method:ident)*) => {$(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
                self.0.$method(Nested(visitor))
            }
        )*};
    }

    impl<'de, D: Deserializer<'de>> Deserializer<'de> for Strict<D> {
        type Error = D::Error;

        forward_deserialize! {
            deserialize_any deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
            deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
            deserialize_f32 deserialize_f64 deserialize_char deserialize_str deserialize_string deserialize_bytes
            deserialize_byte_buf deserialize_option deserialize_unit deserialize_seq deserialize_map
            deserialize_identifier deserialize_ignored_any
        }

        /// The one change: a struct is read from a JSON object only.
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            _fields: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, D::Error> {
            self.0.deserialize_map(Nested(visitor))
        }

        fn deserialize_unit_struct<V: Visitor<'de>>(
            self,
            name: &'static str,
            visitor: V,
        ) -> Result<V::Value, D::Error> {
            self.0.deserialize_unit_struct(name, Nested(visitor))
        }

        fn deserialize_newtype_struct<V: Visitor<'de>>(
            self,
            name: &'static str,
            visitor: V,
        ) -> Result<V::Value, D::Error> {
            self.0.deserialize_newtype_struct(name, Nested(visitor))
        }

        fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, D::Error> {
            self.0.deserialize_tuple(len, Nested(visitor))
        }

        fn deserialize_tuple_struct<V: Visitor<'de>>(
            self,
            name: &'static str,
            len: usize,
            visitor: V,
        ) -> Result<V::Value, D::Error> {
            self.0.deserialize_tuple_struct(name, len, Nested(visitor))
        }

        fn deserialize_enum<V: Visitor<'de>>(
            self,
            name: &'static str,
            variants: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, D::Error> {
            self.0.deserialize_enum(name, variants, Nested(visitor))
        }

        fn is_human_readable(&self) -> bool {
            self.0.is_human_readable()
        }
    }

    macro_rules! forward_visit {
        ($($method:ident($ty:ty))*) => {$(
            fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
                self.0.$method(v)
            }
        )*};
    }

    impl<'de, V: Visitor<'de>> Visitor<'de> for Nested<V> {
        type Value = V::Value;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.expecting(f)
        }

        forward_visit! {
            visit_bool(bool) visit_i8(i8) visit_i16(i16) visit_i32(i32) visit_i64(i64) visit_i128(i128)
            visit_u8(u8) visit_u16(u16) visit_u32(u32) visit_u64(u64) visit_u128(u128) visit_f32(f32) visit_f64(f64)
            visit_char(char) visit_str(&str) visit_borrowed_str(&'de str) visit_string(String)
            visit_bytes(&[u8]) visit_borrowed_bytes(&'de [u8]) visit_byte_buf(Vec<u8>)
        }

        fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
            self.0.visit_none()
        }

        fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
            self.0.visit_unit()
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
            self.0.visit_some(Strict(d))
        }

        fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
            self.0.visit_newtype_struct(Strict(d))
        }

        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
            self.0.visit_seq(Nested(seq))
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
            self.0.visit_map(Nested(map))
        }

        fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
            self.0.visit_enum(Nested(data))
        }
    }

    impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Nested<S> {
        type Value = S::Value;

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
            self.0.deserialize(Strict(d))
        }
    }

    impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Nested<A> {
        type Error = A::Error;

        fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>, A::Error> {
            self.0.next_element_seed(Nested(seed))
        }

        fn size_hint(&self) -> Option<usize> {
            self.0.size_hint()
        }
    }

    impl<'de, A: MapAccess<'de>> MapAccess<'de> for Nested<A> {
        type Error = A::Error;

        fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
            self.0.next_key_seed(Nested(seed))
        }

        fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
            self.0.next_value_seed(Nested(seed))
        }

        fn size_hint(&self) -> Option<usize> {
            self.0.size_hint()
        }
    }

    impl<'de, A: EnumAccess<'de>> EnumAccess<'de> for Nested<A> {
        type Error = A::Error;
        type Variant = Nested<A::Variant>;

        fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self::Variant), A::Error> {
            self.0
                .variant_seed(Nested(seed))
                .map(|(value, variant)| (value, Nested(variant)))
        }
    }

    impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Nested<A> {
        type Error = A::Error;

        fn unit_variant(self) -> Result<(), A::Error> {
            self.0.unit_variant()
        }

        fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, A::Error> {
            self.0.newtype_variant_seed(Nested(seed))
        }

        fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
            self.0.tuple_variant(len, Nested(visitor))
        }

        fn struct_variant<V: Visitor<'de>>(
            self,
            fields: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, A::Error> {
            self.0.struct_variant(fields, Nested(visitor))
        }
    }
}

/// Like [`read_json`], but an empty body means `T::default()`.
pub fn read_optional_json<T: DeserializeOwned + Default>(request: &Request) -> Result<T, Problem> {
    if request.body().iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        read_json(request)
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
    let principal = tokens::verify_cached(ports.sql(), token, ports.now())
        .await
        .map_err(|_| Problem::unavailable())?
        .ok_or_else(Problem::unauthorized)?;
    if !roles.contains(&principal.role) {
        return Err(Problem::forbidden(format!(
            "this endpoint does not accept {} tokens",
            principal.role.as_str()
        )));
    }
    within_rate(ports, &principal).await?;
    Ok(principal)
}

/// Spends one request of the token's bucket ([`gasline_core::limit`]), at
/// the rate `dispatch_config.rate_limits` sets for its role; over it, a 429
/// with `Retry-After`. Only callers who proved who they are get this far,
/// so a bucket is a real client's. A limiter that cannot be reached lets
/// the request through: limits protect capacity, and the request meets
/// the same store trouble on its way if there is any.
async fn within_rate(ports: &impl Ports, principal: &Principal) -> Result<(), Problem> {
    let config = gasline_store::config(ports).await.map_err(|_| Problem::unavailable())?;
    let limits = &config.rate_limits;
    let rate = match principal.role {
        Role::App => limits.app,
        Role::Rider => limits.rider,
        Role::Station => limits.station,
        Role::Ops => limits.ops,
    };
    let Some(rate) = rate else {
        return Ok(());
    };
    match ports.limiter().take(&principal.token_id, rate).await {
        Ok(Taken::Limited { retry_after_ms }) => Err(Problem::too_many_requests(retry_after_ms)),
        Ok(Taken::Allowed { .. }) | Err(_) => Ok(()),
    }
}

/// Turns a handler's `Result` into the response.
pub fn respond(result: Result<Response, Problem>) -> Response {
    result.unwrap_or_else(Problem::into_response)
}

/// Loads an order the caller may see: ops any, an app client its own, a
/// rider the one it is assigned to. Anything else is "not found", so order
/// ids cannot be probed.
pub async fn visible_order(
    ports: &impl Ports,
    principal: &Principal,
    id: &str,
) -> Result<gasline_core::order::Order, Problem> {
    let order = gasline_store::order::load(ports.sql(), id)
        .await
        .map_err(|_| Problem::unavailable())?;
    order
        .filter(|o| match principal.role {
            Role::Ops => true,
            Role::App => o.client == principal.subject,
            Role::Rider => o.is_assigned_to(&principal.subject),
            Role::Station => false,
        })
        .ok_or_else(|| Problem::not_found("order"))
}

/// The problem document for a command the core refused.
pub fn refused(refusal: gasline_core::order::Refusal) -> Problem {
    use gasline_core::order::Refusal;
    match refusal {
        Refusal::NotNow { .. } => Problem::conflict(refusal.to_string()),
        // Only reachable by a rider that cannot see the order anyway.
        Refusal::NotAssigned => Problem::not_found("order"),
        Refusal::Invalid(detail) => Problem::invalid(detail),
    }
}

/// What a command needs loaded besides the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandFacts<'a> {
    None,
    /// The order's station (pickup: the night rule at loading time).
    Station,
    /// A rider the command names (a reassignment), and the order's station.
    Rider(&'a gasline_core::types::RiderId),
}

/// Applies a command to an order the caller may see, the way every HTTP
/// command does: load it (and the facts it needs), ask the core, commit the
/// decision as one batch with its events, and re-read and decide again when
/// a concurrent writer won the race. Answers `{"id", "state"}`.
pub async fn change_order<P: Ports>(
    ports: &P,
    principal: &Principal,
    id: &str,
    input: gasline_core::order::Input<'_>,
    needs: CommandFacts<'_>,
) -> Result<Response, Problem> {
    use gasline_core::order::{Facts, Stamp, decide};
    let config = gasline_store::config(ports).await.map_err(|_| Problem::unavailable())?;
    for _ in 0..4 {
        let order = visible_order(ports, principal, id).await?;
        let station = match (needs, &order.station_id) {
            (CommandFacts::Station | CommandFacts::Rider(_), Some(station)) => {
                gasline_store::stations::candidate(ports.sql(), station)
                    .await
                    .map_err(|_| Problem::unavailable())?
            }
            _ => None,
        };
        let rider = match needs {
            CommandFacts::Rider(rider) => gasline_store::riders::candidate(ports.sql(), rider)
                .await
                .map_err(|_| Problem::unavailable())?,
            _ => None,
        };
        let stations: Vec<_> = station.into_iter().collect();
        let riders: Vec<_> = rider.into_iter().collect();
        let facts = Facts {
            stations: &stations,
            riders: &riders,
            ..Facts::none()
        };
        let nonce = ports.new_id();
        let actor = principal.actor();
        let stamp = Stamp {
            now: ports.now(),
            id: &nonce,
            actor: Some(&actor),
        };
        let decision = decide(&order, input, &facts, &stamp, &config).map_err(refused)?;
        let state = decision.order().map_or(order.state, |o| o.state);
        let answer = || {
            json(
                http::StatusCode::OK,
                &serde_json::json!({ "id": order.id, "state": state }),
            )
        };
        if decision.is_empty() {
            return Ok(answer());
        }
        match gasline_store::order::commit(ports, &decision, None, Vec::new()).await {
            Ok(()) => return Ok(answer()),
            Err(gasline_ports::StoreError::Conflict(_)) => continue,
            Err(_) => return Err(Problem::unavailable()),
        }
    }
    Err(Problem::unavailable())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Point {
        lat: f64,
        lon: f64,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[serde(default)]
        at: Option<Point>,
        #[serde(default)]
        points: Vec<Point>,
        #[serde(default)]
        counts: BTreeMap<String, u32>,
    }

    fn read(body: &[u8]) -> Result<Body, u16> {
        let request = http::Request::builder()
            .header("content-type", "application/json")
            .body(body.to_vec())
            .expect("request");
        read_json(&request).map_err(|p| p.status.as_u16())
    }

    #[test]
    fn objects_parse_at_every_depth() {
        let body = read(br#"{"at": {"lat": 1, "lon": 2}, "points": [{"lat": 3, "lon": 4}], "counts": {"a": 1}}"#);
        assert_eq!(body.unwrap().points, [Point { lat: 3.0, lon: 4.0 }]);
        assert_eq!(read(b"{}"), Ok(Body::default()));
    }

    #[test]
    fn arrays_are_not_structs() {
        for body in [
            &b"[]"[..],
            br#"{"at": [1, 2]}"#,
            br#"{"points": [[3, 4]]}"#,
            br#"[null, []]"#,
        ] {
            assert_eq!(read(body), Err(422), "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn what_is_not_json_is_400_and_what_is_json_of_the_wrong_shape_is_422() {
        for body in [
            &b""[..],
            b"{",
            b"[1,2",
            b"{} x",
            b"\xff",
            b"{\"counts\": {\"\xff\": 1}}",
            b"NaN",
        ] {
            assert_eq!(read(body), Err(400), "{}", String::from_utf8_lossy(body));
        }
        for body in [
            &br#"{"at": {"lat": 1e400, "lon": 0}}"#[..],
            br#"{"counts": {"a": -1}}"#,
            br#"{"x": 1}"#,
            br#"{"at": null, "at": null}"#,
            b"null",
        ] {
            assert_eq!(read(body), Err(422), "{}", String::from_utf8_lossy(body));
        }
    }
}
