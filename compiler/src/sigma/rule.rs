//! A Sigma detection rule, read from its YAML: metadata, the searches of
//! its `detection` section (field items with their modifiers and values)
//! and its parsed condition. This is the one representation of a Sigma
//! rule between the YAML and the jq it compiles to ([`super::jq`]).
//!
//! Reading checks everything the specification (v2.1) constrains and we
//! support: unknown or misplaced modifiers, values of the wrong type for a
//! modifier, regexes that do not compile, conditions naming searches that
//! do not exist. Every problem is an [`Issue`] at a byte range of the
//! file; a rule with an error is skipped whole, never half-evaluated.

use std::ops::Range;

use super::condition::{self, Aggregation, Expr, Target};
use super::yaml::{Kind, Scalar, Yaml};

/// A problem in a Sigma file, at a byte range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    /// What is wrong.
    pub message: String,
    /// Where.
    pub span: Range<usize>,
    /// How to fix it, when we can say.
    pub help: Option<String>,
}

impl Issue {
    pub(crate) fn new(message: impl Into<String>, span: Range<usize>) -> Issue {
        Issue {
            message: message.into(),
            span,
            help: None,
        }
    }

    pub(crate) fn help(mut self, help: impl Into<String>) -> Issue {
        self.help = Some(help.into());
        self
    }
}

/// A detection rule.
#[derive(Clone, Debug)]
pub struct Rule {
    /// `title` (the rule's name in Tattletail).
    pub title: String,
    /// `id`.
    pub id: Option<String>,
    /// `name` (how correlation rules may refer to it).
    pub name: Option<String>,
    /// `level`.
    pub level: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `references`.
    pub references: Vec<String>,
    /// `tags`.
    pub tags: Vec<String>,
    /// The searches of `detection`, in file order.
    pub searches: Vec<Search>,
    /// The condition (several `condition`s are or-ed).
    pub condition: Expr,
    /// The deprecated `| count() …` suffix with `timeframe`, if any.
    pub aggregation: Option<(Aggregation, u64)>,
    /// Where the document starts (its `title`).
    pub span: Range<usize>,
}

/// One named search of `detection`.
#[derive(Clone, Debug)]
pub struct Search {
    /// Its identifier.
    pub name: String,
    /// What it matches.
    pub body: Body,
    /// Where its key is.
    pub span: Range<usize>,
}

/// A search's body.
#[derive(Clone, Debug)]
pub enum Body {
    /// A list of values searched for anywhere in the event (keywords);
    /// any one matching is enough.
    Keywords(Vec<Item>),
    /// Maps of field items: every item of one map must match (and), any
    /// map is enough (or).
    Maps(Vec<Vec<Item>>),
}

/// A field (or keyword) item: the field, modifiers and values.
#[derive(Clone, Debug)]
pub struct Item {
    /// The field path (`requestParameters.userName`); `None` for a keyword.
    pub field: Option<String>,
    /// How values are compared.
    pub op: Op,
    /// Every value must match (`|all`), instead of any one.
    pub all: bool,
    /// Case-sensitive (`|cased`).
    pub cased: bool,
    /// Values, transformed by `base64`/`windash` already (each is one
    /// alternative; see [`Value`]).
    pub values: Vec<Value>,
    /// Where the key is (or the value, for keywords).
    pub span: Range<usize>,
}

/// How an item compares.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Equal, with `*`/`?` wildcards in strings (plain values).
    Eq,
    /// Not equal (`neq`).
    Neq,
    /// Substring (`contains`).
    Contains,
    /// Prefix.
    StartsWith,
    /// Suffix.
    EndsWith,
    /// A regex search, with its flags (`re|i|m|s`).
    Re {
        /// `i`
        i: bool,
        /// `m`
        m: bool,
        /// `s`
        s: bool,
    },
    /// In an IP network (`cidr`).
    Cidr,
    /// The field exists (value: true) or not (false).
    Exists,
    /// Numeric comparisons.
    Lt,
    /// `lte`
    Lte,
    /// `gt`
    Gt,
    /// `gte`
    Gte,
    /// Equal to another field of the event (`fieldref`); the values are
    /// field names.
    FieldRef,
}

