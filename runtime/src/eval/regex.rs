//! `test`, `match`, `split/2` and `sub` (and, through the prelude,
//! `capture`, `scan`, `splits`, `gsub`). Literal patterns were compiled
//! at load time; computed ones are compiled here, with a smaller size
//! limit, and kept in a per-thread cache of bounded size.
//!
//! Offsets and lengths in match objects count code points, as in jq.
//! `split/2` splits as gojq does (Go's `Regexp.Split`): an empty match at
//! the start yields no empty first piece.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use tattletail_compiler::ir::{Builtin, Id, RegexLit};

use super::interp::{describe, err, Interp, Res, Stop, K};
use super::value::{Key, Map, Value};

/// Most computed regexes kept per thread.
const CACHE_SIZE: usize = 256;

/// Compiled regexes (or why they do not compile) by pattern and flags.
type Cache = HashMap<(String, String), Result<Rc<RegexLit>, String>>;

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(HashMap::new());
}

fn compiled<'t>(
    ev: &mut Interp<'_, 't>,
    re: &Value<'t>,
    flags: &Value<'t>,
) -> Result<Rc<RegexLit>, Stop<'t>> {
    let Some(pattern) = re.as_str() else {
        return Err(err(format!(
            "{} cannot be matched, as it is not a string",
            describe(re)
        )));
    };
    let flags = match flags {
        Value::Null => "",
        other => other
            .as_str()
            .ok_or_else(|| err(format!("{} is not a string", describe(other))))?,
    };
    ev.charge(16 + pattern.len() as u64)?;
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let key = (pattern.to_string(), flags.to_string());
        if let Some(r) = c.get(&key) {
            return r.clone().map_err(err);
        }
        if c.len() >= CACHE_SIZE {
            c.clear();
        }
        let r = tattletail_compiler::regex::compile(
            pattern,
            flags,
            tattletail_compiler::regex::COMPUTED_SIZE_LIMIT,
        )
        .map(Rc::new)
        .map_err(|e| e.message);
        c.insert(key, r.clone());
        r.map_err(err)
    })
}

fn input_str<'a, 't>(v: &'a Value<'t>) -> Result<&'a str, Stop<'t>> {
    v.as_str().ok_or_else(|| {
        err(format!(
            "{} cannot be matched, as it is not a string",
            describe(v)
        ))
    })
}

/// A literal-regex builtin with at most one output.
pub fn literal_one<'p, 't>(
    ev: &mut Interp<'p, 't>,
    b: Builtin,
    idx: u32,
    args: &'p [Id],
    input: Value<'t>,
) -> Result<Option<Value<'t>>, Stop<'t>> {
    let mut out = None;
    literal_many(ev, b, idx, args, input, &mut |_, v| {
        out = Some(v);
        Ok(())
    })?;
    Ok(out)
}

/// A literal-regex builtin.
pub fn literal_many<'p, 't>(
    ev: &mut Interp<'p, 't>,
    b: Builtin,
    idx: u32,
    args: &'p [Id],
    input: Value<'t>,
    k: K<'_, 'p, 't>,
) -> Res<'t> {
    let re: &'p RegexLit = &ev.prep.regexes[idx as usize];
    run(ev, b, re, args.first().copied(), input, k)
}

/// A regex builtin whose pattern and flags were computed: `vals` are
/// `[pattern, flags]`.
pub fn computed<'p, 't>(
    ev: &mut Interp<'p, 't>,
    b: Builtin,
    vals: &[Value<'t>],
    repl: Option<Id>,
    input: Value<'t>,
    k: K<'_, 'p, 't>,
) -> Res<'t> {
    let re = compiled(ev, &vals[0], vals.get(1).unwrap_or(&Value::Null))?;
    run(ev, b, &re, repl, input, k)
}

