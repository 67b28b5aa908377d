//! Coordinates, great-circle distances and the geohash cells that index rider
//! positions in SQL, so matching reads only the riders near a station instead
//! of scanning all of them.

use serde::{Deserialize, Deserializer, Serialize, de};

use crate::types::Invalid;

/// Geohash length used for the rider index. A length-5 cell is about
/// 4.9 km × 4.9 km at the equator (≈ 4.9 × 4.2 km in Shanghai), so a 5 km
/// search touches a handful of cells.
pub const CELL_PRECISION: usize = 5;

const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A WGS-84 position, validated at construction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GeoPoint {
    pub lat: f64,
    pub lon: f64,
}

impl GeoPoint {
    pub fn new(lat: f64, lon: f64) -> Result<Self, Invalid> {
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(Invalid::new("location.lat", "must be a number between -90 and 90"));
        }
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            return Err(Invalid::new("location.lon", "must be a number between -180 and 180"));
        }
        Ok(Self { lat, lon })
    }

    /// Great-circle (haversine) distance in metres.
    pub fn distance_m(self, other: GeoPoint) -> f64 {
        let (p1, p2) = (self.lat.to_radians(), other.lat.to_radians());
        let dp = p2 - p1;
        let dl = (other.lon - self.lon).to_radians();
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * a.sqrt().asin()
    }

    /// The geohash cell (length [`CELL_PRECISION`]) this point falls in.
    pub fn cell(self) -> String {
        self.geohash(CELL_PRECISION)
    }

    /// The geohash of this point, `precision` characters long (1 to 12).
    pub fn geohash(self, precision: usize) -> String {
        geohash::encode(
            geohash::Coord {
                x: self.lon,
                y: self.lat,
            },
            precision.clamp(1, 12),
        )
        .expect("a validated point always encodes")
    }

    /// Every cell that intersects the box around `self` of half-width
    /// `radius_m`: the candidate set for a radius search. Sorted, no repeats.
    pub fn cells_within(self, radius_m: f64) -> Vec<String> {
        let dlat = (radius_m / EARTH_RADIUS_M).to_degrees();
        let coslat = self.lat.to_radians().cos().max(0.01);
        let dlon = dlat / coslat;
        // Walk the box at a step smaller than the cell size so no cell is skipped.
        let (cell_lat, cell_lon) = cell_size_degrees(CELL_PRECISION);
        let step_lat = cell_lat / 2.0;
        let step_lon = cell_lon / 2.0;
        let mut cells = Vec::new();
        let mut lat = (self.lat - dlat).max(-90.0);
        loop {
            let mut lon = self.lon - dlon;
            loop {
                let wrapped = ((lon + 540.0) % 360.0) - 180.0;
                let point = GeoPoint {
                    lat: lat.min(90.0),
                    lon: wrapped,
                };
                cells.push(point.cell());
                if lon >= self.lon + dlon {
                    break;
                }
                lon = (lon + step_lon).min(self.lon + dlon);
            }
            if lat >= (self.lat + dlat).min(90.0) {
                break;
            }
            lat = (lat + step_lat).min((self.lat + dlat).min(90.0));
        }
        cells.sort();
        cells.dedup();
        cells
    }
}

/// Height and width in degrees of a geohash cell of the given length.
fn cell_size_degrees(precision: usize) -> (f64, f64) {
    let bits = precision * 5;
    let lon_bits = bits.div_ceil(2);
    let lat_bits = bits / 2;
    (180.0 / f64::from(1u32 << lat_bits), 360.0 / f64::from(1u32 << lon_bits))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPoint {
    lat: f64,
    lon: f64,
}

impl<'de> Deserialize<'de> for GeoPoint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawPoint::deserialize(d)?;
        Self::new(raw.lat, raw.lon).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PEOPLES_SQUARE: GeoPoint = GeoPoint {
        lat: 31.2304,
        lon: 121.4737,
    };

    #[test]
    fn rejects_out_of_range_and_non_finite() {
        assert!(GeoPoint::new(90.1, 0.0).is_err());
        assert!(GeoPoint::new(0.0, -180.5).is_err());
        assert!(GeoPoint::new(f64::NAN, 0.0).is_err());
        assert!(GeoPoint::new(31.0, 121.0).is_ok());
    }

    #[test]
    fn distance_matches_a_known_pair() {
        // People's Square to the Bund (Chen Yi Square): about 1.6 km.
        let bund = GeoPoint::new(31.2397, 121.4900).unwrap();
        let d = PEOPLES_SQUARE.distance_m(bund);
        assert!((1_700.0..=1_950.0).contains(&d), "{d}");
    }

    #[test]
    fn cells_within_contain_own_cell() {
        let cells = PEOPLES_SQUARE.cells_within(5_000.0);
        assert!(cells.contains(&PEOPLES_SQUARE.cell()));
        assert!(cells.len() <= 16, "{}", cells.len());
    }

    proptest! {
        /// Any point within the radius lies in one of the returned cells: the
        /// index never hides a rider that is close enough.
        #[test]
        fn radius_cover_is_complete(
            lat in -60.0f64..60.0, lon in -179.0f64..179.0,
            bearing in 0.0f64..360.0, frac in 0.0f64..1.0, radius in 100.0f64..10_000.0,
        ) {
            let center = GeoPoint::new(lat, lon).unwrap();
            let d = radius * frac;
            let dlat = d * bearing.to_radians().cos() / EARTH_RADIUS_M;
            let dlon = d * bearing.to_radians().sin() / (EARTH_RADIUS_M * lat.to_radians().cos());
            let other = GeoPoint::new(lat + dlat.to_degrees(), lon + dlon.to_degrees()).unwrap();
            prop_assume!(center.distance_m(other) <= radius);
            prop_assert!(center.cells_within(radius).contains(&other.cell()));
        }
    }
}
