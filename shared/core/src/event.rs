//! The event envelope that chains the saga, and which function consumes which
//! event. Envelopes are parsed strictly: a message that does not parse is
//! terminal (acknowledged, logged, never retried).

use serde::{Deserialize, Serialize};

use crate::Millis;
use crate::geo::GeoPoint;
use crate::types::{OrderId, RiderId, StationId};

/// The functions that consume events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Consumer {
    Matching,
    Signing,
}

impl Consumer {
    pub fn as_str(self) -> &'static str {
        match self {
            Consumer::Matching => "matching",
            Consumer::Signing => "signing",
        }
    }
}

macro_rules! event_types {
    ($($variant:ident = $topic:literal => $consumer:expr),* $(,)?) => {
        /// Every event in the system; the wire name is the queue topic.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum EventType {
            $(#[serde(rename = $topic)] $variant,)*
        }

        impl EventType {
            pub const ALL: &'static [EventType] = &[$(EventType::$variant,)*];

            /// The topic (queue or channel name).
            pub fn topic(self) -> &'static str {
                match self { $(EventType::$variant => $topic,)* }
            }

            /// The function that must act on this event, if any. Events with a
            /// consumer are re-sent by the outbox sweeper until the consumer
            /// records them as processed; the others are notifications.
            pub fn consumer(self) -> Option<Consumer> {
                match self { $(EventType::$variant => $consumer,)* }
            }
        }
    };
}

event_types! {
    OrderCreated = "order.created" => Some(Consumer::Matching),
    SourceAllocated = "source.allocated" => None,
    RiderAssigned = "rider.assigned" => Some(Consumer::Signing),
    WaybillSigned = "waybill.signed" => None,
    RiderTimedOut = "rider.timed_out" => Some(Consumer::Matching),
    MatchRetry = "match.retry" => Some(Consumer::Matching),
    OrderRejected = "order.rejected" => None,
    OrderCancelled = "order.cancelled" => None,
    OrderFailed = "order.failed" => None,
    OrderAccepted = "order.accepted" => None,
    OrderPickedUp = "order.picked_up" => None,
    OrderDelivered = "order.delivered" => None,
    DeliveryOverdue = "order.delivery_overdue" => None,
    WaybillVoided = "waybill.voided" => Some(Consumer::Signing),
}

impl EventType {
    pub fn from_topic(topic: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.topic() == topic)
    }
}

/// Event-specific data. One flat, strictly parsed shape: each event uses the
/// fields it needs (documented per event in `docs/ARCHITECTURE.md`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    /// The customer's location (`order.created`), so matching can read the
    /// stations near it together with the order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<GeoPoint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub station_id: Option<StationId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rider_id: Option<RiderId>,
    /// Which assignment of this order (1 for the first rider, 2 after one
    /// timeout, …): lets a consumer tell a stale timeout from a live one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment: Option<u32>,
    /// Matching retry number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waybill_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Which deadline a `rider.timed_out` is for; absent: acceptance (as
    /// every one written before the pickup and delivery deadlines was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Deadline>,
}

/// The rider's deadlines, each a `rider.timed_out` scheduled when its clock
/// starts: accept the task, load the cylinders, hand them over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Deadline {
    Accept,
    Pickup,
    Delivery,
}

/// What travels on the queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Unique per event; consumers record it to ignore repeats.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub order_id: OrderId,
    /// The order's version right after the change that produced this event
    /// (a per-order sequence number).
    pub seq: u64,
    /// When the event was produced (ms since the epoch, UTC).
    pub at: Millis,
    /// W3C trace context of the request that started the order.
    pub traceparent: String,
    #[serde(default)]
    pub payload: Payload,
}

impl Envelope {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an envelope always serializes")
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("malformed event: {e}"))
    }
}

/// A W3C `traceparent` value: `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`.
pub fn is_valid_traceparent(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    parts.len() == 4
        && parts[0] == "00"
        && hex(parts[1], 32)
        && parts[1] != "0".repeat(32)
        && hex(parts[2], 16)
        && parts[2] != "0".repeat(16)
        && hex(parts[3], 2)
}

/// Builds a `traceparent` from random hex material supplied by the caller
/// (at least 48 hex digits; the core has no randomness of its own).
pub fn new_traceparent(hex_material: &str) -> String {
    let trace = &hex_material[..32];
    let span = &hex_material[32..48];
    format!("00-{trace}-{span}-01")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_round_trip_and_are_unique() {
        for t in EventType::ALL {
            assert_eq!(EventType::from_topic(t.topic()), Some(*t));
            assert_eq!(serde_json::to_string(t).unwrap(), format!("\"{}\"", t.topic()));
        }
        let mut topics: Vec<_> = EventType::ALL.iter().map(|t| t.topic()).collect();
        topics.sort_unstable();
        topics.dedup();
        assert_eq!(topics.len(), EventType::ALL.len());
    }

    #[test]
    fn envelope_parses_strictly() {
        let env = Envelope {
            id: "01J0000000000000000000000A".into(),
            kind: EventType::OrderCreated,
            order_id: OrderId::parse("01J0000000000000000000000B").unwrap(),
            seq: 1,
            at: 5,
            traceparent: new_traceparent(&"ab".repeat(24)),
            payload: Payload::default(),
        };
        let bytes = env.to_bytes();
        assert_eq!(Envelope::from_bytes(&bytes).unwrap(), env);
        let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        v["extra"] = 1.into();
        assert!(Envelope::from_bytes(v.to_string().as_bytes()).is_err());
        assert!(Envelope::from_bytes(b"{").is_err());
    }

    #[test]
    fn traceparent_validation() {
        assert!(is_valid_traceparent(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        ));
        assert!(!is_valid_traceparent(
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01"
        ));
        assert!(!is_valid_traceparent(
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"
        ));
        assert!(!is_valid_traceparent("garbage"));
        assert!(is_valid_traceparent(&new_traceparent(&"0123456789abcdef".repeat(3))));
    }
}
