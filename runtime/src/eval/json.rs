//! JSON text for values: printing as gojq prints (`tojson`, `tostring`,
//! interpolation, alert annotations) and parsing (`fromjson`), both with a
//! nesting limit and on a guarded stack, so no string in a record can
//! crash the process however deeply it nests.
//!
//! Numbers print as gojq prints them: integers as integers, a whole float
//! such as `500.0` as `500`, the shortest digits that read back to the
//! same double, positional notation from 1e-6 up to 1e21 and exponent
//! notation outside (`1e+21`, `1e-7`), `nan` as `null`, and infinities
//! saturated to ±1.7976931348623157e+308.

use std::fmt::Write as _;
use std::rc::Rc;

use super::value::{Key, Map, Value};

/// A number as gojq prints it.
pub fn write_f64(out: &mut String, f: f64) {
    if f.is_nan() {
        out.push_str("null");
        return;
    }
    let f = f.clamp(-f64::MAX, f64::MAX);
    let a = f.abs();
    let mut s = format!("{f:e}");
    // When the double lies exactly halfway between the two shortest
    // decimals that read back to it, Rust's shortest form takes the upper
    // one, Go's (gojq's) the even one, as correctly rounded output does:
    // 800298925842505.25 prints as 800298925842505.2 in gojq.
    let digits = s
        .split_once('e')
        .map_or(0, |(m, _)| m.bytes().filter(u8::is_ascii_digit).count());
    let rounded = format!("{f:.*e}", digits.saturating_sub(1));
    let tie = rounded != s && rounded.parse::<f64>() == Ok(f);
    if tie {
        s = rounded;
    }
    if a == 0.0 || (1e-6..1e21).contains(&a) {
        if tie {
            positional(out, &s);
        } else {
            let _ = write!(out, "{f}");
        }
    } else {
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => {
                out.push_str(m);
                out.push_str("e+");
                out.push_str(e);
            }
            _ => out.push_str(&s),
        }
    }
}

/// Scientific notation (`-1.5011998757901652e15`) written positionally
/// (`-1501199875790165.2`), trailing zeros dropped.
fn positional(out: &mut String, sci: &str) {
    let (m, e) = sci.split_once('e').unwrap_or((sci, "0"));
    let (neg, m) = m.strip_prefix('-').map_or((false, m), |m| (true, m));
    let digits: String = m.chars().filter(char::is_ascii_digit).collect();
    let exp: i64 = e.parse().unwrap_or(0);
    let point = exp + 1; // digits before the decimal point
    let (int, frac) = if point <= 0 {
        (
            "0".to_string(),
            format!("{}{digits}", "0".repeat((-point) as usize)),
        )
    } else if point as usize >= digits.len() {
        (
            format!("{digits}{}", "0".repeat(point as usize - digits.len())),
            String::new(),
        )
    } else {
        let (i, f) = digits.split_at(point as usize);
        (i.to_string(), f.to_string())
    };
    let frac = frac.trim_end_matches('0');
    if neg {
        out.push('-');
    }
    out.push_str(&int);
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
}

/// A string as a JSON string literal (jq's escapes: `"`, `\`, control
/// characters and DEL).
pub fn write_str(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\t' => "\\t",
            b'\r' => "\\r",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f | 0x7f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Why a value could not be printed.
#[derive(Debug, PartialEq, Eq)]
pub enum WriteError {
    /// Nested deeper than the limit.
    TooDeep,
    /// Longer than the limit.
    TooLong,
}

/// Compact JSON of `v` into `out`, refusing to nest deeper than
/// `max_depth` or to grow `out` past `max_len` bytes.
pub fn write_value(
    out: &mut String,
    v: &Value<'_>,
    max_depth: usize,
    max_len: usize,
) -> Result<(), WriteError> {
    write_rec(out, v, max_depth, max_len)
}

fn write_rec(
    out: &mut String,
    v: &Value<'_>,
    depth: usize,
    max_len: usize,
) -> Result<(), WriteError> {
    if out.len() > max_len {
        return Err(WriteError::TooLong);
    }
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => write_f64(out, *f),
        Value::TStr(s) => write_str(out, s),
        Value::Str(s) => write_str(out, s),
        Value::TArr(_) | Value::Arr(_) => {
            if depth == 0 {
                return Err(WriteError::TooDeep);
            }
            tattletail_compiler::stack::guard(|| {
                out.push('[');
                for (i, x) in v.array_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_rec(out, &x, depth - 1, max_len)?;
                }
                out.push(']');
                Ok(())
            })?;
        }
        Value::TObj(_) | Value::Obj(_) => {
            if depth == 0 {
                return Err(WriteError::TooDeep);
            }
            tattletail_compiler::stack::guard(|| {
                out.push('{');
                for (i, (k, x)) in v.object_entries().iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(out, k.as_str());
                    out.push(':');
                    write_rec(out, x, depth - 1, max_len)?;
                }
                out.push('}');
                Ok(())
            })?;
        }
    }
    if out.len() > max_len {
        return Err(WriteError::TooLong);
    }
    Ok(())
}

