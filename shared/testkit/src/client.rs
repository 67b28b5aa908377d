//! The one HTTP client of the tests, the benchmarks and the demo.
//!
//! A [`Call`] describes a request (method, path, bearer token, headers,
//! body) and can be sent any number of times; a [`Client`] sends it over a
//! [`Transport`] and returns a [`Reply`]. Two transports: [`Loopback`], a
//! running system over HTTP/1.1 (ureq, one keep-alive pool), and any
//! `Fn(http::Request) -> http::Response` — the whole system in process.

use std::time::Duration;

use anyhow::{Context as _, Result};
use serde_json::Value;

/// One request, ready to be sent (again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    method: http::Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Call {
    /// `method path` (the path with its query, from `/`), no body.
    pub fn new(method: http::Method, path: &str) -> Self {
        Self {
            method,
            path: path.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A call from its parts as the tests write them: a method name, an
    /// optional bearer token, extra headers, a body.
    pub fn of(
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: impl Into<Vec<u8>>,
    ) -> Result<Self> {
        let method =
            http::Method::from_bytes(method.as_bytes()).with_context(|| format!("not a method: {method:?}"))?;
        let call = Self::new(method, path).token_opt(token);
        Ok(headers.iter().fold(call, |call, (k, v)| call.header(k, v)).body(body))
    }

    pub fn get(path: &str) -> Self {
        Self::new(http::Method::GET, path)
    }

    /// A `POST` with a JSON body (`Content-Type: application/json` unless
    /// the body is empty).
    pub fn post(path: &str, body: impl Into<Vec<u8>>) -> Self {
        Self::new(http::Method::POST, path).body(body)
    }

    /// `Authorization: Bearer <token>`.
    #[must_use]
    pub fn token(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// With `token`, if there is one.
    #[must_use]
    pub fn token_opt(self, token: Option<&str>) -> Self {
        match token {
            Some(token) => self.token(token),
            None => self,
        }
    }

    /// One more header (sent as given, also when it repeats a name).
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The body; a non-empty one is sent as JSON unless a `content-type`
    /// header says otherwise.
    #[must_use]
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    pub fn method(&self) -> &http::Method {
        &self.method
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// The `http::Request` for this call, addressed to `uri`.
    fn request(&self, uri: &str) -> Result<http::Request<Vec<u8>>> {
        let mut builder = http::Request::builder().method(self.method.clone()).uri(uri);
        let has_type = self.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
        if !self.body.is_empty() && !has_type {
            builder = builder.header("content-type", "application/json");
        }
        for (name, value) in &self.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        builder
            .body(self.body.clone())
            .with_context(|| format!("{} {}: not a valid request", self.method, self.path))
    }
}

/// An answer: status, body and its content type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub content_type: String,
    /// Every header, as received (names in lower case).
    pub headers: Vec<(String, String)>,
}

impl Reply {
    fn of(response: http::Response<Vec<u8>>) -> Self {
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let content_type = headers
            .iter()
            .find(|(k, _)| k == "content-type")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        Self {
            status: response.status().as_u16(),
            body: response.into_body(),
            content_type,
            headers,
        }
    }

    /// The body as JSON; `Null` when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Where a [`Client`] sends its requests.
pub trait Transport {
    /// Sends `call`; an error only when no answer came (connection refused,
    /// timeout), never for a 4xx or 5xx.
    fn send(&self, call: &Call) -> Result<Reply>;
}

/// The system in process: the request goes to a function from `http`
/// request to `http` response (`gasline_local::System::http`).
impl<F> Transport for F
where
    F: Fn(http::Request<Vec<u8>>) -> http::Response<Vec<u8>>,
{
    fn send(&self, call: &Call) -> Result<Reply> {
        Ok(Reply::of(self(call.request(&call.path)?)))
    }
}

/// A running system at `http://host:port` over plain HTTP/1.1, connections
/// kept alive and reused (ureq's pool; a pooled connection the server
/// closed is noticed before it is used). No proxy: the systems under test
/// are on loopback.
#[derive(Debug, Clone)]
pub struct Loopback {
    base: String,
    agent: ureq::Agent,
}

impl Loopback {
    /// A client of `base` (`http://127.0.0.1:8787`) that waits at most
    /// `timeout` for a whole answer.
    pub fn new(base: &str, timeout: Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(timeout))
            .build()
            .into();
        Self {
            base: base.trim_end_matches('/').to_owned(),
            agent,
        }
    }

    /// The base URL, without a trailing `/`.
    pub fn base(&self) -> &str {
        &self.base
    }
}

impl Transport for Loopback {
    fn send(&self, call: &Call) -> Result<Reply> {
        let request = call.request(&format!("{}{}", self.base, call.path))?;
        let what = || format!("{} {}{}", call.method, self.base, call.path);
        let mut response = self.agent.run(request).with_context(what)?;
        let body = response.body_mut().read_to_vec().with_context(what)?;
        let (parts, _) = response.into_parts();
        Ok(Reply::of(http::Response::from_parts(parts, body)))
    }
}

/// Requests to one system, over `T`.
#[derive(Debug, Clone)]
pub struct Client<T> {
    transport: T,
}

impl<T: Transport> Client<T> {
    pub fn new(transport: T) -> Self {
        Self { transport }
    }

    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Sends `call`.
    pub fn send(&self, call: &Call) -> Result<Reply> {
        self.transport.send(call)
    }

    /// `GET path` with `token`.
    pub fn get(&self, path: &str, token: &str) -> Result<Reply> {
        self.send(&Call::get(path).token(token))
    }

    /// `POST path` with `token` and a JSON body.
    pub fn post(&self, path: &str, token: &str, body: impl Into<Vec<u8>>) -> Result<Reply> {
        self.send(&Call::post(path, body).token(token))
    }

    /// `POST /v1/orders` under `key`; the new order's id (an error for any
    /// answer but `202`).
    pub fn place(&self, app_token: &str, key: &str, body: &str) -> Result<String> {
        let reply = self.send(&place_call(app_token, key, body))?;
        anyhow::ensure!(
            reply.status == 202,
            "POST /v1/orders answered {}: {}",
            reply.status,
            reply.text()
        );
        order_id(&reply)
    }
}

/// The `POST /v1/orders` call of [`Client::place`], to send it as it is
/// (the benchmarks prepare many).
pub fn place_call(app_token: &str, key: &str, body: &str) -> Call {
    Call::post("/v1/orders", body)
        .token(app_token)
        .header("idempotency-key", key)
}

/// The `id` of a `202` answer to `POST /v1/orders`.
pub fn order_id(reply: &Reply) -> Result<String> {
    reply.json()["id"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no id in {}", reply.text()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo(request: http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        let (parts, body) = request.into_parts();
        let headers: serde_json::Map<String, Value> = parts
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(v.to_str().unwrap_or("?"))))
            .collect();
        let echoed = serde_json::json!({
            "method": parts.method.as_str(),
            "uri": parts.uri.to_string(),
            "headers": headers,
            "body": String::from_utf8_lossy(&body),
        });
        http::Response::builder()
            .status(201)
            .header("content-type", "application/json")
            .body(echoed.to_string().into_bytes())
            .unwrap()
    }

    #[test]
    fn a_call_carries_its_token_headers_and_json_body() {
        let client = Client::new(echo);
        let reply = client
            .send(
                &Call::post("/v1/orders?x=1", "{}")
                    .token("t0k")
                    .header("Idempotency-Key", "k1"),
            )
            .unwrap();
        assert_eq!(reply.status, 201);
        assert_eq!(reply.content_type, "application/json");
        let echoed = reply.json();
        assert_eq!(echoed["method"], "POST");
        assert_eq!(echoed["uri"], "/v1/orders?x=1");
        assert_eq!(echoed["headers"]["authorization"], "Bearer t0k");
        assert_eq!(echoed["headers"]["idempotency-key"], "k1");
        assert_eq!(echoed["headers"]["content-type"], "application/json");
        assert_eq!(echoed["body"], "{}");
    }

    #[test]
    fn an_empty_body_has_no_content_type_and_a_given_one_wins() {
        let client = Client::new(echo);
        let bare = client.send(&Call::get("/healthz")).unwrap().json();
        assert!(bare["headers"].get("content-type").is_none());
        let text = client
            .send(&Call::post("/x", "a").header("Content-Type", "text/plain"))
            .unwrap()
            .json();
        assert_eq!(text["headers"]["content-type"], "text/plain");
    }

    #[test]
    fn loopback_talks_http_and_keeps_the_connection() {
        use std::io::{BufRead as _, BufReader, Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        // One connection, two requests on it: the second proves keep-alive.
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut writer = stream;
            let mut seen = Vec::new();
            for n in 0..2 {
                let mut head = String::new();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                    if line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                seen.push((head, String::from_utf8(body).unwrap()));
                let answer = format!("answer {n}");
                write!(
                    writer,
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{answer}",
                    answer.len()
                )
                .unwrap();
            }
            seen
        });
        let client = Client::new(Loopback::new(&base, Duration::from_secs(10)));
        let first = client.post("/v1/orders", "tok", "{\"a\":1}").unwrap();
        let second = client.get("/healthz", "tok").unwrap();
        assert_eq!((first.status, first.text().as_str()), (200, "answer 0"));
        assert_eq!(second.text(), "answer 1");
        assert_eq!(second.header("Content-Type"), Some("text/plain"));
        let seen = server.join().unwrap();
        assert!(seen[0].0.starts_with("POST /v1/orders HTTP/1.1\r\n"), "{}", seen[0].0);
        assert!(seen[0].0.to_ascii_lowercase().contains("authorization: bearer tok"));
        assert_eq!(seen[0].1, "{\"a\":1}");
        assert!(seen[1].0.starts_with("GET /healthz HTTP/1.1\r\n"));
    }

    #[test]
    fn no_answer_is_an_error_and_an_error_status_is_not() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let client = Client::new(Loopback::new(&base, Duration::from_secs(5)));
        assert!(client.get("/healthz", "t").is_err());
        let failing =
            Client::new(|_: http::Request<Vec<u8>>| http::Response::builder().status(503).body(Vec::new()).unwrap());
        assert_eq!(failing.get("/", "t").unwrap().status, 503);
        assert!(failing.place("t", "k", "{}").is_err());
    }
}
