//! Sigma rule → jq: the lowering of a Sigma detection into a jq program
//! that the rest of the compiler treats like any `jq_match` (our parser,
//! the IR, the prefilter analysis, native evaluation). The same text is
//! what `tattletail explain --format jq` prints, so what a user audits is
//! exactly what runs.
//!
//! Matching follows the Sigma specification as rsigma-eval implements it
//! (README, "Sigma rules", lists the deliberate differences):
//!
//! - a field path `a.b.c` is first looked up as a literal top-level key,
//!   then followed through objects, fanning out over arrays; a missing
//!   field gives no value;
//! - string comparisons are case-insensitive (ASCII) unless `cased`, with
//!   `*`/`?` wildcards; numbers and booleans in the event compare as their
//!   text, objects as their JSON text (so `requestParameters|contains`
//!   works as SigmaHQ means it); an array matches when an element does;
//! - a number in the rule compares numerically (strings in the event are
//!   parsed), `true`/`false` match booleans and `"true"`/`"1"`/`"yes"`…,
//!   `null` matches a missing or null field;
//! - every search is one boolean, whatever the record holds, so `not`
//!   and `or` in conditions never see an empty or an error.
//!
//! Top-level `eventName` / `eventSource` comparisons are written so the
//! prefilter analysis can index them (`ascii_downcase == "…"` under a
//! `type == "string"` test); they are never indexed from inside `not`
//! because the analysis derives conditions from the IR, negation included.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::condition::{name_matches, Expr, Quantifier, Target};
use super::rule::{Body, Item, Op, Rule, Value};
use super::values::{self, Piece};

/// Helper definitions, emitted only when used (in this order).
const HELPERS: &[(&str, &str)] = &[
    (
        "sigma_leaves",
        "# the values of an array (one level of nesting), or the value itself\n\
         def sigma_leaves: if type == \"array\" then .[] | (if type == \"array\" then .[] else . end) else . end;",
    ),
    (
        "sigma_text",
        "# a value as Sigma compares it with a string: numbers and booleans as text, objects as JSON\n\
         def sigma_text: select(. != null) | if type == \"string\" then . elif type == \"object\" then tojson else tostring end;",
    ),
    (
        "sigma_str",
        "# does the value (or an element of it) pass the string test f?\n\
         def sigma_str(f): if type == \"string\" then f else any(sigma_leaves | sigma_text; f) end;",
    ),
    (
        "sigma_num",
        "# does the value (or an element) pass the numeric test f? (strings are parsed)\n\
         def sigma_num(f): any(sigma_leaves | if type == \"number\" then . elif type == \"string\" then (tonumber? // empty) else empty end; f);",
    ),
    (
        "sigma_bool",
        "# is the value (or an element) the boolean $b, or a string meaning it?\n\
         def sigma_bool($b): any(sigma_leaves; if type == \"boolean\" then . == $b elif type == \"string\" then ascii_downcase as $s | (if $b then [\"true\", \"1\", \"yes\"] else [\"false\", \"0\", \"no\"] end | index([$s]) != null) else false end);",
    ),
    (
        "sigma_values",
        "# the values at a dotted path: a literal key first, else through objects, fanning out over arrays\n\
         def sigma_key($k): if type == \"object\" then (select(has($k)) | .[$k]) elif type == \"array\" then .[] | objects | select(has($k)) | .[$k] else empty end;",
    ),
];

/// What the emitter produced for one rule.
#[derive(Clone, Debug)]
pub struct Emitted {
    /// The jq program.
    pub jq: String,
}

