//! The `tattletail` and `tattletail-compile` binaries against golden
//! files, and on a real terminal.
//!
//! Every `testdata/cli/<case>.toml` runs one of the real binaries from the
//! workspace root; its exit status must be the case's, and its stdout and
//! stderr, normalised (durations and rates in the summary, the git commit
//! in version strings, nothing else), must be exactly
//! `testdata/cli/<case>.stdout` and `<case>.stderr` (a missing file is an
//! empty stream). `UPDATE_EXPECT=1` rewrites the golden files instead.
//! Whatever a case says, its output must not carry a raw control
//! character (colour codes only where the case allows them, and only
//! around text), JSON Lines alerts and JSON summaries must parse with
//! exactly their documented keys. See `testdata/cli/README.md`.
//!
//! The terminal tests run the binary on a pseudo-terminal through
//! util-linux `script`: colour and the progress bar on a terminal, neither
//! when piped.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;
use tattletail_compiler::escape::is_unsafe;

/// A run still going after this is killed (the case fails).
const WATCHDOG: Duration = Duration::from_secs(60);

/// The keys of a `--format jsonl` alert, exactly (README, "Using it").
const ALERT_KEYS: &[&str] = &[
    "rule",
    "severity",
    "mode",
    "tags",
    "runbook",
    "account_name",
    "eventTime",
    "eventSource",
    "eventName",
    "eventID",
    "actor",
    "sourceIPAddress",
    "account",
    "region",
    "annotation",
    "destinations",
    "file",
    "index",
    "event",
];

/// Keys an alert has only when set: a Sigma rule's `references` and `id`,
/// a rule's `description`.
const OPTIONAL_ALERT_KEYS: &[&str] = &["references", "sigma_id", "description"];

/// The keys of a correlation alert in `--format jsonl` (besides the
/// optional ones), exactly.
const CORRELATION_KEYS: &[&str] = &[
    "rule",
    "severity",
    "mode",
    "tags",
    "correlation",
    "account_name",
    "eventTime",
    "eventSource",
    "eventName",
    "eventID",
    "actor",
    "sourceIPAddress",
    "account",
    "region",
    "destinations",
    "file",
    "index",
];

/// The keys of the `--summary json` object, exactly.
const SUMMARY_KEYS: &[&str] = &[
    "files",
    "records",
    "bytes_read",
    "bytes_json",
    "seconds",
    "alerts",
    "alerts_by_rule",
    "rule_errors",
    "suppressed",
    "exception_errors",
    "quarantined",
    "bad_records",
    "skipped_bytes",
    "bad_record_examples",
    "repaired",
    "skipped_inputs",
    "unreadable_inputs",
    "delivered",
    "undelivered",
    "noise_control",
];

/// Summary keys present only when the config has correlations.
const OPTIONAL_SUMMARY_KEYS: &[&str] = &["correlations"];

/// The colours of alert lines (`print.rs`): time, rule, actor, event
/// name, source IP, place; a correlation's detail.
const SGR_CODES: &[&str] = &["2", "1;31", "36", "1", "33", "35"];

/// One `testdata/cli/<case>.toml`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// What the case shows (for the reader; not checked).
    #[allow(dead_code)]
    about: String,
    /// `tattletail` or `tattletail-compile`.
    #[serde(default = "tattletail")]
    bin: String,
    args: Vec<String>,
    /// Text on stdin (without it stdin is empty: /dev/null).
    stdin: Option<String>,
    /// A file on stdin, relative to the workspace root.
    stdin_file: Option<String>,
    /// Environment variables; the binary gets only these.
    #[serde(default)]
    env: BTreeMap<String, String>,
    exit: i32,
    /// Compare stdout with `<case>.stdout` (otherwise only
    /// `stdout_contains` is checked).
    #[serde(default = "yes")]
    stdout_golden: bool,
    /// Strings stdout must contain.
    #[serde(default)]
    stdout_contains: Vec<String>,
    /// Colour codes are allowed on stdout (and must be there).
    #[serde(default)]
    ansi: bool,
    /// Stdout, without its colour codes, must be the stdout of that case.
    same_stdout_as: Option<String>,
    /// Read this many lines of stdout, then close it (`| head -N`).
    head: Option<usize>,
    /// The golden output is the default build's, with the `aws` feature
    /// (`features: aws`, `--send`); without it only the exit status is
    /// checked, and the run says so.
    #[serde(default)]
    aws_build: bool,
}

