//! Required literals: strings at least one of which must occur in a
//! record's raw JSON bytes for a rule to fire. The runtime checks them with
//! a substring search before evaluating the rule, which is what makes
//! rules without an `eventName`/`eventSource` condition cheap
//! (`.errorCode == "AccessDenied"`, `[.. | strings] | any(test("AKIA"))`).
//!
//! **Contract.** If [`required`] gives literals `L` for a rule and the rule
//! fires on a record whose raw bytes contain no backslash (and, for
//! members marked `ascii_only`, are all ASCII), then the raw bytes contain
//! some member of `L` (ASCII-case-insensitively for members marked so).
//! Records with a backslash may spell a string with escapes; the runtime
//! never skips those.
//!
//! The walk tracks where a node's input comes from ([`Src`]): a part of the
//! record (every string in it occurs in the record verbatim), possibly or
//! one of some constants (`.errorCode // ""`); its JSON text (`tostring`);
//! the lowercase of a part (`ascii_downcase`); or anything else. A test of
//! a part against a literal needs the literal, unless the test holds on
//! one of the constants; `and`, `select` and pipes need any one of their
//! parts' needs; `or`, `,` and `//` need one from each side.

use std::collections::HashMap;

use regex_syntax::hir::literal::{ExtractKind, Extractor};
use regex_syntax::hir::{Hir, HirKind};

use crate::ir::{Builtin, Const, Id, Node, Pattern, Program, RegexLit, Step};
use crate::syntax::ast::BinOp;

/// One literal to look for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Literal {
    /// The bytes (lowercase ASCII when `ascii_ci`).
    pub bytes: Vec<u8>,
    /// Match ASCII letters case-insensitively.
    pub ascii_ci: bool,
    /// Only check records that are all ASCII (a case-insensitive regex
    /// also matches `ſ` for `s` and the Kelvin sign for `k`).
    pub ascii_only: bool,
}

impl Literal {
    /// As text, for `--explain`.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// Where a value comes from, for what its strings can contain.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Src {
    /// The record or values taken from it unchanged (arrays of them too),
    /// or one of these constant strings.
    Part(Vec<String>),
    /// One of these constant strings of the rule (nothing from the record).
    Const(Vec<String>),
    /// An array of such constants (`["a", "b"] as $list`).
    ConstArray(Vec<String>),
    /// The JSON text of a part (`tostring`, `tojson`), or a part.
    Json,
    /// The ASCII lowercase of such a text.
    LowerJson,
    /// The ASCII lowercase of a part, or one of these (lowercased)
    /// constants.
    Lower(Vec<String>),
    /// Anything else.
    Other,
}

fn merged(mut a: Vec<String>, b: Vec<String>) -> Vec<String> {
    a.extend(b);
    a.sort();
    a.dedup();
    a
}

impl Src {
    fn part() -> Src {
        Src::Part(Vec::new())
    }

    /// The source of either of two values.
    fn union(self, other: Src) -> Src {
        match (self, other) {
            (Src::Part(a), Src::Part(b) | Src::Const(b)) | (Src::Const(b), Src::Part(a)) => {
                Src::Part(merged(a, b))
            }
            (Src::Const(a), Src::Const(b)) => Src::Const(merged(a, b)),
            (Src::Lower(a), Src::Lower(b)) => Src::Lower(merged(a, b)),
            // A part's strings occur in the record as they do in its JSON
            // text, so a test valid on JSON text is valid on both.
            (Src::Part(c), Src::Json) | (Src::Json, Src::Part(c)) if c.is_empty() => Src::Json,
            (a, b) if a == b => a,
            _ => Src::Other,
        }
    }

    /// After `ascii_downcase`.
    fn lowered(self) -> Src {
        match self {
            Src::Part(c) => Src::Lower(c.iter().map(|x| x.to_ascii_lowercase()).collect()),
            Src::Const(c) => Src::Const(c.iter().map(|x| x.to_ascii_lowercase()).collect()),
            Src::Lower(c) => Src::Lower(c),
            Src::Json | Src::LowerJson => Src::LowerJson,
            _ => Src::Other,
        }
    }
}

