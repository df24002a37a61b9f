//! The one scan driver: a [`ScanRun`] in, an exit [`Status`] out.
//!
//! Inputs (files and stdin in command-line order, then the objects of
//! `s3://` prefixes) are opened as the scan reaches them and read once by
//! the runtime's [`Scanner`]; every alert goes to the sinks: the printer
//! on stdout and, with `--send`, delivery through the Lambda's own code.
//! Notes on stderr say what was skipped or unreadable as it happens; the
//! summary and the exit status come at the end. AWS is touched only when
//! an `s3://` input or `--send` needs it.

use std::io::{self, BufWriter, Read, Write};
use std::sync::{Arc, Mutex};

use tattletail_compiler::escape::escape;
use tattletail_compiler::plan::Plan;
use tattletail_runtime::correlate::CorrelationStats;
use tattletail_runtime::scan::{AlertSink, InputOutcome, Source};
use tattletail_runtime::{Alert, Correlating, CorrelationAlert, Matcher, Scanner, Stats};

use crate::args::SummaryFormat;
use crate::config::to_stderr;
use crate::console::{note, Guarded, OutState, Shared};
use crate::inputs::{self, Expanded, Input, Report};
use crate::print::Printer;
use crate::progress::{Progress, Suspending};
use crate::run::ScanRun;
use crate::status::Status;
use crate::summary::{self, Sent};

/// Alerts go to the printer, then (with `--send`) to delivery.
struct Tee<'a> {
    print: &'a mut dyn AlertSink,
    deliver: Option<&'a mut dyn AlertSink>,
}

impl AlertSink for Tee<'_> {
    fn alert(&mut self, a: &Alert<'_>) -> io::Result<()> {
        self.print.alert(a)?;
        if let Some(d) = self.deliver.as_mut() {
            d.alert(a)?;
        }
        Ok(())
    }

    fn correlation(&mut self, plan: &Plan, c: &CorrelationAlert) -> io::Result<()> {
        self.print.correlation(plan, c)?;
        if let Some(d) = self.deliver.as_mut() {
            d.correlation(plan, c)?;
        }
        Ok(())
    }
}

/// One input, ready to open.
enum Planned {
    Local(Input),
    #[cfg(feature = "aws")]
    Objects(Vec<tattletail_lambda::event::ObjectRef>),
}

