//! Calendar arithmetic on [`Millis`] without a clock: RFC 3339 formatting
//! (and parsing) for documents, and the local time of day for the night safety rule.

use crate::Millis;

const MS_PER_DAY: i64 = 86_400_000;

/// The last millisecond of the year 9999 (UTC): the latest time a caller
/// may name. It keeps every stored time below 2^53, so it survives a trip
/// through JavaScript numbers (D1 answers integers as doubles).
pub const LATEST: Millis = 253_402_300_799_999;

/// Formats a UTC timestamp as RFC 3339 with milliseconds, e.g.
/// `2026-11-23T09:00:00.123Z`.
pub fn rfc3339(ms: Millis) -> String {
    let days = ms.div_euclid(MS_PER_DAY);
    let in_day = ms.rem_euclid(MS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let (h, rest) = (in_day / 3_600_000, in_day % 3_600_000);
    let (min, rest) = (rest / 60_000, rest % 60_000);
    let (s, milli) = (rest / 1000, rest % 1000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}Z")
}

/// Parses what [`rfc3339`] writes (`2026-11-23T09:00:00.123Z`, the
/// milliseconds optional), and nothing else: other offsets, a missing `Z`
/// or an impossible date are `None`.
pub fn parse_rfc3339(text: &str) -> Option<Millis> {
    let b = text.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(range)?;
        digits
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| digits.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let punctuation = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if !punctuation.iter().all(|(i, c)| b.get(*i) == Some(c)) {
        return None;
    }
    let milli = match (b.len(), b.get(19)) {
        (20, Some(b'Z')) => 0,
        (24, Some(b'.')) if b[23] == b'Z' => number(20..23)?,
        _ => return None,
    };
    let (y, m, d) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (h, min, s) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&m) || d < 1 || h > 23 || min > 59 || s > 59 {
        return None;
    }
    let days = days_from_civil(y, u32::try_from(m).ok()?, u32::try_from(d).ok()?);
    // An impossible day (31 April) comes back as another date.
    if civil_from_days(days) != (y, u32::try_from(m).ok()?, u32::try_from(d).ok()?) {
        return None;
    }
    Some(days * MS_PER_DAY + ((h * 60 + min) * 60 + s) * 1000 + milli)
}

/// (year, month, day) to days since 1970-01-01: the inverse of
/// [`civil_from_days`].
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Minutes since local midnight at `ms`, for a zone `utc_offset_minutes` east
/// of UTC (China Standard Time is +480 and has no daylight saving).
pub fn local_minute_of_day(ms: Millis, utc_offset_minutes: i32) -> u32 {
    let local = ms + i64::from(utc_offset_minutes) * 60_000;
    u32::try_from(local.rem_euclid(MS_PER_DAY) / 60_000).expect("minute of day fits u32")
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (the well-known era-based algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).expect("day fits");
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).expect("month fits");
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_424_400_123), "2026-11-23T09:00:00.123Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn parses_what_it_formats_and_nothing_else() {
        for ms in [0, 951_782_400_000, 1_795_424_400_123, -1, 4_102_444_799_999] {
            assert_eq!(parse_rfc3339(&rfc3339(ms)), Some(ms), "{ms}");
        }
        assert_eq!(parse_rfc3339("2026-11-23T09:00:00Z"), Some(1_795_424_400_000));
        for bad in [
            "",
            "2026-11-23",
            "2026-11-23T09:00:00.123",
            "2026-11-23T09:00:00+08:00",
            "2026-04-31T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-23T24:00:00Z",
            "2026-11-23T09:00:00.12Z",
            "2026-11-23t09:00:00Z",
            "+026-11-23T09:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn local_minutes_apply_the_offset() {
        // 2026-11-23T15:30Z is 23:30 in Shanghai.
        let t = 1_795_424_400_000 + (6 * 60 + 30) * 60_000;
        assert_eq!(local_minute_of_day(t, 0), 15 * 60 + 30);
        assert_eq!(local_minute_of_day(t, 480), 23 * 60 + 30);
        assert_eq!(local_minute_of_day(t, -300), 10 * 60 + 30);
    }
}
