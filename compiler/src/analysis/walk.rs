//! The walk over a rule's IR that derives prefilter conditions.
//!
//! Each node is abstracted, for a given abstract input, into an [`Abs`]:
//! conditions under which it can produce *some* output, a *truthy* output
//! and a *falsy* output (each a sound over-approximation), what its outputs
//! are ([`Kind`]: the record, a prefilter field, string literals, booleans,
//! or unknown), and whether it produces at most one output. `not` swaps
//! truthy and falsy, which is how negation stays sound without a separate
//! exactness rule: the falsy condition of `.eventName == "X"` is
//! "eventName ≠ X", so `(.eventName == "X") | not` is exactly that.
//!
//! Case-insensitive tests follow a field through `ascii_downcase` to its
//! *folded* value, a prefilter dimension of its own ([`Dim`]); `type` of a
//! field compared with `"string"` is exactly "a string"; `any(.field; P)`
//! is `P` on the one value.
//!
//! Names are already resolved in the IR: a rule that defines its own
//! `select` or `IN` simply has different nodes there, so nothing here
//! needs to know which names a rule may have shadowed. Variables bound in
//! the main frame carry the abstraction of what they were bound to.
//!
//! What the analysis ignores, on purpose: errors (a node that errors
//! yields no output, which only shrinks the true sets), and the order of
//! outputs (we over-approximate "the first output is truthy" by "some
//! output is truthy"). The input record is assumed to be a JSON object;
//! the runtime runs every rule on the (rare) records that are not.

use std::collections::HashMap;
use std::ops::Range;

use super::cond::{Cond, Dim, Field, FieldCond, KeySet};
use super::regex_lit;
use crate::ir::{Builtin, Const, Id, Node, Pattern, Program, Step};
use crate::syntax::ast::BinOp;

/// Deepest nesting we analyse; deeper nodes give "unknown".
const MAX_DEPTH: usize = 256;

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
    /// `null`, a boolean, a number, an array or an object.
    NonStr,
}

/// What a node's outputs are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The input record itself.
    Root,
    /// A prefilter dimension of the record: a top-level field's value, or
    /// (after `ascii_downcase`) its folded value, a string.
    Key(Dim),
    /// The `type` of a top-level prefilter field's value.
    TypeName(Field),
    /// One of these literals.
    Lits(Vec<Lit>),
    /// A boolean.
    Bool,
    /// Anything.
    Other,
}

/// Abstraction of a node's outputs on one input.
#[derive(Clone, Debug)]
pub struct Abs {
    /// Records on which the node can produce an output.
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

    /// Unknown values produced wherever the input is: never falsy when
    /// `never_falsy` (strings, arrays, objects).
    fn opaque(input: &Abs, never_falsy: bool, at_most_one: bool) -> Abs {
        let some = input.some.clone().inexact();
        Abs {
            truthy: some.clone(),
            falsy: if never_falsy {
                Cond::never()
            } else {
                some.clone()
            },
            some,
            kind: Kind::Other,
            at_most_one,
        }
    }

    /// Restrict to the records where `c` holds (the node runs only there).
    fn within(mut self, c: &Cond) -> Abs {
        self.some = self.some.and(c);
        self.truthy = self.truthy.and(c);
        self.falsy = self.falsy.and(c);
        self
    }

    fn union(a: Abs, b: Abs) -> Abs {
        // A side that never produces output adds nothing, not even its kind.
        if a.some.is_never() {
            return Abs {
                at_most_one: false,
                ..b
            };
        }
        if b.some.is_never() {
            return Abs {
                at_most_one: false,
                ..a
            };
        }
        Abs {
            some: a.some.or(&b.some),
            truthy: a.truthy.or(&b.truthy),
            falsy: a.falsy.or(&b.falsy),
            kind: merge_kind(&a.kind, &b.kind),
            at_most_one: false,
        }
    }
}

fn merge_kind(a: &Kind, b: &Kind) -> Kind {
    match (a, b) {
        (Kind::Lits(x), Kind::Lits(y)) => Kind::Lits(x.iter().chain(y).cloned().collect()),
        (x, y) if x == y => x.clone(),
        _ => Kind::Other,
    }
}

fn lit_of(c: &Const) -> Lit {
    match c {
        Const::Str(s) => Lit::Str(s.clone()),
        _ => Lit::NonStr,
    }
}

