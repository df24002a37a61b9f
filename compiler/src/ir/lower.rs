//! Lowering: syntax tree → IR. This is the only code that resolves names.
//!
//! Scopes are persistent linked lists, so a `def` keeps the scope it was
//! written in: its body sees the definitions before it, itself, its
//! parameters and nothing the caller adds. Builtins written in jq come
//! from the prelude, whose bodies see only the prelude and the natives.
//! A call of a non-recursive `def` is inlined: each argument is lowered
//! once in the caller's scope and every use of the parameter refers to
//! that node. A recursive `def` becomes a [`Func`] called through frames;
//! an inlined argument used from inside one is wrapped in
//! [`Node::InFrame`] so that its variables still resolve in the frame it
//! was written in.
//!
//! Errors are collected: an undefined name is reported and replaced by
//! `empty`, and lowering goes on to find the next problem.

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::OnceLock;

use super::builtins::{self, Builtin, PRELUDE, REFUSED};
use super::*;
use crate::syntax::ast::{
    self, Expr, ExprKind, FuncDef, NumLit, ObjKey, ObjPatKey, Param, StrPart, Suffix,
};
use crate::syntax::{self, Span};

/// Most IR nodes one rule may expand to (after inlining its functions).
pub const MAX_NODES: usize = 200_000;

/// Deepest chain of inlined calls.
const MAX_INLINE_DEPTH: usize = 200;

/// Most variable slots in one frame.
const MAX_SLOTS: u16 = u16::MAX - 1;

/// A problem found while lowering.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LowerError {
    /// What is wrong.
    pub message: String,
    /// Where in the rule's jq source.
    pub span: Span,
    /// How to fix it.
    pub help: Option<String>,
}

enum Binding<'a> {
    Var {
        name: &'a str,
        depth: u16,
        slot: u16,
    },
    Label {
        name: &'a str,
        depth: u16,
        slot: u16,
    },
    /// A filter parameter of an inlined call: the argument's node, lowered
    /// at frame depth `depth`.
    Arg {
        name: &'a str,
        node: Id,
        depth: u16,
    },
    /// A `$name` parameter of an inlined call whose argument is a
    /// constant: uses of `$name` are that constant.
    Const {
        name: &'a str,
        node: Id,
    },
    /// A filter parameter of a recursive function whose frame is at
    /// `depth`.
    FuncParam {
        name: &'a str,
        depth: u16,
        index: u16,
    },
    Def(Rc<DefBinding<'a>>),
}

struct DefBinding<'a> {
    def: &'a FuncDef,
    /// The scope the `def` was written in (without itself).
    scope: Scope<'a>,
    /// Frame depth where it was defined.
    depth: u16,
    recursive: bool,
    func: Cell<Option<FuncId>>,
}

#[derive(Clone, Default)]
struct Scope<'a>(Option<Rc<ScopeNode<'a>>>);

struct ScopeNode<'a> {
    binding: Binding<'a>,
    parent: Scope<'a>,
}

impl<'a> Scope<'a> {
    fn with(&self, binding: Binding<'a>) -> Scope<'a> {
        Scope(Some(Rc::new(ScopeNode {
            binding,
            parent: self.clone(),
        })))
    }

    fn iter(&self) -> impl Iterator<Item = &Binding<'a>> {
        let mut cur = self.0.as_deref();
        std::iter::from_fn(move || {
            let node = cur?;
            cur = node.parent.0.as_deref();
            Some(&node.binding)
        })
    }
}

/// The prelude, parsed once per process.
fn prelude() -> &'static [FuncDef] {
    static DEFS: OnceLock<Vec<FuncDef>> = OnceLock::new();
    DEFS.get_or_init(|| {
        let src = format!("{PRELUDE}\n.");
        let e = syntax::parse(&src).expect("the prelude parses");
        match e.kind {
            ExprKind::Defs(defs, _) => defs,
            _ => Vec::new(),
        }
    })
}

struct Lowerer<'a> {
    nodes: Vec<Node>,
    spans: Vec<Span>,
    funcs: Vec<Option<Func>>,
    regexes: Vec<RegexLit>,
    regex_ids: HashMap<(String, String), u32>,
    errors: Vec<LowerError>,
    /// Frame depth of the code being lowered.
    depth: u16,
    /// Slot counters: the main frame, then one per function being lowered.
    slots: Vec<u16>,
    /// Span to give nodes made for prelude code (the call site).
    span: Span,
    inline_depth: usize,
    prelude: HashMap<(&'static str, usize), &'static FuncDef>,
    too_big: bool,
    _scope: std::marker::PhantomData<Scope<'a>>,
}

