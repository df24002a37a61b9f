//! `[[rule.test]]`: tests inside the config, nested in the `[[rule]]` they
//! test.
//!
//! ```toml
//! [[rule]]
//! name = "Create User"
//! jq_match = 'select(.eventName == "CreateUser") | "username: \(.requestParameters.userName)"'
//!
//! [[rule.test]]
//! name = "a new user alerts with the user's name"
//! event = { eventName = "CreateUser", requestParameters = { userName = "bob" } }
//! expect = "alert"
//! annotation = "username: bob"
//! ```
//!
//! A test gives its events in exactly one way: `event` (an inline table),
//! `event_json` (JSON text) or `file` (a path relative to the config file:
//! one event as a JSON object, or a whole CloudTrail log file). The
//! compiler does no I/O: a `file` stays a path here, and `tattletail test`
//! reads it. `expect` is `"alert"` or `"no_alert"`; `alerts = N` (how many
//! alerts the rule gives on the test's events) may replace or accompany it
//! for a `file`. `annotation` is the rule's expected output as a value: a
//! TOML string is a JSON string, other TOML values are their JSON values
//! (compared as jq compares: `1` equals `1.0`, key order does not
//! matter); `annotation_json` gives it as JSON text (for `null` inside an
//! object). Every problem is a located diagnostic; unknown keys warn, as
//! everywhere in the config (upstream ignores unknown keys, so a file with
//! tests still loads there).

use std::fmt::Write as _;
use std::ops::Range;
use std::sync::Arc;

use toml::de::DeValue;
use toml::Spanned;

use super::{array_of_tables, check_keys, lookup, string, Table};
use crate::diag::{Diagnostic, SourceFile};
use crate::toml_str::OffsetMap;

/// One `[[rule.test]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleTest {
    /// `name` (required).
    pub name: String,
    /// The events.
    pub input: TestInput,
    /// Whether the rule must alert (`expect`, or `alerts` > 0).
    pub expect: Expect,
    /// `alerts`: exactly how many alerts the rule must give on the events.
    pub alerts: Option<u64>,
    /// `annotation` / `annotation_json`: the output every alert of the rule
    /// must have, as compact JSON text (keys in the order written).
    pub annotation: Option<String>,
    /// Where the `[[rule.test]]` header (or inline table) is; for a test
    /// from a Sigma rule's tests file, where its event is in that file.
    pub span: Range<usize>,
    /// The file `span` is in, when it is not the config (a Sigma rule's
    /// `_tests.json`).
    pub file: Option<Arc<SourceFile>>,
}

/// Where a test's events come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TestInput {
    /// `event` or `event_json`: one event, as JSON text (an object).
    Event(String),
    /// `file`: a path, relative to the config file's directory, to one
    /// event (a JSON object) or a CloudTrail log file (`{"Records": […]}`,
    /// gzip or not). Read by `tattletail test`, not by the compiler.
    File {
        /// As written.
        path: String,
        /// Where the value is (a missing file is reported there).
        span: Range<usize>,
    },
}

/// What a test expects of its rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// `expect = "alert"`: at least one alert.
    Alert,
    /// `expect = "no_alert"`: none.
    NoAlert,
}

impl Expect {
    /// As written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Expect::Alert => "alert",
            Expect::NoAlert => "no_alert",
        }
    }
}

/// The keys of a `[[rule.test]]` (a `[[sigma.test]]` adds `rule`).
pub(super) const TEST_KEYS: &[&str] = &[
    "name",
    "event",
    "event_json",
    "file",
    "expect",
    "alerts",
    "annotation",
    "annotation_json",
];

/// Event sources: exactly one per test.
const SOURCES: [&str; 3] = ["event", "event_json", "file"];

/// Nesting allowed in an `event` or `annotation` table (JSON parsers
/// commonly stop at 128).
const MAX_DEPTH: usize = 100;