/// Lower a rule to jq.
pub fn emit(rule: &Rule) -> Emitted {
    let mut e = Emitter {
        used: BTreeSet::new(),
    };
    let mut searches = String::new();
    let names = search_defs(rule);
    for (s, def) in rule.searches.iter().zip(&names) {
        let body = e.body(&s.body);
        let _ = writeln!(searches, "# {}\ndef {def}: {body};", one_line(&s.name));
    }
    let cond = e.condition(&rule.condition, rule, &names);
    let mut out = String::new();
    let _ = writeln!(out, "# Sigma rule: {}", one_line(&rule.title));
    if let Some(id) = &rule.id {
        let _ = writeln!(out, "# id: {}", one_line(id));
    }
    for (name, text) in HELPERS {
        if e.used.contains(*name) {
            let _ = writeln!(out, "{text}");
        }
    }
    out.push_str(&searches);
    // `select`: the alert's output is the record itself (no annotation).
    let _ = writeln!(out, "select({})", strip_parens(&cond));
    Emitted { jq: out }
}

/// `(x)` → `x` when the parentheses enclose the whole text.
fn strip_parens(s: &str) -> &str {
    let Some(inner) = s.strip_prefix('(').and_then(|r| r.strip_suffix(')')) else {
        return s;
    };
    // The opening parenthesis must close at the very end (strings may
    // hold parentheses, so track them).
    let (mut depth, mut in_str, mut esc) = (0i32, false, false);
    for c in inner.chars() {
        match (in_str, esc, c) {
            (true, true, _) => esc = false,
            (true, false, '\\') => esc = true,
            (true, false, '"') => in_str = false,
            (true, false, _) => {}
            (false, _, '"') => in_str = true,
            (false, _, '(') => depth += 1,
            (false, _, ')') => {
                depth -= 1;
                if depth < 0 {
                    return s;
                }
            }
            _ => {}
        }
    }
    if depth == 0 {
        inner
    } else {
        s
    }
}