fn tattletail() -> String {
    "tattletail".into()
}

fn yes() -> bool {
    true
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn cases_dir() -> PathBuf {
    root().join("testdata/cli")
}

fn binary(name: &str) -> &'static str {
    match name {
        "tattletail" => env!("CARGO_BIN_EXE_tattletail"),
        "tattletail-compile" => env!("CARGO_BIN_EXE_tattletail-compile"),
        other => panic!("bin = {other:?}: tattletail or tattletail-compile"),
    }
}

/// What a run gave.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Run a case's binary as a user would, from the workspace root.
fn run(case: &Case) -> Ran {
    let mut cmd = Command::new(binary(&case.bin));
    cmd.args(&case.args)
        .current_dir(root())
        .env_clear()
        .envs(&case.env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let input = match (&case.stdin, &case.stdin_file) {
        (Some(_), Some(_)) => panic!("stdin and stdin_file both given"),
        (Some(s), None) => Some(s.clone().into_bytes()),
        (None, Some(f)) => Some(std::fs::read(root().join(f)).unwrap()),
        (None, None) => None,
    };
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd.spawn().unwrap();
    let feeder = input.map(|bytes| {
        let mut stdin = child.stdin.take().unwrap();
        // A scan that stops reading early closes the pipe: not an error.
        std::thread::spawn(move || drop(stdin.write_all(&bytes)))
    });
    let mut stdout = child.stdout.take().unwrap();
    let head = case.head;
    let out_reader = std::thread::spawn(move || -> Vec<u8> {
        let mut got = Vec::new();
        match head {
            Some(n) => {
                let mut lines = BufReader::new(stdout);
                for _ in 0..n {
                    if lines.read_until(b'\n', &mut got).unwrap_or(0) == 0 {
                        break;
                    }
                }
                // Dropping the reader closes the pipe.
            }
            None => {
                stdout.read_to_end(&mut got).unwrap();
            }
        }
        got
    });
    let mut stderr = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        stderr.read_to_end(&mut got).unwrap();
        got
    });
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if started.elapsed() > WATCHDOG {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    if let Some(f) = feeder {
        f.join().unwrap();
    }
    let stdout = lossy(&out_reader.join().unwrap());
    let mut stderr = lossy(&err_reader.join().unwrap());
    if status.is_none() {
        stderr.push_str(&format!("\n[killed by the test after {WATCHDOG:?}]\n"));
    }
    Ran {
        code: status.and_then(|s| s.code()),
        stdout,
        stderr,
    }
}

/// `text` with what legitimately varies between runs replaced: the
/// summary's time and rates, the JSON summary's `seconds`, and the git
/// commit in version strings.
fn normalise(text: &str) -> String {
    let lines: Vec<String> = text
        .split_inclusive('\n')
        .map(|l| {
            let l = summary_rates(l);
            let l = json_seconds(&l);
            git_hash(&l)
        })
        .collect();
    lines.concat()
}

/// A number as the summary writes it (`12`, `0.01`).
fn is_number(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_digit() || c == '.')
        && s.chars().next().is_some_and(|c| c.is_ascii_digit())
}

