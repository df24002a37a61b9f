//! Native predicates: rules in the common fragment of jq (field paths,
//! comparisons with literals, `and`/`or`/`not`, `startswith`, `endswith`,
//! `contains`, `test`, `IN`, `//` with a literal, `ascii_downcase`) are
//! compiled to a small tree that the runtime evaluates directly on the
//! parsed record, without building a jaq value or running the interpreter.
//!
//! The fragment is chosen so that every term has at most one output, and
//! "no output" (an error, or `empty` from `.a?`) behaves the same in every
//! combinator: it propagates, and the rule does not alert. Semantics follow
//! jaq exactly (the differential tests run every test rule both ways):
//! `.k` on `null` is `null`, on other non-objects an error; `and`/`or`
//! short-circuit; `startswith`, `endswith`, `test` and `ascii_downcase`
//! fail on non-strings; `contains` of a string in a non-string is `false`
//! (jaq compares the values); `==` compares numbers numerically.
//!
//! Only whole rules are native: `select(P)` (alerts with the record) or a
//! boolean `P` (alerts with `true`). Anything else stays with jq.

use jaq_core::load::parse::{BinaryOp, Term};
use jaq_core::ops::Cmp;
use jaq_core::path::{Opt, Part};
use regex::bytes::Regex;

use crate::analysis::ast::literal_str;

/// A literal to compare with.
#[derive(Clone, Debug, PartialEq)]
pub enum Lit {
    /// A string.
    Str(String),
    /// A number.
    Num(f64),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
}

/// A value computed from the record (at most one output).
#[derive(Clone, Debug)]
pub enum Expr {
    /// `.a.b?.c`: keys from the record root, each optional (`?`) or not.
    Path(Vec<(String, bool)>),
    /// `e // lit`.
    Alt(Box<Expr>, Lit),
    /// `e | ascii_downcase`.
    Lower(Box<Expr>),
    /// `e | ascii_upcase`.
    Upper(Box<Expr>),
    /// `e | tostring`: a string as it is, anything else as compact JSON.
    Tostring(Box<Expr>),
}

/// A predicate.
#[derive(Clone, Debug)]
pub enum Pred {
    /// `true` or `false`.
    Const(bool),
    /// The value is neither `null` nor `false`.
    Truthy(Expr),
    /// `e == lit` (`!=` is `Not(Eq)`).
    Eq(Expr, Lit),
    /// `e | startswith(s)`.
    StartsWith(Expr, String),
    /// `e | endswith(s)`.
    EndsWith(Expr, String),
    /// `e | contains(s)`.
    Contains(Expr, String),
    /// `e | test(re; flags)`, compiled.
    Test(Expr, Regex),
    /// `e | IN(lits)`.
    In(Expr, Vec<Lit>),
    /// `a and b`.
    And(Box<Pred>, Box<Pred>),
    /// `a or b`.
    Or(Box<Pred>, Box<Pred>),
    /// `p | not`.
    Not(Box<Pred>),
}

/// A whole rule evaluated natively.
#[derive(Clone, Debug)]
pub enum NativeRule {
    /// `select(P)`: alerts with the record itself.
    Select(Pred),
    /// `P`: alerts with `true`.
    Bool(Pred),
}

/// Can `lit` be looked for in a record's raw JSON bytes? It must survive
/// JSON encoding unchanged (no quote, backslash, slash, control character,
/// whitespace or structural character, ASCII only) and must not be able to
/// come from how numbers are printed (some character outside `0-9+-.eE`).
pub fn raw_searchable(lit: &str) -> bool {
    !lit.is_empty()
        && lit
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"\"\\/{}[]:,".contains(&b))
        && lit.bytes().any(|b| !b"0123456789+-.eE".contains(&b))
}

/// A literal that must occur in the record's raw bytes (when the record has
/// no backslash at all) for the predicate to hold: the string a path
/// equals, starts with, ends with or contains, or that its `tostring`
/// contains. `and` needs one of its sides; nothing else is claimed.
pub fn required_literal(p: &Pred) -> Option<&str> {
    /// If a string test holds on `e`, must `lit` be in the record's bytes?
    /// `tostring` of a missing key is `null`, which need not be; `e // d`
    /// needs `lit` only if the test fails on the default `d`.
    fn from_record(e: &Expr, lit: &str, test: &dyn Fn(&str) -> bool) -> bool {
        match e {
            Expr::Path(_) => true,
            Expr::Tostring(e) => !"null".contains(lit) && from_record(e, lit, test),
            Expr::Alt(e, Lit::Str(d)) => !test(d) && from_record(e, lit, test),
            Expr::Alt(..) | Expr::Lower(_) | Expr::Upper(_) => false,
        }
    }
    // eventName/eventSource equalities are already the index's business: a
    // candidate record has those strings, so they make useless literals.
    let indexed = |e: &Expr| matches!(e, Expr::Path(k) if k.len() == 1 && (k[0].0 == "eventName" || k[0].0 == "eventSource"));
    let lit = match p {
        Pred::Eq(e, Lit::Str(_)) if indexed(e) => None,
        Pred::Eq(e, Lit::Str(s)) if from_record(e, s, &|d| d == s) => Some(s.as_str()),
        Pred::StartsWith(e, s) if from_record(e, s, &|d| d.starts_with(s.as_str())) => {
            Some(s.as_str())
        }
        Pred::EndsWith(e, s) if from_record(e, s, &|d| d.ends_with(s.as_str())) => Some(s.as_str()),
        Pred::Contains(e, s) if from_record(e, s, &|d| d.contains(s.as_str())) => Some(s.as_str()),
        Pred::And(a, b) => {
            let (a, b) = (required_literal(a), required_literal(b));
            // Prefer the longer (rarer) literal.
            match (a, b) {
                (Some(x), Some(y)) => Some(if y.len() > x.len() { y } else { x }),
                (x, y) => x.or(y),
            }
        }
        _ => None,
    };
    lit.filter(|l| raw_searchable(l))
}

