//! The Sigma condition language (`condition: selection and not 1 of
//! filter_*`), parsed by a hand-written lexer and recursive-descent
//! parser like our jq front end: precedence `not` > `and` > `or`,
//! parentheses, `1 of x*` / `all of x*` / `1 of them` / `all of them`, and
//! the deprecated aggregation suffix `| count([field]) [by field] op N`,
//! which the caller turns into a correlation. Every error carries the
//! byte range in the condition text.

use std::ops::Range;

/// A parsed condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A search identifier, as written, and where.
    Ident(String, Range<usize>),
    /// `a and b and …`
    And(Vec<Expr>),
    /// `a or b or …`
    Or(Vec<Expr>),
    /// `not a`
    Not(Box<Expr>),
    /// `1 of x*`, `all of them`, …
    Of(Quantifier, Target, Range<usize>),
}

/// How many of the searches in an `of` must match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantifier {
    /// `all of`
    All,
    /// `N of` (at least N).
    AtLeast(u32),
}

/// What an `of` ranges over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `them`: every search whose name does not start with `_`.
    Them,
    /// A name pattern with `*` wildcards.
    Pattern(String),
}

/// The deprecated `| count(…) by … > N` suffix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Aggregation {
    /// `count(field)`: distinct values of the field (else every event).
    pub field: Option<String>,
    /// `by field`.
    pub group_by: Option<String>,
    /// The comparison.
    pub op: CmpOp,
    /// The number compared with.
    pub value: u64,
    /// Where the suffix is.
    pub span: Range<usize>,
}

/// A comparison of a count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    /// `>`
    Gt,
    /// `>=`
    Gte,
    /// `<`
    Lt,
    /// `<=`
    Lte,
    /// `==` / `=`
    Eq,
}

/// A syntax error in a condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CondError {
    /// What is wrong.
    pub message: String,
    /// Where, in the condition text.
    pub span: Range<usize>,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Word(String),
    Num(u64),
    LParen,
    RParen,
    Pipe,
    Cmp(CmpOp),
}

fn lex(text: &str) -> Result<Vec<(Tok, Range<usize>)>, CondError> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        let tok = match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'(' => {
                i += 1;
                Tok::LParen
            }
            b')' => {
                i += 1;
                Tok::RParen
            }
            b'|' => {
                i += 1;
                Tok::Pipe
            }
            b'>' | b'<' | b'=' => {
                i += 1;
                let eq = b.get(i) == Some(&b'=');
                if eq {
                    i += 1;
                }
                Tok::Cmp(match (c, eq) {
                    (b'>', false) => CmpOp::Gt,
                    (b'>', true) => CmpOp::Gte,
                    (b'<', false) => CmpOp::Lt,
                    (b'<', true) => CmpOp::Lte,
                    _ => CmpOp::Eq,
                })
            }
            b'0'..=b'9' => {
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                if i < b.len() && is_word(b[i]) {
                    while i < b.len() && is_word(b[i]) {
                        i += 1;
                    }
                    Tok::Word(text[start..i].to_string())
                } else {
                    match text[start..i].parse() {
                        Ok(n) => Tok::Num(n),
                        Err(_) => {
                            return Err(CondError {
                                message: "number too large".into(),
                                span: start..i,
                            })
                        }
                    }
                }
            }
            c if is_word(c) => {
                while i < b.len() && is_word(b[i]) {
                    i += 1;
                }
                Tok::Word(text[start..i].to_string())
            }
            _ => {
                let ch = text[i..].chars().next().unwrap_or('?');
                return Err(CondError {
                    message: format!("unexpected character `{ch}` in the condition"),
                    span: i..i + ch.len_utf8(),
                });
            }
        };
        out.push((tok, start..i));
    }
    Ok(out)
}

/// Characters of identifiers and patterns (`selection_1`, `filter*`,
/// `sel-a.b`).
fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'*' | b'-' | b'.' | b'?') || c >= 0x80
}

/// Parse a condition; the aggregation suffix, if any, comes separately.
pub fn parse(text: &str) -> Result<(Expr, Option<Aggregation>), CondError> {
    let toks = lex(text)?;
    let mut p = P {
        toks,
        pos: 0,
        end: text.len(),
        depth: 0,
    };
    if p.toks.is_empty() {
        return Err(CondError {
            message: "the condition is empty".into(),
            span: 0..text.len(),
        });
    }
    let e = p.or()?;
    let agg = if p.peek() == Some(&Tok::Pipe) {
        Some(p.aggregation()?)
    } else {
        None
    };
    if let Some((t, span)) = p.toks.get(p.pos) {
        let what = match t {
            Tok::RParen => "an unmatched `)`".to_string(),
            Tok::Word(w) => format!("`{w}` (a missing `and` or `or`?)"),
            _ => "this".to_string(),
        };
        return Err(CondError {
            message: format!("unexpected {what} in the condition"),
            span: span.clone(),
        });
    }
    Ok((e, agg))
}

