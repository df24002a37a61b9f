//! jq regexes on Rust's `regex` crate (RE2 syntax, as gojq, the dialect of
//! cloudtrail-tattletail). One place builds them, for literal patterns at
//! load time and for patterns computed at run time.
//!
//! Flags, as jq and gojq spell them: `g` all matches, `i` case
//! insensitive, `x` extended (whitespace and `#` comments ignored), `n`
//! ignore empty matches, `m` (gojq) and `p` (jq): `.` matches newlines,
//! `s` (jq's single-line mode, `$` only at the end) is what RE2 does
//! anyway, `l` (longest match) is accepted and has no effect. Anything
//! else is an error, as in jq.

use crate::ir::RegexLit;

/// Compiled-size limit for a literal regex in a rule (the `regex` crate's
/// default).
pub const LITERAL_SIZE_LIMIT: usize = 10 * (1 << 20);

/// Compiled-size limit for a regex computed from record data at run time:
/// smaller, so a crafted pattern cannot cost much to build.
pub const COMPUTED_SIZE_LIMIT: usize = 1 << 20;

/// Why a regex cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegexError {
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
}

/// Compile `pattern` with jq `flags` (`""` for none).
pub fn compile(pattern: &str, flags: &str, size_limit: usize) -> Result<RegexLit, RegexError> {
    let mut global = false;
    let mut ignore_empty = false;
    let mut b = regex::RegexBuilder::new(pattern);
    b.size_limit(size_limit).dfa_size_limit(size_limit);
    for c in flags.chars() {
        match c {
            'g' => global = true,
            'n' => ignore_empty = true,
            'i' => {
                b.case_insensitive(true);
            }
            'x' => {
                b.ignore_whitespace(true);
            }
            'm' | 'p' => {
                b.dot_matches_new_line(true);
            }
            's' | 'l' => {}
            _ => {
                return Err(RegexError {
                    message: format!("{flags:?} is not a valid regex modifier string"),
                    help: Some("regex flags are g, i, x, n, m, s, p and l".into()),
                })
            }
        }
    }
    let regex = b.build().map_err(|e| explain(pattern, e))?;
    Ok(RegexLit {
        pattern: pattern.to_string(),
        flags: flags.to_string(),
        global,
        ignore_empty,
        regex,
    })
}

fn explain(pattern: &str, e: regex::Error) -> RegexError {
    let lookaround = ["(?=", "(?!", "(?<=", "(?<!"]
        .iter()
        .any(|p| pattern.contains(p));
    let backref = pattern
        .as_bytes()
        .windows(2)
        .any(|w| w[0] == b'\\' && w[1].is_ascii_digit() && w[1] != b'0');
    let help = if lookaround {
        Some("look-around (`(?=`, `(?!`, `(?<=`, `(?<!`) is not supported (RE2 syntax, as in gojq); match the text itself, or test a second condition with `and`".into())
    } else if backref {
        Some("backreferences (`\\1`) are not supported (RE2 syntax, as in gojq)".into())
    } else {
        match &e {
            regex::Error::CompiledTooBig(_) => {
                Some("the pattern compiles to too large a program; simplify it".into())
            }
            _ => Some("tattletail uses RE2 syntax, as gojq does".into()),
        }
    };
    let detail = match e {
        regex::Error::Syntax(s) => s
            .lines()
            .rev()
            .find(|l| l.starts_with("error:"))
            .map(|l| l.trim_start_matches("error:").trim().to_string())
            .unwrap_or(s),
        regex::Error::CompiledTooBig(n) => format!("it compiles to more than {n} bytes"),
        other => other.to_string(),
    };
    RegexError {
        message: format!("invalid regex {pattern:?}: {detail}"),
        help,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_errors() {
        assert!(compile("a.b", "m", LITERAL_SIZE_LIMIT)
            .unwrap()
            .regex
            .is_match("a\nb"));
        assert!(!compile("a.b", "", LITERAL_SIZE_LIMIT)
            .unwrap()
            .regex
            .is_match("a\nb"));
        assert!(compile("A", "gi", LITERAL_SIZE_LIMIT).unwrap().global);
        assert!(compile("a", "q", LITERAL_SIZE_LIMIT)
            .unwrap_err()
            .message
            .contains("modifier"));
        let e = compile("(?=x)", "", LITERAL_SIZE_LIMIT).unwrap_err();
        assert!(e.help.unwrap().contains("look-around"), "{}", e.message);
        let e = compile("(", "", LITERAL_SIZE_LIMIT).unwrap_err();
        assert!(
            e.message.starts_with("invalid regex \"(\""),
            "{}",
            e.message
        );
        assert!(compile("(?<name>a)", "", LITERAL_SIZE_LIMIT).is_ok());
        let e = compile("a{1000}{1000}", "", COMPUTED_SIZE_LIMIT).unwrap_err();
        assert!(e.message.contains("compiles to more than"), "{}", e.message);
    }
}
