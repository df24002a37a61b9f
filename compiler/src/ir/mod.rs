//! The IR: one rule's jq program after name resolution, as a flat arena of
//! nodes. It is the only representation the rest of the compiler works on
//! (prefilter analysis, required literals, `--explain`) and what the
//! runtime evaluates natively on the parsed record.
//!
//! [`lower`] builds it from the syntax tree: builtins are resolved (a user
//! `def` that shadows one is handled there, once), non-recursive `def`s
//! are inlined with their arguments substituted, recursive ones become
//! [`Func`]s with frames, `select`, `map`, `to_entries` and the other
//! builtins jq defines in jq come from our own prelude, and string
//! literals given to `test`, `match`, … are compiled to regexes at load
//! time (an invalid pattern is a diagnostic).
//!
//! Nodes refer to children by [`Id`]; children are always created before
//! their parents, so ids increase towards the root and a bottom-up pass
//! is a loop over the arena. Nodes may be shared (an argument used twice
//! is one node), which is harmless because evaluation has no side effects.

pub mod builtins;
mod lower;
pub mod props;

use std::fmt;

pub use builtins::Builtin;
pub use lower::{lower, LowerError};

use crate::syntax::ast::BinOp;
use crate::syntax::Span;

/// A node's index in [`Program::nodes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(pub u32);

impl Id {
    /// As an index.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A constant value.
#[derive(Clone, Debug, PartialEq)]
pub enum Const {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// An integer that fits 64 bits.
    Int(i64),
    /// Any other number.
    Float(f64),
    /// A string.
    Str(String),
    /// An array.
    Array(Vec<Const>),
    /// An object, keys in order.
    Object(Vec<(String, Const)>),
}

impl Const {
    /// Neither `null` nor `false`.
    pub fn is_truthy(&self) -> bool {
        !matches!(self, Const::Null | Const::Bool(false))
    }

    /// The string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Const::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// A variable: `up` frames out from the current one (0 = this frame), slot
/// `slot` there. Frames are made by calls of recursive [`Func`]s; the main
/// program and everything inlined into it share frame 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Var {
    /// Frames up the static chain.
    pub up: u16,
    /// Slot in that frame.
    pub slot: u16,
}

/// A recursive function's index in [`Program::funcs`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FuncId(pub u32);

/// A recursive `def`, called through frames.
#[derive(Clone, Debug)]
pub struct Func {
    /// Its name, for messages.
    pub name: String,
    /// Number of filter parameters (closures passed by the caller).
    pub params: usize,
    /// The body, evaluated in the function's own frame.
    pub body: Id,
    /// Variable slots of the frame.
    pub slots: u16,
}

/// One step of a path (`.a`, `.[e]`, `.[a:b]`, `.[]`).
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// `.name`
    Field(String),
    /// `.[e]`, with `e` evaluated on the path's input.
    Index(Id),
    /// `.[a:b]`
    Slice(Option<Id>, Option<Id>),
    /// `.[]`
    Iterate,
}

/// A destructuring pattern.
#[derive(Clone, Debug)]
pub enum Pattern {
    /// Bind the value to a variable (in the current frame).
    Var(u16),
    /// `[p, q]`: element i through pattern i.
    Array(Vec<Pattern>),
    /// `{k: p}`: each key (a node evaluated on the binding's input) and
    /// what to do with the value; `bind` also binds it (`{$name: p}`).
    Object(Vec<ObjPattern>),
}

/// One entry of an object pattern.
#[derive(Clone, Debug)]
pub struct ObjPattern {
    /// The key.
    pub key: Id,
    /// A variable slot bound to the value (`$name` entries).
    pub bind: Option<u16>,
    /// A pattern for the value.
    pub value: Option<Pattern>,
}

impl Pattern {
    /// Every variable slot the pattern binds.
    pub fn slots(&self, out: &mut Vec<u16>) {
        match self {
            Pattern::Var(s) => out.push(*s),
            Pattern::Array(ps) => ps.iter().for_each(|p| p.slots(out)),
            Pattern::Object(es) => {
                for e in es {
                    out.extend(e.bind);
                    if let Some(v) = &e.value {
                        v.slots(out);
                    }
                }
            }
        }
    }
}

/// A string format (`@base64`, …; `@text` for plain interpolation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// `@text`: `tostring`.
    Text,
    /// `@json`: `tojson`.
    Json,
    /// `@html`
    Html,
    /// `@uri`
    Uri,
    /// `@csv`
    Csv,
    /// `@tsv`
    Tsv,
    /// `@sh`
    Sh,
    /// `@base64`
    Base64,
    /// `@base64d`
    Base64d,
    /// `@base32`
    Base32,
    /// `@base32d`
    Base32d,
}