/// Walks one rule.
pub struct Walker<'p> {
    prog: &'p Program,
    /// Why parts were not understood.
    pub notes: Vec<Note>,
    depth: usize,
    /// Abstractions of main-frame variables.
    vars: HashMap<u16, Abs>,
    /// Per node: can it raise an error (on a record that is an object)?
    can_error: Vec<bool>,
    /// Per node: can it give no output without an error?
    may_be_empty: Vec<bool>,
}

impl<'p> Walker<'p> {
    /// A walker for `prog`.
    pub fn new(prog: &'p Program) -> Self {
        Walker {
            prog,
            notes: Vec::new(),
            depth: 0,
            vars: HashMap::new(),
            can_error: can_error(prog),
            may_be_empty: may_be_empty(prog),
        }
    }

    fn note(&mut self, message: impl Into<String>, at: Id) -> Abs {
        let span = self.prog.spans[at.index()].range();
        let message = message.into();
        if !self
            .notes
            .iter()
            .any(|n| n.message == message && n.span == Some(span.clone()))
        {
            self.notes.push(Note {
                message,
                span: Some(span),
            });
        }
        Abs::unknown()
    }

    /// Abstract node `id` run on an input described by `input`.
    pub fn node(&mut self, id: Id, input: &Abs) -> Abs {
        if self.depth >= MAX_DEPTH {
            return self.note("the rule nests too deeply to analyse", id);
        }
        self.depth += 1;
        let out = crate::stack::guard(|| self.node_inner(id, input));
        self.depth -= 1;
        out
    }