/// `scanned … in 0.01 s: 53 MB/s, 1234 records/s` →
/// `scanned … in <seconds> s: <rate> MB/s, <rate> records/s`.
fn summary_rates(line: &str) -> String {
    let (body, newline) = match line.strip_suffix('\n') {
        Some(b) => (b, "\n"),
        None => (line, ""),
    };
    if !body.starts_with("scanned ") {
        return line.to_string();
    }
    let Some(at) = body.rfind(" in ") else {
        return line.to_string();
    };
    let tail = &body[at + 4..];
    let parts: Vec<&str> = tail.split(' ').collect();
    let shape = parts.len() == 6
        && is_number(parts[0])
        && parts[1] == "s:"
        && is_number(parts[2])
        && parts[3] == "MB/s,"
        && is_number(parts[4])
        && parts[5] == "records/s";
    if !shape {
        return line.to_string();
    }
    format!(
        "{} in <seconds> s: <rate> MB/s, <rate> records/s{newline}",
        &body[..at]
    )
}

/// `"seconds":0.225` → `"seconds":"<seconds>"` (in a JSON summary line).
fn json_seconds(line: &str) -> String {
    const KEY: &str = "\"seconds\":";
    if !line.starts_with('{') {
        return line.to_string();
    }
    let Some(at) = line.find(KEY) else {
        return line.to_string();
    };
    let start = at + KEY.len();
    let len = line[start..]
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+')))
        .unwrap_or(line.len() - start);
    if len == 0 {
        return line.to_string();
    }
    format!("{}\"<seconds>\"{}", &line[..start], &line[start + len..])
}

