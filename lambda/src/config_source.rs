//! Where the Lambda's rules come from, and keeping the compiled plan warm.
//!
//! Upstream's precedence (`tattletail-compat.md` §9.1): when both
//! `S3_CONFIG_BUCKET` and `S3_CONFIG_PATH` are set, the config is that S3
//! object; otherwise `tattletail.toml` in `LAMBDA_TASK_ROOT` (the bundled
//! file). The compiled plan is kept across warm invocations. For S3, every
//! invocation makes a conditional GET (`If-None-Match` with the cached ETag):
//! an unchanged object costs one 304 and no recompilation, an edited one is
//! compiled and used from that invocation on. An invalid config fails the
//! invocation with every diagnostic; it is cached by ETag too, so it is not
//! recompiled until it changes.
//!
//! A config is never read whole before its size is known: the object's
//! `Content-Length` is checked before the body is read, and the body is read
//! with a cap as well (in case the length is missing or wrong); a larger
//! object fails the invocation with an error naming it and the limit.
//!
//! `[[sigma]]` tables load Sigma rules: for the bundled file, paths are
//! relative to its directory; for an S3 config, they are keys relative to
//! the config key's prefix ([`sigma_key`]): a key ending in `.yml` or
//! `.yaml` is that object, anything else a prefix whose `.yml` and `.yaml`
//! objects are read (sorted by key). The config and its Sigma files
//! together are held to [`MAX_CONFIG_BYTES`]. They are read when the
//! config is (an edited Sigma object is picked up when the config object
//! changes, or on a cold start). Correlation rules need state across
//! invocations: with a state table (`TATTLETAIL_STATE_TABLE`) they run on
//! it (`noise::correlate`); without one they are not evaluated here
//! (logged once per load as `correlations_not_evaluated`), and the rules
//! they correlate alert on their own, so no detection is lost. Rules with
//! noise settings (`dedup`, `threshold`, `cooldown`) without a table keep
//! their state in the execution environment (logged as
//! `noise_state_in_process`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream;
use tattletail_compiler::config::SigmaInput;
use tattletail_compiler::diag::render_all;
use tattletail_compiler::plan::{Compiled, Plan};
use tattletail_compiler::sigma::SigmaFile;
use tattletail_runtime::sigma_files::is_rule_file;
use tracing::{info, warn};

/// Largest config read (16 MiB; a config of 1,000 rules is about 1 MB).
pub const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

/// Where the config lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigLocation {
    /// An S3 object.
    S3 {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
    },
    /// A file (the bundled `tattletail.toml`).
    File(PathBuf),
}

impl ConfigLocation {
    /// Upstream's rule, through `get` (the process environment in the
    /// Lambda).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> ConfigLocation {
        let nonempty = |k: &str| get(k).filter(|v| !v.is_empty());
        match (nonempty("S3_CONFIG_BUCKET"), nonempty("S3_CONFIG_PATH")) {
            (Some(bucket), Some(key)) => ConfigLocation::S3 { bucket, key },
            _ => {
                let root = nonempty("LAMBDA_TASK_ROOT").unwrap_or_else(|| ".".into());
                ConfigLocation::File(PathBuf::from(root).join("tattletail.toml"))
            }
        }
    }

    /// A name for messages.
    pub fn name(&self) -> String {
        match self {
            ConfigLocation::S3 { bucket, key } => format!("s3://{bucket}/{key}"),
            ConfigLocation::File(p) => p.display().to_string(),
        }
    }
}

/// Why there is no plan.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config could not be read.
    #[error("cannot read the config {name}: {message}")]
    Unreadable {
        /// Location.
        name: String,
        /// Why.
        message: String,
    },
    /// The config is larger than [`MAX_CONFIG_BYTES`]; it was not read.
    #[error(
        "the config {name} is too large: {size}, more than the limit of {limit} bytes (16 MiB); \
         a tattletail.toml is a few KB: check that S3_CONFIG_BUCKET and S3_CONFIG_PATH name the config"
    )]
    TooLarge {
        /// Location.
        name: String,
        /// How large it is, as far as known (`20000000 bytes`, `more than …`).
        size: String,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The config has errors; `rendered` has every diagnostic.
    #[error("the config {name} is invalid ({count} problem(s)); nothing was scanned:\n{rendered}")]
    Invalid {
        /// Location.
        name: String,
        /// Number of errors.
        count: usize,
        /// The diagnostics, rendered with line, column and help.
        rendered: String,
    },
}

