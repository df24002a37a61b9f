//! A small JSON tree that keeps every number's text, for comparing engine
//! outputs exactly (gojq prints `500`, jaq `500.0`; big integers must not
//! be rounded by the comparison itself) while still being able to order
//! object keys as gojq does.

use std::fmt::Write;

/// A JSON value with numbers as their source text and object members in
/// source order (duplicates kept).
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    /// The number as written.
    Num(String),
    /// The decoded string (lone surrogates become U+FFFD).
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

/// Parse one JSON text (surrounding whitespace allowed).
pub fn parse(text: &[u8]) -> Result<Json, String> {
    let mut p = Parser { s: text, i: 0 };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(format!("trailing bytes at {}", p.i));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Result<(), String> {
        if self.s.get(self.i) == Some(&b) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected {:?} at {}", b as char, self.i))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, String> {
        if depth > 10_000 {
            return Err("too deep".into());
        }
        match self.s.get(self.i) {
            Some(b'n') => self.word("null", Json::Null),
            Some(b't') => self.word("true", Json::Bool(true)),
            Some(b'f') => self.word("false", Json::Bool(false)),
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b'[') => {
                self.i += 1;
                let mut out = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Json::Arr(out));
                }
                loop {
                    self.ws();
                    out.push(self.value(depth + 1)?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Json::Arr(out));
                        }
                        _ => return Err(format!("bad array at {}", self.i)),
                    }
                }
            }
            Some(b'{') => {
                self.i += 1;
                let mut out = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Json::Obj(out));
                }
                loop {
                    self.ws();
                    let k = self.string()?;
                    self.ws();
                    self.eat(b':')?;
                    self.ws();
                    out.push((k, self.value(depth + 1)?));
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Json::Obj(out));
                        }
                        _ => return Err(format!("bad object at {}", self.i)),
                    }
                }
            }
            Some(b'-' | b'0'..=b'9') => {
                let start = self.i;
                while self.i < self.s.len()
                    && matches!(
                        self.s[self.i],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.i += 1;
                }
                Ok(Json::Num(
                    String::from_utf8_lossy(&self.s[start..self.i]).into_owned(),
                ))
            }
            _ => Err(format!("unexpected byte at {}", self.i)),
        }
    }

    fn word(&mut self, w: &str, v: Json) -> Result<Json, String> {
        if self.s[self.i..].starts_with(w.as_bytes()) {
            self.i += w.len();
            Ok(v)
        } else {
            Err(format!("bad literal at {}", self.i))
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let h = self
            .s
            .get(self.i..self.i + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| format!("bad \\u escape at {}", self.i))?;
        self.i += 4;
        Ok(h)
    }

    fn string(&mut self) -> Result<String, String> {
        self.eat(b'"')?;
        let mut bytes = Vec::new();
        loop {
            let Some(&b) = self.s.get(self.i) else {
                return Err("unterminated string".into());
            };
            self.i += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.s.get(self.i) else {
                        return Err("unterminated escape".into());
                    };
                    self.i += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&hi)
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
                            char::from_u32(cp).unwrap_or('\u{FFFD}')
                        }
                        _ => return Err(format!("bad escape at {}", self.i)),
                    };
                    let mut buf = [0; 4];
                    bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                _ => bytes.push(b),
            }
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

impl Json {
    /// Object keys in gojq's order (sorted by their UTF-8 bytes), the last
    /// of duplicate keys kept (as every engine reads them), recursively.
    pub fn sorted(&self) -> Json {
        match self {
            Json::Arr(a) => Json::Arr(a.iter().map(Json::sorted).collect()),
            Json::Obj(o) => {
                let mut m: std::collections::BTreeMap<&str, &Json> = Default::default();
                for (k, v) in o {
                    m.insert(k, v);
                }
                Json::Obj(
                    m.into_iter()
                        .map(|(k, v)| (k.to_string(), v.sorted()))
                        .collect(),
                )
            }
            v => v.clone(),
        }
    }

    /// Every number as a double (`1`, `1.0` and `1e0` are equal), for
    /// comparing engines that print numbers differently.
    pub fn numbers_as_f64(&self) -> Json {
        match self {
            Json::Num(n) => Json::Num(match n.parse::<f64>() {
                Ok(0.0) => "0".to_string(),
                Ok(f) => format!("{f:e}"),
                Err(_) => n.clone(),
            }),
            Json::Arr(a) => Json::Arr(a.iter().map(Json::numbers_as_f64).collect()),
            Json::Obj(o) => Json::Obj(
                o.iter()
                    .map(|(k, v)| (k.clone(), v.numbers_as_f64()))
                    .collect(),
            ),
            v => v.clone(),
        }
    }

    /// Does any number in it need more than 64 bits as an integer?
    pub fn has_big_int(&self) -> bool {
        match self {
            Json::Num(n) => is_big_int(n),
            Json::Arr(a) => a.iter().any(Json::has_big_int),
            Json::Obj(o) => o.iter().any(|(_, v)| v.has_big_int()),
            _ => false,
        }
    }

    /// Integers beyond 64 bits replaced by the nearest double, as Tattletail
    /// reads them.
    pub fn big_ints_as_f64(&self) -> Json {
        match self {
            Json::Num(n) if is_big_int(n) => Json::Num(format!("{:e}", n.parse::<f64>().unwrap())),
            Json::Arr(a) => Json::Arr(a.iter().map(Json::big_ints_as_f64).collect()),
            Json::Obj(o) => Json::Obj(
                o.iter()
                    .map(|(k, v)| (k.clone(), v.big_ints_as_f64()))
                    .collect(),
            ),
            v => v.clone(),
        }
    }

    /// Compact JSON text.
    pub fn text(&self) -> String {
        let mut s = String::new();
        self.write(&mut s);
        s
    }

    fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => write!(out, "{b}").unwrap(),
            Json::Num(n) => out.push_str(n),
            Json::Str(s) => out.push_str(&serde_json::to_string(s).unwrap()),
            Json::Arr(a) => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            Json::Obj(o) => {
                out.push('{');
                for (i, (k, v)) in o.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(k).unwrap());
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// An integer literal (no fraction or exponent) outside the signed 64-bit
/// range, which Tattletail reads as a double.
pub fn is_big_int(n: &str) -> bool {
    let digits = n.strip_prefix('-').unwrap_or(n);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && n.parse::<i64>().is_err()
}