/// Lower a parsed program. Every problem is reported.
pub fn lower(expr: &Expr) -> Result<Program, Vec<LowerError>> {
    let prelude_map = prelude()
        .iter()
        .map(|d| ((d.name.as_str(), d.params.len()), d))
        .collect();
    let mut l = Lowerer {
        nodes: Vec::new(),
        spans: Vec::new(),
        funcs: Vec::new(),
        regexes: Vec::new(),
        regex_ids: HashMap::new(),
        errors: Vec::new(),
        depth: 0,
        slots: vec![0],
        span: expr.span,
        inline_depth: 0,
        prelude: prelude_map,
        too_big: false,
        _scope: std::marker::PhantomData,
    };
    let root = l.expr(expr, &Scope::default(), false);
    if !l.errors.is_empty() {
        return Err(l.errors);
    }
    let funcs = l
        .funcs
        .into_iter()
        .map(|f| f.expect("every function is lowered"))
        .collect();
    let mut program = Program {
        nodes: l.nodes,
        spans: l.spans,
        root,
        funcs,
        slots: l.slots[0],
        regexes: l.regexes,
        single: Vec::new(),
    };
    program.single = props::single_outputs(&program);
    Ok(program)
}

fn num(n: NumLit) -> Const {
    match n {
        NumLit::Int(i) => Const::Int(i),
        NumLit::Float(f) => Const::Float(f),
    }
}

impl<'a> Lowerer<'a> {
    fn push(&mut self, node: Node, span: Span) -> Id {
        if self.nodes.len() >= MAX_NODES {
            if !self.too_big {
                self.too_big = true;
                self.errors.push(LowerError {
                    message: format!(
                        "the rule expands to more than {MAX_NODES} operations once its functions are inlined"
                    ),
                    span,
                    help: Some("split it into several rules, or use fewer nested function calls".into()),
                });
            }
            // Keep going with a placeholder so that other errors are found.
            return Id(0);
        }
        self.nodes.push(node);
        self.spans.push(span);
        Id(self.nodes.len() as u32 - 1)
    }

    fn error(&mut self, message: impl Into<String>, span: Span, help: Option<String>) -> Id {
        self.errors.push(LowerError {
            message: message.into(),
            span,
            help,
        });
        self.push(Node::Empty, span)
    }

    fn new_slot(&mut self, span: Span) -> u16 {
        let top = self.slots.last_mut().expect("a frame");
        if *top >= MAX_SLOTS {
            self.errors.push(LowerError {
                message: "the rule binds too many variables".into(),
                span,
                help: None,
            });
            return 0;
        }
        *top += 1;
        *top - 1
    }

    /// Spans of prelude code are the call site's.
    fn span_of(&self, e: &Expr, in_prelude: bool) -> Span {
        if in_prelude {
            self.span
        } else {
            e.span
        }
    }

    fn expr(&mut self, e: &'a Expr, scope: &Scope<'a>, pre: bool) -> Id {
        crate::stack::guard(|| self.expr_inner(e, scope, pre))
    }

