//! Time each rule of a config alone over the records of one file
//! (run with --release): where does evaluation time go?
//!
//! cargo run --release -p tattletail-runtime --example rule_cost -- CONFIG FILE [RECORDS]
use std::time::Instant;

use tattletail_runtime::matcher::{Matcher, Outcome};
use tattletail_runtime::reader;
use tattletail_runtime::record::RecordParser;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let src = std::fs::read_to_string(&args[1]).unwrap();
    let limit: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(50_000);
    let mut r = reader::open(std::fs::File::open(&args[2]).unwrap()).unwrap();
    let mut raws = Vec::new();
    let mut buf = Vec::new();
    while let Some(next) = r.next_record(&mut buf).unwrap() {
        next.into_record().unwrap();
        raws.push(buf.clone());
        if raws.len() >= limit {
            break;
        }
    }
    let compiled = tattletail_compiler::compile(&src).unwrap();
    let time_plan = |plan: &tattletail_compiler::plan::Plan| {
        let mut m = Matcher::new(plan);
        let mut alerts = 0;
        let mut best = std::time::Duration::MAX;
        for _ in 0..3 {
            let t = Instant::now();
            alerts += evaluate_all(&mut m, &raws);
            best = best.min(t.elapsed());
        }
        (best, alerts / 3)
    };
    let empty = tattletail_compiler::compile(
        "[[rule]]\nname = 'none'\njq_match = 'select(.eventName == \"none\")'\n",
    )
    .unwrap();
    let (base, _) = time_plan(&empty.plan);
    let (all, all_alerts) = time_plan(&compiled.plan);
    {
        let mut m = Matcher::new(&compiled.plan);
        evaluate_all(&mut m, &raws);
        let total: u64 = m.evaluations().iter().sum();
        println!(
            "evaluations per record: {:.2}",
            total as f64 / raws.len() as f64
        );
        let mut ev: Vec<(u64, String)> = m
            .evaluations()
            .iter()
            .enumerate()
            .map(|(i, n)| (*n, compiled.plan.rules[i].config.display_name()))
            .collect();
        ev.sort_by_key(|e| std::cmp::Reverse(e.0));
        for (n, name) in ev.iter().take(12) {
            println!("  {:>6.3}/record  {name}", *n as f64 / raws.len() as f64);
        }
    }
    println!(
        "{} records: empty plan {:.2} µs/record, whole plan {:.2} µs/record ({} alerts)",
        raws.len(),
        base.as_secs_f64() * 1e6 / raws.len() as f64,
        all.as_secs_f64() * 1e6 / raws.len() as f64,
        all_alerts
    );
    let mut costs = Vec::new();
    for (i, rule) in compiled.plan.rules.iter().enumerate() {
        let one = format!(
            "[[rule]]\nname = {:?}\njq_match = '''\n{}\n'''\n",
            rule.config.display_name(),
            rule.config.jq_match
        );
        let c = tattletail_compiler::compile(&one).unwrap();
        let (d, alerts) = time_plan(&c.plan);
        costs.push((
            d,
            i,
            rule.config.display_name(),
            alerts,
            rule.eval.name(),
            format!("{:?}", rule.prefilter())
                .chars()
                .take(40)
                .collect::<String>(),
        ));
    }
    costs.sort_by_key(|c| std::cmp::Reverse(c.0));
    for (d, i, name, alerts, eval, pf) in costs.iter().take(30) {
        let extra = d.saturating_sub(base);
        println!(
            "{:>8.3} µs/rec  #{i:<3} {name:<50} alerts {alerts:<6} {eval} {pf}",
            extra.as_secs_f64() * 1e6 / raws.len() as f64
        );
    }
}

/// Parse and evaluate every record (copied first: parsing rewrites); the
/// number of alerts.
fn evaluate_all(m: &mut Matcher<'_>, raws: &[Vec<u8>]) -> usize {
    let mut p = RecordParser::default();
    let mut out = Outcome::default();
    let mut scratch = Vec::new();
    let mut alerts = 0;
    for raw in raws {
        scratch.clear();
        scratch.extend_from_slice(raw);
        let rec = m
            .parse_and_evaluate(&mut p, &mut scratch, false, &mut out)
            .unwrap();
        alerts += out.matches.len();
        p.recycle(rec);
    }
    alerts
}
