//! The request bodies the status function reads, public so that the fuzz
//! targets (`tests/fuzz`) read exactly what the handlers read.

use std::collections::BTreeMap;
use std::fmt;

use gasline_core::geo::GeoPoint;
use gasline_core::order::Cylinder;
use gasline_core::types::CylinderSpec;
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