/// Run a scan.
pub fn run(run: ScanRun) -> Status {
    let plan = &run.compiled.plan;
    let expanded = &run.inputs;
    if !run.quiet {
        for r in &expanded.reports {
            note(r);
        }
    }
    if expanded.inputs.is_empty() {
        return nothing_to_scan(expanded, &run.paths);
    }
    for p in &expanded.problems {
        note(p);
    }
    if run.send && plan.destinations.is_empty() {
        note(format_args!(
            "warning: {} has no destinations; --send sends nothing",
            escape(&run.config_name)
        ));
    }
    let mut stats = Stats::new(plan.rules.len());
    let remote = expanded.inputs.iter().any(|i| matches!(i, Input::S3(_)));

    #[cfg(feature = "aws")]
    let aws = if remote || run.send {
        match crate::remote::Aws::start(&run.compiled, remote, run.send, run.state_table.as_deref())
        {
            Ok(a) => Some(a),
            Err(e) => {
                note(escape(&e));
                return Status::Fatal;
            }
        }
    } else {
        None
    };
    #[cfg(not(feature = "aws"))]
    if remote || run.send {
        note(
            "s3:// inputs need AWS support, which this build left out; \
             build with the default features (cargo install --path cli)",
        );
        return Status::Fatal;
    }

    // What to read, in order; S3 prefixes listed now (the bar's total).
    let mut planned: Vec<Planned> = Vec::new();
    let mut total: Option<u64> = Some(0);
    let mut count = 0usize;
    for input in &expanded.inputs {
        match input {
            Input::S3(_url) => {
                #[cfg(feature = "aws")]
                {
                    let aws = aws.as_ref().expect("started for s3:// inputs");
                    let listed = match aws.list(_url) {
                        Ok(l) => l,
                        Err(e) => {
                            note(escape(&e));
                            return Status::Fatal;
                        }
                    };
                    let mut objects = Vec::new();
                    for obj in listed {
                        match crate::remote::skip_before_fetch(&obj) {
                            Some(why) => {
                                if !run.quiet {
                                    note(format_args!(
                                        "skipped {}: {}",
                                        escape(&obj.url()),
                                        escape(why)
                                    ));
                                }
                                stats.skipped.push((obj.url(), why.to_string()));
                            }
                            None => {
                                total = total.zip(obj.size).map(|(t, s)| t + s);
                                objects.push(obj);
                            }
                        }
                    }
                    count += objects.len();
                    planned.push(Planned::Objects(objects));
                }
            }
            Input::Stdin => {
                total = None;
                count += 1;
                planned.push(Planned::Local(input.clone()));
            }
            Input::File(p) | Input::Found(p, _) => {
                let size = std::fs::metadata(p)
                    .ok()
                    .filter(|m| m.is_file())
                    .map(|m| m.len());
                total = total.zip(size).map(|(t, s)| t + s);
                count += 1;
                planned.push(Planned::Local(input.clone()));
            }
        }
    }

    let progress = run
        .progress
        .then(|| Progress::start(count, total, run.progress_forced));
    // With --send, a closed stdout stops the printing, not the sending.
    let state = OutState::new(run.send);
    // Shared with the report below, which flushes after each input: its
    // alerts are out before the next input is opened (a FIFO named on the
    // command line may wait for its writer).
    let out = Shared(Arc::new(Mutex::new(BufWriter::new(Guarded::new(
        Suspending(io::stdout()),
        state.clone(),
    )))));
    let mut printer =
        Printer::new(out.clone(), run.format, run.color).with_plan(run.compiled.clone());

    #[cfg(feature = "aws")]
    let delivery = match &aws {
        Some(a) if run.send => Some(a.delivery(run.compiled.clone())),
        _ => None,
    };
    #[cfg(feature = "aws")]
    let mut deliver_sink = delivery.as_ref().map(|d| d.sink());
    #[cfg(feature = "aws")]
    let deliver = deliver_sink.as_mut().map(|s| s as &mut dyn AlertSink);
    #[cfg(not(feature = "aws"))]
    let deliver = None;
    // Correlations see every alert in scan order (a parallel scan puts
    // them back in order), ahead of the printer and delivery.
    let mut sink = Correlating::new(
        plan,
        Tee {
            print: &mut printer,
            deliver,
        },
    );

    let scanner = if run.no_index {
        Scanner::with_matcher(Matcher::naive(plan))
    } else {
        Scanner::new(plan)
    };
    let mut scanner = scanner
        .with_workers(run.jobs)
        .with_max_record_size(run.max_record);
    if let Some(p) = &progress {
        scanner = scanner.with_record_counter(p.records());
    }

    let keep_going = run.send;
    let counted = |r: Box<dyn Read + Send>| -> Box<dyn Read + Send> {
        match &progress {
            Some(p) => Box::new(p.counting(r)),
            None => r,
        }
    };
    // Files are opened as the scan reaches them; none once stdout is
    // closed (unless alerts are also being sent).
    let sources = planned
        .into_iter()
        .flat_map(|p| -> Box<dyn Iterator<Item = Source> + '_> {
            match p {
                Planned::Local(input) => {
                    let read = match &input {
                        Input::Stdin => Ok(Box::new(io::stdin()) as Box<dyn Read + Send>),
                        _ => inputs::open(&input).map(|f| Box::new(f) as Box<dyn Read + Send>),
                    };
                    Box::new(std::iter::once((input.label(), read)))
                }
                #[cfg(feature = "aws")]
                Planned::Objects(objects) => Box::new(
                    aws.as_ref()
                        .expect("started for s3:// inputs")
                        .objects(objects),
                ),
            }
        })
        .take_while(|_| keep_going || !state.closed())
        .map(|(label, read)| (label, read.map(counted)));
    let mut flusher = out.clone();
    let quiet = run.quiet;
    let scanned = scanner.scan_all(sources, &mut sink, &mut |label, outcome| {
        report(label, outcome, quiet);
        if let Some(p) = &progress {
            p.input_done();
        }
        // An error shows again at the next write or the final flush.
        let _ = flusher.flush();
    });
    let correlated = sink.engine.stats().clone();
    #[cfg(feature = "aws")]
    let sent = {
        drop(deliver_sink);
        delivery.map(|d| {
            let done = d.finish();
            Sent {
                delivered: done.delivered,
                undelivered: done.undelivered,
                skipped: done.skipped,
                busy: done.busy,
                deduplicated: done.noise.deduplicated,
                below_threshold: done.noise.below_threshold,
                throttled: done.noise.throttled,
                follow_ups: done.noise.follow_ups,
            }
        })
    };
    #[cfg(not(feature = "aws"))]
    let sent: Option<Sent> = None;
    if let Some(p) = progress {
        p.finish();
    }
    let mut out = out;
    let written = scanned.and_then(|()| out.flush());
    let scanned_stats = scanner.take_stats();
    stats.absorb(scanned_stats);
    // Matches of rules that only feed correlations are not alerts.
    for (n, w) in stats.alerts.iter_mut().zip(&correlated.withheld) {
        *n -= (*w).min(*n);
    }
    count_walk(&mut stats, expanded);
    finish(&run, written, &state, &stats, &correlated, sent)
}

