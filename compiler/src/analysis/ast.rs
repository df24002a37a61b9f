//! The walk over jaq's AST that derives prefilter conditions. All matching
//! on jaq's `Term` lives in this module (jaq is pinned; its AST changes
//! between major versions).
//!
//! Each term is abstracted, for a given abstract input, into an [`Abs`]:
//! conditions under which it can produce *some* output, a *truthy* output
//! and a *falsy* output (each a sound over-approximation), what its outputs
//! are ([`Kind`]: the record, a prefilter field, string literals, booleans,
//! or unknown), and whether it produces at most one output. `not` swaps
//! truthy and falsy, which is how negation stays sound without a separate
//! exactness rule: the falsy condition of `.eventName == "X"` is
//! "eventName ≠ X", so `(.eventName == "X") | not` is exactly that.
//!
//! What the analysis ignores, on purpose: errors (a term that errors yields
//! no output, which only shrinks the true sets), and the order of outputs
//! (we over-approximate "the first output is truthy" by "some output is
//! truthy"). The input record is assumed to be a JSON object; the runtime
//! runs every rule on the (rare) records that are not.

use std::ops::Range;

use jaq_core::load::lex::StrPart;
use jaq_core::load::parse::{BinaryOp, Term};
use jaq_core::ops::Cmp;
use jaq_core::path::Part;

use super::cond::{Cond, Field, FieldCond, KeySet};
use super::regex_lit;

/// Names whose meaning the analysis relies on. A rule that defines any of
/// them (or a parameter with such a name) is not analysed.
pub const RECOGNISED: &[&str] = &[
    "select",
    "not",
    "empty",
    "error",
    "true",
    "false",
    "null",
    "startswith",
    "test",
    "IN",
    "any",
];

/// Deepest nesting we analyse; deeper terms give "unknown".
const MAX_DEPTH: usize = 128;

/// Why part of a rule could not be analysed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// What was not understood.
    pub message: String,
    /// Where in the jq source, when known.
    pub span: Option<Range<usize>>,
}

/// A literal value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lit {
    /// A string.
    Str(String),
    /// `null`, a boolean or a number.
    NonStr,
}

/// What a term's outputs are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The input record itself.
    Root,
    /// The value of a top-level prefilter field of the record.
    Field(Field),
    /// One of these literals.
    Lits(Vec<Lit>),
    /// A boolean.
    Bool,
    /// Anything.
    Other,
}

/// Abstraction of a term's outputs on one input.
#[derive(Clone, Debug)]
pub struct Abs {
    /// Records on which the term can produce an output.
    pub some: Cond,
    /// Records on which it can produce a truthy output.
    pub truthy: Cond,
    /// Records on which it can produce a falsy output (`null`/`false`).
    pub falsy: Cond,
    /// What the outputs are.
    pub kind: Kind,
    /// Produces at most one output (or one error) per input.
    pub at_most_one: bool,
}

impl Abs {
    /// The abstraction of the record itself (an object: truthy).
    pub fn root() -> Abs {
        Abs {
            some: Cond::all(),
            truthy: Cond::all(),
            falsy: Cond::never(),
            kind: Kind::Root,
            at_most_one: true,
        }
    }

    fn unknown() -> Abs {
        Abs {
            some: Cond::unknown(),
            truthy: Cond::unknown(),
            falsy: Cond::unknown(),
            kind: Kind::Other,
            at_most_one: false,
        }
    }

    fn nothing() -> Abs {
        Abs {
            some: Cond::never(),
            truthy: Cond::never(),
            falsy: Cond::never(),
            kind: Kind::Other,
            at_most_one: true,
        }
    }

    fn lit(l: Lit, truthy: bool) -> Abs {
        let (t, f) = if truthy {
            (Cond::all(), Cond::never())
        } else {
            (Cond::never(), Cond::all())
        };
        Abs {
            some: Cond::all(),
            truthy: t,
            falsy: f,
            kind: Kind::Lits(vec![l]),
            at_most_one: true,
        }
    }

    fn boolean(truthy: Cond, falsy: Cond, at_most_one: bool) -> Abs {
        let some = truthy.or(&falsy);
        Abs {
            some,
            truthy,
            falsy,
            kind: Kind::Bool,
            at_most_one,
        }
    }

    /// Restrict to the records where `c` holds (the term runs only there).
    fn within(mut self, c: &Cond) -> Abs {
        self.some = self.some.and(c);
        self.truthy = self.truthy.and(c);
        self.falsy = self.falsy.and(c);
        self
    }
}

