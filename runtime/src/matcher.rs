//! Evaluating the plan on one record, with cloudtrail-tattletail's match
//! semantics: for each rule in config order, the first output decides;
//! `null`, `false`, no output or an error is no alert; the annotation is
//! the output, or none when the output is the record itself.
//!
//! With the index (the normal mode) only candidate rules are looked at,
//! rules the index alone decides are not run, and a rule whose required
//! literals are all missing from the record's raw bytes is skipped.
//! Without it ([`Matcher::naive`]) every rule runs on every record: the
//! oracle of the differential soundness tests.
//!
//! Every evaluation has a budget ([`Limits`]); a rule that keeps
//! exceeding it is quarantined ([`Quarantine`], shared by the matchers of
//! a scan).

use std::fmt;
use std::sync::Arc;

use tattletail_compiler::analysis::{IndexOnly, Literal, Prefilter};
use tattletail_compiler::plan::{Eval, Plan};

use crate::eval::{self, value, Exceeded, First, Limits, Prepared, RootIndex, Value};
use crate::index::{Candidates, DispatchIndex};
use crate::quarantine::Quarantine;
use crate::record::{Record, RecordParser};

/// A rule's output as JSON text (as gojq prints it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Annotation(pub String);

impl Annotation {
    /// As a serde_json value.
    pub fn value(&self) -> serde_json::Value {
        serde_json::from_str(&self.0).unwrap_or_else(|_| serde_json::Value::String(self.0.clone()))
    }
}

impl fmt::Display for Annotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One rule that fired on a record.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleMatch {
    /// Position of the rule in the plan.
    pub rule: usize,
    /// The output, or `None` when it was the record itself.
    pub annotation: Option<Annotation>,
}

/// A rule that failed on a record.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleError {
    /// Position of the rule in the plan.
    pub rule: usize,
    /// What went wrong.
    pub message: String,
    /// Set when a budget ran out.
    pub budget: Option<Exceeded>,
}

/// The fields of a record that alerts show (what happened, who did it,
/// from where, in which account and region), read where it was evaluated
/// so that emitting an alert needs no second parse.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AlertFields {
    /// `eventID`.
    pub event_id: Option<String>,
    /// `eventName`.
    pub event_name: Option<String>,
    /// `eventSource`.
    pub event_source: Option<String>,
    /// `eventTime`.
    pub event_time: Option<String>,
    /// `sourceIPAddress`.
    pub source_ip: Option<String>,
    /// `recipientAccountId`.
    pub account: Option<String>,
    /// `awsRegion`.
    pub region: Option<String>,
    /// `userIdentity.arn`.
    pub identity_arn: Option<String>,
    /// `userIdentity.type`.
    pub identity_type: Option<String>,
    /// `userIdentity.principalId`.
    pub principal_id: Option<String>,
    /// `userIdentity.invokedBy`.
    pub invoked_by: Option<String>,
}

