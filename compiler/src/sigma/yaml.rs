//! The YAML a Sigma file is written in, as a small tree whose every node
//! knows its byte range in the file, so a Sigma diagnostic points at the
//! line and column of the key or value it is about.
//!
//! Built on `saphyr-parser`'s event stream (a YAML 1.2 parser without
//! dependencies of its own). Only what Sigma files use is kept: maps,
//! sequences and scalars, with the scalar's text and whether it was
//! quoted (a quoted `"1.0"` is a string, a plain `1.0` a number). Anchors,
//! aliases and tags are refused with a message rather than half-followed.

use std::ops::Range;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// One YAML node.
#[derive(Clone, Debug, PartialEq)]
pub struct Yaml {
    /// What it is.
    pub kind: Kind,
    /// Where it is in the file, in bytes.
    pub span: Range<usize>,
}

/// The kinds of node.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// A scalar: its text, and whether it was quoted (then it is always a
    /// string).
    Scalar(String, bool),
    /// A sequence.
    Seq(Vec<Yaml>),
    /// A mapping, in file order.
    Map(Vec<(Yaml, Yaml)>),
}

/// A plain scalar's type, per the YAML 1.2 core schema.
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar<'a> {
    /// `null`, `~` or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// Anything else, or anything quoted.
    Str(&'a str),
}

impl Yaml {
    /// The scalar's typed value, if it is a scalar.
    pub fn scalar(&self) -> Option<Scalar<'_>> {
        let Kind::Scalar(text, quoted) = &self.kind else {
            return None;
        };
        if *quoted {
            return Some(Scalar::Str(text));
        }
        Some(match text.as_str() {
            "" | "~" | "null" | "Null" | "NULL" => Scalar::Null,
            "true" | "True" | "TRUE" => Scalar::Bool(true),
            "false" | "False" | "FALSE" => Scalar::Bool(false),
            t => {
                if let Ok(i) = t.parse::<i64>() {
                    Scalar::Int(i)
                } else if looks_like_float(t) {
                    match t.parse::<f64>() {
                        Ok(f) => Scalar::Float(f),
                        Err(_) => Scalar::Str(t),
                    }
                } else {
                    Scalar::Str(t)
                }
            }
        })
    }

    /// The text of a scalar (whatever its type).
    pub fn text(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar(t, _) => Some(t),
            _ => None,
        }
    }

    /// The entries of a mapping.
    pub fn map(&self) -> Option<&[(Yaml, Yaml)]> {
        match &self.kind {
            Kind::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The value of `key` in a mapping (the first, when repeated).
    pub fn get(&self, key: &str) -> Option<&Yaml> {
        self.map()?
            .iter()
            .find(|(k, _)| k.text() == Some(key))
            .map(|(_, v)| v)
    }

    /// The trimmed text of the scalar at `key` in a mapping.
    pub fn get_text(&self, key: &str) -> Option<String> {
        self.get(key)
            .and_then(Yaml::text)
            .map(|t| t.trim().to_string())
    }

    /// The strings of a list of scalars, or of one scalar (as a list of
    /// one), with where each is; anything else gives none.
    pub fn strings(&self) -> Vec<(String, Range<usize>)> {
        match &self.kind {
            Kind::Seq(items) => items
                .iter()
                .filter_map(|i| i.text().map(|t| (t.to_string(), i.span.clone())))
                .collect(),
            Kind::Scalar(t, _) => vec![(t.clone(), self.span.clone())],
            Kind::Map(_) => Vec::new(),
        }
    }

    /// [`Yaml::strings`] of the value at `key`, without positions.
    pub fn get_strings(&self, key: &str) -> Vec<String> {
        self.get(key)
            .map(|y| y.strings().into_iter().map(|(s, _)| s).collect())
            .unwrap_or_default()
    }

    /// The span of the key `key` in a mapping.
    pub fn key_span(&self, key: &str) -> Option<Range<usize>> {
        self.map()?
            .iter()
            .find(|(k, _)| k.text() == Some(key))
            .map(|(k, _)| k.span.clone())
    }

    /// A name for the node's kind, for messages.
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            Kind::Scalar(..) => "a scalar",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a map",
        }
    }
}

/// YAML 1.2 core-schema floats (`1.5`, `-2e3`, `.inf`, `.nan`).
fn looks_like_float(t: &str) -> bool {
    let body = t.strip_prefix(['-', '+']).unwrap_or(t);
    matches!(body, ".inf" | ".Inf" | ".INF")
        || matches!(t, ".nan" | ".NaN" | ".NAN")
        || (body.starts_with(|c: char| c.is_ascii_digit() || c == '.')
            && body
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
            && body.chars().any(|c| c.is_ascii_digit()))
}

/// A YAML syntax error (or a construct we refuse), at a byte range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YamlError {
    /// What is wrong.
    pub message: String,
    /// Where.
    pub span: Range<usize>,
}

/// Parse every document of a YAML stream.
pub fn parse(text: &str) -> Result<Vec<Yaml>, YamlError> {
    let offsets = CharOffsets::new(text);
    let mut docs = Vec::new();
    let mut builder = Builder {
        offsets: &offsets,
        stack: Vec::new(),
    };
    for ev in Parser::new_from_str(text) {
        let (ev, span) = ev.map_err(|e| YamlError {
            message: format!("YAML syntax: {}", e.info()),
            span: offsets.byte(e.marker().index())..offsets.byte(e.marker().index() + 1),
        })?;
        if let Some(doc) = builder.event(ev, span)? {
            docs.push(doc);
        }
    }
    Ok(docs)
}

