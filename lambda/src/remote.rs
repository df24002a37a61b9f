//! `tattletail scan` with AWS: `s3://bucket/prefix/` inputs are listed and
//! their objects read concurrently (a bounded number at a time, each
//! streamed like the Lambda does), and `--send` delivers alerts to the
//! config's destinations through the Lambda's own delivery code.

use std::fmt;
use std::io::{self, IsTerminal};
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use tattletail_compiler::escape::escape;
use tattletail_compiler::plan::Compiled;
use tattletail_runtime::scan::InputOutcome;
use tattletail_runtime::Stats;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::aws::{Clients, Needs, Settings};
use crate::console::note;
use crate::deliver::Deliverer;
use crate::event::ObjectRef;
use crate::inputs::{self, Input};
use crate::pipeline::{self, Outputs, Printer, ScanReport};
use crate::s3;

/// How to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Objects read at once.
    pub jobs: usize,
    /// Deliver alerts to the destinations.
    pub send: bool,
    /// No dispatch index.
    pub no_index: bool,
}

/// What the run gave.
#[derive(Debug, Default)]
pub struct Totals {
    /// Scan counts over every input.
    pub stats: Stats,
    /// Sends that succeeded.
    pub delivered: u64,
    /// Sends that failed after every attempt.
    pub undelivered: u64,
}

/// Why a run stopped.
#[derive(Debug)]
pub enum RunError {
    /// Settings, clients or an S3 listing: nothing (more) could be scanned.
    Setup(String),
    /// Alerts could not be written to stdout.
    Output(io::Error),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Setup(why) => f.write_str(why),
            RunError::Output(e) => write!(f, "cannot write alerts to stdout: {e}"),
        }
    }
}

impl From<String> for RunError {
    fn from(why: String) -> Self {
        RunError::Setup(why)
    }
}

fn report(pb: &ProgressBar, label: &str, outcome: &InputOutcome) {
    let line = match outcome {
        InputOutcome::Scanned => return,
        InputOutcome::Skipped(why) => format!("skipped {}: {}", escape(label), escape(why)),
        InputOutcome::Failed(why) => format!("unreadable {}: {}", escape(label), escape(why)),
    };
    pb.suspend(|| note(line));
}

fn absorb(totals: &mut Totals, label: &str, report: ScanReport, pb: &ProgressBar) {
    self::report(pb, label, &report.outcome);
    totals.stats.absorb(report.stats);
    totals.delivered += report.delivered;
    totals.undelivered += report.undelivered;
}