/// `(git 1a2b3c4d5-modified,` → `(git <hash>,`.
fn git_hash(line: &str) -> String {
    const AT: &str = "(git ";
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find(AT) {
        let start = at + AT.len();
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        if let Some(end) = rest.find(',') {
            let hash = &rest[..end];
            let hex = hash.strip_suffix("-modified").unwrap_or(hash);
            if hash == "unknown" || (hex.len() >= 7 && hex.chars().all(|c| c.is_ascii_hexdigit())) {
                out.push_str("<hash>");
                rest = &rest[end..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `text` without its colour codes. Every code must be one of the alert
/// line's colours, around non-empty text without an escape, and closed by
/// a reset (`\x1b[…m TEXT \x1b[0m`); anything else is an error.
fn strip_sgr(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('\x1b') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(m) = rest.find('m') else {
            return Err(format!("an escape that is no colour code: {rest:.40?}"));
        };
        let code = rest[2..m].to_string();
        if !rest.starts_with("\x1b[") || !SGR_CODES.contains(&code.as_str()) {
            return Err(format!(
                "an escape that is no alert colour: {:?}",
                &rest[..m + 1]
            ));
        }
        rest = &rest[m + 1..];
        let Some(end) = rest.find("\x1b[0m") else {
            return Err(format!("colour \\x1b[{code}m never reset"));
        };
        let inside = &rest[..end];
        if inside.is_empty() || inside.contains(['\x1b', '\n']) {
            return Err(format!("colour \\x1b[{code}m around {inside:?}"));
        }
        out.push_str(inside);
        rest = &rest[end + 4..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Raw control characters (other than the newline) in `text`.
fn unsafe_chars(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| c != '\n' && is_unsafe(c))
        .collect()
}

/// Where `actual` first differs from `expected`, readably (lines with
/// their line ends, so a missing final newline or a stray `\r` shows).
fn diff(expected: &str, actual: &str) -> String {
    let e: Vec<&str> = expected.split_inclusive('\n').collect();
    let a: Vec<&str> = actual.split_inclusive('\n').collect();
    let at = e
        .iter()
        .zip(&a)
        .position(|(x, y)| x != y)
        .unwrap_or(e.len().min(a.len()));
    let line = |v: &[&str], i: usize| match v.get(i) {
        Some(l) => format!("{l:?}"),
        None => "(end of output)".to_string(),
    };
    format!(
        "first difference at line {} ({} lines expected, {} got):\n  expected: {}\n  actual:   {}",
        at + 1,
        e.len(),
        a.len(),
        line(&e, at),
        line(&a, at),
    )
}

/// Check a `--format jsonl` stdout: every line an object with exactly the
/// documented keys.
fn check_jsonl(stdout: &str, problems: &mut Vec<String>) {
    for (i, line) in stdout.lines().enumerate() {
        match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(map)) => {
                let keys: Vec<&str> = map.keys().map(String::as_str).collect();
                let mut want = if map.contains_key("correlation") {
                    CORRELATION_KEYS.to_vec()
                } else {
                    ALERT_KEYS.to_vec()
                };
                want.sort_unstable();
                let mut got: Vec<&str> = keys
                    .iter()
                    .copied()
                    .filter(|k| !OPTIONAL_ALERT_KEYS.contains(k))
                    .collect();
                got.sort_unstable();
                if got != want {
                    problems.push(format!("alert line {} has keys {keys:?}", i + 1));
                }
            }
            _ => problems.push(format!("alert line {} is not a JSON object", i + 1)),
        }
    }
}

/// Check the `--summary json` line on stderr: one line, one object with
/// exactly the documented keys, its counts consistent.
fn check_summary_json(stderr: &str, problems: &mut Vec<String>) {
    let objects: Vec<&str> = stderr.lines().filter(|l| l.starts_with('{')).collect();
    let [line] = objects[..] else {
        problems.push(format!(
            "{} JSON summary lines on stderr, expected 1",
            objects.len()
        ));
        return;
    };
    if !stderr.ends_with(&format!("{line}\n")) {
        problems.push("the JSON summary is not the last line of stderr".into());
    }
    let v: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => {
            problems.push(format!("the JSON summary does not parse: {e}"));
            return;
        }
    };
    let Some(map) = v.as_object() else {
        problems.push("the JSON summary is not an object".into());
        return;
    };
    let mut got: Vec<&str> = map
        .keys()
        .map(String::as_str)
        .filter(|k| !OPTIONAL_SUMMARY_KEYS.contains(k))
        .collect();
    got.sort_unstable();
    let mut want = SUMMARY_KEYS.to_vec();
    want.sort_unstable();
    if got != want {
        problems.push(format!("JSON summary keys {got:?}, expected {want:?}"));
    }
    if !v["seconds"].as_f64().is_some_and(|s| s >= 0.0) {
        problems.push(format!("JSON summary seconds = {}", v["seconds"]));
    }
    let by_rule: u64 = v["alerts_by_rule"]
        .as_array()
        .map_or(0, |a| a.iter().filter_map(|r| r["count"].as_u64()).sum());
    if v["alerts"].as_u64() != Some(by_rule) {
        problems.push(format!(
            "JSON summary alerts = {}, alerts_by_rule add up to {by_rule}",
            v["alerts"]
        ));
    }
    for key in [
        "files",
        "records",
        "bytes_read",
        "bytes_json",
        "bad_records",
    ] {
        if v[key].as_u64().is_none() {
            problems.push(format!("JSON summary {key} = {}", v[key]));
        }
    }
}

fn bless() -> bool {
    std::env::var_os("UPDATE_EXPECT").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Compare (or with `UPDATE_EXPECT`, write) one golden file.
fn golden(path: &Path, actual: &str, problems: &mut Vec<String>) {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    if bless() {
        if actual.is_empty() {
            let _ = std::fs::remove_file(path);
        } else {
            std::fs::write(path, actual).unwrap();
        }
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    if expected != actual {
        problems.push(format!("{name} differs: {}", diff(&expected, actual)));
    }
}

/// Everything wrong with one case's run.
fn check(name: &str, case: &Case, ran: &Ran, all: &BTreeMap<String, Ran>) -> Vec<String> {
    let mut problems = Vec::new();
    if ran.code != Some(case.exit) {
        problems.push(format!(
            "exit status {:?}, expected {}",
            ran.code, case.exit
        ));
    }
    if case.aws_build && !cfg!(feature = "aws") {
        eprintln!("{name}: built without the aws feature, golden output not compared");
        return problems;
    }
    let dir = cases_dir();
    let (stdout, stderr) = (normalise(&ran.stdout), normalise(&ran.stderr));
    if case.stdout_golden {
        golden(&dir.join(format!("{name}.stdout")), &stdout, &mut problems);
    } else if dir.join(format!("{name}.stdout")).exists() {
        problems.push(format!("{name}.stdout exists but stdout_golden = false"));
    }
    golden(&dir.join(format!("{name}.stderr")), &stderr, &mut problems);
    for s in &case.stdout_contains {
        if !ran.stdout.contains(s.as_str()) {
            problems.push(format!("stdout lacks {s:?}"));
        }
    }
    // Colour codes: only where the case allows them, only the alert
    // line's, only around text; then no raw control character anywhere.
    let plain = match strip_sgr(&ran.stdout) {
        Ok(p) => p,
        Err(e) => {
            problems.push(format!("stdout: {e}"));
            ran.stdout.clone()
        }
    };
    if case.ansi != (plain != ran.stdout) {
        problems.push(if case.ansi {
            "stdout has no colour code (ansi = true)".into()
        } else {
            "stdout has colour codes".into()
        });
    }
    for (stream, text) in [("stdout", &plain), ("stderr", &ran.stderr)] {
        let bad = unsafe_chars(text);
        if !bad.is_empty() {
            problems.push(format!("raw control characters on {stream}: {bad:?}"));
        }
    }
    if case.args.iter().any(|a| a == "jsonl") && case.bin == "tattletail" {
        check_jsonl(&ran.stdout, &mut problems);
    }
    let summary_json = case
        .args
        .windows(2)
        .any(|w| w[0] == "--summary" && w[1] == "json");
    if summary_json && case.head.is_none() {
        check_summary_json(&ran.stderr, &mut problems);
    }
    if let Some(other) = &case.same_stdout_as {
        match all.get(other) {
            None => problems.push(format!("same_stdout_as: no case {other:?}")),
            Some(o) => {
                let theirs = strip_sgr(&o.stdout).unwrap_or_else(|_| o.stdout.clone());
                if plain != theirs {
                    problems.push(format!(
                        "stdout is not {other}'s: {}",
                        diff(&theirs, &plain)
                    ));
                }
            }
        }
    }
    problems
}

fn load_cases() -> Vec<(String, Case)> {
    let mut cases: Vec<(String, Case)> = std::fs::read_dir(cases_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&p).unwrap();
            let case: Case = toml::from_str(&text).unwrap_or_else(|e| panic!("{name}.toml: {e}"));
            (name, case)
        })
        .collect();
    cases.sort_by(|a, b| a.0.cmp(&b.0));
    cases
}

#[test]
fn golden_cases() {
    let cases = load_cases();
    assert!(cases.len() >= 40, "only {} cases found", cases.len());
    let names: Vec<&str> = cases.iter().map(|(n, _)| n.as_str()).collect();

    // A golden file without its case is a leftover.
    let mut problems: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(cases_dir()).unwrap() {
        let path = entry.unwrap().path();
        let ext = path.extension().map(|e| e.to_string_lossy().into_owned());
        if matches!(ext.as_deref(), Some("stdout" | "stderr")) {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            if !names.contains(&stem.as_str()) {
                problems.push(format!("{}: no case {stem}.toml", path.display()));
            }
        }
    }

    // Run every case, a few at a time.
    let next = AtomicUsize::new(0);
    let ran: Mutex<BTreeMap<String, Ran>> = Mutex::new(BTreeMap::new());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((name, case)) = cases.get(i) else {
                    break;
                };
                let r = run(case);
                ran.lock().unwrap().insert(name.clone(), r);
            });
        }
    });
    let ran = ran.into_inner().unwrap();

    for (name, case) in &cases {
        let r = &ran[name];
        let found = check(name, case, r, &ran);
        if !found.is_empty() {
            let mut report = format!("case {name} ({} {}):\n", case.bin, case.args.join(" "));
            for p in found {
                report.push_str(&format!("  - {}\n", p.replace('\n', "\n    ")));
            }
            if !r.stderr.is_empty() {
                report.push_str(&format!(
                    "  stderr was:\n    {}\n",
                    r.stderr.trim_end().replace('\n', "\n    ")
                ));
            }
            problems.push(report);
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} cases failed (UPDATE_EXPECT=1 rewrites the golden files; \
         see testdata/cli/README.md):\n\n{}",
        problems.len(),
        cases.len(),
        problems.join("\n")
    );
}

