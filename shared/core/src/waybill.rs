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
//! - numbers as the shortest decimal that round-trips (serde_json/ryu form:
//!   quantities as integers, coordinates always with a fraction such as
//!   `31.0`, exponent form below 1e-5); optional fields that are absent are
//!   omitted, never `null`;
//! - items sorted by cylinder size (YSP4.7, YSP12, YSP35.5, YSP118).
//!
//! `docs/WAYBILL.md` states these rules with a worked example.
//!
//! A verifier parses any JSON rendering of a waybill (key order and
//! whitespace do not matter), refuses unknown fields, and re-derives these
//! bytes. `gasline waybill canonical FILE` prints them. A change to any rule
//! above gets a new `format` value; old formats stay verifiable.

use serde::{Deserialize, Serialize};

use crate::geo::GeoPoint;
use crate::types::{
    Address, CylinderSpec, Item, Items, Note, OrderId, PersonName, Phone, Quantity, RiderId, StationId,
};

/// The `format` of waybills this version writes.
pub const FORMAT_V1: &str = "gasline-waybill/1";

/// The `format` of void records.
pub const VOID_FORMAT_V1: &str = "gasline-waybill-void/1";

/// Where a stored waybill stands (`waybills.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaybillStatus {
    /// Signed and in the rider's inbox; the current waybill of its order.
    Issued,
    /// Withdrawn (cancellation, rider timeout, failure); a signed void
    /// record follows.
    Void,
}

impl WaybillStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WaybillStatus::Issued => "issued",
            WaybillStatus::Void => "void",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [WaybillStatus::Issued, WaybillStatus::Void]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// The withdrawal of a waybill, signed like a waybill (declaration order is
/// the canonical field order; same serialization rules).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoidRecord {
    /// Always [`VOID_FORMAT_V1`] for now.
    pub format: String,
    pub waybill_id: String,
    pub order_id: OrderId,
    /// Why it was withdrawn (`rider_timeout`, `cancelled_by_customer`, …).
    pub reason: String,
    /// RFC 3339 UTC with milliseconds.
    pub voided_at: String,
}