/// Convert to a serde_json value (alert annotations): whole floats become
/// integers, `nan` is `null`, infinities saturate. Fails past `max_depth`.
pub fn to_serde(v: &Value<'_>, max_depth: usize) -> Result<serde_json::Value, WriteError> {
    use serde_json::Value as J;
    Ok(match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::Float(f) => float_json(*f),
        Value::TStr(s) => J::String(s.to_string()),
        Value::Str(s) => J::String(s.to_string()),
        Value::TArr(_) | Value::Arr(_) => {
            if max_depth == 0 {
                return Err(WriteError::TooDeep);
            }
            tattletail_compiler::stack::guard(|| {
                v.array_iter()
                    .map(|x| to_serde(&x, max_depth - 1))
                    .collect::<Result<Vec<_>, _>>()
                    .map(J::Array)
            })?
        }
        Value::TObj(_) | Value::Obj(_) => {
            if max_depth == 0 {
                return Err(WriteError::TooDeep);
            }
            tattletail_compiler::stack::guard(|| {
                let mut m = serde_json::Map::new();
                for (k, x) in v.object_entries() {
                    m.insert(k.as_str().to_string(), to_serde(&x, max_depth - 1)?);
                }
                Ok(J::Object(m))
            })?
        }
    })
}

fn float_json(f: f64) -> serde_json::Value {
    if f.is_nan() {
        return serde_json::Value::Null;
    }
    let f = f.clamp(-f64::MAX, f64::MAX);
    if f.fract() == 0.0 && f.abs() < 9.2e18 && !(f == 0.0 && f.is_sign_negative()) {
        return serde_json::Value::from(f as i64);
    }
    serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// Why `fromjson` failed.
#[derive(Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Not JSON, with a message and the byte offset.
    Syntax(String, usize),
    /// Nested deeper than the limit.
    TooDeep,
}

/// Parse JSON text into an owned value (`fromjson`), refusing to nest
/// deeper than `max_depth`. Numbers that fit 64 bits stay integers;
/// `nan` is refused (gojq).
pub fn parse<'t>(text: &str, max_depth: usize) -> Result<Value<'t>, ParseError> {
    let mut p = JsonParser {
        s: text.as_bytes(),
        text,
        i: 0,
    };
    p.ws();
    let v = p.value(max_depth)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("unexpected text after the value"));
    }
    Ok(v)
}

struct JsonParser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
}

