//! Webhook body templates (`body = '''...'''` of a `webhook` destination):
//! text with `{{field}}` and `{{field | json}}` placeholders, parsed and
//! checked here at config load, rendered by the Lambda crate.
//!
//! `{{field}}` stands for the value JSON-string-escaped without quotes (to
//! sit inside a JSON string: `"summary": "{{text}}"`); `{{field | json}}`
//! for the value as a JSON value (a string quoted, an object as JSON, a
//! missing value as `null`). `{{env:NAME}}`, `{{ssm:/param}}` and
//! `{{secretsmanager:name}}` insert a secret (JSON-string-escaped, for a
//! key such as PagerDuty's `routing_key` that goes in the body), resolved
//! when sending and masked in logs. Every `{{` opens a placeholder; an unknown
//! field or filter, or a `{{` without `}}`, is an error at its offset in
//! the decoded string (the caller maps it into the file).

use std::fmt;
use std::ops::Range;

use super::SecretRef;

/// A field a placeholder can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// The rule's name.
    Name,
    /// The rule's description (a follow-up's headline).
    Description,
    /// The alert's (or follow-up's) id.
    AlertId,
    /// The first alert's id for a follow-up, else the alert's own id.
    ThreadId,
    /// The rule's severity.
    Severity,
    /// The rule's tags.
    Tags,
    /// The rule's runbook.
    Runbook,
    /// `eventID`.
    EventId,
    /// `eventName`.
    EventName,
    /// `eventSource`.
    EventSource,
    /// `eventTime`.
    EventTime,
    /// `userIdentity.arn`, else its type and `invokedBy`/`principalId`.
    Actor,
    /// `recipientAccountId`.
    Account,
    /// The account's name from `[accounts]`.
    AccountName,
    /// `awsRegion`.
    Region,
    /// `sourceIPAddress`.
    SourceIp,
    /// Where the record came from (`s3://bucket/key#index`).
    Origin,
    /// The CloudTrail record.
    Record,
    /// The rule's output, or the record.
    Match,
    /// One line for people.
    Text,
    /// 1 for an alert, the number held back for a follow-up.
    Count,
    /// `alert` or `follow_up`.
    Kind,
}

impl Field {
    /// Every field, in the order the README lists them.
    pub const ALL: &'static [Field] = &[
        Field::Name,
        Field::Description,
        Field::AlertId,
        Field::ThreadId,
        Field::Severity,
        Field::Tags,
        Field::Runbook,
        Field::EventId,
        Field::EventName,
        Field::EventSource,
        Field::EventTime,
        Field::Actor,
        Field::Account,
        Field::AccountName,
        Field::Region,
        Field::SourceIp,
        Field::Origin,
        Field::Record,
        Field::Match,
        Field::Text,
        Field::Count,
        Field::Kind,
    ];

    /// The name written in a placeholder.
    pub fn name(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::Description => "description",
            Field::AlertId => "alert_id",
            Field::ThreadId => "thread_id",
            Field::Severity => "severity",
            Field::Tags => "tags",
            Field::Runbook => "runbook",
            Field::EventId => "event_id",
            Field::EventName => "event_name",
            Field::EventSource => "event_source",
            Field::EventTime => "event_time",
            Field::Actor => "actor",
            Field::Account => "account",
            Field::AccountName => "account_name",
            Field::Region => "region",
            Field::SourceIp => "source_ip",
            Field::Origin => "origin",
            Field::Record => "record",
            Field::Match => "match",
            Field::Text => "text",
            Field::Count => "count",
            Field::Kind => "kind",
        }
    }

    /// The field called `name`.
    pub fn parse(name: &str) -> Option<Field> {
        Field::ALL.iter().copied().find(|f| f.name() == name)
    }
}

/// How a placeholder inserts its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
    /// `{{field}}`: JSON string contents, without quotes.
    Text,
    /// `{{field | json}}`: a JSON value.
    Json,
    /// `{{severity | pagerduty}}`: PagerDuty's severity for the rule's
    /// (critical → critical, high → error, medium → warning, else info),
    /// as string contents.
    PagerDuty,
}

/// One piece of a template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    /// Text copied as it is.
    Text(String),
    /// A placeholder.
    Field {
        /// What it inserts.
        field: Field,
        /// How it is inserted.
        filter: Filter,
    },
    /// A secret reference, inserted as JSON string contents.
    Secret(SecretRef),
}

/// A parsed body template.
#[derive(Clone, PartialEq, Eq)]
pub struct Template {
    /// The text as written (decoded).
    pub source: String,
    /// Its pieces, in order.
    pub parts: Vec<Part>,
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Template({} part(s))", self.parts.len())
    }
}

/// A problem in a template, at a byte range of the decoded text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateError {
    /// What is wrong.
    pub message: String,
    /// Where, in the decoded template text.
    pub range: Range<usize>,
    /// How to fix it.
    pub help: String,
}

