//! Calendar arithmetic (the one copy: the runtime's jq date builtins use
//! it too) and the dates of `expires`: an RFC 3339 date (`2026-12-31`,
//! meaning the end of that day, UTC) or date-time (`2026-12-31T18:00:00Z`,
//! an offset, or no offset for UTC), as seconds since the Unix epoch. Pure
//! arithmetic; [`now`] is the one place expiries read the clock.

/// Seconds since the Unix epoch, now (what an `expires` is compared with).
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month, day) of a day number since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A leap year of the proleptic Gregorian calendar.
pub fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

fn number(text: &str, what: &str) -> Result<i64, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("the {what} `{text}` is not a number"));
    }
    text.parse()
        .map_err(|_| format!("the {what} `{text}` is out of range"))
}

/// The instant `text` names: for a date, the end of that day (UTC), i.e.
/// the first second of the next day.
pub fn parse_expiry(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let (date, time) = match t.find(['T', 't', ' ']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let parts: Vec<&str> = date.split('-').collect();
    let [y, m, d] = parts[..] else {
        return Err(format!("`{t}` is not a date like 2026-12-31"));
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(format!("`{t}` is not a date like 2026-12-31"));
    }
    let (y, m, d) = (number(y, "year")?, number(m, "month")?, number(d, "day")?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return Err(format!("`{date}` is not a day of the calendar"));
    }
    let day = days_from_civil(y, m, d) * 86_400;
    let Some(time) = time else {
        return Ok(day + 86_400);
    };
    // hh:mm[:ss[.frac]] then Z, ±hh:mm, or nothing (UTC).
    let (clock, offset) = match time.find(['Z', 'z', '+', '-']) {
        Some(i) => (&time[..i], &time[i..]),
        None => (time, ""),
    };
    let clock = clock.split('.').next().unwrap_or("");
    let hms: Vec<&str> = clock.split(':').collect();
    let (h, mi, s) = match hms[..] {
        [h, mi] => (number(h, "hour")?, number(mi, "minute")?, 0),
        [h, mi, s] => (
            number(h, "hour")?,
            number(mi, "minute")?,
            number(s, "second")?,
        ),
        _ => return Err(format!("`{time}` is not a time like 18:00:00Z")),
    };
    if h > 23 || mi > 59 || s > 60 {
        return Err(format!("`{clock}` is not a time of day"));
    }
    let offset_secs = match offset {
        "" | "Z" | "z" => 0,
        o => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let (oh, om) = o[1..]
                .split_once(':')
                .ok_or_else(|| format!("the offset `{o}` is not like +02:00"))?;
            sign * (number(oh, "offset hour")? * 3600 + number(om, "offset minute")? * 60)
        }
    };
    Ok(day + h * 3600 + mi * 60 + s - offset_secs)
}

/// `2026-12-31T18:00:00Z` for seconds since the epoch.
pub fn format_utc(secs: i64) -> String {
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times() {
        // A date lasts to the end of its day.
        assert_eq!(parse_expiry("1970-01-01"), Ok(86_400));
        assert_eq!(
            format_utc(parse_expiry("2026-12-31").unwrap()),
            "2027-01-01T00:00:00Z"
        );
        assert_eq!(
            format_utc(parse_expiry("2024-02-29T18:30:00Z").unwrap()),
            "2024-02-29T18:30:00Z"
        );
        assert_eq!(
            format_utc(parse_expiry("2026-06-01T12:00:00+02:00").unwrap()),
            "2026-06-01T10:00:00Z"
        );
        assert_eq!(
            format_utc(parse_expiry("2026-06-01T12:00:00.5-01:30").unwrap()),
            "2026-06-01T13:30:00Z"
        );
        assert_eq!(
            format_utc(parse_expiry("2026-06-01 12:00").unwrap()),
            "2026-06-01T12:00:00Z"
        );
        for bad in [
            "2026-02-30",
            "2025-13-01",
            "31/12/2026",
            "2026-1-1",
            "2026-06-01T25:00",
            "tomorrow",
        ] {
            assert!(parse_expiry(bad).is_err(), "{bad}");
        }
    }
}
