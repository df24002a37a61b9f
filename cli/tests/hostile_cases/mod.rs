//! The hostile-rules suite's cases (`testdata/hostile/*.toml`), shared by
//! the CLI harness (`tests/hostile.rs`) and the Lambda harness
//! (`tests/hostile_lambda.rs`). See `testdata/hostile/README.md` for the
//! format and what each outcome means.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Name of the hostile rule in every generated config.
pub const HOSTILE: &str = "hostile";
/// The rule before it: a `select` on the canary events.
pub const CANARY_BEFORE: &str = "canary-before";
/// The rule after it: a boolean on the canary events.
pub const CANARY_AFTER: &str = "canary-after";
/// The `eventID`s of the first and the last record of every log file.
pub const CANARY_IDS: [&str; 2] = ["tattletail-canary-1", "tattletail-canary-2"];
/// A case that takes longer than this fails.
pub const CASE_LIMIT: Duration = Duration::from_secs(20);

/// The record a case gets when it names none.
pub const ORDINARY_RECORD: &str = r#"{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::123456789012:user/alice","accountId":"123456789012","userName":"alice"},"eventTime":"2026-01-01T00:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.7","userAgent":"aws-cli/2.15.0 Python/3.11.6","requestParameters":{"instancesSet":{},"filterSet":{}},"responseElements":null,"eventID":"hostile-ordinary-1","readOnly":true,"eventType":"AwsApiCall","recipientAccountId":"123456789012"}"#;

/// What a case expects of the hostile rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The config is refused at load time; nothing is scanned.
    Rejected,
    /// The rule fails with an ordinary jq error.
    Error,
    /// The rule runs out of its evaluation budget.
    Budget,
    /// The rule runs out of budget so often that it is quarantined.
    Quarantined,
    /// The rule runs and does not fire.
    NoAlert,
    /// The rule runs and fires.
    Alert,
    /// The hostile record cannot be parsed: reported and skipped.
    Unreadable,
}