/// How [`compile`] gets the files of a `[[sigma]]` table's `path`.
pub type SigmaResolve<'a> = &'a mut dyn FnMut(&str) -> Result<Vec<SigmaFile>, String>;

/// Compile config text (its `[[sigma]]` paths read through `resolve`),
/// rendering warnings into the log and errors into [`ConfigError::Invalid`].
/// `stateful`: there is a state table, so correlations are evaluated.
pub fn compile(
    name: &str,
    source: &str,
    resolve: SigmaResolve<'_>,
    stateful: bool,
) -> Result<Arc<Compiled>, ConfigError> {
    let started = Instant::now();
    let mut input = SigmaInput::none(resolve);
    match tattletail_compiler::compile_with(source, &mut input) {
        Ok(mut c) => {
            if !stateful {
                if let Some(w) = correlations_warning(&c.plan) {
                    warn!(
                        message = "correlations_not_evaluated",
                        config = name,
                        warning = w.as_str()
                    );
                }
                // No correlation runs here: every rule alerts on its own.
                for r in &mut c.plan.rules {
                    r.config.meta.correlation_only = false;
                }
                let noisy: Vec<String> = c
                    .plan
                    .rules
                    .iter()
                    .filter(|r| r.config.noise.any())
                    .map(|r| r.config.display_name())
                    .collect();
                if !noisy.is_empty() {
                    warn!(
                        message = "noise_state_in_process",
                        config = name,
                        rules_json = serde_json::to_string(&noisy).unwrap_or_default().as_str(),
                        help = "these rules' dedup, threshold and cooldown windows are kept in this execution environment only (concurrent and later environments start empty); set TATTLETAIL_STATE_TABLE (the template's NoiseControl=Enabled) to share them"
                    );
                }
            }
            if !c.warnings.is_empty() {
                warn!(
                    message = "config_warnings",
                    config = name,
                    warnings = render_all(&c.warnings, name, source).as_str()
                );
            }
            info!(
                message = "config_loaded",
                config = name,
                rules = c.plan.rules.len() as u64,
                destinations = c.plan.destinations.len() as u64,
                compile_ms = started.elapsed().as_secs_f64() * 1000.0
            );
            Ok(Arc::new(c))
        }
        Err(diags) => Err(ConfigError::Invalid {
            name: name.to_string(),
            count: diags.len(),
            rendered: render_all(&diags, name, source),
        }),
    }
}

/// The warning logged when a config has correlation rules, naming them.
pub fn correlations_warning(plan: &Plan) -> Option<String> {
    if plan.correlations.is_empty() {
        return None;
    }
    let titles: Vec<String> = plan
        .correlations
        .iter()
        .map(|c| format!("`{}`", c.display_name()))
        .collect();
    Some(format!(
        "{} Sigma correlation rule{} not evaluated: {}. Correlations need the state table \
         (TATTLETAIL_STATE_TABLE; the template's NoiseControl=Enabled) in the Lambda; without it \
         the rules they correlate alert on their own",
        titles.len(),
        if titles.len() == 1 { " is" } else { "s are" },
        titles.join(", ")
    ))
}

/// The S3 key of a `[[sigma]]` path for a config at `config_key`: the path
/// relative to the config key's prefix (`./` and `..` resolved; going above
/// the bucket's root is an error). A key ending in `/` (or empty) is a
/// prefix.
pub fn sigma_key(config_key: &str, path: &str) -> Result<String, String> {
    let mut parts: Vec<&str> = config_key.split('/').collect();
    parts.pop(); // the config's own name
    if path.starts_with('/') {
        parts.clear();
    }
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(format!(
                        "`{path}` goes above the bucket's root from the config key `{config_key}`"
                    ));
                }
            }
            s => parts.push(s),
        }
    }
    let mut key = parts.join("/");
    let last = path.rsplit('/').next().unwrap_or("");
    if matches!(last, "" | "." | "..") && !key.is_empty() {
        key.push('/');
    }
    Ok(key)
}

/// The `[[sigma]]` paths a config names (the config is parsed, its jq is
/// not compiled: that happens once, with the files).
fn sigma_paths(source: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut record = |p: &str| -> Result<Vec<SigmaFile>, String> {
        paths.push(p.to_string());
        Ok(Vec::new())
    };
    let _ = tattletail_compiler::config::parse_with(source, &mut SigmaInput::none(&mut record));
    paths
}

