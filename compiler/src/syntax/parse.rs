//! The jq parser: recursive descent for terms, precedence climbing with
//! explicit stacks for binary operators (so a long chain of `or`s costs no
//! stack), and a nesting limit checked on every recursive entry, so no
//! program can overflow the stack: a program nested too deeply is a
//! syntax error with a position.
//!
//! The grammar is jq's (gojq's where they differ: `if` without `else`,
//! `.a.["b"]`, keywords as field names), plus a few things both reject
//! but that are unambiguous (`{a: 1 + 2}`). Precedence, lowest first:
//! `|` (right), `,`, `//` (right), assignments, `or`, `and`,
//! comparisons, `+ -`, `* / %`, unary `-`, postfix. `def`, `label` and
//! `term as $x | body` extend to the end of the enclosing query. `try`
//! and `catch` take a postfix term (`try 1 + 1` is `(try 1) + 1`).

use super::ast::*;
use super::lex::{Kw, Lexer, Piece, Tok};
use super::{Span, SyntaxError, MAX_DEPTH};

/// Parse a whole jq program.
pub fn parse(src: &str) -> Result<Expr, SyntaxError> {
    let mut p = Parser {
        lex: Lexer::new(src),
        src,
        peeked: None,
        nesting: 0,
    };
    let e = p.pipe(false)?;
    let (t, span) = p.next()?;
    if t != Tok::Eof {
        return Err(SyntaxError {
            message: format!("unexpected {} after a complete query", t.describe()),
            span,
        });
    }
    Ok(e)
}

struct Parser<'s> {
    lex: Lexer<'s>,
    src: &'s str,
    peeked: Option<(Tok, Span)>,
    nesting: u32,
}

/// Binary operators of the climbing loop.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Pipe,
    Comma,
    Alt,
    Assign(AssignOp),
    Or,
    And,
    Bin(BinOp),
}

impl Op {
    fn from_tok(t: &Tok) -> Option<Op> {
        Some(match t {
            Tok::Punct(p) => match *p {
                "|" => Op::Pipe,
                "," => Op::Comma,
                "//" => Op::Alt,
                "=" => Op::Assign(AssignOp::Set),
                "|=" => Op::Assign(AssignOp::Update),
                "+=" => Op::Assign(AssignOp::Arith(BinOp::Add)),
                "-=" => Op::Assign(AssignOp::Arith(BinOp::Sub)),
                "*=" => Op::Assign(AssignOp::Arith(BinOp::Mul)),
                "/=" => Op::Assign(AssignOp::Arith(BinOp::Div)),
                "%=" => Op::Assign(AssignOp::Arith(BinOp::Mod)),
                "//=" => Op::Assign(AssignOp::Alt),
                "==" => Op::Bin(BinOp::Eq),
                "!=" => Op::Bin(BinOp::Ne),
                "<" => Op::Bin(BinOp::Lt),
                "<=" => Op::Bin(BinOp::Le),
                ">" => Op::Bin(BinOp::Gt),
                ">=" => Op::Bin(BinOp::Ge),
                "+" => Op::Bin(BinOp::Add),
                "-" => Op::Bin(BinOp::Sub),
                "*" => Op::Bin(BinOp::Mul),
                "/" => Op::Bin(BinOp::Div),
                "%" => Op::Bin(BinOp::Mod),
                _ => return None,
            },
            Tok::Kw(Kw::Or) => Op::Or,
            Tok::Kw(Kw::And) => Op::And,
            _ => return None,
        })
    }

    fn prec(self) -> u8 {
        match self {
            Op::Pipe => 1,
            Op::Comma => 2,
            Op::Alt => 3,
            Op::Assign(_) => 4,
            Op::Or => 5,
            Op::And => 6,
            Op::Bin(b) if b.is_cmp() => 7,
            Op::Bin(BinOp::Add | BinOp::Sub) => 8,
            Op::Bin(_) => 9,
        }
    }

    fn right_assoc(self) -> bool {
        matches!(self, Op::Pipe | Op::Alt)
    }

