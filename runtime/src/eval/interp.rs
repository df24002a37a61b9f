//! The interpreter: evaluates a rule's IR on one input with jq's
//! semantics, in continuation-passing style. `run` calls a continuation
//! for every output; the continuation's `Err` stops the producer, which is
//! how the first output ends an evaluation, how `limit`, `first`,
//! `label`/`break` and `any` stop their generators early, and how errors
//! travel. Nodes that produce at most one output (most of a typical rule)
//! are evaluated directly by `one`, with no continuation at all.
//!
//! `try` and `//` catch errors raised by their own body only: an error
//! raised downstream (inside the continuation) is stashed and replaced by
//! a marker while it unwinds through the body, then re-raised.
//!
//! Every step costs fuel; values built cost memory; recursion and value
//! nesting are counted; running out is [`Stop::Budget`], which nothing
//! catches. Each recursive step runs through a stack guard, so a deep
//! program or value never overflows the stack.

use std::cell::RefCell;
use std::rc::Rc;

use tattletail_compiler::ir::{
    Assign, Builtin, Format, Id, Node, Pattern, Program, Step, StrPiece, Var,
};
use tattletail_compiler::syntax::ast::BinOp;

use super::budget::{Exceeded, Limits};
use super::value::{self, Key, Map, Value};
use super::{funcs, json, Prepared};

