//! The CLI's inputs: local files and directories, stdin, and `s3://`
//! URLs (listed by [`crate::remote`] when built with the `aws` feature).
//!
//! Directories are walked without recursion (a tree of any depth cannot
//! overflow the stack), in name order, and every file and directory is
//! identified by its device and inode: a file reachable by two paths
//! (symbolic links, hard links, a path named twice) is scanned once, and a
//! symbolic link back to a directory being walked is reported once and
//! not followed. Only regular files are taken from a walk: a FIFO, socket
//! or device found there is skipped with a [`Report`] saying what it is
//! (opening a FIFO would wait forever for a writer), and found files are
//! opened without blocking and checked again ([`open`]). A path named on
//! the command line is read as it is, so a FIFO or `/dev/stdin` is read as
//! a stream. A directory or entry that cannot be read is a [`Problem`]:
//! reported with its OS error, and the rest is walked.

use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File, Metadata};
use std::io;
use std::path::{Path, PathBuf};

use tattletail_compiler::escape::escape;

/// One thing to scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A path named on the command line (not a directory): opened as it
    /// is, so a FIFO or a character device is read as a stream, and a
    /// missing file is reported when it is opened.
    File(PathBuf),
    /// A regular file found by walking a directory.
    Found(PathBuf, FileId),
    /// Standard input (`-`).
    Stdin,
    /// Every object under an `s3://bucket/prefix`.
    S3(String),
}

impl Input {
    /// The name shown in alerts and messages.
    pub fn label(&self) -> String {
        match self {
            Input::File(p) | Input::Found(p, _) => p.display().to_string(),
            Input::Stdin => "<stdin>".to_string(),
            Input::S3(url) => url.clone(),
        }
    }
}

/// What identifies a file whatever the path to it: device and inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    #[cfg(unix)]
    fn of(meta: &Metadata) -> FileId {
        use std::os::unix::fs::MetadataExt;
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }

    #[cfg(not(unix))]
    fn of(_: &Metadata) -> FileId {
        // No inodes: every path is its own file (no deduplication).
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        FileId {
            dev: 0,
            ino: NEXT.fetch_add(1, Ordering::Relaxed),
        }
    }
}

/// Something the walk left out on purpose (the scan is still complete).
#[derive(Debug)]
pub enum Report {
    /// A FIFO, socket or device found in a directory.
    NotRegular {
        /// Where.
        path: PathBuf,
        /// What it is ("a FIFO (named pipe)", …).
        kind: &'static str,
    },
    /// A symbolic link to a directory that is being walked (a loop).
    Loop {
        /// The link.
        path: PathBuf,
        /// The directory it leads back to.
        target: PathBuf,
    },
    /// A file or directory already reached by another path.
    Duplicate {
        /// The second path.
        path: PathBuf,
        /// The first one, which is scanned.
        first: PathBuf,
        /// A directory rather than a file.
        dir: bool,
    },
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Report::NotRegular { path, kind } => write!(
                f,
                "skipped {}: {kind}, not a regular file; only regular files are read from a \
                 directory (name it on the command line to read it as a stream)",
                shown(path)
            ),
            Report::Loop { path, target } => write!(
                f,
                "skipped {}: symbolic link loop (it leads back to {}, which is being scanned)",
                shown(path),
                shown(target)
            ),
            Report::Duplicate { path, first, dir } => write!(
                f,
                "skipped {}: the same {} as {}, scanned once",
                shown(path),
                if *dir { "directory" } else { "file" },
                shown(first)
            ),
        }
    }
}

/// An input that cannot be scanned: counted as unreadable (exit status 1).
#[derive(Debug)]
pub enum Problem {
    /// A directory that cannot be listed (or whose listing failed midway).
    List {
        /// The directory.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// An entry whose type cannot be found out (a broken or looping
    /// symbolic link, a permission problem).
    Examine {
        /// The entry.
        path: PathBuf,
        /// It is a symbolic link.
        symlink: bool,
        /// Why.
        error: io::Error,
    },
    /// A directory named on the command line without a single `*.json` or
    /// `*.gz` file in it.
    NoLogs {
        /// The directory.
        path: PathBuf,
        /// Other files seen in it.
        ignored: usize,
    },
}

impl Problem {
    /// The path concerned.
    pub fn path(&self) -> &Path {
        match self {
            Problem::List { path, .. }
            | Problem::Examine { path, .. }
            | Problem::NoLogs { path, .. } => path,
        }
    }