    fn node_inner(&mut self, id: Id, input: &Abs) -> Abs {
        let prog = self.prog;
        match prog.node(id) {
            Node::Identity => input.clone(),
            Node::Empty | Node::Break(_) => Abs::nothing(),
            Node::Const(c) => Abs::lit(lit_of(c), c.is_truthy()),
            Node::Recurse(_) | Node::RecurseCond(..) => {
                self.note("recursion (`..`, `recurse`) is not analysed", id);
                Abs::opaque(input, false, false)
            }
            Node::Str(..) | Node::Format(_) | Node::Array(_) | Node::Object(_) | Node::Neg(_) => {
                // Walk the parts for their notes; the value itself is opaque.
                prog.node(id).for_each_child(|c| {
                    self.node(c, input);
                });
                Abs::opaque(input, true, prog.is_single(id))
            }
            Node::Pipe(xs) => {
                let mut acc = input.clone();
                let mut one = true;
                for x in xs {
                    let next = self.node(*x, &acc);
                    one &= next.at_most_one;
                    let within = acc.some.clone();
                    acc = next.within(&within);
                }
                acc.at_most_one = one;
                acc
            }
            Node::Comma(xs) => {
                let parts: Vec<Abs> = xs.iter().map(|x| self.node(*x, input)).collect();
                let mut acc = tree_fold(parts, Abs::union).unwrap_or_else(Abs::nothing);
                acc.at_most_one = xs.len() <= 1;
                acc
            }
            Node::Alt(xs) => {
                // `a // b // c`: the truthy outputs of a, else those of b,
                // else all outputs of c.
                // An error in an operand stops `//` where the analysis
                // (which treats errors as "no output") would go on to the
                // next operand: what follows an operand that can fail is
                // only an over-approximation.
                let (last, rest) = xs.split_last().expect("// has operands");
                let mut truthy = Cond::never();
                let mut kind: Option<Kind> = None;
                let mut failed = false;
                for x in rest {
                    let mut a = self.node(*x, input);
                    if failed {
                        a.truthy = a.truthy.inexact();
                    }
                    failed |= self.can_error[x.index()];
                    truthy = truthy.or(&a.truthy);
                    kind = Some(kind.map_or(a.kind.clone(), |k| merge_kind(&k, &a.kind)));
                }
                let mut b = self.node(*last, input);
                if failed {
                    b.some = b.some.inexact();
                    b.truthy = b.truthy.inexact();
                    b.falsy = b.falsy.inexact();
                }
                // The last operand runs only where no earlier one had a
                // truthy output: its falsy outputs are the whole's only
                // there (`(.eventName != "X") // false` is falsy exactly
                // when eventName is "X", not everywhere).
                let falsy = b.falsy.and(&truthy.complement());
                Abs {
                    some: truthy.or(&b.some),
                    truthy: truthy.or(&b.truthy),
                    falsy,
                    kind: kind.map_or(b.kind.clone(), |k| merge_kind(&k, &b.kind)),
                    at_most_one: prog.is_single(id),
                }
            }
            // `a and b` is truthy where both are, falsy where `a` is or
            // (`a` truthy and) `b` is; `or` dually. Both combinations are
            // associative, so a long chain (a generated allow-list) is
            // folded as a balanced tree: n log n set work, not n².
            Node::And(xs) | Node::Or(xs) => {
                let and = matches!(prog.node(id), Node::And(_));
                let parts: Vec<(Cond, Cond, bool)> = xs
                    .iter()
                    .map(|x| {
                        let a = self.node(*x, input);
                        (a.truthy, a.falsy, a.at_most_one)
                    })
                    .collect();
                let (truthy, falsy, one) = tree_fold(parts, |(t1, f1, o1), (t2, f2, o2)| {
                    if and {
                        (t1.and(&t2), f1.or(&t1.and(&f2)), o1 && o2)
                    } else {
                        (t1.or(&f1.and(&t2)), f1.and(&f2), o1 && o2)
                    }
                })
                .unwrap_or_else(|| {
                    if and {
                        (Cond::all(), Cond::never(), true)
                    } else {
                        (Cond::never(), Cond::all(), true)
                    }
                });
                Abs::boolean(truthy, falsy, one)
            }
            Node::Binary(op @ (BinOp::Eq | BinOp::Ne), a, b) => {
                let (a, b) = (self.node(*a, input), self.node(*b, input));
                let one = a.at_most_one && b.at_most_one;
                let within = a.some.and(&b.some);
                let eq = match (&a.kind, &b.kind) {
                    (Kind::Key(d), Kind::Lits(lits)) | (Kind::Lits(lits), Kind::Key(d)) => {
                        Some(field_eq(*d, lits))
                    }
                    (Kind::TypeName(f), Kind::Lits(lits))
                    | (Kind::Lits(lits), Kind::TypeName(f)) => Some(type_eq(*f, lits)),
                    // Two known strings (`type` of a folded value).
                    (Kind::Lits(x), Kind::Lits(y)) => match (x.as_slice(), y.as_slice()) {
                        ([Lit::Str(x)], [Lit::Str(y)]) if x == y => {
                            Some((Cond::all(), Cond::never()))
                        }
                        ([Lit::Str(_)], [Lit::Str(_)]) => Some((Cond::never(), Cond::all())),
                        _ => None,
                    },
                    _ => None,
                };
                match eq {
                    Some((t, f)) => {
                        let (t, f) = if *op == BinOp::Eq { (t, f) } else { (f, t) };
                        Abs::boolean(t.and(&within), f.and(&within), one)
                    }
                    None => Abs::boolean(within.clone().inexact(), within.inexact(), one),
                }
            }
            Node::Binary(op, a, b) => {
                let (a, b) = (self.node(*a, input), self.node(*b, input));
                let within = a.some.and(&b.some).inexact();
                if op.is_cmp() {
                    Abs::boolean(within.clone(), within, a.at_most_one && b.at_most_one)
                } else {
                    Abs {
                        some: within.clone(),
                        truthy: within.clone(),
                        falsy: within,
                        kind: Kind::Other,
                        at_most_one: a.at_most_one && b.at_most_one,
                    }
                }
            }
            Node::Bind(src, pats, body) => {
                // `src as $x | body`: body runs on the same input, once per
                // output of src.
                let a = self.node(*src, input);
                if let [Pattern::Var(slot)] = pats.as_slice() {
                    if a.at_most_one {
                        self.vars.insert(*slot, a.clone());
                    }
                }
                let b = self.node(*body, input);
                let one = a.at_most_one && b.at_most_one && pats.len() == 1;
                Abs {
                    at_most_one: one,
                    ..b.within(&a.some)
                }
            }
            Node::Var(v) => match (v.up, self.vars.get(&v.slot)) {
                (0, Some(a)) => a.clone(),
                _ => {
                    self.note("this variable is not analysed", id);
                    Abs::unknown()
                }
            },
            Node::Reduce(..) | Node::Foreach(..) => {
                self.note("`reduce`/`foreach` is not analysed", id);
                Abs::opaque(input, false, prog.is_single(id))
            }
            Node::If(c, a, b) => {
                let c = self.node(*c, input);
                let then = self.node(*a, input).within(&c.truthy);
                let otherwise = self.node(*b, input).within(&c.falsy);
                let one = c.at_most_one && then.at_most_one && otherwise.at_most_one;
                let mut acc = Abs::union(then, otherwise);
                acc.at_most_one = one;
                acc
            }
            Node::Try(body, catch) => {
                let b = self.node(*body, input);
                match catch {
                    None => b,
                    Some(c) => {
                        // The handler runs on an error, which we do not track.
                        let c = self.node(*c, &Abs::unknown()).within(&Cond::unknown());
                        Abs::union(b, c)
                    }
                }
            }
            // `break` only removes outputs.
            Node::Label(_, body) => self.node(*body, input),
            Node::Path(t, steps) => {
                let h = self.node(*t, input);
                if let (Kind::Root, [(Step::Field(k), _opt)]) = (&h.kind, steps.as_slice()) {
                    // Indexing an object never fails and yields one value.
                    let some = h.some.clone();
                    return match Field::from_key(k) {
                        Some(f) => Abs {
                            // A missing field is null: truthiness is unknown.
                            truthy: some.clone().inexact(),
                            falsy: some.and(&Cond::field(
                                Dim::plain(f),
                                FieldCond::In(KeySet::other()),
                                false,
                            )),
                            some,
                            kind: Kind::Key(Dim::plain(f)),
                            at_most_one: h.at_most_one,
                        },
                        None => Abs {
                            some: some.clone(),
                            truthy: some.clone().inexact(),
                            falsy: some.inexact(),
                            kind: Kind::Other,
                            at_most_one: h.at_most_one,
                        },
                    };
                }
                // Iteration, slices, nested paths: maybe no output, maybe many.
                Abs::opaque(&h, false, prog.is_single(id))
            }
            Node::Assign(..) => Abs::opaque(input, false, prog.is_single(id)),
            Node::Call(..) | Node::Param(..) | Node::InFrame(..) => {
                self.note("recursive functions are not analysed", id);
                Abs::unknown()
            }
            Node::Regex(Builtin::Test, idx, _) => self.test(id, *idx, input),
            Node::Regex(..) => Abs::opaque(input, false, prog.is_single(id)),
            Node::Builtin(b, args) => self.builtin(id, *b, args, input),
        }
    }