fn merge_kind(a: &Kind, b: &Kind) -> Kind {
    match (a, b) {
        (Kind::Lits(x), Kind::Lits(y)) => Kind::Lits(x.iter().chain(y).cloned().collect()),
        (x, y) if x == y => x.clone(),
        _ => Kind::Other,
    }
}

/// The literal string of a string term without interpolation or format.
pub fn literal_str(t: &Term<&str>) -> Option<String> {
    let Term::Str(None, parts) = t else {
        return None;
    };
    let mut s = String::new();
    for p in parts {
        match p {
            StrPart::Str(x) => s.push_str(x),
            StrPart::Char(c) => s.push(*c),
            StrPart::Term(_) => return None,
        }
    }
    Some(s)
}

/// Walks one rule.
pub struct Walker<'s> {
    code: &'s str,
    /// Why parts were not understood.
    pub notes: Vec<Note>,
    depth: usize,
}

impl<'s> Walker<'s> {
    /// A walker for the jq program `code` (used for spans).
    pub fn new(code: &'s str) -> Self {
        Walker {
            code,
            notes: Vec::new(),
            depth: 0,
        }
    }

    fn span(&self, part: &str) -> Option<Range<usize>> {
        let (w, p) = (self.code.as_ptr() as usize, part.as_ptr() as usize);
        (p >= w && p + part.len() <= w + self.code.len()).then(|| p - w..p - w + part.len())
    }

    fn note(&mut self, message: impl Into<String>, at: Option<&str>) -> Abs {
        let span = at.and_then(|s| self.span(s));
        self.notes.push(Note {
            message: message.into(),
            span,
        });
        Abs::unknown()
    }

    /// Abstract `t` run on an input described by `input`.
    pub fn term(&mut self, t: &Term<&'s str>, input: &Abs) -> Abs {
        if self.depth >= MAX_DEPTH {
            return self.note("the rule nests too deeply to analyse", None);
        }
        self.depth += 1;
        let out = self.term_inner(t, input);
        self.depth -= 1;
        out
    }

    fn term_inner(&mut self, t: &Term<&'s str>, input: &Abs) -> Abs {
        match t {
            Term::Id => input.clone(),
            Term::Recurse => self.note("recursion (`..`) is not analysed", None),
            Term::Num(_) => Abs::lit(Lit::NonStr, true),
            Term::Str(None, _) if literal_str(t).is_some() => {
                Abs::lit(Lit::Str(literal_str(t).unwrap_or_default()), true)
            }
            // Interpolated or formatted strings: strings, so never falsy.
            Term::Str(..) => Abs {
                falsy: Cond::never(),
                ..Abs::unknown()
            },
            Term::Arr(_) | Term::Obj(_) => Abs {
                falsy: Cond::never(),
                ..Abs::unknown()
            },
            Term::Neg(_) => Abs::unknown(),
            Term::BinOp(l, op, r) => self.binop(l, op, r, input),
            Term::Label(x, _) | Term::Break(x) => {
                self.note("`label`/`break` are not analysed", Some(x))
            }
            Term::Fold(kw, ..) => self.note(format!("`{kw}` is not analysed"), Some(kw)),
            Term::TryCatch(body, catch) => {
                let b = self.term(body, input);
                match catch {
                    None => Abs {
                        at_most_one: b.at_most_one,
                        ..b
                    },
                    Some(c) => {
                        // The handler runs on an error, which we do not track.
                        let c = self.term(c, &Abs::unknown()).within(&Cond::unknown());
                        Abs {
                            some: b.some.or(&c.some),
                            truthy: b.truthy.or(&c.truthy),
                            falsy: b.falsy.or(&c.falsy),
                            kind: merge_kind(&b.kind, &c.kind),
                            at_most_one: false,
                        }
                    }
                }
            }
            Term::IfThenElse(branches, otherwise) => {
                let mut acc = Abs::nothing();
                let mut reach = Cond::all();
                let mut one = true;
                let mut kind: Option<Kind> = None;
                let add = |acc: &mut Abs, kind: &mut Option<Kind>, branch: Abs, enter: &Cond| {
                    let b = branch.within(enter);
                    acc.some = acc.some.or(&b.some);
                    acc.truthy = acc.truthy.or(&b.truthy);
                    acc.falsy = acc.falsy.or(&b.falsy);
                    *kind = Some(match kind.take() {
                        None => b.kind,
                        Some(k) => merge_kind(&k, &b.kind),
                    });
                    b.at_most_one
                };
                for (c, then) in branches {
                    let c = self.term(c, input);
                    let then = self.term(then, input);
                    one &= c.at_most_one;
                    let enter = reach.and(&c.truthy);
                    one &= add(&mut acc, &mut kind, then, &enter);
                    reach = reach.and(&c.falsy);
                }
                // A missing `else` is `.`: it always emits the input.
                let e = match otherwise {
                    Some(e) => self.term(e, input),
                    None => input.clone(),
                };
                one &= add(&mut acc, &mut kind, e, &reach);
                acc.kind = kind.unwrap_or(Kind::Other);
                acc.at_most_one = one;
                acc
            }
            Term::Def(_, body) => self.term(body, input),
            Term::Call(name, args) => self.call(name, args, input),
            Term::Var(x) => self.note(format!("variable `{x}` is not analysed"), Some(x)),
            Term::Path(head, path) => {
                let h = self.term(head, input);
                if let (Kind::Root, [(Part::Index(key), _opt)]) = (&h.kind, &path.0[..]) {
                    if let Some(k) = literal_str(key) {
                        // Indexing an object never fails and yields one value.
                        let some = h.some.clone();
                        return match Field::from_key(&k) {
                            Some(f) => Abs {
                                // A missing field is null: truthiness is unknown.
                                truthy: some.clone().inexact(),
                                falsy: some.and(&Cond::field(
                                    f,
                                    FieldCond::In(KeySet::other()),
                                    false,
                                )),
                                some,
                                kind: Kind::Field(f),
                                at_most_one: h.at_most_one,
                            },
                            None => Abs {
                                some,
                                kind: Kind::Other,
                                at_most_one: h.at_most_one,
                                ..Abs::unknown()
                            },
                        };
                    }
                }
                // Iteration, slices, nested paths: maybe no output, maybe many.
                Abs {
                    some: h.some.inexact(),
                    ..Abs::unknown()
                }
            }
        }
    }