impl AlertFields {
    /// The fields of a record held as a serde_json value (an alert on its
    /// way to delivery), read as the matcher reads them: string values only.
    pub fn from_json(record: &serde_json::Value) -> AlertFields {
        let field = |key: &str| record.get(key).and_then(|v| v.as_str()).map(str::to_string);
        let identity = record.get("userIdentity");
        let of_identity = |key: &str| {
            identity
                .and_then(|o| o.get(key))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        AlertFields::read(field, of_identity)
    }

    /// The fields from `field` (a top-level string field) and
    /// `of_identity` (a string field of `userIdentity`).
    fn read(
        field: impl Fn(&str) -> Option<String>,
        of_identity: impl Fn(&str) -> Option<String>,
    ) -> AlertFields {
        AlertFields {
            event_id: field("eventID"),
            event_name: field("eventName"),
            event_source: field("eventSource"),
            event_time: field("eventTime"),
            source_ip: field("sourceIPAddress"),
            account: field("recipientAccountId"),
            region: field("awsRegion"),
            identity_arn: of_identity("arn"),
            identity_type: of_identity("type"),
            principal_id: of_identity("principalId"),
            invoked_by: of_identity("invokedBy"),
        }
    }

    /// A field by its CloudTrail name (dotted for `userIdentity`'s).
    pub fn get(&self, key: &str) -> Option<&str> {
        match key {
            "eventID" => self.event_id.as_deref(),
            "eventName" => self.event_name.as_deref(),
            "eventSource" => self.event_source.as_deref(),
            "eventTime" => self.event_time.as_deref(),
            "sourceIPAddress" => self.source_ip.as_deref(),
            "recipientAccountId" => self.account.as_deref(),
            "awsRegion" => self.region.as_deref(),
            "userIdentity.arn" => self.identity_arn.as_deref(),
            "userIdentity.type" => self.identity_type.as_deref(),
            "userIdentity.principalId" => self.principal_id.as_deref(),
            "userIdentity.invokedBy" => self.invoked_by.as_deref(),
            _ => None,
        }
    }

    /// Who did it: `userIdentity.arn`; without one, the identity's type
    /// and the service that acted (`AWSService events.amazonaws.com`) or
    /// the principal (`AWSAccount AIDA…`); `None` when the record has no
    /// identity at all.
    pub fn actor(&self) -> Option<String> {
        if let Some(arn) = self.identity_arn.as_deref().filter(|a| !a.is_empty()) {
            return Some(arn.to_string());
        }
        let who = self
            .invoked_by
            .as_deref()
            .or(self.principal_id.as_deref())
            .filter(|w| !w.is_empty());
        match (self.identity_type.as_deref(), who) {
            (Some(t), Some(w)) => Some(format!("{t} {w}")),
            (Some(t), None) => Some(t.to_string()),
            (None, Some(w)) => Some(w.to_string()),
            (None, None) => None,
        }
    }
}

/// What evaluating one record produced.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Rules that fired, in config order.
    pub matches: Vec<RuleMatch>,
    /// The record's fields for alerts (filled when a rule fired).
    pub fields: AlertFields,
    /// Rules that failed before their first output.
    pub errors: Vec<RuleError>,
    /// Rules quarantined on this record (each reported once).
    pub quarantined: Vec<usize>,
    /// What had to be rewritten for the record to read as jq reads it.
    pub repairs: crate::repair::Repairs,
    /// Alerts an exception suppressed: (rule, exception).
    pub suppressed: Vec<(usize, usize)>,
    /// Exceptions that failed on this record (they did not suppress).
    pub exception_errors: Vec<(usize, String)>,
}

/// Evaluates a plan on records.
pub struct Matcher<'p> {
    plan: &'p Plan,
    index: Option<DispatchIndex>,
    prepared: Vec<Prepared>,
    limits: Limits,
    /// Per rule, indexes into `literals` of the alternatives it needs.
    required: Vec<Option<Vec<usize>>>,
    literals: Vec<Literal>,
    finders: Vec<memchr::memmem::Finder<'static>>,
    /// The current record's raw bytes (copied before parsing rewrites
    /// them) when they have no backslash; empty otherwise.
    raw: Vec<u8>,
    /// Its ASCII lowercase, made when a case-insensitive literal is needed.
    lower: Option<Vec<u8>>,
    /// The current record is all ASCII.
    raw_ascii: bool,
    /// Per literal, for the current record: unknown, present or absent.
    present: Vec<Option<bool>>,
    /// Evaluations per rule by this matcher.
    evaluated: Vec<u64>,
    /// Of those, not yet added to the quarantine counters.
    unreported: Vec<u64>,
    quarantine: Arc<Quarantine>,
    /// The exceptions' programs.
    exceptions: Vec<Prepared>,
    /// Per exception: not expired when this matcher was made.
    active: Vec<bool>,
    /// The exceptions' dispatch index (expired ones in no bucket).
    exception_index: Option<DispatchIndex>,
}

