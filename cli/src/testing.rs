//! `tattletail test`: every test of the rule file, run with the engine
//! exactly as `scan` runs it (the runtime's [`Scanner`] with the plan's
//! dispatch index, native evaluation and exceptions; see
//! [`tattletail_runtime::rule_test`]), reported as `cargo test` reports:
//! one line per test, then what failed and why, then the counts, then the
//! rules that have no test. The tests are the `[[rule.test]]` tables, and
//! for Sigma rules the events of their `_tests.json` files and the
//! `[[sigma.test]]` tables; a failure points at the test's table, or at
//! its event in the tests file. `file`s are read here, relative to the
//! rule file's directory (the compiler does no I/O); a file that cannot be
//! read fails its test with a diagnostic at the `file` value.
//!
//! `--junit FILE` writes the same results as JUnit XML: `testsuites` >
//! `testsuite` (one per rule: `name`, `tests`, `failures`, `errors`,
//! `skipped`, `time`) > `testcase` (`name`, `classname` = the rule,
//! `time`) > `failure` (`message`, and the details as text) or `skipped`.
//!
//! Everything printed that comes from the config or an event is escaped
//! ([`escape`]); in the XML it is escaped first the same way, then as XML,
//! so the report holds no character XML 1.0 forbids.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tattletail_compiler::config::{RuleTest, TestInput};
use tattletail_compiler::diag::{line_col, Diagnostic};
use tattletail_compiler::escape::escape;
use tattletail_runtime::rule_test::{self, Events, Ran};
use tattletail_runtime::Scanner;

use crate::args::TestArgs;
use crate::config::Loaded;
use crate::console::note;
use crate::status::Status;

/// How one test ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It passed.
    Passed,
    /// It failed: a one-line message and the details, line by line (not
    /// yet escaped).
    Failed {
        /// What went wrong, in one line.
        message: String,
        /// Where the test is, what was expected and what happened.
        details: Vec<String>,
    },
    /// It was not run, and why.
    Ignored(&'static str),
}

/// One test's result.
#[derive(Clone, Debug)]
pub struct Case {
    /// The rule's position in the plan.
    pub rule: usize,
    /// The rule's name as shown.
    pub rule_name: String,
    /// The test's name.
    pub name: String,
    /// How it ended.
    pub verdict: Verdict,
    /// How long it took.
    pub time: Duration,
}

/// Everything a run of the tests found.
#[derive(Debug, Default)]
pub struct Report {
    /// The tests run (or ignored), in rule and file order.
    pub cases: Vec<Case>,
    /// Tests left out by `--filter`.
    pub filtered_out: usize,
    /// Rules without tests (those `--filter` keeps), as shown.
    pub untested: Vec<String>,
    /// Exceptions (not expired) that suppressed no alert in the tests
    /// run (all of them: not with `--filter`): untested, or no longer
    /// needed.
    pub unused_exceptions: Vec<String>,
    /// How long all of it took.
    pub time: Duration,
}

impl Report {
    fn count(&self, f: impl Fn(&Verdict) -> bool) -> usize {
        self.cases.iter().filter(|c| f(&c.verdict)).count()
    }

    /// Tests that passed.
    pub fn passed(&self) -> usize {
        self.count(|v| *v == Verdict::Passed)
    }

    /// Tests that failed.
    pub fn failed(&self) -> usize {
        self.count(|v| matches!(v, Verdict::Failed { .. }))
    }

    /// Tests not run.
    pub fn ignored(&self) -> usize {
        self.count(|v| matches!(v, Verdict::Ignored(_)))
    }
}

