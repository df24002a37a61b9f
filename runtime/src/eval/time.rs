//! Dates: `gmtime`, `mktime`, `strftime`, `strptime` (and through the
//! prelude `todate`, `fromdateiso8601`, `date`, …), in UTC. A broken-down
//! time is jq's array `[year, month (0-11), day, hours, minutes, seconds
//! (may have a fraction), weekday, day of the year]`.
//!
//! As gojq: `mktime` keeps fractional seconds, `strptime` applies a `%z`
//! offset (and accepts `Z` for it), and `localtime`/`strflocaltime` are
//! UTC (the Lambda's zone; a rule must not depend on the machine's).

use std::fmt::Write as _;
use tattletail_compiler::date::{civil_from_days, days_from_civil, is_leap};

use super::interp::{describe, err, Interp, Stop};
use super::value::Value;

type R<'t> = Result<Value<'t>, Stop<'t>>;

const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A broken-down UTC time.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Tm {
    year: i64,
    mon: i64,
    mday: i64,
    hour: i64,
    min: i64,
    sec: f64,
    wday: i64,
    yday: i64,
}

impl Tm {
    fn from_epoch(t: f64) -> Tm {
        let whole = t.floor();
        let frac = t - whole;
        let secs = whole as i64;
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (year, month, mday) = civil_from_days(days);
        let yday = days - days_from_civil(year, 1, 1);
        Tm {
            year,
            mon: month - 1,
            mday,
            hour: rem / 3600,
            min: rem % 3600 / 60,
            sec: (rem % 60) as f64 + frac,
            wday: (days + 4).rem_euclid(7),
            yday,
        }
    }

    fn epoch(&self) -> f64 {
        // Normalise the month like timegm does.
        let y = self.year + self.mon.div_euclid(12);
        let m = self.mon.rem_euclid(12) + 1;
        let days = days_from_civil(y, m, 1) + self.mday - 1;
        (days * 86_400 + self.hour * 3600 + self.min * 60) as f64 + self.sec
    }

    fn to_value<'t>(self) -> Value<'t> {
        Value::array(vec![
            Value::Int(self.year),
            Value::Int(self.mon),
            Value::Int(self.mday),
            Value::Int(self.hour),
            Value::Int(self.min),
            Value::number(self.sec),
            Value::Int(self.wday),
            Value::Int(self.yday),
        ])
    }

    fn from_value<'t>(v: &Value<'t>, what: &str) -> Result<Tm, Stop<'t>> {
        if let Some(t) = v.as_f64() {
            if !t.is_finite() {
                return Err(err(format!("{what} requires a finite number")));
            }
            return Ok(Tm::from_epoch(t));
        }
        let Some(n) = v.array_len() else {
            return Err(err(format!("{what} requires parsed datetime inputs")));
        };
        if n < 6 {
            return Err(err(format!("{what} requires parsed datetime inputs")));
        }
        let mut f = [0f64; 8];
        for (i, x) in v.array_iter().take(8).enumerate() {
            f[i] = x
                .as_f64()
                .ok_or_else(|| err(format!("{what} requires parsed datetime inputs")))?;
            if !f[i].is_finite() {
                return Err(err(format!("{what} requires parsed datetime inputs")));
            }
        }
        let tm = Tm {
            year: f[0] as i64,
            mon: f[1] as i64,
            mday: f[2] as i64,
            hour: f[3] as i64,
            min: f[4] as i64,
            sec: f[5],
            wday: f[6] as i64,
            yday: f[7] as i64,
        };
        Ok(tm)
    }
}

/// `gmtime`.
pub fn gmtime<'t>(ev: &mut Interp<'_, 't>, v: &Value<'t>) -> R<'t> {
    let Some(t) = v.as_f64() else {
        return Err(err(format!(
            "gmtime() requires a number, not {}",
            describe(v)
        )));
    };
    if !t.is_finite() || t.abs() > 1e15 {
        return Err(err(format!("gmtime() cannot convert {}", describe(v))));
    }
    ev.check_items(8)?;
    Ok(Tm::from_epoch(t).to_value())
}

/// `mktime`.
pub fn mktime<'t>(v: &Value<'t>) -> R<'t> {
    // gojq: exactly 8 elements, the first six numbers.
    if v.array_len() != Some(8) || v.array_iter().take(6).any(|x| x.as_f64().is_none()) {
        return Err(err("mktime requires array of 8 numbers"));
    }
    let mut fields: Vec<Value<'t>> = v.array_iter().take(6).collect();
    fields.extend([Value::Int(0), Value::Int(0)]);
    let tm = Tm::from_value(&Value::array(fields), "mktime")?;
    if tm.year.abs() > 1_000_000_000 {
        return Err(err("mktime cannot convert that date"));
    }
    Ok(Value::number(tm.epoch()))
}

