//! The hostile-rules suite through the CLI: every case of
//! `testdata/hostile/` is scanned by the real `tattletail` binary (and,
//! when it should be refused, checked by `tattletail-compile --check`),
//! between two canary rules and two canary records, with a watchdog. The
//! proof that no rule and no record can stop, crash or hang a scan. See
//! `testdata/hostile/README.md`.

mod hostile_cases;

use std::collections::VecDeque;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hostile_cases::{
    Case, Outcome, Row, CANARY_AFTER, CANARY_BEFORE, CANARY_IDS, CASE_LIMIT, HOSTILE,
};
use serde_json::Value;

/// A process still running after this is killed: the case "hung".
const WATCHDOG: Duration = Duration::from_secs(60);

/// Set in the scanner's environment; must never appear in its output.
const SECRET: &str = "tattletail-hostile-secret-must-not-leak";

/// What a process did.
struct Ran {
    status: Option<ExitStatus>,
    hung: bool,
    stdout: String,
    stderr: String,
    elapsed: Duration,
    peak_kb: Option<u64>,
}

impl Ran {
    fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    /// "exit 0", "killed by signal 11", "hung (killed after 60 s)".
    fn describe(&self) -> String {
        if self.hung {
            return format!("hung (killed after {} s)", WATCHDOG.as_secs());
        }
        match self.status {
            Some(s) => match s.code() {
                Some(c) => format!("exit {c}"),
                None => format!("killed by a signal ({s})"),
            },
            None => "unknown".into(),
        }
    }

    /// Crashed: killed by a signal, or an exit status tattletail never
    /// uses (101 is a Rust panic).
    fn crashed(&self) -> bool {
        !self.hung && !matches!(self.code(), Some(0..=2))
    }
}

/// Peak resident memory (VmHWM) of a running process, on Linux.
fn peak_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Run `bin args` in `dir` with the watchdog.
fn run(bin: &Path, args: &[&str], dir: &Path) -> Ran {
    let started = Instant::now();
    let mut child = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("TATTLETAIL_HOSTILE_SECRET", SECRET)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    let pid = child.id();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let err_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        b
    });
    let mut peak = None;
    let mut hung = false;
    let status = loop {
        if let Some(kb) = peak_kb(pid).filter(|&kb| kb > 2048) {
            peak = Some(peak.map_or(kb, |p: u64| p.max(kb)));
        }
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() > WATCHDOG => {
                hung = true;
                let _ = child.kill();
                break child.wait().ok();
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("waiting for {}: {e}", bin.display()),
        }
    };
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&out_reader.join().unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap()).into_owned();
    Ran {
        status,
        hung,
        stdout,
        stderr,
        elapsed,
        peak_kb: peak,
    }
}

/// `tattletail-compile`.
fn compile_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tattletail-compile"))
}

/// The summary's view of one rule.
#[derive(Debug, Default)]
struct RuleSummary {
    errors: u64,
    example: Option<String>,
    quarantined: Option<String>,
}

/// Read the hostile rule's errors, first example and quarantine line out
/// of the summary on stderr (runtime/src/summary.rs).
fn summary_of(stderr: &str, rule: &str) -> RuleSummary {
    let mut s = RuleSummary::default();
    let mut in_errors = false;
    let mut lines = stderr.lines().peekable();
    while let Some(line) = lines.next() {
        if !line.starts_with(' ') {
            in_errors = line.starts_with("rule errors: ");
        }
        if let Some(rest) = line.strip_prefix("quarantined: rule `") {
            if rest.starts_with(&format!("{rule}`")) {
                s.quarantined = Some(line.to_string());
            }
        }
        if !in_errors {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(n), Some(name)) = (parts.next(), parts.next()) else {
            continue;
        };
        if name == rule && parts.next().is_none() {
            if let Ok(n) = n.parse() {
                s.errors = n;
                if let Some(next) = lines.peek() {
                    if let Some(ex) = next.trim_start().strip_prefix("e.g. ") {
                        s.example = Some(ex.to_string());
                    }
                }
            }
        }
    }
    s
}