impl<'p> Matcher<'p> {
    /// A matcher that uses the dispatch index and required literals.
    pub fn new(plan: &'p Plan) -> Self {
        let mut m = Self::naive(plan);
        let active = m.active.clone();
        m.exception_index = Some(DispatchIndex::new(plan.exceptions.iter().zip(active).map(
            |(e, on)| {
                if on {
                    &e.analysis.prefilter
                } else {
                    &Prefilter::Never
                }
            },
        )));
        // A disabled rule is in no bucket: the index never hands it out.
        m.index = Some(DispatchIndex::new(plan.rules.iter().map(|r| {
            if r.eval == Eval::Disabled {
                &Prefilter::Never
            } else {
                r.prefilter()
            }
        })));
        let mut literals: Vec<Literal> = Vec::new();
        m.required = plan
            .rules
            .iter()
            .map(|r| {
                if r.eval != Eval::Native {
                    return None;
                }
                let alts = r.analysis.literals.as_ref()?;
                Some(
                    alts.iter()
                        .map(|l| {
                            literals.iter().position(|x| x == l).unwrap_or_else(|| {
                                literals.push(l.clone());
                                literals.len() - 1
                            })
                        })
                        .collect(),
                )
            })
            .collect();
        m.finders = literals
            .iter()
            .map(|l| memchr::memmem::Finder::new(&l.bytes).into_owned())
            .collect();
        m.present = vec![None; literals.len()];
        m.literals = literals;
        m
    }

    /// A matcher that runs every rule on every record.
    pub fn naive(plan: &'p Plan) -> Self {
        let n = plan.rules.len();
        Matcher {
            plan,
            index: None,
            prepared: plan
                .rules
                .iter()
                .map(|r| Prepared::new(&r.program))
                .collect(),
            limits: Limits::DEFAULT,
            required: vec![None; n],
            literals: Vec::new(),
            finders: Vec::new(),
            raw: Vec::new(),
            lower: None,
            raw_ascii: false,
            present: Vec::new(),
            evaluated: vec![0; n],
            unreported: vec![0; n],
            quarantine: Arc::new(Quarantine::new(n)),
            exceptions: plan
                .exceptions
                .iter()
                .map(|e| Prepared::new(&e.program))
                .collect(),
            active: {
                let now = tattletail_compiler::date::now();
                plan.exceptions.iter().map(|e| !e.expired(now)).collect()
            },
            exception_index: None,
        }
    }

    /// Count budget errors and quarantine together with other matchers
    /// (the workers of one scan).
    pub fn with_quarantine(mut self, quarantine: Arc<Quarantine>) -> Self {
        self.quarantine = quarantine;
        self
    }

    /// The quarantine counters, to share with other matchers.
    pub fn quarantine(&self) -> Arc<Quarantine> {
        self.quarantine.clone()
    }

    /// Add this matcher's evaluations to the shared quarantine counters
    /// (after each batch of records).
    pub fn report_evaluations(&mut self) {
        for (r, n) in self.unreported.iter_mut().enumerate() {
            self.quarantine.evaluated(r, std::mem::take(n));
        }
    }

    /// Use other limits (tests).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The limits of each evaluation.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Does this matcher run every rule on every record?
    pub fn is_naive(&self) -> bool {
        self.index.is_none()
    }