impl JsonParser<'_> {
    fn err(&self, what: &str) -> ParseError {
        ParseError::Syntax(what.to_string(), self.i)
    }

    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn lit(&mut self, word: &str) -> bool {
        if self.s[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            true
        } else {
            false
        }
    }

    fn value<'t>(&mut self, depth: usize) -> Result<Value<'t>, ParseError> {
        let Some(&c) = self.s.get(self.i) else {
            return Err(self.err("unexpected end of input"));
        };
        match c {
            b'n' if self.lit("null") => Ok(Value::Null),
            b't' if self.lit("true") => Ok(Value::Bool(true)),
            b'f' if self.lit("false") => Ok(Value::Bool(false)),
            b'"' => Ok(Value::Str(Rc::from(self.string()?))),
            b'-' | b'0'..=b'9' => self.number(),
            b'[' | b'{' => {
                if depth == 0 {
                    return Err(ParseError::TooDeep);
                }
                tattletail_compiler::stack::guard(|| {
                    if c == b'[' {
                        self.array(depth - 1)
                    } else {
                        self.object(depth - 1)
                    }
                })
            }
            _ => Err(self.err("unexpected character")),
        }
    }

    fn array<'t>(&mut self, depth: usize) -> Result<Value<'t>, ParseError> {
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.s.get(self.i) == Some(&b']') {
            self.i += 1;
            return Ok(Value::array(items));
        }
        loop {
            self.ws();
            items.push(self.value(depth)?);
            self.ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Value::array(items));
                }
                _ => return Err(self.err("expected `,` or `]`")),
            }
        }
    }

    fn object<'t>(&mut self, depth: usize) -> Result<Value<'t>, ParseError> {
        self.i += 1;
        let mut map: Map<'t> = Map::default();
        self.ws();
        if self.s.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Ok(Value::object(map));
        }
        loop {
            self.ws();
            if self.s.get(self.i) != Some(&b'"') {
                return Err(self.err("expected a string key"));
            }
            let k = self.string()?;
            self.ws();
            if self.s.get(self.i) != Some(&b':') {
                return Err(self.err("expected `:`"));
            }
            self.i += 1;
            self.ws();
            let v = self.value(depth)?;
            map.insert(Key::R(Rc::from(k)), v);
            self.ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Value::object(map));
                }
                _ => return Err(self.err("expected `,` or `}`")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, ParseError> {
        let h = self
            .text
            .get(self.i..self.i + 4)
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| self.err("invalid \\u escape"))?;
        self.i += 4;
        Ok(u32::from_str_radix(h, 16).unwrap_or(0xFFFD))
    }

    fn string(&mut self) -> Result<String, ParseError> {
        self.i += 1;
        let mut out = String::new();
        let mut run = self.i;
        loop {
            let Some(&b) = self.s.get(self.i) else {
                return Err(self.err("unterminated string"));
            };
            match b {
                b'"' => {
                    out.push_str(&self.text[run..self.i]);
                    self.i += 1;
                    return Ok(out);
                }
                b'\\' => {
                    out.push_str(&self.text[run..self.i]);
                    self.i += 1;
                    let Some(&e) = self.s.get(self.i) else {
                        return Err(self.err("unterminated string"));
                    };
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let c = if (0xD800..0xDC00).contains(&hi)
                                && self.s[self.i..].starts_with(b"\\u")
                            {
                                let save = self.i;
                                self.i += 2;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                                } else {
                                    self.i = save;
                                    0xFFFD
                                }
                            } else {
                                hi
                            };
                            out.push(char::from_u32(c).unwrap_or('\u{FFFD}'));
                        }
                        _ => return Err(self.err("invalid escape")),
                    }
                    run = self.i;
                }
                0..=0x1f => return Err(self.err("control character in a string")),
                _ => self.i += 1,
            }
        }
    }

    fn number<'t>(&mut self) -> Result<Value<'t>, ParseError> {
        let start = self.i;
        if self.s[self.i] == b'-' {
            self.i += 1;
        }
        let digits = |p: &mut Self| {
            let s = p.i;
            while p.i < p.s.len() && p.s[p.i].is_ascii_digit() {
                p.i += 1;
            }
            p.i > s
        };
        if !digits(self) {
            return Err(self.err("invalid number"));
        }
        let mut int = true;
        if self.s.get(self.i) == Some(&b'.') {
            self.i += 1;
            int = false;
            if !digits(self) {
                return Err(self.err("invalid number"));
            }
        }
        if matches!(self.s.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            int = false;
            if matches!(self.s.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !digits(self) {
                return Err(self.err("invalid number"));
            }
        }
        let text = &self.text[start..self.i];
        if int {
            if let Ok(i) = text.parse::<i64>() {
                return Ok(Value::Int(i));
            }
        }
        let f: f64 = text.parse().map_err(|_| self.err("invalid number"))?;
        Ok(Value::Float(f.clamp(-f64::MAX, f64::MAX)))
    }
}