/// The `[[rule.test]]` tables of a rule table (`label`: `rule `X``);
/// every problem is a diagnostic. Valid tests only are returned.
pub(super) fn rule_tests(
    source: &str,
    table: &Table<'_>,
    label: &str,
    diags: &mut Vec<Diagnostic>,
) -> Vec<RuleTest> {
    let Some((_, value)) = lookup(table, "test") else {
        return Vec::new();
    };
    let Some(items) = array_of_tables(value, "rule.test", diags) else {
        return Vec::new();
    };
    let mut tests: Vec<RuleTest> = Vec::new();
    for (i, (t, span)) in items.into_iter().enumerate() {
        check_keys(t, TEST_KEYS, "[[rule.test]]", diags);
        let Some(test) = rule_test(source, t, span, label, i, diags) else {
            continue;
        };
        push_test(&mut tests, test, label, diags);
    }
    tests
}

/// Add `test` to a rule's `tests` (`label`: `rule `X``), warning when one
/// of them has its name.
pub(super) fn push_test(
    tests: &mut Vec<RuleTest>,
    test: RuleTest,
    label: &str,
    diags: &mut Vec<Diagnostic>,
) {
    if tests.iter().any(|other| other.name == test.name) {
        let mut d = Diagnostic::warning(
            format!("{label} has two tests named `{}`", test.name),
            test.span.clone(),
        )
        .with_help(
            "give every test of a rule its own name: --filter and reports tell them apart by name",
        );
        d.file = test.file.clone();
        diags.push(d);
    }
    tests.push(test);
}

