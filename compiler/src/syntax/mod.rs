//! jq syntax: the lexer ([`lex`]), the syntax tree ([`ast`]) and the
//! parser ([`parse`]). This is Tattletail's own front end: it gives every
//! node a span for diagnostics, parses gojq's dialect, and bounds nesting
//! so that no program can overflow the stack of a later pass.

pub mod ast;
pub mod lex;
mod parse;

pub use parse::parse;

/// Deepest nesting of queries (parentheses, brackets, bodies) and of the
/// syntax tree that a rule may have. Deeper programs are syntax errors.
pub const MAX_DEPTH: u32 = 256;

/// A byte range in a jq program's source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// The span `start..end`.
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    /// From the start of `self` to the end of `other`.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    /// As a byte range.
    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// A syntax error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// What is wrong.
    pub message: String,
    /// Where.
    pub span: Span,
}

#[cfg(test)]
mod tests;
