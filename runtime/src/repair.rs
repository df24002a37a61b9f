//! Reading what jq reads: the few inputs jq accepts and simd-json refuses,
//! rewritten before parsing so that the event still reaches every rule.
//!
//! - Invalid UTF-8 becomes U+FFFD, one per maximal invalid subsequence
//!   (as jq 1.6 and [`String::from_utf8_lossy`] do).
//! - A lone surrogate escape (`\ud800` without its low half, or a low half
//!   alone) becomes `\ufffd`, as gojq and jq 1.7 read it (jq 1.6 refuses
//!   a lone high surrogate).
//! - A number beyond the double range (`1e400`) saturates to the largest
//!   double, `±1.7976931348623157e308`, as jq prints it; one below the
//!   range already reads as 0.
//!
//! [`prepare`] runs before every parse: a SIMD UTF-8 check (a few percent
//! of the parse), and the value rewrite only for records the splitter
//! flagged ([`crate::reader::RecordPos::check_values`]: `\uD…` escapes or
//! exponents). A record that needs nothing is not copied.

/// Which repairs a record needed (reported once per file).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Repairs {
    /// Invalid UTF-8 replaced by U+FFFD.
    pub utf8: bool,
    /// Lone surrogate escapes replaced by U+FFFD.
    pub surrogates: bool,
    /// Numbers beyond the double range saturated.
    pub numbers: bool,
}

impl Repairs {
    /// Did anything change?
    pub fn any(self) -> bool {
        self.utf8 || self.surrogates || self.numbers
    }

    /// Both sets of repairs.
    pub fn union(self, other: Repairs) -> Repairs {
        Repairs {
            utf8: self.utf8 || other.utf8,
            surrogates: self.surrogates || other.surrogates,
            numbers: self.numbers || other.numbers,
        }
    }
}

impl std::fmt::Display for Repairs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if self.utf8 {
            parts.push("invalid UTF-8 read as U+FFFD");
        }
        if self.surrogates {
            parts.push("lone surrogate escapes read as U+FFFD");
        }
        if self.numbers {
            parts.push("numbers beyond the double range read as ±1.7976931348623157e308");
        }
        f.write_str(&parts.join(", "))
    }
}

/// Rewrite `bytes` in place so that they read as jq reads them; what was
/// rewritten. `check_values`: also look for lone surrogates and numbers
/// beyond the double range.
pub fn prepare(bytes: &mut Vec<u8>, check_values: bool) -> Repairs {
    let mut repairs = Repairs::default();
    if let Some(fixed) = utf8(bytes) {
        *bytes = fixed;
        repairs.utf8 = true;
    }
    if check_values || repairs.utf8 {
        if let Some((fixed, r)) = values(bytes) {
            *bytes = fixed;
            repairs = repairs.union(r);
        }
    }
    repairs
}

/// Replace invalid UTF-8 with U+FFFD; `None` when the bytes are valid.
pub fn utf8(bytes: &[u8]) -> Option<Vec<u8>> {
    match simdutf8::basic::from_utf8(bytes) {
        Ok(_) => None,
        Err(_) => Some(String::from_utf8_lossy(bytes).into_owned().into_bytes()),
    }
}