#[test]
fn the_harness_normalises_strips_and_diffs() {
    assert_eq!(
        normalise(
            "scanned 17 files, 92 records, 0.1 MB of JSON (0.1 MB read) in 0.13 s: 1 MB/s, 709 records/s\nalerts: 9 in 0.1 s\n"
        ),
        "scanned 17 files, 92 records, 0.1 MB of JSON (0.1 MB read) in <seconds> s: <rate> MB/s, <rate> records/s\nalerts: 9 in 0.1 s\n"
    );
    assert_eq!(
        normalise("{\"files\":1,\"seconds\":0.225,\"alerts\":2}\n"),
        "{\"files\":1,\"seconds\":\"<seconds>\",\"alerts\":2}\n"
    );
    assert_eq!(
        normalise("tattletail 0.1.0 (git b53e97c24-modified, features: aws)\n(git is, here)"),
        "tattletail 0.1.0 (git <hash>, features: aws)\n(git is, here)"
    );
    assert_eq!(normalise("x (git unknown, y)"), "x (git <hash>, y)");
    assert_eq!(
        strip_sgr("\x1b[2mt\x1b[0m  \x1b[1;31mrule\x1b[0m\n").unwrap(),
        "t  rule\n"
    );
    assert!(strip_sgr("\x1b[2J").is_err());
    assert!(strip_sgr("\x1b[36m\x1b[0m").is_err());
    assert!(strip_sgr("\x1b[36mno reset").is_err());
    assert!(diff("a\nb\n", "a\nb")
        .contains("line 2 (2 lines expected, 2 got):\n  expected: \"b\\n\"\n  actual:   \"b\""));
    assert!(diff("a\n", "a\nextra\n").contains("expected: (end of output)"));
}

