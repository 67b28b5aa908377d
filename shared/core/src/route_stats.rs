//! Requests counted per route: how many, of which status class, and how
//! long they took, as `/metrics` shows them (request rate, errors and
//! latency per route). Each platform keeps the totals where it can
//! (`gasline_ports::RouteCounters`); this module is the arithmetic and the
//! exposition.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::Millis;

/// The upper bounds (ms) of the latency buckets; slower is `+Inf`.
pub const BUCKETS_MS: [Millis; 9] = [10, 25, 50, 100, 250, 500, 1_000, 2_500, 10_000];

/// What requests are counted by: method, route pattern and status class.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteKey {
    pub method: String,
    /// The route's pattern (`/v1/orders/{id}`), never a path with ids in it.
    pub route: String,
    /// `2xx`, `3xx`, `4xx` or `5xx`.
    pub class: &'static str,
}

impl RouteKey {
    pub fn new(method: &str, route: &str, status: u16) -> Self {
        Self {
            method: method.to_owned(),
            route: route.to_owned(),
            class: class_of(status),
        }
    }
}

/// The class of a status code.
pub fn class_of(status: u16) -> &'static str {
    match status {
        ..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// The class named by its text, as a store reads it back.
pub fn class_named(text: &str) -> Option<&'static str> {
    ["2xx", "3xx", "4xx", "5xx"].into_iter().find(|c| *c == text)
}

/// Requests counted: how many, their total time, and how many fell in
/// each latency bucket (not cumulative: `buckets[i]` counts those above
/// `BUCKETS_MS[i - 1]` and at most `BUCKETS_MS[i]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub count: u64,
    pub sum_ms: u64,
    pub buckets: [u64; BUCKETS_MS.len()],
}

impl Tally {
    /// One request that took `ms`.
    pub fn one(ms: Millis) -> Self {
        let mut tally = Self {
            count: 1,
            sum_ms: u64::try_from(ms).unwrap_or(0),
            ..Self::default()
        };
        if let Some(i) = bucket_of(ms) {
            tally.buckets[i] = 1;
        }
        tally
    }

    /// A tally as a store keeps it: `count`, `sum_ms`, then every bucket
    /// in order (`None` for any other length).
    pub fn from_stored(numbers: &[u64]) -> Option<Self> {
        let [count, sum_ms, buckets @ ..] = numbers else {
            return None;
        };
        let mut tally = Self {
            count: *count,
            sum_ms: *sum_ms,
            ..Self::default()
        };
        if buckets.len() != tally.buckets.len() {
            return None;
        }
        tally.buckets.copy_from_slice(buckets);
        Some(tally)
    }

    pub fn add(&mut self, other: &Tally) {
        self.count += other.count;
        self.sum_ms += other.sum_ms;
        for (mine, theirs) in self.buckets.iter_mut().zip(other.buckets) {
            *mine += theirs;
        }
    }
}

/// The bucket a duration falls in (`None`: above the last bound).
pub fn bucket_of(ms: Millis) -> Option<usize> {
    BUCKETS_MS.iter().position(|bound| ms <= *bound)
}

/// A key as a store names it: `<method> <route> <class>`.
pub fn stored_name(key: &RouteKey) -> String {
    format!("{} {} {}", key.method, key.route, key.class)
}

/// A key and its tally read back from a store: the name
/// [`stored_name`] gave, and `count`, `sum_ms` and the buckets in order.
pub fn from_stored(name: &str, numbers: &[u64]) -> Option<(RouteKey, Tally)> {
    let mut parts = name.split(' ');
    let (method, route, class) = (parts.next()?, parts.next()?, class_named(parts.next()?)?);
    if parts.next().is_some() {
        return None;
    }
    let tally = Tally::from_stored(numbers)?;
    let key = RouteKey {
        method: method.to_owned(),
        route: route.to_owned(),
        class,
    };
    Some((key, tally))
}

/// Adds `tally` under `key` in `totals`.
pub fn merge(totals: &mut BTreeMap<RouteKey, Tally>, key: RouteKey, tally: &Tally) {
    totals.entry(key).or_default().add(tally);
}