fn run<'p, 't>(
    ev: &mut Interp<'p, 't>,
    b: Builtin,
    re: &RegexLit,
    repl: Option<Id>,
    input: Value<'t>,
    k: K<'_, 'p, 't>,
) -> Res<'t> {
    match b {
        Builtin::Test => {
            let s = input_str(&input)?;
            ev.charge(1 + s.len() as u64 / 64)?;
            k(ev, Value::Bool(re.regex.is_match(s)))
        }
        Builtin::Split2 => {
            let v = split(ev, re, &input)?;
            k(ev, v)
        }
        Builtin::Match => {
            let s = input_str(&input)?.to_string();
            for m in matches(ev, re, &s, re.global)? {
                let v = match_object(ev, re, &m)?;
                k(ev, v)?;
            }
            Ok(())
        }
        Builtin::Sub => {
            let s = input_str(&input)?.to_string();
            let ms = matches(ev, re, &s, re.global)?;
            if ms.is_empty() {
                return k(ev, input);
            }
            let repl = repl.expect("sub has a replacement");
            if ev.single(repl) {
                return sub_one(ev, re, repl, &s, &ms, k);
            }
            let tail = s[ms[ms.len() - 1].end..].to_string();
            sub(ev, re, repl, &s, &ms, ms.len() - 1, tail, k)
        }
        _ => unreachable!("{} is not a regex builtin", b.name()),
    }
}

/// `sub` with a replacement that has at most one output (nearly every
/// rule's): one pass, linear in the string. The replacements are
/// evaluated from the last match to the first, as the general case does,
/// so that the same error wins.
fn sub_one<'p, 't>(
    ev: &mut Interp<'p, 't>,
    re: &RegexLit,
    repl: Id,
    s: &str,
    ms: &[Found],
    k: K<'_, 'p, 't>,
) -> Res<'t> {
    let mut pieces = Vec::with_capacity(ms.len());
    let mut len = s.len();
    for m in ms.iter().rev() {
        let captures = capture_object(ev, re, m)?;
        let Some(r) = ev.one(repl, captures)? else {
            return Ok(());
        };
        if r.as_str().is_none() {
            return Err(err(format!("{} cannot be added to a string", describe(&r))));
        }
        len += r.as_str().map_or(0, str::len);
        if len > ev.limits.string {
            return Err(Stop::Budget(super::budget::Exceeded::String));
        }
        pieces.push(r);
    }
    let mut out = String::with_capacity(len);
    let mut at = 0;
    for (m, r) in ms.iter().zip(pieces.iter().rev()) {
        out.push_str(&s[at..m.start]);
        out.push_str(r.as_str().unwrap_or_default());
        at = m.end;
    }
    out.push_str(&s[at..]);
    let v = ev.new_str(out)?;
    k(ev, v)
}

/// `sub` with a replacement that has several outputs: every combination,
/// built from the last match backwards. Each level charges the work of
/// copying the suffix and runs on a guarded stack.
#[allow(clippy::too_many_arguments)]
fn sub<'p, 't>(
    ev: &mut Interp<'p, 't>,
    re: &RegexLit,
    repl: Id,
    s: &str,
    ms: &[Found],
    j: usize,
    suffix: String,
    k: K<'_, 'p, 't>,
) -> Res<'t> {
    let m = &ms[j];
    let gap_start = if j == 0 { 0 } else { ms[j - 1].end };
    let gap = &s[gap_start..m.start];
    let captures = capture_object(ev, re, m)?;
    ev.run(repl, captures, &mut |ev, r| {
        let Some(r) = r.as_str() else {
            return Err(err(format!("{} cannot be added to a string", describe(&r))));
        };
        let mut piece = String::with_capacity(gap.len() + r.len() + suffix.len());
        piece.push_str(gap);
        piece.push_str(r);
        piece.push_str(&suffix);
        if piece.len() > ev.limits.string {
            return Err(Stop::Budget(super::budget::Exceeded::String));
        }
        ev.charge(1 + piece.len() as u64 / 64)?;
        if j == 0 {
            let v = ev.new_str(piece)?;
            k(ev, v)
        } else {
            tattletail_compiler::stack::guard(|| sub(ev, re, repl, s, ms, j - 1, piece, k))
        }
    })
}

/// One match: byte offsets, code point offsets and its groups.
struct Found {
    start: usize,
    end: usize,
    cp_start: usize,
    text: String,
    groups: Vec<Option<(usize, String)>>,
}