impl Outcome {
    pub fn parse(s: &str) -> Result<Outcome, String> {
        Ok(match s {
            "rejected" => Outcome::Rejected,
            "error" => Outcome::Error,
            "budget" => Outcome::Budget,
            "quarantined" => Outcome::Quarantined,
            "no_alert" => Outcome::NoAlert,
            "alert" => Outcome::Alert,
            "unreadable" => Outcome::Unreadable,
            other => return Err(format!("unknown outcome {other:?}")),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Outcome::Rejected => "rejected",
            Outcome::Error => "error",
            Outcome::Budget => "budget",
            Outcome::Quarantined => "quarantined",
            Outcome::NoAlert => "no_alert",
            Outcome::Alert => "alert",
            Outcome::Unreadable => "unreadable",
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    about: String,
    jq_match: Option<String>,
    jq_match_file: Option<String>,
    records: Option<Vec<String>>,
    records_file: Option<String>,
    repeat: Option<usize>,
    expect: OneOrMany,
    message: Option<String>,
    alerts: Option<u64>,
    annotation: Option<String>,
}

/// One case, loaded.
pub struct Case {
    /// File name without `.toml`.
    pub name: String,
    /// What an attacker or a careless rule author does.
    pub about: String,
    /// The hostile rule.
    pub jq_match: String,
    /// The records it sees, raw (not necessarily valid UTF-8 or JSON),
    /// already repeated.
    pub records: Vec<Vec<u8>>,
    /// Acceptable outcomes (usually one).
    pub expect: Vec<Outcome>,
    /// Must appear in the diagnostic (rejected) or the error example.
    pub message: Option<String>,
    /// Exact number of the hostile rule's alerts on the hostile records.
    pub alerts: Option<u64>,
    /// The annotation of its first alert on a hostile record.
    pub annotation: Option<serde_json::Value>,
}

impl Case {
    /// The expected outcomes as text: `alert` or `alert|budget`.
    pub fn expected(&self) -> String {
        self.expect
            .iter()
            .map(|o| o.name())
            .collect::<Vec<_>>()
            .join("|")
    }

    /// The substring an error example must contain (budget cases default
    /// to "budget exceeded").
    pub fn error_message(&self) -> Option<&str> {
        match (&self.message, self.expect.contains(&Outcome::Budget)) {
            (Some(m), _) => Some(m.as_str()),
            (None, true) => Some("budget exceeded"),
            (None, false) => None,
        }
    }
}

/// `testdata/hostile/`.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("testdata/hostile")
}

/// Every case, sorted by name. Panics with every problem found in the
/// case files.
pub fn load_all() -> Vec<Case> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    names.sort();
    let mut cases = Vec::new();
    let mut problems = Vec::new();
    for path in names {
        match load(&path) {
            Ok(c) => cases.push(c),
            Err(e) => problems.push(format!("{}: {e}", path.display())),
        }
    }
    assert!(
        problems.is_empty(),
        "bad case files:\n{}",
        problems.join("\n")
    );
    assert!(!cases.is_empty(), "no cases in {}", dir().display());
    cases
}

/// The cases to run and the table's title: all of them, or, for local
/// iteration, those whose names contain one of the comma-separated words
/// of `TATTLETAIL_HOSTILE_CASES` (the title then says so).
pub fn selected(title: &str) -> (Vec<Case>, String) {
    let all = load_all();
    match std::env::var("TATTLETAIL_HOSTILE_CASES") {
        Ok(filter) if !filter.trim().is_empty() => {
            let words: Vec<&str> = filter.split(',').map(str::trim).collect();
            let cases: Vec<Case> = all
                .into_iter()
                .filter(|c| words.iter().any(|w| c.name.contains(w)))
                .collect();
            assert!(
                !cases.is_empty(),
                "TATTLETAIL_HOSTILE_CASES={filter} selects no case"
            );
            let title = format!(
                "{title}: {} cases selected by TATTLETAIL_HOSTILE_CASES={filter} (NOT the whole suite)",
                cases.len()
            );
            (cases, title)
        }
        _ => (all, format!("{title}: testdata/hostile/*.toml")),
    }
}

fn load(path: &Path) -> Result<Case, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let f: CaseFile = toml::from_str(&text).map_err(|e| e.to_string())?;
    let name = path.file_stem().unwrap().to_string_lossy().into_owned();
    let read =
        |rel: &str| std::fs::read(dir().join(rel)).map_err(|e| format!("cannot read {rel}: {e}"));
    let jq_match = match (f.jq_match, f.jq_match_file) {
        (Some(j), None) => j,
        (None, Some(file)) => String::from_utf8(read(&file)?)
            .map_err(|_| format!("{file} is not UTF-8"))?
            .trim_end()
            .to_string(),
        _ => return Err("exactly one of jq_match and jq_match_file is needed".into()),
    };
    let mut once: Vec<Vec<u8>> = Vec::new();
    if let Some(file) = &f.records_file {
        let mut bytes = read(file)?;
        while bytes.last().is_some_and(|b| b.is_ascii_whitespace()) {
            bytes.pop();
        }
        once.push(bytes);
    }
    for r in f.records.unwrap_or_default() {
        once.push(r.into_bytes());
    }
    if once.is_empty() {
        once.push(ORDINARY_RECORD.as_bytes().to_vec());
    }
    let repeat = f.repeat.unwrap_or(1);
    if repeat == 0 {
        return Err("repeat must be at least 1".into());
    }
    let records: Vec<Vec<u8>> = (0..repeat).flat_map(|_| once.iter().cloned()).collect();
    let expect: Vec<Outcome> = match f.expect {
        OneOrMany::One(s) => vec![Outcome::parse(&s)?],
        OneOrMany::Many(v) => v
            .iter()
            .map(|s| Outcome::parse(s))
            .collect::<Result<_, _>>()?,
    };
    if expect.is_empty() {
        return Err("expect is empty".into());
    }
    if expect.contains(&Outcome::Rejected) && expect.len() > 1 {
        return Err("rejected cannot be combined with other outcomes".into());
    }
    if (expect.contains(&Outcome::Rejected) || expect.contains(&Outcome::Error))
        && f.message.is_none()
    {
        return Err("rejected and error cases need a message".into());
    }
    if expect.contains(&Outcome::Quarantined) && records.len() < 12 {
        return Err("a quarantined case needs at least 12 hostile records".into());
    }
    let annotation = match f.annotation {
        Some(a) => Some(
            serde_json::from_str(&a).map_err(|e| format!("annotation is not JSON ({e}): {a}"))?,
        ),
        None => None,
    };
    Ok(Case {
        name,
        about: f.about,
        jq_match,
        records,
        expect,
        message: f.message,
        alerts: f.alerts,
        annotation,
    })
}

/// The canary record `n` (0 or 1).
pub fn canary(n: usize) -> String {
    format!(
        r#"{{"eventVersion":"1.08","eventTime":"2026-01-01T00:00:00Z","eventSource":"tattletail.test","eventName":"TattletailCanary","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.1","userAgent":"tattletail-hostile-suite","eventID":"{}"}}"#,
        CANARY_IDS[n]
    )
}