/// A search's name as a jq identifier, unique within the rule.
fn search_defs(rule: &Rule) -> Vec<String> {
    let mut seen = BTreeSet::new();
    rule.searches
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut id: String = s
                .name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            id = format!("search_{id}");
            if !seen.insert(id.clone()) {
                id = format!("{id}_{i}");
                seen.insert(id.clone());
            }
            id
        })
        .collect()
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// A jq string literal.
pub fn lit(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

struct Emitter {
    used: BTreeSet<&'static str>,
}

impl Emitter {
    fn use_helper(&mut self, name: &'static str) {
        // Dependencies first.
        match name {
            "sigma_str" => {
                self.used.insert("sigma_leaves");
                self.used.insert("sigma_text");
            }
            "sigma_num" | "sigma_bool" => {
                self.used.insert("sigma_leaves");
            }
            _ => {}
        }
        self.used.insert(name);
    }

    fn condition(&mut self, e: &Expr, rule: &Rule, names: &[String]) -> String {
        match e {
            Expr::Ident(n, _) => {
                let i = rule
                    .searches
                    .iter()
                    .position(|s| &s.name == n)
                    .expect("checked when read");
                names[i].clone()
            }
            Expr::And(xs) => join(xs.iter().map(|x| self.condition(x, rule, names)), " and "),
            Expr::Or(xs) => join(xs.iter().map(|x| self.condition(x, rule, names)), " or "),
            Expr::Not(x) => format!("({} | not)", self.condition(x, rule, names)),
            Expr::Of(q, t, _) => {
                let picked: Vec<String> = rule
                    .searches
                    .iter()
                    .zip(names)
                    .filter(|(s, _)| match t {
                        Target::Them => !s.name.starts_with('_'),
                        Target::Pattern(p) => name_matches(p, &s.name),
                    })
                    .map(|(_, d)| d.clone())
                    .collect();
                match q {
                    Quantifier::All => join(picked.into_iter(), " and "),
                    Quantifier::AtLeast(1) => join(picked.into_iter(), " or "),
                    Quantifier::AtLeast(n) => {
                        format!("([{}] | map(select(.)) | length >= {n})", picked.join(", "))
                    }
                }
            }
        }
    }

    fn body(&mut self, b: &Body) -> String {
        match b {
            Body::Keywords(items) => join(items.iter().map(|i| self.keyword(i)), " or "),
            Body::Maps(maps) => join(
                maps.iter()
                    .map(|m| join(m.iter().map(|i| self.item(i)), " and ")),
                " or ",
            ),
        }
    }

    /// A keyword: any string anywhere in the record.
    fn keyword(&mut self, item: &Item) -> String {
        let mut tests = Vec::new();
        for v in item
            .values
            .iter()
            .filter(|v| matches!(v, Value::Str(_) | Value::AnyOf(_)))
        {
            // Numbers, booleans and null never match a keyword (rsigma-eval).
            // A keyword is a substring, with or without wildcards (`a*b`
            // matches "xxaybxx", as rsigma-eval and full-text search do).
            let (fold, t) = self.string_tests(v, &Op::Contains, item.cased);
            let body = join(t.into_iter(), " or ");
            tests.push(if fold {
                format!("(ascii_downcase | {body})")
            } else {
                body
            });
        }
        format!("any(.. | strings; {})", join(tests.into_iter(), " or "))
    }

    fn item(&mut self, item: &Item) -> String {
        let field = item.field.as_deref().expect("map items have fields");
        let (single, values) = self.field_source(field);
        let mine = collected(single, field, &values);
        match &item.op {
            Op::Exists => {
                let want = matches!(item.values.as_slice(), [Value::Bool(true)]);
                let exists = if single {
                    format!("(.{} != null)", path_key(field))
                } else {
                    format!("([{values}] | length > 1 or (length == 1 and .[0] != null))")
                };
                if want {
                    exists
                } else {
                    format!("({exists} | not)")
                }
            }
            Op::FieldRef => {
                let tests: Vec<String> = item
                    .values
                    .iter()
                    .map(|v| {
                        let Value::Str(other) = v else {
                            unreachable!("checked when read")
                        };
                        let (s, vals) = self.field_source(other);
                        let theirs = collected(s, other, &vals);
                        // Two strings, numbers or booleans compare as
                        // text (`1` = "1", as rsigma-eval); anything else
                        // structurally.
                        self.use_helper("sigma_text");
                        let cmp = if item.cased {
                            "if [$a, $b | type] - [\"string\", \"number\", \"boolean\"] == [] then ($a | sigma_text) == ($b | sigma_text) else $a == $b end"
                        } else {
                            "if [$a, $b | type] - [\"string\", \"number\", \"boolean\"] == [] then ($a | sigma_text | ascii_downcase) == ($b | sigma_text | ascii_downcase) else $a == $b end"
                        };
                        format!("any({mine} as $a | {theirs} as $b | {cmp}; .)")
                    })
                    .collect();
                combine(tests, item.all)
            }
            Op::Neq => {
                let mut tests = self.value_tests(item, &Op::Eq);
                if item.values.contains(&Value::Null) {
                    tests.push(Test::Null);
                }
                let pred = join(tests.iter().map(|t| self.test(t)), " or ");
                format!("any({mine}; {pred} | not)")
            }
            op => {
                let tests = self.value_tests(item, op);
                let mut parts: Vec<String> = Vec::new();
                if item.all {
                    for t in &tests {
                        parts.push(self.apply(single, &values, field, std::slice::from_ref(t)));
                    }
                } else if !tests.is_empty() {
                    parts.push(self.apply(single, &values, field, &tests));
                }
                if item.values.contains(&Value::Null) {
                    // A bare `null` also matches a missing field; `null`
                    // in a list only a null value (as rsigma-eval).
                    let missing_too = item.values.len() == 1;
                    parts.push(match (single, missing_too) {
                        (true, true) => format!("(.{} == null)", path_key(field)),
                        (true, false) => {
                            format!("(has({}) and .{} == null)", lit(field), path_key(field))
                        }
                        (false, true) => format!("([{values}] | length == 0 or . == [null])"),
                        (false, false) => format!("([{values}] == [null])"),
                    });
                }
                combine(parts, item.all)
            }
        }
    }

    /// Tests of the non-null values: string tests (together in one
    /// `sigma_str`, or one each under `all`), numeric and boolean tests.
    fn value_tests(&mut self, item: &Item, op: &Op) -> Vec<Test> {
        let (mut folded, mut raw) = (Vec::new(), Vec::new());
        let mut out = Vec::new();
        for v in &item.values {
            match (v, op) {
                (Value::Null, _) => {}
                (Value::Num(n, _), Op::Eq) => out.push(Test::Num(format!(". == {}", num(*n)))),
                (Value::Num(n, _), Op::Lt) => out.push(Test::Num(format!(". < {}", num(*n)))),
                (Value::Num(n, _), Op::Lte) => out.push(Test::Num(format!(". <= {}", num(*n)))),
                (Value::Num(n, _), Op::Gt) => out.push(Test::Num(format!(". > {}", num(*n)))),
                (Value::Num(n, _), Op::Gte) => out.push(Test::Num(format!(". >= {}", num(*n)))),
                (Value::Bool(b), Op::Eq) => out.push(Test::Bool(*b)),
                (v, op) => {
                    let (fold, tests) = self.string_tests(v, op, item.cased);
                    if item.all {
                        out.push(Test::Str(tests, fold));
                    } else if fold {
                        folded.extend(tests);
                    } else {
                        raw.extend(tests);
                    }
                }
            }
        }
        if !raw.is_empty() {
            out.insert(0, Test::Str(raw, false));
        }
        if !folded.is_empty() {
            out.insert(0, Test::Str(folded, true));
        }
        out
    }

    /// jq tests on a string for one value, and whether they test its ASCII
    /// lowercase (`.` is then the lowercased string).
    fn string_tests(&mut self, v: &Value, op: &Op, cased: bool) -> (bool, Vec<String>) {
        let texts: Vec<String> = match v {
            Value::Str(s) => vec![s.clone()],
            Value::AnyOf(xs) => xs.clone(),
            Value::Num(_, t) => vec![t.clone()],
            Value::Bool(b) => vec![b.to_string()],
            Value::Null => vec![],
        };
        let fold = |s: &str| {
            if cased {
                s.to_string()
            } else {
                s.to_ascii_lowercase()
            }
        };
        let fold_subject = !cased && !matches!(op, Op::Re { .. } | Op::Cidr);
        let tests = texts
            .iter()
            .map(|t| match op {
                Op::Re { i, m, s } => {
                    let flags: String = [(*i, 'i'), (*m, 'm'), (*s, 's')]
                        .iter()
                        .filter(|(on, _)| *on)
                        .map(|(_, c)| *c)
                        .collect();
                    // Sigma's `m` (multi-line) and `s` (dot-all) as RE2
                    // inline flags: jq's own flag letters mean other things.
                    if flags.is_empty() {
                        format!("test({})", lit(t))
                    } else {
                        format!("test({})", lit(&format!("(?{flags}){t}")))
                    }
                }
                Op::Cidr => {
                    let re = values::ipv4_cidr_regex(t).expect("checked when read");
                    format!("test({})", lit(&re))
                }
                _ => {
                    let pieces: Vec<Piece> = values::pieces(t)
                        .into_iter()
                        .map(|p| match p {
                            Piece::Lit(s) => Piece::Lit(fold(&s)),
                            p => p,
                        })
                        .collect();
                    match (values::plain(&pieces), op) {
                        (Some(p), Op::Contains) => format!("contains({})", lit(&p)),
                        (Some(p), Op::StartsWith) => format!("startswith({})", lit(&p)),
                        (Some(p), Op::EndsWith) => format!("endswith({})", lit(&p)),
                        (Some(p), _) => format!(". == {}", lit(&p)),
                        (None, _) => {
                            // `x*` is a prefix test (indexable).
                            if let ([Piece::Lit(p), Piece::Star], Op::Eq | Op::StartsWith) =
                                (pieces.as_slice(), op)
                            {
                                return format!("startswith({})", lit(p));
                            }
                            let re = values::regex_of(&pieces);
                            let (pre, post) = match op {
                                Op::Contains => ("", ""),
                                Op::StartsWith => ("^", ""),
                                Op::EndsWith => ("", "$"),
                                _ => ("^", "$"),
                            };
                            format!("test({})", lit(&format!("{pre}{re}{post}")))
                        }
                    }
                }
            })
            .collect();
        (fold_subject, tests)
    }

    /// The values of a field: `(true, "")` for a top-level key (`.name`
    /// gives its value, or null when missing), else `(false, generator)`.
    /// `resources[].ARN` is `resources.ARN`: arrays are fanned out anyway.
    fn field_source(&mut self, field: &str) -> (bool, String) {
        if !field.contains('.') && !field.contains("[]") {
            return (true, String::new());
        }
        self.use_helper("sigma_values");
        let mut path = String::new();
        for (i, seg) in field.split('.').enumerate() {
            if i > 0 {
                path.push_str(" | ");
            }
            let seg = seg.strip_suffix("[]").unwrap_or(seg);
            let _ = write!(path, "sigma_key({})", lit(seg));
        }
        let flat = lit(field);
        (
            false,
            format!("(if has({flat}) then .[{flat}] else {path} end)"),
        )
    }

    /// Value tests (or-ed) on a field's values.
    fn apply(&mut self, single: bool, values: &str, field: &str, tests: &[Test]) -> String {
        let pred = join(tests.iter().map(|t| self.test(t)), " or ");
        if single {
            format!("(.{} | {pred})", path_key(field))
        } else {
            format!("any({values}; {pred})")
        }
    }

    fn test(&mut self, t: &Test) -> String {
        match t {
            Test::Str(tests, fold) => {
                self.use_helper("sigma_str");
                let body = join(tests.iter().cloned(), " or ");
                if *fold {
                    format!("sigma_str(ascii_downcase | {body})")
                } else {
                    format!("sigma_str({body})")
                }
            }
            Test::Num(f) => {
                self.use_helper("sigma_num");
                format!("sigma_num({f})")
            }
            Test::Bool(b) => {
                self.use_helper("sigma_bool");
                format!("sigma_bool({b})")
            }
            Test::Null => "(. == null)".into(),
        }
    }
}

/// A field's value as rsigma collects it: no output when missing, the
/// value when there is one, an array of them when the path fans out.
fn collected(single: bool, field: &str, values: &str) -> String {
    if single {
        format!("(select(has({})) | .{})", lit(field), path_key(field))
    } else {
        format!("([{values}] | if length == 0 then empty elif length == 1 then .[0] else . end)")
    }
}

/// A one-segment path as jq: `.eventName` or `."odd key"`.
fn path_key(field: &str) -> String {
    if !field.is_empty()
        && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !field.starts_with(|c: char| c.is_ascii_digit())
    {
        field.to_string()
    } else {
        lit(field)
    }
}

/// A test on one value of a field.
#[derive(Clone, Debug)]
enum Test {
    /// String tests (or-ed) inside `sigma_str`, on the ASCII-lowercased
    /// string when the flag is set.
    Str(Vec<String>, bool),
    /// A numeric test, inside `sigma_num`.
    Num(String),
    /// A boolean.
    Bool(bool),
    /// `null`.
    Null,
}

fn num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

fn combine(parts: Vec<String>, all: bool) -> String {
    match parts.len() {
        0 => "false".into(),
        1 => parts.into_iter().next().unwrap(),
        _ => join(parts.into_iter(), if all { " and " } else { " or " }),
    }
}

fn join(parts: impl Iterator<Item = String>, sep: &str) -> String {
    let v: Vec<String> = parts.collect();
    match v.len() {
        0 => {
            if sep.trim() == "and" {
                "true".into()
            } else {
                "false".into()
            }
        }
        1 => v.into_iter().next().unwrap(),
        _ => format!("({})", v.join(sep)),
    }
}
