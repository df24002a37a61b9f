//! The jq lexer: a cursor over the source that the parser drives one token
//! at a time. Strings are not tokens: at an opening `"` the parser takes
//! over ([`Lexer::string_piece`]) because an interpolation `\( … )` holds a
//! whole query, which the parser reads with this same lexer before the
//! string continues.
//!
//! Spans are byte offsets into the rule's jq source; every token has one,
//! so every syntax error points at what the user wrote.

use super::Span;

/// A keyword. `not` is a builtin function in jq, not a keyword; keywords
/// may still be used as object keys and after `.` (`{if: 1}`, `.and`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // each variant is the keyword of its name
pub enum Kw {
    Def,
    If,
    Then,
    Elif,
    Else,
    End,
    As,
    Reduce,
    Foreach,
    Try,
    Catch,
    Label,
    Import,
    Include,
    And,
    Or,
    Loc,
}

impl Kw {
    fn from_ident(s: &str) -> Option<Kw> {
        Some(match s {
            "def" => Kw::Def,
            "if" => Kw::If,
            "then" => Kw::Then,
            "elif" => Kw::Elif,
            "else" => Kw::Else,
            "end" => Kw::End,
            "as" => Kw::As,
            "reduce" => Kw::Reduce,
            "foreach" => Kw::Foreach,
            "try" => Kw::Try,
            "catch" => Kw::Catch,
            "label" => Kw::Label,
            "import" => Kw::Import,
            "include" => Kw::Include,
            "and" => Kw::And,
            "or" => Kw::Or,
            "__loc__" => Kw::Loc,
            _ => return None,
        })
    }

    /// The keyword as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Kw::Def => "def",
            Kw::If => "if",
            Kw::Then => "then",
            Kw::Elif => "elif",
            Kw::Else => "else",
            Kw::End => "end",
            Kw::As => "as",
            Kw::Reduce => "reduce",
            Kw::Foreach => "foreach",
            Kw::Try => "try",
            Kw::Catch => "catch",
            Kw::Label => "label",
            Kw::Import => "import",
            Kw::Include => "include",
            Kw::And => "and",
            Kw::Or => "or",
            Kw::Loc => "__loc__",
        }
    }
}

/// One token.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// An identifier such as `select` or `ascii_downcase` (`a::b` included,
    /// so that module syntax gets a clear error).
    Ident(String),
    /// A keyword.
    Kw(Kw),
    /// `.name`: a field access by identifier (or keyword).
    Field(String),
    /// `$name` (`$__loc__` included).
    Var(String),
    /// `@name`.
    Format(String),
    /// A number literal, as written.
    Num(String),
    /// `"`: a string starts (the parser reads it with `string_piece`).
    Quote,
    /// Punctuation and operators.
    Punct(&'static str),
    /// End of the source.
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Kw(k) => format!("`{}`", k.as_str()),
            Tok::Field(s) => format!("`.{s}`"),
            Tok::Var(s) => format!("`${s}`"),
            Tok::Format(s) => format!("`@{s}`"),
            Tok::Num(s) => format!("`{s}`"),
            Tok::Quote => "a string".to_string(),
            Tok::Punct(p) => format!("`{p}`"),
            Tok::Eof => "end of program".to_string(),
        }
    }
}

/// A lexical error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LexError {
    /// What is wrong.
    pub message: String,
    /// Where.
    pub span: Span,
}

/// Operators, longest first so that `//=` wins over `//` and `/`.
const PUNCT: &[&str] = &[
    "?//", "//=", "|=", "+=", "-=", "*=", "/=", "%=", "==", "!=", "<=", ">=", "//", "..", "|", ",",
    "=", "<", ">", "+", "-", "*", "/", "%", "(", ")", "[", "]", "{", "}", ":", ";", "?", ".",
];

/// A piece of a string literal.
#[derive(Debug, PartialEq)]
pub enum Piece {
    /// Literal text (escapes decoded).
    Text(String),
    /// `\(`: an interpolated query follows; the parser reads it, then `)`.
    Interp,
    /// The closing `"`.
    End,
}

/// The lexer.
pub struct Lexer<'s> {
    src: &'s str,
    pos: usize,
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

impl<'s> Lexer<'s> {
    /// A lexer at the start of `src`.
    pub fn new(src: &'s str) -> Self {
        Lexer { src, pos: 0 }
    }

    /// The current byte offset.
    pub fn pos(&self) -> usize {
        self.pos
    }