/// One test table (its keys are checked by the caller): `rule` labels
/// the rule in messages, `index` is the table's position among the rule's
/// tests. Every problem is a diagnostic; `None` when there was an error.
pub(super) fn rule_test(
    source: &str,
    table: &Table<'_>,
    span: Range<usize>,
    rule: &str,
    index: usize,
    diags: &mut Vec<Diagnostic>,
) -> Option<RuleTest> {
    let errors_before = diags.iter().filter(|d| d.is_error()).count();
    let name = string(table, "name", diags);
    if name.is_none() && lookup(table, "name").is_none() {
        diags.push(
            Diagnostic::error(
                format!("test #{} of {rule} has no `name`", index + 1),
                span.clone(),
            )
            .with_help("add name = \"…\": test results are reported by rule and test name"),
        );
    }
    let label = match &name {
        Some((n, _)) => format!("test `{n}` of {rule}"),
        None => format!("test #{} of {rule}", index + 1),
    };

    // Exactly one event source.
    let given: Vec<_> = SOURCES
        .iter()
        .filter_map(|k| lookup(table, k).map(|(key, v)| (*k, key, v)))
        .collect();
    if given.is_empty() {
        diags.push(
            Diagnostic::error(format!("{label} has no event"), span.clone()).with_help(
                "give one of event = { eventName = \"…\", … }, event_json = '''{…}''' or file = \"path\" (relative to this file)",
            ),
        );
    }
    for (k, key, _) in given.iter().skip(1) {
        diags.push(
            Diagnostic::error(
                format!("{label} gives both `{}` and `{k}`", given[0].0),
                key.span(),
            )
            .with_help("give the events exactly one way: event, event_json or file"),
        );
    }
    let input = match given.first() {
        Some(("event", _, v)) => event_table(source, v, &label, diags).map(TestInput::Event),
        Some(("event_json", _, _)) => string(table, "event_json", diags).and_then(|(text, at)| {
            json_text(source, &text, at.clone(), "event_json", diags).and_then(|value| {
                if value.get("Records").is_some_and(serde_json::Value::is_array) {
                    diags.push(a_log_is_a_file("event_json", at));
                    None
                } else if value.is_object() {
                    Some(TestInput::Event(text))
                } else {
                    diags.push(
                        Diagnostic::error(
                            format!(
                                "`event_json` must be a JSON object (one CloudTrail event), found {}",
                                json_kind(&value)
                            ),
                            at,
                        )
                        .with_help("for a whole log file ({\"Records\": […]}) use file = \"path\""),
                    );
                    None
                }
            })
        }),
        Some(("file", _, _)) => match string(table, "file", diags) {
            Some((path, at)) if path.trim().is_empty() => {
                diags.push(
                    Diagnostic::error("`file` is empty", at)
                        .with_help("a path relative to this config file"),
                );
                None
            }
            Some((path, at)) => Some(TestInput::File { path, span: at }),
            None => None,
        },
        _ => None,
    };

    // What is expected.
    let expect = match string(table, "expect", diags) {
        Some((text, at)) => match text.trim().to_ascii_lowercase().as_str() {
            "alert" => Some((Expect::Alert, at)),
            "no_alert" | "no-alert" | "noalert" => Some((Expect::NoAlert, at)),
            _ => {
                diags.push(
                    Diagnostic::error(format!("unknown expect `{text}`"), at)
                        .with_help("expect is \"alert\" or \"no_alert\""),
                );
                None
            }
        },
        None => None,
    };
    let alerts = match lookup(table, "alerts") {
        None => None,
        Some((key, v)) => {
            let n = match v.get_ref() {
                DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
                    .ok()
                    .and_then(|n| u64::try_from(n).ok()),
                _ => None,
            };
            if n.is_none() {
                let found = match v.get_ref() {
                    DeValue::Integer(i) => format!("`{i}`"),
                    other => describe(other),
                };
                diags.push(Diagnostic::error(
                    format!("`alerts` must be a count (0 or more), found {found}"),
                    v.span(),
                ));
            }
            if !matches!(given.first(), Some(("file", ..)) | None) {
                diags.push(
                    Diagnostic::error(
                        format!("{label}: `alerts` is for a `file` of events"),
                        key.span(),
                    )
                    .with_help(
                        "one event gives at most one alert: use expect = \"alert\" or \"no_alert\"",
                    ),
                );
            }
            n.map(|n| (n, v.span()))
        }
    };
    if let (Some((e, at)), Some((n, _))) = (&expect, &alerts) {
        if (*e == Expect::Alert) != (*n > 0) {
            diags.push(
                Diagnostic::error(
                    format!(
                        "{label} expects {} but `alerts = {n}`",
                        if *e == Expect::Alert {
                            "an alert"
                        } else {
                            "no alert"
                        }
                    ),
                    at.clone(),
                )
                .with_help("alerts = 0 is expect = \"no_alert\"; leave out one of the two"),
            );
        }
    }
    let expect = match (&expect, &alerts) {
        (Some((e, _)), _) => Some(*e),
        (None, Some((n, _))) => Some(if *n > 0 {
            Expect::Alert
        } else {
            Expect::NoAlert
        }),
        (None, None) => {
            if lookup(table, "expect").is_none() && lookup(table, "alerts").is_none() {
                diags.push(
                    Diagnostic::error(format!("{label} has no `expect`"), span.clone()).with_help(
                        "add expect = \"alert\" or expect = \"no_alert\" (or, for a file, alerts = N)",
                    ),
                );
            }
            None
        }
    };

    // The expected output.
    let annotation = match (
        lookup(table, "annotation"),
        lookup(table, "annotation_json"),
    ) {
        (Some(_), Some((key, _))) => {
            diags.push(
                Diagnostic::error(
                    format!("{label} gives both `annotation` and `annotation_json`"),
                    key.span(),
                )
                .with_help("give the expected output one way"),
            );
            None
        }
        (Some((_, v)), None) => {
            let mut text = String::new();
            match to_json(v, &mut text, 0) {
                Ok(()) if matches!(v.get_ref(), DeValue::Boolean(false)) => {
                    diags.push(no_alert_output(&label, v.span()));
                    None
                }
                Ok(()) => Some((text, v.span())),
                Err((why, at)) => {
                    diags.push(Diagnostic::error(format!("`annotation`: {why}"), at));
                    None
                }
            }
        }
        (None, Some(_)) => string(table, "annotation_json", diags).and_then(|(text, at)| {
            match json_text(source, &text, at.clone(), "annotation_json", diags) {
                Some(serde_json::Value::Null | serde_json::Value::Bool(false)) => {
                    diags.push(no_alert_output(&label, at));
                    None
                }
                Some(_) => Some((compact(&text), at)),
                None => None,
            }
        }),
        (None, None) => None,
    };
    if let (Some((_, at)), Some(Expect::NoAlert)) = (&annotation, expect) {
        diags.push(
            Diagnostic::error(
                format!("{label} expects no alert but gives an annotation"),
                at.clone(),
            )
            .with_help(
                "an annotation is the output of an alert: use expect = \"alert\", or remove it",
            ),
        );
    }

    if diags.iter().filter(|d| d.is_error()).count() > errors_before {
        return None;
    }
    Some(RuleTest {
        name: name?.0,
        input: input?,
        expect: expect?,
        alerts: alerts.map(|(n, _)| n),
        annotation: annotation.map(|(t, _)| t),
        span,
        file: None,
    })
}