    fn binop(
        &mut self,
        l: &Term<&'s str>,
        op: &BinaryOp<&'s str>,
        r: &Term<&'s str>,
        input: &Abs,
    ) -> Abs {
        match op {
            BinaryOp::Pipe(None) => {
                let a = self.term(l, input);
                let b = self.term(r, &a);
                let one = a.at_most_one && b.at_most_one;
                Abs {
                    at_most_one: one,
                    ..b.within(&a.some)
                }
            }
            BinaryOp::Pipe(Some(_)) => {
                // `l as $x | r`: r runs on the same input, once per output of l.
                let a = self.term(l, input);
                let b = self.term(r, input);
                let one = a.at_most_one && b.at_most_one;
                Abs {
                    at_most_one: one,
                    ..b.within(&a.some)
                }
            }
            BinaryOp::Comma => {
                let (a, b) = (self.term(l, input), self.term(r, input));
                Abs {
                    some: a.some.or(&b.some),
                    truthy: a.truthy.or(&b.truthy),
                    falsy: a.falsy.or(&b.falsy),
                    kind: merge_kind(&a.kind, &b.kind),
                    at_most_one: false,
                }
            }
            BinaryOp::Alt => {
                // `l // r`: the truthy outputs of l, or else the outputs of r.
                let (a, b) = (self.term(l, input), self.term(r, input));
                Abs {
                    some: a.truthy.or(&b.some),
                    truthy: a.truthy.or(&b.truthy),
                    falsy: b.falsy.clone(),
                    kind: merge_kind(&a.kind, &b.kind),
                    at_most_one: false,
                }
            }
            BinaryOp::And => {
                let (a, b) = (self.term(l, input), self.term(r, input));
                let truthy = a.truthy.and(&b.truthy);
                let falsy = a.falsy.or(&a.truthy.and(&b.falsy));
                Abs::boolean(truthy, falsy, a.at_most_one && b.at_most_one)
            }
            BinaryOp::Or => {
                let (a, b) = (self.term(l, input), self.term(r, input));
                let truthy = a.truthy.or(&a.falsy.and(&b.truthy));
                let falsy = a.falsy.and(&b.falsy);
                Abs::boolean(truthy, falsy, a.at_most_one && b.at_most_one)
            }
            BinaryOp::Cmp(c @ (Cmp::Eq | Cmp::Ne)) => {
                let (a, b) = (self.term(l, input), self.term(r, input));
                let one = a.at_most_one && b.at_most_one;
                let within = a.some.and(&b.some);
                let eq = match (&a.kind, &b.kind) {
                    (Kind::Field(f), Kind::Lits(lits)) | (Kind::Lits(lits), Kind::Field(f)) => {
                        field_eq(*f, lits)
                    }
                    _ => None,
                };
                match eq {
                    Some((t, f)) => {
                        let (t, f) = if matches!(c, Cmp::Eq) { (t, f) } else { (f, t) };
                        Abs::boolean(t.and(&within), f.and(&within), one)
                    }
                    None => Abs::boolean(within.clone().inexact(), within.inexact(), one),
                }
            }
            BinaryOp::Cmp(_) => {
                let (a, b) = (self.term(l, input), self.term(r, input));
                let within = a.some.and(&b.some).inexact();
                Abs::boolean(within.clone(), within, a.at_most_one && b.at_most_one)
            }
            _ => {
                // Arithmetic, assignment, update: analyse the operands for
                // notes, but the result is unknown.
                self.term(l, input);
                self.term(r, input);
                Abs::unknown()
            }
        }
    }