/// Alternatives: the record must contain one of them.
type Need = Option<Vec<Literal>>;

/// Most alternatives kept for one rule.
const MAX_ALTERNATIVES: usize = 64;

fn and(a: Need, b: Need) -> Need {
    match (a, b) {
        (Some(x), Some(y)) => Some(better(x, y)),
        (x, y) => x.or(y),
    }
}

fn or(a: Need, b: Need) -> Need {
    let (mut a, b) = (a?, b?);
    a.extend(b);
    a.sort();
    a.dedup();
    (a.len() <= MAX_ALTERNATIVES).then_some(a)
}

fn or_all(needs: impl IntoIterator<Item = Need>) -> Need {
    let mut acc: Need = Some(Vec::new());
    for n in needs {
        acc = or(acc, n);
        acc.as_ref()?;
    }
    acc.filter(|v| !v.is_empty())
}

/// The more selective need: fewer alternatives, then longer ones.
fn better(x: Vec<Literal>, y: Vec<Literal>) -> Vec<Literal> {
    let score = |v: &[Literal]| {
        let shortest = v.iter().map(|l| l.bytes.len()).min().unwrap_or(0);
        (shortest.min(8), usize::MAX - v.len())
    };
    if score(&y) > score(&x) {
        y
    } else {
        x
    }
}

/// A string test with literal `s` on a value of `src`, which holds on a
/// string `x` when `holds(x)`: what the raw record must contain.
fn test(s: &str, src: &Src, holds: &dyn Fn(&str) -> bool) -> Need {
    if s.len() < 2 || s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        return None;
    }
    let lit = |ascii_ci| {
        Some(vec![Literal {
            bytes: s.as_bytes().to_vec(),
            ascii_ci,
            ascii_only: false,
        }])
    };
    match src {
        // A constant the value may be instead of a part of the record:
        // when the test holds on it, the record need not contain anything.
        Src::Part(consts) => {
            if consts.iter().any(|c| holds(c)) {
                None
            } else {
                lit(false)
            }
        }
        Src::Lower(consts) => {
            if s.bytes().any(|b| b.is_ascii_uppercase()) || consts.iter().any(|c| holds(c)) {
                return None;
            }
            lit(true)
        }
        Src::Json | Src::LowerJson => {
            // Inside one token of the JSON text: no structure, not what a
            // number could print as, not part of a `null` from a missing
            // value.
            let structural = s.bytes().any(|b| b"{}[]:, \t\n\r".contains(&b));
            let numeric = s.bytes().all(|b| b"0123456789+-.eE".contains(&b));
            if structural || numeric || "null".contains(s) {
                return None;
            }
            let lower = matches!(src, Src::LowerJson);
            if lower && s.bytes().any(|b| b.is_ascii_uppercase()) {
                return None;
            }
            lit(lower)
        }
        // A test on constants alone needs nothing from the record.
        Src::Const(_) | Src::ConstArray(_) | Src::Other => None,
    }
}

/// `a == b` where `a` comes from `x` and `b` from `y`: when one side is
/// a constant string (or one of several) and the other a part of the
/// record, the record must contain one of the constants.
fn equal_need(x: &Src, y: &Src) -> Need {
    match (x, y) {
        (Src::Const(cs), other) | (other, Src::Const(cs)) if !matches!(other, Src::Const(_)) => {
            or_all(cs.iter().map(|c| test(c, other, &|v| v == c)))
        }
        _ => None,
    }
}

/// The required literals of a rule, if any.
pub fn required(prog: &Program) -> Option<Vec<Literal>> {
    let mut w = Walk {
        prog,
        vars: HashMap::new(),
        depth: 0,
    };
    w.truthy(prog.root, &Src::part())
}

struct Walk<'p> {
    prog: &'p Program,
    vars: HashMap<u16, Src>,
    depth: usize,
}