    /// Does `g` give exactly one output, and no error, on this input
    /// (`.` anywhere, `.name` on the record)?
    fn total(&self, g: Id, input: &Abs) -> bool {
        match self.prog.node(g) {
            Node::Identity => true,
            Node::Path(t, steps) => {
                input.kind == Kind::Root
                    && matches!(self.prog.node(*t), Node::Identity)
                    && matches!(steps.as_slice(), [(Step::Field(_), _)])
            }
            _ => false,
        }
    }

    /// `any(g; c)` where `g` has exactly one output: true where `c` has a
    /// truthy output, false where its output is falsy or where it has none
    /// (without an error), an error where `c` fails. `cond` is `c` on that
    /// output; the caller restricts the result to where `g` runs.
    fn any_of_one(&self, c: Id, cond: Abs) -> Abs {
        let mut falsy = cond.falsy.clone();
        if self.may_be_empty[c.index()] {
            // "No output" is the complement of `some` only where `c`
            // cannot fail.
            falsy = falsy.or(&cond.some.complement());
            if self.can_error[c.index()] {
                falsy = falsy.inexact();
            }
        }
        let (truthy, falsy) = if cond.at_most_one {
            (cond.truthy, falsy)
        } else {
            (cond.truthy.inexact(), falsy.inexact())
        };
        let mut out = Abs::boolean(truthy, falsy, true);
        if !self.can_error[c.index()] {
            out.some = Cond::all(); // one boolean wherever it runs
        }
        out
    }

