//! AWS for the driver (the `aws` feature): built only when a run needs it
//! (an `s3://` input or `--send`), with only the clients it needs. S3
//! prefixes are listed up front (so the progress bar has a total), and
//! objects are opened a few ahead of the one being scanned, each streamed
//! exactly as the Lambda streams it. Delivery is the Lambda's own
//! ([`pipeline::Delivery`]), noise control included: its state lives in
//! the run, or in the DynamoDB table of `--state-table` (shared with the
//! Lambda, so a backfill does not send again what the Lambda sent).

use std::collections::VecDeque;
use std::io::{self, Read};
use std::sync::Arc;

use tattletail_compiler::plan::Compiled;
use tattletail_lambda::aws::{Clients, Needs, Settings};
use tattletail_lambda::deliver::Deliverer;
use tattletail_lambda::event::ObjectRef;
use tattletail_lambda::noise::{Clock, NoiseControl};
use tattletail_lambda::pipeline::Delivery;
use tattletail_lambda::s3::{self, FetchError, Object};
use tattletail_lambda::state::Store;
use tokio::task::JoinHandle;

/// Objects opened ahead of the one being scanned.
const PREFETCH: usize = 8;

/// The AWS side of one run.
pub struct Aws {
    runtime: tokio::runtime::Runtime,
    clients: Clients,
    settings: Settings,
    noise: Arc<NoiseControl>,
}

impl Aws {
    /// Settings, an async runtime and the clients: S3 when `s3`, SNS and
    /// SES when `send` and a rule sends to a destination of that kind
    /// (Slack needs no AWS at all: no region, credential or metadata
    /// lookup then).
    ///
    /// `state_table`: noise-control state (and exactly-once claims) in
    /// that DynamoDB table; without it, in memory for the run.
    pub fn start(
        compiled: &Compiled,
        s3: bool,
        send: bool,
        state_table: Option<&str>,
    ) -> Result<Aws, String> {
        tattletail_lambda::logging::init_cli();
        let settings = Settings::from_env(|k| std::env::var(k).ok()).map_err(|e| e.to_string())?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the async runtime: {e}"))?;
        let needs = Needs {
            s3,
            dynamodb: state_table.is_some(),
            ..if send {
                Needs::for_plan(&compiled.plan)
            } else {
                Needs::default()
            }
        };
        let clients = runtime
            .block_on(Clients::new(&settings, needs))
            .map_err(|e| e.to_string())?;
        let store = match state_table {
            Some(t) => Store::from_table(&clients, t).map_err(|e| e.to_string())?,
            None => Store::memory(),
        };
        let lease = settings.claim_lease.as_millis() as i64;
        // Exactly-once claims with a table only, as in the Lambda: without
        // one, every alert of every input is sent, as upstream does.
        let claims = state_table.is_some();
        let noise = Arc::new(NoiseControl::new(store, Clock::system(), claims, lease));
        Ok(Aws {
            runtime,
            clients,
            settings,
            noise,
        })
    }

    /// Every object under an `s3://bucket/prefix` URL.
    pub fn list(&self, url: &str) -> Result<Vec<ObjectRef>, String> {
        let (bucket, prefix) =
            s3::parse_url(url).ok_or_else(|| format!("{url} is not an s3://bucket/prefix URL"))?;
        let client = self.clients.s3().map_err(|e| e.to_string())?;
        self.runtime
            .block_on(s3::list(client, &bucket, &prefix))
            .map_err(|e| e.to_string())
    }

    /// Start delivering `compiled`'s alerts.
    pub fn delivery(&self, compiled: Arc<Compiled>) -> Delivery {
        let deliverer = Arc::new(
            Deliverer::new(self.clients.clone(), self.settings.clone())
                .with_noise(self.noise.clone()),
        );
        Delivery::start(self.runtime.handle().clone(), compiled, deliverer)
    }

    /// The objects as scan inputs, in order, opened [`PREFETCH`] ahead.
    pub fn objects(&self, objects: Vec<ObjectRef>) -> Objects<'_> {
        Objects {
            aws: self,
            pending: VecDeque::new(),
            rest: objects.into_iter(),
        }
    }
}

/// S3 objects being opened, in order.
pub struct Objects<'a> {
    aws: &'a Aws,
    pending: VecDeque<(String, JoinHandle<Result<Object, FetchError>>)>,
    rest: std::vec::IntoIter<ObjectRef>,
}

impl Iterator for Objects<'_> {
    type Item = (String, io::Result<Box<dyn Read + Send>>);

    fn next(&mut self) -> Option<Self::Item> {
        while self.pending.len() < PREFETCH {
            let Some(obj) = self.rest.next() else { break };
            let url = obj.url();
            let client = self.aws.clients.s3().cloned();
            let opening = self.aws.runtime.spawn(async move {
                match client {
                    Ok(c) => s3::open(&c, &obj).await,
                    Err(e) => Err(FetchError::Permanent(e.to_string())),
                }
            });
            self.pending.push_back((url, opening));
        }
        let (url, opening) = self.pending.pop_front()?;
        let opened = match self.aws.runtime.block_on(opening) {
            Ok(Ok(o)) => Ok(Box::new(o.body) as Box<dyn Read + Send>),
            Ok(Err(e)) => Err(io::Error::other(e)),
            Err(e) => Err(io::Error::other(format!("the fetch task failed: {e}"))),
        };
        Some((url, opened))
    }
}

/// Objects not worth fetching (digests, empty), with why.
pub fn skip_before_fetch(obj: &ObjectRef) -> Option<&'static str> {
    s3::skip_before_fetch(obj)
}