fn matches<'t>(
    ev: &mut Interp<'_, 't>,
    re: &RegexLit,
    s: &str,
    global: bool,
) -> Result<Vec<Found>, Stop<'t>> {
    ev.charge(1 + s.len() as u64 / 32)?;
    let mut out = Vec::new();
    let mut cp = CodePoints::new(s);
    for caps in re.regex.captures_iter(s) {
        let whole = caps.get(0).expect("group 0 takes part in every match");
        if re.ignore_empty && whole.is_empty() {
            continue;
        }
        ev.charge(1)?;
        let groups = (1..caps.len())
            .map(|i| {
                caps.get(i)
                    .map(|g| (cp.at(g.start()), g.as_str().to_string()))
            })
            .collect();
        out.push(Found {
            start: whole.start(),
            end: whole.end(),
            cp_start: cp.at(whole.start()),
            text: whole.as_str().to_string(),
            groups,
        });
        if out.len() > ev.limits.items {
            return Err(Stop::Budget(super::budget::Exceeded::Items));
        }
        if !global {
            break;
        }
    }
    Ok(out)
}

fn match_object<'t>(
    ev: &mut Interp<'_, 't>,
    re: &RegexLit,
    m: &Found,
) -> Result<Value<'t>, Stop<'t>> {
    let names: Vec<Option<&str>> = re.regex.capture_names().skip(1).collect();
    let mut caps = Vec::with_capacity(m.groups.len());
    for (g, name) in m.groups.iter().zip(&names) {
        let mut o = Map::with_capacity_and_hasher(4, Default::default());
        match g {
            Some((off, text)) => {
                o.insert(key("offset"), Value::Int(*off as i64));
                o.insert(key("length"), Value::Int(text.chars().count() as i64));
                o.insert(key("string"), Value::string(text.as_str()));
            }
            None => {
                o.insert(key("offset"), Value::Int(-1));
                o.insert(key("length"), Value::Int(0));
                o.insert(key("string"), Value::Null);
            }
        }
        o.insert(key("name"), name.map_or(Value::Null, Value::string));
        caps.push(ev.new_object(o)?);
    }
    let mut o = Map::with_capacity_and_hasher(4, Default::default());
    o.insert(key("offset"), Value::Int(m.cp_start as i64));
    o.insert(key("length"), Value::Int(m.text.chars().count() as i64));
    o.insert(key("string"), Value::string(m.text.as_str()));
    o.insert(key("captures"), ev.new_array(caps)?);
    ev.new_object(o)
}

/// `{name: string}` of a match's named groups (`sub`'s replacement input).
fn capture_object<'t>(
    ev: &mut Interp<'_, 't>,
    re: &RegexLit,
    m: &Found,
) -> Result<Value<'t>, Stop<'t>> {
    let mut o = Map::default();
    for (g, name) in m.groups.iter().zip(re.regex.capture_names().skip(1)) {
        if let Some(name) = name {
            let v = g
                .as_ref()
                .map_or(Value::Null, |(_, t)| Value::string(t.as_str()));
            o.insert(key(name), v);
        }
    }
    ev.new_object(o)
}

fn key<'t>(s: &str) -> Key<'t> {
    Key::R(Rc::from(s))
}

/// `split(re; flags)`: Go's `Regexp.Split(s, -1)`, as gojq.
fn split<'t>(
    ev: &mut Interp<'_, 't>,
    re: &RegexLit,
    input: &Value<'t>,
) -> Result<Value<'t>, Stop<'t>> {
    let s = input_str(input)?.to_string();
    let ms = matches(ev, re, &s, true)?;
    let mut parts = Vec::new();
    let (mut beg, mut end) = (0, 0);
    for m in &ms {
        end = m.start;
        if m.end != 0 {
            parts.push(Value::string(&s[beg..end]));
        }
        beg = m.end;
    }
    if end != s.len() || ms.is_empty() {
        parts.push(Value::string(&s[beg..]));
    }
    ev.new_array(parts)
}

/// Byte offset → code point offset, for increasing offsets.
struct CodePoints<'a> {
    s: &'a str,
    byte: usize,
    count: usize,
}

impl<'a> CodePoints<'a> {
    fn new(s: &'a str) -> Self {
        CodePoints {
            s,
            byte: 0,
            count: 0,
        }
    }

    fn at(&mut self, byte: usize) -> usize {
        if byte < self.byte {
            self.byte = 0;
            self.count = 0;
        }
        self.count += self.s[self.byte..byte].chars().count();
        self.byte = byte;
        self.count
    }
}
