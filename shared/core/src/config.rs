//! The tunables of dispatch. Platforms read them from one variable,
//! `dispatch_config`, holding JSON with any subset of these fields; every
//! value has a default that suits a city like Shanghai.

use serde::{Deserialize, Serialize};

/// Dispatch configuration. See `docs/OPERATIONS.md` for what each knob does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// A station serves customers within this distance (metres).
    pub service_radius_m: f64,
    /// A rider is considered for a station within this distance (metres).
    pub rider_radius_m: f64,
    /// Night window start, minutes after local midnight (22:00).
    pub night_start_minute: u32,
    /// Night window end, minutes after local midnight (06:00).
    pub night_end_minute: u32,
    /// Local time zone, minutes east of UTC (China Standard Time: +480).
    pub utc_offset_minutes: i32,
    /// A rider position older than this is not used for matching (ms).
    pub rider_location_max_age_ms: i64,
    /// Average rider speed on a free road (metres per second; ≈ 20 km/h).
    pub rider_speed_mps: f64,
    /// A rider must accept a task within this long (ms).
    pub accept_timeout_ms: i64,
    /// After this many riders dropped out of one order (acceptance timeout,
    /// decline, missed pickup), the order fails.
    pub max_rider_timeouts: u32,
    /// A rider who accepted must load the cylinders within this long (ms);
    /// past it the rider is released and another found, the stock kept.
    pub pickup_timeout_ms: i64,
    /// Loaded cylinders must be handed over within this long (ms); past it
    /// the order is flagged overdue (`order.delivery_overdue`) for the
    /// dispatch desk: the cylinders are on the road, nothing is undone.
    pub delivery_timeout_ms: i64,
    /// When no rider is free, matching tries again after this delay (s)…
    pub match_retry_delay_s: u32,
    /// …up to this many times before rejecting the order.
    pub max_match_retries: u32,
    /// The sweeper re-sends an unacknowledged outbox message after this long
    /// (ms), and doubles the wait after each re-send.
    pub outbox_redeliver_ms: i64,
    /// Publishes of one outbox event (first send + sweeper re-sends) before
    /// the sweeper dead-letters it and compensates the order; with the
    /// doubling waits that is `outbox_redeliver_ms × (2^max_deliveries − 1)`
    /// after the first send. Queue-level retries of one delivery are the
    /// queue's own setting (`max_retries`).
    pub max_deliveries: u32,
    /// Spin: how often the sweeper runs by itself, timed by Redis (a key
    /// that expires after this long and is set again; `gasline_spin::tick`).
    /// Workers' cron trigger has its own schedule (`wrangler.toml`).
    pub sweep_every_ms: i64,
    /// A station reporting fewer cylinders than this of a spec for
    /// [`Config::low_stock_hold_ms`] is held from matching.
    pub low_stock_threshold: u32,
    /// How long low stock must persist before the hold (ms).
    pub low_stock_hold_ms: i64,
    /// A leak reading at or above this many ppm suspends a station at once.
    pub leak_alarm_ppm: f64,
    /// Maximum request body accepted by the HTTP functions (bytes).
    pub max_body_bytes: usize,
    /// Timeout of one call to the GIS traffic service (ms).
    pub gis_timeout_ms: u32,
    /// How long a GIS traffic factor stays cached in the key-value store (s).
    pub traffic_cache_ttl_s: u32,
    /// Consecutive GIS failures that open the circuit breaker…
    pub gis_breaker_failures: u32,
    /// …which then stays open (static heat map only) this long (ms).
    pub gis_breaker_open_ms: i64,
    /// The cell this deployment is, in a deployment split into cells
    /// ([`crate::cell`], `docs/SCALING.md`): its name goes on every order id
    /// it makes (`sh_01JF…`), which is how the router finds the order again.
    /// `None` (the default) for a deployment without cells.
    pub cell: Option<crate::cell::CellName>,
    /// Requests each kind of caller may make, per token
    /// ([`crate::limit`]); over it a request is answered 429 with
    /// `Retry-After`.
    pub rate_limits: crate::limit::Limits,
    /// Days after an order ended (delivered, cancelled, rejected, failed)
    /// that its personal data is kept; then the sweeper moves it to the
    /// archive, which has none (`gasline_store::purge`). `None`: kept for
    /// ever.
    pub personal_data_retention_days: Option<u32>,
    /// Orders one sweep archives at most.
    pub purge_batch: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            service_radius_m: 8_000.0,
            rider_radius_m: 5_000.0,
            night_start_minute: 22 * 60,
            night_end_minute: 6 * 60,
            utc_offset_minutes: 8 * 60,
            rider_location_max_age_ms: 120_000,
            rider_speed_mps: 5.5,
            accept_timeout_ms: 90_000,
            max_rider_timeouts: 3,
            pickup_timeout_ms: 30 * 60_000,
            delivery_timeout_ms: 2 * 3_600_000,
            match_retry_delay_s: 5,
            max_match_retries: 6,
            outbox_redeliver_ms: 5_000,
            max_deliveries: 5,
            sweep_every_ms: 2_000,
            low_stock_threshold: 5,
            low_stock_hold_ms: 30_000,
            leak_alarm_ppm: 1_000.0,
            max_body_bytes: 16 * 1024,
            gis_timeout_ms: 150,
            traffic_cache_ttl_s: 300,
            gis_breaker_failures: 3,
            gis_breaker_open_ms: 30_000,
            cell: None,
            rate_limits: crate::limit::Limits::default(),
            personal_data_retention_days: Some(90),
            purge_batch: 200,
        }
    }
}