/// Builtins the native fragment relies on; a rule that defines any `def`
/// at all is left to jq.
fn lit(t: &Term<&str>) -> Option<Lit> {
    match t {
        Term::Str(..) => literal_str(t).map(Lit::Str),
        Term::Num(n) => n
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Lit::Num),
        Term::Call("true", a) if a.is_empty() => Some(Lit::Bool(true)),
        Term::Call("false", a) if a.is_empty() => Some(Lit::Bool(false)),
        Term::Call("null", a) if a.is_empty() => Some(Lit::Null),
        _ => None,
    }
}

fn lits(t: &Term<&str>, out: &mut Vec<Lit>) -> Option<()> {
    match t {
        Term::BinOp(l, BinaryOp::Comma, r) => {
            lits(l, out)?;
            lits(r, out)
        }
        t => {
            out.push(lit(t)?);
            Some(())
        }
    }
}

fn expr(t: &Term<&str>, input: &Expr) -> Option<Expr> {
    match t {
        Term::Id => Some(input.clone()),
        Term::Path(head, path) => {
            let Expr::Path(mut keys) = expr(head, input)? else {
                return None;
            };
            for (part, opt) in &path.0 {
                let Part::Index(k) = part else { return None };
                keys.push((literal_str(k)?, matches!(opt, Opt::Optional)));
            }
            Some(Expr::Path(keys))
        }
        Term::BinOp(l, BinaryOp::Pipe(None), r) => expr(r, &expr(l, input)?),
        Term::BinOp(l, BinaryOp::Alt, r) => Some(Expr::Alt(Box::new(expr(l, input)?), lit(r)?)),
        Term::Call("ascii_downcase", a) if a.is_empty() => {
            Some(Expr::Lower(Box::new(input.clone())))
        }
        Term::Call("ascii_upcase", a) if a.is_empty() => Some(Expr::Upper(Box::new(input.clone()))),
        Term::Call("tostring", a) if a.is_empty() => Some(Expr::Tostring(Box::new(input.clone()))),
        _ => None,
    }
}

/// Is this term's output a boolean (so that `P` alone can be a rule)?
fn boolean(p: &Pred) -> bool {
    !matches!(p, Pred::Truthy(_))
}

fn pred(t: &Term<&str>, input: &Expr) -> Option<Pred> {
    match t {
        Term::BinOp(l, BinaryOp::And, r) => Some(Pred::And(
            Box::new(pred(l, input)?),
            Box::new(pred(r, input)?),
        )),
        Term::BinOp(l, BinaryOp::Or, r) => Some(Pred::Or(
            Box::new(pred(l, input)?),
            Box::new(pred(r, input)?),
        )),
        Term::BinOp(l, BinaryOp::Pipe(None), r) => {
            if let Term::Call("not", a) = &**r {
                if a.is_empty() {
                    return Some(Pred::Not(Box::new(pred(l, input)?)));
                }
            }
            pred(r, &expr(l, input)?)
        }
        Term::BinOp(l, BinaryOp::Cmp(c @ (Cmp::Eq | Cmp::Ne)), r) => {
            let eq = match (lit(l), lit(r)) {
                (None, Some(v)) => Pred::Eq(expr(l, input)?, v),
                (Some(v), None) => Pred::Eq(expr(r, input)?, v),
                _ => return None,
            };
            Some(if matches!(c, Cmp::Eq) {
                eq
            } else {
                Pred::Not(Box::new(eq))
            })
        }
        Term::Call("not", a) if a.is_empty() => {
            Some(Pred::Not(Box::new(Pred::Truthy(input.clone()))))
        }
        Term::Call("true", a) if a.is_empty() => Some(Pred::Const(true)),
        Term::Call("false", a) if a.is_empty() => Some(Pred::Const(false)),
        Term::Call(f @ ("startswith" | "endswith" | "contains"), a) if a.len() == 1 => {
            let s = literal_str(&a[0])?;
            Some(match *f {
                "startswith" => Pred::StartsWith(input.clone(), s),
                "endswith" => Pred::EndsWith(input.clone(), s),
                _ => Pred::Contains(input.clone(), s),
            })
        }
        Term::Call("test", a) if a.len() == 1 || a.len() == 2 => {
            let re = literal_str(&a[0])?;
            let flags = match a.get(1) {
                Some(f) => literal_str(f)?,
                None => String::new(),
            };
            // `n` (ignore empty matches) changes whether `test` is true.
            if flags.contains('n') {
                return None;
            }
            Some(Pred::Test(
                input.clone(),
                crate::jq::build_regex(&re, &flags).ok()?,
            ))
        }
        Term::Call("IN", a) if a.len() == 1 => {
            let mut ls = Vec::new();
            lits(&a[0], &mut ls)?;
            Some(Pred::In(input.clone(), ls))
        }
        Term::Call("IN", a) if a.len() == 2 => {
            let mut ls = Vec::new();
            lits(&a[1], &mut ls)?;
            Some(Pred::In(expr(&a[0], input)?, ls))
        }
        t => Some(Pred::Truthy(expr(t, input)?)),
    }
}

