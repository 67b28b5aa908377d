//! Cells: how a deployment grows past what one database can write.
//!
//! A cell is a whole stamp of Gasline for one region: the four functions with
//! their own database (a D1 database on Workers, a SQLite/libSQL database on
//! Spin), their own queues or channels, their own key-value store, and the
//! stations and riders of that region. Cells share nothing, so nothing on an
//! order's hot path crosses them; in front of them a router (the
//! `gasline-router` function) picks the cell of each request with the two
//! rules here, and forwards it unchanged:
//!
//! - a new order goes to the cell whose geohash prefix its delivery location
//!   matches, the longest matching prefix winning (so a city can be carved
//!   out of a province's cell);
//! - every later request names an order, rider or station, and the id names
//!   its cell: `sh_01JF…` is id `01JF…` of cell `sh`. A cell writes its name
//!   on the order ids it makes ([`crate::config::Config::cell`]); riders and
//!   stations are provisioned with it.
//!
//! The first cell of a map is its home cell. It takes a location no cell
//! claims (where it answers as any cell does for an address with no station
//! in range) and an id that names no cell, such as the ids of a deployment
//! made before it had cells: a single-cell deployment is a map of one, and
//! its unqualified ids keep working when cells are added after it.

use serde::{Deserialize, Deserializer, Serialize, de};

use crate::geo::GeoPoint;

/// Separates a cell's name from the id inside the cell: `sh_01JF…`.
pub const SEPARATOR: char = '_';

/// The geohash alphabet (base 32 without a, i, l and o).
const GEOHASH_ALPHABET: &str = "0123456789bcdefghjkmnpqrstuvwxyz";

/// Longest geohash prefix a cell may claim: 8 characters is a box of about
/// 38 m × 19 m, far finer than any region.
const MAX_PREFIX: usize = 8;

/// A cell's name: 1 to 12 characters of `a-z` and `0-9`, so that it reads
/// well in ids, binding names and file names and never contains the
/// [`SEPARATOR`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct CellName(String);

impl CellName {
    pub fn parse(name: &str) -> Result<Self, String> {
        let ok = (1..=12).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(format!("cell name {name:?} must be 1-12 characters of a-z and 0-9"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `local`, an id made inside this cell, as it is known outside it.
    pub fn qualify(&self, local: &str) -> String {
        format!("{}{SEPARATOR}{local}", self.0)
    }
}

impl std::fmt::Display for CellName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for CellName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(de::Error::custom)
    }
}

/// One cell of a map as configured: its name and the geohash prefixes of the
/// area it serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CellArea {
    pub name: CellName,
    /// Geohash prefixes (1 to 8 characters). The home cell may have none.
    #[serde(default)]
    pub geohash: Vec<String>,
}

/// Every cell of a deployment, checked: names unique, prefixes well formed
/// and each claimed by one cell only.
#[derive(Debug, Clone, PartialEq)]
pub struct CellMap {
    cells: Vec<CellArea>,
    /// The longest prefix of any cell: how much of a location's geohash to
    /// compute.
    precision: usize,
}

impl CellMap {
    pub fn new(cells: Vec<CellArea>) -> Result<Self, String> {
        if cells.is_empty() {
            return Err("a cell map needs at least one cell".into());
        }
        let mut names = std::collections::BTreeSet::new();
        let mut prefixes = std::collections::BTreeMap::new();
        for cell in &cells {
            if !names.insert(&cell.name) {
                return Err(format!("cell {} appears twice", cell.name));
            }
            for prefix in &cell.geohash {
                let ok =
                    (1..=MAX_PREFIX).contains(&prefix.len()) && prefix.chars().all(|c| GEOHASH_ALPHABET.contains(c));
                if !ok {
                    return Err(format!(
                        "cell {}: {prefix:?} is not a geohash prefix of 1-{MAX_PREFIX} characters of {GEOHASH_ALPHABET}",
                        cell.name
                    ));
                }
                if let Some(other) = prefixes.insert(prefix.as_str(), &cell.name) {
                    return Err(format!(
                        "geohash prefix {prefix} is claimed by cells {other} and {}",
                        cell.name
                    ));
                }
            }
        }
        let precision = cells
            .iter()
            .flat_map(|c| &c.geohash)
            .map(String::len)
            .max()
            .unwrap_or(1);
        Ok(Self { cells, precision })
    }

    /// A map of one cell that claims no area: a deployment without cells.
    pub fn single(name: CellName) -> Self {
        Self {
            cells: vec![CellArea {
                name,
                geohash: Vec::new(),
            }],
            precision: 1,
        }
    }

    /// The home cell: the first configured.
    pub fn home(&self) -> &CellName {
        &self.cells[0].name
    }

    /// Every cell, home first.
    pub fn names(&self) -> impl Iterator<Item = &CellName> {
        self.cells.iter().map(|c| &c.name)
    }

    /// The cell of this name, if the map has it.
    pub fn named(&self, name: &str) -> Option<&CellName> {
        self.names().find(|n| n.as_str() == name)
    }