    fn expr_inner(&mut self, e: &'a Expr, scope: &Scope<'a>, pre: bool) -> Id {
        let span = self.span_of(e, pre);
        match &e.kind {
            ExprKind::Identity => self.push(Node::Identity, span),
            ExprKind::RecurseAll => {
                let id = self.push(Node::Identity, span);
                let step = self.push(Node::Path(id, vec![(Step::Iterate, true)]), span);
                self.push(Node::Recurse(step), span)
            }
            ExprKind::Num(n) => self.push(Node::Const(num(*n)), span),
            ExprKind::Str(fmt, parts) => self.string(fmt.as_deref(), parts, scope, pre, span),
            ExprKind::Format(name) => match Format::from_name(name) {
                Some(f) => self.push(Node::Format(f), span),
                None => self.unknown_format(name, span),
            },
            ExprKind::Array(None) => self.push(Node::Const(Const::Array(Vec::new())), span),
            ExprKind::Array(Some(inner)) => {
                let i = self.expr(inner, scope, pre);
                self.fold_array(i, span)
            }
            ExprKind::Object(entries) => self.object(entries, scope, pre, span),
            ExprKind::Neg(x) => {
                let i = self.expr(x, scope, pre);
                match self.nodes.get(i.index()) {
                    Some(Node::Const(Const::Int(n))) if *n != i64::MIN => {
                        let n = -*n;
                        self.push(Node::Const(Const::Int(n)), span)
                    }
                    Some(Node::Const(Const::Float(f))) => {
                        let f = -*f;
                        self.push(Node::Const(Const::Float(f)), span)
                    }
                    _ => self.push(Node::Neg(i), span),
                }
            }
            ExprKind::Pipe(items) => {
                let ids = items.iter().map(|x| self.expr(x, scope, pre)).collect();
                self.push(Node::Pipe(ids), span)
            }
            ExprKind::Comma(items) => {
                let ids = items.iter().map(|x| self.expr(x, scope, pre)).collect();
                self.push(Node::Comma(ids), span)
            }
            ExprKind::Alt(items) => {
                let ids = items.iter().map(|x| self.expr(x, scope, pre)).collect();
                self.push(Node::Alt(ids), span)
            }
            ExprKind::Or(items) => {
                let ids = items.iter().map(|x| self.expr(x, scope, pre)).collect();
                self.push(Node::Or(ids), span)
            }
            ExprKind::And(items) => {
                let ids = items.iter().map(|x| self.expr(x, scope, pre)).collect();
                self.push(Node::And(ids), span)
            }
            ExprKind::Binary(op, a, b) => {
                let (a, b) = (self.expr(a, scope, pre), self.expr(b, scope, pre));
                self.push(Node::Binary(*op, a, b), span)
            }
            ExprKind::Assign(op, lhs, rhs) => {
                let (l, r) = (self.expr(lhs, scope, pre), self.expr(rhs, scope, pre));
                let op = match op {
                    ast::AssignOp::Set => Assign::Set,
                    ast::AssignOp::Update => Assign::Update,
                    ast::AssignOp::Arith(b) => Assign::Arith(*b),
                    ast::AssignOp::Alt => Assign::Alt,
                };
                self.push(Node::Assign(op, l, r), span)
            }
            ExprKind::Bind(source, patterns, body) => {
                let src = self.expr(source, scope, pre);
                let (inner, pats) = self.patterns(patterns, scope, pre);
                let b = self.expr(body, &inner, pre);
                self.push(Node::Bind(src, pats, b), span)
            }
            ExprKind::Reduce(source, pattern, init, update) => {
                let src = self.expr(source, scope, pre);
                let init = self.expr(init, scope, pre);
                let (inner, mut pats) = self.patterns(std::slice::from_ref(pattern), scope, pre);
                let upd = self.expr(update, &inner, pre);
                self.push(Node::Reduce(src, pats.remove(0), init, upd), span)
            }
            ExprKind::Foreach(source, pattern, init, update, extract) => {
                let src = self.expr(source, scope, pre);
                let init = self.expr(init, scope, pre);
                let (inner, mut pats) = self.patterns(std::slice::from_ref(pattern), scope, pre);
                let upd = self.expr(update, &inner, pre);
                let ext = extract.as_ref().map(|x| self.expr(x, &inner, pre));
                self.push(Node::Foreach(src, pats.remove(0), init, upd, ext), span)
            }
            ExprKind::If(branches, otherwise) => {
                let mut acc = match otherwise {
                    Some(x) => self.expr(x, scope, pre),
                    None => self.push(Node::Identity, span),
                };
                // Conditions are lowered in order (for the order of errors),
                // then nested from the last branch.
                let lowered: Vec<(Id, Id)> = branches
                    .iter()
                    .map(|(c, t)| (self.expr(c, scope, pre), self.expr(t, scope, pre)))
                    .collect();
                for (c, t) in lowered.into_iter().rev() {
                    acc = self.push(Node::If(c, t, acc), span);
                }
                acc
            }
            ExprKind::Try(body, catch) => {
                let b = self.expr(body, scope, pre);
                let c = catch.as_ref().map(|c| self.expr(c, scope, pre));
                self.push(Node::Try(b, c), span)
            }
            ExprKind::Optional(body) => {
                let b = self.expr(body, scope, pre);
                self.push(Node::Try(b, None), span)
            }
            ExprKind::Label(name, body) => {
                let slot = self.new_slot(span);
                let inner = scope.with(Binding::Label {
                    name,
                    depth: self.depth,
                    slot,
                });
                let b = self.expr(body, &inner, pre);
                self.push(Node::Label(slot, b), span)
            }
            ExprKind::Break(name) => {
                let found = scope.iter().find_map(|b| match b {
                    Binding::Label {
                        name: n,
                        depth,
                        slot,
                    } if *n == name => Some((*depth, *slot)),
                    _ => None,
                });
                match found {
                    Some((depth, slot)) => self.push(
                        Node::Break(Var {
                            up: self.depth - depth,
                            slot,
                        }),
                        span,
                    ),
                    None => self.error(
                        format!("`break ${name}` has no enclosing `label ${name}`"),
                        span,
                        None,
                    ),
                }
            }
            ExprKind::Defs(defs, body) => {
                let mut inner = scope.clone();
                for d in defs {
                    let binding = DefBinding {
                        def: d,
                        scope: inner.clone(),
                        depth: self.depth,
                        recursive: calls_itself(d),
                        func: Cell::new(None),
                    };
                    inner = inner.with(Binding::Def(Rc::new(binding)));
                }
                self.expr(body, &inner, pre)
            }
            ExprKind::Call(name, args) => self.call(name, args, scope, pre, span),
            ExprKind::Var(name) => self.var(name, scope, span),
            ExprKind::Loc(line) => self.push(Node::Const(loc(*line)), span),
            ExprKind::Index(target, suffix, optional) => {
                let t = self.expr(target, scope, pre);
                let step = match suffix {
                    Suffix::Field(f) => Step::Field(f.clone()),
                    Suffix::Index(i) => {
                        let i = self.expr(i, scope, pre);
                        match &self.nodes.get(i.index()) {
                            Some(Node::Const(Const::Str(s))) => Step::Field(s.clone()),
                            _ => Step::Index(i),
                        }
                    }
                    Suffix::Slice(a, b) => {
                        let a = a.as_ref().map(|a| self.expr(a, scope, pre));
                        let b = b.as_ref().map(|b| self.expr(b, scope, pre));
                        Step::Slice(a, b)
                    }
                    Suffix::Iterate => Step::Iterate,
                };
                // `.a.b`: extend the target's path, which lowering the
                // target just made (so it is not shared).
                if matches!(target.kind, ExprKind::Index(..)) {
                    if let Some(Node::Path(_, steps)) = self.nodes.get_mut(t.index()) {
                        steps.push((step, *optional));
                        return t;
                    }
                }
                self.push(Node::Path(t, vec![(step, *optional)]), span)
            }
        }
    }