impl<'p> Walk<'p> {
    fn node(&self, id: Id) -> &'p Node {
        self.prog.node(id)
    }

    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Option<T>) -> Option<T> {
        if self.depth > 200 {
            return None;
        }
        self.depth += 1;
        let r = crate::stack::guard(|| f(self));
        self.depth -= 1;
        r
    }

    /// `.eventName` or `.eventSource` of the record.
    fn is_indexed_field(&self, x: Id) -> bool {
        matches!(self.node(x), Node::Path(t, steps)
            if matches!(self.node(*t), Node::Identity)
                && matches!(steps.as_slice(), [(Step::Field(f), _)] if f == "eventName" || f == "eventSource"))
    }

    /// Where the outputs of `id` come from.
    fn src_out(&mut self, id: Id, src: &Src) -> Src {
        self.nested(|w| Some(w.src_out_inner(id, src)))
            .unwrap_or(Src::Other)
    }

    fn src_out_inner(&mut self, id: Id, src: &Src) -> Src {
        let part = |s: &Src| matches!(s, Src::Part(_));
        match self.node(id) {
            Node::Identity => src.clone(),
            Node::Const(Const::Str(s)) => Src::Const(vec![s.clone()]),
            Node::Const(Const::Array(items))
                if items.iter().all(|c| matches!(c, Const::Str(_))) =>
            {
                Src::ConstArray(
                    items
                        .iter()
                        .filter_map(|c| c.as_str().map(str::to_string))
                        .collect(),
                )
            }
            Node::Path(t, steps) => {
                let t = self.src_out(*t, src);
                if let (Src::ConstArray(cs), [(Step::Iterate, _)]) = (&t, steps.as_slice()) {
                    return Src::Const(cs.clone());
                }
                let slices = steps.iter().any(|(s, _)| matches!(s, Step::Slice(..)));
                // Indexing a constant string is an error; a part of a part
                // is a part.
                if part(&t) && !slices {
                    Src::part()
                } else {
                    Src::Other
                }
            }
            Node::Recurse(f) => {
                if part(src) && part(&self.src_out(*f, &Src::part())) {
                    src.clone()
                } else {
                    Src::Other
                }
            }
            Node::If(_, a, b) => {
                let a = self.src_out(*a, src);
                if matches!(self.node(*b), Node::Empty) {
                    a
                } else {
                    let b = self.src_out(*b, src);
                    a.union(b)
                }
            }
            Node::Pipe(xs) => {
                let mut s = src.clone();
                for x in xs {
                    s = self.src_out(*x, &s);
                }
                s
            }
            Node::Comma(xs) | Node::Alt(xs) => {
                let mut acc: Option<Src> = None;
                for x in xs {
                    let s = self.src_out(*x, src);
                    acc = Some(match acc {
                        None => s,
                        Some(a) => a.union(s),
                    });
                }
                acc.unwrap_or(Src::Other)
            }
            Node::Array(Some(inner)) => match self.src_out(*inner, src) {
                Src::Part(_) => Src::part(),
                _ => Src::Other,
            },
            Node::Try(b, None) | Node::Label(_, b) => self.src_out(*b, src),
            Node::Bind(s, pats, body) => {
                self.bind(*s, pats, src);
                self.src_out(*body, src)
            }
            Node::Var(v) if v.up == 0 => self.vars.get(&v.slot).cloned().unwrap_or(Src::Other),
            Node::Builtin(b, args) => match (b, src) {
                // Type selectors pass values through unchanged.
                (b, _) if b.is_type_selector() => src.clone(),
                // What is left after deleting parts is still parts.
                (Builtin::DelPaths, Src::Part(c)) if c.is_empty() => Src::part(),
                (Builtin::ToString | Builtin::ToJson, Src::Part(c)) if c.is_empty() => Src::Json,
                (Builtin::AsciiDowncase, _) => src.clone().lowered(),
                (
                    Builtin::Keys | Builtin::KeysUnsorted | Builtin::First | Builtin::Last,
                    Src::Part(_),
                ) => {
                    let all_parts = args.iter().all(|a| part(&self.src_out(*a, &Src::part())));
                    if all_parts {
                        Src::part()
                    } else {
                        Src::Other
                    }
                }
                _ => Src::Other,
            },
            _ => Src::Other,
        }
    }

    /// Remember where a variable's value comes from.
    fn bind(&mut self, s: Id, pats: &[Pattern], src: &Src) {
        if let [Pattern::Var(slot)] = pats {
            let v = self.src_out(s, src);
            self.vars.insert(*slot, v);
        }
    }

    /// Literals needed for `id` to produce any output.
    fn some(&mut self, id: Id, src: &Src) -> Need {
        self.nested(|w| w.some_inner(id, src))
    }

    fn some_inner(&mut self, id: Id, src: &Src) -> Need {
        match self.node(id) {
            Node::If(c, a, b) => {
                let then = and(self.truthy(*c, src), self.some(*a, src));
                if matches!(self.node(*b), Node::Empty) {
                    then
                } else {
                    or(then, self.some(*b, src))
                }
            }
            Node::Pipe(xs) => self.pipe(xs, src, false),
            Node::Bind(s, pats, body) => {
                let first = self.some(*s, src);
                self.bind(*s, pats, src);
                and(first, self.some(*body, src))
            }
            Node::Label(_, b) | Node::Try(b, None) => self.some(*b, src),
            // `match` (and `capture`, `scan` over it) outputs only matches.
            Node::Regex(Builtin::Match, idx, _) => {
                regex_need(&self.prog.regexes[*idx as usize], src)
            }
            _ => None,
        }
    }

    fn pipe(&mut self, xs: &[Id], src: &Src, truthy: bool) -> Need {
        let mut need = None;
        let mut s = src.clone();
        for (i, x) in xs.iter().enumerate() {
            let last = i + 1 == xs.len();
            let n = if last && truthy {
                self.truthy(*x, &s)
            } else {
                self.some(*x, &s)
            };
            need = and(need, n);
            s = self.src_out(*x, &s);
        }
        need
    }

    /// Literals needed for `id` to produce a truthy output.
    fn truthy(&mut self, id: Id, src: &Src) -> Need {
        self.nested(|w| w.truthy_inner(id, src))
    }

    fn truthy_inner(&mut self, id: Id, src: &Src) -> Need {
        match self.node(id) {
            Node::If(c, a, b) => {
                let then = and(self.truthy(*c, src), self.truthy(*a, src));
                if matches!(self.node(*b), Node::Empty) {
                    then
                } else {
                    or(then, self.truthy(*b, src))
                }
            }
            Node::Pipe(xs) => self.pipe(xs, src, true),
            Node::And(xs) => xs.iter().fold(None, |acc, x| {
                let n = self.truthy(*x, src);
                and(acc, n)
            }),
            Node::Or(xs) | Node::Alt(xs) | Node::Comma(xs) => {
                let needs: Vec<Need> = xs.iter().map(|x| self.truthy(*x, src)).collect();
                or_all(needs)
            }
            Node::Bind(s, pats, body) => {
                let first = self.some(*s, src);
                self.bind(*s, pats, src);
                and(first, self.truthy(*body, src))
            }
            Node::Label(_, b) | Node::Try(b, None) => self.truthy(*b, src),
            Node::Binary(BinOp::Eq, a, b) => {
                // The dispatch index already checks these two.
                if self.is_indexed_field(*a) || self.is_indexed_field(*b) {
                    return None;
                }
                let (x, y) = (self.src_out(*a, src), self.src_out(*b, src));
                equal_need(&x, &y)
            }
            Node::Builtin(
                b @ (Builtin::StartsWith | Builtin::EndsWith | Builtin::Contains),
                args,
            ) => {
                let Node::Const(Const::Str(s)) = self.node(args[0]) else {
                    return None;
                };
                let holds = |c: &str| match b {
                    Builtin::StartsWith => c.starts_with(s.as_str()),
                    Builtin::EndsWith => c.ends_with(s.as_str()),
                    _ => c.contains(s.as_str()),
                };
                test(s, src, &holds)
            }
            Node::Builtin(Builtin::Any2, args) => {
                let (g, c) = (args[0], args[1]);
                // `IN(s)` is `any(s == .; .)`: true when some output of g is.
                if matches!(self.node(c), Node::Identity) {
                    return self.truthy(g, src);
                }
                let gen_src = self.src_out(g, src);
                and(self.some(g, src), self.truthy(c, &gen_src))
            }
            Node::Regex(Builtin::Test, idx, _) => {
                regex_need(&self.prog.regexes[*idx as usize], src)
            }
            // A truthy output is an output.
            _ => self.some_inner(id, src),
        }
    }
}