    fn call(&mut self, name: &'s str, args: &[Term<&'s str>], input: &Abs) -> Abs {
        match (name, args) {
            ("select", [p]) => {
                let p = self.term(p, input);
                Abs {
                    some: p.truthy.clone(),
                    truthy: p.truthy.and(&input.truthy),
                    falsy: p.truthy.and(&input.falsy),
                    kind: input.kind.clone(),
                    at_most_one: p.at_most_one && input.at_most_one,
                }
            }
            ("not", []) => {
                Abs::boolean(input.falsy.clone(), input.truthy.clone(), input.at_most_one)
            }
            ("empty", []) => Abs::nothing(),
            ("error", []) => Abs::nothing(),
            ("error", [m]) => {
                self.term(m, input);
                Abs::nothing()
            }
            ("true", []) => Abs::lit(Lit::NonStr, true),
            ("false" | "null", []) => Abs::lit(Lit::NonStr, false),
            ("startswith", [arg]) => {
                let a = self.term(arg, input);
                match (&input.kind, &a.kind) {
                    (Kind::Field(f), Kind::Lits(lits)) if a.at_most_one => match &lits[..] {
                        [Lit::Str(p)] => {
                            let set = KeySet::prefixes([p.clone()]);
                            // Non-strings make startswith fail: the falsy side is a superset.
                            let t =
                                Cond::field(*f, FieldCond::In(set.clone()), true).and(&input.some);
                            let fl = Cond::field(*f, FieldCond::NotIn(set), false).and(&input.some);
                            Abs::boolean(t, fl, input.at_most_one)
                        }
                        _ => Abs::boolean(
                            input.some.clone().inexact(),
                            input.some.clone().inexact(),
                            false,
                        ),
                    },
                    _ => Abs::boolean(
                        input.some.clone().inexact(),
                        input.some.clone().inexact(),
                        false,
                    ),
                }
            }
            ("test", [re]) | ("test", [re, _]) => {
                let flags_ok = match args {
                    [_, flags] => matches!(literal_str(flags).as_deref(), Some("")),
                    _ => true,
                };
                let pattern = literal_str(re);
                let unknown = || {
                    Abs::boolean(
                        input.some.clone().inexact(),
                        input.some.clone().inexact(),
                        false,
                    )
                };
                let Kind::Field(f) = input.kind else {
                    return unknown();
                };
                let Some(pattern) = pattern.filter(|_| flags_ok) else {
                    self.note(
                        "`test` with a computed pattern or flags is not analysed",
                        Some(name),
                    );
                    return unknown();
                };
                match regex_lit::extract(&pattern) {
                    Some((set, exact)) => {
                        let t = Cond::field(f, FieldCond::In(set.clone()), exact).and(&input.some);
                        let fl = if exact {
                            Cond::field(f, FieldCond::NotIn(set), false).and(&input.some)
                        } else {
                            input.some.clone().inexact()
                        };
                        Abs::boolean(t, fl, input.at_most_one)
                    }
                    None => {
                        self.note(
                            format!("regex {pattern:?} is not anchored with ^ on literals"),
                            Some(name),
                        );
                        unknown()
                    }
                }
            }
            ("IN", [s]) => {
                let s = self.term(s, input);
                self.field_in(
                    &input.kind,
                    &s.kind,
                    input.some.and(&s.some),
                    input.at_most_one,
                )
            }
            ("IN", [src, s]) => {
                let src = self.term(src, input);
                let s = self.term(s, input);
                self.field_in(&src.kind, &s.kind, src.some.and(&s.some), src.at_most_one)
            }
            _ => {
                for a in args {
                    self.term(a, input);
                }
                self.note(
                    format!("`{name}/{}` is not analysed", args.len()),
                    Some(name),
                )
            }
        }
    }

    /// `IN(...)` of a field against literals; `any` gives exactly one boolean.
    fn field_in(&mut self, field: &Kind, lits: &Kind, within: Cond, one: bool) -> Abs {
        if let (Kind::Field(f), Kind::Lits(lits)) = (field, lits) {
            let (set, all_strings) = lit_set(lits);
            let t = Cond::field(*f, FieldCond::In(set.clone()), all_strings).and(&within);
            let fl = if all_strings {
                Cond::field(*f, FieldCond::NotIn(set), true).and(&within)
            } else {
                within.clone().inexact()
            };
            return Abs::boolean(t, fl, one);
        }
        Abs::boolean(within.clone().inexact(), within.inexact(), one)
    }
}

