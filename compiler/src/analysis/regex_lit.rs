//! Literal extraction from the regex of `test("…")` on a prefilter field.
//!
//! Only anchored patterns give a condition: `^(A|B)$` is the exact names
//! {A, B}, `^Create` the exact prefix "Create", `^Create[A-Z]` the inexact
//! prefix "Create". Unanchored patterns, classes and flags give nothing
//! (the caller then uses "every event"). The pattern is parsed with
//! `regex-syntax`, the parser of the `regex` crate our `test` runs on, so
//! the two cannot disagree about what `^` and `$` mean.

use regex_syntax::hir::{Class, Hir, HirKind, Look};

use super::cond::KeySet;

/// Most literal strings a pattern may expand to before we give up.
const LIMIT: usize = 256;

/// The values a field can have when `re` matches it (a superset), and
/// whether the set is exact. `None`: no useful condition.
pub fn extract(re: &str) -> Option<(KeySet, bool)> {
    let hir = regex_syntax::ParserBuilder::new().build().parse(re).ok()?;
    anchored(&hir)
}

fn anchored(h: &Hir) -> Option<(KeySet, bool)> {
    match h.kind() {
        HirKind::Alternation(alts) => {
            let mut set = KeySet::default();
            let mut exact = true;
            for a in alts {
                let (s, e) = anchored(a)?;
                set = set.union(&s);
                exact &= e;
            }
            Some((set, exact))
        }
        HirKind::Capture(c) => anchored(&c.sub),
        HirKind::Concat(parts) => match parts.first()?.kind() {
            HirKind::Look(Look::Start) => sequence(&parts[1..]),
            _ => None,
        },
        _ => None,
    }
}

/// Literals of a run of parts after `^`: names when it ends with `$`,
/// prefixes otherwise; inexact prefixes when a non-literal part stops it.
fn sequence(parts: &[Hir]) -> Option<(KeySet, bool)> {
    let mut strings = vec![String::new()];
    for (i, p) in parts.iter().enumerate() {
        if let HirKind::Look(Look::End) = p.kind() {
            if i + 1 == parts.len() {
                return Some((KeySet::names(strings), true));
            }
            return None;
        }
        match literals(p) {
            Some(ls) if strings.len() * ls.len() <= LIMIT => {
                strings = strings
                    .iter()
                    .flat_map(|s| ls.iter().map(move |l| format!("{s}{l}")))
                    .collect();
            }
            _ => return Some((KeySet::prefixes(strings), false)),
        }
    }
    Some((KeySet::prefixes(strings), true))
}

/// The finite set of strings a literal-only sub-pattern matches.
fn literals(h: &Hir) -> Option<Vec<String>> {
    match h.kind() {
        HirKind::Empty => Some(vec![String::new()]),
        HirKind::Literal(l) => Some(vec![String::from_utf8(l.0.to_vec()).ok()?]),
        // `(A|B)` of single characters becomes a class: expand small ones.
        HirKind::Class(Class::Unicode(c)) => {
            let mut out = Vec::new();
            for r in c.ranges() {
                for ch in r.start()..=r.end() {
                    out.push(ch.to_string());
                    if out.len() > 16 {
                        return None;
                    }
                }
            }
            Some(out)
        }
        HirKind::Capture(c) => literals(&c.sub),
        HirKind::Alternation(alts) => {
            let mut out = Vec::new();
            for a in alts {
                out.extend(literals(a)?);
                if out.len() > LIMIT {
                    return None;
                }
            }
            Some(out)
        }
        HirKind::Concat(parts) => {
            let mut out = vec![String::new()];
            for p in parts {
                let ls = literals(p)?;
                if out.len() * ls.len() > LIMIT {
                    return None;
                }
                out = out
                    .iter()
                    .flat_map(|s| ls.iter().map(move |l| format!("{s}{l}")))
                    .collect();
            }
            Some(out)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Option<(KeySet, bool)> {
        Some((KeySet::names(n.iter().copied()), true))
    }
    fn prefixes(p: &[&str], exact: bool) -> Option<(KeySet, bool)> {
        Some((KeySet::prefixes(p.iter().copied()), exact))
    }

    #[test]
    fn table() {
        assert_eq!(extract("^(A|B)$"), names(&["A", "B"]));
        assert_eq!(extract("^ConsoleLogin$"), names(&["ConsoleLogin"]));
        assert_eq!(extract("^Create"), prefixes(&["Create"], true));
        assert_eq!(
            extract("^(Create|Delete)"),
            prefixes(&["Create", "Delete"], true)
        );
        assert_eq!(
            extract("^(CreateUser|CreateRole)$"),
            names(&["CreateRole", "CreateUser"])
        );
        assert_eq!(
            extract("^Put(Bucket|Object)Acl$"),
            names(&["PutBucketAcl", "PutObjectAcl"])
        );
        assert_eq!(extract("^Create[A-Z]"), prefixes(&["Create"], false));
        assert_eq!(extract("^Create.*$"), prefixes(&["Create"], false));
        assert_eq!(extract("^A|^B"), prefixes(&["A", "B"], true));
        assert_eq!(extract("^[AB]x$"), names(&["Ax", "Bx"]));
        assert_eq!(
            extract(r"^s3\.amazonaws\.com$"),
            names(&["s3.amazonaws.com"])
        );
    }

    #[test]
    fn unanchored_flags_and_classes_give_nothing() {
        assert_eq!(extract("Create"), None);
        // Case-insensitive: every case variant, as long as that stays small.
        let (set, exact) = extract("(?i)^create").unwrap();
        assert!(exact && set.prefixes.len() == 64 && set.prefixes.contains("cREATE"));
        // Past the expansion limit the prefixes are cut short: inexact.
        let (set, exact) = extract("(?i)^createaccesskey").unwrap();
        assert!(!exact && set.prefixes.contains("CreateAc") && !set.contains(Some("Delete")));
        assert_eq!(extract("^A|B"), None);
        assert_eq!(extract("(?m)^A"), None);
        assert_eq!(extract("("), None);
    }
}
