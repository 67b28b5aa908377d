//! Choosing a station and a rider for an order.
//!
//! Pure decisions over candidates the caller loaded (stations near the
//! customer, riders in the geohash cells near those stations). The caller then
//! applies the decision with conditional SQL updates; if another order won the
//! race, it reloads and asks again.

use serde::Serialize;

use crate::Millis;
use crate::config::Config;
use crate::geo::GeoPoint;
use crate::time::local_minute_of_day;
use crate::types::{CylinderSpec, Items, RiderId, StationId};

/// A station as matching sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct StationCandidate {
    pub id: StationId,
    pub name: String,
    pub location: GeoPoint,
    /// Staffed / camera-monitored around the clock: exempt from the night rule.
    pub monitored: bool,
    /// Held from matching (leak alarm, low-stock hold, operator).
    pub suspended: bool,
    /// Unlocked cylinders per spec (on hand minus pre-locked).
    pub available: Vec<(CylinderSpec, u32)>,
}

impl StationCandidate {
    fn available_of(&self, spec: CylinderSpec) -> u32 {
        self.available.iter().find(|(s, _)| *s == spec).map_or(0, |(_, n)| *n)
    }

    fn has_stock_for(&self, items: &Items) -> bool {
        items
            .as_slice()
            .iter()
            .all(|i| self.available_of(i.spec) >= i.quantity.get())
    }
}

/// What a rider is doing, as stored (`riders.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RiderStatus {
    /// On duty and free: matching may assign it.
    Available,
    /// On an order (from assignment to delivery or compensation).
    Assigned,
    /// Off duty.
    Offline,
}

impl RiderStatus {
    pub const ALL: [RiderStatus; 3] = [RiderStatus::Available, RiderStatus::Assigned, RiderStatus::Offline];

    pub fn as_str(self) -> &'static str {
        match self {
            RiderStatus::Available => "available",
            RiderStatus::Assigned => "assigned",
            RiderStatus::Offline => "offline",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The status a rider's own on/off-duty report asks for. A rider on an
    /// order stays assigned whatever it says (the store's update skips it).
    pub fn on_duty(available: bool) -> Self {
        if available {
            RiderStatus::Available
        } else {
            RiderStatus::Offline
        }
    }
}

/// A rider as matching sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct RiderCandidate {
    pub id: RiderId,
    /// Display name (printed on the waybill).
    pub name: String,
    pub location: GeoPoint,
    /// When the position was reported.
    pub located_at: Millis,
    pub available: bool,
}

/// Why no station can serve an order. The wire names are the `reason`
/// recorded on a rejected order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rejection {
    /// No station within the service radius of the customer.
    OutOfArea,
    /// Stations in range are all suspended (leak alarm, low-stock hold).
    StationsSuspended,
    /// No open station in range has enough unlocked cylinders.
    NoStock,
    /// The only stations with stock are unmonitored and it is night.
    NightSafety,
    /// No rider could be found in time.
    NoRider,
}

impl Rejection {
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::OutOfArea => "out_of_area",
            Rejection::StationsSuspended => "stations_suspended",
            Rejection::NoStock => "no_stock",
            Rejection::NightSafety => "night_safety",
            Rejection::NoRider => "no_rider",
        }
    }
}

/// The night safety rule: LPG is not loaded or unloaded at night at stations
/// without active monitoring (window and zone from [`Config`]).
pub fn night_rule_allows(station: &StationCandidate, now: Millis, config: &Config) -> bool {
    station.monitored || !config.is_night_at(now)
}

/// Stations that may serve `items` for a customer at `customer`, or why none.
/// Filters apply in a fixed order (area, suspension, stock, night rule) and
/// the reason names the filter that removed the last candidate.
pub fn eligible_stations<'a>(
    customer: GeoPoint,
    items: &Items,
    stations: &'a [StationCandidate],
    now: Millis,
    config: &Config,
) -> Result<Vec<&'a StationCandidate>, Rejection> {
    let in_area: Vec<_> = stations
        .iter()
        .filter(|s| s.location.distance_m(customer) <= config.service_radius_m)
        .collect();
    if in_area.is_empty() {
        return Err(Rejection::OutOfArea);
    }
    let open: Vec<_> = in_area.into_iter().filter(|s| !s.suspended).collect();
    if open.is_empty() {
        return Err(Rejection::StationsSuspended);
    }
    let stocked: Vec<_> = open.into_iter().filter(|s| s.has_stock_for(items)).collect();
    if stocked.is_empty() {
        return Err(Rejection::NoStock);
    }
    let safe: Vec<_> = stocked
        .into_iter()
        .filter(|s| night_rule_allows(s, now, config))
        .collect();
    if safe.is_empty() {
        return Err(Rejection::NightSafety);
    }
    Ok(safe)
}