    /// Comparisons and assignments do not chain in jq and gojq
    /// (`a == b == c` is a syntax error in both).
    fn non_assoc(self) -> bool {
        matches!(self, Op::Assign(_)) || matches!(self, Op::Bin(b) if b.is_cmp())
    }
}

/// `o1 op o2 op … on`. Chains of `|`, `,`, `//`, `or` and `and` become
/// one n-ary node, so a long chain is wide, not deep; building it costs
/// linear time (a left operand that is already the chain is extended in
/// place, and a right-associative run is joined at once).
fn join(op: Op, operands: Vec<Expr>) -> Expr {
    debug_assert!(operands.len() >= 2);
    let span = operands[0].span.to(operands[operands.len() - 1].span);
    let nary: Option<fn(Vec<Expr>) -> ExprKind> = match op {
        Op::Pipe => Some(ExprKind::Pipe),
        Op::Comma => Some(ExprKind::Comma),
        Op::Alt => Some(ExprKind::Alt),
        Op::Or => Some(ExprKind::Or),
        Op::And => Some(ExprKind::And),
        Op::Assign(_) | Op::Bin(_) => None,
    };
    let Some(wrap) = nary else {
        let [l, r]: [Expr; 2] = operands
            .try_into()
            .expect("a binary operator has two operands");
        let kind = match op {
            Op::Assign(a) => ExprKind::Assign(a, Box::new(l), Box::new(r)),
            Op::Bin(b) => ExprKind::Binary(b, Box::new(l), Box::new(r)),
            _ => unreachable!("n-ary operators are handled above"),
        };
        return Expr::new(kind, span);
    };
    let same = |e: ExprKind| -> Result<Vec<Expr>, ExprKind> {
        match (op, e) {
            (Op::Pipe, ExprKind::Pipe(v))
            | (Op::Comma, ExprKind::Comma(v))
            | (Op::Alt, ExprKind::Alt(v))
            | (Op::Or, ExprKind::Or(v))
            | (Op::And, ExprKind::And(v)) => Ok(v),
            (_, kind) => Err(kind),
        }
    };
    let mut items = Vec::new();
    let mut depth = 0;
    for e in operands {
        let (e_span, e_depth) = (e.span, e.depth);
        match same(e.kind) {
            Ok(v) if items.is_empty() => {
                items = v;
                depth = e_depth;
            }
            Ok(v) => {
                depth = depth.max(e_depth);
                items.extend(v);
            }
            Err(kind) => {
                depth = depth.max(e_depth + 1);
                items.push(Expr {
                    kind,
                    span: e_span,
                    depth: e_depth,
                });
            }
        }
    }
    Expr {
        kind: wrap(items),
        span,
        depth,
    }
}

fn parse_num(text: &str) -> NumLit {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(i) = text.parse::<i64>() {
            return NumLit::Int(i);
        }
    }
    let f: f64 = text.parse().unwrap_or(f64::MAX);
    NumLit::Float(if f.is_infinite() { f64::MAX } else { f })
}

impl<'s> Parser<'s> {
    fn err(&self, message: impl Into<String>, span: Span) -> SyntaxError {
        SyntaxError {
            message: message.into(),
            span,
        }
    }

    fn peek(&mut self) -> Result<&(Tok, Span), SyntaxError> {
        if self.peeked.is_none() {
            let t = self
                .lex
                .next_token()
                .map_err(|e| self.err(e.message, e.span))?;
            self.peeked = Some(t);
        }
        Ok(self.peeked.as_ref().expect("just filled"))
    }

    fn peek_tok(&mut self) -> Result<Tok, SyntaxError> {
        Ok(self.peek()?.0.clone())
    }

    fn next(&mut self) -> Result<(Tok, Span), SyntaxError> {
        self.peek()?;
        Ok(self.peeked.take().expect("just peeked"))
    }