/// `unreadable records: N` from the summary.
fn unreadable_records(stderr: &str) -> u64 {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("unreadable records: "))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// A position in the generated config: `--> tattletail.toml:L:C`.
fn has_position(stderr: &str) -> bool {
    stderr.lines().any(|l| {
        l.trim_start()
            .strip_prefix("--> tattletail.toml:")
            .is_some_and(|pos| {
                let mut it = pos.split(':');
                matches!((it.next(), it.next(), it.next()),
                    (Some(a), Some(b), None) if a.parse::<u32>().is_ok() && b.parse::<u32>().is_ok())
            })
    })
}

fn check_rejected(case: &Case, dir: &Path, row: &mut Row) {
    let message = case.message.as_deref().unwrap_or_default();
    let compile = run(
        &compile_bin(),
        &["--check", "--config", "tattletail.toml"],
        dir,
    );
    let scan = scan_case(dir);
    row.secs = (compile.elapsed + scan.elapsed).as_secs_f64();
    row.peak_mb = scan.peak_kb.map(|k| k as f64 / 1024.0);
    row.observed = match (compile.code(), scan.code()) {
        _ if compile.hung || scan.hung => "hung".into(),
        _ if compile.crashed() || scan.crashed() => "crashed".into(),
        (Some(2), Some(2)) => "rejected".into(),
        _ => format!("compile {}, scan {}", compile.describe(), scan.describe()),
    };
    for (what, ran) in [
        ("tattletail-compile --check", &compile),
        ("tattletail scan", &scan),
    ] {
        if ran.code() != Some(2) {
            row.problems.push(format!(
                "{what}: {}, expected exit 2\n{}",
                ran.describe(),
                hostile_cases::tail(&ran.stderr, 15)
            ));
            continue;
        }
        let mut missing = Vec::new();
        if !ran.stderr.contains(message) {
            missing.push(format!("the message {message:?}"));
        }
        if !ran.stderr.contains(&format!("rule `{HOSTILE}`")) {
            missing.push(format!("the rule name `{HOSTILE}`"));
        }
        if !has_position(&ran.stderr) {
            missing.push("a `--> tattletail.toml:LINE:COL` position".into());
        }
        if !missing.is_empty() {
            row.problems.push(format!(
                "{what}: the diagnostic lacks {}\n{}",
                missing.join(", "),
                hostile_cases::tail(&ran.stderr, 15)
            ));
        }
    }
    if scan.code() == Some(2) {
        if !scan.stdout.is_empty() {
            row.problems
                .push(format!("tattletail scan printed alerts:\n{}", scan.stdout));
        }
        if !scan.stderr.contains("nothing was scanned") {
            row.problems
                .push("tattletail scan does not say that nothing was scanned".into());
        }
    }
}

/// `tattletail scan` of the case's log with its config, alerts as JSON lines.
fn scan_case(dir: &Path) -> Ran {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_tattletail"));
    run(
        &bin,
        &[
            "scan",
            "--format",
            "jsonl",
            "--config",
            "tattletail.toml",
            "log.json",
        ],
        dir,
    )
}

