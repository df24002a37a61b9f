//! Running rules through the engines the differential tests compare:
//! Tattletail's matcher (per rule: no alert, error, the record or the first
//! output as JSON text) and the `gojq` / `jq` CLIs through a wrapper
//! program that prints the same per record.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tattletail_runtime::matcher::{Matcher, Outcome};
use tattletail_runtime::record::RecordParser;

use super::json_text;

/// One rule's result on one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Res {
    /// No alert: no output, `null` or `false`.
    No,
    /// An error before the first output.
    Err,
    /// The first output is the record itself.
    Rec,
    /// The first output, as JSON text.
    Val(String),
}

impl Res {
    /// As an alert: errors are no alert.
    pub fn alert(&self) -> Res {
        match self {
            Res::Err => Res::No,
            r => r.clone(),
        }
    }

    pub fn is_alert(&self) -> bool {
        matches!(self, Res::Rec | Res::Val(_))
    }

    /// With objects' keys sorted (and, if `f64`, numbers as doubles).
    pub fn canonical(&self, f64: bool) -> Res {
        match self {
            Res::Val(t) => match json_text::parse(t.as_bytes()) {
                Ok(j) => {
                    let j = j.sorted();
                    Res::Val(if f64 { j.numbers_as_f64() } else { j }.text())
                }
                Err(_) => self.clone(),
            },
            r => r.clone(),
        }
    }

    /// The same value for engines that print numbers differently (jq 1.6,
    /// jaq): numbers as doubles, keys unordered.
    pub fn same_value(&self, other: &Res) -> bool {
        self == other || self.canonical(true) == other.canonical(true)
    }

    pub fn show(&self) -> String {
        match self {
            Res::No => "-".into(),
            Res::Err => "E".into(),
            Res::Rec => "= (the record)".into(),
            Res::Val(t) if t.chars().count() > 300 => {
                format!("{}…", t.chars().take(300).collect::<String>())
            }
            Res::Val(t) => t.clone(),
        }
    }
}

// ---- the CLIs ---------------------------------------------------------------

/// Rules per CLI process: the CLIs spend about as long reading the records
/// as running one rule on them.
pub const BATCH: usize = 16;

/// The program the CLIs run for a batch of rules: per input record, one line
/// with an array of one element per rule: `"-"`, `"E"`, `"="` or
/// `{"v": first output}`. jq 1.6 lets a `try` catch the `break` that
/// `limit` uses to stop (its outputs after the first are wrong), so only the
/// first element is used.
pub fn wrapper(rules: &[&str]) -> String {
    let each: Vec<String> = rules
        .iter()
        .map(|rule| {
            format!(
                "([limit(1; try ((\n{rule}\n) | {{v: .}}) catch {{e: 0}})] \
                 | if length == 0 then \"-\" elif .[0] | has(\"e\") then \"E\" \
                   else .[0].v | if . == null or . == false then \"-\" \
                     elif . == $__tt_record then \"=\" else {{v: .}} end end)"
            )
        })
        .collect();
    format!(". as $__tt_record | [{}]", each.join(",\n"))
}

/// What a CLI said about one rule.
#[derive(Clone, Debug)]
pub enum Cli {
    /// One result per record.
    Ran(Vec<Res>),
    /// The program does not compile.
    Rejected,
}

/// The full path of a program on the PATH (the CLIs run with an empty
/// environment, so that `env` and `$ENV` are `{}` as in Tattletail).
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// How long one CLI process may take.
pub const CLI_TIMEOUT: Duration = Duration::from_secs(60);

/// How a CLI process ended.
pub enum Run {
    /// Per record, the raw text of each rule's element.
    Lines(Vec<Vec<String>>),
    /// Exit status 3 and no output: a compile error.
    Rejected,
    /// Anything else.
    Failed(String),
}

