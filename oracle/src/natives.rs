//! Native jq filters that replace or extend jaq-std's.
//!
//! * Regular expressions (`test`, `match`, `capture`, `scan`, `split`,
//!   `sub`, `gsub`, … all go through `matches`, `split_matches` and
//!   `split_`): jaq-std compiles the regex on every call, which dominates
//!   the cost of a `test` rule. Ours keep a per-thread cache keyed by
//!   pattern and flags, and use the `regex` crate (RE2 syntax, as gojq,
//!   the dialect of cloudtrail-tattletail). Unlike jaq, a capture group
//!   that did not take part in the match is reported as jq does
//!   (`offset: -1`, `string: null`) instead of being dropped.
//! * `env` is `{}` (see the prelude) and jaq-std's native `env`, which
//!   returns the process environment, is removed.
//! * Helpers for prelude definitions (`_tt_*`).

use std::cell::RefCell;
use std::collections::HashMap;

use jaq_core::box_iter::box_once;
use jaq_core::native::{bome, v, Fun};
use jaq_core::{Bind, Error, Native, ValR};
use jaq_json::Val;
use regex::bytes::{Regex, RegexBuilder};

use super::Data;

/// Natives that are removed from jaq-std's set (replaced or unsafe).
pub const REMOVED: &[&str] = &["env", "matches", "split_matches", "split_"];

/// jaq natives that are kept under another name for prelude wrappers.
pub const RENAMED: &[(&str, &str)] = &[("ltrimstr", "_tt_ltrimstr"), ("rtrimstr", "_tt_rtrimstr")];

/// Our natives.
pub fn funs() -> Vec<Fun<Data>> {
    let vv = || -> Box<[Bind]> { [Bind::Var(()), Bind::Var(())].into() };
    vec![
        (
            "matches",
            vv(),
            Native::new(|cv| bome(regex_run(cv, false, true))),
        ),
        (
            "split_matches",
            vv(),
            Native::new(|cv| bome(regex_run(cv, true, true))),
        ),
        (
            "split_",
            vv(),
            Native::new(|cv| bome(regex_run(cv, true, false))),
        ),
        (
            "_tt_decode_base32",
            v(0),
            Native::new(|cv| box_once(decode_base32(&cv.1).map_err(Into::into))),
        ),
        (
            "_tt_encode_base32",
            v(0),
            Native::new(|cv| {
                box_once(
                    str_bytes(&cv.1)
                        .map(|b| Val::from(base32::encode(ALPHABET, b)))
                        .map_err(Into::into),
                )
            }),
        ),
    ]
}

const ALPHABET: base32::Alphabet = base32::Alphabet::Rfc4648 { padding: true };

fn str_bytes(v: &Val) -> Result<&[u8], Error<Val>> {
    match v {
        Val::TStr(b) | Val::BStr(b) => Ok(b),
        other => Err(Error::typ(other.clone(), "string")),
    }
}

fn decode_base32(v: &Val) -> ValR<Val> {
    let s = std::str::from_utf8(str_bytes(v)?).map_err(Error::str)?;
    // jq accepts missing padding; so do we.
    let trimmed = s.trim_end_matches('=');
    let bytes = base32::decode(base32::Alphabet::Rfc4648 { padding: false }, trimmed)
        .ok_or_else(|| Error::str(format!("{s:?} is not valid base32 data")))?;
    Ok(Val::from(String::from_utf8_lossy(&bytes).into_owned()))
}

/// Regex flags of jq (`g n i x s l m p`), as jaq-std reads them.
#[derive(Clone, Copy, Default)]
struct Flags {
    global: bool,
    ignore_empty: bool,
    case_insensitive: bool,
    extended: bool,
    dot_all: bool,
    lazy: bool,
    multi_line: bool,
}

impl Flags {
    fn parse(s: &str) -> Result<Self, char> {
        let mut f = Flags::default();
        for c in s.chars() {
            match c {
                'g' => f.global = true,
                'n' => f.ignore_empty = true,
                'i' => f.case_insensitive = true,
                'x' => f.extended = true,
                's' => f.dot_all = true,
                'l' => f.lazy = true,
                'm' => f.multi_line = true,
                'p' => {
                    f.multi_line = true;
                    f.dot_all = true;
                }
                c => return Err(c),
            }
        }
        Ok(f)
    }
}

/// Most distinct (pattern, flags) pairs kept per thread; past it the cache
/// is cleared (rules with computed patterns cannot grow memory without bound).
const CACHE_LIMIT: usize = 4096;

thread_local! {
    static CACHE: RefCell<HashMap<(String, String), Result<Regex, String>>> = RefCell::new(HashMap::new());
}

/// Build a regex for `test`/`match` with jq flags, as the natives do.
pub fn build_regex(re: &str, flags: &str) -> Result<Regex, String> {
    let parsed =
        Flags::parse(flags).map_err(|c| format!("{flags} is not a valid modifier string ({c})"))?;
    builder(re, parsed)
        .build()
        .map_err(|e| format!("invalid regex {re:?}: {e}"))
}