impl VoidRecord {
    /// The exact bytes that are signed.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a void record always serializes")
    }
}

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

    /// A realistic, valid sample (a delivery in Huangpu, Shanghai) for
    /// documentation, `gasline waybill example` and tests.
    pub fn example() -> Self {
        let valid = "the sample values are valid";
        Self {
            format: FORMAT_V1.to_owned(),
            waybill_id: "wb-01JWQ3K9A2R7S5P4H6E3F1G0YZ".to_owned(),
            order_id: OrderId::parse("01JWQ3K8T4XG6Z1V9N2B5M7C8D").expect(valid),
            issued_at: "2025-06-03T01:30:00.000Z".to_owned(),
            accept_by: "2025-06-03T01:32:00.000Z".to_owned(),
            station: WaybillStation {
                id: StationId::parse("st-huangpu-01").expect(valid),
                name: "黄浦区液化气供应站".to_owned(),
                location: GeoPoint::new(31.2243, 121.4768).expect(valid),
            },
            rider: WaybillRider {
                id: RiderId::parse("rd-0001").expect(valid),
                name: "李强".to_owned(),
            },
            consignee: Consignee {
                name: PersonName::parse("王芳").expect(valid),
                phone: Phone::parse("13800138000").expect(valid),
                address: Address::parse("上海市黄浦区福州路318号5号楼502室").expect(valid),
                location: GeoPoint::new(31.2304, 121.4737).expect(valid),
            },
            items: Items::new(vec![Item {
                spec: CylinderSpec::Ysp35_5,
                quantity: Quantity::new(2).expect(valid),
            }])
            .expect(valid),
            note: Some(Note::parse("到楼下请打电话，电梯停用").expect(valid)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EXAMPLE_CANONICAL: &str = concat!(
        r#"{"format":"gasline-waybill/1","waybill_id":"wb-01JWQ3K9A2R7S5P4H6E3F1G0YZ","#,
        r#""order_id":"01JWQ3K8T4XG6Z1V9N2B5M7C8D","issued_at":"2025-06-03T01:30:00.000Z","#,
        r#""accept_by":"2025-06-03T01:32:00.000Z","#,
        r#""station":{"id":"st-huangpu-01","name":"黄浦区液化气供应站","#,
        r#""location":{"lat":31.2243,"lon":121.4768}},"#,
        r#""rider":{"id":"rd-0001","name":"李强"},"#,
        r#""consignee":{"name":"王芳","phone":"13800138000","#,
        r#""address":"上海市黄浦区福州路318号5号楼502室","location":{"lat":31.2304,"lon":121.4737}},"#,
        r#""items":[{"spec":"YSP35.5","quantity":2}],"note":"到楼下请打电话，电梯停用"}"#,
    );

    /// The canonical bytes are a published format: this pins them.
    #[test]
    fn example_canonical_bytes_are_stable() {
        let bytes = Waybill::example().canonical_bytes();
        assert_eq!(String::from_utf8(bytes).unwrap(), EXAMPLE_CANONICAL);
    }

    #[test]
    fn key_order_and_whitespace_do_not_matter() {
        let reordered = r#"{
            "note": "到楼下请打电话，电梯停用",
            "items": [ { "quantity": 2, "spec": "YSP35.5" } ],
            "consignee": { "location": { "lon": 121.4737, "lat": 31.2304 },
                "address": "上海市黄浦区福州路318号5号楼502室",
                "phone": "13800138000", "name": "\u738b\u82b3" },
            "rider": { "name": "李强", "id": "rd-0001" },
            "station": { "location": { "lon": 121.47680, "lat": 3.12243e1 },
                "name": "黄浦区液化气供应站", "id": "st-huangpu-01" },
            "accept_by": "2025-06-03T01:32:00.000Z",
            "issued_at": "2025-06-03T01:30:00.000Z",
            "order_id": "01JWQ3K8T4XG6Z1V9N2B5M7C8D",
            "waybill_id": "wb-01JWQ3K9A2R7S5P4H6E3F1G0YZ",
            "format": "gasline-waybill/1"
        }"#;
        let parsed: Waybill = serde_json::from_str(reordered).unwrap();
        assert_eq!(parsed, Waybill::example());
        assert_eq!(parsed.canonical_bytes(), EXAMPLE_CANONICAL.as_bytes());
    }

    #[test]
    fn items_are_sorted_by_spec() {
        let mut value = serde_json::to_value(Waybill::example()).unwrap();
        value["items"] = serde_json::json!([
            {"spec": "YSP118", "quantity": 1},
            {"spec": "YSP4.7", "quantity": 3},
        ]);
        let waybill: Waybill = serde_json::from_value(value).unwrap();
        let canonical = String::from_utf8(waybill.canonical_bytes()).unwrap();
        assert!(
            canonical.contains(r#""items":[{"spec":"YSP4.7","quantity":3},{"spec":"YSP118","quantity":1}]"#),
            "{canonical}"
        );
    }

    #[test]
    fn absent_note_is_omitted_and_control_characters_escaped() {
        let mut waybill = Waybill::example();
        waybill.note = None;
        waybill.rider.name = "A\"B\\C\n\u{1}/é".to_owned();
        let canonical = String::from_utf8(waybill.canonical_bytes()).unwrap();
        assert!(!canonical.contains("note"));
        assert!(canonical.contains(r#""name":"A\"B\\C\n\u0001/é""#), "{canonical}");
        assert!(canonical.ends_with(r#""items":[{"spec":"YSP35.5","quantity":2}]}"#));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let mut value = serde_json::to_value(Waybill::example()).unwrap();
        value["consignee"]["floor"] = serde_json::json!(5);
        assert!(serde_json::from_value::<Waybill>(value).is_err());
        let mut value = serde_json::to_value(Waybill::example()).unwrap();
        value["priority"] = serde_json::json!("high");
        assert!(serde_json::from_value::<Waybill>(value).is_err());
    }

    /// A coordinate that serde_json's default (not `float_roundtrip`)
    /// parser reads back one ulp off, which would break every signature over it.
    #[test]
    fn a_hard_coordinate_round_trips() {
        let mut waybill = Waybill::example();
        waybill.consignee.location = GeoPoint::new(-14.313320816001859, 0.0).unwrap();
        let json = serde_json::to_string(&waybill).unwrap();
        let parsed: Waybill = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed.canonical_bytes(), waybill.canonical_bytes());
    }

    proptest! {
        /// What a signer writes, a verifier re-derives byte for byte, for any
        /// coordinates (this needs serde_json's `float_roundtrip`).
        #[test]
        fn canonical_bytes_survive_a_json_round_trip(
            lat in -90.0f64..=90.0, lon in -180.0f64..=180.0,
            station_lat in -90.0f64..=90.0, station_lon in -180.0f64..=180.0,
        ) {
            let mut waybill = Waybill::example();
            waybill.consignee.location = GeoPoint::new(lat, lon).unwrap();
            waybill.station.location = GeoPoint::new(station_lat, station_lon).unwrap();
            let json = serde_json::to_string_pretty(&waybill).unwrap();
            let parsed: Waybill = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(parsed.canonical_bytes(), waybill.canonical_bytes());
        }
    }
}