    /// Why, without the path (for the summary's counts).
    pub fn reason(&self) -> String {
        match self {
            Problem::List { error, .. } => format!("cannot list the directory: {error}"),
            Problem::Examine {
                symlink: true,
                error,
                ..
            } => format!("cannot follow the symbolic link: {error}"),
            Problem::Examine { error, .. } => format!("cannot examine it: {error}"),
            Problem::NoLogs { ignored, .. } => format!(
                "no *.json or *.gz file in this directory or below{}",
                match ignored {
                    0 => String::new(),
                    1 => " (1 other file ignored)".to_string(),
                    n => format!(" ({n} other files ignored)"),
                }
            ),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            Problem::NoLogs { .. } => "nothing to scan in",
            _ => "unreadable",
        };
        write!(f, "{what} {}: {}", shown(self.path()), self.reason())
    }
}

/// The expanded command line.
#[derive(Debug, Default)]
pub struct Expanded {
    /// What to scan, in order, each file once.
    pub inputs: Vec<Input>,
    /// What was left out on purpose, in walk order.
    pub reports: Vec<Report>,
    /// What could not be read, in walk order.
    pub problems: Vec<Problem>,
}

/// A path as shown in a message: escaped (and lossy when not UTF-8).
fn shown(p: &Path) -> String {
    escape(&p.to_string_lossy()).into_owned()
}

/// Expand the command-line arguments: paths as given, directories
/// recursively (sorted; hidden entries skipped; only regular `*.json` and
/// `*.gz` files), `-` for stdin, `s3://` URLs kept for listing.
pub fn expand(args: &[String]) -> Expanded {
    let mut w = Walk::default();
    for a in args {
        if a == "-" {
            if !w.stdin {
                w.stdin = true;
                w.out.inputs.push(Input::Stdin);
            }
        } else if a.starts_with("s3://") {
            w.out.inputs.push(Input::S3(a.clone()));
        } else {
            w.named(Path::new(a));
        }
    }
    w.out
}

#[derive(Default)]
struct Walk {
    out: Expanded,
    stdin: bool,
    /// Every directory entered, and the path it was first reached by.
    dirs: HashMap<FileId, PathBuf>,
    /// Every file taken, and its first path.
    files: HashMap<FileId, PathBuf>,
    /// Candidate files (`*.json`, `*.gz`) seen in the current walk.
    candidates: usize,
    /// Other files seen in the current walk.
    ignored: usize,
}

/// A directory being walked.
struct Frame {
    path: PathBuf,
    id: FileId,
    entries: std::vec::IntoIter<PathBuf>,
}

impl Walk {
    /// A path from the command line.
    fn named(&mut self, p: &Path) {
        let meta = match fs::metadata(p) {
            Ok(m) => m,
            // Reported in order when it is opened.
            Err(_) => return self.out.inputs.push(Input::File(p.to_path_buf())),
        };
        if meta.is_dir() {
            return self.walk(p, &meta);
        }
        let id = FileId::of(&meta);
        match self.files.get(&id) {
            Some(first) => self.out.reports.push(Report::Duplicate {
                path: p.to_path_buf(),
                first: first.clone(),
                dir: false,
            }),
            None => {
                self.files.insert(id, p.to_path_buf());
                self.out.inputs.push(Input::File(p.to_path_buf()));
            }
        }
    }

    /// A directory from the command line, walked depth first in name order.
    fn walk(&mut self, root: &Path, meta: &Metadata) {
        let id = FileId::of(meta);
        if let Some(first) = self.dirs.get(&id) {
            return self.out.reports.push(Report::Duplicate {
                path: root.to_path_buf(),
                first: first.clone(),
                dir: true,
            });
        }
        self.candidates = 0;
        self.ignored = 0;
        let problems = self.out.problems.len();
        let mut stack: Vec<Frame> = Vec::new();
        self.enter(root, id, &mut stack);
        while let Some(top) = stack.last_mut() {
            let Some(entry) = top.entries.next() else {
                stack.pop();
                continue;
            };
            self.entry(entry, &mut stack);
        }
        if self.candidates == 0 && self.out.problems.len() == problems {
            self.out.problems.push(Problem::NoLogs {
                path: root.to_path_buf(),
                ignored: self.ignored,
            });
        }
    }

