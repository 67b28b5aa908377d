//! Validated domain values. Each type can only be built through a parser that
//! checks it, so an invalid phone number or a zero quantity cannot exist past
//! the edge of the system.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// Why a value was refused, in words a client can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct Invalid {
    /// The field (JSON pointer-ish path) that was refused.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl Invalid {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

macro_rules! string_value {
    ($(#[$doc:meta])* $name:ident, $field:literal, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Checks and wraps the value.
            pub fn parse(value: impl Into<String>) -> Result<Self, Invalid> {
                let value = value.into();
                let check: fn(&str) -> Result<(), String> = $check;
                check(&value).map_err(|reason| Invalid::new($field, reason))?;
                Ok(Self(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(raw).map_err(de::Error::custom)
            }
        }
    };
}

fn identifier(value: &str) -> Result<(), String> {
    let ok_len = (1..=64).contains(&value.len());
    let ok_chars = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok_len && ok_chars {
        Ok(())
    } else {
        Err("must be 1-64 characters of A-Z, a-z, 0-9, '-' or '_'".into())
    }
}

fn bounded_text(max_chars: usize) -> impl Fn(&str) -> Result<(), String> {
    move |value: &str| {
        let count = value.chars().count();
        if value.trim().is_empty() {
            Err("must not be empty".into())
        } else if value.trim() != value {
            Err("must not start or end with whitespace".into())
        } else if count > max_chars {
            Err(format!("must be at most {max_chars} characters"))
        } else if value.chars().any(char::is_control) {
            Err("must not contain control characters".into())
        } else {
            Ok(())
        }
    }
}

string_value!(
    /// An order id (a ULID, assigned by intake).
    OrderId, "id", identifier
);
string_value!(
    /// A filling station's id.
    StationId, "station_id", identifier
);
string_value!(
    /// A rider's id.
    RiderId, "rider_id", identifier
);
string_value!(
    /// A customer's or rider's display name (1-64 characters).
    PersonName, "customer.name", |v| bounded_text(64)(v)
);
string_value!(
    /// A delivery address (1-200 characters).
    Address, "customer.address", |v| bounded_text(200)(v)
);
string_value!(
    /// A free-text note on an order (at most 200 characters).
    Note, "note", |v| bounded_text(200)(v)
);
string_value!(
    /// Why an order is cancelled: the cancel body's `reason`, held to the
    /// rules of a [`Note`] (at most 200 characters), which it becomes.
    CancelReason, "reason", |v| bounded_text(200)(v)
);

string_value!(
    /// A station's display name (1-100 characters), as the waybill prints it.
    PlaceName, "name", |v| bounded_text(100)(v)
);
string_value!(
    /// A rider's display name (1-64 characters), as the waybill prints it.
    RiderName, "name", |v| bounded_text(64)(v)
);
string_value!(
    /// Why an operator holds a station or rider (1-200 characters): shown
    /// on the ops console and in the listing until the hold is lifted.
    HoldReason, "reason", |v| bounded_text(200)(v)
);
string_value!(
    /// An app client's name: the subject of its tokens, which its orders
    /// and idempotency keys belong to.
    ClientName, "subject", identifier
);

impl From<CancelReason> for Note {
    fn from(reason: CancelReason) -> Self {
        Self(reason.0)
    }
}

string_value!(
    /// A mainland China mobile number: 11 digits starting with 1.
    Phone, "customer.phone", |v| {
        let digits = v.len() == 11 && v.bytes().all(|b| b.is_ascii_digit());
        if digits && v.starts_with('1') && v.as_bytes()[1] >= b'3' {
            Ok(())
        } else {
            Err("must be an 11-digit mainland mobile number such as 13800138000".into())
        }
    }
);
string_value!(
    /// The unique trace code etched on (or tagged to) one cylinder, recorded at
    /// pickup and carried by the regulator report: 8-32 upper-case letters and digits.
    TraceCode, "cylinders", |v| {
        let ok = (8..=32).contains(&v.len())
            && v.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if ok { Ok(()) } else { Err("trace codes are 8-32 characters of A-Z and 0-9".into()) }
    }
);

impl Phone {
    /// The number with its middle four digits hidden, as printed on a waybill.
    pub fn masked(&self) -> String {
        format!("{}****{}", &self.0[..3], &self.0[7..])
    }
}

/// The national LPG cylinder models (GB 5842). Wire names are the model codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CylinderSpec {
    /// ≈ 2 kg of LPG.
    #[serde(rename = "YSP4.7")]
    Ysp4_7,
    /// ≈ 5 kg of LPG.
    #[serde(rename = "YSP12")]
    Ysp12,
    /// ≈ 15 kg of LPG, the household standard.
    #[serde(rename = "YSP35.5")]
    Ysp35_5,
    /// ≈ 50 kg of LPG, for restaurants.
    #[serde(rename = "YSP118")]
    Ysp118,
}

impl CylinderSpec {
    pub const ALL: [CylinderSpec; 4] = [Self::Ysp4_7, Self::Ysp12, Self::Ysp35_5, Self::Ysp118];

    /// The model code, as stored and sent.
    pub fn code(self) -> &'static str {
        match self {
            Self::Ysp4_7 => "YSP4.7",
            Self::Ysp12 => "YSP12",
            Self::Ysp35_5 => "YSP35.5",
            Self::Ysp118 => "YSP118",
        }
    }

    /// Nominal fill in kilograms.
    pub fn fill_kg(self) -> u32 {
        match self {
            Self::Ysp4_7 => 2,
            Self::Ysp12 => 5,
            Self::Ysp35_5 => 15,
            Self::Ysp118 => 50,
        }
    }

    pub fn from_code(code: &str) -> Result<Self, Invalid> {
        Self::ALL.into_iter().find(|s| s.code() == code).ok_or_else(|| {
            Invalid::new(
                "items.spec",
                format!("unknown cylinder spec {code:?}; expected one of YSP4.7, YSP12, YSP35.5, YSP118"),
            )
        })
    }
}