impl Format {
    /// The format of `@name`.
    pub fn from_name(name: &str) -> Option<Format> {
        Some(match name {
            "text" => Format::Text,
            "json" => Format::Json,
            "html" => Format::Html,
            "uri" => Format::Uri,
            "csv" => Format::Csv,
            "tsv" => Format::Tsv,
            "sh" => Format::Sh,
            "base64" => Format::Base64,
            "base64d" => Format::Base64d,
            "base32" => Format::Base32,
            "base32d" => Format::Base32d,
            _ => return None,
        })
    }

    /// The name after `@`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Html => "html",
            Format::Uri => "uri",
            Format::Csv => "csv",
            Format::Tsv => "tsv",
            Format::Sh => "sh",
            Format::Base64 => "base64",
            Format::Base64d => "base64d",
            Format::Base32 => "base32",
            Format::Base32d => "base32d",
        }
    }
}

/// A piece of an interpolated string.
#[derive(Clone, Debug, PartialEq)]
pub enum StrPiece {
    /// Literal text (not formatted).
    Lit(String),
    /// An interpolated query; each output is formatted.
    Expr(Id),
}

/// Assignment operators, after desugaring `op=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assign {
    /// `lhs = rhs`: `rhs` on `.`, every path of `lhs` set to it.
    Set,
    /// `lhs |= f`: each path's value through `f` (first output; none
    /// deletes the path).
    Update,
    /// `lhs op= rhs`: `rhs` on `.`, each path's value `op` it.
    Arith(BinOp),
    /// `lhs //= rhs`
    Alt,
}

/// A node.
#[derive(Clone, Debug)]
pub enum Node {
    /// `.`
    Identity,
    /// No output.
    Empty,
    /// A constant.
    Const(Const),
    /// `target` then each step, in order; a step marked optional
    /// (`.a?`) gives no output instead of an error.
    Path(Id, Vec<(Step, bool)>),
    /// `recurse(f)` (`..` is `recurse(.[]?)`): the input, then recursively
    /// each output of `f`.
    Recurse(Id),
    /// `recurse(f; cond)`
    RecurseCond(Id, Id),
    /// `a | b | …`
    Pipe(Vec<Id>),
    /// `a, b, …`
    Comma(Vec<Id>),
    /// `a // b // …`
    Alt(Vec<Id>),
    /// `a and b and …`
    And(Vec<Id>),
    /// `a or b or …`
    Or(Vec<Id>),
    /// `-e`
    Neg(Id),
    /// Arithmetic or comparison (jq's order: the right side is the outer loop).
    Binary(BinOp, Id, Id),
    /// `source as p ?// q | body`.
    Bind(Id, Vec<Pattern>, Id),
    /// A variable.
    Var(Var),
    /// `reduce source as p (init; update)`
    Reduce(Id, Pattern, Id, Id),
    /// `foreach source as p (init; update; extract)`
    Foreach(Id, Pattern, Id, Id, Option<Id>),
    /// `if c then a else b end` (`elif` nests; no `else` is `.`).
    If(Id, Id, Id),
    /// `try body catch handler`
    Try(Id, Option<Id>),
    /// `label $x | body`: the label's instance is kept in this slot.
    Label(u16, Id),
    /// `break $x`
    Break(Var),
    /// `[e]` (`None`: `[]`).
    Array(Option<Id>),
    /// `{k: v, …}`: keys and values, evaluated on the input.
    Object(Vec<(Id, Id)>),
    /// A string with interpolations, each formatted.
    Str(Format, Vec<StrPiece>),
    /// `@fmt` applied to the input.
    Format(Format),
    /// `lhs op rhs` with `lhs` a path expression.
    Assign(Assign, Id, Id),
    /// A call of a recursive function: its closures (evaluated in this
    /// frame) and how many frames up the function was defined.
    Call(FuncId, Vec<Id>, u16),
    /// A filter parameter of the function `up` frames out.
    Param(u16, u16),
    /// `body` evaluated in the frame `up` frames out (an inlined
    /// function's argument used inside a recursive function).
    InFrame(u16, Id),
    /// A builtin, with its arguments (see [`Builtin`] for how each one
    /// takes them).
    Builtin(Builtin, Vec<Id>),
    /// A builtin whose first argument is a literal regex compiled at load
    /// time (`test`, `match`, `split/2`, `sub`, …): index into
    /// [`Program::regexes`], then the remaining arguments.
    Regex(Builtin, u32, Vec<Id>),
}