    fn bytes(&self) -> &'s [u8] {
        self.src.as_bytes()
    }

    fn skip_trivia(&mut self) {
        let b = self.bytes();
        while self.pos < b.len() {
            match b[self.pos] {
                b' ' | b'\t' | b'\n' | b'\r' => self.pos += 1,
                b'#' => {
                    while self.pos < b.len() && b[self.pos] != b'\n' {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
    }

    fn ident_at(&self, start: usize) -> usize {
        let b = self.bytes();
        let mut end = start;
        loop {
            while end < b.len() && is_ident_char(b[end]) {
                end += 1;
            }
            // `a::b` (module syntax) is one identifier.
            if end + 2 < b.len() && &b[end..end + 2] == b"::" && is_ident_start(b[end + 2]) {
                end += 2;
                continue;
            }
            return end;
        }
    }

    /// The next token and its span.
    pub fn next_token(&mut self) -> Result<(Tok, Span), LexError> {
        self.skip_trivia();
        let b = self.bytes();
        let start = self.pos;
        if start >= b.len() {
            return Ok((Tok::Eof, Span::new(start, start)));
        }
        let c = b[start];
        let tok = if c == b'"' {
            self.pos += 1;
            Tok::Quote
        } else if is_ident_start(c) {
            let end = self.ident_at(start);
            self.pos = end;
            let word = &self.src[start..end];
            match Kw::from_ident(word) {
                Some(k) => Tok::Kw(k),
                None => Tok::Ident(word.to_string()),
            }
        } else if c == b'$' || c == b'@' {
            let name_start = start + 1;
            if name_start < b.len() && is_ident_start(b[name_start]) {
                let end = self.ident_at(name_start);
                self.pos = end;
                let name = self.src[name_start..end].to_string();
                if c == b'$' {
                    Tok::Var(name)
                } else {
                    Tok::Format(name)
                }
            } else {
                return Err(LexError {
                    message: format!("`{}` must be followed by a name", c as char),
                    span: Span::new(start, start + 1),
                });
            }
        } else if c.is_ascii_digit()
            || (c == b'.' && start + 1 < b.len() && b[start + 1].is_ascii_digit())
        {
            self.number(start)?
        } else if c == b'.' && start + 1 < b.len() && is_ident_start(b[start + 1]) {
            let end = self.ident_at(start + 1);
            self.pos = end;
            Tok::Field(self.src[start + 1..end].to_string())
        } else if let Some(p) = PUNCT.iter().find(|p| b[start..].starts_with(p.as_bytes())) {
            self.pos += p.len();
            Tok::Punct(p)
        } else {
            let ch = self.src[start..].chars().next().unwrap_or('?');
            return Err(LexError {
                message: format!("unexpected character {ch:?}"),
                span: Span::new(start, start + ch.len_utf8()),
            });
        };
        Ok((tok, Span::new(start, self.pos)))
    }

    fn number(&mut self, start: usize) -> Result<Tok, LexError> {
        let b = self.bytes();
        let mut end = start;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
        if end < b.len() && b[end] == b'.' {
            end += 1;
            while end < b.len() && b[end].is_ascii_digit() {
                end += 1;
            }
        }
        if end < b.len() && (b[end] == b'e' || b[end] == b'E') {
            let mut e = end + 1;
            if e < b.len() && (b[e] == b'+' || b[e] == b'-') {
                e += 1;
            }
            if e < b.len() && b[e].is_ascii_digit() {
                while e < b.len() && b[e].is_ascii_digit() {
                    e += 1;
                }
                end = e;
            } else {
                return Err(LexError {
                    message: "a number's exponent needs digits".to_string(),
                    span: Span::new(start, e),
                });
            }
        }
        self.pos = end;
        Ok(Tok::Num(self.src[start..end].to_string()))
    }

    /// Inside a string literal (after `"` or after an interpolation's
    /// `)`): literal text up to the next `\(` or the closing `"`.
    pub fn string_piece(&mut self) -> Result<(Piece, Span), LexError> {
        let b = self.bytes();
        let start = self.pos;
        let mut text = String::new();
        let mut run = self.pos;
        loop {
            if self.pos >= b.len() {
                return Err(LexError {
                    message: "unterminated string".to_string(),
                    span: Span::new(start, self.pos),
                });
            }
            match b[self.pos] {
                b'"' => {
                    text.push_str(&self.src[run..self.pos]);
                    if !text.is_empty() {
                        return Ok((Piece::Text(text), Span::new(start, self.pos)));
                    }
                    self.pos += 1;
                    return Ok((Piece::End, Span::new(start, self.pos)));
                }
                b'\\' => {
                    text.push_str(&self.src[run..self.pos]);
                    let esc = self.pos;
                    if esc + 1 >= b.len() {
                        return Err(LexError {
                            message: "unterminated string".to_string(),
                            span: Span::new(start, b.len()),
                        });
                    }
                    match b[esc + 1] {
                        b'(' => {
                            if !text.is_empty() {
                                // Give back the text first; the `\(` comes next.
                                self.pos = esc;
                                return Ok((Piece::Text(text), Span::new(start, esc)));
                            }
                            self.pos = esc + 2;
                            return Ok((Piece::Interp, Span::new(esc, esc + 2)));
                        }
                        b'"' => text.push('"'),
                        b'\\' => text.push('\\'),
                        b'/' => text.push('/'),
                        b'b' => text.push('\u{8}'),
                        b'f' => text.push('\u{c}'),
                        b'n' => text.push('\n'),
                        b'r' => text.push('\r'),
                        b't' => text.push('\t'),
                        b'u' => {
                            let (c, len) = self.unicode_escape(esc)?;
                            text.push(c);
                            self.pos = esc + len;
                            run = self.pos;
                            continue;
                        }
                        _ => {
                            let ch = self.src[esc + 1..].chars().next().unwrap_or('?');
                            return Err(LexError {
                                message: format!("invalid escape `\\{ch}` in a string"),
                                span: Span::new(esc, esc + 1 + ch.len_utf8()),
                            });
                        }
                    }
                    self.pos = esc + 2;
                    run = self.pos;
                }
                _ => self.pos += 1,
            }
        }
    }

    /// `\uXXXX` (with a surrogate pair as `\uD83D\uDE00`) at `esc`: the
    /// character and the escape's length. A lone surrogate becomes U+FFFD,
    /// as in jq.
    fn unicode_escape(&self, esc: usize) -> Result<(char, usize), LexError> {
        let hex = |at: usize| -> Option<u32> {
            let s = self.src.get(at..at + 4)?;
            if !s.bytes().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            u32::from_str_radix(s, 16).ok()
        };
        let Some(hi) = hex(esc + 2) else {
            return Err(LexError {
                message: "`\\u` must be followed by four hex digits".to_string(),
                span: Span::new(esc, (esc + 6).min(self.src.len())),
            });
        };
        if (0xD800..0xDC00).contains(&hi) && self.src[esc + 6..].starts_with("\\u") {
            if let Some(lo) = hex(esc + 8).filter(|lo| (0xDC00..0xE000).contains(lo)) {
                let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                return Ok((char::from_u32(c).unwrap_or('\u{FFFD}'), 12));
            }
        }
        Ok((char::from_u32(hi).unwrap_or('\u{FFFD}'), 6))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        let mut l = Lexer::new(src);
        let mut out = Vec::new();
        loop {
            let (t, _) = l.next_token().unwrap();
            if t == Tok::Eof {
                return out;
            }
            out.push(t);
        }
    }

    #[test]
    fn tokens() {
        assert_eq!(
            toks(".a.b|.[0]//=1 # comment\n$x @base64 .5 1e3 .."),
            vec![
                Tok::Field("a".into()),
                Tok::Field("b".into()),
                Tok::Punct("|"),
                Tok::Punct("."),
                Tok::Punct("["),
                Tok::Num("0".into()),
                Tok::Punct("]"),
                Tok::Punct("//="),
                Tok::Num("1".into()),
                Tok::Var("x".into()),
                Tok::Format("base64".into()),
                Tok::Num(".5".into()),
                Tok::Num("1e3".into()),
                Tok::Punct(".."),
            ]
        );
        assert_eq!(
            toks("and or not"),
            vec![Tok::Kw(Kw::And), Tok::Kw(Kw::Or), Tok::Ident("not".into())]
        );
    }

    #[test]
    fn strings() {
        let mut l = Lexer::new(r#"a\u00e9\ud83d\ude00\n\(x)"#);
        assert_eq!(l.string_piece().unwrap().0, Piece::Text("aé😀\n".into()));
        assert_eq!(l.string_piece().unwrap().0, Piece::Interp);
        let mut l = Lexer::new(r#"\q""#);
        assert!(l.string_piece().is_err());
        let mut l = Lexer::new(r#"""#);
        assert_eq!(l.string_piece().unwrap().0, Piece::End);
    }
}
