//! Structured logs: one JSON object per line on stdout, which Lambda ships
//! to CloudWatch Logs where Logs Insights can query every field.
//!
//! A small `tracing` layer rather than `tracing-subscriber`'s JSON format,
//! for two things that one lacks: fields named `*_json` hold JSON text and
//! are embedded as JSON under the name without the suffix (per-rule counts,
//! the full payload of an undelivered alert), and every line carries the
//! current Lambda request id. CloudWatch Embedded Metric Format documents
//! are written by [`emit_metrics`] on their own lines.

use std::fmt;
use std::io::Write;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

static REQUEST_ID: Mutex<String> = Mutex::new(String::new());

/// Set the request id stamped on every line (empty for none).
pub fn set_request_id(id: &str) {
    if let Ok(mut g) = REQUEST_ID.lock() {
        g.clear();
        g.push_str(id);
    }
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

struct Fields(Map<String, Value>);

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        let name = field.name();
        if let Some(base) = name.strip_suffix("_json") {
            if let Value::String(s) = &value {
                if let Ok(v) = serde_json::from_str(s) {
                    self.0.insert(base.to_string(), v);
                    return;
                }
            }
        }
        self.0.insert(name.to_string(), value);
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_string()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }
}

/// The JSON-lines layer.
pub struct JsonLines {
    min: Level,
    stderr: bool,
}

impl<S: Subscriber> Layer<S> for JsonLines {
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _: Context<'_, S>) -> bool {
        metadata.level() <= &self.min && !is_noise(metadata.target(), metadata.level())
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let meta = event.metadata();
        let mut fields = Fields(Map::new());
        fields
            .0
            .insert("timestamp".into(), Value::from(now_ms() as u64));
        fields
            .0
            .insert("level".into(), Value::from(meta.level().as_str()));
        if let Ok(id) = REQUEST_ID.lock() {
            if !id.is_empty() {
                fields
                    .0
                    .insert("request_id".into(), Value::from(id.as_str()));
            }
        }
        event.record(&mut fields);
        if !meta.target().starts_with("tattletail") {
            fields.0.insert("target".into(), Value::from(meta.target()));
        }
        write_line(&Value::Object(fields.0), self.stderr);
    }
}

/// Libraries' debug chatter (the SDK, hyper) stays out unless it is a
/// warning or worse.
fn is_noise(target: &str, level: &Level) -> bool {
    !target.starts_with("tattletail") && *level > Level::WARN
}

/// One JSON line, written whole, to stdout (or stderr).
fn write_line(v: &Value, stderr: bool) {
    let mut line = v.to_string();
    line.push('\n');
    if stderr {
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    } else {
        let mut lock = std::io::stdout().lock();
        let _ = lock.write_all(line.as_bytes());
        let _ = lock.flush();
    }
}

/// Install the layer as the global subscriber, writing to stdout (the
/// Lambda) at `TATTLETAIL_LOG` level (default `info`).
pub fn init() {
    install(level_from_env(Level::INFO), false);
}

/// The CLI's logging: stderr (stdout carries the alerts), warnings and
/// errors unless `TATTLETAIL_LOG` says otherwise.
pub fn init_cli() {
    install(level_from_env(Level::WARN), true);
}

fn level_from_env(default: Level) -> Level {
    match std::env::var("TATTLETAIL_LOG").as_deref() {
        Ok("debug") => Level::DEBUG,
        Ok("info") => Level::INFO,
        Ok("warn") => Level::WARN,
        Ok("error") => Level::ERROR,
        _ => default,
    }
}

fn install(min: Level, stderr: bool) {
    let _ = tracing_subscriber::registry()
        .with(JsonLines { min, stderr })
        .try_init();
}

/// One CloudWatch metric.
pub struct Metric<'a> {
    /// Name.
    pub name: &'a str,
    /// Value.
    pub value: f64,
    /// CloudWatch unit (`Count`, `Bytes`, `Milliseconds`).
    pub unit: &'a str,
}

/// Write one Embedded Metric Format document: the metrics, under
/// `namespace`, with the given dimensions (name, value).
pub fn emit_metrics(namespace: &str, dimensions: &[(&str, &str)], metrics: &[Metric<'_>]) {
    let mut doc = Map::new();
    let dim_names: Vec<Value> = dimensions.iter().map(|(k, _)| Value::from(*k)).collect();
    let defs: Vec<Value> = metrics
        .iter()
        .map(|m| serde_json::json!({"Name": m.name, "Unit": m.unit}))
        .collect();
    doc.insert(
        "_aws".into(),
        serde_json::json!({
            "Timestamp": now_ms() as u64,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [dim_names],
                "Metrics": defs,
            }]
        }),
    );
    for (k, v) in dimensions {
        doc.insert((*k).to_string(), Value::from(*v));
    }
    for m in metrics {
        doc.insert(m.name.to_string(), Value::from(m.value));
    }
    write_line(&Value::Object(doc), false);
}
