//! Evaluation of native rules ([`tattletail_compiler::native`]) directly on
//! a record's simd-json tape: no jaq value is built and no interpreter
//! runs. `Err(None)` is `empty` (from `.a?`), `Err(Some(message))` an
//! error; neither alerts, and errors are counted like jq's.

use simd_json::prelude::*;
use simd_json::tape::Value;
use tattletail_compiler::native::{Expr, Lit, NativeRule, Pred};

use crate::record::get;

/// A value during evaluation.
enum V<'t, 'a, 'p> {
    Tape(Value<'t, 'a>),
    Str(String),
    Lit(&'p Lit),
}

impl V<'_, '_, '_> {
    fn truthy(&self) -> bool {
        match self {
            V::Tape(v) => !(v.is_null() || v.as_bool() == Some(false)),
            V::Str(_) => true,
            V::Lit(l) => !matches!(l, Lit::Null | Lit::Bool(false)),
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            V::Tape(v) => v.into_string(),
            V::Str(s) => Some(s),
            V::Lit(Lit::Str(s)) => Some(s),
            V::Lit(_) => None,
        }
    }

    fn eq(&self, lit: &Lit) -> bool {
        match (self, lit) {
            (V::Lit(a), b) => match (a, b) {
                (Lit::Num(x), Lit::Num(y)) => x == y,
                (a, b) => *a == b,
            },
            (V::Str(s), Lit::Str(t)) => s == t,
            (V::Str(_), _) => false,
            (V::Tape(v), Lit::Str(s)) => v.into_string() == Some(s.as_str()),
            (V::Tape(v), Lit::Num(n)) => number(v) == Some(*n),
            (V::Tape(v), Lit::Bool(b)) => v.as_bool() == Some(*b),
            (V::Tape(v), Lit::Null) => v.is_null(),
        }
    }
}

/// No output: `None` for `empty`, `Some(message)` for an error.
type NoOutput = Option<String>;

fn describe(v: &V<'_, '_, '_>) -> String {
    let text = match v {
        V::Tape(t) => crate::record::to_val(*t).to_string(),
        V::Str(s) => format!("{s:?}"),
        V::Lit(l) => format!("{l:?}"),
    };
    text.chars().take(60).collect()
}

fn string<'v>(v: &'v V<'_, '_, '_>, what: &str) -> Result<&'v str, NoOutput> {
    v.as_str()
        .ok_or_else(|| Some(format!("{what}: {} is not a string", describe(v))))
}

fn lit_json(l: &Lit) -> String {
    match l {
        Lit::Str(s) => s.clone(),
        Lit::Num(n) => jaq_json::Val::from(*n).to_string(),
        Lit::Bool(b) => b.to_string(),
        Lit::Null => "null".to_string(),
    }
}

fn number(v: &Value<'_, '_>) -> Option<f64> {
    v.as_i64()
        .map(|i| i as f64)
        .or_else(|| v.as_u64().map(|u| u as f64))
        .or_else(|| v.as_f64())
}

/// A record's top-level fields, collected once per record so that every
/// native rule's first path step is a short backwards scan (the last
/// duplicate wins, as in jq) instead of a walk over the whole object.
pub struct Root<'t, 'a> {
    value: Value<'t, 'a>,
    fields: Vec<(&'a str, Value<'t, 'a>)>,
}

impl<'t, 'a> Root<'t, 'a> {
    /// Index a record's root value.
    pub fn new(value: Value<'t, 'a>) -> Self {
        let fields = value
            .as_object()
            .map(|o| o.iter().collect())
            .unwrap_or_default();
        Root { value, fields }
    }

    /// A top-level string field (`None`: missing or not a string).
    pub fn str(&self, key: &str) -> Option<&'a str> {
        self.get(key)?.into_string()
    }

    fn get(&self, key: &str) -> Option<Value<'t, 'a>> {
        // (A trait in simd-json's prelude shadows `Vec::iter`.)
        <[(&str, Value)]>::iter(&self.fields)
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }
}

fn expr<'t, 'a, 'p>(e: &'p Expr, root: &Root<'t, 'a>) -> Result<V<'t, 'a, 'p>, NoOutput> {
    match e {
        Expr::Path(keys) => {
            let mut cur = root.value;
            let mut keys = keys.iter();
            if root.value.is_object() {
                match keys.next() {
                    Some((k, _)) => cur = root.get(k).unwrap_or(Value::null()),
                    None => return Ok(V::Tape(cur)),
                }
            }
            for (k, optional) in keys {
                if cur.is_object() {
                    cur = get(cur, k).unwrap_or(Value::null());
                } else if !cur.is_null() {
                    return Err((!optional)
                        .then(|| format!("cannot index {} with {k:?}", describe(&V::Tape(cur)))));
                }
            }
            Ok(V::Tape(cur))
        }
        Expr::Alt(e, lit) => match expr(e, root) {
            Ok(v) if v.truthy() => Ok(v),
            _ => Ok(V::Lit(lit)),
        },
        Expr::Lower(e) => Ok(V::Str(
            string(&expr(e, root)?, "ascii_downcase")?.to_ascii_lowercase(),
        )),
        Expr::Upper(e) => Ok(V::Str(
            string(&expr(e, root)?, "ascii_upcase")?.to_ascii_uppercase(),
        )),
        Expr::Tostring(e) => Ok(match expr(e, root)? {
            V::Tape(t) if t.into_string().is_none() => V::Str(crate::record::to_val(t).to_string()),
            V::Lit(l) if !matches!(l, Lit::Str(_)) => V::Str(lit_json(l)),
            v => v,
        }),
    }
}

fn pred(p: &Pred, root: &Root<'_, '_>) -> Result<bool, NoOutput> {
    Ok(match p {
        Pred::Const(b) => *b,
        Pred::Truthy(e) => expr(e, root)?.truthy(),
        Pred::Eq(e, lit) => expr(e, root)?.eq(lit),
        Pred::StartsWith(e, s) => string(&expr(e, root)?, "startswith")?.starts_with(s.as_str()),
        Pred::EndsWith(e, s) => string(&expr(e, root)?, "endswith")?.ends_with(s.as_str()),
        // jaq: a string in a string is a substring test; otherwise equality,
        // which a string literal never has with a non-string.
        Pred::Contains(e, s) => expr(e, root)?
            .as_str()
            .is_some_and(|x| x.contains(s.as_str())),
        Pred::Test(e, re) => re.is_match(string(&expr(e, root)?, "test")?.as_bytes()),
        Pred::In(e, lits) => {
            let v = expr(e, root)?;
            lits.iter().any(|l| v.eq(l))
        }
        Pred::And(a, b) => pred(a, root)? && pred(b, root)?,
        Pred::Or(a, b) => pred(a, root)? || pred(b, root)?,
        Pred::Not(a) => !pred(a, root)?,
    })
}

/// What a native rule did on a record.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No alert.
    Quiet,
    /// An alert; `true` when the annotation is `true`, `false` when the
    /// output is the record.
    Alert(bool),
    /// The rule failed before its first output (no alert).
    Error(String),
}

/// Evaluate a native rule on a record.
pub fn eval(rule: &NativeRule, root: &Root<'_, '_>) -> Verdict {
    let (p, annotated) = match rule {
        NativeRule::Select(p) => (p, false),
        NativeRule::Bool(p) => (p, true),
    };
    match pred(p, root) {
        Ok(true) => Verdict::Alert(annotated),
        Ok(false) | Err(None) => Verdict::Quiet,
        Err(Some(e)) => Verdict::Error(e),
    }
}