/// Read the Sigma files of an S3 config's `[[sigma]]` tables, each path's
/// files or why they could not be read; `budget` is what is left of
/// [`MAX_CONFIG_BYTES`] after the config.
async fn s3_sigma(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    config_key: &str,
    source: &str,
    name: &str,
    mut budget: u64,
) -> Result<HashMap<String, Result<Vec<SigmaFile>, String>>, ConfigError> {
    let mut out = HashMap::new();
    for path in sigma_paths(source) {
        if out.contains_key(&path) {
            continue;
        }
        let key = match sigma_key(config_key, &path) {
            Ok(k) => k,
            Err(e) => {
                out.insert(path, Err(e));
                continue;
            }
        };
        let keys = if is_rule_file(&key) {
            vec![key.clone()]
        } else {
            let prefix = if key.is_empty() || key.ends_with('/') {
                key.clone()
            } else {
                format!("{key}/")
            };
            match crate::s3::list(s3, bucket, &prefix).await {
                Ok(objects) => {
                    let mut keys: Vec<String> = objects
                        .into_iter()
                        .map(|o| o.key)
                        .filter(|k| is_rule_file(k))
                        .collect();
                    keys.sort();
                    keys
                }
                Err(e) => {
                    out.insert(path, Err(e.to_string()));
                    continue;
                }
            }
        };
        let mut files = Vec::new();
        let mut failed = None;
        for k in keys {
            let url = format!("s3://{bucket}/{k}");
            let got = match s3.get_object().bucket(bucket).key(&k).send().await {
                Ok(o) => read_capped(o.body, budget).await,
                Err(e) => {
                    failed = Some(format!("{url}: {}", crate::s3::describe_error(&e)));
                    break;
                }
            };
            match got {
                Ok(bytes) => {
                    budget -= bytes.len() as u64;
                    match String::from_utf8(bytes) {
                        Ok(text) => files.push(SigmaFile {
                            name: url,
                            text,
                            ..Default::default()
                        }),
                        Err(e) => {
                            failed = Some(format!("{url}: not UTF-8 text: {e}"));
                            break;
                        }
                    }
                }
                Err(Capped::TooLarge(_)) => {
                    return Err(too_large(
                        name,
                        format!(
                            "more than {MAX_CONFIG_BYTES} bytes with its Sigma files (at {url})"
                        ),
                    ))
                }
                Err(Capped::Read(e)) => {
                    failed = Some(format!("{url}: reading the body failed: {e}"));
                    break;
                }
            }
        }
        out.insert(path, failed.map_or(Ok(files), Err));
    }
    Ok(out)
}

/// The result of compiling one version of the config.
type Loaded = Result<Arc<Compiled>, ConfigError>;

/// The cached plan and where it came from.
pub struct ConfigCache {
    location: ConfigLocation,
    /// There is a state table: correlations are evaluated.
    stateful: bool,
    /// ETag (S3) and the result of compiling that version.
    current: Option<(Option<String>, Loaded)>,
}

impl ConfigCache {
    /// An empty cache for `location`; `stateful`: there is a state table
    /// (correlations are evaluated).
    pub fn new(location: ConfigLocation, stateful: bool) -> ConfigCache {
        ConfigCache {
            location,
            stateful,
            current: None,
        }
    }

    /// Where the config comes from.
    pub fn location(&self) -> &ConfigLocation {
        &self.location
    }