/// The Prometheus text of `totals`: `gasline_http_requests_total` per
/// method, route and status class, and the histogram
/// `gasline_http_request_duration_ms` per method and route.
pub fn render(totals: &BTreeMap<RouteKey, Tally>, out: &mut String) {
    let _ = writeln!(
        out,
        "# HELP gasline_http_requests_total Requests answered, per route and status class.\n\
         # TYPE gasline_http_requests_total counter"
    );
    for (key, tally) in totals {
        let _ = writeln!(
            out,
            "gasline_http_requests_total{{method=\"{}\",route=\"{}\",class=\"{}\"}} {}",
            key.method, key.route, key.class, tally.count
        );
    }
    let mut by_route: BTreeMap<(&str, &str), Tally> = BTreeMap::new();
    for (key, tally) in totals {
        by_route.entry((&key.method, &key.route)).or_default().add(tally);
    }
    let _ = writeln!(
        out,
        "# HELP gasline_http_request_duration_ms Time to answer, per route.\n\
         # TYPE gasline_http_request_duration_ms histogram"
    );
    for ((method, route), tally) in by_route {
        let labels = format!("method=\"{method}\",route=\"{route}\"");
        let mut cumulative = 0;
        for (bound, n) in BUCKETS_MS.iter().zip(tally.buckets) {
            cumulative += n;
            let _ = writeln!(
                out,
                "gasline_http_request_duration_ms_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "gasline_http_request_duration_ms_bucket{{{labels},le=\"+Inf\"}} {}\n\
             gasline_http_request_duration_ms_sum{{{labels}}} {}\n\
             gasline_http_request_duration_ms_count{{{labels}}} {}",
            tally.count, tally.sum_ms, tally.count
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_fall_in_their_bucket_and_add_up() {
        assert_eq!(bucket_of(0), Some(0));
        assert_eq!(bucket_of(10), Some(0));
        assert_eq!(bucket_of(11), Some(1));
        assert_eq!(bucket_of(10_000), Some(8));
        assert_eq!(bucket_of(10_001), None);
        let mut tally = Tally::one(3);
        tally.add(&Tally::one(40));
        tally.add(&Tally::one(20_000));
        assert_eq!((tally.count, tally.sum_ms), (3, 20_043));
        assert_eq!(tally.buckets, [1, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(class_of(202), "2xx");
        assert_eq!(class_of(429), "4xx");
        assert_eq!(class_of(503), "5xx");
        assert_eq!(class_named("4xx"), Some("4xx"));
        assert_eq!(class_named("6xx"), None);
    }

    #[test]
    fn a_stored_name_reads_back() {
        let key = RouteKey::new("GET", "/v1/orders/{id}", 404);
        let numbers = [3, 12, 1, 2, 0, 0, 0, 0, 0, 0, 0];
        let (back, tally) = from_stored(&stored_name(&key), &numbers).unwrap();
        assert_eq!(back, key);
        assert_eq!((tally.count, tally.sum_ms, tally.buckets[1]), (3, 12, 2));
        assert_eq!(from_stored("GET /x 9xx", &numbers), None);
        assert_eq!(from_stored(&stored_name(&key), &numbers[..5]), None);
    }

    #[test]
    fn the_exposition_counts_per_class_and_histograms_per_route() {
        let mut totals = BTreeMap::new();
        merge(&mut totals, RouteKey::new("POST", "/v1/orders", 202), &Tally::one(8));
        merge(&mut totals, RouteKey::new("POST", "/v1/orders", 202), &Tally::one(30));
        merge(&mut totals, RouteKey::new("POST", "/v1/orders", 422), &Tally::one(2));
        let mut out = String::new();
        render(&totals, &mut out);
        for line in [
            r#"gasline_http_requests_total{method="POST",route="/v1/orders",class="2xx"} 2"#,
            r#"gasline_http_requests_total{method="POST",route="/v1/orders",class="4xx"} 1"#,
            r#"gasline_http_request_duration_ms_bucket{method="POST",route="/v1/orders",le="10"} 2"#,
            r#"gasline_http_request_duration_ms_bucket{method="POST",route="/v1/orders",le="25"} 2"#,
            r#"gasline_http_request_duration_ms_bucket{method="POST",route="/v1/orders",le="50"} 3"#,
            r#"gasline_http_request_duration_ms_bucket{method="POST",route="/v1/orders",le="+Inf"} 3"#,
            r#"gasline_http_request_duration_ms_sum{method="POST",route="/v1/orders"} 40"#,
            r#"gasline_http_request_duration_ms_count{method="POST",route="/v1/orders"} 3"#,
        ] {
            assert!(out.lines().any(|l| l == line), "{line} in\n{out}");
        }
    }
}