    fn unknown_format(&mut self, name: &str, span: Span) -> Id {
        self.error(
            format!("unknown format `@{name}`"),
            span,
            Some("formats are @text, @json, @html, @uri, @csv, @tsv, @sh, @base64, @base64d, @base32 and @base32d".into()),
        )
    }

    fn fold_array(&mut self, inner: Id, span: Span) -> Id {
        let items: Option<Vec<Const>> = match &self.nodes[inner.index()] {
            Node::Const(c) => Some(vec![c.clone()]),
            Node::Comma(xs) => xs
                .iter()
                .map(|x| match &self.nodes[x.index()] {
                    Node::Const(c) => Some(c.clone()),
                    _ => None,
                })
                .collect(),
            _ => None,
        };
        match items {
            Some(items) => self.push(Node::Const(Const::Array(items)), span),
            None => self.push(Node::Array(Some(inner)), span),
        }
    }

    fn string(
        &mut self,
        fmt: Option<&str>,
        parts: &'a [StrPart],
        scope: &Scope<'a>,
        pre: bool,
        span: Span,
    ) -> Id {
        let format = match fmt {
            None => Format::Text,
            Some(name) => match Format::from_name(name) {
                Some(f) => f,
                None => return self.unknown_format(name, span),
            },
        };
        let mut pieces = Vec::new();
        for p in parts {
            match p {
                StrPart::Text(t) => match pieces.last_mut() {
                    Some(StrPiece::Lit(s)) => s.push_str(t),
                    _ => pieces.push(StrPiece::Lit(t.clone())),
                },
                StrPart::Interp(e) => {
                    let id = self.expr(e, scope, pre);
                    pieces.push(StrPiece::Expr(id));
                }
            }
        }
        match pieces.as_slice() {
            [] => self.push(Node::Const(Const::Str(String::new())), span),
            [StrPiece::Lit(s)] => {
                let s = s.clone();
                self.push(Node::Const(Const::Str(s)), span)
            }
            _ => self.push(Node::Str(format, pieces), span),
        }
    }

    fn object(
        &mut self,
        entries: &'a [ast::ObjEntry],
        scope: &Scope<'a>,
        pre: bool,
        span: Span,
    ) -> Id {
        let mut kvs = Vec::new();
        for en in entries {
            let espan = if pre { span } else { en.span };
            let (k, v) = match &en.key {
                ObjKey::Name(n) => {
                    let k = self.push(Node::Const(Const::Str(n.clone())), espan);
                    let v = match &en.value {
                        Some(v) => self.expr(v, scope, pre),
                        None => {
                            let id = self.push(Node::Identity, espan);
                            self.push(Node::Path(id, vec![(Step::Field(n.clone()), false)]), espan)
                        }
                    };
                    (k, v)
                }
                ObjKey::Var(n) => match &en.value {
                    // `{$x: v}`: the key is the variable's value.
                    Some(v) => {
                        let k = self.var(n, scope, espan);
                        (k, self.expr(v, scope, pre))
                    }
                    None => {
                        let k = self.push(Node::Const(Const::Str(n.clone())), espan);
                        (k, self.var(n, scope, espan))
                    }
                },
                ObjKey::Loc(line) => {
                    let k = self.push(Node::Const(Const::Str("__loc__".into())), espan);
                    let v = match &en.value {
                        Some(v) => self.expr(v, scope, pre),
                        None => self.push(Node::Const(loc(*line)), espan),
                    };
                    (k, v)
                }
                ObjKey::Str(s) => {
                    let k = self.expr(s, scope, pre);
                    let v = match &en.value {
                        Some(v) => self.expr(v, scope, pre),
                        None => {
                            let id = self.push(Node::Identity, espan);
                            let step = match &self.nodes[k.index()] {
                                Node::Const(Const::Str(s)) => Step::Field(s.clone()),
                                _ => Step::Index(k),
                            };
                            self.push(Node::Path(id, vec![(step, false)]), espan)
                        }
                    };
                    (k, v)
                }
                ObjKey::Expr(x) => {
                    let k = self.expr(x, scope, pre);
                    let v = match &en.value {
                        Some(v) => self.expr(v, scope, pre),
                        None => self.push(Node::Identity, espan),
                    };
                    (k, v)
                }
            };
            kvs.push((k, v));
        }
        // All constant: one constant object (last duplicate key wins).
        let consts: Option<Vec<(String, Const)>> = kvs
            .iter()
            .map(
                |(k, v)| match (&self.nodes[k.index()], &self.nodes[v.index()]) {
                    (Node::Const(Const::Str(k)), Node::Const(v)) => Some((k.clone(), v.clone())),
                    _ => None,
                },
            )
            .collect();
        if let Some(pairs) = consts {
            let mut out: Vec<(String, Const)> = Vec::new();
            for (k, v) in pairs {
                match out.iter_mut().find(|(x, _)| *x == k) {
                    Some(slot) => slot.1 = v,
                    None => out.push((k, v)),
                }
            }
            return self.push(Node::Const(Const::Object(out)), span);
        }
        self.push(Node::Object(kvs), span)
    }