/// Traffic slowdown for an area: 1.0 is free-flowing, 2.0 takes twice as long.
pub type TrafficFactor = f64;

/// The static heat map used when the GIS source is slow or down: Shanghai's
/// weekday profile by local hour (morning and evening peaks), applied
/// everywhere. Deliberately pessimistic.
pub fn static_traffic_factor(now: Millis, config: &Config) -> TrafficFactor {
    let hour = local_minute_of_day(now, config.utc_offset_minutes) / 60;
    match hour {
        7..=9 | 17..=19 => 1.8,
        10..=16 => 1.4,
        20..=22 => 1.2,
        _ => 1.0,
    }
}

/// A traffic factor from outside (GIS answer, cache) if it is believable:
/// finite, between 1.0 (free flow) and 10.0.
pub fn plausible_traffic_factor(factor: f64) -> Option<TrafficFactor> {
    (factor.is_finite() && (1.0..=10.0).contains(&factor)).then_some(factor)
}

/// Estimated seconds to travel `distance_m` under `traffic`.
pub fn travel_seconds(distance_m: f64, traffic: TrafficFactor, config: &Config) -> f64 {
    distance_m / config.rider_speed_mps * traffic.max(1.0)
}

/// A chosen station and, when one is free, rider.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    pub station: StationId,
    pub rider: Option<RiderId>,
    /// Estimated seconds from now until the cylinders reach the customer.
    pub estimated_delivery_s: f64,
}

/// What the decision depends on besides the order: traffic, time, tunables.
#[derive(Clone, Copy)]
pub struct Conditions<'a> {
    /// Traffic factor at a point (cached GIS data, or the static map).
    pub traffic: &'a dyn Fn(GeoPoint) -> TrafficFactor,
    pub now: Millis,
    pub config: &'a Config,
}

/// Riders who may take an order from `station`: available, fresh position,
/// within the rider radius, not excluded. Sorted by travel time, best first.
pub fn rank_riders<'a>(
    station: GeoPoint,
    riders: &'a [RiderCandidate],
    excluded: &[RiderId],
    conditions: &Conditions<'_>,
) -> Vec<(&'a RiderCandidate, f64)> {
    let Conditions { traffic, now, config } = *conditions;
    let mut ranked: Vec<_> = riders
        .iter()
        .filter(|r| r.available)
        .filter(|r| now - r.located_at <= config.rider_location_max_age_ms && r.located_at <= now + 5_000)
        .filter(|r| !excluded.contains(&r.id))
        .filter_map(|r| {
            let d = r.location.distance_m(station);
            (d <= config.rider_radius_m).then(|| (r, travel_seconds(d, traffic(r.location), config)))
        })
        .collect();
    ranked.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.id.cmp(&b.0.id)));
    ranked
}

