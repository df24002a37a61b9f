//! Reading Sigma rule files from disk for the compiler, which does no IO:
//! a file itself, or every `.yml` and `.yaml` file under a directory
//! (recursively, sorted by path). Shared by the CLI (`[[sigma]]` tables
//! and `--sigma`) and the Lambda (a bundled config's `[[sigma]]` tables).

use std::io;
use std::path::Path;

use tattletail_compiler::sigma::SigmaFile;

/// Is `name` a Sigma rule file name (`.yml` or `.yaml`)?
pub fn is_rule_file(name: &str) -> bool {
    name.ends_with(".yml") || name.ends_with(".yaml")
}

/// The Sigma rule files at `path`: the file itself, or every `.yml` and
/// `.yaml` file under the directory (recursively, sorted by path).
pub fn read(path: &Path) -> io::Result<Vec<SigmaFile>> {
    let file = |p: &Path| -> io::Result<SigmaFile> {
        Ok(SigmaFile {
            name: p.display().to_string(),
            text: std::fs::read_to_string(p)?,
        })
    };
    if !std::fs::metadata(path)?.is_dir() {
        return Ok(vec![file(path)?]);
    }
    let mut found = Vec::new();
    let mut dirs = vec![path.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d)? {
            let p = entry?.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                found.push(p);
            }
        }
    }
    found.sort();
    found.iter().map(|p| file(p)).collect()
}