fn no_alert_output(label: &str, at: Range<usize>) -> Diagnostic {
    Diagnostic::error(
        format!("{label}: an output of null or false is no alert"),
        at,
    )
    .with_help("use expect = \"no_alert\" instead")
}

/// `event = { … }`: an inline table (or a `[rule.test.event]` table) as
/// JSON text.
fn event_table(
    source: &str,
    v: &Spanned<DeValue<'_>>,
    label: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<String> {
    if !matches!(v.get_ref(), DeValue::Table(_)) {
        diags.push(
            Diagnostic::error(
                format!("`event` must be a table, found {}", describe(v.get_ref())),
                v.span(),
            )
            .with_help("write the event as event = { eventName = \"…\", … }, or as JSON text with event_json = '''{…}'''"),
        );
        return None;
    }
    let raw = source.get(v.span()).unwrap_or("");
    if raw.starts_with('{') && raw.contains('\n') {
        diags.push(
            Diagnostic::warning(
                format!("the `event` of {label} spans several lines"),
                v.span(),
            )
            .with_help("inline tables over several lines are TOML 1.1, which cloudtrail-tattletail cannot read; keep it on one line, or use event_json = '''…'''"),
        );
    }
    if let Some(DeValue::Array(_)) = v.get_ref().get("Records").map(|r| r.get_ref()) {
        diags.push(a_log_is_a_file("event", v.span()));
        return None;
    }
    let mut text = String::new();
    match to_json(v, &mut text, 0) {
        Ok(()) => Some(text),
        Err((why, at)) => {
            diags.push(Diagnostic::error(format!("`event`: {why}"), at));
            None
        }
    }
}

/// An `event` that is a whole log (`{"Records": […]}`).
fn a_log_is_a_file(key: &str, at: Range<usize>) -> Diagnostic {
    Diagnostic::error(
        format!("`{key}` is a log file (it has `Records`), not one event"),
        at,
    )
    .with_help("give a log file as file = \"path\" (with alerts = N for how many alerts it gives)")
}

/// Check JSON text given in a TOML string at `at`: its value, or a
/// diagnostic located inside the string.
fn json_text(
    source: &str,
    text: &str,
    at: Range<usize>,
    key: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<serde_json::Value> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => Some(v),
        Err(e) => {
            let offset = byte_offset(text, e.line(), e.column());
            let map = OffsetMap::new(source.get(at.clone()).unwrap_or(""), at.start, text);
            let mut message = e.to_string();
            if let Some(cut) = message.rfind(" at line ") {
                message.truncate(cut);
            }
            diags.push(
                Diagnostic::error(
                    format!("`{key}` is not valid JSON: {message}"),
                    map.map_range(offset..offset + 1),
                )
                .with_help(
                    "write JSON in a '''literal''' string, so that TOML leaves backslashes alone",
                ),
            );
            None
        }
    }
}