    /// Parse a record's bytes and evaluate it: the one way records go
    /// through a matcher. The parsed record is returned (for building
    /// alerts; give it back with [`RecordParser::recycle`]); a record
    /// that is not JSON is an error message. `check_values` comes from the
    /// splitter ([`crate::reader::RecordPos::check_values`]): the record may
    /// hold values jq reads and simd-json refuses, rewritten first
    /// ([`crate::repair`]); what was rewritten is in `out.repairs`.
    pub fn parse_and_evaluate<'a>(
        &mut self,
        parser: &mut RecordParser,
        bytes: &'a mut Vec<u8>,
        check_values: bool,
        out: &mut Outcome,
    ) -> Result<Record<'a>, String> {
        out.repairs = crate::repair::prepare(bytes, check_values);
        self.prescan(bytes);
        let record = parser.parse_prepared(bytes, out.repairs)?;
        self.evaluate(&record, out);
        Ok(record)
    }

    /// Keep a record's raw bytes before they are parsed (parsing rewrites
    /// them), for the required-literal checks of candidate rules. A record
    /// with a backslash may spell a literal with escapes; then no literal
    /// check is made.
    fn prescan(&mut self, raw: &[u8]) {
        if self.finders.is_empty() {
            return;
        }
        self.present.iter_mut().for_each(|p| *p = None);
        self.raw.clear();
        self.lower = None;
        if memchr::memchr(b'\\', raw).is_none() {
            self.raw.extend_from_slice(raw);
            self.raw_ascii = raw.is_ascii();
        }
    }

    /// Can rule `r` fire, as far as its required literals tell?
    fn literals_allow(&mut self, r: usize) -> bool {
        let Some(alts) = &self.required[r] else {
            return true;
        };
        if self.raw.is_empty() {
            return true;
        }
        for &l in alts {
            if self.literals[l].ascii_only && !self.raw_ascii {
                return true;
            }
            let found = match self.present[l] {
                Some(p) => p,
                None => {
                    let p = if self.literals[l].ascii_ci {
                        let lower = self
                            .lower
                            .get_or_insert_with(|| self.raw.to_ascii_lowercase());
                        self.finders[l].find(lower).is_some()
                    } else {
                        self.finders[l].find(&self.raw).is_some()
                    };
                    self.present[l] = Some(p);
                    p
                }
            };
            if found {
                return true;
            }
        }
        false
    }

    /// The plan.
    pub fn plan(&self) -> &'p Plan {
        self.plan
    }

    /// How many times each rule was evaluated (not skipped by the index or
    /// its literals), for profiling.
    pub fn evaluations(&self) -> &[u64] {
        &self.evaluated
    }

    /// Is rule `r` quarantined?
    pub fn is_quarantined(&self, r: usize) -> bool {
        self.quarantine.is_quarantined(r)
    }

    /// Evaluate every rule that needs to look at `record` (its raw bytes
    /// went through [`Matcher::prescan`]).
    fn evaluate(&mut self, record: &Record<'_>, out: &mut Outcome) {
        out.matches.clear();
        out.errors.clear();
        out.quarantined.clear();
        let root = record.value();
        let is_object = root.is_object();
        // One pass over the top-level fields serves dispatch and every rule.
        let mut fields = RootIndex::default();
        fields.build(&root);
        let (candidates, shortcuts) = match &mut self.index {
            Some(ix) if is_object => {
                let name = fields.get(&root, "eventName");
                let source = fields.get(&root, "eventSource");
                (
                    ix.candidates(
                        name.as_ref().and_then(Value::as_str),
                        source.as_ref().and_then(Value::as_str),
                    ),
                    true,
                )
            }
            Some(ix) => (ix.every_rule(), false),
            None => ((0..self.plan.rules.len() as u32).collect(), false),
        };
        for &r in candidates.iter() {
            let r = r as usize;
            let rule = &self.plan.rules[r];
            if self.quarantine.is_quarantined(r) || rule.eval == Eval::Disabled {
                continue;
            }
            if shortcuts {
                match rule.eval {
                    Eval::Never | Eval::Disabled => continue,
                    Eval::IndexOnly(IndexOnly::Record) => {
                        out.matches.push(RuleMatch {
                            rule: r,
                            annotation: None,
                        });
                        continue;
                    }
                    Eval::IndexOnly(IndexOnly::True) => {
                        out.matches.push(RuleMatch {
                            rule: r,
                            annotation: Some(Annotation("true".into())),
                        });
                        continue;
                    }
                    Eval::Native if !self.literals_allow(r) => continue,
                    Eval::Native => {}
                }
            }
            self.evaluated[r] += 1;
            self.unreported[r] += 1;
            let first = guarded_first(
                &rule.program,
                &self.prepared[r],
                &root,
                self.limits,
                &fields,
            );
            match first {
                First::Value(v) if v.truthy() => {
                    let annotation = annotation(&v, &root, &fields, self.limits);
                    out.matches.push(RuleMatch {
                        rule: r,
                        annotation,
                    });
                }
                First::Value(_) | First::Empty => {}
                First::Error(message) => out.errors.push(RuleError {
                    rule: r,
                    message,
                    budget: None,
                }),
                First::Budget(b) => {
                    out.errors.push(RuleError {
                        rule: r,
                        message: b.to_string(),
                        budget: Some(b),
                    });
                    let n = std::mem::take(&mut self.unreported[r]);
                    if self.quarantine.over_budget(r, n) {
                        out.quarantined.push(r);
                    }
                }
            }
        }
        out.suppressed.clear();
        out.exception_errors.clear();
        if !out.matches.is_empty() && !self.plan.exceptions.is_empty() {
            self.apply_exceptions(&root, &fields, out);
        }
        if !out.matches.is_empty() {
            let field = |key: &str| {
                fields
                    .get(&root, key)
                    .and_then(|v| v.as_str().map(str::to_string))
            };
            let identity = fields.get(&root, "userIdentity");
            let of_identity = |key: &str| {
                identity
                    .as_ref()
                    .and_then(|o| o.object_get(key))
                    .and_then(|v| v.as_str().map(str::to_string))
            };
            out.fields = AlertFields::read(field, of_identity);
        }
    }
}

