//! Reading Sigma rule files from disk for the compiler, which does no IO:
//! a file itself, or every `.yml` and `.yaml` file under a directory
//! (recursively, sorted by path). Shared by the CLI (`[[sigma]]` tables
//! and `--sigma`) and the Lambda (a bundled config's `[[sigma]]` tables).

use std::io;
use std::path::Path;

use tattletail_compiler::sigma::{SigmaFile, SigmaTests};

/// Is `name` a Sigma rule file name (`.yml` or `.yaml`)?
pub fn is_rule_file(name: &str) -> bool {
    name.ends_with(".yml") || name.ends_with(".yaml")
}

/// The Sigma rule files at `path`: the file itself, or every `.yml` and
/// `.yaml` file under the directory (recursively, sorted by path), each
/// with its tests file (`<stem>_tests.json` next to it) when there is one.
pub fn read(path: &Path) -> io::Result<Vec<SigmaFile>> {
    let file = |p: &Path| -> io::Result<SigmaFile> {
        let name = p.display().to_string();
        Ok(SigmaFile {
            tests: tests(&name)?,
            text: std::fs::read_to_string(p)?,
            name,
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

/// The tests file of the Sigma rule file `name`, if it has one (a
/// regular file; one that cannot be read is an error).
fn tests(name: &str) -> io::Result<Option<SigmaTests>> {
    let Some(tests) = SigmaTests::name_for(name) else {
        return Ok(None);
    };
    match std::fs::metadata(&tests) {
        Ok(m) if m.is_file() => Ok(Some(SigmaTests {
            text: std::fs::read_to_string(&tests)?,
            name: tests,
        })),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}
