//! The request log line: one per request a function serves, written when
//! it answers, with the trace the request is part of (its valid
//! `traceparent`, else a new one: intake gives a new order that trace,
//! so the order's events and the request carry the same id).

use gasline_core::Millis;
use gasline_core::event::{is_valid_traceparent, new_traceparent};
use gasline_core::log::{Level, Line};
use gasline_ports::{Ports, RouteCounters as _, RouteKey, Tally};

use crate::{Call, Function, Response};

/// A request being served, to be logged when it is answered.
#[derive(Debug)]
pub struct RequestLog {
    function: &'static str,
    method: String,
    route: &'static str,
    id: String,
    traceparent: String,
    started: Millis,
}

impl RequestLog {
    /// Starts the line of `call` (the trace is read or made here).
    pub fn start(call: &Call, ports: &impl Ports) -> Self {
        let traceparent = call
            .request
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .filter(|v| is_valid_traceparent(v))
            .map_or_else(|| new_traceparent(&ports.new_secret()), str::to_owned);
        Self {
            function: match call.route.function {
                Function::Intake => "intake",
                Function::Status => "status",
            },
            method: call.request.method().as_str().to_owned(),
            route: call.route.path,
            id: call.id.clone(),
            traceparent,
            started: ports.now(),
        }
    }

    /// The W3C trace context of this request.
    pub fn traceparent(&self) -> &str {
        &self.traceparent
    }

    /// Writes the line — route (its pattern, not the path), the `{id}`,
    /// status and milliseconds taken; a 5xx is an error, a 4xx a warning —
    /// and counts the request for `/metrics` (`RouteCounters`).
    pub async fn finish(self, ports: &impl Ports, response: &Response) {
        let now = ports.now();
        let status = response.status();
        let ms = (now - self.started).max(0);
        ports
            .counters()
            .add(RouteKey::new(&self.method, self.route, status.as_u16()), Tally::one(ms))
            .await;
        let level = if status.is_server_error() {
            Level::Error
        } else if status.is_client_error() {
            Level::Warn
        } else {
            Level::Info
        };
        let mut line = Line::new(level, self.function, "request", now, &self.traceparent)
            .with("method", self.method)
            .with("route", self.route)
            .with("status", status.as_u16())
            .with("ms", ms);
        if !self.id.is_empty() {
            line = line.with("id", self.id);
        }
        ports.log(&line);
    }
}
