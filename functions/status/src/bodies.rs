//! The request bodies the status function reads, public so that the fuzz
//! targets (`tests/fuzz`) read exactly what the handlers read.

use std::collections::BTreeMap;
use std::fmt;

use gasline_core::geo::GeoPoint;
use gasline_core::order::Cylinder;
use gasline_core::types::{ClientName, CylinderSpec, HoldReason, PlaceName, RiderId, RiderName, StationId};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// `POST /v1/riders/{id}/location`.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationReport {
    pub location: GeoPoint,
    /// On or off duty; omitted means unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available: Option<bool>,
}

/// `POST /v1/orders/{id}/pickup`: the cylinders loaded, by trace code.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pickup {
    pub cylinders: Vec<Cylinder>,
}

/// `POST /v1/stations/{id}/telemetry`.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryReport {
    /// Full cylinders counted on site, per spec.
    #[serde(default, deserialize_with = "counts_per_spec")]
    pub stock: BTreeMap<CylinderSpec, u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leak_ppm: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature_c: Option<f64>,
}

impl TelemetryReport {
    /// The core's report, which the handler checks and assesses.
    pub fn into_core(self) -> gasline_core::telemetry::Report {
        gasline_core::telemetry::Report {
            stock: self.stock,
            leak_ppm: self.leak_ppm,
            temperature_c: self.temperature_c,
        }
    }
}

/// The `stock` object, refusing a spec named twice: JSON parsers disagree on
/// which of two counts wins, so neither is trusted.
fn counts_per_spec<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<CylinderSpec, u32>, D::Error> {
    struct Counts;
    impl<'de> Visitor<'de> for Counts {
        type Value = BTreeMap<CylinderSpec, u32>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object of cylinder spec to count")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut counts = BTreeMap::new();
            while let Some((spec, count)) = map.next_entry::<CylinderSpec, u32>()? {
                if counts.insert(spec, count).is_some() {
                    return Err(de::Error::custom(format!("stock: {spec} appears more than once")));
                }
            }
            Ok(counts)
        }
    }
    d.deserialize_map(Counts)
}

// --- provisioning (ops) --------------------------------------------------------

/// `POST /v1/ops/stations`.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewStation {
    pub id: StationId,
    pub name: PlaceName,
    pub location: GeoPoint,
    /// Actively monitored around the clock (the night safety rule lets it
    /// load at night).
    #[serde(default)]
    pub monitored: bool,
    /// Full cylinders on hand per spec.
    #[serde(default, deserialize_with = "counts_per_spec")]
    pub stock: BTreeMap<CylinderSpec, u32>,
}

/// `PATCH /v1/ops/stations/{id}`: what to change (at least one field).
#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StationChange {
    #[serde(default)]
    pub name: Option<PlaceName>,
    #[serde(default)]
    pub location: Option<GeoPoint>,
    #[serde(default)]
    pub monitored: Option<bool>,
}

/// `POST /v1/ops/{stations,riders}/{id}/suspend`.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suspension {
    pub reason: HoldReason,
}

/// `POST /v1/ops/riders`.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRider {
    pub id: RiderId,
    pub name: RiderName,
}

/// `PATCH /v1/ops/riders/{id}`.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiderChange {
    pub name: RiderName,
}

/// Who an app or ops token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientRole {
    App,
    Ops,
}

/// `POST /v1/ops/tokens`: an app client's or an operator's token.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub role: ClientRole,
    /// The app client (its orders and idempotency keys belong to it) or
    /// the operator.
    pub subject: ClientName,
    /// When it stops being accepted (ms since the epoch); never if omitted.
    #[serde(default, deserialize_with = "instant")]
    pub expires_at: Option<i64>,
}

/// `POST /v1/ops/{stations,riders}/{id}/tokens` (the body is optional).
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceToken {
    #[serde(default, deserialize_with = "instant")]
    pub expires_at: Option<i64>,
}

/// `POST /v1/ops/tokens/{id}/revoke` (optional body): when the token stops
/// working (ms since the epoch; now if omitted, a grace period ahead while
/// its holder switches to a new one).
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revocation {
    #[serde(default, deserialize_with = "instant")]
    pub at: Option<i64>,
}

/// `POST /v1/ops/keys`: a public key to publish and accept.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// SubjectPublicKeyInfo PEM of an SM2 key.
    pub public_key_pem: String,
}

/// `POST /v1/ops/keys/{id}/retire` (optional body): what the key signed
/// before `valid_until` (ms since the epoch; now if omitted) still verifies.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRetirement {
    #[serde(default, deserialize_with = "instant")]
    pub valid_until: Option<i64>,
}

/// The query of the rider listing: a page, and a status (`available`,
/// `assigned`, `offline`).
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiderListing {
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub status: Option<String>,
}

/// The query of the token listing: a page, a role and a subject.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenListing {
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
}

// --- the order desk (ops) ------------------------------------------------------

/// The query of `GET /v1/ops/orders`: filters (each narrows the search)
/// and a page (`after`: the last order id of the page before).
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderListing {
    /// An order state, or `live` (not ended).
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub station_id: Option<String>,
    #[serde(default)]
    pub rider_id: Option<String>,
    /// Created at or after (ms since the epoch).
    #[serde(default)]
    pub since: Option<i64>,
    /// Created before (ms since the epoch).
    #[serde(default)]
    pub until: Option<i64>,
    /// Breaching a step's service level (`source_allocated`,
    /// `rider_assigned`, `waybill_signed`) or `any`.
    #[serde(default)]
    pub breach: Option<String>,
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
}

/// A page of a listing (stations, dead letters, the attention view):
/// `?after=<id>&limit=<n>`, at most `limit` after the id `after` (the
/// answer's `next` is the `after` of the next page).
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Paging {
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
}

/// The query of `GET /v1/stats`: the window's start (ms since the epoch),
/// at most 24 hours back (the default).
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsWindow {
    #[serde(default)]
    pub since: Option<i64>,
}

/// `POST /v1/ops/orders/{id}/reassign` (optional body): to this rider, or
/// back to matching when `rider_id` is left out.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reassignment {
    #[serde(default)]
    pub rider_id: Option<RiderId>,
}

/// `POST /v1/ops/dead-letters/replay`.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replay {
    pub event_id: String,
}

/// A time a caller names (ms since the epoch): from 1970 to the end of
/// the year 9999 ([`gasline_core::time::LATEST`]); anything else is not a
/// time and the body is refused.
fn instant<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    let at = Option::<i64>::deserialize(deserializer)?;
    match at {
        Some(at) if !(0..=gasline_core::time::LATEST).contains(&at) => Err(de::Error::custom(format!(
            "{at} is not a time between 1970 and the end of 9999 (ms since the epoch)"
        ))),
        at => Ok(at),
    }
}
