//! `POST /v1/orders` bodies: one builder, and one deterministic spread of
//! demo orders over central Shanghai.

use serde_json::{Value, json};

/// People's Square, Shanghai (lat, lon): the centre of the demo stations
/// and riders (`gasline_local::demo::CENTRE`, checked equal by the tests).
pub const CENTRE: (f64, f64) = (31.2304, 121.4737);

/// The cylinder specs the API accepts, in the order [`OrderBody::nth`]
/// takes them.
pub const SPECS: [&str; 4] = ["YSP35.5", "YSP12", "YSP4.7", "YSP118"];

/// Degrees of latitude the spread of [`OrderBody::nth`] reaches from the
/// centre: ≈ 4 km, inside the demo's 5 km servable disc.
const SPREAD_DEG: f64 = 0.036;
/// Points of the spiral before it starts again at the centre.
const SPIRAL_POINTS: usize = 997;
/// The golden angle (radians): consecutive points never line up.
const GOLDEN_ANGLE: f64 = 2.399_963;
/// cos(31.23°): a degree of longitude is this share of a degree of latitude.
const LON_SCALE: f64 = 0.855;

/// A customer's order, as the app sends it. [`OrderBody::new`] is a valid
/// order with no items yet: add at least one with [`OrderBody::item`].
#[derive(Debug, Clone, PartialEq)]
pub struct OrderBody {
    name: String,
    phone: String,
    address: String,
    lat: f64,
    lon: f64,
    items: Vec<(String, u32)>,
    note: Option<String>,
}

impl Default for OrderBody {
    fn default() -> Self {
        Self::new()
    }
}

impl OrderBody {
    /// A customer at People's Square, no items yet.
    pub fn new() -> Self {
        Self {
            name: "王芳".to_owned(),
            phone: "13800138000".to_owned(),
            address: "上海市黄浦区人民大道200号".to_owned(),
            lat: CENTRE.0,
            lon: CENTRE.1,
            items: Vec::new(),
            note: None,
        }
    }

    /// Order number `i` of a run: one cylinder of the specs in turn, at
    /// point `i` of a sunflower spiral that fills the disc of ≈ 4 km around
    /// the centre evenly (every demo station and rider gets its share).
    /// The same `i` is always the same order.
    pub fn nth(i: usize) -> Self {
        #[allow(clippy::cast_precision_loss)]
        let (r, theta) = (
            SPREAD_DEG * (((i % SPIRAL_POINTS) as f64 + 0.5) / SPIRAL_POINTS as f64).sqrt(),
            i as f64 * GOLDEN_ANGLE,
        );
        Self::new()
            .at(CENTRE.0 + r * theta.sin(), CENTRE.1 + r * theta.cos() / LON_SCALE)
            .item(SPECS[i % SPECS.len()], 1)
    }

    /// Delivered to `(lat, lon)`.
    #[must_use]
    /// The same order moved by `dlat`, `dlon` degrees (to another city).
    pub fn shifted(mut self, dlat: f64, dlon: f64) -> Self {
        self.lat += dlat;
        self.lon += dlon;
        self
    }

    pub fn at(mut self, lat: f64, lon: f64) -> Self {
        self.lat = lat;
        self.lon = lon;
        self
    }

    /// One more line: `quantity` cylinders of `spec`.
    #[must_use]
    pub fn item(mut self, spec: &str, quantity: u32) -> Self {
        self.items.push((spec.to_owned(), quantity));
        self
    }

    /// Another customer name.
    #[must_use]
    pub fn name(mut self, name: &str) -> Self {
        name.clone_into(&mut self.name);
        self
    }

    /// Another street address (the position stays).
    #[must_use]
    pub fn address(mut self, address: &str) -> Self {
        address.clone_into(&mut self.address);
        self
    }

    /// A note for the rider.
    #[must_use]
    pub fn note(mut self, note: &str) -> Self {
        self.note = Some(note.to_owned());
        self
    }

    /// The body as JSON (to send, or to spoil field by field in the
    /// bad-input tests).
    pub fn json(&self) -> Value {
        let items: Vec<Value> = self
            .items
            .iter()
            .map(|(spec, quantity)| json!({"spec": spec, "quantity": quantity}))
            .collect();
        let mut body = json!({
            "customer": {
                "name": self.name,
                "phone": self.phone,
                "address": self.address,
                "location": {"lat": self.lat, "lon": self.lon},
            },
            "items": items,
        });
        if let Some(note) = &self.note {
            body["note"] = json!(note);
        }
        body
    }
}

impl std::fmt::Display for OrderBody {
    /// The body as compact JSON text.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.json())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_has_the_fields_the_api_requires() {
        let body = OrderBody::new().item("YSP12", 2).note("到楼下请打电话").json();
        assert_eq!(body["customer"]["location"]["lat"], CENTRE.0);
        assert_eq!(body["items"], json!([{"spec": "YSP12", "quantity": 2}]));
        assert_eq!(body["note"], "到楼下请打电话");
        assert!(OrderBody::new().json().get("note").is_none());
    }

    #[test]
    fn the_spread_stays_within_four_km_and_cycles_the_specs() {
        let km_per_deg = 111.2;
        for i in 0..5_000 {
            let body = OrderBody::nth(i).json();
            let location = &body["customer"]["location"];
            let dy = (location["lat"].as_f64().unwrap() - CENTRE.0) * km_per_deg;
            let dx = (location["lon"].as_f64().unwrap() - CENTRE.1) * km_per_deg * LON_SCALE;
            assert!(dx.hypot(dy) < 4.01, "order {i} is {:.2} km out", dx.hypot(dy));
            assert_eq!(body["items"][0]["spec"], SPECS[i % 4]);
        }
        assert_eq!(OrderBody::nth(7), OrderBody::nth(7));
        assert_ne!(OrderBody::nth(7), OrderBody::nth(8));
    }
}