/// Why evaluation stopped producing outputs.
#[derive(Debug)]
pub enum Stop<'t> {
    /// A jq error (catchable by `try`).
    Error(Value<'t>),
    /// `break` to the label (or `limit`, `first`, …) with this id.
    Break(u64),
    /// An error (or `break`) raised downstream of a `try`, `//` or `?//`,
    /// unwinding through its body; the construct that wrapped it unwraps
    /// it at its boundary (one layer per construct).
    Downstream(Box<Stop<'t>>),
    /// A budget ran out (never caught).
    Budget(Exceeded),
}

/// Result of a step.
pub type Res<'t> = Result<(), Stop<'t>>;

/// A continuation: what to do with each output.
pub type K<'a, 'p, 't> = &'a mut dyn FnMut(&mut Interp<'p, 't>, Value<'t>) -> Res<'t>;

impl Stop<'_> {
    /// Under its `Downstream` layers, a jq error?
    fn innermost_is_error(&self) -> bool {
        let mut s = self;
        while let Stop::Downstream(e) = s {
            s = e;
        }
        matches!(s, Stop::Error(_))
    }
}

/// Mark a stop that comes from a construct's continuation (see
/// [`Stop::Downstream`]).
pub fn downstream(e: Stop<'_>) -> Stop<'_> {
    Stop::Downstream(Box::new(e))
}

/// A jq error with a message.
pub fn err<'t>(msg: impl Into<String>) -> Stop<'t> {
    Stop::Error(Value::string(msg.into()))
}

/// How jq shows a value in an error message: its type and its JSON,
/// cut short.
pub fn describe(v: &Value<'_>) -> String {
    let mut s = String::new();
    let _ = json::write_value(&mut s, v, 8, 200);
    if s.len() > 40 {
        let mut cut = 37;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    format!("{} ({s})", v.type_name())
}

struct Frame<'t> {
    vars: RefCell<Vec<Value<'t>>>,
    closures: Vec<Closure<'t>>,
    parent: Option<Rc<Frame<'t>>>,
}

#[derive(Clone)]
struct Closure<'t> {
    body: Id,
    frame: Rc<Frame<'t>>,
}

/// The evaluation state for one rule on one input.
pub struct Interp<'p, 't> {
    pub(super) prog: &'p Program,
    pub(super) prep: &'p Prepared,
    root: Option<&'p super::root::RootIndex<'t>>,
    frame: Rc<Frame<'t>>,
    pub(super) limits: Limits,
    fuel: u64,
    alloc: u64,
    depth: usize,
    next_label: u64,
}

impl<'p, 't> Interp<'p, 't> {
    /// A fresh evaluation of `prog`.
    pub fn new(prog: &'p Program, prep: &'p Prepared, limits: Limits) -> Self {
        // Work billed outside an evaluation is no rule's.
        super::budget::take_billed(limits.steps);
        Interp {
            prog,
            prep,
            root: None,
            frame: Rc::new(Frame {
                vars: RefCell::new(vec![Value::Null; prog.slots as usize]),
                closures: Vec::new(),
                parent: None,
            }),
            limits,
            fuel: limits.steps,
            alloc: 0,
            depth: 0,
            next_label: 0,
        }
    }

    /// Read the record's top-level fields through `root`.
    pub fn with_root(mut self, root: &'p super::root::RootIndex<'t>) -> Self {
        self.root = Some(root);
        self
    }

    /// `.f` on `v`, through the record's field index when `v` is the
    /// record.
    #[inline]
    pub fn field(&self, v: &Value<'t>, f: &str) -> Result<Value<'t>, Stop<'t>> {
        if let Some(root) = self.root {
            if let Some(x) = root.get(v, f) {
                return Ok(x);
            }
        }
        index_field(v, f)
    }

    /// Work billed by value operations since the last step
    /// ([`super::budget::bill`]).
    #[inline]
    fn billed(&self) -> u64 {
        super::budget::take_billed(self.fuel)
    }

    /// Spend `n` steps.
    #[inline]
    pub fn charge(&mut self, n: u64) -> Result<(), Stop<'t>> {
        let n = n.saturating_add(self.billed());
        if self.fuel < n {
            self.fuel = 0;
            return Err(Stop::Budget(Exceeded::Steps));
        }
        self.fuel -= n;
        Ok(())
    }

    /// Account for `bytes` of values built.
    #[inline]
    pub fn alloc(&mut self, bytes: usize) -> Result<(), Stop<'t>> {
        self.alloc += bytes as u64;
        if self.alloc > self.limits.memory {
            return Err(Stop::Budget(Exceeded::Memory));
        }
        Ok(())
    }

    /// A string the rule built, checked against the limits.
    pub fn new_str(&mut self, s: String) -> Result<Value<'t>, Stop<'t>> {
        if s.len() > self.limits.string {
            return Err(Stop::Budget(Exceeded::String));
        }
        self.alloc(s.len())?;
        Ok(Value::Str(Rc::from(s)))
    }

    /// An array the rule built, checked against the limits.
    pub fn new_array(&mut self, items: Vec<Value<'t>>) -> Result<Value<'t>, Stop<'t>> {
        self.check_items(items.len())?;
        let v = Value::array(items);
        self.check_depth(&v)?;
        Ok(v)
    }

    /// An object the rule built, checked against the limits.
    pub fn new_object(&mut self, map: Map<'t>) -> Result<Value<'t>, Stop<'t>> {
        self.check_items(map.len())?;
        self.alloc(map.len() * 48)?;
        let v = Value::object(map);
        self.check_depth(&v)?;
        Ok(v)
    }

    /// Refuse collections over the size limit.
    pub fn check_items(&mut self, n: usize) -> Result<(), Stop<'t>> {
        if n > self.limits.items {
            return Err(Stop::Budget(Exceeded::Items));
        }
        self.alloc(n * 24)
    }

    /// Refuse values nested over the limit.
    pub fn check_depth(&self, v: &Value<'t>) -> Result<(), Stop<'t>> {
        if v.owned_depth() as usize > self.limits.depth {
            return Err(Stop::Budget(Exceeded::Depth));
        }
        Ok(())
    }

    /// A fresh id for a label or an early stop.
    pub fn label(&mut self) -> u64 {
        self.next_label += 1;
        self.next_label
    }

    fn enter(&mut self) -> Result<(), Stop<'t>> {
        self.depth += 1;
        if self.depth > self.limits.recursion {
            self.depth -= 1;
            return Err(Stop::Budget(Exceeded::Recursion));
        }
        let cost = 1 + self.billed();
        if self.fuel < cost {
            self.fuel = 0;
            self.depth -= 1;
            return Err(Stop::Budget(Exceeded::Steps));
        }
        self.fuel -= cost;
        Ok(())
    }

    fn node(&self, id: Id) -> &'p Node {
        &self.prog.nodes[id.index()]
    }

    pub(crate) fn single(&self, id: Id) -> bool {
        self.prog.single[id.index()]
    }

    fn frame_up(&self, up: u16) -> Rc<Frame<'t>> {
        let mut f = self.frame.clone();
        for _ in 0..up {
            f = f
                .parent
                .clone()
                .expect("the static chain is as deep as the IR says");
        }
        f
    }

    fn var(&self, v: Var) -> Value<'t> {
        if v.up == 0 {
            return self.frame.vars.borrow()[v.slot as usize].clone();
        }
        self.frame_up(v.up).vars.borrow()[v.slot as usize].clone()
    }

    fn set_var(&self, slot: u16, v: Value<'t>) {
        self.frame.vars.borrow_mut()[slot as usize] = v;
    }

    /// Evaluate `id` on `input` and pass every output to `k`.
    pub fn run(&mut self, id: Id, input: Value<'t>, k: K<'_, 'p, 't>) -> Res<'t> {
        if self.single(id) {
            return match self.one(id, input)? {
                Some(v) => k(self, v),
                None => Ok(()),
            };
        }
        self.enter()?;
        let r = if self.depth % 4 == 0 {
            // The outputs come back through a chain of continuations as
            // deep as the evaluation (a closure parameter of a recursive
            // function passes through every level): guard them too.
            tattletail_compiler::stack::guard(|| {
                self.run_many(id, input, &mut |ev, v| {
                    tattletail_compiler::stack::guard(|| k(ev, v))
                })
            })
        } else {
            self.run_many(id, input, k)
        };
        self.depth -= 1;
        r
    }

    /// The output of a node that has at most one.
    pub fn one(&mut self, id: Id, input: Value<'t>) -> Result<Option<Value<'t>>, Stop<'t>> {
        debug_assert!(self.single(id), "one() on a generator");
        self.enter()?;
        let r = if self.depth % 4 == 0 {
            tattletail_compiler::stack::guard(|| self.one_inner(id, input))
        } else {
            self.one_inner(id, input)
        };
        self.depth -= 1;
        r
    }

    /// The first output of any node (stops it after one).
    pub fn first(&mut self, id: Id, input: Value<'t>) -> Result<Option<Value<'t>>, Stop<'t>> {
        if self.single(id) {
            return self.one(id, input);
        }
        let label = self.label();
        let mut out = None;
        let r = self.run(id, input, &mut |_, v| {
            out = Some(v);
            Err(Stop::Break(label))
        });
        match r {
            Ok(()) => Ok(out),
            Err(Stop::Break(l)) if l == label => Ok(out),
            Err(e) => Err(e),
        }
    }

    /// Every output of a node, collected.
    pub fn collect(&mut self, id: Id, input: Value<'t>) -> Result<Vec<Value<'t>>, Stop<'t>> {
        let mut out = Vec::new();
        if self.single(id) {
            out.extend(self.one(id, input)?);
            return Ok(out);
        }
        let limit = self.limits.items;
        self.run(id, input, &mut |ev, v| {
            if out.len() >= limit {
                return Err(Stop::Budget(Exceeded::Items));
            }
            ev.alloc(24)?;
            out.push(v);
            Ok(())
        })?;
        Ok(out)
    }

    fn one_inner(&mut self, id: Id, input: Value<'t>) -> Result<Option<Value<'t>>, Stop<'t>> {
        Ok(Some(match self.node(id) {
            Node::Identity => input,
            Node::Empty => return Ok(None),
            Node::Const(_) => self.constant(id),
            Node::Var(v) => self.var(*v),
            Node::Format(f) => self.format(*f, input)?,
            Node::Path(t, steps) => {
                let Some(mut v) = self.one(*t, input.clone())? else {
                    return Ok(None);
                };
                for (step, opt) in steps {
                    let r = match step {
                        Step::Field(f) => self.field(&v, f),
                        Step::Index(k) => match self.one(*k, input.clone())? {
                            Some(key) => index(&v, &key),
                            None => return Ok(None),
                        },
                        Step::Slice(a, b) => {
                            let from = match a {
                                Some(a) => match self.one(*a, input.clone())? {
                                    Some(x) => x,
                                    None => return Ok(None),
                                },
                                None => Value::Null,
                            };
                            let to = match b {
                                Some(b) => match self.one(*b, input.clone())? {
                                    Some(x) => x,
                                    None => return Ok(None),
                                },
                                None => Value::Null,
                            };
                            slice(&v, &from, &to)
                        }
                        Step::Iterate => unreachable!("a path with .[] is not single"),
                    };
                    v = match r {
                        Ok(x) => x,
                        Err(_) if *opt => return Ok(None),
                        Err(e) => return Err(e),
                    };
                }
                v
            }
            Node::Pipe(xs) => {
                let mut v = input;
                for x in xs {
                    match self.one(*x, v)? {
                        Some(o) => v = o,
                        None => return Ok(None),
                    }
                }
                v
            }
            Node::Alt(xs) => {
                let (last, rest) = xs.split_last().expect("// has operands");
                for x in rest {
                    if let Some(v) = self.one(*x, input.clone())? {
                        if v.truthy() {
                            return Ok(Some(v));
                        }
                    }
                }
                return self.one(*last, input);
            }
            Node::And(xs) => {
                for x in xs {
                    match self.one(*x, input.clone())? {
                        None => return Ok(None),
                        Some(v) if !v.truthy() => return Ok(Some(Value::Bool(false))),
                        Some(_) => {}
                    }
                }
                Value::Bool(true)
            }
            Node::Or(xs) => {
                for x in xs {
                    match self.one(*x, input.clone())? {
                        None => return Ok(None),
                        Some(v) if v.truthy() => return Ok(Some(Value::Bool(true))),
                        Some(_) => {}
                    }
                }
                Value::Bool(false)
            }
            Node::Neg(a) => match self.one(*a, input)? {
                Some(v) => negate(v)?,
                None => return Ok(None),
            },
            Node::Binary(op, a, b) => {
                let Some(r) = self.one(*b, input.clone())? else {
                    return Ok(None);
                };
                let Some(l) = self.one(*a, input)? else {
                    return Ok(None);
                };
                self.binary(*op, l, r)?
            }
            Node::Bind(src, pats, body) => {
                let Some(v) = self.one(*src, input.clone())? else {
                    return Ok(None);
                };
                if let Pattern::Var(slot) = &pats[0] {
                    self.set_var(*slot, v);
                    return self.one(*body, input);
                }
                // Single: the pattern's keys have one output each.
                let body = *body;
                let mut out = None;
                self.destructure(&pats[0], v, input.clone(), &mut |ev| {
                    out = ev.one(body, input.clone())?;
                    Ok(())
                })?;
                return Ok(out);
            }
            Node::Reduce(..) => return self.reduce(id, input),
            Node::If(c, a, b) => {
                let Some(cv) = self.one(*c, input.clone())? else {
                    return Ok(None);
                };
                let branch = if cv.truthy() { *a } else { *b };
                return self.one(branch, input);
            }
            Node::Try(body, catch) => match self.one(*body, input) {
                Ok(v) => return Ok(v),
                Err(Stop::Error(e)) => match catch {
                    None => return Ok(None),
                    Some(_) if matches!(e, Value::Null) => return Ok(None),
                    Some(c) => return self.one(*c, e),
                },
                Err(other) => return Err(other),
            },
            Node::Label(slot, body) => {
                let l = self.label();
                self.set_var(*slot, Value::Int(l as i64));
                return match self.one(*body, input) {
                    Err(Stop::Break(x)) if x == l => Ok(None),
                    r => r,
                };
            }
            Node::Break(v) => {
                let Value::Int(l) = self.var(*v) else {
                    return Err(err("break without a label"));
                };
                return Err(Stop::Break(l as u64));
            }
            Node::Array(inner) => {
                let items = match inner {
                    Some(i) => self.collect(*i, input)?,
                    None => Vec::new(),
                };
                self.new_array(items)?
            }
            Node::Object(kvs) => {
                let mut map = Map::with_capacity_and_hasher(kvs.len(), Default::default());
                for (k, v) in kvs {
                    let Some(kv) = self.one(*k, input.clone())? else {
                        return Ok(None);
                    };
                    let Some(vv) = self.one(*v, input.clone())? else {
                        return Ok(None);
                    };
                    map.insert(object_key(kv)?, vv);
                }
                self.new_object(map)?
            }
            Node::Str(fmt, pieces) => {
                // As jq and gojq (and `string` below): the last piece is
                // evaluated (and formatted) first, so `"\(error)\(empty)"`
                // is empty, not an error.
                let mut parts: Vec<String> = Vec::with_capacity(pieces.len());
                for p in pieces.iter().rev() {
                    match p {
                        StrPiece::Lit(t) => parts.push(t.to_string()),
                        StrPiece::Expr(e) => {
                            let Some(v) = self.one(*e, input.clone())? else {
                                return Ok(None);
                            };
                            let mut s = String::new();
                            self.format_into(*fmt, &v, &mut s)?;
                            parts.push(s);
                        }
                    }
                }
                let s: String = parts.iter().rev().map(String::as_str).collect();
                self.new_str(s)?
            }
            Node::Assign(op, lhs, rhs) => {
                let mut out = None;
                self.assign(*op, *lhs, *rhs, input, &mut |_, v| {
                    out = Some(v);
                    Ok(())
                })?;
                return Ok(out);
            }
            Node::InFrame(up, body) => {
                let target = self.frame_up(*up);
                let saved = std::mem::replace(&mut self.frame, target);
                let r = self.one(*body, input);
                self.frame = saved;
                return r;
            }
            Node::Builtin(b, args) => return self.builtin_one(*b, args, input),
            Node::Regex(b, idx, args) => {
                return super::regex::literal_one(self, *b, *idx, args, input)
            }
            Node::Recurse(_)
            | Node::RecurseCond(..)
            | Node::Comma(_)
            | Node::Foreach(..)
            | Node::Call(..)
            | Node::Param(..) => unreachable!("not single"),
        }))
    }

    fn constant(&self, id: Id) -> Value<'t> {
        self.prep.consts[id.index()]
            .clone()
            .expect("constants are prepared")
    }

    fn run_many(&mut self, id: Id, input: Value<'t>, k: K<'_, 'p, 't>) -> Res<'t> {
        match self.node(id) {
            Node::Path(t, steps) => self.path(input.clone(), *t, steps, steps.len(), input, k),
            Node::Recurse(f) => self.recurse(*f, None, input, k),
            Node::RecurseCond(f, c) => self.recurse(*f, Some(*c), input, k),
            Node::Pipe(xs) => self.pipe(xs, input, k),
            Node::Comma(xs) => {
                for x in xs {
                    self.run(*x, input.clone(), k)?;
                }
                Ok(())
            }
            Node::Alt(xs) => {
                let (last, rest) = xs.split_last().expect("// has operands");
                for x in rest {
                    let mut found = false;
                    let r = self.run(*x, input.clone(), &mut |ev, v| {
                        if !v.truthy() {
                            return Ok(());
                        }
                        found = true;
                        k(ev, v).map_err(downstream)
                    });
                    match r {
                        Err(Stop::Downstream(e)) => return Err(*e),
                        Err(e) => return Err(e),
                        Ok(()) => {}
                    }
                    if found {
                        return Ok(());
                    }
                }
                self.run(*last, input, k)
            }
            Node::And(xs) => self.and_or(xs, xs.len(), true, input, k),
            Node::Or(xs) => self.and_or(xs, xs.len(), false, input, k),
            Node::Neg(a) => self.run(*a, input, &mut |ev, v| {
                let n = negate(v)?;
                k(ev, n)
            }),
            Node::Binary(op, a, b) => {
                let (op, a, b) = (*op, *a, *b);
                self.run(b, input.clone(), &mut |ev, r| {
                    ev.run(a, input.clone(), &mut |ev, l| {
                        let v = ev.binary(op, l, r.clone())?;
                        k(ev, v)
                    })
                })
            }
            Node::Bind(src, pats, body) => {
                let (body, pats) = (*body, pats);
                if pats.len() == 1 {
                    return self.run(*src, input.clone(), &mut |ev, v| {
                        ev.destructure(&pats[0], v, input.clone(), &mut |ev| {
                            ev.run(body, input.clone(), k)
                        })
                    });
                }
                self.run(*src, input.clone(), &mut |ev, v| {
                    ev.alternatives(pats, v, body, input.clone(), k)
                })
            }
            Node::Reduce(..) => match self.reduce(id, input)? {
                Some(v) => k(self, v),
                None => Ok(()),
            },
            Node::Foreach(src, pat, init, update, extract) => {
                let (src, init, update, extract) = (*src, *init, *update, *extract);
                // Once per output of init (gojq and jq agree here).
                self.run(init, input.clone(), &mut |ev, first| {
                    let mut state = first;
                    ev.run(src, input.clone(), &mut |ev, x| {
                        ev.destructure(pat, x, input.clone(), &mut |ev| {
                            let outs = ev.collect(update, state.clone())?;
                            for u in outs {
                                state = u.clone();
                                match extract {
                                    Some(e) => ev.run(e, u, k)?,
                                    None => k(ev, u)?,
                                }
                            }
                            Ok(())
                        })
                    })
                })
            }
            Node::If(c, a, b) => {
                let (a, b) = (*a, *b);
                self.run(*c, input.clone(), &mut |ev, cv| {
                    let branch = if cv.truthy() { a } else { b };
                    ev.run(branch, input.clone(), k)
                })
            }
            Node::Try(body, catch) => {
                let catch = *catch;
                let r = self.run(*body, input, &mut |ev, v| k(ev, v).map_err(downstream));
                match r {
                    Ok(()) => Ok(()),
                    Err(Stop::Downstream(e)) => Err(*e),
                    Err(Stop::Error(e)) => match catch {
                        None => Ok(()),
                        Some(_) if matches!(e, Value::Null) => Ok(()),
                        Some(c) => self.run(c, e, k),
                    },
                    Err(other) => Err(other),
                }
            }
            Node::Label(slot, body) => {
                let l = self.label();
                self.set_var(*slot, Value::Int(l as i64));
                match self.run(*body, input, k) {
                    Err(Stop::Break(x)) if x == l => Ok(()),
                    r => r,
                }
            }
            Node::Object(kvs) => self.object(kvs, 0, Map::default(), input, k),
            Node::Str(fmt, pieces) => {
                self.string(*fmt, pieces, pieces.len(), String::new(), input, k)
            }
            Node::Assign(op, lhs, rhs) => self.assign(*op, *lhs, *rhs, input, k),
            Node::Call(..) | Node::Param(..) | Node::InFrame(..) => {
                let (frame, body) = self.callee(id);
                self.in_frame(frame, body, input, k)
            }
            Node::Builtin(b, args) => self.builtin_many(*b, args, input, k),
            Node::Regex(b, idx, args) => super::regex::literal_many(self, *b, *idx, args, input, k),
            Node::Identity
            | Node::Empty
            | Node::Const(_)
            | Node::Var(_)
            | Node::Format(_)
            | Node::Break(_)
            | Node::Array(_) => unreachable!("single nodes go through one()"),
        }
    }

    /// Run `body` in `frame`, and the continuation back in this one.
    fn in_frame(
        &mut self,
        frame: Rc<Frame<'t>>,
        body: Id,
        input: Value<'t>,
        k: K<'_, 'p, 't>,
    ) -> Res<'t> {
        let caller = std::mem::replace(&mut self.frame, frame);
        let back = caller.clone();
        let r = self.run(body, input, &mut |ev, v| {
            let inner = std::mem::replace(&mut ev.frame, back.clone());
            let r = k(ev, v);
            ev.frame = inner;
            r
        });
        self.frame = caller;
        r
    }

    fn pipe(&mut self, xs: &'p [Id], input: Value<'t>, k: K<'_, 'p, 't>) -> Res<'t> {
        match xs {
            [] => k(self, input),
            [x] => self.run(*x, input, k),
            [x, rest @ ..] => self.run(*x, input, &mut |ev, v| ev.pipe(rest, v, k)),
        }
    }

    fn and_or(
        &mut self,
        xs: &'p [Id],
        n: usize,
        and: bool,
        input: Value<'t>,
        k: K<'_, 'p, 't>,
    ) -> Res<'t> {
        if n == 1 {
            return self.run(xs[0], input, &mut |ev, v| k(ev, Value::Bool(v.truthy())));
        }
        let last = xs[n - 1];
        self.and_or(xs, n - 1, and, input.clone(), &mut |ev, l| {
            if l.truthy() != and {
                return k(ev, Value::Bool(!and));
            }
            ev.run(last, input.clone(), &mut |ev, r| {
                k(ev, Value::Bool(r.truthy()))
            })
        })
    }

    /// A path's outputs: steps `..n` applied to the outputs of `t`; each
    /// step's index is evaluated on the path's own input (the outer loop,
    /// as in jq).
    fn path(
        &mut self,
        pinput: Value<'t>,
        t: Id,
        steps: &'p [(Step, bool)],
        n: usize,
        input: Value<'t>,
        k: K<'_, 'p, 't>,
    ) -> Res<'t> {
        if n == 0 {
            return self.run(t, input, k);
        }
        let (step, opt) = &steps[n - 1];
        let opt = *opt;
        let apply = |ev: &mut Self, r: Result<Value<'t>, Stop<'t>>, k: K<'_, 'p, 't>| match r {
            Ok(x) => k(ev, x),
            Err(_) if opt => Ok(()),
            Err(e) => Err(e),
        };
        match step {
            Step::Field(f) => self.path(pinput.clone(), t, steps, n - 1, input, &mut |ev, v| {
                let r = ev.field(&v, f);
                apply(ev, r, k)
            }),
            Step::Index(key) => self.run(*key, pinput.clone(), &mut |ev, key| {
                ev.path(
                    pinput.clone(),
                    t,
                    steps,
                    n - 1,
                    input.clone(),
                    &mut |ev, v| apply(ev, index(&v, &key), k),
                )
            }),
            Step::Slice(a, b) => {
                let (a, b) = (*a, *b);
                self.opt_run(a, pinput.clone(), &mut |ev, from| {
                    ev.opt_run(b, pinput.clone(), &mut |ev, to| {
                        ev.path(
                            pinput.clone(),
                            t,
                            steps,
                            n - 1,
                            input.clone(),
                            &mut |ev, v| apply(ev, slice(&v, &from, &to), k),
                        )
                    })
                })
            }
            Step::Iterate => self.path(pinput.clone(), t, steps, n - 1, input, &mut |ev, v| {
                ev.iterate(v, opt, k)
            }),
        }
    }

    /// Outputs of an optional node, or `null` once when absent.
    fn opt_run(&mut self, id: Option<Id>, input: Value<'t>, k: K<'_, 'p, 't>) -> Res<'t> {
        match id {
            Some(id) => self.run(id, input, k),
            None => k(self, Value::Null),
        }
    }

    /// `.[]` on a value.
    pub fn iterate(&mut self, v: Value<'t>, opt: bool, k: K<'_, 'p, 't>) -> Res<'t> {
        match &v {
            Value::TArr(_) | Value::Arr(_) => {
                for x in v.array_iter() {
                    self.charge(1)?;
                    k(self, x)?;
                }
                Ok(())
            }
            Value::TObj(_) | Value::Obj(_) => {
                for (_, x) in v.object_entries() {
                    self.charge(1)?;
                    k(self, x)?;
                }
                Ok(())
            }
            _ if opt => Ok(()),
            _ => Err(err(format!("Cannot iterate over {}", describe_short(&v)))),
        }
    }

    fn recurse(&mut self, f: Id, cond: Option<Id>, input: Value<'t>, k: K<'_, 'p, 't>) -> Res<'t> {
        // `..` (recurse(.[]?)): walk the value directly.
        if cond.is_none() && self.is_iterate_opt(f) {
            return self.walk_all(input, 0, k);
        }
        self.recurse_with(f, cond, input, 0, k)
    }

    fn is_iterate_opt(&self, f: Id) -> bool {
        matches!(self.node(f), Node::Path(t, steps)
            if matches!(self.node(*t), Node::Identity)
                && matches!(steps.as_slice(), [(Step::Iterate, true)]))
    }

    fn walk_all(&mut self, v: Value<'t>, depth: usize, k: K<'_, 'p, 't>) -> Res<'t> {
        if depth > self.limits.depth {
            return Err(Stop::Budget(Exceeded::Depth));
        }
        self.charge(1)?;
        let container = v.is_array() || v.is_object();
        k(self, v.clone())?;
        if !container {
            return Ok(());
        }
        tattletail_compiler::stack::guard(|| v.for_each_child(|x| self.walk_all(x, depth + 1, k)))
    }

    fn recurse_with(
        &mut self,
        f: Id,
        cond: Option<Id>,
        input: Value<'t>,
        depth: usize,
        k: K<'_, 'p, 't>,
    ) -> Res<'t> {
        if depth > self.limits.recursion {
            return Err(Stop::Budget(Exceeded::Recursion));
        }
        // A chain (`recurse(.parent)`): a loop, not a recursion.
        if cond.is_none() && self.single(f) {
            let mut cur = input;
            loop {
                k(self, cur.clone())?;
                match self.one(f, cur)? {
                    Some(next) => cur = next,
                    None => return Ok(()),
                }
            }
        }
        k(self, input.clone())?;
        tattletail_compiler::stack::guard(|| {
            self.run(f, input, &mut |ev, v| match cond {
                Some(c) => ev.run(c, v.clone(), &mut |ev, cv| {
                    if cv.truthy() {
                        ev.recurse_with(f, Some(c), v.clone(), depth + 1, k)
                    } else {
                        Ok(())
                    }
                }),
                None => ev.recurse_with(f, None, v, depth + 1, k),
            })
        })
    }

    fn object(
        &mut self,
        kvs: &'p [(Id, Id)],
        i: usize,
        acc: Map<'t>,
        input: Value<'t>,
        k: K<'_, 'p, 't>,
    ) -> Res<'t> {
        if i == kvs.len() {
            let v = self.new_object(acc)?;
            return k(self, v);
        }
        let (key, val) = kvs[i];
        self.run(key, input.clone(), &mut |ev, kv| {
            let key = object_key(kv)?;
            ev.run(val, input.clone(), &mut |ev, vv| {
                let mut next = acc.clone();
                next.insert(key.clone(), vv);
                ev.object(kvs, i + 1, next, input.clone(), k)
            })
        })
    }

    /// An interpolated string: the last interpolation is the outer loop.
    fn string(
        &mut self,
        fmt: Format,
        pieces: &'p [StrPiece],
        n: usize,
        suffix: String,
        input: Value<'t>,
        k: K<'_, 'p, 't>,
    ) -> Res<'t> {
        if n == 0 {
            let v = self.new_str(suffix)?;
            return k(self, v);
        }
        match &pieces[n - 1] {
            StrPiece::Lit(t) => {
                let s = format!("{t}{suffix}");
                self.string(fmt, pieces, n - 1, s, input, k)
            }
            StrPiece::Expr(e) => self.run(*e, input.clone(), &mut |ev, v| {
                let mut s = String::new();
                ev.format_into(fmt, &v, &mut s)?;
                s.push_str(&suffix);
                ev.string(fmt, pieces, n - 1, s, input.clone(), k)
            }),
        }
    }

    /// Bind a pattern to `v` (keys evaluated on `input`), then run `k`
    /// once per binding.
    pub fn destructure(
        &mut self,
        pat: &'p Pattern,
        v: Value<'t>,
        input: Value<'t>,
        k: &mut dyn FnMut(&mut Self) -> Res<'t>,
    ) -> Res<'t> {
        match pat {
            Pattern::Var(slot) => {
                self.set_var(*slot, v);
                k(self)
            }
            Pattern::Array(ps) => self.destructure_array(ps, 0, v, input, k),
            Pattern::Object(es) => self.destructure_object(es, 0, v, input, k),
        }
    }

    fn destructure_array(
        &mut self,
        ps: &'p [Pattern],
        i: usize,
        v: Value<'t>,
        input: Value<'t>,
        k: &mut dyn FnMut(&mut Self) -> Res<'t>,
    ) -> Res<'t> {
        if i == ps.len() {
            return k(self);
        }
        // An array pattern takes arrays (or null) only, not strings.
        if v.as_str().is_some() {
            return Err(err(format!("Cannot index {} with number", v.type_name())));
        }
        let item = index(&v, &Value::Int(i as i64))?;
        self.destructure(&ps[i], item, input.clone(), &mut |ev| {
            ev.destructure_array(ps, i + 1, v.clone(), input.clone(), k)
        })
    }

    fn destructure_object(
        &mut self,
        es: &'p [tattletail_compiler::ir::ObjPattern],
        i: usize,
        v: Value<'t>,
        input: Value<'t>,
        k: &mut dyn FnMut(&mut Self) -> Res<'t>,
    ) -> Res<'t> {
        if i == es.len() {
            return k(self);
        }
        let e = &es[i];
        // Key expressions see the value being destructured.
        self.run(e.key, v.clone(), &mut |ev, key| {
            if key.as_str().is_none() {
                return Err(err(format!(
                    "Cannot index {} with {}",
                    v.type_name(),
                    describe_short(&key)
                )));
            }
            let item = index(&v, &key)?;
            if let Some(slot) = e.bind {
                ev.set_var(slot, item.clone());
            }
            match &e.value {
                Some(p) => ev.destructure(p, item, input.clone(), &mut |ev| {
                    ev.destructure_object(es, i + 1, v.clone(), input.clone(), k)
                }),
                None => ev.destructure_object(es, i + 1, v.clone(), input.clone(), k),
            }
        })
    }

    /// `?//`: each alternative in turn until one runs without error.
    fn alternatives(
        &mut self,
        pats: &'p [Pattern],
        v: Value<'t>,
        body: Id,
        input: Value<'t>,
        k: K<'_, 'p, 't>,
    ) -> Res<'t> {
        let mut slots = Vec::new();
        for p in pats {
            p.slots(&mut slots);
        }
        for (i, p) in pats.iter().enumerate() {
            for s in &slots {
                self.set_var(*s, Value::Null);
            }
            if i + 1 == pats.len() {
                return self.destructure(p, v.clone(), input.clone(), &mut |ev| {
                    ev.run(body, input.clone(), k)
                });
            }
            // As in jq and gojq, an error raised while this alternative is
            // bound moves on to the next one: in the pattern, in the body,
            // or downstream of it (even beyond an enclosing `try`).
            // (A `break` does too in jq and gojq; here it does not, as the
            // first-output driver stops with one.)
            let r = self.destructure(p, v.clone(), input.clone(), &mut |ev| {
                ev.run(body, input.clone(), &mut |ev, o| {
                    k(ev, o).map_err(downstream)
                })
            });
            match r {
                Ok(()) => return Ok(()),
                Err(Stop::Error(_)) => continue,
                Err(Stop::Downstream(e)) if e.innermost_is_error() => continue,
                Err(Stop::Downstream(e)) => return Err(*e),
                Err(other) => return Err(other),
            }
        }
        Ok(())
    }

    /// `reduce`: the last output of `init` (as gojq), then each output of
    /// the source folded in; an update's last output is the new state, no
    /// output keeps the state.
    fn reduce(&mut self, id: Id, input: Value<'t>) -> Result<Option<Value<'t>>, Stop<'t>> {
        let Node::Reduce(src, pat, init, update) = self.node(id) else {
            unreachable!()
        };
        let (src, init, update) = (*src, *init, *update);
        let Some(mut acc) = self.last_output(init, input.clone())? else {
            return Ok(None);
        };
        self.run(src, input.clone(), &mut |ev, x| {
            ev.destructure(pat, x, input.clone(), &mut |ev| {
                if let Some(v) = ev.last_output(update, acc.clone())? {
                    acc = v;
                }
                Ok(())
            })
        })?;
        Ok(Some(acc))
    }

    /// The last output of a node.
    pub fn last_output(&mut self, id: Id, input: Value<'t>) -> Result<Option<Value<'t>>, Stop<'t>> {
        if self.single(id) {
            return self.one(id, input);
        }
        let mut last = None;
        self.run(id, input, &mut |_, v| {
            last = Some(v);
            Ok(())
        })?;
        Ok(last)
    }

    fn binary(&mut self, op: BinOp, l: Value<'t>, r: Value<'t>) -> Result<Value<'t>, Stop<'t>> {
        self.charge(1)?;
        match op {
            BinOp::Eq => Ok(Value::Bool(value::equal(&l, &r))),
            BinOp::Ne => Ok(Value::Bool(!value::equal(&l, &r))),
            BinOp::Lt => Ok(Value::Bool(value::compare(&l, &r).is_lt())),
            BinOp::Le => Ok(Value::Bool(value::compare(&l, &r).is_le())),
            BinOp::Gt => Ok(Value::Bool(value::compare(&l, &r).is_gt())),
            BinOp::Ge => Ok(Value::Bool(value::compare(&l, &r).is_ge())),
            _ => funcs::arith(self, op, l, r),
        }
    }

    fn assign(
        &mut self,
        op: Assign,
        lhs: Id,
        rhs: Id,
        input: Value<'t>,
        k: K<'_, 'p, 't>,
    ) -> Res<'t> {
        match op {
            Assign::Update => {
                let paths = self.collect_paths(lhs, input.clone())?;
                let mut acc = input;
                let mut deleted = Vec::new();
                for p in paths {
                    let cur = super::paths::getpath(&acc, &p)?;
                    match self.first(rhs, cur)? {
                        Some(v) => acc = super::paths::setpath(self, &acc, &p, v)?,
                        None => deleted.push(p),
                    }
                }
                if !deleted.is_empty() {
                    acc = super::paths::delpaths(self, &acc, deleted)?;
                }
                k(self, acc)
            }
            _ => self.run(rhs, input.clone(), &mut |ev, x| {
                let paths = ev.collect_paths(lhs, input.clone())?;
                let mut acc = input.clone();
                for p in paths {
                    let v = match op {
                        Assign::Set => x.clone(),
                        Assign::Arith(b) => {
                            let cur = super::paths::getpath(&acc, &p)?;
                            funcs::arith(ev, b, cur, x.clone())?
                        }
                        Assign::Alt => {
                            let cur = super::paths::getpath(&acc, &p)?;
                            if cur.truthy() {
                                cur
                            } else {
                                x.clone()
                            }
                        }
                        Assign::Update => unreachable!(),
                    };
                    acc = super::paths::setpath(ev, &acc, &p, v)?;
                }
                k(ev, acc)
            }),
        }
    }

    /// Every path `id` produces on `input`.
    pub fn collect_paths(
        &mut self,
        id: Id,
        input: Value<'t>,
    ) -> Result<Vec<Vec<Value<'t>>>, Stop<'t>> {
        let mut out = Vec::new();
        let limit = self.limits.items;
        self.run_paths(id, Vec::new(), input, &mut |_, p, _| {
            if out.len() >= limit {
                return Err(Stop::Budget(Exceeded::Items));
            }
            out.push(p);
            Ok(())
        })?;
        Ok(out)
    }

    /// Evaluate `id` as a path expression: every output with its path from
    /// the root value.
    pub fn run_paths(
        &mut self,
        id: Id,
        path: Vec<Value<'t>>,
        v: Value<'t>,
        k: &mut dyn FnMut(&mut Self, Vec<Value<'t>>, Value<'t>) -> Res<'t>,
    ) -> Res<'t> {
        self.enter()?;
        let r = tattletail_compiler::stack::guard(|| super::paths::run_paths(self, id, path, v, k));
        self.depth -= 1;
        r
    }

    pub(super) fn node_at(&self, id: Id) -> &'p Node {
        self.node(id)
    }

    /// The frame and body that a call-like node runs: a recursive
    /// function's new frame, a closure's frame, or an enclosing frame.
    fn callee(&self, id: Id) -> (Rc<Frame<'t>>, Id) {
        match self.node(id) {
            Node::Call(func, args, up) => {
                let f = &self.prog.funcs[func.0 as usize];
                let closures = args
                    .iter()
                    .map(|&a| Closure {
                        body: a,
                        frame: self.frame.clone(),
                    })
                    .collect();
                let frame = Rc::new(Frame {
                    vars: RefCell::new(vec![Value::Null; f.slots as usize]),
                    closures,
                    parent: Some(self.frame_up(*up)),
                });
                (frame, f.body)
            }
            Node::Param(up, index) => {
                let mut c = self.frame_up(*up).closures[*index as usize].clone();
                // A closure that only forwards another closure (`def f(g):
                // … f(g)` passes `g` down a level) is resolved here, in a
                // loop: a chain of k of them costs k steps, not k nested
                // evaluations (deep native recursion, a stack segment per
                // level).
                let mut hops = 0;
                while let Node::Param(up, index) = self.node(c.body) {
                    let mut f = c.frame.clone();
                    for _ in 0..*up {
                        f = f
                            .parent
                            .clone()
                            .expect("the static chain is as deep as the IR says");
                    }
                    c = f.closures[*index as usize].clone();
                    hops += 1;
                }
                if hops > 0 {
                    // Over budget is reported by the next step taken.
                    let _ = super::budget::bill(hops);
                }
                (c.frame, c.body)
            }
            Node::InFrame(up, body) => (self.frame_up(*up), *body),
            _ => unreachable!("not a call"),
        }
    }

    /// Path mode through a call-like node ([`Self::callee`]).
    pub(super) fn paths_via_call(
        &mut self,
        id: Id,
        path: Vec<Value<'t>>,
        v: Value<'t>,
        k: &mut dyn FnMut(&mut Self, Vec<Value<'t>>, Value<'t>) -> Res<'t>,
    ) -> Res<'t> {
        let (frame, body) = self.callee(id);
        let caller = std::mem::replace(&mut self.frame, frame);
        let back = caller.clone();
        let r = self.run_paths(body, path, v, &mut |ev, p, x| {
            let inner = std::mem::replace(&mut ev.frame, back.clone());
            let r = k(ev, p, x);
            ev.frame = inner;
            r
        });
        self.frame = caller;
        r
    }

    pub(super) fn set_slot(&self, slot: u16, v: Value<'t>) {
        self.set_var(slot, v)
    }

    pub(super) fn read_var(&self, v: Var) -> Value<'t> {
        self.var(v)
    }

    /// `@fmt` of a value.
    pub fn format(&mut self, f: Format, v: Value<'t>) -> Result<Value<'t>, Stop<'t>> {
        if f == Format::Text {
            if let Value::TStr(_) | Value::Str(_) = v {
                return Ok(v);
            }
        }
        let mut s = String::new();
        self.format_into(f, &v, &mut s)?;
        self.new_str(s)
    }

    /// Append `@fmt` of a value to `out`.
    pub fn format_into(
        &mut self,
        f: Format,
        v: &Value<'t>,
        out: &mut String,
    ) -> Result<(), Stop<'t>> {
        super::format::format_into(self, f, v, out)
    }

    /// `tojson` into a string, with the limits.
    pub fn write_json(&mut self, v: &Value<'t>, out: &mut String) -> Result<(), Stop<'t>> {
        let max = self.limits.string;
        match json::write_value(out, v, self.limits.depth, max) {
            Ok(()) => {
                self.charge(1 + out.len() as u64 / 64)?;
                Ok(())
            }
            Err(json::WriteError::TooDeep) => Err(Stop::Budget(Exceeded::Depth)),
            Err(json::WriteError::TooLong) => Err(Stop::Budget(Exceeded::String)),
        }
    }

    fn builtin_one(
        &mut self,
        b: Builtin,
        args: &'p [Id],
        input: Value<'t>,
    ) -> Result<Option<Value<'t>>, Stop<'t>> {
        super::builtins::one(self, b, args, input)
    }

    fn builtin_many(
        &mut self,
        b: Builtin,
        args: &'p [Id],
        input: Value<'t>,
        k: K<'_, 'p, 't>,
    ) -> Res<'t> {
        super::builtins::many(self, b, args, input, k)
    }
}