    fn expected(&mut self, what: &str) -> SyntaxError {
        match self.peek() {
            Ok((t, span)) => {
                let (t, span) = (t.clone(), *span);
                self.err(format!("expected {what}, found {}", t.describe()), span)
            }
            Err(e) => e,
        }
    }

    fn eat_punct(&mut self, p: &str) -> Result<Option<Span>, SyntaxError> {
        match self.peek()? {
            (Tok::Punct(q), span) if *q == p => {
                let span = *span;
                self.peeked = None;
                Ok(Some(span))
            }
            _ => Ok(None),
        }
    }

    fn expect_punct(&mut self, p: &str) -> Result<Span, SyntaxError> {
        match self.eat_punct(p)? {
            Some(s) => Ok(s),
            None => Err(self.expected(&format!("`{p}`"))),
        }
    }

    fn eat_kw(&mut self, k: Kw) -> Result<Option<Span>, SyntaxError> {
        match self.peek()? {
            (Tok::Kw(q), span) if *q == k => {
                let span = *span;
                self.peeked = None;
                Ok(Some(span))
            }
            _ => Ok(None),
        }
    }

    fn expect_kw(&mut self, k: Kw) -> Result<Span, SyntaxError> {
        match self.eat_kw(k)? {
            Some(s) => Ok(s),
            None => Err(self.expected(&format!("`{}`", k.as_str()))),
        }
    }

    /// Run a recursive step one nesting level deeper: refused past
    /// [`MAX_DEPTH`], and on a fresh stack segment when this one runs low.
    fn nested<T>(
        &mut self,
        span: Span,
        f: impl FnOnce(&mut Self) -> Result<T, SyntaxError>,
    ) -> Result<T, SyntaxError> {
        if self.nesting >= MAX_DEPTH {
            return Err(self.err(
                format!("the program nests more than {MAX_DEPTH} levels deep"),
                span,
            ));
        }
        self.nesting += 1;
        let r = crate::stack::guard(|| f(self));
        self.nesting -= 1;
        r
    }

    fn check_depth(&self, e: Expr) -> Result<Expr, SyntaxError> {
        if e.depth > MAX_DEPTH {
            return Err(self.err(
                format!(
                    "the expression nests more than {MAX_DEPTH} levels deep; split it into smaller parts"
                ),
                e.span,
            ));
        }
        Ok(e)
    }

    fn line_of(&self, offset: usize) -> usize {
        1 + self.src.as_bytes()[..offset.min(self.src.len())]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
    }

    /// A whole query; with `no_comma`, a top-level `,` ends it (object
    /// values).
    fn pipe(&mut self, no_comma: bool) -> Result<Expr, SyntaxError> {
        let start = self.peek()?.1;
        self.nested(start, |p| p.pipe_inner(no_comma))
    }

    fn pipe_inner(&mut self, no_comma: bool) -> Result<Expr, SyntaxError> {
        let mut operands: Vec<Expr> = Vec::new();
        let mut ops: Vec<Op> = Vec::new();
        loop {
            let (operand, consumed_rest) = self.operand(no_comma)?;
            operands.push(operand);
            if consumed_rest {
                break;
            }
            let tok = self.peek_tok()?;
            let Some(op) = Op::from_tok(&tok) else {
                break;
            };
            if no_comma && op == Op::Comma {
                break;
            }
            while let Some(&top) = ops.last() {
                if op.non_assoc() && top.prec() == op.prec() {
                    let span = self.peek()?.1;
                    return Err(self.err(
                        format!(
                            "{} cannot follow another {} without parentheses (jq and gojq reject it too)",
                            tok.describe(),
                            if matches!(op, Op::Assign(_)) { "assignment" } else { "comparison" }
                        ),
                        span,
                    ));
                }
                let reduce =
                    top.prec() > op.prec() || (top.prec() == op.prec() && !op.right_assoc());
                if !reduce {
                    break;
                }
                self.reduce(&mut operands, &mut ops)?;
            }
            self.next()?;
            ops.push(op);
        }
        while !ops.is_empty() {
            self.reduce(&mut operands, &mut ops)?;
        }
        Ok(operands.pop().expect("one operand is left"))
    }