fn has_def(t: &Term<&str>) -> bool {
    let mut names = Vec::new();
    crate::analysis::ast::defined_names(t, &mut names);
    !names.is_empty()
}

/// The native form of a rule, if it is in the fragment.
pub fn compile(code: &str) -> Option<NativeRule> {
    let tokens = jaq_core::load::Lexer::new(code).lex().ok()?;
    let term: Term<&str> = jaq_core::load::Parser::new(&tokens)
        .parse(jaq_core::load::Parser::term)
        .ok()?;
    if has_def(&term) {
        return None;
    }
    let root = Expr::Path(Vec::new());
    match &term {
        Term::Call("select", a) if a.len() == 1 => Some(NativeRule::Select(pred(&a[0], &root)?)),
        t => pred(t, &root).filter(boolean).map(NativeRule::Bool),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_fragment() {
        for jq in [
            r#"select(.userIdentity.type == "Root" and .userIdentity.invokedBy == null)"#,
            r#"select(((.errorCode // "") | (endswith("UnauthorizedOperation") or startswith("AccessDenied"))) and .eventName != "HeadBucket")"#,
            r#"select(.eventName | test("^(Get|List)") | not)"#,
            r#".eventSource == "s3.amazonaws.com""#,
            r#"select(.eventName | IN("A", "B"))"#,
            r#"select(IN(.eventSource; "a", "b"))"#,
            r#"select(.readOnly)"#,
            r#"select(.userAgent? | ascii_downcase | contains("terraform"))"#,
            r#"select(.a.b == 1 or .c == true)"#,
            r#"select(tostring | contains("AKIA"))"#,
        ] {
            assert!(compile(jq).is_some(), "{jq}");
        }
    }

    #[test]
    fn required_literals() {
        let req = |jq: &str| match compile(jq).unwrap() {
            NativeRule::Select(p) | NativeRule::Bool(p) => required_literal(&p).map(String::from),
        };
        assert_eq!(
            req(r#"select(tostring | contains("AKIA"))"#).as_deref(),
            Some("AKIA")
        );
        assert_eq!(
            req(r#"select(.errorCode == "AccessDenied" and .x)"#).as_deref(),
            Some("AccessDenied")
        );
        assert_eq!(req(r#"select(.a == "x" or .b == "y")"#), None);
        assert_eq!(
            req(r#"select(.eventSource == "sts.amazonaws.com" and .userIdentity.userName == "nobody")"#)
                .as_deref(),
            Some("nobody")
        );
        assert_eq!(
            req(r#"select(.a | ascii_downcase | contains("akia"))"#),
            None
        );
        assert_eq!(req(r#"select((.a // "AKIA") | contains("AKIA"))"#), None);
        assert_eq!(
            req(r#"select((.a // "") | endswith("Operation"))"#).as_deref(),
            Some("Operation")
        );
        assert_eq!(
            req(r#"select((.a // "xOperation") | endswith("Operation"))"#),
            None
        );
        assert_eq!(req(r#"select(.a == "12.5")"#), None);
        assert_eq!(req(r#"select(.a == "a b")"#), None);
        assert_eq!(req(r#"select(.a | contains("x") | not)"#), None);
        // A missing key's `tostring` is "null": not in the record's bytes.
        assert_eq!(req(r#"select(.nothing | tostring == "null")"#), None);
        assert_eq!(req(r#"select(.nothing | tostring | contains("ul"))"#), None);
    }

    #[test]
    fn leaves_the_rest_to_jq() {
        for jq in [
            r#"select(.eventName == "A") | .requestParameters"#,
            r#".readOnly"#,
            r#"def f: .; select(f == 1)"#,
            r#"select(.eventName == ("A", "B"))"#,
            r#"select(.x[] == 1)"#,
            r#"select(.a | test("x"; "n"))"#,
            r#"select(.a == .b)"#,
            r#".eventName as $n | select($n == "A")"#,
        ] {
            assert!(compile(jq).is_none(), "{jq}");
        }
    }
}
