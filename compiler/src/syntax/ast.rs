//! The syntax tree of one jq program, as written: names are not resolved,
//! `def`s are where the user put them, and every node has a span in the
//! program's source. [`crate::ir::lower`] turns it into the IR.
//!
//! Chains of `|`, `,`, `//`, `or` and `and` are n-ary nodes, so a rule
//! with thousands of alternatives is a wide tree, not a deep one; every
//! node knows its depth, and the parser refuses trees deeper than
//! [`super::MAX_DEPTH`], so no later pass can overflow the stack.

use super::Span;

/// A node with its span and depth.
#[derive(Clone, Debug)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where it is in the jq source.
    pub span: Span,
    /// Height of the tree below (a leaf is 1).
    pub depth: u32,
}

/// A number literal's value: integers that fit 64 bits stay exact.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NumLit {
    /// An integer.
    Int(i64),
    /// Anything else (`1.5`, `1e3`, `1e1000` saturates to the largest double).
    Float(f64),
}

/// Arithmetic and comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl BinOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
        }
    }

    /// Is it a comparison?
    pub fn is_cmp(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge
        )
    }
}

/// Assignment operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssignOp {
    /// `=`
    Set,
    /// `|=`
    Update,
    /// `+=`, `-=`, `*=`, `/=`, `%=`
    Arith(BinOp),
    /// `//=`
    Alt,
}

/// One part of a string literal.
#[derive(Clone, Debug)]
pub enum StrPart {
    /// Literal text.
    Text(String),
    /// `\( … )`.
    Interp(Expr),
}

/// What indexes a term.
#[derive(Clone, Debug)]
pub enum Suffix {
    /// `.name`, `."name"`, `.["name"]` with a literal.
    Field(String),
    /// `.[e]`
    Index(Box<Expr>),
    /// `.[a:b]` (either side optional).
    Slice(Option<Box<Expr>>, Option<Box<Expr>>),
    /// `.[]`
    Iterate,
}

/// The key of an object constructor entry.
#[derive(Clone, Debug)]
pub enum ObjKey {
    /// `name` or a keyword: the string itself.
    Name(String),
    /// `$name`: key `name`, value `$name`.
    Var(String),
    /// `$__loc__`.
    Loc(usize),
    /// A string literal, possibly interpolated or formatted.
    Str(Expr),
    /// `(query)`.
    Expr(Expr),
}

/// An object constructor entry: `key` or `key: value`.
#[derive(Clone, Debug)]
pub struct ObjEntry {
    /// The key.
    pub key: ObjKey,
    /// The value, if written (`{a}` means `{a: .a}`).
    pub value: Option<Expr>,
    /// Where the key is.
    pub span: Span,
}

/// A destructuring pattern.
#[derive(Clone, Debug)]
pub enum Pattern {
    /// `$name`
    Var(String, Span),
    /// `[p, q]`
    Array(Vec<Pattern>),
    /// `{a: p, $b, "c": q, (e): r, $d: s}`
    Object(Vec<ObjPattern>),
}

/// One entry of an object pattern.
#[derive(Clone, Debug)]
pub struct ObjPattern {
    /// Which key.
    pub key: ObjPatKey,
    /// The pattern for the value (`{$b}` has none: it binds `$b`).
    pub value: Option<Pattern>,
}

/// The key of an object pattern entry.
#[derive(Clone, Debug)]
pub enum ObjPatKey {
    /// `$name`: key `name`, also binding `$name`.
    Var(String, Span),
    /// `name` or a keyword.
    Name(String),
    /// A string literal, possibly interpolated.
    Str(Expr),
    /// `(query)`.
    Expr(Expr),
}

/// A `def` parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Param {
    /// `f`: a filter.
    Filter(String),
    /// `$x`: a value (and the filter `x`).
    Value(String),
}

impl Param {
    /// The name without `$`.
    pub fn name(&self) -> &str {
        match self {
            Param::Filter(n) | Param::Value(n) => n,
        }
    }
}

/// `def name(params): body;`
#[derive(Clone, Debug)]
pub struct FuncDef {
    /// The name.
    pub name: String,
    /// Parameters.
    pub params: Vec<Param>,
    /// The body.
    pub body: Expr,
    /// Where the name is.
    pub span: Span,
}