    fn reduce(&self, operands: &mut Vec<Expr>, ops: &mut Vec<Op>) -> Result<(), SyntaxError> {
        let op = ops.pop().expect("an operator");
        // A run of one right-associative operator (`a | b | c …`) is
        // still on the stack: join it in one go.
        let mut n = 1;
        if op.right_assoc() {
            while ops.last() == Some(&op) {
                ops.pop();
                n += 1;
            }
        }
        let at = operands.len() - (n + 1);
        let run = operands.split_off(at);
        let e = self.check_depth(join(op, run))?;
        operands.push(e);
        Ok(())
    }

    /// One operand of the climbing loop. `label`, `def` and `… as $x |`
    /// take the rest of the query as their body: then `true`.
    fn operand(&mut self, no_comma: bool) -> Result<(Expr, bool), SyntaxError> {
        let (tok, span) = self.peek()?.clone();
        match tok {
            Tok::Kw(Kw::Label) => {
                self.next()?;
                let name = match self.next()? {
                    (Tok::Var(n), _) => n,
                    (t, s) => {
                        return Err(self.err(
                            format!("expected a `$name` after `label`, found {}", t.describe()),
                            s,
                        ))
                    }
                };
                self.expect_punct("|")?;
                let body = self.pipe(no_comma)?;
                let e = Expr::new(ExprKind::Label(name, Box::new(body)), span);
                Ok((self.check_depth(e)?, true))
            }
            Tok::Kw(Kw::Def) => {
                let mut defs = Vec::new();
                while matches!(self.peek()?.0, Tok::Kw(Kw::Def)) {
                    defs.push(self.funcdef()?);
                }
                let body = self.pipe(no_comma)?;
                let e = Expr::new(ExprKind::Defs(defs, Box::new(body)), span);
                Ok((self.check_depth(e)?, true))
            }
            Tok::Kw(Kw::Import | Kw::Include) => Err(self.err(
                "modules cannot be imported in rules: each jq_match must be self-contained",
                span,
            )),
            _ => {
                let t = self.unary()?;
                if self.eat_kw(Kw::As)?.is_some() {
                    let mut patterns = vec![self.pattern()?];
                    while self.eat_punct("?//")?.is_some() {
                        patterns.push(self.pattern()?);
                    }
                    self.expect_punct("|")?;
                    let body = self.pipe(no_comma)?;
                    let span = t.span;
                    let e = Expr::new(ExprKind::Bind(Box::new(t), patterns, Box::new(body)), span);
                    return Ok((self.check_depth(e)?, true));
                }
                Ok((t, false))
            }
        }
    }

    fn funcdef(&mut self) -> Result<FuncDef, SyntaxError> {
        self.expect_kw(Kw::Def)?;
        let (name, span) = match self.next()? {
            (Tok::Ident(n), s) => (n, s),
            (Tok::Kw(k), s) => (k.as_str().to_string(), s),
            (t, s) => {
                return Err(self.err(
                    format!(
                        "expected a function name after `def`, found {}",
                        t.describe()
                    ),
                    s,
                ))
            }
        };
        let mut params = Vec::new();
        if self.eat_punct("(")?.is_some() {
            loop {
                match self.next()? {
                    (Tok::Ident(n), _) => params.push(Param::Filter(n)),
                    (Tok::Var(n), _) => params.push(Param::Value(n)),
                    (t, s) => {
                        return Err(self.err(
                            format!("expected a parameter name, found {}", t.describe()),
                            s,
                        ))
                    }
                }
                if self.eat_punct(";")?.is_some() {
                    continue;
                }
                self.expect_punct(")")?;
                break;
            }
        }
        self.expect_punct(":")?;
        let body = self.pipe(false)?;
        self.expect_punct(";")?;
        Ok(FuncDef {
            name,
            params,
            body,
            span,
        })
    }