/// Where `file`s are: the rule file's directory (the current directory
/// for the built-in pack).
fn base_dir(config: Option<&Path>) -> PathBuf {
    config
        .and_then(Path::parent)
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

/// Run the tests `args` selects from `loaded`, with `base` the directory
/// `file`s are relative to.
pub fn run_tests(args: &TestArgs, loaded: &Loaded, base: &Path) -> Report {
    let started = Instant::now();
    let plan = &loaded.compiled.plan;
    let keep = |rule: &str, test: &str| {
        args.filter
            .as_deref()
            .is_none_or(|f| rule.contains(f) || test.contains(f))
    };
    let mut report = Report::default();
    let mut used = std::collections::BTreeSet::new();
    for (r, rule) in plan.rules.iter().enumerate() {
        let rule_name = rule.config.display_name();
        if rule.config.tests.is_empty() && keep(&rule_name, "") {
            report.untested.push(rule_name.clone());
        }
        for test in &rule.config.tests {
            if !keep(&rule_name, &test.name) {
                report.filtered_out += 1;
                continue;
            }
            let t0 = Instant::now();
            let verdict = if rule.config.meta.enabled {
                let (verdict, suppressed_by) = run_one(loaded, r, test, base);
                used.extend(suppressed_by);
                verdict
            } else {
                Verdict::Ignored("the rule is disabled (enabled = false)")
            };
            report.cases.push(Case {
                rule: r,
                rule_name: rule_name.clone(),
                name: test.name.clone(),
                verdict,
                time: t0.elapsed(),
            });
        }
    }
    let now = tattletail_compiler::date::now();
    // With --filter, tests left out may be what uses an exception.
    if !report.cases.is_empty() && args.filter.is_none() {
        report.unused_exceptions = plan
            .exceptions
            .iter()
            .filter(|e| !e.expired(now) && !used.contains(&e.config.name))
            .map(|e| e.config.name.clone())
            .collect();
    }
    report.time = started.elapsed();
    report
}

/// One test, through a fresh scanner of the plan, as a scan makes one.
/// Also says which exceptions suppressed alerts of the rule in the test.
fn run_one(loaded: &Loaded, rule: usize, test: &RuleTest, base: &Path) -> (Verdict, Vec<String>) {
    let plan = &loaded.compiled.plan;
    let events = match &test.input {
        TestInput::Event(json) => Events::Event(json.clone()),
        TestInput::File { path, span } => {
            let full = base.join(path);
            let read = match std::fs::metadata(&full) {
                Ok(m) if !m.is_file() => Err("not a regular file".to_string()),
                Ok(_) => std::fs::read(&full).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match read {
                Ok(bytes) => Events::File(bytes),
                Err(why) => {
                    let message = format!("cannot read {}: {why}", full.display());
                    let diag = Diagnostic::error(message.clone(), span.clone())
                        .with_help("`file` is relative to the directory of the rule file");
                    let rendered = diag.render(&loaded.name, &loaded.source);
                    let failed = Verdict::Failed {
                        message,
                        details: rendered.lines().map(str::to_string).collect(),
                    };
                    return (failed, Vec::new());
                }
            }
        }
    };
    let ran = rule_test::run(Scanner::new(plan), rule, events);
    let suppressed_by = ran.suppressed_by.clone();
    if ran.passed(test) {
        return (Verdict::Passed, suppressed_by);
    }
    let expected = Ran::expected(test);
    let got = ran.got();
    let notes = ran.notes();
    let message = if !ran.unreadable.is_empty() || ran.errors.0 > 0 {
        notes[0].clone()
    } else {
        format!("expected {expected}, got {}", got[0])
    };
    let mut details = vec![format!("  --> {}", test_location(loaded, test))];
    details.push(format!("expected: {expected}"));
    for (i, g) in got.iter().enumerate() {
        let head = if i == 0 { "got:      " } else { "          " };
        details.push(format!("{head}{g}"));
    }
    details.extend(notes.into_iter().map(|n| format!("note: {n}")));
    (Verdict::Failed { message, details }, suppressed_by)
}

/// `file:line:col` of a test: its table in the rule file, or its event in
/// a Sigma rule's tests file.
fn test_location(loaded: &Loaded, test: &RuleTest) -> String {
    let (name, source) = match &test.file {
        Some(f) => (f.name.as_str(), f.text.as_str()),
        None => (loaded.name.as_str(), loaded.source.as_str()),
    };
    let (line, col) = line_col(source, test.span.start);
    format!("{name}:{line}:{col}")
}

/// The text report, as `cargo test` prints it.
pub fn render_text(report: &Report, config_name: &str) -> String {
    let mut out = String::new();
    let n = report.cases.len();
    let _ = writeln!(
        out,
        "running {n} test{} from {}",
        if n == 1 { "" } else { "s" },
        escape(config_name)
    );
    let title = |c: &Case| format!("{} :: {}", escape(&c.rule_name), escape(&c.name));
    for c in &report.cases {
        let how = match &c.verdict {
            Verdict::Passed => "ok".to_string(),
            Verdict::Failed { .. } => "FAILED".to_string(),
            Verdict::Ignored(why) => format!("ignored, {why}"),
        };
        let _ = writeln!(out, "test {} ... {how}", title(c));
    }
    let failed: Vec<&Case> = report
        .cases
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Failed { .. }))
        .collect();
    if !failed.is_empty() {
        out.push_str("\nfailures:\n");
        for c in &failed {
            let _ = writeln!(out, "\n---- {} ----", title(c));
            if let Verdict::Failed { details, .. } = &c.verdict {
                for d in details {
                    let _ = writeln!(out, "{}", escape(d));
                }
            }
        }
        out.push_str("\nfailures:\n");
        for c in &failed {
            let _ = writeln!(out, "    {}", title(c));
        }
    }
    let _ = writeln!(
        out,
        "\ntest result: {}. {} passed; {} failed; {} ignored; {} filtered out",
        if failed.is_empty() { "ok" } else { "FAILED" },
        report.passed(),
        report.failed(),
        report.ignored(),
        report.filtered_out
    );
    if !report.untested.is_empty() {
        let _ = writeln!(out, "\nrules without tests ({}):", report.untested.len());
        for r in &report.untested {
            let _ = writeln!(out, "    {}", escape(r));
        }
    }
    if !report.unused_exceptions.is_empty() {
        let _ = writeln!(
            out,
            "\nexceptions that suppressed nothing in these tests ({}): add a test that shows what each one is for, or remove it",
            report.unused_exceptions.len()
        );
        for e in &report.unused_exceptions {
            let _ = writeln!(out, "    {}", escape(e));
        }
    }
    out
}

