//! The hostile-inputs suite: file trees and output that try to cost an
//! alert. Every case of `testdata/hostile/inputs/` builds a tree of files,
//! directories, symbolic links, FIFOs and sockets, runs the real
//! `tattletail scan` on it (with a watchdog, the stdout pipe closed early
//! when the case says so) and checks the exit status, stderr, stdout and
//! the alerts. Every case, whatever it says, also checks that no raw
//! control character reaches stdout or stderr. See
//! `testdata/hostile/README.md`, "Hostile inputs".

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{symlink, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tattletail_compiler::escape::is_unsafe;

/// A scan still running after this is killed: the case "hung".
const WATCHDOG: Duration = Duration::from_secs(30);

/// The config of a case that gives none: every record alerts.
const DEFAULT_CONFIG: &str = "[[rule]]\nname = \"alert\"\njq_match = 'true'\n";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    about: String,
    /// After `tattletail scan --config tattletail.toml --format FORMAT`.
    args: Vec<String>,
    #[serde(default = "jsonl")]
    format: String,
    config: Option<String>,
    /// Run without the capabilities that let root read anything.
    #[serde(default)]
    unprivileged: bool,
    /// Read this many lines of stdout, then close it.
    head: Option<usize>,
    exit: i32,
    #[serde(default)]
    stderr: Vec<String>,
    #[serde(default)]
    stderr_absent: Vec<String>,
    #[serde(default)]
    stdout: Vec<String>,
    #[serde(default)]
    stdout_absent: Vec<String>,
    /// The eventIDs of the alerts, exactly (order free).
    alerts: Option<Vec<String>>,
    stdout_lines: Option<usize>,
    #[serde(default)]
    file: Vec<Entry>,
    /// What a build without the `aws` feature must do instead (for cases
    /// that need `--send`): checked then, so no case is ever skipped.
    without_aws: Option<WithoutAws>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WithoutAws {
    exit: i32,
    stderr: Vec<String>,
}

fn jsonl() -> String {
    "jsonl".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    path: String,
    /// A CloudTrail log file of these records (JSON texts, spliced as
    /// they are); for a FIFO, what the harness writes into it.
    records: Option<Vec<String>>,
    repeat: Option<usize>,
    /// Raw content.
    text: Option<String>,
    symlink: Option<String>,
    #[serde(default)]
    dir: bool,
    #[serde(default)]
    fifo: bool,
    #[serde(default)]
    socket: bool,
    /// Permission bits, applied after everything is built.
    mode: Option<u32>,
}

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("testdata/hostile/inputs")
}

fn log_of(records: &[String], repeat: usize) -> Vec<u8> {
    let all: Vec<&str> = (0..repeat)
        .flat_map(|_| records.iter().map(String::as_str))
        .collect();
    format!("{{\"Records\":[{}]}}\n", all.join(",")).into_bytes()
}

/// The effective user id, from /proc.
fn euid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(2).unwrap().parse().unwrap()
}

/// Write `data` into the FIFO `path` once a reader opens it (polling, so
/// that a scan that never opens it does not hang the test).
fn feed(path: PathBuf, data: Vec<u8>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<bool> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&path)
            {
                Ok(mut f) => return f.write_all(&data).is_ok(),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        false
    })
}

struct Built {
    feeders: Vec<std::thread::JoinHandle<bool>>,
    stop: Arc<AtomicBool>,
    _sockets: Vec<std::os::unix::net::UnixListener>,
    modes: Vec<PathBuf>,
}