    /// List a directory and push it on the stack.
    fn enter(&mut self, dir: &Path, id: FileId, stack: &mut Vec<Frame>) {
        self.dirs.insert(id, dir.to_path_buf());
        let listing = match fs::read_dir(dir) {
            Ok(l) => l,
            Err(error) => {
                return self.out.problems.push(Problem::List {
                    path: dir.to_path_buf(),
                    error,
                })
            }
        };
        let mut entries = Vec::new();
        for e in listing {
            match e {
                Ok(e) => {
                    if !e.file_name().to_string_lossy().starts_with('.') {
                        entries.push(e.path());
                    }
                }
                Err(error) => {
                    // The rest of the listing may be lost: say so, keep
                    // what was listed.
                    self.out.problems.push(Problem::List {
                        path: dir.to_path_buf(),
                        error,
                    });
                    break;
                }
            }
        }
        entries.sort();
        stack.push(Frame {
            path: dir.to_path_buf(),
            id,
            entries: entries.into_iter(),
        });
    }

    /// One directory entry.
    fn entry(&mut self, path: PathBuf, stack: &mut Vec<Frame>) {
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            Err(error) => {
                let symlink = fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
                return self.out.problems.push(Problem::Examine {
                    path,
                    symlink,
                    error,
                });
            }
        };
        let id = FileId::of(&meta);
        if meta.is_dir() {
            if let Some(f) = stack.iter().find(|f| f.id == id) {
                let target = f.path.clone();
                return self.out.reports.push(Report::Loop { path, target });
            }
            if let Some(first) = self.dirs.get(&id) {
                let first = first.clone();
                return self.out.reports.push(Report::Duplicate {
                    path,
                    first,
                    dir: true,
                });
            }
            return self.enter(&path, id, stack);
        }
        if !is_candidate(&path) {
            self.ignored += 1;
            return;
        }
        self.candidates += 1;
        if !meta.is_file() {
            let kind = kind_of(&meta);
            return self.out.reports.push(Report::NotRegular { path, kind });
        }
        match self.files.get(&id) {
            Some(first) => {
                let first = first.clone();
                self.out.reports.push(Report::Duplicate {
                    path,
                    first,
                    dir: false,
                })
            }
            None => {
                self.files.insert(id, path.clone());
                self.out.inputs.push(Input::Found(path, id));
            }
        }
    }
}

/// `*.json` or `*.gz`, any case.
fn is_candidate(path: &Path) -> bool {
    let n = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    n.ends_with(".json") || n.ends_with(".gz")
}

/// What a file that is not a regular file or a directory is.
fn kind_of(meta: &Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
    }
    let _ = meta;
    "a special file"
}