/// Text as XML character data or an attribute value: escaped for the
/// terminal first (no control character remains), then as XML.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in escape(text).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn seconds(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

/// The JUnit XML report: a `testsuite` per rule with tests run (in plan
/// order), a `testcase` per test.
pub fn render_junit(report: &Report) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"tattletail\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{}\">",
        report.cases.len(),
        report.failed(),
        report.ignored(),
        seconds(report.time)
    );
    let mut i = 0;
    while i < report.cases.len() {
        let rule = report.cases[i].rule;
        let end = report.cases[i..]
            .iter()
            .position(|c| c.rule != rule)
            .map_or(report.cases.len(), |n| i + n);
        let suite = &report.cases[i..end];
        let count = |f: fn(&Verdict) -> bool| suite.iter().filter(|c| f(&c.verdict)).count();
        let name = xml(&suite[0].rule_name);
        let _ = writeln!(
            out,
            "  <testsuite name=\"{name}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{}\">",
            suite.len(),
            count(|v| matches!(v, Verdict::Failed { .. })),
            count(|v| matches!(v, Verdict::Ignored(_))),
            seconds(suite.iter().map(|c| c.time).sum())
        );
        for c in suite {
            let open = format!(
                "    <testcase name=\"{}\" classname=\"{name}\" time=\"{}\"",
                xml(&c.name),
                seconds(c.time)
            );
            match &c.verdict {
                Verdict::Passed => {
                    let _ = writeln!(out, "{open}/>");
                }
                Verdict::Failed { message, details } => {
                    let body: Vec<String> = details.iter().map(|d| xml(d)).collect();
                    let _ = writeln!(
                        out,
                        "{open}>\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                        xml(message),
                        body.join("\n")
                    );
                }
                Verdict::Ignored(why) => {
                    let _ = writeln!(
                        out,
                        "{open}>\n      <skipped message=\"{}\"/>\n    </testcase>",
                        xml(why)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
        i = end;
    }
    out.push_str("</testsuites>\n");
    out
}

/// `tattletail test`: run, print, write the JUnit report; the exit status.
pub fn run(args: &TestArgs, loaded: &Loaded) -> Status {
    let base = base_dir(args.config.config.as_deref());
    let report = run_tests(args, loaded, &base);
    let mut status = if report.failed() > 0 {
        Status::TestFailed
    } else {
        Status::Clean
    };
    let text = render_text(&report, &loaded.name);
    let mut stdout = io::stdout().lock();
    if let Err(e) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        // A reader that went away (`| head`) is not an error.
        if e.kind() != io::ErrorKind::BrokenPipe {
            note(format_args!(
                "cannot write to stdout: {}",
                escape(&e.to_string())
            ));
            status = Status::Fatal;
        }
    }
    drop(stdout);
    if let Some(path) = &args.junit {
        if let Err(e) = std::fs::write(path, render_junit(&report)) {
            note(format_args!(
                "cannot write the JUnit report to {}: {}",
                escape(&path.display().to_string()),
                escape(&e.to_string())
            ));
            status = Status::Fatal;
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_markup_and_controls() {
        assert_eq!(
            xml("a<b>&\"c'\u{1b}[2J\n\u{202e}"),
            "a&lt;b&gt;&amp;&quot;c&apos;\\x1b[2J\\n\\u{202e}"
        );
    }

    #[test]
    fn files_are_relative_to_the_rule_file() {
        assert_eq!(base_dir(None), Path::new("."));
        assert_eq!(base_dir(Some(Path::new("t.toml"))), Path::new("."));
        assert_eq!(base_dir(Some(Path::new("a/b/t.toml"))), Path::new("a/b"));
    }
}
