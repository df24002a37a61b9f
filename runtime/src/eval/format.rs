//! `@text`, `@json`, `@html`, `@uri`, `@csv`, `@tsv`, `@sh`, `@base64`,
//! `@base64d`, `@base32`, `@base32d`: as filters and inside `@fmt "…"`
//! strings, where each interpolated value is formatted.
//!
//! `@uri` escapes as gojq does (everything but `A-Za-z0-9-_.~`, a space
//! as `+`); `@base64d` accepts input without padding, as jq does.

use std::fmt::Write as _;

use base64::Engine as _;
use tattletail_compiler::ir::Format;

use super::budget::Exceeded;
use super::interp::{describe, err, Interp, Stop};
use super::value::Value;

/// Append `@fmt` of `v` to `out`.
pub fn format_into<'t>(
    ev: &mut Interp<'_, 't>,
    f: Format,
    v: &Value<'t>,
    out: &mut String,
) -> Result<(), Stop<'t>> {
    match f {
        Format::Text => text(ev, v, out)?,
        Format::Json => ev.write_json(v, out)?,
        Format::Html => {
            let mut s = String::new();
            text(ev, v, &mut s)?;
            for c in s.chars() {
                match c {
                    '<' => out.push_str("&lt;"),
                    '>' => out.push_str("&gt;"),
                    '&' => out.push_str("&amp;"),
                    '\'' => out.push_str("&apos;"),
                    '"' => out.push_str("&quot;"),
                    c => out.push(c),
                }
            }
        }
        Format::Uri => {
            let mut s = String::new();
            text(ev, v, &mut s)?;
            for b in s.bytes() {
                match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                        out.push(b as char)
                    }
                    b' ' => out.push('+'),
                    _ => {
                        let _ = write!(out, "%{b:02X}");
                    }
                }
            }
        }
        Format::Csv | Format::Tsv => {
            if !v.is_array() {
                return Err(err(format!(
                    "{} cannot be {}-formatted, only an array can be",
                    describe(v),
                    f.name()
                )));
            }
            for (i, x) in v.array_iter().enumerate() {
                if i > 0 {
                    out.push(if f == Format::Csv { ',' } else { '\t' });
                }
                match &x {
                    Value::Null => {}
                    Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                    Value::Int(_) | Value::Float(_) => ev.write_json(&x, out)?,
                    Value::TStr(_) | Value::Str(_) => {
                        let s = x.as_str().unwrap_or_default();
                        if f == Format::Csv {
                            out.push('"');
                            out.push_str(&s.replace('"', "\"\""));
                            out.push('"');
                        } else {
                            for c in s.chars() {
                                match c {
                                    '\t' => out.push_str("\\t"),
                                    '\n' => out.push_str("\\n"),
                                    '\r' => out.push_str("\\r"),
                                    '\\' => out.push_str("\\\\"),
                                    c => out.push(c),
                                }
                            }
                        }
                    }
                    _ => {
                        return Err(err(format!(
                            "{} is not valid in a {} row",
                            describe(&x),
                            f.name()
                        )))
                    }
                }
            }
        }
        Format::Sh => {
            let items: Vec<Value<'t>> = if v.is_array() {
                v.array_iter().collect()
            } else {
                vec![v.clone()]
            };
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                match x {
                    Value::TStr(_) | Value::Str(_) => {
                        out.push('\'');
                        out.push_str(&x.as_str().unwrap_or_default().replace('\'', "'\\''"));
                        out.push('\'');
                    }
                    Value::TArr(_) | Value::Arr(_) | Value::TObj(_) | Value::Obj(_) => {
                        return Err(err(format!("{} can not be escaped for shell", describe(x))))
                    }
                    _ => ev.write_json(x, out)?,
                }
            }
        }
        Format::Base64 => {
            let mut s = String::new();
            text(ev, v, &mut s)?;
            base64::engine::general_purpose::STANDARD.encode_string(s.as_bytes(), out);
        }
        Format::Base64d => {
            let mut s = String::new();
            text(ev, v, &mut s)?;
            // As gojq: newlines are skipped, and decoding stops at the
            // first `=` (so unpadded input is fine).
            let data: String = s.chars().filter(|c| *c != '\n' && *c != '\r').collect();
            let data = data.split('=').next().unwrap_or_default();
            let engine = base64::engine::GeneralPurpose::new(
                &base64::alphabet::STANDARD,
                base64::engine::GeneralPurposeConfig::new()
                    .with_decode_allow_trailing_bits(true)
                    .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
            );
            let bytes = engine
                .decode(data)
                .map_err(|_| err(format!("{} is not valid base64 data", describe(v))))?;
            out.push_str(&String::from_utf8_lossy(&bytes));
        }
        Format::Base32 => {
            let mut s = String::new();
            text(ev, v, &mut s)?;
            out.push_str(&base32::encode(
                base32::Alphabet::Rfc4648 { padding: true },
                s.as_bytes(),
            ));
        }
        Format::Base32d => {
            let mut s = String::new();
            text(ev, v, &mut s)?;
            let bytes = base32::decode(
                base32::Alphabet::Rfc4648 { padding: false },
                s.trim_end_matches('='),
            )
            .ok_or_else(|| err(format!("{} is not valid base32 data", describe(v))))?;
            out.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    if out.len() > ev.limits.string {
        return Err(Stop::Budget(Exceeded::String));
    }
    ev.charge(1 + out.len() as u64 / 64)?;
    Ok(())
}

/// `tostring` into `out`.
fn text<'t>(ev: &mut Interp<'_, 't>, v: &Value<'t>, out: &mut String) -> Result<(), Stop<'t>> {
    match v.as_str() {
        Some(s) => {
            out.push_str(s);
            Ok(())
        }
        None => ev.write_json(v, out),
    }
}