    fn test(&mut self, id: Id, idx: u32, input: &Abs) -> Abs {
        let unknown = |input: &Abs| {
            Abs::boolean(
                input.some.clone().inexact(),
                input.some.clone().inexact(),
                input.at_most_one,
            )
        };
        let Kind::Key(d) = input.kind else {
            return unknown(input);
        };
        let re = &self.prog.regexes[idx as usize];
        if !re.flags.chars().all(|c| c == 'g') {
            self.note(
                format!("`test` with flags {:?} is not analysed", re.flags),
                id,
            );
            return unknown(input);
        }
        match regex_lit::extract(&re.pattern) {
            Some((set, exact)) => {
                let t = Cond::field(d, FieldCond::In(set.clone()), exact).and(&input.some);
                // On a field, non-strings make `test` fail: the falsy side
                // is a superset; a folded value is always a string.
                let fl = if exact {
                    Cond::field(d, FieldCond::NotIn(set), d.folded).and(&input.some)
                } else {
                    input.some.clone().inexact()
                };
                Abs::boolean(t, fl, input.at_most_one)
            }
            None => {
                self.note(
                    format!("regex {:?} is not anchored with ^ on literals", re.pattern),
                    id,
                );
                unknown(input)
            }
        }
    }

    fn builtin(&mut self, id: Id, b: Builtin, args: &[Id], input: &Abs) -> Abs {
        match (b, args) {
            (Builtin::Not, []) => {
                Abs::boolean(input.falsy.clone(), input.truthy.clone(), input.at_most_one)
            }
            // Type selectors pass some of their inputs through unchanged.
            (b, []) if b.is_type_selector() => {
                let never_falsy = matches!(
                    b,
                    Builtin::Numbers
                        | Builtin::Strings
                        | Builtin::Arrays
                        | Builtin::Objects
                        | Builtin::Iterables
                );
                let (truthy, falsy) = match b {
                    Builtin::Nulls => (Cond::never(), input.falsy.clone().inexact()),
                    _ if never_falsy => (input.some.clone().inexact(), Cond::never()),
                    _ => (
                        input.truthy.clone().inexact(),
                        input.falsy.clone().inexact(),
                    ),
                };
                Abs {
                    some: input.some.clone().inexact(),
                    truthy,
                    falsy,
                    kind: input.kind.clone(),
                    at_most_one: input.at_most_one,
                }
            }
            (Builtin::AsciiDowncase, []) => {
                downcase(input).unwrap_or_else(|| Abs::opaque(input, true, self.prog.is_single(id)))
            }
            (Builtin::Type, []) => {
                type_of(input).unwrap_or_else(|| Abs::opaque(input, true, self.prog.is_single(id)))
            }
            (Builtin::Error0 | Builtin::Error1, _) => {
                for a in args {
                    self.node(*a, input);
                }
                Abs::nothing()
            }
            (Builtin::StartsWith, [arg]) => {
                let a = self.node(*arg, input);
                if let (Kind::Key(d), Kind::Lits(lits)) = (&input.kind, &a.kind) {
                    if let (true, [Lit::Str(p)]) = (a.at_most_one, lits.as_slice()) {
                        let set = KeySet::prefixes([p.clone()]);
                        // Non-strings make startswith fail: on a field the
                        // falsy side is a superset; a folded value is a string.
                        let t = Cond::field(*d, FieldCond::In(set.clone()), true).and(&input.some);
                        let fl = Cond::field(*d, FieldCond::NotIn(set), d.folded).and(&input.some);
                        return Abs::boolean(t, fl, input.at_most_one);
                    }
                }
                Abs::boolean(
                    input.some.clone().inexact(),
                    input.some.clone().inexact(),
                    false,
                )
            }
            (Builtin::Any2, [g, c]) => {
                // `IN(s)` is `any(s == .; .)`, `IN(src; s)` is `any(src == s; .)`.
                if let (Node::Binary(BinOp::Eq, l, r), Node::Identity) =
                    (self.prog.node(*g), self.prog.node(*c))
                {
                    let (l, r) = (self.node(*l, input), self.node(*r, input));
                    let within = l.some.and(&r.some);
                    if let (Kind::Key(d), Kind::Lits(lits)) | (Kind::Lits(lits), Kind::Key(d)) =
                        (&l.kind, &r.kind)
                    {
                        let one = l.at_most_one || r.at_most_one;
                        let (set, all_strings) = lit_set(lits);
                        let t =
                            Cond::field(*d, FieldCond::In(set.clone()), all_strings).and(&within);
                        let fl = if all_strings && one {
                            Cond::field(*d, FieldCond::NotIn(set), true).and(&within)
                        } else {
                            within.clone().inexact()
                        };
                        return Abs::boolean(t, fl, true);
                    }
                }
                let a = self.node(*g, input);
                let cond = self.node(*c, &a).within(&a.some);
                if self.total(*g, input) {
                    return self.any_of_one(*c, cond).within(&a.some);
                }
                Abs::boolean(
                    cond.truthy.clone().inexact(),
                    input.some.clone().inexact(),
                    true,
                )
            }
            _ => {
                for a in args {
                    self.node(*a, input);
                }
                let single = self.prog.is_single(id);
                let never_falsy = matches!(
                    b,
                    Builtin::ToString
                        | Builtin::ToJson
                        | Builtin::Keys
                        | Builtin::KeysUnsorted
                        | Builtin::AsciiDowncase
                        | Builtin::AsciiUpcase
                        | Builtin::Length
                        | Builtin::Type
                );
                if matches!(
                    b,
                    Builtin::Test | Builtin::Match | Builtin::Split2 | Builtin::Sub
                ) {
                    self.note(
                        format!("`{}` with a computed pattern is not analysed", b.name()),
                        id,
                    );
                }
                Abs::opaque(input, never_falsy, single)
            }
        }
    }
}

