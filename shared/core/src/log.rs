//! Structured log lines: one JSON object per line, each with the W3C trace
//! id of the order or request it is about, so one order's life can be
//! followed from intake through every event to outbound calls by grepping
//! one id (`docs/OPERATIONS.md`, "Logs"). The core only formats; the
//! platform writes the line (`Ports::log`).
//!
//! Every line has `ts` (RFC 3339, UTC, ms), `level`, `fn` (the function
//! or part that wrote it), `msg` and `trace_id`; then what the line is
//! about (`route`, `status`, `ms`; `topic`, `event_id`, `order_id`,
//! `outcome`; `url`, …). Never a customer's name, phone or address, nor a
//! token or key.

use serde_json::{Map, Value};

use crate::Millis;
use crate::event::is_valid_traceparent;

/// How much a line matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

/// The trace id (32 hex digits) of a valid `traceparent`.
pub fn trace_id(traceparent: &str) -> Option<&str> {
    is_valid_traceparent(traceparent).then(|| &traceparent[3..35])
}

/// One log line, built field by field.
#[derive(Debug, Clone, PartialEq)]
pub struct Line(Map<String, Value>);

impl Line {
    /// A line about `trace` (a `traceparent`; when it is not valid the
    /// line says `trace_id: null` rather than inventing one).
    pub fn new(level: Level, function: &str, msg: &str, at: Millis, trace: &str) -> Self {
        let mut map = Map::new();
        map.insert("ts".into(), crate::time::rfc3339(at).into());
        map.insert("level".into(), level.as_str().into());
        map.insert("fn".into(), function.into());
        map.insert("msg".into(), msg.into());
        map.insert("trace_id".into(), trace_id(trace).map_or(Value::Null, Value::from));
        Self(map)
    }

    /// Adds (or replaces) a field.
    #[must_use]
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.insert(key.to_owned(), value.into());
        self
    }

    /// The line as written: compact JSON, no newline.
    pub fn render(&self) -> String {
        Value::Object(self.0.clone()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_line_is_one_json_object_with_the_trace_id() {
        let line = Line::new(Level::Info, "signing", "event handled", 1_795_406_400_000, TRACE)
            .with("topic", "rider.assigned")
            .with("ms", 3)
            .render();
        assert!(!line.contains('\n'));
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(parsed["ts"], "2026-11-23T04:00:00.000Z");
        assert_eq!(
            (
                &parsed["level"],
                &parsed["fn"],
                &parsed["msg"],
                &parsed["topic"],
                &parsed["ms"]
            ),
            (
                &"info".into(),
                &"signing".into(),
                &"event handled".into(),
                &"rider.assigned".into(),
                &3.into()
            )
        );
    }

    #[test]
    fn an_invalid_traceparent_gives_no_trace_id() {
        for bad in ["", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"] {
            assert_eq!(trace_id(bad), None, "{bad}");
            let line: Value = serde_json::from_str(&Line::new(Level::Warn, "x", "y", 0, bad).render()).unwrap();
            assert_eq!(line["trace_id"], Value::Null);
        }
        // Text that would break a line is escaped.
        let line = Line::new(Level::Error, "x", "a\nb\"c", 0, TRACE).render();
        assert!(!line.contains('\n'));
        assert_eq!(serde_json::from_str::<Value>(&line).unwrap()["msg"], "a\nb\"c");
    }
}