// ---------------------------------------------------------------------
// A real terminal.

/// `script` from util-linux, which runs a command on a pseudo-terminal.
fn script() -> &'static str {
    let ok = Command::new("script")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "the terminal tests need `script` from util-linux to run tattletail on a \
         pseudo-terminal: install util-linux (Debian and Ubuntu: `apt-get install bsdutils`)"
    );
    "script"
}

/// `s` quoted for `sh`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `tattletail ARGS` (then `redirect`, e.g. `> FILE`) on a terminal:
/// stdout and stderr are the pseudo-terminal; what the terminal got.
fn on_terminal(args: &[&str], redirect: &str, env: &[(&str, &str)]) -> String {
    let mut line = sh_quote(env!("CARGO_BIN_EXE_tattletail"));
    for a in args {
        line.push(' ');
        line.push_str(&sh_quote(a));
    }
    line.push(' ');
    line.push_str(redirect);
    let out = Command::new(script())
        .args(["-qefc", &line, "/dev/null"])
        .current_dir(root())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TERM", "xterm-256color")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "script -qefc {line}: {text}{}",
        lossy(&out.stderr)
    );
    text
}

/// The sample with one StopLogging (two alerts with the built-in pack).
const STOP: &str = "corpus/samples/stratus-aws.defense-evasion.cloudtrail-stop.json.gz";

/// The progress bar's text (`progress.rs`): `3/17 files  92 records  709 records/s`.
/// The first 2,000 characters, for a failure message.
fn head(text: &str) -> String {
    text.chars().take(2000).collect()
}