impl Node {
    /// Every child node.
    pub fn children(&self) -> Vec<Id> {
        let mut out = Vec::new();
        self.for_each_child(|c| out.push(c));
        out
    }

    /// Call `f` on every child.
    pub fn for_each_child(&self, mut f: impl FnMut(Id)) {
        fn pattern(p: &Pattern, f: &mut dyn FnMut(Id)) {
            match p {
                Pattern::Var(_) => {}
                Pattern::Array(ps) => ps.iter().for_each(|p| pattern(p, f)),
                Pattern::Object(es) => {
                    for e in es {
                        f(e.key);
                        if let Some(v) = &e.value {
                            pattern(v, f);
                        }
                    }
                }
            }
        }
        match self {
            Node::Identity | Node::Empty | Node::Const(_) | Node::Var(_) | Node::Break(_) => {}
            Node::Format(_) | Node::Param(..) => {}
            Node::Path(t, steps) => {
                f(*t);
                for (s, _) in steps {
                    match s {
                        Step::Index(i) => f(*i),
                        Step::Slice(a, b) => {
                            a.iter().chain(b.iter()).for_each(|x| f(*x));
                        }
                        Step::Field(_) | Step::Iterate => {}
                    }
                }
            }
            Node::Recurse(a) | Node::Neg(a) | Node::Label(_, a) | Node::InFrame(_, a) => f(*a),
            Node::RecurseCond(a, b) | Node::Binary(_, a, b) | Node::Assign(_, a, b) => {
                f(*a);
                f(*b);
            }
            Node::Pipe(xs) | Node::Comma(xs) | Node::Alt(xs) | Node::And(xs) | Node::Or(xs) => {
                xs.iter().for_each(|x| f(*x))
            }
            Node::Bind(s, ps, b) => {
                f(*s);
                ps.iter().for_each(|p| pattern(p, &mut f));
                f(*b);
            }
            Node::Reduce(s, p, i, u) => {
                f(*s);
                pattern(p, &mut f);
                f(*i);
                f(*u);
            }
            Node::Foreach(s, p, i, u, x) => {
                f(*s);
                pattern(p, &mut f);
                f(*i);
                f(*u);
                x.iter().for_each(|x| f(*x));
            }
            Node::If(c, a, b) => {
                f(*c);
                f(*a);
                f(*b);
            }
            Node::Try(b, c) => {
                f(*b);
                c.iter().for_each(|c| f(*c));
            }
            Node::Array(e) => e.iter().for_each(|e| f(*e)),
            Node::Object(kvs) => kvs.iter().for_each(|(k, v)| {
                f(*k);
                f(*v);
            }),
            Node::Str(_, parts) => parts.iter().for_each(|p| {
                if let StrPiece::Expr(e) = p {
                    f(*e)
                }
            }),
            Node::Call(_, args, _) | Node::Builtin(_, args) | Node::Regex(_, _, args) => {
                args.iter().for_each(|a| f(*a))
            }
        }
    }
}

/// A literal regex of a rule, compiled at load time.
#[derive(Clone, Debug)]
pub struct RegexLit {
    /// The pattern as written.
    pub pattern: String,
    /// The flags as written (`""` when none).
    pub flags: String,
    /// `g` was given.
    pub global: bool,
    /// `n` was given (ignore empty matches).
    pub ignore_empty: bool,
    /// The compiled regex.
    pub regex: regex::Regex,
}

/// One rule's program.
#[derive(Clone, Debug)]
pub struct Program {
    /// The arena.
    pub nodes: Vec<Node>,
    /// Where each node came from in the rule's jq source (builtins from
    /// the prelude point at their call).
    pub spans: Vec<Span>,
    /// The main node.
    pub root: Id,
    /// Recursive functions.
    pub funcs: Vec<Func>,
    /// Variable slots of the main frame.
    pub slots: u16,
    /// Literal regexes.
    pub regexes: Vec<RegexLit>,
    /// Per node: at most one output (see [`props`]).
    pub single: Vec<bool>,
}

impl Program {
    /// The node at `id`.
    pub fn node(&self, id: Id) -> &Node {
        &self.nodes[id.index()]
    }

    /// Does `id` produce at most one output on any input?
    pub fn is_single(&self, id: Id) -> bool {
        self.single[id.index()]
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%{}", self.0)
    }
}