/// `ascii_downcase` of a prefilter field (its folded value, where it is a
/// string; it fails elsewhere), of a folded value (the same) or of string
/// literals (lowercased); `None` for anything else.
fn downcase(input: &Abs) -> Option<Abs> {
    match &input.kind {
        Kind::Key(d) if !d.folded => {
            let strings = Cond::field(*d, FieldCond::In(KeySet::prefixes([""])), true);
            let some = input.some.and(&strings);
            Some(Abs {
                truthy: some.clone(),
                falsy: Cond::never(),
                some,
                kind: Kind::Key(Dim::folded(d.field)),
                at_most_one: input.at_most_one,
            })
        }
        Kind::Key(_) => Some(input.clone()),
        Kind::Lits(lits) => {
            let lower: Option<Vec<Lit>> = lits
                .iter()
                .map(|l| match l {
                    Lit::Str(s) => Some(Lit::Str(s.to_ascii_lowercase())),
                    Lit::NonStr => None,
                })
                .collect();
            Some(Abs {
                kind: Kind::Lits(lower?),
                ..input.clone()
            })
        }
        _ => None,
    }
}

/// `type` of a prefilter field (compared by [`type_eq`]) or of a folded
/// value (`"string"`); `None` for anything else. `type` never fails.
fn type_of(input: &Abs) -> Option<Abs> {
    let kind = match input.kind {
        Kind::Key(d) if !d.folded => Kind::TypeName(d.field),
        Kind::Key(_) => Kind::Lits(vec![Lit::Str("string".into())]),
        _ => return None,
    };
    Some(Abs {
        truthy: input.some.clone(),
        falsy: Cond::never(),
        some: input.some.clone(),
        kind,
        at_most_one: input.at_most_one,
    })
}