/// An input's outcome on stderr (skipped inputs only without `--quiet`).
fn report(label: &str, outcome: &InputOutcome, quiet: bool) {
    match outcome {
        InputOutcome::Scanned => {}
        InputOutcome::Skipped(why) => {
            if !quiet {
                note(format_args!("skipped {}: {}", escape(label), escape(why)))
            }
        }
        InputOutcome::Failed(why) => note(format_args!(
            "unreadable {}: {}",
            escape(label),
            escape(why.message())
        )),
    }
}

/// Count what the walk left out: special files as skipped inputs, problems
/// as unreadable ones (exit status 1).
fn count_walk(stats: &mut Stats, expanded: &Expanded) {
    for r in &expanded.reports {
        if let Report::NotRegular { path, kind } = r {
            stats.skipped.push((
                path.display().to_string(),
                format!("{kind}, not a regular file"),
            ));
        }
    }
    for p in &expanded.problems {
        let entry = (p.path().display().to_string(), p.reason());
        if matches!(p, inputs::Problem::NoLogs { .. }) {
            // Nothing to read there is not a read error.
            stats.skipped.push(entry);
        } else {
            stats.failed.push(entry);
        }
    }
}

/// The records that could not be read, one line each (the first few),
/// for a run without a summary (`--quiet`, `--summary none`).
fn note_bad_records(stats: &Stats) {
    for b in &stats.bad_examples {
        note(format_args!(
            "unreadable {} record {} at byte {}: {}",
            escape(&b.source),
            b.position.index,
            b.position.offset,
            escape(&b.message)
        ));
    }
    let shown = stats.bad_examples.len() as u64;
    if stats.bad_records > shown {
        note(format_args!(
            "unreadable records: {} in all ({shown} shown above), each skipped alone",
            stats.bad_records
        ));
    }
}

/// No input at all: nothing was scanned.
fn nothing_to_scan(expanded: &Expanded, paths: &[String]) -> Status {
    let named: Vec<String> = paths.iter().map(|p| escape(p).into_owned()).collect();
    let unreadable = expanded
        .problems
        .iter()
        .any(|p| !matches!(p, inputs::Problem::NoLogs { .. }));
    for p in &expanded.problems {
        note(p);
    }
    if unreadable {
        note(format_args!(
            "nothing could be scanned in {} (see the lines above)",
            named.join(" ")
        ));
        Status::Partial
    } else {
        note(
            "no CloudTrail log file to scan, nothing was scanned: directories are searched \
             recursively for *.json and *.gz files (name a file on the command line to scan it \
             whatever its name)",
        );
        Status::Fatal
    }
}

/// The end of a scan: the summary and the exit status. `written` is how
/// writing the alerts went: when the reader of stdout went away (`| head`)
/// the scan ends quietly with status 0, as `grep` does.
fn finish(
    run: &ScanRun,
    written: io::Result<()>,
    state: &OutState,
    stats: &Stats,
    correlated: &CorrelationStats,
    sent: Option<Sent>,
) -> Status {
    let plan = &run.compiled.plan;
    let undelivered = sent.is_some_and(|s| s.undelivered > 0);
    if let Err(e) = written {
        if state.is_closed_error(&e) {
            return if undelivered {
                Status::Partial
            } else {
                Status::Clean
            };
        }
        // The counts would include alerts that were not written: no summary.
        note(format_args!(
            "cannot write alerts to stdout: {}; alerts were lost and the scan stopped there",
            escape(&e.to_string())
        ));
        return Status::Fatal;
    }
    match run.summary {
        SummaryFormat::Text => to_stderr(&summary::render_text(
            stats,
            Some(correlated),
            plan,
            sent,
            !run.quiet,
        )),
        SummaryFormat::Json => {
            to_stderr(&summary::render_json(stats, Some(correlated), plan, sent))
        }
        // Without a summary, records that could not be read (exit status
        // 1) would be reported nowhere.
        SummaryFormat::None => note_bad_records(stats),
    }
    let mut status = Status::Clean;
    if stats.files == 0 {
        let (skipped, failed) = (stats.skipped.len(), stats.failed.len());
        if skipped + failed == 0 {
            // An s3:// prefix with no object under it.
            note("no CloudTrail log was found: the inputs held no file");
        } else {
            note(format_args!(
                "none of the inputs is a CloudTrail log ({skipped} skipped, {failed} \
                 unreadable; see the lines above)"
            ));
        }
        status = Status::Partial;
    }
    if stats.had_read_errors() || undelivered {
        status = status.and(Status::Partial);
    }
    if run.fail_on_alert && stats.total_alerts() + correlated.total_alerts() > 0 {
        status = status.and(Status::Alerts);
    }
    status
}