/// Rewrite lone surrogate escapes and out-of-range numbers; `None` (and
/// no copy) when there is nothing to rewrite. The JSON structure is not
/// checked here: anything else wrong is left for the parser to report.
pub fn values(bytes: &[u8]) -> Option<(Vec<u8>, Repairs)> {
    let mut out: Option<Vec<u8>> = None;
    let mut repairs = Repairs::default();
    let mut copied = 0; // bytes[..copied] are in `out` already
    let mut i = 0;
    let mut in_string = false;
    // Replace bytes[start..end] with `with`.
    let replace =
        |out: &mut Option<Vec<u8>>, copied: &mut usize, start: usize, end: usize, with: &[u8]| {
            let o = out.get_or_insert_with(|| Vec::with_capacity(bytes.len() + 16));
            o.extend_from_slice(&bytes[*copied..start]);
            o.extend_from_slice(with);
            *copied = end;
        };
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'"' => in_string = false,
                b'\\' => {
                    if bytes.get(i + 1) == Some(&b'u') {
                        if let Some(unit) = hex4(bytes, i + 2) {
                            if (0xD800..0xDC00).contains(&unit) {
                                let pair = bytes.get(i + 6) == Some(&b'\\')
                                    && bytes.get(i + 7) == Some(&b'u')
                                    && hex4(bytes, i + 8)
                                        .is_some_and(|u| (0xDC00..0xE000).contains(&u));
                                if pair {
                                    i += 12;
                                    continue;
                                }
                                replace(&mut out, &mut copied, i, i + 6, b"\\ufffd");
                                repairs.surrogates = true;
                            } else if (0xDC00..0xE000).contains(&unit) {
                                replace(&mut out, &mut copied, i, i + 6, b"\\ufffd");
                                repairs.surrogates = true;
                            }
                            i += 6;
                            continue;
                        }
                    }
                    i += 2;
                    continue;
                }
                _ => {}
            }
            i += 1;
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < bytes.len()
                    && matches!(bytes[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                {
                    i += 1;
                }
                let token = &bytes[start..i];
                if token.iter().any(|c| matches!(c, b'e' | b'E')) {
                    let parsed = std::str::from_utf8(token)
                        .ok()
                        .and_then(|t| t.parse::<f64>().ok());
                    if let Some(v) = parsed.filter(|v| v.is_infinite()) {
                        let with: &[u8] = if v < 0.0 {
                            b"-1.7976931348623157e308"
                        } else {
                            b"1.7976931348623157e308"
                        };
                        replace(&mut out, &mut copied, start, i, with);
                        repairs.numbers = true;
                    }
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    let mut out = out?;
    out.extend_from_slice(&bytes[copied..]);
    Some((out, repairs))
}

/// The code unit of four hex digits at `at`.
fn hex4(bytes: &[u8], at: usize) -> Option<u32> {
    let digits = bytes.get(at..at + 4)?;
    let s = std::str::from_utf8(digits).ok()?;
    u32::from_str_radix(s, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(input: &str) -> String {
        values(input.as_bytes())
            .map(|(b, _)| String::from_utf8(b).unwrap())
            .unwrap_or_else(|| input.to_string())
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        assert_eq!(fixed(r#"{"a":"\ud800"}"#), r#"{"a":"\ufffd"}"#);
        assert_eq!(fixed(r#"{"a":"x\udc00y"}"#), r#"{"a":"x\ufffdy"}"#);
        assert_eq!(fixed(r#"{"a":"\ud800\u0041"}"#), r#"{"a":"\ufffd\u0041"}"#);
        assert_eq!(
            fixed(r#"{"a":"\ud800\ud83d\ude00"}"#),
            r#"{"a":"\ufffd\ud83d\ude00"}"#
        );
        // Valid pairs and escaped backslashes are left alone.
        assert!(values(br#"{"a":"\ud83d\ude00","b":"\\ud800"}"#).is_none());
    }

    #[test]
    fn numbers_beyond_the_double_range_saturate() {
        assert_eq!(
            fixed(r#"{"a":1e400,"b":[-1E+999],"c":"1e400"}"#),
            r#"{"a":1.7976931348623157e308,"b":[-1.7976931348623157e308],"c":"1e400"}"#
        );
        assert!(values(br#"{"a":1e308,"b":1e-400,"c":12345678901234567890123}"#).is_none());
    }

    #[test]
    fn invalid_utf8_is_replaced_per_maximal_subpart() {
        let out = utf8(b"{\"a\":\"\xff\xfe a\xe2\x82z\"}").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"a\":\"\u{fffd}\u{fffd} a\u{fffd}z\"}"
        );
        assert!(utf8("{\"a\":\"é\"}".as_bytes()).is_none());
    }
}
