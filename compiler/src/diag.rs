//! Diagnostics: one problem in a source file, with a byte span, rendered
//! as `file:line:col`, a source excerpt and a caret line.
//!
//! Every stage of the compiler *collects* diagnostics instead of stopping at
//! the first one, so a user fixing a config sees every problem at once. A
//! diagnostic owns only byte offsets into the config text; rendering needs
//! that text again, which keeps diagnostics cheap to create and to compare in
//! tests.

use std::fmt::Write as _;
use std::ops::Range;
use std::sync::Arc;

use crate::escape::escape;

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The config is rejected.
    Error,
    /// The config loads; the user may want to look.
    Warning,
}

/// A source file other than the config that diagnostics can point into
/// (a Sigma rule file), with its text for rendering.
#[derive(Debug, PartialEq, Eq)]
pub struct SourceFile {
    /// Its name in messages (the path as given).
    pub name: String,
    /// Its text.
    pub text: String,
}

/// One problem, located by a byte range of the config source (or of
/// [`Diagnostic::file`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, in one sentence.
    pub message: String,
    /// Where, as byte offsets into the config source.
    pub span: Range<usize>,
    /// How to fix it, when we can say.
    pub help: Option<String>,
    /// The file the span is in, when it is not the config.
    pub file: Option<Arc<SourceFile>>,
}

impl Diagnostic {
    /// A new error at `span`.
    pub fn error(message: impl Into<String>, span: Range<usize>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span,
            help: None,
            file: None,
        }
    }

    /// A new warning at `span`.
    pub fn warning(message: impl Into<String>, span: Range<usize>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            message: message.into(),
            span,
            help: None,
            file: None,
        }
    }

    /// Attach a hint on how to fix the problem.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Say that the span is in `file`, not in the config.
    pub fn in_file(mut self, file: &Arc<SourceFile>) -> Self {
        self.file = Some(file.clone());
        self
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Render as a multi-line report, `rustc` style:
    ///
    /// ```text
    /// error: unknown destination id `pager`
    ///   --> tattletail.toml:7:17
    ///    |
    ///  7 | destinations = ["pager"]
    ///    |                 ^^^^^^^
    ///    = help: define a [[destination]] with id = "pager", or remove it
    /// ```
    pub fn render(&self, file: &str, source: &str) -> String {
        let (file, source) = match &self.file {
            Some(f) => (f.name.as_str(), f.text.as_str()),
            None => (file, source),
        };
        let (line, col) = line_col(source, self.span.start);
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        // Everything shown is escaped (crate::escape): a rule name or a
        // config line cannot move the cursor or start a line.
        let mut out = format!("{kind}: {}\n", escape(&self.message));
        let line_text = source.lines().nth(line - 1).unwrap_or("");
        let gutter = line.to_string().len();
        let pad = " ".repeat(gutter);
        let _ = writeln!(out, "{pad}--> {}:{line}:{col}", escape(file));
        let _ = writeln!(out, "{pad} |");
        let shown = |text: &str| escape(&text.replace('\t', " ")).into_owned();
        let _ = writeln!(out, "{line} | {}", shown(line_text));
        // The caret covers the span on this line (at least one column),
        // measured on the text as shown.
        let span_start = floor_char_boundary(source, self.span.start.min(source.len()));
        let line_start = source[..span_start].rfind('\n').map_or(0, |i| i + 1);
        // `lines()` drops the `\r` of a `\r\n`; a span can start on it.
        let line_end = (line_start + line_text.len()).max(span_start);
        let end = floor_char_boundary(source, self.span.end.clamp(span_start, line_end));
        // A `\r` before the span (the line break of a `\r\n`) is one column.
        let start_col = shown(&source[line_start..span_start].replace('\r', " "))
            .chars()
            .count();
        let width = shown(&source[span_start..end]).chars().count().max(1);
        let _ = writeln!(
            out,
            "{pad} | {}{}",
            " ".repeat(start_col),
            "^".repeat(width)
        );
        if let Some(help) = &self.help {
            let _ = writeln!(out, "{pad} = help: {}", escape(help));
        }
        out
    }

    /// `file:line:col` of the start of the span.
    pub fn location(&self, file: &str, source: &str) -> String {
        let (file, source) = match &self.file {
            Some(f) => (f.name.as_str(), f.text.as_str()),
            None => (file, source),
        };
        let (line, col) = line_col(source, self.span.start);
        format!("{file}:{line}:{col}")
    }
}

/// 1-based line and column (in characters) of byte offset `at`.
pub fn line_col(source: &str, at: usize) -> (usize, usize) {
    let at = floor_char_boundary(source, at.min(source.len()));
    let before = &source[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Render a list of diagnostics, errors and warnings in source order (the
/// config's first, then each other file's).
pub fn render_all(diags: &[Diagnostic], file: &str, source: &str) -> String {
    let mut sorted: Vec<&Diagnostic> = diags.iter().collect();
    sorted.sort_by(|a, b| {
        let f = |d: &Diagnostic| d.file.as_ref().map(|f| f.name.clone());
        (f(a), a.span.start, a.severity).cmp(&(f(b), b.span.start, b.severity))
    });
    let mut out = String::new();
    for d in sorted {
        out.push_str(&d.render(file, source));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_line_col_and_caret() {
        let src = "a = 1\ndestinations = [\"pager\"]\n";
        let at = src.find("\"pager\"").unwrap();
        let d =
            Diagnostic::error("unknown destination id `pager`", at..at + 7).with_help("define it");
        let text = d.render("t.toml", src);
        assert_eq!(
            text,
            "error: unknown destination id `pager`\n --> t.toml:2:17\n  |\n2 | destinations = [\"pager\"]\n  |                 ^^^^^^^\n  = help: define it\n"
        );
    }

    #[test]
    fn controls_in_messages_and_lines_are_escaped_and_the_caret_follows() {
        let src = "name = \"a\u{1b}[2J\"\nx = \"\u{202e}bad\"\n";
        let at = src.find("bad").unwrap();
        let d = Diagnostic::error("rule `a\u{1b}[2J\nforged`: bad", at..at + 3)
            .with_help("not\u{2028}here");
        let text = d.render("t\n.toml", src);
        assert_eq!(
            text,
            "error: rule `a\\x1b[2J\\nforged`: bad\n --> t\\n.toml:2:7\n  |\n2 | x = \"\\u{202e}bad\"\n  |              ^^^\n  = help: not\\u{2028}here\n"
        );
    }

    #[test]
    fn a_span_on_the_line_break_of_a_crlf_renders() {
        // Found by fuzzing (compile_config, fuzz/regressions/compile_config/
        // crlf-unterminated-string): the caret's end was clamped to a line
        // end before the span's start, which panicked. TOML reports an
        // unterminated string on the `\n` of a `\r\n`.
        // a span on the line break of a `\r\n` starts after the line's
        // text as `lines()` gives it (without the `\r`).
        let src = "name = \"x\r\nb = 1";
        let at = src.find('\n').unwrap();
        let text = Diagnostic::error("bad", at..at + 1).render("t.toml", src);
        assert!(text.contains("--> t.toml:1:11"), "{text}");
        assert!(text.contains(" |           ^\n"), "{text}");
    }

    #[test]
    fn line_col_counts_characters_not_bytes() {
        assert_eq!(line_col("é = 1", 3), (1, 3));
        assert_eq!(line_col("x\ny", 2), (2, 1));
    }
}