/// A value of an item.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A string (with Sigma wildcards unless the op says otherwise).
    Str(String),
    /// A number, with its text as written.
    Num(f64, String),
    /// A boolean.
    Bool(bool),
    /// `null`: the field is missing or null.
    Null,
    /// Any of these strings (what `base64offset` and `windash` expand to).
    AnyOf(Vec<String>),
}

/// What `logsource` says.
pub fn is_cloudtrail(doc: &Yaml) -> Result<(), String> {
    let ls = doc.get("logsource");
    let get = |k: &str| ls.and_then(|l| l.get(k)).and_then(Yaml::text);
    match (get("product"), get("service")) {
        (Some(p), Some(s))
            if p.eq_ignore_ascii_case("aws") && s.eq_ignore_ascii_case("cloudtrail") =>
        {
            Ok(())
        }
        (p, s) => Err(format!(
            "its logsource is product `{}` / service `{}`, not aws / cloudtrail",
            p.unwrap_or("-"),
            s.unwrap_or("-")
        )),
    }
}

/// Read a detection rule document. `Err` holds every problem found.
pub fn read(doc: &Yaml, text: &str) -> Result<Rule, Vec<Issue>> {
    let mut issues = Vec::new();
    let title = match doc.get("title").and_then(Yaml::text) {
        Some(t) if !t.trim().is_empty() => t.trim().to_string(),
        _ => {
            issues.push(Issue::new(
                "a Sigma rule needs a `title`",
                doc.span.start..doc.span.start + 1,
            ));
            String::new()
        }
    };
    let span = doc
        .key_span("title")
        .unwrap_or(doc.span.start..doc.span.start + 1);
    let Some(detection) = doc.get("detection") else {
        issues.push(Issue::new(
            "a Sigma rule needs a `detection` section",
            span.clone(),
        ));
        return Err(issues);
    };
    let Some(entries) = detection.map() else {
        issues.push(Issue::new(
            format!(
                "`detection` must be a map of searches and a `condition`, not {}",
                detection.kind_name()
            ),
            detection.span.clone(),
        ));
        return Err(issues);
    };
    let mut searches = Vec::new();
    let mut failed = Vec::new();
    let mut conditions = Vec::new();
    let mut timeframe = None;
    for (k, v) in entries {
        let Some(key) = k.text() else {
            issues.push(Issue::new("a search name must be a string", k.span.clone()));
            continue;
        };
        match key {
            "condition" => match &v.kind {
                Kind::Seq(items) => conditions.extend(items.iter().cloned()),
                _ => conditions.push(v.clone()),
            },
            "timeframe" => match v.text().and_then(crate::sigma::duration_secs) {
                Some(secs) => timeframe = Some(secs),
                None => issues.push(Issue::new(
                    "`timeframe` must be a duration like `10m`, `1h`, `30s` or `1d`",
                    v.span.clone(),
                )),
            },
            _ => match search(key, k.span.clone(), v, &mut issues) {
                Some(s) => searches.push(s),
                None => failed.push(key.to_string()),
            },
        }
    }
    let mut parsed = Vec::new();
    let mut aggregation = None;
    if conditions.is_empty() {
        issues.push(Issue::new(
            "`detection` needs a `condition`",
            detection.span.start..detection.span.start + 1,
        ));
    }
    for c in &conditions {
        let Some(ctext) = c.text() else {
            issues.push(Issue::new("a condition must be a string", c.span.clone()));
            continue;
        };
        let at = scalar_offset(text, c, ctext);
        match condition::parse(ctext) {
            Ok((e, agg)) => {
                if failed.is_empty() {
                    check_names(&e, &searches, at, &mut issues);
                }
                if let Some(agg) = agg {
                    match timeframe {
                        Some(t) => aggregation = Some((agg, t)),
                        None => issues.push(Issue::new(
                            "an aggregation (`| count()`) needs a `timeframe`",
                            shift(&agg.span, at, c),
                        )),
                    }
                }
                parsed.push(e);
            }
            Err(e) => issues.push(Issue::new(e.message, shift(&e.span, at, c))),
        }
    }
    if !issues.is_empty() {
        let who = if title.is_empty() {
            "a Sigma rule".to_string()
        } else {
            format!("`{title}`")
        };
        for i in &mut issues {
            i.message = format!("{who}: {}", i.message);
        }
        return Err(issues);
    }
    let condition = if parsed.len() == 1 {
        parsed.pop().unwrap()
    } else {
        Expr::Or(parsed)
    };
    Ok(Rule {
        title,
        id: doc.get_text("id"),
        name: doc.get_text("name"),
        level: doc.get_text("level"),
        description: doc.get_text("description"),
        references: doc.get_strings("references"),
        tags: doc.get_strings("tags"),
        searches,
        condition,
        aggregation,
        span,
    })
}