/// Scan `inputs`, printing alerts with `printer` and, with `send`,
/// delivering them.
pub async fn run(
    compiled: Arc<Compiled>,
    inputs: Vec<Input>,
    printer: Printer,
    opts: Options,
) -> Result<Totals, RunError> {
    let settings = Settings::from_env(|k| std::env::var(k).ok()).map_err(|e| e.to_string())?;
    let sends = if opts.send {
        Needs::for_plan(&compiled.plan)
    } else {
        Needs::default()
    };
    let needs = Needs {
        s3: inputs.iter().any(|i| matches!(i, Input::S3(_))),
        ..sends
    };
    let clients = Clients::new(&settings, needs)
        .await
        .map_err(|e| e.to_string())?;
    let deliverer = opts
        .send
        .then(|| Arc::new(Deliverer::new(clients.clone(), settings.clone())));
    let outputs = Outputs {
        deliver: deliverer.clone(),
        printer: Some(printer),
        log_matches: false,
        no_index: opts.no_index,
        // `--jobs` objects are scanned at once, each on one thread.
        workers: 1,
    };
    let mut totals = Totals {
        stats: Stats::new(compiled.plan.rules.len()),
        ..Totals::default()
    };
    let hidden = ProgressBar::hidden();

    // Local inputs first, in order.
    let mut remote = Vec::new();
    for input in inputs {
        let (label, report) = match input {
            Input::S3(url) => {
                remote.push(url);
                continue;
            }
            Input::Stdin => {
                let r = pipeline::scan(
                    compiled.clone(),
                    "<stdin>".into(),
                    std::io::stdin(),
                    outputs.clone(),
                )
                .await;
                ("<stdin>".to_string(), r)
            }
            Input::File(_) | Input::Found(..) => {
                let label = input.label();
                match inputs::open(&input) {
                    Ok(f) => {
                        let r = pipeline::scan(compiled.clone(), label.clone(), f, outputs.clone())
                            .await;
                        (label, r)
                    }
                    Err(e) => {
                        let why = format!("cannot open: {e}");
                        note(format_args!(
                            "unreadable {}: {}",
                            escape(&label),
                            escape(&why)
                        ));
                        totals.stats.failed.push((label, why));
                        continue;
                    }
                }
            }
        };
        let report = report.map_err(RunError::Output)?;
        absorb(&mut totals, &label, report, &hidden);
    }

    // S3: list everything first (so the progress bar has a total), then
    // read `jobs` objects at a time.
    let mut objects: Vec<ObjectRef> = Vec::new();
    for url in &remote {
        let (bucket, prefix) =
            s3::parse_url(url).ok_or_else(|| format!("{url} is not an s3://bucket/prefix URL"))?;
        objects.extend(
            s3::list(clients.s3().map_err(|e| e.to_string())?, &bucket, &prefix)
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    if remote.is_empty() {
        return Ok(totals);
    }
    let pb = if std::io::stderr().is_terminal() {
        let pb = ProgressBar::new(objects.len() as u64);
        pb.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} objects {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        pb
    } else {
        ProgressBar::hidden()
    };
    let permits = Arc::new(Semaphore::new(opts.jobs.max(1)));
    let mut tasks: JoinSet<(String, Result<ScanReport, TaskError>)> = JoinSet::new();
    for obj in objects {
        let url = obj.url();
        if let Some(why) = s3::skip_before_fetch(&obj) {
            skip(&mut totals, url, why, &pb);
            continue;
        }
        let permit = permits.clone().acquire_owned().await.expect("never closed");
        let (client, compiled, outputs) = (
            clients.s3().map_err(|e| e.to_string())?.clone(),
            compiled.clone(),
            outputs.clone(),
        );
        tasks.spawn(async move {
            let _permit = permit;
            let result = match s3::open(&client, &obj).await {
                Ok(o) => pipeline::scan(compiled, url.clone(), o.body, outputs)
                    .await
                    .map_err(TaskError::Output),
                Err(e) => Err(TaskError::Fetch(e.to_string())),
            };
            (url, result)
        });
        // Collect finished ones as we go, so the bar moves.
        while let Some(done) = tasks.try_join_next() {
            finish(done, &mut totals, &pb)?;
        }
    }
    while let Some(done) = tasks.join_next().await {
        finish(done, &mut totals, &pb)?;
    }
    pb.finish_and_clear();
    Ok(totals)
}

fn skip(totals: &mut Totals, url: String, why: &str, pb: &ProgressBar) {
    report(pb, &url, &InputOutcome::Skipped(why.to_string()));
    totals.stats.skipped.push((url, why.to_string()));
    pb.inc(1);
}

/// Why an object's task ended without a report.
enum TaskError {
    /// Alerts could not be printed: stop everything.
    Output(io::Error),
    /// The object could not be fetched: report it and go on.
    Fetch(String),
}

fn finish(
    done: Result<(String, Result<ScanReport, TaskError>), tokio::task::JoinError>,
    totals: &mut Totals,
    pb: &ProgressBar,
) -> Result<(), RunError> {
    let (url, result) = done.map_err(|e| RunError::Setup(format!("a scan task failed: {e}")))?;
    pb.inc(1);
    match result {
        Ok(report) => {
            pb.set_message(url.rsplit('/').next().unwrap_or("").to_string());
            absorb(totals, &url, report, pb);
        }
        Err(TaskError::Output(e)) => return Err(RunError::Output(e)),
        Err(TaskError::Fetch(why)) => {
            pb.suspend(|| {
                note(format_args!(
                    "unreadable {}: {}",
                    escape(&url),
                    escape(&why)
                ))
            });
            totals.stats.failed.push((url, why));
        }
    }
    Ok(())
}