fn negate<'t>(v: Value<'t>) -> Result<Value<'t>, Stop<'t>> {
    match v {
        Value::Int(i) => Ok(i
            .checked_neg()
            .map_or(Value::Float(-(i as f64)), Value::Int)),
        Value::Float(f) => Ok(Value::Float(-f)),
        other => Err(err(format!("{} cannot be negated", describe(&other)))),
    }
}

/// A short description for messages about types (`string ("abc")`).
pub fn describe_short(v: &Value<'_>) -> String {
    describe(v)
}

/// An object key from a value.
pub fn object_key<'t>(k: Value<'t>) -> Result<Key<'t>, Stop<'t>> {
    match k {
        Value::TStr(s) => Ok(Key::T(s)),
        Value::Str(s) => Ok(Key::R(s)),
        other => Err(err(format!(
            "Object keys must be strings, not {}",
            describe(&other)
        ))),
    }
}

/// `.name` on a value.
#[inline]
pub fn index_field<'t>(v: &Value<'t>, f: &str) -> Result<Value<'t>, Stop<'t>> {
    match v {
        Value::TObj(_) | Value::Obj(_) => Ok(v.object_get(f).unwrap_or(Value::Null)),
        Value::Null => Ok(Value::Null),
        other => Err(err(format!(
            "Cannot index {} with \"{f}\"",
            other.type_name()
        ))),
    }
}