impl Config {
    /// Orders that ended before this time (ms) are past their retention.
    pub fn retention_cutoff(&self, now: crate::Millis) -> Option<crate::Millis> {
        self.personal_data_retention_days
            .map(|days| now.saturating_sub(i64::from(days) * 86_400_000))
    }

    /// The GIS traffic service's circuit breaker.
    pub fn gis_breaker(&self) -> crate::breaker::Policy {
        crate::breaker::Policy {
            failures_to_open: self.gis_breaker_failures,
            open_ms: self.gis_breaker_open_ms,
        }
    }

    /// The id of a new order made from `local`, a fresh id: qualified with
    /// this deployment's cell when it has one.
    pub fn order_id(&self, local: &str) -> String {
        self.cell
            .as_ref()
            .map_or_else(|| local.to_owned(), |cell| cell.qualify(local))
    }

    /// Is `minute_of_day` (local) inside the night window? The window may wrap
    /// midnight (22:00–06:00) or not (01:00–05:00).
    pub fn is_night(&self, minute_of_day: u32) -> bool {
        let (start, end) = (self.night_start_minute, self.night_end_minute);
        if start == end {
            false
        } else if start < end {
            (start..end).contains(&minute_of_day)
        } else {
            minute_of_day >= start || minute_of_day < end
        }
    }

    /// Is it night, local time, at `now` (ms since the epoch)?
    pub fn is_night_at(&self, now: crate::Millis) -> bool {
        self.is_night(crate::time::local_minute_of_day(now, self.utc_offset_minutes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn night_window_wraps_midnight() {
        let c = Config::default();
        assert!(c.is_night(22 * 60));
        assert!(c.is_night(23 * 60 + 59));
        assert!(c.is_night(0));
        assert!(c.is_night(5 * 60 + 59));
        assert!(!c.is_night(6 * 60));
        assert!(!c.is_night(21 * 60 + 59));
        let inner = Config {
            night_start_minute: 60,
            night_end_minute: 300,
            ..c.clone()
        };
        assert!(inner.is_night(60) && !inner.is_night(300) && !inner.is_night(0));
        let off = Config {
            night_start_minute: 0,
            night_end_minute: 0,
            ..c
        };
        assert!(!off.is_night(0));
    }

    #[test]
    fn a_cell_names_itself_on_the_order_ids_it_makes() {
        let plain = Config::default();
        assert_eq!(plain.order_id("01JF"), "01JF");
        let cell: Config = serde_json::from_str(r#"{"cell":"hz"}"#).unwrap();
        assert_eq!(cell.order_id("01JF"), "hz_01JF");
        assert!(serde_json::from_str::<Config>(r#"{"cell":"H Z"}"#).is_err());
    }
}
