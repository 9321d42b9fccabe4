//! `EXT-X-PROGRAM-DATE-TIME` values: unix milliseconds ⇄
//! `YYYY-MM-DDTHH:MM:SS.mmmZ` (ISO 8601, UTC), without a date crate.
//!
//! Day/civil conversions are Howard Hinnant's `days_from_civil` /
//! `civil_from_days` algorithms (proleptic Gregorian calendar).

use std::fmt::Write;

const MS_PER_DAY: i64 = 86_400_000;

/// Formats unix milliseconds as `2026-11-23T10:00:00.000Z`.
pub fn format_program_date_time(unix_ms: i64) -> String {
    let mut out = String::with_capacity(24);
    write_program_date_time(&mut out, unix_ms);
    out
}

/// Appends the formatted date-time to `out`.
pub(crate) fn write_program_date_time(out: &mut String, unix_ms: i64) {
    let days = unix_ms.div_euclid(MS_PER_DAY);
    let ms_of_day = unix_ms.rem_euclid(MS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let secs = ms_of_day / 1000;
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        ms_of_day % 1000
    );
}

/// Parses exactly the format [`format_program_date_time`] writes (years
/// 0000–9999); `None` for anything else.
pub fn parse_program_date_time(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 24 {
        return None;
    }
    let punct = [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (23, b'Z'),
    ];
    if punct.iter().any(|&(i, c)| b.get(i) != Some(&c)) {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        b.get(from..to)?.iter().try_fold(0i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second, milli) = (num(11, 13)?, num(14, 16)?, num(17, 19)?, num(20, 23)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * MS_PER_DAY + ((hour * 60 + minute) * 60 + second) * 1000 + milli)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 → (year, month 1..=12, day 1..=31).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) → days since 1970-01-01.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        let cases = [
            (0, "1970-01-01T00:00:00.000Z"),
            (1_795_428_000_000, "2026-11-23T10:00:00.000Z"),
            (951_782_400_123, "2000-02-29T00:00:00.123Z"),
            (4_107_542_399_999, "2100-02-28T23:59:59.999Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
            (1_709_208_000_500, "2024-02-29T12:00:00.500Z"),
        ];
        for (ms, text) in cases {
            assert_eq!(format_program_date_time(ms), text);
            assert_eq!(parse_program_date_time(text), Some(ms), "{text}");
        }
    }

    #[test]
    fn round_trips_many_days() {
        let mut ms = -2_000_000_000_000i64;
        while ms < 6_000_000_000_000 {
            let text = format_program_date_time(ms);
            assert_eq!(parse_program_date_time(&text), Some(ms), "{text}");
            ms += 7_777_777_777;
        }
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "2026-11-23T10:00:00Z",
            "2026-11-23T10:00:00.000+00:00",
            "2026-13-23T10:00:00.000Z",
            "2026-02-29T10:00:00.000Z",
            "2026-11-23T24:00:00.000Z",
            "2026-11-23 10:00:00.000Z",
            "2026-11-2xT10:00:00.000Z",
            "२०२६-11-23T10:00:00.000Z",
        ] {
            assert_eq!(parse_program_date_time(bad), None, "{bad}");
        }
    }
}