/// Open a local input. A file named on the command line is opened as it
/// is (a FIFO waits for its writer: that is what naming it asks for). A
/// file found in a directory is opened without blocking and must still be
/// a regular file: one replaced by a FIFO or a device since the walk is
/// refused instead of hanging the scan.
pub fn open(input: &Input) -> io::Result<File> {
    match input {
        Input::File(path) => File::open(path),
        Input::Found(path, _) => {
            let file = open_nonblocking(path)?;
            let meta = file.metadata()?;
            if !meta.is_file() {
                return Err(io::Error::other(format!(
                    "{} now, no longer a regular file; not read",
                    kind_of(&meta)
                )));
            }
            Ok(file)
        }
        Input::Stdin | Input::S3(_) => Err(io::Error::other("not a local file")),
    }
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK makes no difference to reading a regular file.
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    File::open(path)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A fresh directory for one test.
    fn tmp(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("tattletail-inputs-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn args(dir: &Path, names: &[&str]) -> Vec<String> {
        names
            .iter()
            .map(|n| dir.join(n).display().to_string())
            .collect()
    }

    fn found(e: &Expanded, dir: &Path) -> Vec<String> {
        e.inputs
            .iter()
            .map(|i| {
                i.label()
                    .strip_prefix(&format!("{}/", dir.display()))
                    .unwrap_or(&i.label())
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn a_symlink_loop_is_reported_once_and_every_file_taken_once() {
        let d = tmp("loop");
        fs::create_dir_all(d.join("logs/sub")).unwrap();
        fs::write(d.join("logs/a.json"), "{}").unwrap();
        fs::write(d.join("logs/sub/b.json"), "{}").unwrap();
        symlink("..", d.join("logs/sub/up")).unwrap();
        symlink(".", d.join("logs/self")).unwrap();
        let e = expand(&args(&d, &["logs"]));
        assert_eq!(found(&e, &d), ["logs/a.json", "logs/sub/b.json"]);
        assert_eq!(e.reports.len(), 2, "{:?}", e.reports);
        assert!(e.reports.iter().all(|r| matches!(r, Report::Loop { .. })));
        assert!(e.problems.is_empty(), "{:?}", e.problems);
        let text = e.reports[0].to_string();
        assert!(text.contains("symbolic link loop"), "{text}");
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn one_file_by_two_paths_is_taken_once() {
        let d = tmp("twice");
        fs::create_dir_all(d.join("real")).unwrap();
        fs::create_dir_all(d.join("links")).unwrap();
        fs::write(d.join("real/a.json"), "{}").unwrap();
        symlink("../real/a.json", d.join("links/one.json")).unwrap();
        symlink("../real/a.json", d.join("links/two.json")).unwrap();
        fs::hard_link(d.join("real/a.json"), d.join("links/three.json")).unwrap();
        symlink("real", d.join("again")).unwrap();
        let e = expand(&args(&d, &["links", "real", "again", "real/a.json"]));
        assert_eq!(found(&e, &d), ["links/one.json"]);
        assert_eq!(e.reports.len(), 5, "{:?}", e.reports);
        assert!(e.problems.is_empty(), "{:?}", e.problems);
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn special_files_in_a_directory_are_skipped_named_ones_are_streams() {
        let d = tmp("special");
        fs::write(d.join("a.json"), "{}").unwrap();
        let fifo = d.join("p.json");
        let ok = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(ok.success());
        let _sock = std::os::unix::net::UnixListener::bind(d.join("s.json")).unwrap();
        symlink("/dev/zero", d.join("zero.json")).unwrap();
        let e = expand(&args(&d, &["."]));
        assert_eq!(e.inputs.len(), 1, "{:?}", e.inputs);
        let kinds: Vec<&str> = e
            .reports
            .iter()
            .map(|r| match r {
                Report::NotRegular { kind, .. } => *kind,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            ["a FIFO (named pipe)", "a socket", "a character device"]
        );
        // Named, the FIFO is an input read as a stream.
        let named = expand(&args(&d, &["p.json"]));
        assert_eq!(named.inputs, [Input::File(fifo.clone())]);
        // Found, then replaced by a FIFO: refused without blocking.
        let Input::Found(path, id) = e.inputs[0].clone() else {
            panic!()
        };
        fs::remove_file(&path).unwrap();
        std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap();
        let err = open(&Input::Found(path, id)).unwrap_err();
        assert!(err.to_string().contains("a FIFO (named pipe) now"), "{err}");
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn unreadable_entries_are_problems_and_the_rest_is_walked() {
        let d = tmp("unreadable");
        fs::create_dir_all(d.join("logs/ok")).unwrap();
        fs::write(d.join("logs/ok/a.json"), "{}").unwrap();
        symlink("missing", d.join("logs/dangling.json")).unwrap();
        symlink("self", d.join("logs/self")).unwrap();
        let e = expand(&args(&d, &["logs"]));
        assert_eq!(found(&e, &d), ["logs/ok/a.json"]);
        let texts: Vec<String> = e.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(texts.len(), 2, "{texts:?}");
        assert!(texts[0].contains("dangling.json: cannot follow the symbolic link: No such file"));
        assert!(texts[1].contains("self: cannot follow the symbolic link: Too many levels"));
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_directory_without_logs_is_a_problem() {
        let d = tmp("empty");
        fs::create_dir_all(d.join("empty")).unwrap();
        fs::create_dir_all(d.join("other/sub")).unwrap();
        fs::write(d.join("other/sub/notes.txt"), "x").unwrap();
        fs::write(d.join("other/.hidden.json"), "{}").unwrap();
        let e = expand(&args(&d, &["empty", "other"]));
        assert!(e.inputs.is_empty());
        let texts: Vec<String> = e.problems.iter().map(|p| p.to_string()).collect();
        assert!(texts[0].ends_with("empty: no *.json or *.gz file in this directory or below"));
        assert!(texts[1].ends_with("(1 other file ignored)"), "{texts:?}");
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_deep_tree_does_not_overflow_the_stack() {
        let d = tmp("deep");
        let mut p = d.join("t");
        for _ in 0..1500 {
            p.push("d");
        }
        fs::create_dir_all(&p).unwrap();
        fs::write(p.join("a.json"), "{}").unwrap();
        let e = expand(&args(&d, &["t"]));
        assert_eq!(e.inputs.len(), 1, "{:?}", e.problems);
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn names_are_escaped_in_messages() {
        let r = Report::NotRegular {
            path: PathBuf::from("logs/\u{1b}[2J\n.json"),
            kind: "a socket",
        };
        assert!(r
            .to_string()
            .starts_with("skipped logs/\\x1b[2J\\n.json: a socket"));
    }
}