    fn unary(&mut self) -> Result<Expr, SyntaxError> {
        let span = self.peek()?.1;
        if self.eat_punct("-")?.is_some() {
            let e = self.nested(span, |p| p.unary())?;
            let s = span.to(e.span);
            return self.check_depth(Expr::new(ExprKind::Neg(Box::new(e)), s));
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Expr, SyntaxError> {
        // `(.a.b)?` is `try .a.b`; only a `?` right after an index step
        // (`.a.b?`) makes that step alone optional.
        let mut parenthesized = matches!(self.peek()?.0, Tok::Punct("("));
        let mut e = self.term()?;
        loop {
            let (tok, span) = self.peek()?.clone();
            let right_after_parens = std::mem::take(&mut parenthesized);
            e = match tok {
                Tok::Field(name) => {
                    self.next()?;
                    Expr::new(
                        ExprKind::Index(Box::new(e), Suffix::Field(name), false),
                        span,
                    )
                }
                Tok::Punct(".") => {
                    // `."name"`, `."a\(x)"`, or gojq's `.["name"]` after a term.
                    self.next()?;
                    match self.peek_tok()? {
                        Tok::Quote => {
                            let s = self.string(None, span)?;
                            let suffix = literal_suffix(s);
                            Expr::new(ExprKind::Index(Box::new(e), suffix, false), span)
                        }
                        Tok::Punct("[") => self.bracket_suffix(e)?,
                        _ => return Err(self.expected("a field name after `.`")),
                    }
                }
                Tok::Punct("[") => self.bracket_suffix(e)?,
                Tok::Punct("?" | "?//") => {
                    if tok == Tok::Punct("?//") {
                        // `.a?//1`: `?` then `//` (jq and gojq reject it).
                        let rest = Span::new(span.start as usize + 1, span.end as usize);
                        self.peeked = Some((Tok::Punct("//"), rest));
                    } else {
                        self.next()?;
                    }
                    match e.kind {
                        ExprKind::Index(t, s, false) if !right_after_parens => Expr {
                            kind: ExprKind::Index(t, s, true),
                            span: e.span,
                            depth: e.depth,
                        },
                        kind => {
                            let inner = Expr {
                                kind,
                                span: e.span,
                                depth: e.depth,
                            };
                            Expr::new(ExprKind::Optional(Box::new(inner)), span)
                        }
                    }
                }
                _ => return Ok(e),
            };
            e = self.check_depth(e)?;
        }
    }

    /// `[…]` after a term: index, slice or iteration.
    fn bracket_suffix(&mut self, target: Expr) -> Result<Expr, SyntaxError> {
        let open = self.expect_punct("[")?;
        if let Some(close) = self.eat_punct("]")? {
            return Ok(Expr::new(
                ExprKind::Index(Box::new(target), Suffix::Iterate, false),
                open.to(close),
            ));
        }
        let suffix = if self.eat_punct(":")?.is_some() {
            let hi = self.pipe(false)?;
            Suffix::Slice(None, Some(Box::new(hi)))
        } else {
            let lo = self.pipe(false)?;
            if self.eat_punct(":")?.is_some() {
                if matches!(self.peek()?.0, Tok::Punct("]")) {
                    Suffix::Slice(Some(Box::new(lo)), None)
                } else {
                    let hi = self.pipe(false)?;
                    Suffix::Slice(Some(Box::new(lo)), Some(Box::new(hi)))
                }
            } else {
                Suffix::Index(Box::new(lo))
            }
        };
        let close = self.expect_punct("]")?;
        Ok(Expr::new(
            ExprKind::Index(Box::new(target), suffix, false),
            open.to(close),
        ))
    }

    fn term(&mut self) -> Result<Expr, SyntaxError> {
        let (tok, span) = self.peek()?.clone();
        match tok {
            Tok::Punct(".") => {
                self.next()?;
                match self.peek_tok()? {
                    Tok::Quote => {
                        let s = self.string(None, span)?;
                        let suffix = literal_suffix(s);
                        Ok(Expr::new(
                            ExprKind::Index(
                                Box::new(Expr::new(ExprKind::Identity, span)),
                                suffix,
                                false,
                            ),
                            span,
                        ))
                    }
                    Tok::Punct("[") => {
                        let id = Expr::new(ExprKind::Identity, span);
                        self.bracket_suffix(id)
                    }
                    _ => Ok(Expr::new(ExprKind::Identity, span)),
                }
            }
            Tok::Punct("..") => {
                self.next()?;
                Ok(Expr::new(ExprKind::RecurseAll, span))
            }
            Tok::Field(name) => {
                self.next()?;
                let id = Expr::new(ExprKind::Identity, span);
                Ok(Expr::new(
                    ExprKind::Index(Box::new(id), Suffix::Field(name), false),
                    span,
                ))
            }
            Tok::Num(text) => {
                self.next()?;
                Ok(Expr::new(ExprKind::Num(parse_num(&text)), span))
            }
            Tok::Quote => self.string(None, span),
            Tok::Format(name) => {
                self.next()?;
                if matches!(self.peek()?.0, Tok::Quote) {
                    self.string(Some(name), span)
                } else {
                    Ok(Expr::new(ExprKind::Format(name), span))
                }
            }
            Tok::Punct("(") => {
                self.next()?;
                let e = self.pipe(false)?;
                self.expect_punct(")")?;
                Ok(e)
            }
            Tok::Punct("[") => {
                self.next()?;
                if let Some(close) = self.eat_punct("]")? {
                    return Ok(Expr::new(ExprKind::Array(None), span.to(close)));
                }
                let e = self.pipe(false)?;
                let close = self.expect_punct("]")?;
                Ok(Expr::new(
                    ExprKind::Array(Some(Box::new(e))),
                    span.to(close),
                ))
            }
            Tok::Punct("{") => self.object(),
            Tok::Var(name) => {
                self.next()?;
                if name == "__loc__" {
                    return Ok(Expr::new(
                        ExprKind::Loc(self.line_of(span.start as usize)),
                        span,
                    ));
                }
                Ok(Expr::new(ExprKind::Var(name), span))
            }
            Tok::Ident(name) => {
                self.next()?;
                if name.contains("::") {
                    return Err(
                        self.err(format!("`{name}`: modules cannot be used in rules"), span)
                    );
                }
                if name == "break" {
                    if let Tok::Var(label) = self.peek_tok()? {
                        let (_, s) = self.next()?;
                        return Ok(Expr::new(ExprKind::Break(label), span.to(s)));
                    }
                    return Err(self.expected("a `$label` after `break`"));
                }
                let mut args = Vec::new();
                if self.eat_punct("(")?.is_some() {
                    loop {
                        args.push(self.pipe(false)?);
                        if self.eat_punct(";")?.is_some() {
                            continue;
                        }
                        self.expect_punct(")")?;
                        break;
                    }
                }
                Ok(Expr::new(ExprKind::Call(name, args), span))
            }
            Tok::Kw(Kw::If) => self.if_chain(),
            Tok::Kw(Kw::Try) => {
                self.next()?;
                self.nested(span, |p| {
                    let body = p.unary()?;
                    let catch = if p.eat_kw(Kw::Catch)?.is_some() {
                        Some(Box::new(p.unary()?))
                    } else {
                        None
                    };
                    Ok(Expr::new(ExprKind::Try(Box::new(body), catch), span))
                })
            }
            Tok::Kw(Kw::Reduce) => {
                self.next()?;
                let source = self.postfix_nested(span)?;
                self.expect_kw(Kw::As)?;
                let pattern = self.pattern()?;
                self.expect_punct("(")?;
                let init = self.pipe(false)?;
                self.expect_punct(";")?;
                let update = self.pipe(false)?;
                self.expect_punct(")")?;
                Ok(Expr::new(
                    ExprKind::Reduce(Box::new(source), pattern, Box::new(init), Box::new(update)),
                    span,
                ))
            }
            Tok::Kw(Kw::Foreach) => {
                self.next()?;
                let source = self.postfix_nested(span)?;
                self.expect_kw(Kw::As)?;
                let pattern = self.pattern()?;
                self.expect_punct("(")?;
                let init = self.pipe(false)?;
                self.expect_punct(";")?;
                let update = self.pipe(false)?;
                let extract = if self.eat_punct(";")?.is_some() {
                    Some(Box::new(self.pipe(false)?))
                } else {
                    None
                };
                self.expect_punct(")")?;
                Ok(Expr::new(
                    ExprKind::Foreach(
                        Box::new(source),
                        pattern,
                        Box::new(init),
                        Box::new(update),
                        extract,
                    ),
                    span,
                ))
            }
            Tok::Kw(Kw::Def | Kw::Label) => {
                // In term position (after `-`, `try`, …).
                self.nested(span, |p| p.operand(false).map(|(e, _)| e))
            }
            _ => Err(self.expected("a term")),
        }
    }

    /// The source of `reduce`/`foreach`: a postfix term, optionally
    /// negated (gojq takes `reduce -.x as $v (...)`; jq 1.6 does not).
    fn postfix_nested(&mut self, span: Span) -> Result<Expr, SyntaxError> {
        self.nested(span, |p| p.unary())
    }

    fn if_chain(&mut self) -> Result<Expr, SyntaxError> {
        let start = self.expect_kw(Kw::If)?;
        let mut branches = Vec::new();
        let cond = self.pipe(false)?;
        self.expect_kw(Kw::Then)?;
        let then = self.pipe(false)?;
        branches.push((cond, then));
        let otherwise = loop {
            if self.eat_kw(Kw::Elif)?.is_some() {
                let cond = self.pipe(false)?;
                self.expect_kw(Kw::Then)?;
                let then = self.pipe(false)?;
                branches.push((cond, then));
                continue;
            }
            if self.eat_kw(Kw::Else)?.is_some() {
                let e = self.pipe(false)?;
                self.expect_kw(Kw::End)?;
                break Some(Box::new(e));
            }
            if self.eat_kw(Kw::End)?.is_some() {
                break None;
            }
            return Err(self.expected("`elif`, `else` or `end`"));
        };
        Ok(Expr::new(ExprKind::If(branches, otherwise), start))
    }

    /// A string after its opening `"` token (which is still peeked).
    fn string(&mut self, format: Option<String>, span: Span) -> Result<Expr, SyntaxError> {
        match self.next()? {
            (Tok::Quote, _) => {}
            (t, s) => return Err(self.err(format!("expected a string, found {}", t.describe()), s)),
        }
        let mut parts = Vec::new();
        let end = loop {
            let (piece, s) = self
                .lex
                .string_piece()
                .map_err(|e| self.err(e.message, e.span))?;
            match piece {
                Piece::Text(t) => parts.push(StrPart::Text(t)),
                Piece::End => break s,
                Piece::Interp => {
                    let e = self.pipe(false)?;
                    // The `)` must be the next token and nothing after it
                    // may be read as a token: the string continues there.
                    self.expect_punct(")")?;
                    parts.push(StrPart::Interp(e));
                }
            }
        };
        Ok(Expr::new(ExprKind::Str(format, parts), span.to(end)))
    }

    fn object(&mut self) -> Result<Expr, SyntaxError> {
        let open = self.expect_punct("{")?;
        let mut entries = Vec::new();
        if let Some(close) = self.eat_punct("}")? {
            return Ok(Expr::new(ExprKind::Object(entries), open.to(close)));
        }
        loop {
            let (tok, span) = self.peek()?.clone();
            let key = match tok {
                Tok::Var(name) => {
                    self.next()?;
                    if name == "__loc__" {
                        ObjKey::Loc(self.line_of(span.start as usize))
                    } else {
                        ObjKey::Var(name)
                    }
                }
                Tok::Ident(name) => {
                    self.next()?;
                    ObjKey::Name(name)
                }
                Tok::Kw(k) => {
                    self.next()?;
                    ObjKey::Name(k.as_str().to_string())
                }
                Tok::Num(n) => {
                    // jq takes no number keys; say so plainly.
                    return Err(self.err(
                        format!("object keys must be strings: write \"{n}\" or ({n}|tostring)"),
                        span,
                    ));
                }
                Tok::Quote => ObjKey::Str(self.string(None, span)?),
                Tok::Format(name) => {
                    self.next()?;
                    if matches!(self.peek()?.0, Tok::Quote) {
                        ObjKey::Str(self.string(Some(name), span)?)
                    } else {
                        ObjKey::Str(Expr::new(ExprKind::Format(name), span))
                    }
                }
                Tok::Punct("(") => {
                    self.next()?;
                    let e = self.pipe(false)?;
                    self.expect_punct(")")?;
                    ObjKey::Expr(e)
                }
                _ => return Err(self.expected("an object key")),
            };
            let value = if self.eat_punct(":")?.is_some() {
                Some(self.pipe(true)?)
            } else {
                if matches!(key, ObjKey::Expr(_)) {
                    return Err(self.expected("`:` after a computed key"));
                }
                None
            };
            entries.push(ObjEntry { key, value, span });
            if self.eat_punct(",")?.is_some() {
                continue;
            }
            let close = self.expect_punct("}")?;
            return Ok(Expr::new(ExprKind::Object(entries), open.to(close)));
        }
    }

    fn pattern(&mut self) -> Result<Pattern, SyntaxError> {
        let (tok, span) = self.next()?;
        match tok {
            Tok::Var(name) => Ok(Pattern::Var(name, span)),
            Tok::Punct("[") => self.nested(span, |p| {
                let mut items = vec![p.pattern()?];
                while p.eat_punct(",")?.is_some() {
                    items.push(p.pattern()?);
                }
                p.expect_punct("]")?;
                Ok(Pattern::Array(items))
            }),
            Tok::Punct("{") => self.nested(span, |p| p.object_pattern()),
            t => Err(self.err(
                format!(
                    "expected a pattern (`$name`, `[…]` or `{{…}}`), found {}",
                    t.describe()
                ),
                span,
            )),
        }
    }

    fn object_pattern(&mut self) -> Result<Pattern, SyntaxError> {
        let mut entries = Vec::new();
        loop {
            let (tok, span) = self.peek()?.clone();
            let key = match tok {
                Tok::Var(name) => {
                    self.next()?;
                    ObjPatKey::Var(name, span)
                }
                Tok::Ident(name) => {
                    self.next()?;
                    ObjPatKey::Name(name)
                }
                Tok::Kw(k) => {
                    self.next()?;
                    ObjPatKey::Name(k.as_str().to_string())
                }
                Tok::Quote => ObjPatKey::Str(self.string(None, span)?),
                Tok::Punct("(") => {
                    self.next()?;
                    let e = self.pipe(false)?;
                    self.expect_punct(")")?;
                    ObjPatKey::Expr(e)
                }
                _ => return Err(self.expected("a key in an object pattern")),
            };
            let value = if self.eat_punct(":")?.is_some() {
                Some(self.pattern()?)
            } else {
                if !matches!(key, ObjPatKey::Var(..)) {
                    return Err(self.expected("`:` and a pattern"));
                }
                None
            };
            entries.push(ObjPattern { key, value });
            if self.eat_punct(",")?.is_some() {
                continue;
            }
            self.expect_punct("}")?;
            return Ok(Pattern::Object(entries));
        }
    }
}

/// `."name"`: a field when the string is a plain literal, else an index.
fn literal_suffix(s: Expr) -> Suffix {
    if let ExprKind::Str(None, parts) = &s.kind {
        if parts.iter().all(|p| matches!(p, StrPart::Text(_))) {
            let text: String = parts
                .iter()
                .map(|p| match p {
                    StrPart::Text(t) => t.as_str(),
                    StrPart::Interp(_) => "",
                })
                .collect();
            return Suffix::Field(text);
        }
    }
    Suffix::Index(Box::new(s))
}