fn builder(re: &str, flags: Flags) -> RegexBuilder {
    let mut b = RegexBuilder::new(re);
    b.case_insensitive(flags.case_insensitive)
        .multi_line(flags.multi_line)
        .dot_matches_new_line(flags.dot_all)
        .swap_greed(flags.lazy)
        .ignore_whitespace(flags.extended);
    b
}

fn cached_regex(re: &str, flags_str: &str, flags: Flags) -> Result<Regex, String> {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if let Some(r) = c.get(&(re.to_string(), flags_str.to_string())) {
            return r.clone();
        }
        if c.len() >= CACHE_LIMIT {
            c.clear();
        }
        let built = builder(re, flags)
            .build()
            .map_err(|e| format!("invalid regex {re:?}: {e}"));
        c.insert((re.to_string(), flags_str.to_string()), built.clone());
        built
    })
}

fn as_str(v: &Val, what: &str) -> Result<String, Error<Val>> {
    match v {
        Val::TStr(b) | Val::BStr(b) => Ok(String::from_utf8_lossy(b).into_owned()),
        Val::Null if what == "flags" => Ok(String::new()),
        other => Err(Error::str(format!(
            "{} cannot be matched, as it is not a string",
            other_desc(other, what)
        ))),
    }
}

fn other_desc(v: &Val, what: &str) -> String {
    format!("{what} {v}")
}

/// `matches(re; flags)` (`s = false, m = true`): an array per match, each an
/// array of capture objects, the whole match first. `split_matches`
/// (`true, true`) interleaves the strings between matches; `split_`
/// (`true, false`) gives only those strings.
fn regex_run(mut cv: jaq_core::Cv<'_, Data>, s: bool, m: bool) -> ValR<Val> {
    let flags_v = cv.0.pop_var();
    let re_v = cv.0.pop_var();
    let flags_str = as_str(&flags_v, "flags")?;
    let flags = Flags::parse(&flags_str)
        .map_err(|c| Error::str(format!("{flags_str} is not a valid modifier string ({c})")))?;
    let re = as_str(&re_v, "regex")?;
    let regex = cached_regex(&re, &flags_str, flags).map_err(Error::str)?;
    let input = match &cv.1 {
        Val::TStr(b) | Val::BStr(b) => b.clone(),
        other => {
            return Err(Error::str(format!(
                "{other} cannot be matched, as it is not a string"
            )))
        }
    };
    let hay: &[u8] = &input;
    let mut out = Vec::new();
    let mut last = 0;
    let mut chars = CharIndex::new(hay);
    for caps in regex.captures_iter(hay) {
        let whole = caps.get(0).expect("group 0 always participates");
        if flags.ignore_empty && whole.is_empty() {
            continue;
        }
        if s {
            out.push(Val::from(
                String::from_utf8_lossy(&hay[last..whole.start()]).into_owned(),
            ));
            last = whole.end();
        }
        if m {
            let mut groups = Vec::new();
            for (i, name) in regex.capture_names().enumerate() {
                let mut obj = jaq_json::Map::default();
                match caps.get(i) {
                    Some(g) => {
                        let offset = chars.char_of(g.start());
                        let text = String::from_utf8_lossy(g.as_bytes()).into_owned();
                        obj.insert(Val::from("offset".to_string()), Val::from(offset as isize));
                        obj.insert(
                            Val::from("length".to_string()),
                            Val::from(text.chars().count() as isize),
                        );
                        obj.insert(Val::from("string".to_string()), Val::from(text));
                    }
                    None => {
                        obj.insert(Val::from("offset".to_string()), Val::from(-1isize));
                        obj.insert(Val::from("length".to_string()), Val::from(0isize));
                        obj.insert(Val::from("string".to_string()), Val::Null);
                    }
                }
                if i > 0 || name.is_some() {
                    let n = name.map_or(Val::Null, |n| Val::from(n.to_string()));
                    obj.insert(Val::from("name".to_string()), n);
                }
                groups.push(Val::obj(obj));
            }
            out.push(groups.into_iter().collect());
        }
        if !flags.global {
            break;
        }
    }
    if s {
        out.push(Val::from(
            String::from_utf8_lossy(&hay[last..]).into_owned(),
        ));
    }
    Ok(out.into_iter().collect())
}

/// Byte offset to character offset, for increasing offsets.
struct CharIndex<'a> {
    s: &'a [u8],
    byte: usize,
    chars: usize,
}

impl<'a> CharIndex<'a> {
    fn new(s: &'a [u8]) -> Self {
        CharIndex {
            s,
            byte: 0,
            chars: 0,
        }
    }

    fn char_of(&mut self, byte: usize) -> usize {
        if byte < self.byte {
            self.byte = 0;
            self.chars = 0;
        }
        let seg = &self.s[self.byte..byte];
        self.chars += String::from_utf8_lossy(seg).chars().count();
        self.byte = byte;
        self.chars
    }
}