fn check_scanned(case: &Case, dir: &Path, row: &mut Row) {
    let ran = scan_case(dir);
    row.secs = ran.elapsed.as_secs_f64();
    row.peak_mb = ran.peak_kb.map(|k| k as f64 / 1024.0);
    if ran.hung || ran.crashed() {
        row.observed = if ran.hung { "hung" } else { "crashed" }.into();
        row.problems.push(format!(
            "the scan {}\n{}",
            ran.describe(),
            hostile_cases::tail(&ran.stderr, 12)
        ));
        return;
    }
    if ran.code() == Some(2) {
        row.observed = "rejected".into();
        row.problems.push(format!(
            "the config was refused\n{}",
            hostile_cases::tail(&ran.stderr, 12)
        ));
        return;
    }
    let alerts: Vec<Value> = ran
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    if alerts.len() != ran.stdout.lines().count() {
        row.problems
            .push("some stdout lines are not JSON alert objects".into());
    }
    let is_canary = |a: &Value| CANARY_IDS.iter().any(|id| a["eventID"] == *id);
    // Both canaries on both canary records, exactly once each.
    for rule in [CANARY_BEFORE, CANARY_AFTER] {
        for id in CANARY_IDS {
            let n = alerts
                .iter()
                .filter(|a| a["rule"] == rule && a["eventID"] == id)
                .count();
            if n != 1 {
                row.problems
                    .push(format!("{rule} alerted {n} times on {id}, expected once"));
            }
        }
    }
    let canary_alerts = alerts
        .iter()
        .filter(|a| a["rule"] == CANARY_BEFORE || a["rule"] == CANARY_AFTER)
        .count();
    if canary_alerts != 4 {
        row.problems
            .push(format!("{canary_alerts} canary alerts, expected 4"));
    }
    let hostile: Vec<&Value> = alerts
        .iter()
        .filter(|a| a["rule"] == HOSTILE && !is_canary(a))
        .collect();
    let hostile_anywhere = alerts.iter().filter(|a| a["rule"] == HOSTILE).count();
    let summary = summary_of(&ran.stderr, HOSTILE);
    let unreadable = unreadable_records(&ran.stderr);
    let budget = summary
        .example
        .as_deref()
        .is_some_and(|e| e.contains("budget exceeded"));
    let observed = if summary.quarantined.is_some() {
        Outcome::Quarantined
    } else if summary.errors > 0 && budget {
        Outcome::Budget
    } else if summary.errors > 0 {
        Outcome::Error
    } else if unreadable > 0 {
        Outcome::Unreadable
    } else if !hostile.is_empty() {
        Outcome::Alert
    } else {
        Outcome::NoAlert
    };
    row.observed = observed.name().into();
    if !case.expect.contains(&observed) {
        let detail = match (&summary.example, observed) {
            (Some(ex), _) => format!("; first error: {ex}"),
            (None, Outcome::Alert) => format!(
                "; first alert: {}",
                hostile[0].get("annotation").unwrap_or(&Value::Null)
            ),
            _ => String::new(),
        };
        row.problems.push(format!(
            "expected {}, observed {}{detail}",
            case.expected(),
            observed.name()
        ));
    }
    let want_code = if observed == Outcome::Unreadable {
        1
    } else {
        0
    };
    if ran.code() != Some(want_code) {
        row.problems.push(format!(
            "{}, expected exit {want_code}\n{}",
            ran.describe(),
            hostile_cases::tail(&ran.stderr, 12)
        ));
    }
    match observed {
        Outcome::Error | Outcome::Budget | Outcome::Quarantined => {
            let ex = summary.example.as_deref().unwrap_or_default();
            if let Some(m) = case.error_message() {
                if !ex.contains(m) && observed != Outcome::Quarantined {
                    row.problems
                        .push(format!("the error example does not contain {m:?}: {ex}"));
                }
            }
            if observed == Outcome::Error && ex.contains("budget exceeded") {
                row.problems
                    .push(format!("an error case ran out of budget: {ex}"));
            }
        }
        Outcome::NoAlert if hostile_anywhere > 0 => {
            row.problems.push(format!(
                "no_alert, yet the rule alerted {hostile_anywhere} times (canary records included)"
            ));
        }
        _ => {}
    }
    if observed == Outcome::Quarantined && !budget {
        row.problems.push(format!(
            "quarantined without a budget error example: {:?}",
            summary.example
        ));
    }
    if let Some(n) = case.alerts {
        if hostile.len() as u64 != n {
            row.problems.push(format!(
                "the rule alerted {} times on the hostile records, expected {n}",
                hostile.len()
            ));
        }
    }
    if let Some(want) = &case.annotation {
        match hostile.first() {
            Some(a) if a["annotation"] == *want => {}
            Some(a) => row
                .problems
                .push(format!("annotation {}, expected {want}", a["annotation"])),
            None => row
                .problems
                .push(format!("no alert to carry the annotation {want}")),
        }
    }
    if ran.stdout.contains(SECRET) || ran.stderr.contains(SECRET) {
        row.problems
            .push("the process environment leaked into the output".into());
    }
}

