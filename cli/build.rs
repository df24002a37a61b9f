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
    // A new commit changes HEAD or the branch it points at; a change to
    // the work tree changes the index. Asked of git, so that a worktree
    // (whose HEAD is elsewhere) is followed too.
    let git_path = |p: &str| {
        Command::new("git")
            .args(["rev-parse", "--path-format=absolute", "--git-path", p])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_string())
    };
    let branch = Command::new("git")
        .args(["symbolic-ref", "-q", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string());
    let watched = ["HEAD".to_string(), "index".to_string()]
        .into_iter()
        .chain(branch);
    for p in watched {
        if let Some(path) = git_path(&p).filter(|p| std::path::Path::new(p).exists()) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