/// `name, description, ...`: the fields, for help texts.
pub fn field_names() -> String {
    Field::ALL
        .iter()
        .map(|f| f.name())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Template {
    /// Parse `text`; every problem is reported.
    pub fn parse(text: &str) -> Result<Template, Vec<TemplateError>> {
        let mut parts = Vec::new();
        let mut errors = Vec::new();
        let mut rest = 0;
        let mut literal = String::new();
        while let Some(found) = text[rest..].find("{{") {
            let open = rest + found;
            literal.push_str(&text[rest..open]);
            let inner_start = open + 2;
            let Some(len) = text[inner_start..].find("}}") else {
                errors.push(TemplateError {
                    message: "`{{` without a closing `}}`".into(),
                    range: open..open + 2,
                    help: "close the placeholder, e.g. {{name}}; every `{{` starts a placeholder"
                        .into(),
                });
                rest = text.len();
                break;
            };
            let close = inner_start + len;
            let inner = &text[inner_start..close];
            let (name_part, filter) = match inner.split_once('|') {
                Some((n, f)) => (n, Some(f)),
                None => (inner, None),
            };
            let name = name_part.trim();
            let name_at = inner_start + (name_part.len() - name_part.trim_start().len());
            if filter.is_none()
                && ["env:", "ssm:", "secretsmanager:"]
                    .iter()
                    .any(|p| name.starts_with(p))
            {
                let r = SecretRef::parse(name);
                match r.problem() {
                    Some(problem) => errors.push(TemplateError {
                        message: format!("placeholder `{name}`: {problem}"),
                        range: name_at..name_at + name.len(),
                        help: "a secret placeholder is {{env:NAME}}, {{ssm:/param/name}} or {{secretsmanager:name-or-arn}}".into(),
                    }),
                    None => {
                        if !literal.is_empty() {
                            parts.push(Part::Text(std::mem::take(&mut literal)));
                        }
                        parts.push(Part::Secret(r));
                    }
                }
                rest = close + 2;
                continue;
            }
            let name_range = if name.is_empty() {
                open..close + 2
            } else {
                name_at..name_at + name.len()
            };
            let field = Field::parse(name);
            if field.is_none() {
                errors.push(TemplateError {
                    message: if name.is_empty() {
                        "empty placeholder `{{}}`".into()
                    } else {
                        format!("unknown placeholder `{name}`")
                    },
                    range: name_range,
                    help: format!(
                        "placeholders are {}; write {{{{field}}}} inside a JSON string or {{{{field | json}}}} for a JSON value; {{{{env:NAME}}}}, {{{{ssm:/param}}}} or {{{{secretsmanager:name}}}} insert a secret",
                        field_names()
                    ),
                });
            }
            let filter = match filter {
                None => Filter::Text,
                Some(f) if f.trim() == "json" => Filter::Json,
                Some(f) if f.trim() == "pagerduty" => Filter::PagerDuty,
                Some(f) => {
                    let at = inner_start + name_part.len() + 1;
                    let lead = f.len() - f.trim_start().len();
                    let start = at + lead;
                    errors.push(TemplateError {
                        message: format!("unknown filter `{}`", f.trim()),
                        range: start..(start + f.trim().len()).max(start + 1).min(close),
                        help: "filters are json ({{record | json}} inserts a JSON value) and pagerduty ({{severity | pagerduty}}: critical, error, warning or info)"
                            .into(),
                    });
                    Filter::Text
                }
            };
            if let Some(field) = field {
                if !literal.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut literal)));
                }
                parts.push(Part::Field { field, filter });
            }
            rest = close + 2;
        }
        literal.push_str(&text[rest.min(text.len())..]);
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        if errors.is_empty() {
            Ok(Template {
                source: text.to_string(),
                parts,
            })
        } else {
            Err(errors)
        }
    }

    /// The fields it uses.
    pub fn fields(&self) -> impl Iterator<Item = Field> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Field { field, .. } => Some(*field),
            _ => None,
        })
    }

    /// The secret references it inserts.
    pub fn secrets(&self) -> impl Iterator<Item = &SecretRef> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Secret(r) => Some(r),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_filters() {
        let t =
            Template::parse(r#"{"a": "{{ name }}", "r": {{record|json}}, "c": {{count | json }}}"#)
                .unwrap();
        assert_eq!(
            t.parts,
            vec![
                Part::Text("{\"a\": \"".into()),
                Part::Field {
                    field: Field::Name,
                    filter: Filter::Text
                },
                Part::Text("\", \"r\": ".into()),
                Part::Field {
                    field: Field::Record,
                    filter: Filter::Json
                },
                Part::Text(", \"c\": ".into()),
                Part::Field {
                    field: Field::Count,
                    filter: Filter::Json
                },
                Part::Text("}".into()),
            ]
        );
        assert_eq!(
            t.fields().collect::<Vec<_>>(),
            [Field::Name, Field::Record, Field::Count]
        );
        assert_eq!(
            Template::parse("plain").unwrap().parts,
            vec![Part::Text("plain".into())]
        );
        let s =
            Template::parse(r#"{"routing_key": "{{ env:PD_KEY }}", "x": "{{ssm:/a}}"}"#).unwrap();
        assert_eq!(
            s.secrets().collect::<Vec<_>>(),
            [
                &SecretRef::Env("PD_KEY".into()),
                &SecretRef::Ssm("/a".into())
            ]
        );
        let e = Template::parse("{{env:}}").unwrap_err();
        assert_eq!(
            e[0].message,
            "placeholder `env:`: `env:` needs a variable name"
        );
        assert!(Template::parse("").unwrap().parts.is_empty());
        for f in Field::ALL {
            assert_eq!(Field::parse(f.name()), Some(*f));
        }
    }

    #[test]
    fn every_problem_is_located() {
        let text = "x {{nme}} {{ record | yaml }} {{}} {{name";
        let errs = Template::parse(text).unwrap_err();
        let got: Vec<(&str, &str)> = errs
            .iter()
            .map(|e| (e.message.as_str(), &text[e.range.clone()]))
            .collect();
        assert_eq!(
            got,
            [
                ("unknown placeholder `nme`", "nme"),
                ("unknown filter `yaml`", "yaml"),
                ("empty placeholder `{{}}`", "{{}}"),
                ("`{{` without a closing `}}`", "{{"),
            ]
        );
        assert!(errs[0].help.contains("event_name"));
    }
}