fn run_case(case: &Case, root: &Path) -> Row {
    let dir = root.join(&case.name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("tattletail.toml"),
        hostile_cases::config(case, None),
    )
    .unwrap();
    std::fs::write(dir.join("log.json"), hostile_cases::log_file(case)).unwrap();
    let mut row = Row {
        case: case.name.clone(),
        expected: case.expected(),
        observed: String::new(),
        secs: 0.0,
        peak_mb: None,
        problems: Vec::new(),
    };
    if case.expect == [Outcome::Rejected] {
        check_rejected(case, &dir, &mut row);
    } else {
        check_scanned(case, &dir, &mut row);
    }
    if row.secs > CASE_LIMIT.as_secs_f64() {
        row.problems.push(format!(
            "took {:.1} s, more than {} s",
            row.secs,
            CASE_LIMIT.as_secs()
        ));
    }
    if row.problems.is_empty() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        row.problems.push(format!(
            "reproduce: cd {} && tattletail scan --config tattletail.toml log.json",
            dir.display()
        ));
    }
    row
}

#[test]
fn no_rule_and_no_record_can_stop_crash_or_hang_a_scan() {
    let (cases, title) = hostile_cases::selected("hostile-rules suite (CLI)");
    let root = std::env::temp_dir().join(format!("tattletail-hostile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let _ = compile_bin();
    let queue: Mutex<VecDeque<usize>> = Mutex::new((0..cases.len()).collect());
    let rows: Mutex<Vec<(usize, Row)>> = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 4);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let Some(i) = queue.lock().unwrap().pop_front() else {
                    break;
                };
                let row = run_case(&cases[i], &root);
                rows.lock().unwrap().push((i, row));
            });
        }
    });
    let mut rows = rows.into_inner().unwrap();
    rows.sort_by_key(|(i, _)| *i);
    let rows: Vec<Row> = rows.into_iter().map(|(_, r)| r).collect();
    let report = hostile_cases::table(&title, &rows);
    println!("{report}");
    let failed = rows.iter().filter(|r| !r.problems.is_empty()).count();
    if failed == 0 {
        let _ = std::fs::remove_dir_all(&root);
    }
    assert_eq!(failed, 0, "{report}");
}

/// The generated inputs are what `generate.py` writes, every one of them
/// is used by a case, and each stays under 200 KB.
#[test]
fn generated_inputs_are_fresh_used_and_small() {
    let dir = hostile_cases::dir();
    let out = std::env::temp_dir().join(format!(
        "tattletail-hostile-generate-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&out);
    let python = std::env::var("TATTLETAIL_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let status = Command::new(&python)
        .arg(dir.join("generate.py"))
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    assert!(status.success(), "generate.py failed");
    let cases: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let mut problems = Vec::new();
    for sub in ["rules", "records"] {
        let mut committed: Vec<String> = std::fs::read_dir(dir.join(sub))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        committed.sort();
        let mut generated: Vec<String> = std::fs::read_dir(out.join(sub))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        generated.sort();
        if committed != generated {
            problems.push(format!(
                "{sub}/: committed {committed:?}, generate.py writes {generated:?}"
            ));
        }
        for name in &committed {
            let rel = format!("{sub}/{name}");
            let bytes = std::fs::read(dir.join(&rel)).unwrap();
            if out.join(&rel).exists() && std::fs::read(out.join(&rel)).unwrap() != bytes {
                problems.push(format!("{rel} differs from what generate.py writes"));
            }
            if bytes.len() >= 200 * 1024 {
                problems.push(format!("{rel} is {} bytes (limit 200 KB)", bytes.len()));
            }
            if !cases.iter().any(|c| c.contains(&format!("\"{rel}\""))) {
                problems.push(format!("{rel} is used by no case"));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&out);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
