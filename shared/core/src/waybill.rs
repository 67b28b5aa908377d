//! The electronic waybill: the document a rider carries and a regulator can
//! check, and its canonical bytes, which are what gets signed.
//!
//! # Canonical bytes, format `gasline-waybill/1`
//!
//! The bytes signed are the waybill serialized as JSON with:
//! - the fields in exactly the order they are declared below (not sorted),
//!   nested objects likewise;
//! - no whitespace outside strings; UTF-8; strings escaped minimally (only `"`,
//!   `\\` and control characters, as JSON requires); non-ASCII text as is;
//! - numbers as the shortest decimal that round-trips (integers without a
//!   fraction); optional fields that are absent are omitted, never `null`;
//! - items sorted by cylinder spec.
//!
//! A verifier parses any JSON rendering of a waybill (key order and
//! whitespace do not matter), refuses unknown fields, and re-derives these
//! bytes. `gasline waybill canonical FILE` prints them. A change to any rule
//! above gets a new `format` value; old formats stay verifiable.

use serde::{Deserialize, Serialize};

use crate::geo::GeoPoint;
use crate::types::{Address, Items, Note, OrderId, PersonName, Phone, RiderId, StationId};

/// The `format` of waybills this version writes.
pub const FORMAT_V1: &str = "gasline-waybill/1";

/// An e-waybill (declaration order is the canonical field order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Waybill {
    /// Always [`FORMAT_V1`] for now.
    pub format: String,
    /// Unique per issued waybill (a reassigned order gets a new one).
    pub waybill_id: String,
    pub order_id: OrderId,
    /// RFC 3339 UTC with milliseconds.
    pub issued_at: String,
    /// The rider must accept by this time (RFC 3339 UTC) or the order is reassigned.
    pub accept_by: String,
    pub station: WaybillStation,
    pub rider: WaybillRider,
    pub consignee: Consignee,
    pub items: Items,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Note>,
}

/// Where the cylinders are loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaybillStation {
    pub id: StationId,
    pub name: String,
    pub location: GeoPoint,
}

/// Who carries them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaybillRider {
    pub id: RiderId,
    pub name: String,
}

/// Who receives them, and where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consignee {
    pub name: PersonName,
    pub phone: Phone,
    pub address: Address,
    pub location: GeoPoint,
}

impl Waybill {
    /// The exact bytes that are signed (see the module documentation).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a waybill always serializes")
    }
}