    /// Bind the variables of `patterns` (alternatives of `?//` share
    /// variables by name) and lower their key expressions.
    fn patterns(
        &mut self,
        patterns: &'a [ast::Pattern],
        scope: &Scope<'a>,
        pre: bool,
    ) -> (Scope<'a>, Vec<Pattern>) {
        let mut names: Vec<(&'a str, Span)> = Vec::new();
        fn collect<'a>(p: &'a ast::Pattern, out: &mut Vec<(&'a str, Span)>) {
            match p {
                ast::Pattern::Var(n, s) => out.push((n, *s)),
                ast::Pattern::Array(ps) => ps.iter().for_each(|p| collect(p, out)),
                ast::Pattern::Object(es) => {
                    for e in es {
                        if let ObjPatKey::Var(n, s) = &e.key {
                            out.push((n, *s));
                        }
                        if let Some(v) = &e.value {
                            collect(v, out);
                        }
                    }
                }
            }
        }
        for p in patterns {
            collect(p, &mut names);
        }
        let mut inner = scope.clone();
        let mut slots: HashMap<&str, u16> = HashMap::new();
        for (n, s) in names {
            if slots.contains_key(n) {
                continue;
            }
            let slot = self.new_slot(s);
            slots.insert(n, slot);
            inner = inner.with(Binding::Var {
                name: n,
                depth: self.depth,
                slot,
            });
        }
        let pats = patterns
            .iter()
            .map(|p| self.pattern(p, &inner, &slots, pre))
            .collect();
        (inner, pats)
    }

    fn pattern(
        &mut self,
        p: &'a ast::Pattern,
        scope: &Scope<'a>,
        slots: &HashMap<&str, u16>,
        pre: bool,
    ) -> Pattern {
        match p {
            ast::Pattern::Var(n, _) => Pattern::Var(slots[n.as_str()]),
            ast::Pattern::Array(ps) => Pattern::Array(
                ps.iter()
                    .map(|p| self.pattern(p, scope, slots, pre))
                    .collect(),
            ),
            ast::Pattern::Object(es) => {
                let mut out = Vec::new();
                for e in es {
                    let (key, bind) = match &e.key {
                        ObjPatKey::Var(n, s) => {
                            let span = if pre { self.span } else { *s };
                            (
                                self.push(Node::Const(Const::Str(n.clone())), span),
                                Some(slots[n.as_str()]),
                            )
                        }
                        ObjPatKey::Name(n) => (
                            self.push(Node::Const(Const::Str(n.clone())), self.span),
                            None,
                        ),
                        ObjPatKey::Str(x) | ObjPatKey::Expr(x) => (self.expr(x, scope, pre), None),
                    };
                    let value = e.value.as_ref().map(|v| self.pattern(v, scope, slots, pre));
                    out.push(ObjPattern { key, bind, value });
                }
                Pattern::Object(out)
            }
        }
    }

    fn var(&mut self, name: &str, scope: &Scope<'a>, span: Span) -> Id {
        let found = scope.iter().find_map(|b| match b {
            Binding::Var {
                name: n,
                depth,
                slot,
            } if *n == name => Some(Ok((*depth, *slot))),
            Binding::Const { name: n, node } if *n == name => Some(Err(*node)),
            _ => None,
        });
        if let Some(Err(node)) = found {
            return node;
        }
        if let Some(Ok((depth, slot))) = found {
            return self.push(
                Node::Var(Var {
                    up: self.depth - depth,
                    slot,
                }),
                span,
            );
        }
        match name {
            "ENV" => self.push(Node::Const(Const::Object(Vec::new())), span),
            "__prog_args" => self.error(
                "`$__prog_args` cannot be used in a rule: it refers to command-line arguments, which a rule does not have",
                span,
                None,
            ),
            _ => self.error(
                format!("undefined variable `${name}`"),
                span,
                Some("bind it first, e.g. `.eventName as $name | …`".into()),
            ),
        }
    }

    fn call(
        &mut self,
        name: &'a str,
        args: &'a [Expr],
        scope: &Scope<'a>,
        pre: bool,
        span: Span,
    ) -> Id {
        let arity = args.len();
        // The rule's own definitions and parameters first.
        let found = scope.iter().find_map(|b| match b {
            Binding::Def(d) if d.def.name == name && d.def.params.len() == arity => {
                Some(Ok(d.clone()))
            }
            Binding::Arg {
                name: n,
                node,
                depth,
            } if *n == name && arity == 0 => Some(Err((*node, *depth, None))),
            Binding::FuncParam {
                name: n,
                depth,
                index,
            } if *n == name && arity == 0 => Some(Err((Id(0), *depth, Some(*index)))),
            _ => None,
        });
        match found {
            Some(Ok(def)) => return self.call_def(&def, args, scope, pre, span),
            Some(Err((node, depth, None))) => {
                return if depth == self.depth {
                    node
                } else {
                    self.push(Node::InFrame(self.depth - depth, node), span)
                };
            }
            Some(Err((_, depth, Some(index)))) => {
                return self.push(Node::Param(self.depth - depth, index), span)
            }
            None => {}
        }
        // Special forms.
        let lowered: Option<Id> = match (name, arity) {
            ("empty", 0) => Some(self.push(Node::Empty, span)),
            ("true", 0) => Some(self.push(Node::Const(Const::Bool(true)), span)),
            ("false", 0) => Some(self.push(Node::Const(Const::Bool(false)), span)),
            ("null", 0) => Some(self.push(Node::Const(Const::Null), span)),
            ("env", 0) => Some(self.push(Node::Const(Const::Object(Vec::new())), span)),
            ("input_filename", 0) => Some(self.push(Node::Const(Const::Null), span)),
            ("debug" | "stderr", 0) => Some(self.push(Node::Identity, span)),
            ("debug", 1) => Some(self.push(Node::Identity, span)),
            ("builtins", 0) => {
                let names = builtins::known_names()
                    .into_iter()
                    .map(|(n, a)| Const::Str(format!("{n}/{a}")))
                    .collect();
                Some(self.push(Node::Const(Const::Array(names)), span))
            }
            ("select", 1) => {
                let c = self.expr(&args[0], scope, pre);
                let id = self.push(Node::Identity, span);
                let empty = self.push(Node::Empty, span);
                Some(self.push(Node::If(c, id, empty), span))
            }
            ("recurse", 0) => {
                let id = self.push(Node::Identity, span);
                let step = self.push(Node::Path(id, vec![(Step::Iterate, true)]), span);
                Some(self.push(Node::Recurse(step), span))
            }
            ("recurse", 1) => {
                let f = self.expr(&args[0], scope, pre);
                Some(self.push(Node::Recurse(f), span))
            }
            ("recurse", 2) => {
                let f = self.expr(&args[0], scope, pre);
                let c = self.expr(&args[1], scope, pre);
                Some(self.push(Node::RecurseCond(f, c), span))
            }
            _ => None,
        };
        if let Some(id) = lowered {
            return id;
        }
        if let Some(def) = self.prelude.get(&(name, arity)).copied() {
            return self.inline(def, &Scope::default(), args, scope, pre, span, true);
        }
        if let Some(b) = Builtin::lookup(name, arity) {
            let ids: Vec<Id> = args.iter().map(|a| self.expr(a, scope, pre)).collect();
            return self.builtin(b, ids, span);
        }
        if let Some((_, why)) = REFUSED.iter().find(|(n, _)| *n == name) {
            return self.error(
                format!("`{name}` cannot be used in a rule: it {why}"),
                span,
                None,
            );
        }
        let help = suggest(name, arity, scope);
        self.error(format!("undefined function `{name}/{arity}`"), span, help)
    }

    fn builtin(&mut self, b: Builtin, args: Vec<Id>, span: Span) -> Id {
        // A literal regex is compiled now.
        if matches!(
            b,
            Builtin::Test | Builtin::Match | Builtin::Split2 | Builtin::Sub
        ) {
            let flags_arg = if b == Builtin::Sub { args[2] } else { args[1] };
            let pattern = match &self.nodes[args[0].index()] {
                Node::Const(Const::Str(s)) => Some(s.clone()),
                _ => None,
            };
            let flags = match &self.nodes[flags_arg.index()] {
                Node::Const(Const::Str(s)) => Some(s.clone()),
                Node::Const(Const::Null) => Some(String::new()),
                _ => None,
            };
            if let (Some(pattern), Some(flags)) = (pattern, flags) {
                let pattern_span = self.spans[args[0].index()];
                match self.regex(&pattern, &flags, pattern_span) {
                    Some(idx) => {
                        let rest = if b == Builtin::Sub {
                            vec![args[1]]
                        } else {
                            Vec::new()
                        };
                        return self.push(Node::Regex(b, idx, rest), span);
                    }
                    None => return self.push(Node::Empty, span),
                }
            }
        }
        self.push(Node::Builtin(b, args), span)
    }

    fn regex(&mut self, pattern: &str, flags: &str, span: Span) -> Option<u32> {
        if let Some(&i) = self
            .regex_ids
            .get(&(pattern.to_string(), flags.to_string()))
        {
            return Some(i);
        }
        match crate::regex::compile(pattern, flags, crate::regex::LITERAL_SIZE_LIMIT) {
            Ok(r) => {
                let idx = self.regexes.len() as u32;
                self.regexes.push(r);
                self.regex_ids
                    .insert((pattern.to_string(), flags.to_string()), idx);
                Some(idx)
            }
            Err(e) => {
                self.errors.push(LowerError {
                    message: e.message,
                    span,
                    help: e.help,
                });
                None
            }
        }
    }

    fn call_def(
        &mut self,
        d: &Rc<DefBinding<'a>>,
        args: &'a [Expr],
        scope: &Scope<'a>,
        pre: bool,
        span: Span,
    ) -> Id {
        if !d.recursive {
            let def_scope = d.scope.with(Binding::Def(d.clone()));
            return self.inline(d.def, &def_scope, args, scope, pre, span, false);
        }
        let func = match d.func.get() {
            Some(f) => f,
            None => self.lower_func(d),
        };
        let closures = args.iter().map(|a| self.expr(a, scope, pre)).collect();
        let up = self.depth - d.depth;
        self.push(Node::Call(func, closures, up), span)
    }

    /// Lower a recursive `def` as a function with its own frame.
    fn lower_func(&mut self, d: &Rc<DefBinding<'a>>) -> FuncId {
        let id = FuncId(self.funcs.len() as u32);
        self.funcs.push(None);
        d.func.set(Some(id));
        let saved_depth = self.depth;
        self.depth = d.depth + 1;
        self.slots.push(0);
        let mut scope = d.scope.with(Binding::Def(d.clone()));
        for (i, p) in d.def.params.iter().enumerate() {
            scope = scope.with(Binding::FuncParam {
                name: p.name(),
                depth: self.depth,
                index: i as u16,
            });
        }
        // `$x` parameters: `x as $x | …`, the first one outermost.
        let mut binds = Vec::new();
        for (i, p) in d.def.params.iter().enumerate() {
            if let Param::Value(n) = p {
                let slot = self.new_slot(d.def.span);
                scope = scope.with(Binding::Var {
                    name: n,
                    depth: self.depth,
                    slot,
                });
                let param = self.push(Node::Param(0, i as u16), d.def.span);
                binds.push((param, slot));
            }
        }
        let saved_inline = self.inline_depth;
        self.inline_depth = 0;
        let mut body = self.expr(&d.def.body, &scope, false);
        self.inline_depth = saved_inline;
        for (param, slot) in binds.into_iter().rev() {
            body = self.push(
                Node::Bind(param, vec![Pattern::Var(slot)], body),
                d.def.span,
            );
        }
        let slots = self.slots.pop().expect("the function's frame");
        self.depth = saved_depth;
        self.funcs[id.0 as usize] = Some(Func {
            name: d.def.name.clone(),
            params: d.def.params.len(),
            body,
            slots,
        });
        id
    }

    /// Inline a call of `def` (written in `def_scope`) with `args` (written
    /// in `scope`).
    #[allow(clippy::too_many_arguments)]
    fn inline(
        &mut self,
        def: &'a FuncDef,
        def_scope: &Scope<'a>,
        args: &'a [Expr],
        scope: &Scope<'a>,
        pre: bool,
        span: Span,
        body_in_prelude: bool,
    ) -> Id {
        // Past the size limit, inlining more would only repeat work: an
        // exponential chain of definitions must fail fast, not hang.
        if self.too_big {
            return Id(0);
        }
        if self.inline_depth >= MAX_INLINE_DEPTH {
            return self.error(
                format!("function calls nest more than {MAX_INLINE_DEPTH} deep here"),
                span,
                None,
            );
        }
        let arg_ids: Vec<Id> = args.iter().map(|a| self.expr(a, scope, pre)).collect();
        let mut inner = def_scope.clone();
        let mut binds = Vec::new();
        for (p, &arg) in def.params.iter().zip(&arg_ids) {
            inner = inner.with(Binding::Arg {
                name: p.name(),
                node: arg,
                depth: self.depth,
            });
            if let Param::Value(n) = p {
                // A constant argument is substituted (so that `test("re")`
                // still sees a literal pattern); anything else is bound.
                if matches!(self.nodes.get(arg.index()), Some(Node::Const(_))) {
                    inner = inner.with(Binding::Const { name: n, node: arg });
                    continue;
                }
                let slot = self.new_slot(span);
                inner = inner.with(Binding::Var {
                    name: n,
                    depth: self.depth,
                    slot,
                });
                binds.push((arg, slot));
            }
        }
        let saved_span = self.span;
        if body_in_prelude && !pre {
            self.span = span;
        }
        self.inline_depth += 1;
        let mut body = self.expr(&def.body, &inner, body_in_prelude);
        self.inline_depth -= 1;
        self.span = saved_span;
        for (arg, slot) in binds.into_iter().rev() {
            body = self.push(Node::Bind(arg, vec![Pattern::Var(slot)], body), span);
        }
        body
    }
}

fn loc(line: usize) -> Const {
    Const::Object(vec![
        ("file".into(), Const::Str("<top-level>".into())),
        ("line".into(), Const::Int(line as i64)),
    ])
}

/// Does `def`'s body call `def` itself (directly or through a local
/// definition), where that name is not shadowed?
fn calls_itself(def: &FuncDef) -> bool {
    fn walk(e: &Expr, name: &str, arity: usize) -> bool {
        crate::stack::guard(|| walk_inner(e, name, arity))
    }
    fn walk_inner(e: &Expr, name: &str, arity: usize) -> bool {
        match &e.kind {
            ExprKind::Call(n, args) => {
                (n == name && args.len() == arity) || args.iter().any(|a| walk(a, name, arity))
            }
            ExprKind::Defs(defs, body) => {
                for d in defs {
                    if d.name == name && d.params.len() == arity {
                        // Shadowed from here on (the inner def's own body
                        // refers to itself).
                        return false;
                    }
                    let shadowed_by_param = arity == 0 && d.params.iter().any(|p| p.name() == name);
                    if !shadowed_by_param && walk(&d.body, name, arity) {
                        return true;
                    }
                }
                walk(body, name, arity)
            }
            _ => {
                let mut found = false;
                children(e, &mut |c| found = found || walk(c, name, arity));
                found
            }
        }
    }
    // Parameters are arity 0 and cannot shadow a function that has them.
    walk(&def.body, &def.name, def.params.len())
}

/// Call `f` on every direct child expression (defs excluded).
fn children<'e>(e: &'e Expr, f: &mut dyn FnMut(&'e Expr)) {
    use ExprKind::*;
    match &e.kind {
        Identity | RecurseAll | Num(_) | Format(_) | Break(_) | Var(_) | Loc(_) => {}
        Str(_, parts) => parts.iter().for_each(|p| {
            if let StrPart::Interp(x) = p {
                f(x)
            }
        }),
        Array(x) => x.iter().for_each(|x| f(x)),
        Object(es) => {
            for en in es {
                match &en.key {
                    ObjKey::Str(x) | ObjKey::Expr(x) => f(x),
                    _ => {}
                }
                if let Some(v) = &en.value {
                    f(v)
                }
            }
        }
        Neg(x) | Label(_, x) | Optional(x) => f(x),
        Pipe(xs) | Comma(xs) | Alt(xs) | Or(xs) | And(xs) => xs.iter().for_each(&mut *f),
        Binary(_, a, b) | Assign(_, a, b) => {
            f(a);
            f(b);
        }
        Bind(s, ps, b) => {
            f(s);
            ps.iter().for_each(|p| pattern_children(p, f));
            f(b);
        }
        Reduce(s, p, i, u) => {
            f(s);
            pattern_children(p, f);
            f(i);
            f(u);
        }
        Foreach(s, p, i, u, x) => {
            f(s);
            pattern_children(p, f);
            f(i);
            f(u);
            x.iter().for_each(|x| f(x));
        }
        If(bs, x) => {
            for (c, t) in bs {
                f(c);
                f(t);
            }
            x.iter().for_each(|x| f(x));
        }
        Try(b, c) => {
            f(b);
            c.iter().for_each(|c| f(c));
        }
        Defs(_, body) => f(body),
        Call(_, args) => args.iter().for_each(&mut *f),
        Index(t, s, _) => {
            f(t);
            match s {
                Suffix::Index(i) => f(i),
                Suffix::Slice(a, b) => {
                    a.iter().for_each(|x| f(x));
                    b.iter().for_each(|x| f(x));
                }
                Suffix::Field(_) | Suffix::Iterate => {}
            }
        }
    }
}

fn pattern_children<'e>(p: &'e ast::Pattern, f: &mut dyn FnMut(&'e Expr)) {
    match p {
        ast::Pattern::Var(..) => {}
        ast::Pattern::Array(ps) => ps.iter().for_each(|p| pattern_children(p, f)),
        ast::Pattern::Object(es) => {
            for e in es {
                match &e.key {
                    ObjPatKey::Str(x) | ObjPatKey::Expr(x) => f(x),
                    _ => {}
                }
                if let Some(v) = &e.value {
                    pattern_children(v, f);
                }
            }
        }
    }
}

/// "Did you mean …?" for an undefined function.
fn suggest(name: &str, arity: usize, scope: &Scope<'_>) -> Option<String> {
    let mut candidates: Vec<(String, usize)> = builtins::known_names();
    for b in scope.iter() {
        if let Binding::Def(d) = b {
            candidates.push((d.def.name.clone(), d.def.params.len()));
        }
    }
    let arities: Vec<String> = candidates
        .iter()
        .filter(|(m, _)| m == name)
        .map(|(_, a)| a.to_string())
        .collect();
    if !arities.is_empty() {
        return Some(format!(
            "`{name}` takes {} argument(s), not {arity}",
            arities.join(" or ")
        ));
    }
    let best = candidates
        .iter()
        .map(|(n, a)| (edit_distance(name, n), n, a))
        .filter(|(d, n, _)| *d <= 2.max(n.len() / 4))
        .min_by_key(|(d, n, _)| (*d, n.len()));
    Some(match best {
        Some((_, n, _)) => format!("did you mean `{n}`?"),
        None => format!("no jq builtin and no `def` in this rule is called `{name}`"),
    })
}

fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
