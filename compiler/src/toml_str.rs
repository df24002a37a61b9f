//! Maps byte offsets inside a *decoded* TOML string back to the config file.
//!
//! A jq syntax error is found in the decoded `jq_match` string, but the user
//! must be pointed at the TOML file. Literal strings (`'…'`, `'''…'''`, the
//! form upstream's README uses) map one to one after the opening quotes;
//! basic strings (`"…"`, `"""…"""`) contain escapes and line-ending
//! backslashes, so we decode the raw token again and remember, for every
//! decoded byte, where it came from. If our decoding ever disagrees with the
//! TOML parser's, every offset maps to the start of the value: a less precise
//! caret, never a wrong file position.

/// Offsets of each decoded byte (plus one past the end) in the config file.
#[derive(Clone, Debug)]
pub struct OffsetMap {
    offsets: Vec<usize>,
    fallback: usize,
}

impl OffsetMap {
    /// Build the map for the raw string token `raw` that starts at byte
    /// `start` of the file and decodes to `decoded`.
    pub fn new(raw: &str, start: usize, decoded: &str) -> Self {
        let offsets = decode_with_offsets(raw)
            .filter(|(text, _)| text == decoded)
            .map(|(_, offs)| offs.into_iter().map(|o| o + start).collect())
            .unwrap_or_default();
        OffsetMap {
            offsets,
            fallback: start,
        }
    }

    /// A map sending every offset to the start of `span` (for generated
    /// text, such as a Sigma rule's jq, which has no place in the file).
    pub fn constant(span: std::ops::Range<usize>) -> Self {
        OffsetMap {
            offsets: Vec::new(),
            fallback: span.start,
        }
    }

    /// File offset of decoded byte `i` (clamped to the end of the string).
    pub fn map(&self, i: usize) -> usize {
        if self.offsets.is_empty() {
            return self.fallback;
        }
        self.offsets[i.min(self.offsets.len() - 1)]
    }

    /// File range of the decoded range `r`.
    pub fn map_range(&self, r: std::ops::Range<usize>) -> std::ops::Range<usize> {
        let start = self.map(r.start);
        let end = if r.end > r.start {
            self.map(r.end - 1) + 1
        } else {
            start
        };
        start..end.max(start)
    }
}

/// Decode a TOML string token, returning the text and, for each byte of it
/// (plus one past the end), its offset in `raw`.
fn decode_with_offsets(raw: &str) -> Option<(String, Vec<usize>)> {
    let mut text = String::new();
    let mut offs = Vec::new();
    let push = |text: &mut String, offs: &mut Vec<usize>, c: char, at: usize| {
        for _ in 0..c.len_utf8() {
            offs.push(at);
        }
        text.push(c);
    };
    let (quote, multi) = if raw.starts_with("'''") {
        ('\'', true)
    } else if raw.starts_with("\"\"\"") {
        ('"', true)
    } else if raw.starts_with('\'') {
        ('\'', false)
    } else if raw.starts_with('"') {
        ('"', false)
    } else {
        return None;
    };
    let q = if multi { 3 } else { 1 };
    if raw.len() < 2 * q {
        return None;
    }
    let body_start = q;
    let body = &raw[q..raw.len() - q];
    let mut chars = body.char_indices().peekable();
    // A newline right after the opening delimiter of a multi-line string is trimmed.
    if multi {
        if body.starts_with("\r\n") {
            chars.next();
            chars.next();
        } else if body.starts_with('\n') {
            chars.next();
        }
    }
    while let Some((i, c)) = chars.next() {
        let at = body_start + i;
        if quote == '\'' || c != '\\' {
            push(&mut text, &mut offs, c, at);
            continue;
        }
        let (_, e) = chars.next()?;
        let decoded = match e {
            'b' => '\u{8}',
            't' => '\t',
            'n' => '\n',
            'f' => '\u{c}',
            'r' => '\r',
            'e' => '\u{1b}',
            '"' => '"',
            '\\' => '\\',
            'u' | 'U' | 'x' => {
                let n = match e {
                    'u' => 4,
                    'U' => 8,
                    _ => 2,
                };
                let mut hex = String::new();
                for _ in 0..n {
                    hex.push(chars.next()?.1);
                }
                char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?
            }
            w if multi && (w == ' ' || w == '\t' || w == '\n' || w == '\r') => {
                // Line-ending backslash: skip all whitespace and newlines.
                while let Some((_, c)) = chars.peek() {
                    if c.is_whitespace() {
                        chars.next();
                    } else {
                        break;
                    }
                }
                continue;
            }
            _ => return None,
        };
        push(&mut text, &mut offs, decoded, at);
    }
    offs.push(raw.len() - q);
    Some((text, offs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &str, decoded: &str, i: usize, expect_raw_offset: usize) {
        let m = OffsetMap::new(raw, 100, decoded);
        assert_eq!(m.map(i), 100 + expect_raw_offset, "{raw:?} byte {i}");
    }

    #[test]
    fn literal_strings_map_one_to_one() {
        check("'abc'", "abc", 1, 2);
        check("'''\nab\ncd'''", "ab\ncd", 3, 4 + 3);
    }

    #[test]
    fn basic_strings_skip_escapes() {
        // "a\"b": decoded byte 2 (b) is raw byte 4.
        check(r#""a\"b""#, "a\"b", 2, 4);
        check(r#""\u0041x""#, "Ax", 1, 7);
        check("\"\"\"\nab \\\n   cd\"\"\"", "ab cd", 3, 12);
    }

    #[test]
    fn disagreement_falls_back_to_value_start() {
        let m = OffsetMap::new("'abc'", 7, "zzz");
        assert_eq!(m.map(2), 7);
    }
}