    /// The plan to use for this invocation.
    pub async fn get(&mut self, s3: &aws_sdk_s3::Client) -> Result<Arc<Compiled>, ConfigError> {
        let name = self.location.name();
        match self.location.clone() {
            ConfigLocation::File(path) => {
                if self.current.is_none() {
                    let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                    let result = match std::fs::read_to_string(&path) {
                        _ if len > MAX_CONFIG_BYTES => {
                            Err(too_large(&name, format!("{len} bytes")))
                        }
                        Ok(text) => {
                            let dir = path.parent().map(PathBuf::from).unwrap_or_default();
                            let mut resolve = |rel: &str| {
                                tattletail_runtime::sigma_files::read(&dir.join(rel))
                                    .map_err(|e| e.to_string())
                            };
                            compile(&name, &text, &mut resolve, self.stateful)
                        }
                        Err(e) => Err(ConfigError::Unreadable {
                            name: name.clone(),
                            message: format!(
                                "{e} (bundle tattletail.toml with the function, or set \
                                 S3_CONFIG_BUCKET and S3_CONFIG_PATH)"
                            ),
                        }),
                    };
                    // A missing file may be a transient deployment state:
                    // only a successful or invalid read is cached.
                    if !matches!(result, Err(ConfigError::Unreadable { .. })) {
                        self.current = Some((None, result.clone()));
                    }
                    return result;
                }
            }
            ConfigLocation::S3 { bucket, key } => {
                let etag = self.current.as_ref().and_then(|(e, _)| e.clone());
                let mut req = s3.get_object().bucket(&bucket).key(&key);
                if let Some(e) = &etag {
                    req = req.if_none_match(e);
                }
                match req.send().await {
                    Ok(out) => {
                        let new_etag = out.e_tag().map(String::from);
                        let declared = out.content_length().and_then(|n| u64::try_from(n).ok());
                        let result = match declared {
                            // Not read at all: the body is dropped unread.
                            Some(n) if n > MAX_CONFIG_BYTES => {
                                Err(too_large(&name, format!("{n} bytes")))
                            }
                            _ => match read_capped(out.body, MAX_CONFIG_BYTES).await {
                                Ok(bytes) => match std::str::from_utf8(&bytes) {
                                    Ok(text) => {
                                        let budget = MAX_CONFIG_BYTES - bytes.len() as u64;
                                        match s3_sigma(s3, &bucket, &key, text, &name, budget).await
                                        {
                                            Ok(files) => {
                                                let mut resolve = |p: &str| {
                                                    files.get(p).cloned().unwrap_or_else(|| {
                                                        Err("not read".to_string())
                                                    })
                                                };
                                                compile(&name, text, &mut resolve, self.stateful)
                                            }
                                            Err(e) => Err(e),
                                        }
                                    }
                                    Err(e) => Err(ConfigError::Unreadable {
                                        name: name.clone(),
                                        message: format!("not UTF-8 text: {e}"),
                                    }),
                                },
                                Err(Capped::TooLarge(read)) => {
                                    Err(too_large(&name, format!("more than {read} bytes")))
                                }
                                Err(Capped::Read(e)) => Err(ConfigError::Unreadable {
                                    name: name.clone(),
                                    message: format!("reading the body failed: {e}"),
                                }),
                            },
                        };
                        if !matches!(result, Err(ConfigError::Unreadable { .. })) {
                            self.current = Some((new_etag, result.clone()));
                        }
                        return result;
                    }
                    Err(e) if status(&e) == Some(304) => {
                        info!(message = "config_unchanged", config = name.as_str());
                    }
                    Err(e) => {
                        let message = crate::s3::describe_error(&e);
                        match &self.current {
                            // Keep alerting with the last good rules rather
                            // than fail while S3 hiccups.
                            Some((_, Ok(plan))) => {
                                warn!(
                                    message = "config_refresh_failed",
                                    config = name.as_str(),
                                    error = message.as_str(),
                                    using = "the previously loaded config"
                                );
                                return Ok(plan.clone());
                            }
                            _ => return Err(ConfigError::Unreadable { name, message }),
                        }
                    }
                }
            }
        }
        match &self.current {
            Some((_, r)) => r.clone(),
            None => unreachable!("the cache is filled above"),
        }
    }
}

fn too_large(name: &str, size: String) -> ConfigError {
    ConfigError::TooLarge {
        name: name.to_string(),
        size,
        limit: MAX_CONFIG_BYTES,
    }
}

/// Why [`read_capped`] gave up.
#[derive(Debug)]
enum Capped {
    /// More than the cap: this many bytes had arrived.
    TooLarge(u64),
    /// The stream failed.
    Read(String),
}