/// The kinds of nodes.
#[derive(Clone, Debug)]
pub enum ExprKind {
    /// `.`
    Identity,
    /// `..`
    RecurseAll,
    /// A number.
    Num(NumLit),
    /// A string, with an optional format (`@base64 "…"`).
    Str(Option<String>, Vec<StrPart>),
    /// `@name` alone: the format applied to `.`.
    Format(String),
    /// `[e]` or `[]`.
    Array(Option<Box<Expr>>),
    /// `{…}`
    Object(Vec<ObjEntry>),
    /// `-e`
    Neg(Box<Expr>),
    /// `a | b | …` (at least two).
    Pipe(Vec<Expr>),
    /// `a, b, …`
    Comma(Vec<Expr>),
    /// `a // b // …`
    Alt(Vec<Expr>),
    /// `a or b or …`
    Or(Vec<Expr>),
    /// `a and b and …`
    And(Vec<Expr>),
    /// Arithmetic or comparison.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `lhs op= rhs`
    Assign(AssignOp, Box<Expr>, Box<Expr>),
    /// `source as $p ?// $q | body`: the patterns are alternatives.
    Bind(Box<Expr>, Vec<Pattern>, Box<Expr>),
    /// `reduce source as p (init; update)`
    Reduce(Box<Expr>, Pattern, Box<Expr>, Box<Expr>),
    /// `foreach source as p (init; update; extract)`
    Foreach(Box<Expr>, Pattern, Box<Expr>, Box<Expr>, Option<Box<Expr>>),
    /// `if c then a elif … else e end` (a missing `else` is `.`).
    If(Vec<(Expr, Expr)>, Option<Box<Expr>>),
    /// `try body catch handler`
    Try(Box<Expr>, Option<Box<Expr>>),
    /// `label $name | body`
    Label(String, Box<Expr>),
    /// `break $name`
    Break(String),
    /// `def …; body`
    Defs(Vec<FuncDef>, Box<Expr>),
    /// `name` or `name(a; b)`
    Call(String, Vec<Expr>),
    /// `$name`
    Var(String),
    /// `$__loc__` on this line (1-based).
    Loc(usize),
    /// `term.suffix` or `term.suffix?` (only the indexing is optional).
    Index(Box<Expr>, Suffix, bool),
    /// `term?`: `try term`.
    Optional(Box<Expr>),
}

impl Expr {
    /// A node over children whose depths are known.
    pub fn new(kind: ExprKind, span: Span) -> Expr {
        let depth = 1 + kind.child_depth();
        Expr { kind, span, depth }
    }
}

fn max_depth<'a>(it: impl IntoIterator<Item = &'a Expr>) -> u32 {
    it.into_iter().map(|e| e.depth).max().unwrap_or(0)
}

fn pattern_depth(p: &Pattern) -> u32 {
    match p {
        Pattern::Var(..) => 1,
        Pattern::Array(ps) => 1 + ps.iter().map(pattern_depth).max().unwrap_or(0),
        Pattern::Object(es) => {
            1 + es
                .iter()
                .map(|e| {
                    let k = match &e.key {
                        ObjPatKey::Str(x) | ObjPatKey::Expr(x) => x.depth,
                        _ => 0,
                    };
                    k.max(e.value.as_ref().map_or(0, pattern_depth))
                })
                .max()
                .unwrap_or(0)
        }
    }
}

impl ExprKind {
    fn child_depth(&self) -> u32 {
        use ExprKind::*;
        match self {
            Identity | RecurseAll | Num(_) | Format(_) | Break(_) | Var(_) | Loc(_) => 0,
            Str(_, parts) => max_depth(parts.iter().filter_map(|p| match p {
                StrPart::Interp(e) => Some(e),
                StrPart::Text(_) => None,
            })),
            Array(e) => e.as_ref().map_or(0, |e| e.depth),
            Object(entries) => entries
                .iter()
                .map(|en| {
                    let k = match &en.key {
                        ObjKey::Str(e) | ObjKey::Expr(e) => e.depth,
                        _ => 0,
                    };
                    k.max(en.value.as_ref().map_or(0, |v| v.depth))
                })
                .max()
                .unwrap_or(0),
            Neg(e) | Label(_, e) | Optional(e) => e.depth,
            Pipe(es) | Comma(es) | Alt(es) | Or(es) | And(es) => max_depth(es),
            Binary(_, a, b) | Assign(_, a, b) => a.depth.max(b.depth),
            Bind(s, ps, b) => s
                .depth
                .max(b.depth)
                .max(ps.iter().map(pattern_depth).max().unwrap_or(0)),
            Reduce(s, p, i, u) => max_depth([&**s, i, u]).max(pattern_depth(p)),
            Foreach(s, p, i, u, x) => max_depth([&**s, i, u])
                .max(x.as_ref().map_or(0, |x| x.depth))
                .max(pattern_depth(p)),
            If(bs, e) => bs
                .iter()
                .map(|(c, t)| c.depth.max(t.depth))
                .max()
                .unwrap_or(0)
                .max(e.as_ref().map_or(0, |e| e.depth)),
            Try(b, c) => b.depth.max(c.as_ref().map_or(0, |c| c.depth)),
            Defs(defs, body) => defs
                .iter()
                .map(|d| d.body.depth)
                .max()
                .unwrap_or(0)
                .max(body.depth),
            Call(_, args) => max_depth(args),
            Index(t, s, _) => t.depth.max(match s {
                Suffix::Index(e) => e.depth,
                Suffix::Slice(a, b) => a
                    .as_ref()
                    .map_or(0, |e| e.depth)
                    .max(b.as_ref().map_or(0, |e| e.depth)),
                Suffix::Field(_) | Suffix::Iterate => 0,
            }),
        }
    }
}