/// The CloudTrail log file of a case: a canary, the hostile records
/// (spliced in as they are), a canary.
pub fn log_file(case: &Case) -> Vec<u8> {
    let mut out = b"{\"Records\":[".to_vec();
    out.extend_from_slice(canary(0).as_bytes());
    for r in &case.records {
        out.push(b',');
        out.extend_from_slice(r);
    }
    out.push(b',');
    out.extend_from_slice(canary(1).as_bytes());
    out.extend_from_slice(b"]}\n");
    out
}

/// A TOML string holding `s`: a multi-line literal string when possible
/// (so that diagnostics show the rule as written), a basic string
/// otherwise.
pub fn toml_string(s: &str) -> String {
    let plain = !s.contains("'''")
        && !s.ends_with('\'')
        && !s.starts_with('\n')
        && s.chars().all(|c| c == '\n' || c == '\t' || !c.is_control());
    if plain {
        format!("'''{s}'''")
    } else {
        // JSON escapes are TOML basic-string escapes.
        serde_json::to_string(s).unwrap()
    }
}

/// The config of a case: canary-before, hostile, canary-after.
/// `destinations` is extra TOML (destination tables) and the canaries'
/// `destinations` value, for the Lambda.
pub fn config(case: &Case, destinations: Option<(&str, &str)>) -> String {
    let mut out = String::new();
    let canary_dest = match destinations {
        Some((tables, ids)) => {
            out.push_str(tables);
            out.push('\n');
            format!("destinations = {ids}\n")
        }
        None => String::new(),
    };
    let _ = write!(
        out,
        "[[rule]]\nname = \"{CANARY_BEFORE}\"\njq_match = 'select(.eventName == \"TattletailCanary\")'\n{canary_dest}\n\
         [[rule]]\nname = \"{HOSTILE}\"\ndescription = {}\njq_match = {}\n\n\
         [[rule]]\nname = \"{CANARY_AFTER}\"\njq_match = '.eventName == \"TattletailCanary\"'\n{canary_dest}",
        serde_json::to_string(&format!("hostile case {}", case.name)).unwrap(),
        toml_string(&case.jq_match),
    );
    out
}

/// One row of the table a harness prints.
pub struct Row {
    pub case: String,
    pub expected: String,
    pub observed: String,
    pub secs: f64,
    /// Peak resident memory of the process, when known.
    pub peak_mb: Option<f64>,
    pub problems: Vec<String>,
}

/// The table: case, expected, observed, seconds, peak MB, verdict; then
/// every problem in full.
pub fn table(title: &str, rows: &[Row]) -> String {
    let w = rows.iter().map(|r| r.case.len()).max().unwrap_or(4).max(4);
    let we = rows
        .iter()
        .map(|r| r.expected.len())
        .max()
        .unwrap_or(8)
        .max(8);
    let wo = rows
        .iter()
        .map(|r| r.observed.len())
        .max()
        .unwrap_or(8)
        .max(8);
    let mut out = format!("\n{title}\n");
    let _ = writeln!(
        out,
        "{:w$}  {:we$}  {:wo$}  {:>7}  {:>7}  verdict",
        "case", "expected", "observed", "seconds", "peak MB"
    );
    for r in rows {
        let peak = r.peak_mb.map_or("-".to_string(), |m| format!("{m:.0}"));
        let verdict = if r.problems.is_empty() { "ok" } else { "FAIL" };
        let _ = writeln!(
            out,
            "{:w$}  {:we$}  {:wo$}  {:>7.2}  {:>7}  {verdict}",
            r.case, r.expected, r.observed, r.secs, peak
        );
    }
    let failed: Vec<&Row> = rows.iter().filter(|r| !r.problems.is_empty()).collect();
    let total: f64 = rows.iter().map(|r| r.secs).sum();
    let _ = writeln!(
        out,
        "{} cases, {} failed, {total:.1} s of case time",
        rows.len(),
        failed.len()
    );
    for r in failed {
        let _ = writeln!(out, "\n{}:", r.case);
        for p in &r.problems {
            for (i, line) in p.lines().enumerate() {
                let _ = writeln!(out, "{}{line}", if i == 0 { "  - " } else { "    " });
            }
        }
    }
    out
}

/// The last `n` lines of `text` (for failure messages).
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    let mut out: String = lines[start..]
        .iter()
        .map(|l| {
            if l.len() > 300 {
                format!("{}…", &l[..l.floor_char_boundary(300)])
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    if start > 0 {
        out.insert_str(0, "…\n");
    }
    out
}