/// The whole body, unless it is longer than `cap` bytes: reading stops as
/// soon as it is (whatever `Content-Length` said).
async fn read_capped(mut body: ByteStream, cap: u64) -> Result<Vec<u8>, Capped> {
    let mut out = Vec::new();
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| Capped::Read(crate::aws::error_chain(&e)))?
    {
        let total = (out.len() + chunk.len()) as u64;
        if total > cap {
            return Err(Capped::TooLarge(total));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

fn status<E>(e: &SdkError<E>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_are_capped_whatever_the_declared_length() {
        let body = ByteStream::from(vec![b'#'; 100]);
        assert_eq!(read_capped(body, 100).await.unwrap().len(), 100);
        let body = ByteStream::from(vec![b'#'; 101]);
        assert!(matches!(
            read_capped(body, 100).await,
            Err(Capped::TooLarge(101))
        ));
        let e = too_large("s3://b/tattletail.toml", "more than 101 bytes".into()).to_string();
        assert!(
            e.starts_with("the config s3://b/tattletail.toml is too large: more than 101 bytes, more than the limit of 16777216 bytes"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_bundled_file_over_the_limit_is_not_read() {
        let dir =
            std::env::temp_dir().join(format!("tattletail-config-size-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tattletail.toml");
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(MAX_CONFIG_BYTES + 1).unwrap();
        let mut cache = ConfigCache::new(ConfigLocation::File(path.clone()), false);
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::Config::builder()
                .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                .build(),
        );
        let err = cache.get(&s3).await.unwrap_err();
        assert!(matches!(err, ConfigError::TooLarge { .. }), "{err}");
        assert!(err.to_string().contains("16777217 bytes"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sigma_paths_are_keys_under_the_config_prefix() {
        let k = |c: &str, p: &str| sigma_key(c, p);
        assert_eq!(
            k("conf/prod/tattletail.toml", "sigma/aws"),
            Ok("conf/prod/sigma/aws".into())
        );
        assert_eq!(
            k("conf/prod/tattletail.toml", "./sigma/x.yml"),
            Ok("conf/prod/sigma/x.yml".into())
        );
        assert_eq!(
            k("conf/prod/tattletail.toml", "../shared/"),
            Ok("conf/shared/".into())
        );
        assert_eq!(k("tattletail.toml", "rules"), Ok("rules".into()));
        assert_eq!(k("tattletail.toml", "."), Ok(String::new()));
        assert_eq!(k("conf/tattletail.toml", "."), Ok("conf/".into()));
        assert!(k("tattletail.toml", "../x").is_err());
        assert_eq!(k("conf/t.toml", "/abs/r.yaml"), Ok("abs/r.yaml".into()));
        assert!(is_rule_file("a/b.yml") && is_rule_file("b.yaml") && !is_rule_file("b.json"));
    }

    #[test]
    fn a_bundled_config_loads_its_sigma_rules_and_warns_of_correlations() {
        let dir =
            std::env::temp_dir().join(format!("tattletail-config-sigma-{}", std::process::id()));
        let rules = dir.join("sigma");
        std::fs::create_dir_all(&rules).unwrap();
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/sigma/correlation");
        for f in ["login_failed.yml", "brute_force.yml"] {
            std::fs::copy(format!("{src}/{f}"), rules.join(f)).unwrap();
        }
        let path = dir.join("tattletail.toml");
        std::fs::write(&path, "[[sigma]]\npath = \"sigma\"\n").unwrap();
        let mut resolve = |rel: &str| {
            tattletail_runtime::sigma_files::read(&dir.join(rel)).map_err(|e| e.to_string())
        };
        let c = compile(
            "tattletail.toml",
            "[[sigma]]\npath = \"sigma\"\n",
            &mut resolve,
            false,
        )
        .unwrap();
        assert_eq!(c.plan.rules.len(), 1);
        assert_eq!(c.plan.correlations.len(), 1);
        assert!(
            !c.plan.rules[0].config.meta.correlation_only,
            "the correlated rule alerts on its own in the Lambda"
        );
        let w = correlations_warning(&c.plan).unwrap();
        assert!(
            w.starts_with("1 Sigma correlation rule is not evaluated: `AWS Console Brute Force`"),
            "{w}"
        );
        assert!(w.contains("TATTLETAIL_STATE_TABLE"), "{w}");
        // With a state table the correlation runs and its rule only feeds it.
        let c = compile(
            "tattletail.toml",
            "[[sigma]]\npath = \"sigma\"\n",
            &mut resolve,
            true,
        )
        .unwrap();
        assert!(c.plan.rules[0].config.meta.correlation_only);
        let plain = compile("t.toml", "", &mut |_: &str| Ok(Vec::new()), false).unwrap();
        assert_eq!(correlations_warning(&plain.plan), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn location_follows_upstream_precedence() {
        let env = |pairs: Vec<(&'static str, &'static str)>| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            ConfigLocation::from_env(env(vec![
                ("S3_CONFIG_BUCKET", "b"),
                ("S3_CONFIG_PATH", "k.toml"),
                ("LAMBDA_TASK_ROOT", "/var/task")
            ])),
            ConfigLocation::S3 {
                bucket: "b".into(),
                key: "k.toml".into()
            }
        );
        // Only one of the two: the bundled file, as upstream.
        assert_eq!(
            ConfigLocation::from_env(env(vec![
                ("S3_CONFIG_BUCKET", "b"),
                ("LAMBDA_TASK_ROOT", "/var/task")
            ])),
            ConfigLocation::File("/var/task/tattletail.toml".into())
        );
    }
}
