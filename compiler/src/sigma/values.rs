//! Sigma value transformations done at load time: the `base64` and
//! `base64offset` encodings, `windash` variants, wildcard patterns to
//! regexes, and IPv4 networks (`cidr`) to regexes over the dotted form.

/// Standard base64 (with padding) of `bytes`.
pub fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The three base64 forms of `value` at each offset inside a longer
/// encoded text (pySigma's `base64offset`).
pub fn base64_offsets(value: &str) -> Vec<String> {
    let v = value.as_bytes();
    let start = [0usize, 2, 3];
    let end_cut = [0usize, 3, 2]; // chars dropped at the end, by (len + i) % 3
    (0..3)
        .map(|i| {
            let mut padded = vec![b' '; i];
            padded.extend_from_slice(v);
            let enc = base64(&padded);
            let cut = end_cut[(v.len() + i) % 3];
            let end = enc.len().saturating_sub(cut);
            enc.get(start[i]..end.max(start[i]))
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

/// `windash`: every `-` or `/` that starts a word (after the start or a
/// space) in each of the dash forms Windows accepts.
pub fn windash(value: &str) -> Vec<String> {
    const DASHES: [&str; 5] = ["-", "/", "\u{2013}", "\u{2014}", "\u{2015}"];
    let mut out = vec![String::new()];
    let mut prev_space = true;
    for c in value.chars() {
        if prev_space && (c == '-' || c == '/') && out.len() < 625 {
            out = out
                .iter()
                .flat_map(|s| DASHES.iter().map(move |d| format!("{s}{d}")))
                .collect();
        } else {
            out.iter_mut().for_each(|s| s.push(c));
        }
        prev_space = c == ' ';
    }
    out
}

/// A piece of a Sigma wildcard pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// Literal text.
    Lit(String),
    /// `*`
    Star,
    /// `?`
    One,
}

/// Split a Sigma string into literal text and wildcards. `\*`, `\?` and
/// `\\` are escapes; any other backslash is itself.
pub fn pieces(value: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&n @ ('*' | '?' | '\\')) => {
                    chars.next();
                    lit.push(n);
                }
                _ => lit.push('\\'),
            },
            '*' | '?' => {
                if !lit.is_empty() {
                    out.push(Piece::Lit(std::mem::take(&mut lit)));
                }
                out.push(if c == '*' { Piece::Star } else { Piece::One });
            }
            c => lit.push(c),
        }
    }
    if !lit.is_empty() {
        out.push(Piece::Lit(lit));
    }
    out
}

/// The text of a pattern without wildcards, if it has none.
pub fn plain(pieces: &[Piece]) -> Option<String> {
    match pieces {
        [] => Some(String::new()),
        [Piece::Lit(s)] => Some(s.clone()),
        _ => None,
    }
}

/// A regex (no anchors) for pieces; `*` and `?` match any character,
/// newlines included (deliberately: rsigma-eval's do not, which lets a
/// newline in a user-controlled field such as `userAgent` evade a rule).
pub fn regex_of(pieces: &[Piece]) -> String {
    let mut re = String::new();
    for p in pieces {
        match p {
            Piece::Lit(s) => re.push_str(&regex_syntax::escape(s)),
            Piece::Star => re.push_str("(?s:.*)"),
            Piece::One => re.push_str("(?s:.)"),
        }
    }
    re
}

/// A regex matching exactly the dotted-decimal IPv4 addresses in
/// `a.b.c.d/len`, or `None` if it is not an IPv4 network.
pub fn ipv4_cidr_regex(cidr: &str) -> Option<String> {
    let (addr, len) = cidr.split_once('/').unwrap_or((cidr, "32"));
    let len: u32 = len.parse().ok().filter(|l| *l <= 32)?;
    let octets: Vec<u8> = addr
        .split('.')
        .map(|o| o.parse().ok())
        .collect::<Option<_>>()?;
    if octets.len() != 4 {
        return None;
    }
    let ip = u32::from_be_bytes([octets[0], octets[1], octets[2], octets[3]]);
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    let (lo, hi) = (ip & mask, (ip & mask) | !mask);
    let (lo, hi) = (lo.to_be_bytes(), hi.to_be_bytes());
    let parts: Vec<String> = (0..4).map(|i| octet_range(lo[i], hi[i])).collect();
    Some(format!("^{}$", parts.join("\\.")))
}

/// A regex for the decimal numbers lo..=hi (no leading zeros).
fn octet_range(lo: u8, hi: u8) -> String {
    if lo == 0 && hi == 255 {
        return "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])".into();
    }
    if lo == hi {
        return lo.to_string();
    }
    let all: Vec<String> = (lo..=hi).map(|n| n.to_string()).collect();
    format!("(?:{})", all.join("|"))
}

/// Is `text` an IPv6 network (which we do not support)?
pub fn is_ipv6(text: &str) -> bool {
    text.split('/').next().is_some_and(|a| a.contains(':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_forms() {
        assert_eq!(base64(b"hello"), "aGVsbG8=");
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"ab"), "YWI=");
        // pySigma's documented example: `/bin/bash`.
        assert_eq!(
            base64_offsets("/bin/bash"),
            ["L2Jpbi9iYXNo", "9iaW4vYmFza", "vYmluL2Jhc2"]
        );
    }

    #[test]
    fn wildcards_and_escapes() {
        assert_eq!(
            pieces("a*b?c"),
            [
                Piece::Lit("a".into()),
                Piece::Star,
                Piece::Lit("b".into()),
                Piece::One,
                Piece::Lit("c".into())
            ]
        );
        assert_eq!(pieces(r"a\*b\\c\d"), [Piece::Lit(r"a*b\c\d".into())]);
        assert_eq!(plain(&pieces("x")), Some("x".into()));
        assert_eq!(regex_of(&pieces("a.*")), r"a\.(?s:.*)");
    }

    #[test]
    fn cidr_regexes() {
        let re = regex::Regex::new(&ipv4_cidr_regex("10.0.0.0/8").unwrap()).unwrap();
        assert!(re.is_match("10.1.2.3"));
        assert!(!re.is_match("11.1.2.3"));
        let re = regex::Regex::new(&ipv4_cidr_regex("192.168.16.0/20").unwrap()).unwrap();
        assert!(re.is_match("192.168.31.255"));
        assert!(!re.is_match("192.168.32.0"));
        assert!(!re.is_match("192.168.15.1"));
        assert!(ipv4_cidr_regex("1.2.3/8").is_none());
        assert!(is_ipv6("2001:db8::/32"));
    }

    #[test]
    fn windash_variants() {
        let v = windash("cmd -x");
        assert_eq!(v.len(), 5);
        assert!(v.contains(&"cmd /x".to_string()));
    }
}