fn build(case: &Case, dir: &Path) -> Built {
    let stop = Arc::new(AtomicBool::new(false));
    let mut built = Built {
        feeders: Vec::new(),
        stop: stop.clone(),
        _sockets: Vec::new(),
        modes: Vec::new(),
    };
    std::fs::write(
        dir.join("tattletail.toml"),
        case.config.as_deref().unwrap_or(DEFAULT_CONFIG),
    )
    .unwrap();
    for e in &case.file {
        let path = dir.join(&e.path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let content = match (&e.records, &e.text) {
            (Some(r), None) => Some(log_of(r, e.repeat.unwrap_or(1))),
            (None, Some(t)) => Some(t.clone().into_bytes()),
            (None, None) => None,
            _ => panic!("{}: records or text, not both", e.path),
        };
        if let Some(target) = &e.symlink {
            symlink(target, &path).unwrap();
        } else if e.dir {
            std::fs::create_dir_all(&path).unwrap();
        } else if e.fifo {
            let ok = Command::new("mkfifo").arg(&path).status().unwrap();
            assert!(ok.success(), "mkfifo {}", path.display());
            if let Some(data) = content {
                built.feeders.push(feed(path.clone(), data, stop.clone()));
            }
        } else if e.socket {
            built
                ._sockets
                .push(std::os::unix::net::UnixListener::bind(&path).unwrap());
        } else {
            std::fs::write(&path, content.unwrap_or_default()).unwrap();
        }
        if e.mode.is_some() {
            built.modes.push(path);
        }
    }
    // Modes last (a directory made unreadable after its files are in).
    for e in case.file.iter().rev() {
        if let Some(mode) = e.mode {
            std::fs::set_permissions(dir.join(&e.path), std::fs::Permissions::from_mode(mode))
                .unwrap();
        }
    }
    built
}

struct Ran {
    code: Option<i32>,
    hung: bool,
    stdout: String,
    stderr: String,
    secs: f64,
}

fn run(case: &Case, dir: &Path) -> Result<Ran, String> {
    let bin = env!("CARGO_BIN_EXE_tattletail");
    let mut args: Vec<String> = vec![
        "scan".into(),
        "--config".into(),
        "tattletail.toml".into(),
        "--format".into(),
        case.format.clone(),
    ];
    args.extend(case.args.iter().cloned());
    let mut cmd = if case.unprivileged && euid() == 0 {
        // Root reads a mode-000 directory anyway: drop the capabilities
        // that allow it (the case fails, never skips, without setpriv).
        let mut c = Command::new("setpriv");
        c.arg("--bounding-set=-dac_override,-dac_read_search")
            .arg(bin);
        c
    } else {
        Command::new(bin)
    };
    let started = Instant::now();
    let mut child = cmd
        .args(&args)
        .current_dir(dir)
        // For --send (the default config has no destinations): a region,
        // and no instance metadata lookups.
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!(
                "cannot run {bin} (unprivileged: {}): {e}",
                case.unprivileged
            )
        })?;
    let out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let head = case.head;
    let out_reader = std::thread::spawn(move || {
        let mut r = BufReader::new(out);
        let mut text = String::new();
        match head {
            Some(n) => {
                for _ in 0..n {
                    let mut line = Vec::new();
                    let _ = r.read_until(b'\n', &mut line);
                    text.push_str(&String::from_utf8_lossy(&line));
                }
                // Dropping `r` closes the pipe, as `head` does.
            }
            None => {
                let mut b = Vec::new();
                let _ = r.read_to_end(&mut b);
                text = String::from_utf8_lossy(&b).into_owned();
            }
        }
        text
    });
    let err_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        String::from_utf8_lossy(&b).into_owned()
    });
    let mut hung = false;
    let status = loop {
        match child.try_wait().unwrap() {
            Some(s) => break Some(s),
            None if started.elapsed() > WATCHDOG => {
                hung = true;
                let _ = child.kill();
                break child.wait().ok();
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    Ok(Ran {
        code: status.and_then(|s| s.code()),
        hung,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
        secs: started.elapsed().as_secs_f64(),
    })
}

fn check(case: &Case, ran: &Ran) -> Vec<String> {
    let mut problems = Vec::new();
    if let (false, Some(w)) = (cfg!(feature = "aws"), &case.without_aws) {
        if ran.code != Some(w.exit) {
            problems.push(format!(
                "exit {:?}, expected {} (built without aws)",
                ran.code, w.exit
            ));
        }
        for s in &w.stderr {
            if !ran.stderr.contains(s.as_str()) {
                problems.push(format!("stderr lacks {s:?} (built without aws)"));
            }
        }
        return problems;
    }
    if ran.hung {
        problems.push(format!("hung (killed after {} s)", WATCHDOG.as_secs()));
    }
    if ran.code != Some(case.exit) {
        problems.push(format!("exit {:?}, expected {}", ran.code, case.exit));
    }
    for (name, text) in [("stdout", &ran.stdout), ("stderr", &ran.stderr)] {
        if let Some(c) = text.chars().find(|&c| c != '\n' && is_unsafe(c)) {
            problems.push(format!("a raw U+{:04X} on {name}", c as u32));
        }
    }
    if ran.stderr.contains("panicked") {
        problems.push("a panic".into());
    }
    for s in &case.stderr {
        if !ran.stderr.contains(s.as_str()) {
            problems.push(format!("stderr lacks {s:?}"));
        }
    }
    for s in &case.stderr_absent {
        if ran.stderr.contains(s.as_str()) {
            problems.push(format!("stderr has {s:?}"));
        }
    }
    for s in &case.stdout {
        if !ran.stdout.contains(s.as_str()) {
            problems.push(format!("stdout lacks {s:?}"));
        }
    }
    for s in &case.stdout_absent {
        if ran.stdout.contains(s.as_str()) {
            problems.push(format!("stdout has {s:?}"));
        }
    }
    let lines = ran.stdout.lines().count();
    if let Some(n) = case.stdout_lines {
        if lines != n {
            problems.push(format!("{lines} stdout lines, expected {n}"));
        }
    }
    if case.format == "jsonl" {
        let mut ids = Vec::new();
        for l in ran.stdout.lines() {
            match serde_json::from_str::<serde_json::Value>(l) {
                Ok(v) => ids.push(v["eventID"].as_str().unwrap_or("<none>").to_string()),
                Err(e) => problems.push(format!("a stdout line is not one JSON object ({e}): {l}")),
            }
        }
        if let Some(want) = &case.alerts {
            let (mut ids, mut want) = (ids, want.clone());
            ids.sort();
            want.sort();
            if ids != want {
                problems.push(format!("alerts for {ids:?}, expected {want:?}"));
            }
        }
    } else if case.alerts.is_some() {
        problems.push("`alerts` needs format = \"jsonl\"; use stdout_lines".into());
    }
    problems
}

#[test]
fn no_file_tree_and_no_output_trick_can_cost_an_alert() {
    let mut names: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    names.sort();
    assert!(
        names.len() >= 10,
        "cases missing in {}",
        cases_dir().display()
    );
    let root =
        std::env::temp_dir().join(format!("tattletail-hostile-inputs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let mut report = format!(
        "\nhostile-inputs suite (CLI, euid {}): testdata/hostile/inputs/*.toml\n",
        euid()
    );
    let mut failed = 0;
    for path in &names {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let case: Case = toml::from_str(&std::fs::read_to_string(path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!case.about.is_empty());
        let dir = root.join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        let built = build(&case, &dir);
        let (problems, secs) = match run(&case, &dir) {
            Ok(ran) => {
                let mut p = check(&case, &ran);
                if !p.is_empty() {
                    p.push(format!("stderr:\n{}", ran.stderr));
                    let shown: String = ran.stdout.lines().take(5).collect::<Vec<_>>().join("\n");
                    p.push(format!("stdout (first lines):\n{shown}"));
                }
                (p, ran.secs)
            }
            Err(e) => (vec![e], 0.0),
        };
        built.stop.store(true, Ordering::Relaxed);
        for f in built.feeders {
            let _ = f.join();
        }
        for p in &built.modes {
            let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755));
        }
        let verdict = if problems.is_empty() { "ok" } else { "FAIL" };
        let exit = match (&case.without_aws, cfg!(feature = "aws")) {
            (Some(w), false) => format!("{} (built without aws)", w.exit),
            _ => case.exit.to_string(),
        };
        report.push_str(&format!(
            "{name:40} exit {exit:>2}  {secs:6.2} s  {verdict}\n"
        ));
        if !problems.is_empty() {
            failed += 1;
            for p in &problems {
                report.push_str(&format!("  - {p}\n"));
            }
        }
    }
    report.push_str(&format!("{} cases, {failed} failed\n", names.len()));
    println!("{report}");
    if failed == 0 {
        let _ = std::fs::remove_dir_all(&root);
    }
    assert_eq!(failed, 0, "{report}");
}