/// `.[key]` on a value, with jq's rules for each type pair.
pub fn index<'t>(v: &Value<'t>, key: &Value<'t>) -> Result<Value<'t>, Stop<'t>> {
    match (v, key) {
        (Value::TObj(_) | Value::Obj(_), Value::TStr(_) | Value::Str(_)) => Ok(v
            .object_get(key.as_str().unwrap_or_default())
            .unwrap_or(Value::Null)),
        (Value::TArr(_) | Value::Arr(_), Value::Int(i)) => {
            Ok(v.array_get(*i).unwrap_or(Value::Null))
        }
        (Value::TArr(_) | Value::Arr(_), Value::Float(f)) => {
            if f.is_nan() {
                return Ok(Value::Null);
            }
            // gojq truncates fractional indices towards zero.
            Ok(v.array_get(f.trunc() as i64).unwrap_or(Value::Null))
        }
        // gojq 0.12 indexes strings by code point.
        (Value::TStr(_) | Value::Str(_), Value::Int(_) | Value::Float(_)) => {
            let s = v.as_str().unwrap_or_default();
            let i = key.as_f64().unwrap_or(0.0);
            if i.is_nan() {
                return Ok(Value::Null);
            }
            let i = i.trunc() as i64;
            let len = s.chars().count() as i64;
            let i = if i < 0 { i + len } else { i };
            if i < 0 || i >= len {
                return Ok(Value::Null);
            }
            Ok(s.chars()
                .nth(i as usize)
                .map_or(Value::Null, |c| Value::string(c.to_string())))
        }
        (
            Value::Null,
            Value::TStr(_) | Value::Str(_) | Value::Int(_) | Value::Float(_) | Value::Null,
        ) => Ok(Value::Null),
        (Value::TArr(_) | Value::Arr(_), Value::TArr(_) | Value::Arr(_)) => {
            funcs::array_indices(v, key).map_err(Stop::Budget)
        }
        (
            Value::Null | Value::TArr(_) | Value::Arr(_) | Value::TStr(_) | Value::Str(_),
            Value::TObj(_) | Value::Obj(_),
        ) if key.object_get("start").is_some() && key.object_get("end").is_some() => {
            let from = key.object_get("start").unwrap_or(Value::Null);
            let to = key.object_get("end").unwrap_or(Value::Null);
            slice(v, &from, &to)
        }
        _ => Err(err(format!(
            "Cannot index {} with {}",
            v.type_name(),
            match key {
                Value::TStr(s) => format!("\"{s}\""),
                Value::Str(s) => format!("\"{s}\""),
                other => other.type_name().to_string(),
            }
        ))),
    }
}