    /// The cell a new order delivered at `at` belongs to: the one with the
    /// longest geohash prefix of `at`, else the home cell.
    pub fn for_location(&self, at: GeoPoint) -> &CellName {
        let hash = at.geohash(self.precision);
        self.cells
            .iter()
            .flat_map(|c| c.geohash.iter().map(move |p| (p, &c.name)))
            .filter(|(p, _)| hash.starts_with(p.as_str()))
            .max_by_key(|(p, _)| p.len())
            .map_or_else(|| self.home(), |(_, name)| name)
    }

    /// The cell that holds the order, rider or station `id`: the one it
    /// names before the [`SEPARATOR`], else the home cell.
    pub fn for_id(&self, id: &str) -> &CellName {
        id.split_once(SEPARATOR)
            .filter(|(_, local)| !local.is_empty())
            .and_then(|(cell, _)| self.named(cell))
            .unwrap_or_else(|| self.home())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn area(name: &str, prefixes: &[&str]) -> CellArea {
        CellArea {
            name: CellName::parse(name).unwrap(),
            geohash: prefixes.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    fn point(lat: f64, lon: f64) -> GeoPoint {
        GeoPoint::new(lat, lon).unwrap()
    }

    // People's Square, Shanghai (wtw3s…); West Lake, Hangzhou (wtmk…);
    // Tiananmen, Beijing (wx4g…).
    const SHANGHAI: (f64, f64) = (31.2304, 121.4737);
    const HANGZHOU: (f64, f64) = (30.2431, 120.1500);
    const BEIJING: (f64, f64) = (39.9042, 116.4074);

    fn east_china() -> CellMap {
        CellMap::new(vec![
            area("sh", &["wtw"]),
            area("hz", &["wtm"]),
            area("sh2", &["wtw3s"]),
        ])
        .unwrap()
    }

    #[test]
    fn names_are_short_lowercase_and_cannot_hold_the_separator() {
        for good in ["sh", "a", "cell12", "0", "abcdefghijkl"] {
            assert!(CellName::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "SH", "s_h", "s-h", "abcdefghijklm", "上海", "sh "] {
            assert!(CellName::parse(bad).is_err(), "{bad:?}");
        }
        let sh = CellName::parse("sh").unwrap();
        assert_eq!(sh.qualify("01JF"), "sh_01JF");
        assert_eq!(serde_json::to_string(&sh).unwrap(), "\"sh\"");
        assert!(serde_json::from_str::<CellName>("\"S H\"").is_err());
    }

    #[test]
    fn a_location_goes_to_the_longest_prefix_that_matches_it() {
        let map = east_china();
        let (lat, lon) = SHANGHAI;
        assert_eq!(map.for_location(point(lat, lon)).as_str(), "sh2");
        // Pudong airport is in wtw but not in wtw3s.
        assert_eq!(map.for_location(point(31.1443, 121.8083)).as_str(), "sh");
        let (lat, lon) = HANGZHOU;
        assert_eq!(map.for_location(point(lat, lon)).as_str(), "hz");
    }

    #[test]
    fn a_location_no_cell_claims_goes_home() {
        let map = east_china();
        let (lat, lon) = BEIJING;
        assert_eq!(map.for_location(point(lat, lon)), map.home());
        assert_eq!(map.home().as_str(), "sh");
        let single = CellMap::single(CellName::parse("one").unwrap());
        assert_eq!(single.for_location(point(lat, lon)).as_str(), "one");
    }

    #[test]
    fn an_id_goes_to_the_cell_it_names() {
        let map = east_china();
        assert_eq!(map.for_id("hz_01JFABCDEF").as_str(), "hz");
        assert_eq!(map.for_id("sh2_rd-0001").as_str(), "sh2");
        // Unqualified, unknown cell, nothing after the separator: home.
        for id in ["01JFABCDEF", "rd-0001", "bj_01JF", "hz_", "_hz", ""] {
            assert_eq!(map.for_id(id), map.home(), "{id:?}");
        }
    }

    #[test]
    fn every_qualified_id_routes_back_to_its_cell() {
        let map = east_china();
        for name in map.names() {
            for local in ["01JFABCDEFGHJKMNPQRSTVWXYZ", "rd-0001", "st_with_underscores"] {
                assert_eq!(map.for_id(&name.qualify(local)), name);
            }
        }
    }

    #[test]
    fn a_map_refuses_what_would_make_routing_ambiguous() {
        assert!(CellMap::new(vec![]).is_err());
        assert!(CellMap::new(vec![area("sh", &["wtw"]), area("sh", &["wtm"])]).is_err());
        assert!(CellMap::new(vec![area("sh", &["wtw"]), area("hz", &["wtw"])]).is_err());
        for bad in ["", "wta", "WTW", "wtw3s1234", "wt w"] {
            assert!(CellMap::new(vec![area("sh", &[bad])]).is_err(), "{bad:?}");
        }
        let parsed: Vec<CellArea> = serde_json::from_str(r#"[{"name":"sh","geohash":["wtw"]},{"name":"hz"}]"#).unwrap();
        assert!(CellMap::new(parsed).is_ok());
        assert!(serde_json::from_str::<Vec<CellArea>>(r#"[{"name":"sh","area":["wtw"]}]"#).is_err());
    }
}