/// Deepest nesting of `not` and parentheses (like the jq parser's limit):
/// everything downstream recurses over the condition, so a crafted one
/// must be an error, not a stack overflow.
const MAX_DEPTH: usize = 256;

struct P {
    toks: Vec<(Tok, Range<usize>)>,
    pos: usize,
    end: usize,
    depth: usize,
}

impl P {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.0)
    }

    fn here(&self) -> Range<usize> {
        self.toks
            .get(self.pos)
            .map_or(self.end..self.end, |t| t.1.clone())
    }

    fn keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn err<T>(&self, message: impl Into<String>) -> Result<T, CondError> {
        Err(CondError {
            message: message.into(),
            span: self.here(),
        })
    }

    fn or(&mut self) -> Result<Expr, CondError> {
        let mut items = vec![self.and()?];
        while self.keyword("or") {
            self.pos += 1;
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap()
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self) -> Result<Expr, CondError> {
        let mut items = vec![self.not()?];
        while self.keyword("and") {
            self.pos += 1;
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap()
        } else {
            Expr::And(items)
        })
    }

    fn not(&mut self) -> Result<Expr, CondError> {
        if self.keyword("not") {
            self.pos += 1;
            let inner = self.nested(Self::not)?;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.primary()
    }

    /// `f` one level deeper, or an error past [`MAX_DEPTH`].
    fn nested(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<Expr, CondError>,
    ) -> Result<Expr, CondError> {
        if self.depth >= MAX_DEPTH {
            return self.err(format!(
                "the condition nests `not` and parentheses more than {MAX_DEPTH} levels deep"
            ));
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn primary(&mut self) -> Result<Expr, CondError> {
        let start = self.here();
        match self.peek().cloned() {
            Some(Tok::LParen) => {
                self.pos += 1;
                let e = self.nested(Self::or)?;
                if self.peek() != Some(&Tok::RParen) {
                    return Err(CondError {
                        message: "this `(` is not closed".into(),
                        span: start,
                    });
                }
                self.pos += 1;
                Ok(e)
            }
            Some(Tok::Num(n)) => {
                self.pos += 1;
                if n == 0 {
                    return Err(CondError {
                        message: "`0 of` is always true; write the searches out".into(),
                        span: start,
                    });
                }
                self.of(Quantifier::AtLeast(n.min(u32::MAX as u64) as u32), start)
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("all") && self.next_is_of() => {
                self.pos += 1;
                self.of(Quantifier::All, start)
            }
            Some(Tok::Word(w)) => {
                if ["and", "or", "of", "them"]
                    .iter()
                    .any(|k| w.eq_ignore_ascii_case(k))
                {
                    return self.err(format!("expected a search identifier, found `{w}`"));
                }
                self.pos += 1;
                Ok(Expr::Ident(w, start))
            }
            Some(_) => self.err("expected a search identifier, `not`, `(`, or `N of`/`all of`"),
            None => self.err("the condition ends too early"),
        }
    }

    fn next_is_of(&self) -> bool {
        matches!(self.toks.get(self.pos + 1), Some((Tok::Word(w), _)) if w.eq_ignore_ascii_case("of"))
    }

    fn of(&mut self, q: Quantifier, start: Range<usize>) -> Result<Expr, CondError> {
        if !self.keyword("of") {
            return self.err("expected `of` after a number (`1 of selection*`)");
        }
        self.pos += 1;
        match self.peek().cloned() {
            Some(Tok::Word(w)) => {
                let end = self.here().end;
                self.pos += 1;
                let target = if w.eq_ignore_ascii_case("them") {
                    Target::Them
                } else {
                    Target::Pattern(w)
                };
                Ok(Expr::Of(q, target, start.start..end))
            }
            _ => self.err("expected `them` or a search name pattern after `of`"),
        }
    }

    fn aggregation(&mut self) -> Result<Aggregation, CondError> {
        let start = self.here().start;
        self.pos += 1; // `|`
        if self.keyword("near") {
            return self.err(
                "`| near` (Sigma 1's temporal aggregation) is not supported; \
                 write it as a `temporal` correlation rule over two rules",
            );
        }
        if !self.keyword("count") {
            return self.err(
                "only the `count()` aggregation is supported (`| count() by field > N`); \
                 write other aggregations as a correlation rule",
            );
        }
        self.pos += 1;
        if self.peek() != Some(&Tok::LParen) {
            return self.err("expected `(` after `count`");
        }
        self.pos += 1;
        let field = match self.peek().cloned() {
            Some(Tok::Word(w)) => {
                self.pos += 1;
                Some(w)
            }
            _ => None,
        };
        if self.peek() != Some(&Tok::RParen) {
            return self.err("expected `)` to close `count(`");
        }
        self.pos += 1;
        let group_by = if self.keyword("by") {
            self.pos += 1;
            match self.peek().cloned() {
                Some(Tok::Word(w)) => {
                    self.pos += 1;
                    Some(w)
                }
                _ => return self.err("expected a field name after `by`"),
            }
        } else {
            None
        };
        let op = match self.peek() {
            Some(Tok::Cmp(op)) => *op,
            _ => return self.err("expected a comparison (`>`, `>=`, `<`, `<=`, `==`)"),
        };
        self.pos += 1;
        let value = match self.peek() {
            Some(Tok::Num(n)) => *n,
            _ => return self.err("expected a number to compare the count with"),
        };
        let end = self.here().end;
        self.pos += 1;
        Ok(Aggregation {
            field,
            group_by,
            op,
            value,
            span: start..end,
        })
    }
}

/// Does a name match a pattern with `*` wildcards?
pub fn name_matches(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(e: &Expr) -> String {
        match e {
            Expr::Ident(n, _) => n.clone(),
            Expr::And(xs) => format!("({})", xs.iter().map(show).collect::<Vec<_>>().join(" & ")),
            Expr::Or(xs) => format!("({})", xs.iter().map(show).collect::<Vec<_>>().join(" | ")),
            Expr::Not(x) => format!("!{}", show(x)),
            Expr::Of(q, t, _) => format!(
                "{}of:{}",
                match q {
                    Quantifier::All => "all".to_string(),
                    Quantifier::AtLeast(n) => n.to_string(),
                },
                match t {
                    Target::Them => "them",
                    Target::Pattern(p) => p,
                }
            ),
        }
    }

    #[test]
    fn precedence_and_quantifiers() {
        let (e, _) = parse("a or b and not c").unwrap();
        assert_eq!(show(&e), "(a | (b & !c))");
        let (e, _) = parse("selection and not 1 of filter_main_*").unwrap();
        assert_eq!(show(&e), "(selection & !1of:filter_main_*)");
        let (e, _) = parse("(a or b) and all of them").unwrap();
        assert_eq!(show(&e), "((a | b) & allof:them)");
        let (e, _) = parse("not not a").unwrap();
        assert_eq!(show(&e), "!!a");
        // `all` as an identifier when not followed by `of`.
        let (e, _) = parse("all").unwrap();
        assert_eq!(show(&e), "all");
    }

    #[test]
    fn aggregation_suffix() {
        let (e, agg) = parse("selection | count() by sourceIPAddress > 5").unwrap();
        assert_eq!(show(&e), "selection");
        let agg = agg.unwrap();
        assert_eq!(agg.group_by.as_deref(), Some("sourceIPAddress"));
        assert_eq!((agg.op, agg.value, agg.field), (CmpOp::Gt, 5, None));
        let e = parse("selection | max(x) > 5").unwrap_err();
        assert!(e.message.contains("only the `count()`"), "{e:?}");
    }

    #[test]
    fn errors_point_at_the_token() {
        let text = "selection and (a or b";
        let e = parse(text).unwrap_err();
        assert_eq!(&text[e.span.clone()], "(");
        let text = "selection filter";
        let e = parse(text).unwrap_err();
        assert_eq!(&text[e.span.clone()], "filter");
        let e = parse("a and").unwrap_err();
        assert!(e.message.contains("ends too early"), "{e:?}");
        let e = parse("a & b").unwrap_err();
        assert!(e.message.contains("`&`"), "{e:?}");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{}a{}", "(".repeat(100_000), ")".repeat(100_000));
        let e = parse(&deep).unwrap_err();
        assert!(e.message.contains("256 levels"), "{e:?}");
        let nots = format!("{}a", "not ".repeat(100_000));
        assert!(parse(&nots).unwrap_err().message.contains("256 levels"));
        // At the limit it still parses.
        let ok = format!("{}a{}", "(".repeat(200), ")".repeat(200));
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn name_patterns() {
        assert!(name_matches("filter_*", "filter_main_x"));
        assert!(name_matches("*", "x"));
        assert!(!name_matches("sel*", "_sel"));
        assert!(name_matches("a*b*c", "aXXbYc"));
    }
}