/// Shortest literal worth a raw-text search.
const MIN_LITERAL: usize = 3;

/// The prefixes every match starts with, when each is long enough.
fn prefix_literals(hir: &Hir) -> Option<Vec<String>> {
    let mut ex = Extractor::new();
    ex.kind(ExtractKind::Prefix).limit_total(256);
    let seq = ex.extract(hir);
    let lits = seq.literals()?;
    if lits.is_empty() {
        return None;
    }
    lits.iter()
        .map(|l| {
            let s = std::str::from_utf8(l.as_bytes()).ok()?;
            (s.len() >= MIN_LITERAL).then(|| s.to_string())
        })
        .collect()
}

/// Strings one of which every match contains somewhere (`.+:assumed-role/`
/// needs ":assumed-role/"): a required part of a concatenation, one from
/// each branch of an alternation.
fn inner_literals(hir: &Hir) -> Option<Vec<String>> {
    match hir.kind() {
        HirKind::Literal(l) => {
            let s = std::str::from_utf8(&l.0).ok()?;
            (s.len() >= MIN_LITERAL).then(|| vec![s.to_string()])
        }
        HirKind::Capture(c) => inner_literals(&c.sub),
        HirKind::Repetition(r) if r.min >= 1 => inner_literals(&r.sub),
        // Each part is required: the one with the longest shortest literal.
        HirKind::Concat(parts) => parts
            .iter()
            .filter_map(inner_literals)
            .max_by_key(|ls| ls.iter().map(String::len).min().unwrap_or(0)),
        HirKind::Alternation(alts) => {
            let mut out = Vec::new();
            for a in alts {
                out.extend(inner_literals(a)?);
                if out.len() > MAX_ALTERNATIVES {
                    return None;
                }
            }
            Some(out)
        }
        _ => None,
    }
}