/// Slice bounds for a sequence of `len`: jq clamps, floors the start and
/// rounds the end up.
pub fn slice_bounds<'t>(
    len: usize,
    from: &Value<'t>,
    to: &Value<'t>,
) -> Result<(usize, usize), Stop<'t>> {
    let len_i = len as i64;
    let conv = |v: &Value<'t>, default: i64, up: bool| -> Result<i64, Stop<'t>> {
        match v {
            Value::Null => Ok(default),
            Value::Int(i) => Ok(*i),
            // gojq truncates fractional bounds.
            Value::Float(f) => Ok({
                let _ = up;
                f.trunc().clamp(-9e18, 9e18) as i64
            }),
            other => Err(err(format!(
                "Start and end indices of an array slice must be numbers, not {}",
                other.type_name()
            ))),
        }
    };
    let mut a = conv(from, 0, false)?;
    let mut b = conv(to, len_i, true)?;
    if a < 0 {
        a += len_i;
    }
    if b < 0 {
        b += len_i;
    }
    let a = a.clamp(0, len_i) as usize;
    let b = b.clamp(0, len_i) as usize;
    Ok((a, b.max(a)))
}

/// `.[from:to]` on an array, a string (by code points) or null.
pub fn slice<'t>(v: &Value<'t>, from: &Value<'t>, to: &Value<'t>) -> Result<Value<'t>, Stop<'t>> {
    match v {
        Value::Null => Ok(Value::Null),
        Value::TArr(_) | Value::Arr(_) => {
            let len = v.array_len().unwrap_or(0);
            let (a, b) = slice_bounds(len, from, to)?;
            let items: Vec<Value<'t>> = v.array_iter().skip(a).take(b - a).collect();
            Ok(Value::array(items))
        }
        Value::TStr(_) | Value::Str(_) => {
            let s = v.as_str().unwrap_or_default();
            let len = s.chars().count();
            let (a, b) = slice_bounds(len, from, to)?;
            let out: String = s.chars().skip(a).take(b - a).collect();
            Ok(Value::string(out))
        }
        other => Err(err(format!(
            "Cannot index {} with object",
            other.type_name()
        ))),
    }
}
