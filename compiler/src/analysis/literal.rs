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
    /// The JSON text of a part (`tostring`, `tojson`).
    Json,
    /// The ASCII lowercase of a part.
    Lower,
    /// Anything else.
    Other,
}

impl Src {
    fn part() -> Src {
        Src::Part(Vec::new())
    }

    /// The source of either of two values.
    fn union(self, other: Src) -> Src {
        match (self, other) {
            (Src::Part(mut a), Src::Part(b)) => {
                a.extend(b);
                a.sort();
                a.dedup();
                Src::Part(a)
            }
            (a, b) if a == b => a,
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
        Src::Lower => {
            if s.bytes().any(|b| b.is_ascii_uppercase()) {
                return None;
            }
            lit(true)
        }
        Src::Json => {
            // Inside one token of the JSON text: no structure, not what a
            // number could print as, not part of a `null` from a missing
            // value.
            let structural = s.bytes().any(|b| b"{}[]:, \t\n\r".contains(&b));
            let numeric = s.bytes().all(|b| b"0123456789+-.eE".contains(&b));
            if structural || numeric || "null".contains(s) {
                return None;
            }
            lit(false)
        }
        Src::Other => None,
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
            Node::Const(Const::Str(s)) => Src::Part(vec![s.clone()]),
            Node::Path(t, steps) => {
                let t = self.src_out(*t, src);
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
                (Builtin::ToString | Builtin::ToJson, Src::Part(c)) if c.is_empty() => Src::Json,
                (Builtin::AsciiDowncase, Src::Part(c)) if c.is_empty() => Src::Lower,
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
                let eq = |w: &mut Self, x: Id, other: Id| -> Need {
                    let Node::Const(Const::Str(s)) = w.node(other) else {
                        return None;
                    };
                    // The dispatch index already checks these two.
                    if w.is_indexed_field(x) {
                        return None;
                    }
                    let from = w.src_out(x, src);
                    test(s, &from, &|c| c == s)
                };
                eq(self, *a, *b).or_else(|| eq(self, *b, *a))
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
                // `IN(s)`: `any(s == .; .)` with constant strings.
                if let (Node::Binary(BinOp::Eq, l, r), Node::Identity) =
                    (self.node(g), self.node(c))
                {
                    let consts = |w: &Self, x: Id| -> Option<Vec<String>> {
                        match w.node(x) {
                            Node::Const(Const::Str(s)) => Some(vec![s.clone()]),
                            Node::Comma(xs) => xs
                                .iter()
                                .map(|y| match w.node(*y) {
                                    Node::Const(Const::Str(s)) => Some(s.clone()),
                                    _ => None,
                                })
                                .collect(),
                            _ => None,
                        }
                    };
                    let (lits, other) = match (consts(self, *l), consts(self, *r)) {
                        (Some(ls), None) => (ls, *r),
                        (None, Some(ls)) => (ls, *l),
                        _ => return None,
                    };
                    if self.is_indexed_field(other) {
                        return None;
                    }
                    let from = self.src_out(other, src);
                    let holds = |c: &str| lits.iter().any(|l| l == c);
                    return or_all(lits.iter().map(|s| test(s, &from, &holds)));
                }
                let gen_src = self.src_out(g, src);
                and(self.some(g, src), self.truthy(c, &gen_src))
            }
            Node::Regex(Builtin::Test, idx, _) => {
                regex_need(&self.prog.regexes[*idx as usize], src)
            }
            _ => None,
        }
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
    let case_insensitive = re.flags.contains('i');
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
    // With `i`, extract from the pattern as written and search without
    // case (ASCII records only: Unicode folding maps ſ to s, K to k).
    let hir = pb.build().parse(&re.pattern).ok()?;
    let mut ex = Extractor::new();
    ex.kind(ExtractKind::Prefix).limit_total(MAX_ALTERNATIVES);
    let seq = ex.extract(&hir);
    let lits = seq.literals()?;
    if lits.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for l in lits {
        let s = std::str::from_utf8(l.as_bytes()).ok()?;
        if s.len() < 3 {
            return None;
        }
        let mut need = test(s, src, &|_| false)?;
        if case_insensitive {
            if !s.is_ascii() {
                return None;
            }
            for n in &mut need {
                n.bytes.make_ascii_lowercase();
                n.ascii_ci = true;
                n.ascii_only = true;
            }
        }
        out.extend(need);
    }
    out.sort();
    out.dedup();
    Some(out)
}