impl fmt::Display for CylinderSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// How many cylinders of one spec an order line asks for: 1 to [`Quantity::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Quantity(u32);

impl Quantity {
    /// A rider's vehicle carries at most this many cylinders of one spec.
    pub const MAX: u32 = 20;

    pub fn new(value: u32) -> Result<Self, Invalid> {
        if (1..=Self::MAX).contains(&value) {
            Ok(Self(value))
        } else {
            Err(Invalid::new(
                "items.quantity",
                format!("must be between 1 and {}", Self::MAX),
            ))
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = u32::deserialize(d)?;
        Self::new(raw).map_err(de::Error::custom)
    }
}

/// One line of an order: a spec and how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub spec: CylinderSpec,
    pub quantity: Quantity,
}

/// The lines of an order: 1-4 lines with distinct specs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Items(Vec<Item>);

impl Items {
    pub fn new(mut items: Vec<Item>) -> Result<Self, Invalid> {
        if items.is_empty() {
            return Err(Invalid::new("items", "an order needs at least one item"));
        }
        if items.len() > CylinderSpec::ALL.len() {
            return Err(Invalid::new("items", "at most one line per cylinder spec"));
        }
        items.sort_by_key(|i| i.spec);
        if items.windows(2).any(|w| w[0].spec == w[1].spec) {
            return Err(Invalid::new("items", "each cylinder spec may appear only once"));
        }
        Ok(Self(items))
    }

    pub fn as_slice(&self) -> &[Item] {
        &self.0
    }

    /// Total cylinders across lines.
    pub fn total_cylinders(&self) -> u32 {
        self.0.iter().map(|i| i.quantity.get()).sum()
    }
}

impl<'de> Deserialize<'de> for Items {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Vec::<Item>::deserialize(d)?;
        Self::new(raw).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_is_checked_and_masked() {
        let p = Phone::parse("13800138000").unwrap();
        assert_eq!(p.masked(), "138****8000");
        for bad in ["1380013800", "23800138000", "12800138000", "1380013800x", ""] {
            assert!(Phone::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn specs_round_trip_by_code() {
        for spec in CylinderSpec::ALL {
            assert_eq!(CylinderSpec::from_code(spec.code()).unwrap(), spec);
            let json = serde_json::to_string(&spec).unwrap();
            assert_eq!(json, format!("\"{}\"", spec.code()));
        }
        assert!(CylinderSpec::from_code("YSP50").is_err());
    }

    #[test]
    fn quantities_and_items_are_bounded() {
        assert!(Quantity::new(0).is_err());
        assert!(Quantity::new(Quantity::MAX + 1).is_err());
        let q = Quantity::new(2).unwrap();
        let dup = vec![
            Item {
                spec: CylinderSpec::Ysp12,
                quantity: q,
            },
            Item {
                spec: CylinderSpec::Ysp12,
                quantity: q,
            },
        ];
        assert!(Items::new(dup).is_err());
        assert!(Items::new(vec![]).is_err());
        assert!(serde_json::from_str::<Items>(r#"[{"spec":"YSP12","quantity":2,"x":1}]"#).is_err());
    }

    #[test]
    fn text_values_reject_empty_long_and_control() {
        assert!(Address::parse("  ").is_err());
        assert!(Address::parse(format!("上海{}", " ".repeat(10_000))).is_err());
        assert!(PersonName::parse(" 王芳").is_err());
        assert!(Address::parse("a".repeat(201)).is_err());
        assert!(PersonName::parse("王芳").is_ok());
        assert!(PersonName::parse("a\u{0}b").is_err());
        assert!(StationId::parse("st-01").is_ok());
        assert!(StationId::parse("st 01").is_err());
        assert!(TraceCode::parse("LPG00012345").is_ok());
        assert!(TraceCode::parse("lpg00012345").is_err());
    }
}