/// Run `cli` with the wrapper of `rules` on `input` (`n` records).
pub fn run_cli(cli: &Path, rules: &[&str], input: Arc<Vec<u8>>, n: usize) -> Run {
    let mut child = match Command::new(cli)
        .env_clear()
        .arg("-c")
        .arg(wrapper(rules))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return Run::Failed(format!("cannot run {}: {e}", cli.display())),
    };
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stdout.read_to_end(&mut v);
        v
    });
    let mut stderr = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stderr.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > CLI_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Run::Failed(format!("timed out after {CLI_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    writer.join().unwrap();
    let out = reader.join().unwrap();
    let err = String::from_utf8_lossy(&err_reader.join().unwrap()).into_owned();
    if !status.success() {
        if status.code() == Some(3) && out.is_empty() {
            return Run::Rejected;
        }
        return Run::Failed(format!("{status}: {}", err.trim()));
    }
    let lines: Vec<&[u8]> = out
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    if lines.len() != n {
        return Run::Failed(format!(
            "{} lines for {n} records: {}",
            lines.len(),
            err.trim()
        ));
    }
    let mut rows = Vec::with_capacity(n);
    for l in lines {
        match split_array(l) {
            Some(row) if row.len() == rules.len() => rows.push(row),
            _ => {
                return Run::Failed(format!(
                    "unexpected line {}",
                    String::from_utf8_lossy(l)
                        .chars()
                        .take(300)
                        .collect::<String>()
                ))
            }
        }
    }
    Run::Lines(rows)
}

/// The raw text of each element of a compact JSON array.
pub fn split_array(line: &[u8]) -> Option<Vec<String>> {
    let inner = line.strip_prefix(b"[")?.strip_suffix(b"]")?;
    let mut out = Vec::new();
    let (mut depth, mut in_str, mut esc, mut start) = (0usize, false, false, 0usize);
    for (i, &b) in inner.iter().enumerate() {
        if in_str {
            match (esc, b) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => depth += 1,
            b']' | b'}' => depth = depth.checked_sub(1)?,
            b',' if depth == 0 => {
                out.push(String::from_utf8_lossy(&inner[start..i]).into_owned());
                start = i + 1;
            }
            _ => {}
        }
    }
    if !inner.is_empty() {
        out.push(String::from_utf8_lossy(&inner[start..]).into_owned());
    }
    Some(out)
}

pub fn element(e: &str) -> Option<Res> {
    Some(match e {
        "\"-\"" => Res::No,
        "\"E\"" => Res::Err,
        "\"=\"" => Res::Rec,
        e => Res::Val(e.strip_prefix("{\"v\":")?.strip_suffix('}')?.to_string()),
    })
}

/// Run `cli` on a batch of rules: each rule's answer, or why the CLI
/// failed. A batch that does not compile or fails is run rule by rule, so
/// that a rejection or failure is put on its rule.
pub fn run_batch(
    cli: &Path,
    rules: &[&str],
    input: &Arc<Vec<u8>>,
    n: usize,
) -> Vec<Result<Cli, String>> {
    match run_cli(cli, rules, input.clone(), n) {
        Run::Lines(rows) => (0..rules.len())
            .map(|r| {
                rows.iter()
                    .map(|row| {
                        element(&row[r]).ok_or_else(|| format!("unexpected element {}", row[r]))
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Cli::Ran)
            })
            .collect(),
        Run::Rejected if rules.len() == 1 => vec![Ok(Cli::Rejected)],
        Run::Failed(why) if rules.len() == 1 => vec![Err(why)],
        _ => rules
            .iter()
            .flat_map(|r| run_batch(cli, std::slice::from_ref(r), input, n))
            .collect(),
    }
}

// ---- the engines in process -------------------------------------------------

/// Native results: per record, per rule.
pub fn native(matcher: &mut Matcher<'_>, records: &[&[u8]]) -> Vec<Vec<Res>> {
    let n = matcher.plan().rules.len();
    let mut parser = RecordParser::default();
    let mut out = Outcome::default();
    records
        .iter()
        .map(|raw| {
            let mut bytes = raw.to_vec();
            let _rec = matcher
                .parse_and_evaluate(&mut parser, &mut bytes, true, &mut out)
                .expect("test records parse");
            let mut row = vec![Res::No; n];
            for m in &out.matches {
                row[m.rule] = match &m.annotation {
                    None => Res::Rec,
                    Some(a) => Res::Val(a.0.clone()),
                };
            }
            for e in &out.errors {
                row[e.rule] = Res::Err;
            }
            row
        })
        .collect()
}

/// The record with every object's keys sorted as gojq sorts them.
pub fn sorted_record(raw: &[u8]) -> Vec<u8> {
    json_text::parse(raw)
        .expect("test records parse")
        .sorted()
        .text()
        .into_bytes()
}

/// Does `raw` contain one of the literals (as the matcher looks for them)?
pub fn has_literal(raw: &[u8], lits: &[tattletail_compiler::analysis::Literal]) -> bool {
    let lower = raw.to_ascii_lowercase();
    lits.iter().any(|l| {
        if l.ascii_only && !raw.is_ascii() {
            return true;
        }
        let hay: &[u8] = if l.ascii_ci { &lower } else { raw };
        l.bytes.is_empty() || hay.windows(l.bytes.len()).any(|w| w == l.bytes)
    })
}