/// Chooses the station and rider with the least estimated total delivery
/// time (rider → station → customer). When no station has a free rider, the
/// station with the shortest delivery leg is chosen without a rider.
pub fn choose(
    customer: GeoPoint,
    items: &Items,
    stations: &[StationCandidate],
    riders: &[RiderCandidate],
    excluded: &[RiderId],
    conditions: &Conditions<'_>,
) -> Result<Match, Rejection> {
    let Conditions { traffic, now, config } = *conditions;
    let eligible = eligible_stations(customer, items, stations, now, config)?;
    let best = eligible
        .iter()
        .map(|s| {
            let delivery_leg = travel_seconds(s.location.distance_m(customer), traffic(s.location), config);
            let rider = rank_riders(s.location, riders, excluded, conditions).into_iter().next();
            // A station with a rider always beats one without.
            let key = (rider.is_none(), rider.map_or(0.0, |r| r.1) + delivery_leg);
            (key, s, rider)
        })
        .min_by(|a, b| {
            a.0.0
                .cmp(&b.0.0)
                .then(a.0.1.total_cmp(&b.0.1))
                .then_with(|| a.1.id.cmp(&b.1.id))
        })
        .expect("eligible is never empty");
    let ((_, total), station, rider) = best;
    Ok(Match {
        station: station.id.clone(),
        rider: rider.map(|(r, _)| r.id.clone()),
        estimated_delivery_s: total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Item, Quantity};

    const NOON_SHANGHAI: Millis = 1_795_406_400_000; // 2026-11-23T04:00Z = 12:00 CST
    const MIDNIGHT_SHANGHAI: Millis = NOON_SHANGHAI + 12 * 3_600_000;

    fn point(lat: f64, lon: f64) -> GeoPoint {
        GeoPoint::new(lat, lon).unwrap()
    }

    fn station(id: &str, lat: f64, lon: f64, stock: u32) -> StationCandidate {
        StationCandidate {
            id: StationId::parse(id).unwrap(),
            name: id.into(),
            location: point(lat, lon),
            monitored: false,
            suspended: false,
            available: vec![(CylinderSpec::Ysp35_5, stock)],
        }
    }

    fn rider(id: &str, lat: f64, lon: f64, at: Millis) -> RiderCandidate {
        RiderCandidate {
            id: RiderId::parse(id).unwrap(),
            name: id.into(),
            location: point(lat, lon),
            located_at: at,
            available: true,
        }
    }

    fn two_15kg() -> Items {
        Items::new(vec![Item {
            spec: CylinderSpec::Ysp35_5,
            quantity: Quantity::new(2).unwrap(),
        }])
        .unwrap()
    }

    fn flat(_: GeoPoint) -> TrafficFactor {
        1.0
    }

    const CUSTOMER: GeoPoint = GeoPoint {
        lat: 31.2304,
        lon: 121.4737,
    };

    #[test]
    fn rejections_name_the_last_filter() {
        let c = Config::default();
        let items = two_15kg();
        let far = [station("far", 31.9, 121.4737, 10)];
        assert_eq!(
            eligible_stations(CUSTOMER, &items, &far, NOON_SHANGHAI, &c),
            Err(Rejection::OutOfArea)
        );
        let mut susp = station("s", 31.24, 121.47, 10);
        susp.suspended = true;
        assert_eq!(
            eligible_stations(CUSTOMER, &items, &[susp], NOON_SHANGHAI, &c),
            Err(Rejection::StationsSuspended)
        );
        let empty = [station("s", 31.24, 121.47, 1)];
        assert_eq!(
            eligible_stations(CUSTOMER, &items, &empty, NOON_SHANGHAI, &c),
            Err(Rejection::NoStock)
        );
        let night = [station("s", 31.24, 121.47, 10)];
        assert_eq!(
            eligible_stations(CUSTOMER, &items, &night, MIDNIGHT_SHANGHAI, &c),
            Err(Rejection::NightSafety)
        );
        let mut monitored = station("s", 31.24, 121.47, 10);
        monitored.monitored = true;
        assert!(eligible_stations(CUSTOMER, &items, &[monitored], MIDNIGHT_SHANGHAI, &c).is_ok());
    }

    #[test]
    fn picks_least_total_time_and_prefers_stations_with_riders() {
        let c = Config::default();
        let items = two_15kg();
        let near = station("near", 31.232, 121.475, 10);
        let farther = station("farther", 31.27, 121.52, 10);
        // Only the farther station has a rider within the rider radius.
        let riders = [rider("r1", 31.2705, 121.5205, NOON_SHANGHAI)];
        let cond = Conditions {
            traffic: &flat,
            now: NOON_SHANGHAI,
            config: &c,
        };
        let m = choose(CUSTOMER, &items, &[near.clone(), farther.clone()], &riders, &[], &cond).unwrap();
        assert_eq!(m.station.as_str(), "farther");
        assert_eq!(m.rider.unwrap().as_str(), "r1");
        // With no riders, the nearer station wins, riderless.
        let m = choose(CUSTOMER, &items, &[near, farther], &[], &[], &cond).unwrap();
        assert_eq!((m.station.as_str(), m.rider), ("near", None));
    }

    #[test]
    fn riders_must_be_fresh_available_in_radius_and_not_excluded() {
        let c = Config::default();
        let st = point(31.2304, 121.4737);
        let stale = rider(
            "stale",
            31.231,
            121.474,
            NOON_SHANGHAI - c.rider_location_max_age_ms - 1,
        );
        let mut busy = rider("busy", 31.231, 121.474, NOON_SHANGHAI);
        busy.available = false;
        let far = rider("far", 31.40, 121.474, NOON_SHANGHAI);
        let excluded = rider("excluded", 31.2305, 121.4738, NOON_SHANGHAI);
        let ok_far = rider("ok-far", 31.25, 121.474, NOON_SHANGHAI);
        let ok_near = rider("ok-near", 31.232, 121.474, NOON_SHANGHAI);
        let all = [stale, busy, far, excluded.clone(), ok_far, ok_near];
        let cond = Conditions {
            traffic: &flat,
            now: NOON_SHANGHAI,
            config: &c,
        };
        let ranked = rank_riders(st, &all, &[excluded.id], &cond);
        let ids: Vec<_> = ranked.iter().map(|(r, _)| r.id.as_str()).collect();
        assert_eq!(ids, ["ok-near", "ok-far"]);
    }

    #[test]
    fn traffic_slows_riders() {
        let c = Config::default();
        assert!(travel_seconds(1000.0, 2.0, &c) > travel_seconds(1000.0, 1.0, &c));
        assert!(
            static_traffic_factor(NOON_SHANGHAI - 4 * 3_600_000, &c) > static_traffic_factor(MIDNIGHT_SHANGHAI, &c)
        );
    }
}