enum Open {
    Seq(Vec<Yaml>, usize),
    Map(Vec<(Yaml, Yaml)>, Option<Yaml>, usize),
}

struct Builder<'a> {
    offsets: &'a CharOffsets,
    stack: Vec<Open>,
}

impl Builder<'_> {
    fn range(&self, span: Span) -> Range<usize> {
        self.offsets.byte(span.start.index())..self.offsets.byte(span.end.index())
    }

    /// Feed one event; a finished top-level node is returned.
    fn event(&mut self, ev: Event<'_>, span: Span) -> Result<Option<Yaml>, YamlError> {
        let at = self.range(span);
        let node = match ev {
            Event::Alias(_) => {
                return Err(YamlError {
                    message: "YAML aliases (`*name`) are not supported in Sigma rules".into(),
                    span: at,
                })
            }
            Event::Scalar(text, style, anchor, _tag) => {
                self.no_anchor(anchor, &at)?;
                Yaml {
                    kind: Kind::Scalar(text.into_owned(), style != ScalarStyle::Plain),
                    span: at,
                }
            }
            Event::SequenceStart(anchor, _) => {
                self.no_anchor(anchor, &at)?;
                self.stack.push(Open::Seq(Vec::new(), at.start));
                return Ok(None);
            }
            Event::MappingStart(anchor, _) => {
                self.no_anchor(anchor, &at)?;
                self.stack.push(Open::Map(Vec::new(), None, at.start));
                return Ok(None);
            }
            Event::SequenceEnd => match self.stack.pop() {
                Some(Open::Seq(items, start)) => {
                    let end = items.last().map_or(at.end.max(start), |i| i.span.end);
                    Yaml {
                        kind: Kind::Seq(items),
                        span: start..end,
                    }
                }
                _ => unreachable!("the YAML parser balances sequences"),
            },
            Event::MappingEnd => match self.stack.pop() {
                Some(Open::Map(entries, _, start)) => {
                    let end = entries
                        .last()
                        .map_or(at.end.max(start), |(_, v)| v.span.end);
                    Yaml {
                        kind: Kind::Map(entries),
                        span: start..end,
                    }
                }
                _ => unreachable!("the YAML parser balances mappings"),
            },
            _ => return Ok(None),
        };
        Ok(self.push(node))
    }

    fn no_anchor(&self, anchor: usize, at: &Range<usize>) -> Result<(), YamlError> {
        if anchor == 0 {
            Ok(())
        } else {
            Err(YamlError {
                message: "YAML anchors (`&name`) are not supported in Sigma rules".into(),
                span: at.clone(),
            })
        }
    }

    /// Attach a finished node to its parent, or return it as a document.
    fn push(&mut self, node: Yaml) -> Option<Yaml> {
        match self.stack.last_mut() {
            None => Some(node),
            Some(Open::Seq(items, _)) => {
                items.push(node);
                None
            }
            Some(Open::Map(entries, key, _)) => {
                match key.take() {
                    None => *key = Some(node),
                    Some(k) => entries.push((k, node)),
                }
                None
            }
        }
    }
}

/// Character index → byte offset (the parser counts characters).
struct CharOffsets {
    bytes: Vec<usize>,
}

impl CharOffsets {
    fn new(text: &str) -> CharOffsets {
        let mut bytes: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
        bytes.push(text.len());
        CharOffsets { bytes }
    }

    fn byte(&self, char_index: usize) -> usize {
        self.bytes[char_index.min(self.bytes.len() - 1)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_know_where_they_are() {
        let text = "title: Ünïcode\ndetection:\n  sel:\n    eventName:\n      - 'A'\n      - B\n  condition: sel\n---\nname: two\n";
        let docs = parse(text).unwrap();
        assert_eq!(docs.len(), 2);
        let sel = docs[0].get("detection").unwrap().get("sel").unwrap();
        let Kind::Seq(items) = &sel.get("eventName").unwrap().kind else {
            panic!()
        };
        assert_eq!(&text[items[0].span.clone()], "'A'");
        assert_eq!(items[0].scalar(), Some(Scalar::Str("A")));
        assert_eq!(&text[items[1].span.clone()], "B");
        assert_eq!(&text[docs[0].key_span("detection").unwrap()], "detection");
        assert_eq!(docs[1].get("name").unwrap().text(), Some("two"));
    }

    #[test]
    fn scalars_are_typed_like_yaml_1_2() {
        let docs = parse("a: 1\nb: 1.08\nc: '1.08'\nd: true\ne: null\nf:\ng: x1\n").unwrap();
        let s = |k: &str| docs[0].get(k).unwrap().scalar().unwrap();
        assert_eq!(s("a"), Scalar::Int(1));
        assert_eq!(s("b"), Scalar::Float(1.08));
        assert_eq!(s("c"), Scalar::Str("1.08"));
        assert_eq!(s("d"), Scalar::Bool(true));
        assert_eq!(s("e"), Scalar::Null);
        assert_eq!(s("f"), Scalar::Null);
        assert_eq!(s("g"), Scalar::Str("x1"));
    }

    #[test]
    fn errors_and_refusals_have_positions() {
        let e = parse("a: [1, 2\nb: c\n").unwrap_err();
        assert!(e.message.starts_with("YAML syntax"), "{e:?}");
        let e = parse("a: &x 1\nb: *x\n").unwrap_err();
        assert!(e.message.contains("anchors"), "{e:?}");
    }
}