fn has_bar(text: &str) -> bool {
    text.contains(" files ") && text.contains(" records/s") && text.contains("ETA")
}

#[test]
fn on_a_terminal_alerts_are_coloured_unless_no_color() {
    let shown = on_terminal(
        &["scan", "--progress", "never", "--summary", "none", STOP],
        "",
        &[],
    );
    assert!(
        shown.contains("\x1b[1;31mCloudTrail logging stopped\x1b[0m")
            && shown.contains("\x1b[36marn:aws:iam::143434273843:user/christophe\x1b[0m"),
        "no colour on a terminal:\n{shown:?}"
    );
    for (args, env) in [
        (&["--color", "auto"][..], &[("NO_COLOR", "1")][..]),
        (&["--color", "never"][..], &[][..]),
    ] {
        let mut all = vec!["scan", "--progress", "never", "--summary", "none"];
        all.extend_from_slice(args);
        all.push(STOP);
        let shown = on_terminal(&all, "", env);
        assert!(shown.contains("CloudTrail logging stopped"), "{shown:?}");
        assert!(
            !shown.contains('\x1b'),
            "colour with {args:?} {env:?}:\n{shown:?}"
        );
    }
}

#[test]
fn on_a_terminal_a_progress_bar_is_drawn_on_stderr() {
    // corpus/real takes more than a second in a debug build. Stdout goes
    // to a file, so what the terminal shows came from stderr.
    let dir = std::env::temp_dir().join(format!("tattletail-golden-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("stdout");
    let shown = on_terminal(
        &["scan", "--summary", "none", "corpus/real"],
        &format!("> {}", sh_quote(file.to_str().unwrap())),
        &[],
    );
    let stdout = std::fs::read_to_string(&file).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        has_bar(&shown),
        "no progress bar on the terminal:\n{:?}",
        head(&shown)
    );
    // The ticker redraws it a few times a second (a terminal turns every
    // newline into \r\n, so a \r alone proves nothing).
    assert!(
        shown.matches(" records/s").count() >= 2,
        "the bar is never redrawn:\n{:?}",
        head(&shown)
    );
    assert!(!stdout.is_empty(), "no alerts");
    assert!(
        !stdout.contains('\x1b') && !stdout.contains('\r') && !has_bar(&stdout),
        "stdout, a file, has colour or the bar:\n{stdout:.2000?}"
    );
    // No bar with --progress never or --quiet, even on a terminal.
    for flag in [&["--progress", "never"][..], &["--quiet"][..]] {
        let mut args = vec!["scan", "--summary", "none"];
        args.extend_from_slice(flag);
        args.push("corpus/samples");
        let shown = on_terminal(&args, "> /dev/null", &[]);
        assert!(
            !has_bar(&shown) && !shown.contains('\x1b'),
            "{flag:?}: {:?}",
            head(&shown)
        );
    }
}

#[test]
fn piped_there_is_no_progress_bar_and_no_colour() {
    let out = Command::new(env!("CARGO_BIN_EXE_tattletail"))
        .args(["scan", "--summary", "none", "corpus/real"])
        .current_dir(root())
        .env_clear()
        .env("TERM", "xterm-256color")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (stdout, stderr) = (lossy(&out.stdout), lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stdout.is_empty());
    for (name, text) in [("stdout", &stdout), ("stderr", &stderr)] {
        assert!(
            !text.contains('\r') && !text.contains('\x1b') && !has_bar(text),
            "{name} has the bar or colour when piped:\n{text:.2000?}"
        );
    }
}

#[test]
fn progress_always_draws_the_bar_even_when_stderr_is_piped() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tattletail"))
        .args([
            "scan",
            "--progress",
            "always",
            "--summary",
            "none",
            "corpus/real",
        ])
        .current_dir(root())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(has_bar(&stderr), "{:?}", head(&stderr));
}