/// The values a field can have to equal one of `lits`, and whether all
/// of them are strings. A non-string literal can only equal a non-string
/// (or missing) value, so it adds "missing or not a string".
fn lit_set(lits: &[Lit]) -> (KeySet, bool) {
    let strings: Vec<String> = lits
        .iter()
        .filter_map(|l| match l {
            Lit::Str(s) => Some(s.clone()),
            Lit::NonStr => None,
        })
        .collect();
    let all_strings = strings.len() == lits.len();
    let mut set = KeySet::names(strings);
    set.other = !all_strings;
    (set, all_strings)
}

/// Truthy and falsy conditions of `field == one of lits`.
fn field_eq(f: Field, lits: &[Lit]) -> Option<(Cond, Cond)> {
    let (set, all_strings) = lit_set(lits);
    let truthy = Cond::field(f, FieldCond::In(set.clone()), all_strings);
    // With one string literal, "not equal" is exactly the complement; with
    // several, some comparison is false on every record.
    let falsy = match lits {
        [Lit::Str(_)] => Cond::field(f, FieldCond::NotIn(set), true),
        _ => Cond::unknown(),
    };
    Some((truthy, falsy))
}

/// Every name defined by a `def` (functions and their parameters) in `t`.
pub fn defined_names<'s>(t: &Term<&'s str>, out: &mut Vec<&'s str>) {
    match t {
        Term::Def(defs, body) => {
            for d in defs {
                out.push(d.name);
                // `def f($x)` binds both `$x` and the filter `x`.
                out.extend(d.args.iter().map(|a| a.trim_start_matches('$')));
                defined_names(&d.body, out);
            }
            defined_names(body, out);
        }
        Term::Str(_, parts) => {
            for p in parts {
                if let StrPart::Term(t) = p {
                    defined_names(t, out);
                }
            }
        }
        Term::Arr(Some(t)) | Term::Neg(t) | Term::Label(_, t) => defined_names(t, out),
        Term::Obj(items) => {
            for (k, v) in items {
                defined_names(k, out);
                if let Some(v) = v {
                    defined_names(v, out);
                }
            }
        }
        Term::BinOp(l, _, r) => {
            defined_names(l, out);
            defined_names(r, out);
        }
        Term::Fold(_, xs, _, args) => {
            defined_names(xs, out);
            args.iter().for_each(|a| defined_names(a, out));
        }
        Term::TryCatch(b, c) => {
            defined_names(b, out);
            if let Some(c) = c {
                defined_names(c, out);
            }
        }
        Term::IfThenElse(bs, e) => {
            for (c, t) in bs {
                defined_names(c, out);
                defined_names(t, out);
            }
            if let Some(e) = e {
                defined_names(e, out);
            }
        }
        Term::Call(_, args) => args.iter().for_each(|a| defined_names(a, out)),
        Term::Path(h, p) => {
            defined_names(h, out);
            for (part, _) in &p.0 {
                match part {
                    Part::Index(i) => defined_names(i, out),
                    Part::Range(a, b) => {
                        a.iter().chain(b.iter()).for_each(|x| defined_names(x, out));
                    }
                }
            }
        }
        _ => {}
    }
}
