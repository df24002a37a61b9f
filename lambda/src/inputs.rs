//! The CLI's inputs: local files and directories, stdin, and `s3://`
//! URLs (listed by [`crate::remote`] when built with the `aws` feature).

use std::path::{Path, PathBuf};

/// One thing to scan, as the user named it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A local file.
    File(PathBuf),
    /// Standard input (`-`).
    Stdin,
    /// Every object under an `s3://bucket/prefix`.
    S3(String),
}

/// Expand the command-line arguments: files as given, directories
/// recursively (sorted; hidden entries skipped; only `*.json` and `*.gz`),
/// `-` for stdin, `s3://` URLs kept for listing.
pub fn expand(args: &[String]) -> Result<Vec<Input>, String> {
    let mut out = Vec::new();
    for a in args {
        if a == "-" {
            out.push(Input::Stdin);
        } else if a.starts_with("s3://") {
            out.push(Input::S3(a.clone()));
        } else {
            collect(Path::new(a), &mut out)?;
        }
    }
    Ok(out)
}

fn collect(p: &Path, out: &mut Vec<Input>) -> Result<(), String> {
    if !p.is_dir() {
        // A missing file is reported when it is opened (exit status 1).
        out.push(Input::File(p.to_path_buf()));
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
        .map_err(|e| format!("cannot list {}: {e}", p.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|e| {
            !e.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    entries.sort();
    for e in entries {
        if e.is_dir() {
            collect(&e, out)?;
        } else {
            let n = e
                .file_name()
                .map(|n| n.to_string_lossy().to_lowercase())
                .unwrap_or_default();
            if n.ends_with(".json") || n.ends_with(".gz") {
                out.push(Input::File(e));
            }
        }
    }
    Ok(())
}