/// Truthy and falsy conditions of `(field | type) == one of lits`:
/// `"string"` is exactly "a string", every other type name is inside "not
/// a string" (inexact), and anything else never matches.
fn type_eq(f: Field, lits: &[Lit]) -> (Cond, Cond) {
    let one = |l: &Lit| -> (Cond, Cond) {
        let d = Dim::plain(f);
        match l {
            Lit::Str(s) if s == "string" => (
                Cond::field(d, FieldCond::In(KeySet::prefixes([""])), true),
                Cond::field(d, FieldCond::In(KeySet::other()), true),
            ),
            Lit::Str(s)
                if ["null", "boolean", "number", "array", "object"].contains(&s.as_str()) =>
            {
                (
                    Cond::field(d, FieldCond::In(KeySet::other()), false),
                    Cond::unknown(),
                )
            }
            _ => (Cond::never(), Cond::all()),
        }
    };
    match lits {
        [l] => one(l),
        _ => {
            let truthy = lits
                .iter()
                .map(|l| one(l).0)
                .reduce(|a, b| a.or(&b))
                .unwrap_or_else(Cond::never);
            (truthy, Cond::unknown())
        }
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

/// Truthy and falsy conditions of `key == one of lits`.
fn field_eq(f: Dim, lits: &[Lit]) -> (Cond, Cond) {
    let (set, all_strings) = lit_set(lits);
    let truthy = Cond::field(f, FieldCond::In(set.clone()), all_strings);
    // With one string literal, "not equal" is exactly the complement; with
    // several, some comparison is false on every record.
    let falsy = match lits {
        [Lit::Str(_)] => Cond::field(f, FieldCond::NotIn(set), true),
        _ => Cond::unknown(),
    };
    (truthy, falsy)
}

/// Per node, whether it can raise an error when the record is a JSON
/// object (conservative: unknown is "yes"). Children come before parents,
/// so one pass suffices.
fn can_error(prog: &Program) -> Vec<bool> {
    let mut out = vec![true; prog.nodes.len()];
    for (i, node) in prog.nodes.iter().enumerate() {
        let any = |ids: &[Id]| ids.iter().any(|x| out[x.index()]);
        out[i] = match node {
            Node::Identity | Node::Empty | Node::Const(_) | Node::Var(_) | Node::Break(_) => false,
            Node::Try(_, None) => false,
            Node::Try(_, Some(c)) => out[c.index()],
            Node::Recurse(f) => out[f.index()],
            Node::Label(_, b) => out[b.index()],
            Node::Pipe(xs) | Node::Comma(xs) | Node::And(xs) | Node::Or(xs) | Node::Alt(xs) => {
                any(xs)
            }
            Node::If(c, a, b) => any(&[*c, *a, *b]),
            Node::Binary(op, a, b) if op.is_cmp() => any(&[*a, *b]),
            Node::Path(t, steps) => {
                // `.name` on the record (an object) cannot fail; a path
                // whose every step is optional cannot either.
                let root_field = matches!(prog.node(*t), Node::Identity)
                    && matches!(steps.as_slice(), [(Step::Field(_), _)]);
                let all_optional = steps.iter().all(|(_, opt)| *opt);
                !(root_field || all_optional) || out[t.index()]
            }
            Node::Bind(src, pats, body) => {
                !matches!(pats.as_slice(), [Pattern::Var(_)]) || any(&[*src, *body])
            }
            Node::Array(Some(x)) => out[x.index()],
            Node::Array(None) => false,
            Node::Builtin(Builtin::Not, _) => false,
            Node::Builtin(Builtin::Any2 | Builtin::All2, args) => any(args),
            _ => true,
        };
    }
    out
}

/// Per node, whether it can give no output without raising an error
/// (conservative: unknown is "yes"). Children come before parents.
fn may_be_empty(prog: &Program) -> Vec<bool> {
    let mut out = vec![true; prog.nodes.len()];
    for (i, node) in prog.nodes.iter().enumerate() {
        let any = |ids: &[Id]| ids.iter().any(|x| out[x.index()]);
        out[i] = match node {
            Node::Identity | Node::Const(_) | Node::Var(_) | Node::Format(_) => false,
            Node::Array(_) => false,
            Node::Path(t, steps) => {
                out[t.index()]
                    || steps.iter().any(|(step, opt)| {
                        *opt || !matches!(step, Step::Field(_)) // `.[]` of [], `.a?`, …
                    })
            }
            Node::Pipe(xs) | Node::And(xs) | Node::Or(xs) => any(xs),
            Node::Binary(_, a, b) => any(&[*a, *b]),
            Node::If(c, a, b) => any(&[*c, *a, *b]),
            Node::Regex(Builtin::Test, _, args) => any(args),
            Node::Builtin(Builtin::Any2 | Builtin::All2, _) => false,
            Node::Builtin(
                Builtin::Not
                | Builtin::AsciiDowncase
                | Builtin::AsciiUpcase
                | Builtin::Type
                | Builtin::Length
                | Builtin::ToString
                | Builtin::StartsWith,
                args,
            ) => any(args),
            _ => true,
        };
    }
    out
}

/// Combine `items` with an associative `f` as a balanced tree, so that a
/// long chain costs n log n in the size of the combined sets, not n².
fn tree_fold<T>(mut items: Vec<T>, f: impl Fn(T, T) -> T) -> Option<T> {
    while items.len() > 1 {
        let mut next = Vec::with_capacity(items.len().div_ceil(2));
        let mut it = items.into_iter();
        while let Some(a) = it.next() {
            next.push(match it.next() {
                Some(b) => f(a, b),
                None => a,
            });
        }
        items = next;
    }
    items.pop()
}