/// Where a scalar's text starts in the file, when it is written there as
/// is (plain or quoted without escapes); otherwise `None`.
pub(crate) fn scalar_offset(text: &str, node: &Yaml, value: &str) -> Option<usize> {
    let raw = text.get(node.span.clone())?;
    if raw.starts_with(value) {
        Some(node.span.start)
    } else if raw.len() > 1 && raw[1..].starts_with(value) {
        Some(node.span.start + 1)
    } else {
        None
    }
}

/// A range inside a scalar, as a range of the file.
pub(crate) fn shift(r: &Range<usize>, at: Option<usize>, node: &Yaml) -> Range<usize> {
    match at {
        Some(a) => a + r.start..a + r.end.max(r.start + 1),
        None => node.span.clone(),
    }
}

fn check_names(e: &Expr, searches: &[Search], at: Option<usize>, issues: &mut Vec<Issue>) {
    match e {
        Expr::Ident(n, span) => {
            if !searches.iter().any(|s| &s.name == n) {
                let known: Vec<&str> = searches.iter().map(|s| s.name.as_str()).collect();
                let r = at.map_or(0..1, |a| a + span.start..a + span.end);
                issues.push(
                    Issue::new(
                        format!("the condition names `{n}`, which is not a search of this rule"),
                        r,
                    )
                    .help(format!("the searches are: {}", known.join(", "))),
                );
            }
        }
        Expr::And(xs) | Expr::Or(xs) => {
            xs.iter().for_each(|x| check_names(x, searches, at, issues))
        }
        Expr::Not(x) => check_names(x, searches, at, issues),
        Expr::Of(_, Target::Pattern(p), span) => {
            if !searches.iter().any(|s| condition::name_matches(p, &s.name)) {
                let r = at.map_or(0..1, |a| a + span.start..a + span.end);
                issues.push(Issue::new(
                    format!("no search of this rule matches `{p}`"),
                    r,
                ));
            }
        }
        Expr::Of(..) => {}
    }
}

fn search(name: &str, span: Range<usize>, v: &Yaml, issues: &mut Vec<Issue>) -> Option<Search> {
    let body = match &v.kind {
        Kind::Map(entries) => Body::Maps(vec![map_items(entries, issues)?]),
        Kind::Seq(items)
            if items.iter().all(|i| matches!(i.kind, Kind::Map(_))) && !items.is_empty() =>
        {
            let mut maps = Vec::new();
            for i in items {
                maps.push(map_items(i.map().unwrap_or(&[]), issues)?);
            }
            Body::Maps(maps)
        }
        Kind::Seq(items) => {
            let mut kws = Vec::new();
            for i in items {
                if matches!(i.kind, Kind::Map(_) | Kind::Seq(_)) {
                    issues.push(Issue::new(
                        "a search list mixes keywords with maps; write either a list of values or a list of maps",
                        i.span.clone(),
                    ));
                    return None;
                }
                kws.push(keyword(i, issues)?);
            }
            Body::Keywords(kws)
        }
        Kind::Scalar(..) => Body::Keywords(vec![keyword(v, issues)?]),
    };
    Some(Search {
        name: name.to_string(),
        body,
        span,
    })
}

fn keyword(v: &Yaml, issues: &mut Vec<Issue>) -> Option<Item> {
    let value = value(v, issues)?;
    Some(Item {
        field: None,
        op: Op::Contains,
        all: false,
        cased: false,
        values: vec![value],
        span: v.span.clone(),
    })
}