impl Matcher<'_> {
    /// Take out of `out.matches` the alerts an active exception that
    /// applies to their rule suppresses on this record; each exception is
    /// evaluated at most once per record, and only on events its
    /// prefilter admits. An exception that fails does not suppress.
    fn apply_exceptions<'t>(
        &mut self,
        root: &Value<'t>,
        fields: &RootIndex<'t>,
        out: &mut Outcome,
    ) {
        let candidates: Candidates = match &mut self.exception_index {
            Some(ix) if root.is_object() => {
                let name = fields.get(root, "eventName");
                let source = fields.get(root, "eventSource");
                ix.candidates(
                    name.as_ref().and_then(Value::as_str),
                    source.as_ref().and_then(Value::as_str),
                )
            }
            _ => (0..self.plan.exceptions.len() as u32)
                .filter(|&e| self.active[e as usize])
                .collect(),
        };
        if candidates.is_empty() {
            return;
        }
        let mut holds: Vec<Option<bool>> = vec![None; self.plan.exceptions.len()];
        let Outcome {
            matches,
            suppressed,
            exception_errors,
            ..
        } = out;
        let plan = self.plan;
        matches.retain(|m| {
            for &e in candidates.iter() {
                let e = e as usize;
                let exception = &plan.exceptions[e];
                if !exception.applies_to(m.rule) {
                    continue;
                }
                let hit = *holds[e].get_or_insert_with(|| {
                    let first = guarded_first(
                        &exception.program,
                        &self.exceptions[e],
                        root,
                        self.limits,
                        fields,
                    );
                    match first {
                        First::Value(v) => v.truthy(),
                        First::Empty => false,
                        First::Error(message) => {
                            exception_errors.push((e, message));
                            false
                        }
                        First::Budget(b) => {
                            exception_errors.push((e, b.to_string()));
                            false
                        }
                    }
                });
                if hit {
                    suppressed.push((m.rule, e));
                    return false;
                }
            }
            true
        });
    }
}

/// A program's first output on the record. A panic would be a bug of the
/// evaluator: it costs this program on this record (an error), never the
/// scan.
fn guarded_first<'p, 't>(
    program: &'p tattletail_compiler::ir::Program,
    prepared: &'p Prepared,
    root: &Value<'t>,
    limits: Limits,
    fields: &'p RootIndex<'t>,
) -> First<'t> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        eval::first_output(program, prepared, root.clone(), limits, Some(fields))
    }))
    .unwrap_or_else(|panic| First::Error(internal_error(panic.as_ref())))
}

/// The message of a rule error that was a panic in the evaluator.
fn internal_error(panic: &(dyn std::any::Any + Send)) -> String {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown".into());
    format!("internal error in the evaluator ({what}); please report the rule and the record")
}

/// The annotation of an output: none when it is the record itself.
fn annotation<'t>(
    v: &Value<'t>,
    root: &Value<'t>,
    fields: &RootIndex<'t>,
    limits: Limits,
) -> Option<Annotation> {
    if let (Value::TObj(a), Value::TObj(b)) = (v, root) {
        if std::ptr::eq(a.as_ptr(), b.as_ptr()) {
            return None;
        }
    }
    // An object with another number of keys is not the record; most
    // annotations are told apart here, without comparing values.
    let same_size = !v.is_object() || !root.is_object() || v.object_len() == fields.len();
    if same_size && v.kind() == root.kind() && value::equal(v, root) {
        return None;
    }
    let mut s = String::new();
    match eval::json::write_value(&mut s, v, limits.depth, limits.string) {
        Ok(()) => Some(Annotation(s)),
        Err(_) => Some(Annotation(
            "\"[annotation too large or too deep to print]\"".into(),
        )),
    }
}
