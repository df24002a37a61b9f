//! Limits on what one input may cost, shared by the CLI and the Lambda:
//! the maximum record size (`--max-record-size`, or the environment
//! variable `TATTLETAIL_MAX_RECORD_BYTES`; default 64 MiB). A larger
//! record is skipped and reported; the rest of its file is read.

use std::sync::OnceLock;

use tattletail_runtime::reader::{parse_size, DEFAULT_MAX_RECORD};

/// The environment variable that sets the maximum record size.
pub const MAX_RECORD_ENV: &str = "TATTLETAIL_MAX_RECORD_BYTES";

static MAX_RECORD: OnceLock<usize> = OnceLock::new();

/// Set the maximum record size for this process (the CLI's flag); the
/// first setting wins.
pub fn set_max_record_size(bytes: usize) {
    let _ = MAX_RECORD.set(bytes);
}

/// The maximum record size: as set, else from the environment, else the
/// default. An unusable environment value is an error naming the variable.
pub fn max_record_size() -> Result<usize, String> {
    if let Some(n) = MAX_RECORD.get() {
        return Ok(*n);
    }
    match std::env::var(MAX_RECORD_ENV) {
        Ok(v) => parse_size(&v).map_err(|e| format!("{MAX_RECORD_ENV}: {e}")),
        Err(_) => Ok(DEFAULT_MAX_RECORD),
    }
}