fn map_items(entries: &[(Yaml, Yaml)], issues: &mut Vec<Issue>) -> Option<Vec<Item>> {
    let mut items = Vec::new();
    let before = issues.len();
    for (k, v) in entries {
        let Some(key) = k.text() else {
            issues.push(Issue::new("a field name must be a string", k.span.clone()));
            continue;
        };
        if let Some(item) = field_item(key, k.span.clone(), v, issues) {
            items.push(item);
        }
    }
    (issues.len() == before).then_some(items)
}

/// The modifiers we know, and why the others are refused.
fn field_item(key: &str, span: Range<usize>, v: &Yaml, issues: &mut Vec<Issue>) -> Option<Item> {
    let mut parts = key.split('|');
    let field = parts.next().unwrap_or("").to_string();
    let mut op = Op::Eq;
    let (mut all, mut cased, mut b64, mut b64off, mut windash) =
        (false, false, false, false, false);
    let (mut re_flags, mut is_re) = (Vec::new(), false);
    let mut set_op = |new: Op, m: &str, issues: &mut Vec<Issue>| {
        if op != Op::Eq {
            issues.push(Issue::new(
                format!("`{m}` cannot be combined with another comparison modifier"),
                span.clone(),
            ));
        }
        op = new;
    };
    for m in parts {
        match m {
            "contains" => set_op(Op::Contains, m, issues),
            "startswith" => set_op(Op::StartsWith, m, issues),
            "endswith" => set_op(Op::EndsWith, m, issues),
            "re" => {
                set_op(Op::Re { i: false, m: false, s: false }, m, issues);
                is_re = true;
            }
            "i" | "m" | "s" if is_re => re_flags.push(m),
            "ignorecase" | "multiline" | "dotall" if is_re => re_flags.push(&m[..1]),
            "cidr" => set_op(Op::Cidr, m, issues),
            "exists" => set_op(Op::Exists, m, issues),
            "lt" => set_op(Op::Lt, m, issues),
            "lte" => set_op(Op::Lte, m, issues),
            "gt" => set_op(Op::Gt, m, issues),
            "gte" => set_op(Op::Gte, m, issues),
            "neq" => set_op(Op::Neq, m, issues),
            "fieldref" => set_op(Op::FieldRef, m, issues),
            "all" => all = true,
            "cased" => cased = true,
            "base64" => b64 = true,
            "base64offset" => b64off = true,
            "windash" => windash = true,
            "" => issues.push(Issue::new("an empty modifier (`||`) in a field name", span.clone())),
            "expand" => {
                issues.push(
                    Issue::new("the `expand` modifier needs placeholder values from a processing pipeline, which Tattletail does not have", span.clone())
                        .help("replace the `%placeholder%` with the values (a list), or remove this search"),
                );
            }
            "wide" | "utf16" | "utf16le" | "utf16be" => issues.push(Issue::new(
                format!("the `{m}` modifier encodes values as UTF-16 for Windows logs; CloudTrail is UTF-8 JSON, so it is not supported"),
                span.clone(),
            )),
            other => issues.push(
                Issue::new(format!("unknown Sigma modifier `{other}`"), span.clone()).help(
                    "known modifiers: contains, startswith, endswith, all, re (with i, m, s), cidr, exists, cased, neq, \
                     lt, lte, gt, gte, base64, base64offset, fieldref, windash",
                ),
            ),
        }
    }
    if let Op::Re { i, m, s } = &mut op {
        *i = re_flags.contains(&"i");
        *m = re_flags.contains(&"m");
        *s = re_flags.contains(&"s");
    }
    let raw: Vec<&Yaml> = match &v.kind {
        Kind::Seq(items) => items.iter().collect(),
        _ => vec![v],
    };
    if raw.is_empty() {
        issues.push(
            Issue::new(
                format!("`{key}` has an empty list of values, which can never match"),
                span.clone(),
            )
            .help("give at least one value, or `null` for a missing field"),
        );
        return None;
    }
    let mut values = Vec::new();
    for r in raw {
        let val = value(r, issues)?;
        values.push(val);
    }
    let strings_only = |what: &str, issues: &mut Vec<Issue>, values: &[Value]| {
        if values.iter().any(|v| !matches!(v, Value::Str(_))) {
            issues.push(Issue::new(
                format!("`{what}` takes string values"),
                span.clone(),
            ));
        }
    };
    match &op {
        Op::Re { .. } => {
            strings_only("re", issues, &values);
            for v in &values {
                if let Value::Str(p) = v {
                    if let Err(e) = crate::regex::compile(p, "", crate::regex::LITERAL_SIZE_LIMIT) {
                        let mut issue =
                            Issue::new(format!("invalid regex {p:?}: {}", e.message), span.clone());
                        issue.help = e.help;
                        issues.push(issue);
                    }
                }
            }
        }
        Op::Cidr => {
            strings_only("cidr", issues, &values);
            for v in &values {
                if let Value::Str(c) = v {
                    if super::values::is_ipv6(c) {
                        issues.push(
                            Issue::new(
                                format!("`{c}`: IPv6 networks in `cidr` are not supported yet"),
                                span.clone(),
                            )
                            .help("match the address text with `startswith` or `re` instead"),
                        );
                    } else if super::values::ipv4_cidr_regex(c).is_none() {
                        issues.push(Issue::new(
                            format!("`{c}` is not an IPv4 network (`10.0.0.0/8`)"),
                            span.clone(),
                        ));
                    }
                }
            }
        }
        Op::Exists if !matches!(values.as_slice(), [Value::Bool(_)]) => {
            issues.push(Issue::new(
                "`exists` takes one value, `true` or `false`",
                span.clone(),
            ));
        }
        Op::Lt | Op::Lte | Op::Gt | Op::Gte
            if values.iter().any(|v| !matches!(v, Value::Num(..))) =>
        {
            issues.push(Issue::new(
                "`lt`, `lte`, `gt` and `gte` take numbers",
                span.clone(),
            ));
        }
        Op::FieldRef => strings_only("fieldref", issues, &values),
        _ => {}
    }
    if all && values.len() < 2 {
        issues.push(Issue::new(
            "`all` needs more than one value (Sigma: a single value cannot have `all`)",
            span.clone(),
        ));
    }
    if field.is_empty() {
        issues.push(Issue::new(
            "a field name is empty; write keywords as a list under the search instead",
            span.clone(),
        ));
    }
    if b64 || b64off {
        if !matches!(op, Op::Eq | Op::Contains | Op::StartsWith | Op::EndsWith) {
            issues.push(Issue::new(
                "`base64`/`base64offset` apply to plain, contains, startswith and endswith values",
                span.clone(),
            ));
        }
        strings_only("base64", issues, &values);
        values = values
            .into_iter()
            .map(|v| match v {
                Value::Str(s) if b64off => Value::AnyOf(super::values::base64_offsets(&s)),
                Value::Str(s) => Value::Str(super::values::base64(s.as_bytes())),
                v => v,
            })
            .collect();
    }
    if windash {
        values = values
            .into_iter()
            .map(|v| match v {
                Value::Str(s) => Value::AnyOf(super::values::windash(&s)),
                v => v,
            })
            .collect();
    }
    Some(Item {
        field: (!field.is_empty()).then_some(field),
        op,
        all,
        cased,
        values,
        span,
    })
}

fn value(v: &Yaml, issues: &mut Vec<Issue>) -> Option<Value> {
    match v.scalar() {
        Some(Scalar::Null) => Some(Value::Null),
        Some(Scalar::Bool(b)) => Some(Value::Bool(b)),
        Some(Scalar::Int(i)) => Some(Value::Num(i as f64, v.text().unwrap_or("").to_string())),
        Some(Scalar::Float(f)) => Some(Value::Num(f, v.text().unwrap_or("").to_string())),
        Some(Scalar::Str(s)) => Some(Value::Str(s.to_string())),
        None => {
            issues.push(Issue::new(
                format!(
                    "a value must be a string, number, boolean or null, not {}",
                    v.kind_name()
                ),
                v.span.clone(),
            ));
            None
        }
    }
}