/// Literals that every match of a literal regex contains, on a string of
/// `src`.
fn regex_need(re: &RegexLit, src: &Src) -> Need {
    if let Src::Part(consts) = src {
        if consts.iter().any(|c| re.regex.is_match(c)) {
            return None;
        }
    }
    if !matches!(src, Src::Part(_) | Src::Json) {
        return None;
    }
    // The `i` flag is applied after extraction (below): parsing with it
    // would expand every letter into two variants and overflow the limit.
    let flag_i = re.flags.contains('i');
    let mut pb = regex_syntax::ParserBuilder::new();
    for c in re.flags.chars() {
        match c {
            'x' => {
                pb.ignore_whitespace(true);
            }
            'm' | 'p' => {
                pb.dot_matches_new_line(true);
            }
            _ => {}
        }
    }
    let hir = pb.build().parse(&re.pattern).ok()?;
    let texts = prefix_literals(&hir).or_else(|| inner_literals(&hir))?;
    // Case variants (`i`, `(?i)`): one case-insensitive search per
    // literal instead of one per variant. Unicode folding also gives
    // variants with `ſ` or the Kelvin sign, which only non-ASCII records
    // can contain: those records are never skipped (`ascii_only`).
    let mut lower: Vec<String> = texts.iter().map(|t| t.to_ascii_lowercase()).collect();
    lower.sort();
    lower.dedup();
    // With the `i` flag the literals of the case-sensitive pattern hold
    // up to ASCII case on an ASCII record, as long as they are ASCII.
    if flag_i && texts.iter().any(|t| !t.is_ascii()) {
        return None;
    }
    let case_variants = flag_i || lower.len() < texts.len() || texts.iter().any(|t| !t.is_ascii());
    let mut out = Vec::new();
    if case_variants {
        for t in lower.iter().filter(|t| t.is_ascii()) {
            for mut n in test(t, src, &|_| false)? {
                n.ascii_ci = true;
                n.ascii_only = true;
                out.push(n);
            }
        }
    } else {
        for t in &texts {
            out.extend(test(t, src, &|_| false)?);
        }
    }
    if out.is_empty() || out.len() > MAX_ALTERNATIVES {
        return None;
    }
    out.sort();
    out.dedup();
    Some(out)
}