/// `strftime(fmt)`.
pub fn strftime<'t>(ev: &mut Interp<'_, 't>, v: &Value<'t>, fmt: &Value<'t>) -> R<'t> {
    let Some(fmt) = fmt.as_str() else {
        return Err(err("strftime/1 requires a string format"));
    };
    if v.as_str().is_some() {
        return Err(err(format!(
            "strftime/1 requires parsed datetime inputs, not {}",
            describe(v)
        )));
    }
    let tm = Tm::from_value(v, "strftime/1")?;
    if tm.year.abs() > 1_000_000_000 {
        return Err(err("strftime/1 cannot format that date"));
    }
    // Recompute weekday/yearday from the date (as timegm + gmtime would).
    let tm = Tm::from_epoch(tm.epoch());
    let mut out = String::new();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(spec) = chars.next() else {
            out.push('%');
            break;
        };
        write_spec(&mut out, spec, &tm);
        if out.len() > ev.limits.string {
            return Err(Stop::Budget(super::budget::Exceeded::String));
        }
    }
    ev.new_str(out)
}

fn write_spec(out: &mut String, spec: char, tm: &Tm) {
    let h12 = if tm.hour % 12 == 0 { 12 } else { tm.hour % 12 };
    let sec = tm.sec.floor() as i64;
    let _ = match spec {
        'Y' => write!(out, "{}", tm.year),
        'C' => write!(out, "{:02}", tm.year.div_euclid(100)),
        'y' => write!(out, "{:02}", tm.year.rem_euclid(100)),
        'm' => write!(out, "{:02}", tm.mon + 1),
        'd' => write!(out, "{:02}", tm.mday),
        'e' => write!(out, "{:2}", tm.mday),
        'H' => write!(out, "{:02}", tm.hour),
        'k' => write!(out, "{:2}", tm.hour),
        'I' => write!(out, "{h12:02}"),
        'l' => write!(out, "{h12:2}"),
        'M' => write!(out, "{:02}", tm.min),
        'S' => write!(out, "{sec:02}"),
        'f' => write!(out, "{:06}", ((tm.sec - tm.sec.floor()) * 1e6) as i64),
        'j' => write!(out, "{:03}", tm.yday + 1),
        'Z' => write!(out, "UTC"),
        'z' => write!(out, "+0000"),
        'a' => write!(out, "{}", &DAYS[tm.wday.rem_euclid(7) as usize][..3]),
        'A' => write!(out, "{}", DAYS[tm.wday.rem_euclid(7) as usize]),
        'b' | 'h' => write!(out, "{}", &MONTHS[tm.mon.rem_euclid(12) as usize][..3]),
        'B' => write!(out, "{}", MONTHS[tm.mon.rem_euclid(12) as usize]),
        'p' => write!(out, "{}", if tm.hour < 12 { "AM" } else { "PM" }),
        'c' => {
            write_spec(out, 'a', tm);
            out.push(' ');
            write_spec(out, 'b', tm);
            out.push(' ');
            write_spec(out, 'e', tm);
            out.push(' ');
            write_spec(out, 'T', tm);
            out.push(' ');
            write_spec(out, 'Y', tm);
            Ok(())
        }
        'D' | 'x' => write!(
            out,
            "{:02}/{:02}/{:02}",
            tm.mon + 1,
            tm.mday,
            tm.year.rem_euclid(100)
        ),
        'F' => write!(out, "{}-{:02}-{:02}", tm.year, tm.mon + 1, tm.mday),
        'T' | 'X' => write!(out, "{:02}:{:02}:{sec:02}", tm.hour, tm.min),
        'R' => write!(out, "{:02}:{:02}", tm.hour, tm.min),
        'r' => write!(
            out,
            "{h12:02}:{:02}:{sec:02} {}",
            tm.min,
            if tm.hour < 12 { "AM" } else { "PM" }
        ),
        's' => write!(out, "{}", tm.epoch().floor() as i64),
        'u' => write!(out, "{}", if tm.wday == 0 { 7 } else { tm.wday }),
        'w' => write!(out, "{}", tm.wday),
        'U' => write!(out, "{:02}", (tm.yday + 7 - tm.wday) / 7),
        'W' => write!(out, "{:02}", (tm.yday + 7 - (tm.wday + 6) % 7) / 7),
        'G' | 'g' | 'V' => {
            let (iy, iw) = iso_week(tm);
            match spec {
                'G' => write!(out, "{iy}"),
                'g' => write!(out, "{:02}", iy.rem_euclid(100)),
                _ => write!(out, "{iw:02}"),
            }
        }
        'n' => writeln!(out),
        't' => write!(out, "\t"),
        '%' => write!(out, "%"),
        other => write!(out, "%{other}"),
    };
}