/// The byte offset of serde_json's 1-based (line, column); column 0 is
/// the end of the previous line.
pub(super) fn byte_offset(text: &str, line: usize, column: usize) -> usize {
    let mut start = 0;
    for _ in 1..line {
        match text[start..].find('\n') {
            Some(i) => start += i + 1,
            None => break,
        }
    }
    let mut at = (start + column.saturating_sub(1)).min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// `a string`, `an integer`, …
fn describe(v: &DeValue<'_>) -> String {
    let kind = v.type_str();
    let an = kind.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {kind}", if an { "an" } else { "a" })
}

/// A TOML value as JSON text, keys in the order written (the order jq's
/// `keys_unsorted` and `to_entries` see). Dates and times
/// become strings (as written, RFC 3339); a float without a JSON form
/// (`nan`, `inf`) is an error at its position.
fn to_json(
    v: &Spanned<DeValue<'_>>,
    out: &mut String,
    depth: usize,
) -> Result<(), (String, Range<usize>)> {
    if depth > MAX_DEPTH {
        return Err((
            format!("nested more than {MAX_DEPTH} levels deep"),
            v.span(),
        ));
    }
    match v.get_ref() {
        DeValue::String(s) => out.push_str(&json_string(s)),
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => {
                let _ = write!(out, "{n}");
            }
            Err(_) => return Err((format!("`{i}` is not a 64-bit integer"), v.span())),
        },
        DeValue::Float(f) => {
            let n = f
                .as_str()
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64);
            match n {
                Some(n) => {
                    let _ = write!(out, "{n}");
                }
                None => return Err((format!("`{f}` has no JSON form"), v.span())),
            }
        }
        DeValue::Boolean(b) => {
            let _ = write!(out, "{b}");
        }
        DeValue::Datetime(d) => out.push_str(&json_string(&d.to_string())),
        DeValue::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                to_json(item, out, depth + 1)?;
            }
            out.push(']');
        }
        DeValue::Table(t) => {
            // The parser's table is sorted by key: put them back in the
            // order written.
            let mut entries: Vec<_> = t.iter().collect();
            entries.sort_by_key(|(k, _)| k.span().start);
            out.push('{');
            for (i, (k, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&json_string(k.get_ref()));
                out.push(':');
                to_json(item, out, depth + 1)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// JSON text without the whitespace between tokens (the text is valid
/// JSON: strings are well formed).
fn compact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            ' ' | '\t' | '\n' | '\r' => {}
            '"' => {
                in_string = true;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    fn tests_of(src: &str) -> (Vec<RuleTest>, Vec<(bool, String, String)>) {
        let (cfg, diags) = parse(src);
        let shown = diags
            .iter()
            .map(|d| {
                (
                    d.is_error(),
                    d.message.clone(),
                    src.get(d.span.clone()).unwrap_or("").to_string(),
                )
            })
            .collect();
        let tests = cfg.rules.into_iter().flat_map(|r| r.tests).collect();
        (tests, shown)
    }

    const RULE: &str = "[[rule]]\nname = \"Create User\"\njq_match = 'select(.eventName == \"CreateUser\") | .requestParameters.userName'\n";

    #[test]
    fn inline_json_and_file_events() {
        let src = format!(
            "{RULE}
[[rule.test]]
name = \"inline\"
event = {{ eventName = \"CreateUser\", requestParameters = {{ userName = \"bob\", n = 0x1F, f = 1.5, when = 2024-01-02T03:04:05Z, l = [1, \"a\"] }} }}
expect = \"alert\"
annotation = \"bob\"

[[rule.test]]
name = \"json\"
event_json = '''
{{\"eventName\": \"DeleteUser\"}}
'''
expect = \"no_alert\"

[[rule.test]]
name = \"log\"
file = \"logs/create.json\"
alerts = 2
annotation_json = '{{ \"a\": [1, null] }}'
"
        );
        let (tests, diags) = tests_of(&src);
        assert!(diags.is_empty(), "{diags:#?}");
        assert_eq!(tests.len(), 3);
        assert_eq!(
            tests[0].input,
            TestInput::Event(
                r#"{"eventName":"CreateUser","requestParameters":{"userName":"bob","n":31,"f":1.5,"when":"2024-01-02T03:04:05Z","l":[1,"a"]}}"#
                    .into()
            )
        );
        assert_eq!(tests[0].expect, Expect::Alert);
        assert_eq!(tests[0].annotation.as_deref(), Some("\"bob\""));
        assert_eq!(&src[tests[0].span.clone()], "[[rule.test]]");
        assert_eq!(crate::diag::line_col(&src, tests[0].span.start), (5, 1));
        assert_eq!(
            tests[1].input,
            TestInput::Event("{\"eventName\": \"DeleteUser\"}\n".into())
        );
        assert_eq!(tests[1].expect, Expect::NoAlert);
        let TestInput::File { path, span } = &tests[2].input else {
            panic!("{:?}", tests[2].input)
        };
        assert_eq!(path, "logs/create.json");
        assert_eq!(&src[span.clone()], "\"logs/create.json\"");
        assert_eq!((tests[2].expect, tests[2].alerts), (Expect::Alert, Some(2)));
        assert_eq!(tests[2].annotation.as_deref(), Some("{\"a\":[1,null]}"));
    }

    #[test]
    fn tests_belong_to_the_rule_they_follow() {
        let src = format!(
            "{RULE}[[rule.test]]\nname = \"a\"\nevent = {{}}\nexpect = \"no_alert\"\n\
             [[rule]]\nname = \"other\"\njq_match = '.'\n\
             [[rule.test]]\nname = \"b\"\nevent = {{}}\nexpect = \"alert\"\n\
             [[rule.test]]\nname = \"c\"\nevent = {{}}\nexpect = \"alert\"\n"
        );
        let (cfg, diags) = parse(&src);
        assert!(diags.is_empty(), "{diags:#?}");
        let names: Vec<Vec<&str>> = cfg
            .rules
            .iter()
            .map(|r| r.tests.iter().map(|t| t.name.as_str()).collect())
            .collect();
        assert_eq!(names, [vec!["a"], vec!["b", "c"]]);
    }

    #[test]
    fn every_problem_is_located() {
        let src = format!(
            "{RULE}
[[rule.test]]
event = {{ eventName = \"x\" }}
event_json = '{{}}'
expect = \"alert\"

[[rule.test]]
name = \"no event, no expect\"

[[rule.test]]
name = \"bad json\"
event_json = '{{\"eventName\": \"x\",}}'
expect = \"alert\"

[[rule.test]]
name = \"not an object\"
event_json = '[1]'
expect = \"maybe\"

[[rule.test]]
name = \"alerts without file\"
event = {{ eventName = \"x\" }}
alerts = 1

[[rule.test]]
name = \"contradiction\"
file = \"x.json\"
expect = \"no_alert\"
alerts = 3
annotation = \"bob\"

[[rule.test]]
name = \"bad values\"
event = \"CreateUser\"
expect = \"alert\"
annotation = nan
alerts = -1
color = \"blue\"

[[rule.test]]
name = \"false output\"
event = {{ eventName = \"x\" }}
expect = \"alert\"
annotation_json = 'false'
"
        );
        let (tests, diags) = tests_of(&src);
        assert!(tests.is_empty(), "{tests:#?}");
        for (error, message, at) in [
            (true, "test #1 of rule `Create User` has no `name`", "[[rule.test]]"),
            (
                true,
                "test #1 of rule `Create User` gives both `event` and `event_json`",
                "event_json",
            ),
            (
                true,
                "test `no event, no expect` of rule `Create User` has no event",
                "[[rule.test]]",
            ),
            (
                true,
                "test `no event, no expect` of rule `Create User` has no `expect`",
                "[[rule.test]]",
            ),
            (
                true,
                "`event_json` is not valid JSON: trailing comma",
                "}",
            ),
            (
                true,
                "`event_json` must be a JSON object (one CloudTrail event), found an array",
                "'[1]'",
            ),
            (true, "unknown expect `maybe`", "\"maybe\""),
            (
                true,
                "test `alerts without file` of rule `Create User`: `alerts` is for a `file` of events",
                "alerts",
            ),
            (
                true,
                "test `contradiction` of rule `Create User` expects no alert but `alerts = 3`",
                "\"no_alert\"",
            ),
            (
                true,
                "test `contradiction` of rule `Create User` expects no alert but gives an annotation",
                "\"bob\"",
            ),
            (true, "`event` must be a table, found a string", "\"CreateUser\""),
            (true, "`annotation`: `nan` has no JSON form", "nan"),
            (true, "`alerts` must be a count (0 or more), found `-1`", "-1"),
            (
                false,
                "unknown key `color` in a [[rule.test]] is ignored",
                "color",
            ),
            (
                true,
                "test `false output` of rule `Create User`: an output of null or false is no alert",
                "'false'",
            ),
        ] {
            assert!(
                diags
                    .iter()
                    .any(|d| d.0 == error && d.1 == message && d.2.starts_with(at)),
                "missing {message:?} at {at:?} in {diags:#?}"
            );
        }
    }

    #[test]
    fn a_json_error_points_into_the_string() {
        let src = format!("{RULE}[[rule.test]]\nname = \"t\"\nexpect = \"alert\"\nevent_json = '''\n{{\n  \"eventName\": \"x\"\n  \"eventSource\": \"y\"\n}}'''\n");
        let (_, diags) = parse(&src);
        let d = diags.iter().find(|d| d.is_error()).unwrap();
        let (line, col) = crate::diag::line_col(&src, d.span.start);
        assert_eq!(&src[d.span.clone()], "\"", "{d:?}");
        assert_eq!((line, col), (10, 3), "{d:?}");
    }

    #[test]
    fn keys_fold_case_and_a_multi_line_inline_table_warns() {
        let src = format!(
            "{RULE}[[rule.Test]]\nName = \"t\"\nEXPECT = \"No_Alert\"\nevent = {{ eventName = \"x\",\n  eventSource = \"y\" }}\n"
        );
        let (tests, diags) = tests_of(&src);
        assert_eq!(tests.len(), 1, "{diags:#?}");
        assert_eq!(tests[0].expect, Expect::NoAlert);
        assert!(diags.iter().all(|d| !d.0), "{diags:#?}");
        assert!(diags.iter().any(|d| d.1.contains("spans several lines")));
        assert!(diags
            .iter()
            .any(|d| d.1 == "key `Test` matched `test` case-insensitively"));
    }

    #[test]
    fn a_single_test_table_is_an_error() {
        let src = format!("{RULE}[rule.test]\nname = \"t\"\n");
        let (_, diags) = tests_of(&src);
        assert!(
            diags
                .iter()
                .any(|d| d.0 && d.1 == "`rule.test` must be an array of tables"),
            "{diags:#?}"
        );
    }

    #[test]
    fn duplicate_names_warn() {
        let src = format!(
            "{RULE}[[rule.test]]\nname = \"t\"\nevent = {{}}\nexpect = \"alert\"\n[[rule.test]]\nname = \"t\"\nevent = {{}}\nexpect = \"no_alert\"\n"
        );
        let (tests, diags) = tests_of(&src);
        assert_eq!(tests.len(), 2);
        assert_eq!(
            diags,
            [(
                false,
                "rule `Create User` has two tests named `t`".to_string(),
                "[[rule.test]]".to_string()
            )]
        );
    }
}
