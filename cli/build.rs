//! Records the git commit the binary was built from, for `--version`
//! (`unknown` outside a git checkout, e.g. a crates.io download).

use std::process::Command;

fn main() {
    let hash = Command::new("git")
        .args(["rev-parse", "--short=9", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .is_some_and(|o| !o.stdout.is_empty());
    let hash = if dirty && hash != "unknown" {
        format!("{hash}-modified")
    } else {
        hash
    };
    println!("cargo:rustc-env=TATTLETAIL_GIT_HASH={hash}");
    // A new commit changes HEAD (a branch) or the ref it points at.
    for path in ["../.git/HEAD", "../.git/index"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