fn iso_week(tm: &Tm) -> (i64, i64) {
    let wday = (tm.wday + 6) % 7; // Monday = 0
    let week = (tm.yday - wday + 10) / 7;
    if week < 1 {
        let py = tm.year - 1;
        let pdays = if is_leap(py) { 366 } else { 365 };
        let t = Tm {
            yday: tm.yday + pdays,
            year: py,
            ..*tm
        };
        return iso_week(&t);
    }
    let days = if is_leap(tm.year) { 366 } else { 365 };
    if week == 53 && tm.yday - wday + 3 >= days {
        return (tm.year + 1, 1);
    }
    (tm.year, week)
}

/// `strptime(fmt)`: the broken-down UTC time of a string.
pub fn strptime<'t>(ev: &mut Interp<'_, 't>, v: &Value<'t>, fmt: &Value<'t>) -> R<'t> {
    let Some(s) = v.as_str() else {
        return Err(err(format!(
            "strptime/1 requires string inputs and arguments, not {}",
            describe(v)
        )));
    };
    let Some(f) = fmt.as_str() else {
        return Err(err("strptime/1 requires string inputs and arguments"));
    };
    let fail = || err(format!("date \"{s}\" does not match format \"{f}\""));
    let mut p = Scan {
        s: s.as_bytes(),
        i: 0,
    };
    let (mut year, mut mon, mut mday, mut hour, mut min, mut sec) =
        (1900i64, 0i64, 1i64, 0i64, 0i64, 0i64);
    let mut frac = 0f64;
    let mut offset = 0i64;
    let mut pm: Option<bool> = None;
    let mut epoch: Option<i64> = None;
    let mut yday: Option<i64> = None;
    let mut fc = f.chars().peekable();
    while let Some(c) = fc.next() {
        if c != '%' {
            if c.is_whitespace() {
                p.skip_ws();
                continue;
            }
            if !p.lit(c) {
                return Err(fail());
            }
            continue;
        }
        let Some(spec) = fc.next() else {
            return Err(fail());
        };
        match spec {
            'Y' => year = p.signed_num(4).ok_or_else(fail)?,
            'm' => mon = p.num(2).ok_or_else(fail)? - 1,
            'd' | 'e' => {
                p.skip_ws();
                mday = p.num(2).ok_or_else(fail)?
            }
            'H' | 'k' => {
                p.skip_ws();
                hour = p.num(2).ok_or_else(fail)?
            }
            'I' | 'l' => {
                p.skip_ws();
                hour = p.num(2).ok_or_else(fail)?
            }
            'M' => min = p.num(2).ok_or_else(fail)?,
            'S' => sec = p.num(2).ok_or_else(fail)?,
            'f' => {
                let start = p.i;
                let n = p.num(9).ok_or_else(fail)?;
                frac = n as f64 / 10f64.powi((p.i - start) as i32);
            }
            'j' => yday = Some(p.num(3).ok_or_else(fail)? - 1),
            'y' => {
                let y = p.num(2).ok_or_else(fail)?;
                year = if y < 69 { 2000 + y } else { 1900 + y };
            }
            'C' => year = p.num(2).ok_or_else(fail)? * 100 + year.rem_euclid(100),
            'b' | 'B' | 'h' => mon = p.name(&MONTHS).ok_or_else(fail)?,
            'a' | 'A' => {
                p.name(&DAYS).ok_or_else(fail)?;
            }
            'p' => {
                if p.lit_ci("AM") {
                    pm = Some(false);
                } else if p.lit_ci("PM") {
                    pm = Some(true);
                } else {
                    return Err(fail());
                }
            }
            'Z' => {
                let start = p.i;
                while p.i < p.s.len() && p.s[p.i].is_ascii_alphabetic() {
                    p.i += 1;
                }
                if p.i == start {
                    return Err(fail());
                }
            }
            'z' => {
                if p.lit('Z') {
                    offset = 0;
                } else {
                    let sign = if p.lit('+') {
                        1
                    } else if p.lit('-') {
                        -1
                    } else {
                        return Err(fail());
                    };
                    let hh = p.num(2).ok_or_else(fail)?;
                    p.lit(':');
                    let mm = p.num(2).ok_or_else(fail)?;
                    offset = sign * (hh * 3600 + mm * 60);
                }
            }
            's' => epoch = Some(p.signed_num(20).ok_or_else(fail)?),
            'T' => {
                hour = p.num(2).ok_or_else(fail)?;
                if !p.lit(':') {
                    return Err(fail());
                }
                min = p.num(2).ok_or_else(fail)?;
                if !p.lit(':') {
                    return Err(fail());
                }
                sec = p.num(2).ok_or_else(fail)?;
            }
            'R' => {
                hour = p.num(2).ok_or_else(fail)?;
                if !p.lit(':') {
                    return Err(fail());
                }
                min = p.num(2).ok_or_else(fail)?;
            }
            'D' => {
                mon = p.num(2).ok_or_else(fail)? - 1;
                if !p.lit('/') {
                    return Err(fail());
                }
                mday = p.num(2).ok_or_else(fail)?;
                if !p.lit('/') {
                    return Err(fail());
                }
                let y = p.num(2).ok_or_else(fail)?;
                year = if y < 69 { 2000 + y } else { 1900 + y };
            }
            'F' => {
                year = p.signed_num(4).ok_or_else(fail)?;
                if !p.lit('-') {
                    return Err(fail());
                }
                mon = p.num(2).ok_or_else(fail)? - 1;
                if !p.lit('-') {
                    return Err(fail());
                }
                mday = p.num(2).ok_or_else(fail)?;
            }
            'n' | 't' => p.skip_ws(),
            '%' => {
                if !p.lit('%') {
                    return Err(fail());
                }
            }
            _ => return Err(fail()),
        }
    }
    if p.i != p.s.len() {
        return Err(fail());
    }
    if let Some(pm) = pm {
        hour = hour % 12 + if pm { 12 } else { 0 };
    }
    // Out-of-range fields are normalised (gojq), as timegm does.
    let mut tm = match epoch {
        Some(e) => Tm::from_epoch(e as f64),
        None => {
            let base = Tm {
                year,
                mon,
                mday,
                hour,
                min,
                sec: sec as f64 + frac,
                wday: 0,
                yday: 0,
            };
            let t = match yday {
                Some(d) if mday == 1 && mon == 0 => base.epoch() + d as f64 * 86_400.0,
                _ => base.epoch(),
            };
            Tm::from_epoch(t)
        }
    };
    if offset != 0 {
        tm = Tm::from_epoch(tm.epoch() - offset as f64);
    }
    ev.check_items(8)?;
    Ok(tm.to_value())
}

struct Scan<'a> {
    s: &'a [u8],
    i: usize,
}

impl Scan<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn lit(&mut self, c: char) -> bool {
        let mut buf = [0u8; 4];
        let enc = c.encode_utf8(&mut buf).as_bytes();
        if self.s[self.i..].starts_with(enc) {
            self.i += enc.len();
            true
        } else {
            false
        }
    }

    fn lit_ci(&mut self, w: &str) -> bool {
        let n = w.len();
        if self.s.len() >= self.i + n
            && self.s[self.i..self.i + n].eq_ignore_ascii_case(w.as_bytes())
        {
            self.i += n;
            true
        } else {
            false
        }
    }

    fn num(&mut self, max: usize) -> Option<i64> {
        let start = self.i;
        while self.i < self.s.len() && self.i - start < max && self.s[self.i].is_ascii_digit() {
            self.i += 1;
        }
        if self.i == start {
            return None;
        }
        std::str::from_utf8(&self.s[start..self.i])
            .ok()?
            .parse()
            .ok()
    }

    fn signed_num(&mut self, max: usize) -> Option<i64> {
        let neg = if self.lit('-') {
            true
        } else {
            self.lit('+');
            false
        };
        let n = self.num(max)?;
        Some(if neg { -n } else { n })
    }

    /// A month or day name, full or abbreviated: its index.
    fn name(&mut self, names: &[&str]) -> Option<i64> {
        for (i, n) in names.iter().enumerate() {
            if self.lit_ci(n) || self.lit_ci(&n[..3]) {
                return Some(i as i64);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for days in [-800_000i64, -1, 0, 1, 16_500, 20_000, 3_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        let tm = Tm::from_epoch(1_425_599_507.0);
        assert_eq!(
            (tm.year, tm.mon, tm.mday, tm.hour, tm.min, tm.wday, tm.yday),
            (2015, 2, 5, 23, 51, 4, 63)
        );
        assert_eq!(tm.epoch(), 1_425_599_507.0);
    }
}
