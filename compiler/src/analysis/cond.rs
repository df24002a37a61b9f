//! The condition algebra behind prefilters.
//!
//! A [`KeySet`] is a set of possible values of one top-level field
//! (`eventName` or `eventSource`): exact strings, string prefixes, and
//! whether "missing or not a string" belongs to it. A [`FieldCond`] is a
//! key set or its complement. A [`Cond`] is the product of one field
//! condition per field (a "box"), plus an `exact` flag.
//!
//! **Contract.** A condition is a *necessary* condition: an analysis that
//! gives condition `C` for "the rule fires" promises that every record on
//! which the rule fires is admitted by `C`. False positives are fine (jq
//! decides), false negatives are bugs. So every operation here may lose
//! precision but never drop a member: unions and intersections of boxes are
//! over-approximated, and a set subtraction that cannot be represented
//! exactly is rounded *outwards* for `In` and *inwards* for `NotIn`.
//!
//! `exact` means more: the condition admits exactly the records on which
//! the property holds. Only exact conditions may be used to skip jq.
//!
//! Combination laws (as in the design notes):
//!
//! | law | result |
//! | --- | --- |
//! | `or(all, x)` | all |
//! | `or(never, x)` | x |
//! | `and(all, x)` | x |
//! | `and(never, x)` | never |

use std::collections::BTreeSet;

/// Values of one field: exact strings, prefixes, and "missing or not a
/// string" (`other`).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeySet {
    /// Exact string values.
    pub names: BTreeSet<String>,
    /// String prefixes (`""` is every string).
    pub prefixes: BTreeSet<String>,
    /// Whether a missing field, or a value that is not a string, belongs.
    pub other: bool,
}

impl KeySet {
    /// The set of the given exact strings.
    pub fn names<I: IntoIterator<Item = S>, S: Into<String>>(names: I) -> Self {
        KeySet {
            names: names.into_iter().map(Into::into).collect(),
            ..Default::default()
        }
        .normalized()
    }

    /// The set of strings starting with one of `prefixes`.
    pub fn prefixes<I: IntoIterator<Item = S>, S: Into<String>>(prefixes: I) -> Self {
        KeySet {
            prefixes: prefixes.into_iter().map(Into::into).collect(),
            ..Default::default()
        }
        .normalized()
    }

    /// Only "missing or not a string".
    pub fn other() -> Self {
        KeySet {
            other: true,
            ..Default::default()
        }
    }

    /// No value at all.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.prefixes.is_empty() && !self.other
    }

    /// Does the set contain this field value (`None`: missing or not a string)?
    pub fn contains(&self, value: Option<&str>) -> bool {
        match value {
            None => self.other,
            Some(v) => {
                self.names.contains(v) || self.prefixes.iter().any(|p| v.starts_with(p.as_str()))
            }
        }
    }

    fn covered_by_prefix(&self, s: &str) -> bool {
        self.prefixes.iter().any(|p| s.starts_with(p.as_str()))
    }

    /// Drop names covered by a prefix and prefixes covered by a shorter one.
    fn normalized(mut self) -> Self {
        let prefixes: Vec<String> = self.prefixes.iter().cloned().collect();
        self.prefixes
            .retain(|p| !prefixes.iter().any(|q| q != p && p.starts_with(q.as_str())));
        let snapshot = self.clone();
        self.names.retain(|n| !snapshot.covered_by_prefix(n));
        self
    }

    /// Union (exact).
    pub fn union(&self, other: &KeySet) -> KeySet {
        KeySet {
            names: self.names.union(&other.names).cloned().collect(),
            prefixes: self.prefixes.union(&other.prefixes).cloned().collect(),
            other: self.other || other.other,
        }
        .normalized()
    }

    /// Intersection (exact).
    pub fn intersect(&self, other: &KeySet) -> KeySet {
        let mut names: BTreeSet<String> = self
            .names
            .iter()
            .filter(|n| other.contains(Some(n)))
            .cloned()
            .collect();
        names.extend(
            other
                .names
                .iter()
                .filter(|n| self.contains(Some(n)))
                .cloned(),
        );
        let mut prefixes = BTreeSet::new();
        for a in &self.prefixes {
            for b in &other.prefixes {
                if a.starts_with(b.as_str()) {
                    prefixes.insert(a.clone());
                } else if b.starts_with(a.as_str()) {
                    prefixes.insert(b.clone());
                }
            }
        }
        KeySet {
            names,
            prefixes,
            other: self.other && other.other,
        }
        .normalized()
    }

    /// `self` minus `other`, rounded the given way when the difference
    /// cannot be represented (a name cannot be cut out of a prefix). The
    /// flag says whether the result is exact.
    pub fn minus(&self, other: &KeySet, round: Round) -> (KeySet, bool) {
        let mut exact = true;
        let names = self
            .names
            .iter()
            .filter(|n| !other.contains(Some(n)))
            .cloned()
            .collect();
        let mut prefixes = BTreeSet::new();
        for p in &self.prefixes {
            if other.covered_by_prefix(p) {
                continue; // every string with prefix p is removed
            }
            if other
                .names
                .iter()
                .chain(&other.prefixes)
                .any(|x| x.starts_with(p.as_str()))
            {
                exact = false;
                if round == Round::Inwards {
                    continue; // drop the whole prefix: a subset
                }
            }
            prefixes.insert(p.clone());
        }
        (
            KeySet {
                names,
                prefixes,
                other: self.other && !other.other,
            }
            .normalized(),
            exact,
        )
    }
}

/// Which way an inexact set operation rounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Round {
    /// To a superset (for sets of admitted values).
    Outwards,
    /// To a subset (for sets of excluded values).
    Inwards,
}

/// A condition on one field: in a set, or not in it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FieldCond {
    /// The value belongs to the set.
    In(KeySet),
    /// The value does not belong to the set.
    NotIn(KeySet),
}

impl FieldCond {
    /// Every value.
    pub fn any() -> Self {
        FieldCond::NotIn(KeySet::default())
    }

    /// No value.
    pub fn never() -> Self {
        FieldCond::In(KeySet::default())
    }

    /// Admits every value.
    pub fn is_any(&self) -> bool {
        matches!(self, FieldCond::NotIn(s) if s.is_empty())
    }

    /// Admits no value.
    pub fn is_never(&self) -> bool {
        matches!(self, FieldCond::In(s) if s.is_empty())
    }

    /// Does the condition admit this field value?
    pub fn admits(&self, value: Option<&str>) -> bool {
        match self {
            FieldCond::In(s) => s.contains(value),
            FieldCond::NotIn(s) => !s.contains(value),
        }
    }

    /// The complement (exact).
    pub fn not(&self) -> FieldCond {
        match self {
            FieldCond::In(s) => FieldCond::NotIn(s.clone()),
            FieldCond::NotIn(s) => FieldCond::In(s.clone()),
        }
    }

    /// Intersection; the flag says whether it is exact.
    pub fn and(&self, other: &FieldCond) -> (FieldCond, bool) {
        use FieldCond::*;
        match (self, other) {
            (In(a), In(b)) => (In(a.intersect(b)), true),
            (NotIn(a), NotIn(b)) => (NotIn(a.union(b)), true),
            (In(a), NotIn(b)) | (NotIn(b), In(a)) => {
                let (d, exact) = a.minus(b, Round::Outwards);
                (In(d), exact)
            }
        }
    }

    /// Union; the flag says whether it is exact.
    pub fn or(&self, other: &FieldCond) -> (FieldCond, bool) {
        use FieldCond::*;
        match (self, other) {
            (In(a), In(b)) => (In(a.union(b)), true),
            (NotIn(a), NotIn(b)) => (NotIn(a.intersect(b)), true),
            (In(a), NotIn(b)) | (NotIn(b), In(a)) => {
                // complement of (b - a); b - a must not grow, or we would
                // exclude values that belong.
                let (d, exact) = b.minus(a, Round::Inwards);
                (NotIn(d), exact)
            }
        }
    }
}

/// The two fields a prefilter can test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    /// Top-level `eventName`.
    EventName,
    /// Top-level `eventSource`.
    EventSource,
}

impl Field {
    /// The JSON key.
    pub fn key(self) -> &'static str {
        match self {
            Field::EventName => "eventName",
            Field::EventSource => "eventSource",
        }
    }

    /// The field for a JSON key, if it is one we index.
    pub fn from_key(key: &str) -> Option<Field> {
        match key {
            "eventName" => Some(Field::EventName),
            "eventSource" => Some(Field::EventSource),
            _ => None,
        }
    }
}

/// A condition on a record: one [`FieldCond`] per field, and exactness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cond {
    /// Condition on `eventName`.
    pub name: FieldCond,
    /// Condition on `eventSource`.
    pub source: FieldCond,
    /// Admits exactly the records with the property (not just a superset).
    pub exact: bool,
}

impl Cond {
    /// Every record (exact: "always").
    pub fn all() -> Cond {
        Cond {
            name: FieldCond::any(),
            source: FieldCond::any(),
            exact: true,
        }
    }

    /// No record (exact: "never").
    pub fn never() -> Cond {
        Cond {
            name: FieldCond::never(),
            source: FieldCond::never(),
            exact: true,
        }
    }

    /// Every record, but only as an over-approximation: we know nothing.
    pub fn unknown() -> Cond {
        Cond {
            exact: false,
            ..Cond::all()
        }
    }

    /// A condition on one field.
    pub fn field(field: Field, cond: FieldCond, exact: bool) -> Cond {
        let mut c = Cond {
            exact,
            ..Cond::all()
        };
        match field {
            Field::EventName => c.name = cond,
            Field::EventSource => c.source = cond,
        }
        c.normalized()
    }

    /// Admits no record.
    pub fn is_never(&self) -> bool {
        self.name.is_never() || self.source.is_never()
    }

    /// Admits every record.
    pub fn is_all(&self) -> bool {
        self.name.is_any() && self.source.is_any()
    }

    fn normalized(self) -> Cond {
        if self.is_never() {
            Cond {
                exact: self.exact,
                ..Cond::never()
            }
        } else {
            self
        }
    }

    /// Does the condition admit a record with these field values?
    pub fn admits(&self, name: Option<&str>, source: Option<&str>) -> bool {
        self.name.admits(name) && self.source.admits(source)
    }

    /// Both hold.
    pub fn and(&self, other: &Cond) -> Cond {
        if self.is_never() || other.is_never() {
            let exact = (self.is_never() && self.exact) || (other.is_never() && other.exact);
            return Cond {
                exact,
                ..Cond::never()
            };
        }
        let (name, e1) = self.name.and(&other.name);
        let (source, e2) = self.source.and(&other.source);
        Cond {
            name,
            source,
            exact: self.exact && other.exact && e1 && e2,
        }
        .normalized()
    }

    /// Either holds. The union of two boxes is a box (exact) only when
    /// they agree on one field.
    pub fn or(&self, other: &Cond) -> Cond {
        if self.is_never() && self.exact {
            return other.clone();
        }
        if other.is_never() && other.exact {
            return self.clone();
        }
        let (name, e1) = self.name.or(&other.name);
        let (source, e2) = self.source.or(&other.source);
        let boxy = self.name == other.name || self.source == other.source;
        Cond {
            name,
            source,
            exact: self.exact && other.exact && e1 && e2 && boxy,
        }
        .normalized()
    }

    /// The records it does not admit: exact when this condition is exact
    /// and constrains at most one field; otherwise a sound
    /// over-approximation (for an inexact condition, every record).
    pub fn complement(&self) -> Cond {
        if !self.exact {
            return Cond::all().inexact();
        }
        if self.is_never() {
            return Cond::all();
        }
        let not_name = Cond {
            name: self.name.not(),
            ..Cond::all()
        }
        .normalized();
        let not_source = Cond {
            source: self.source.not(),
            ..Cond::all()
        }
        .normalized();
        match (self.name.is_any(), self.source.is_any()) {
            (true, true) => Cond::never(),
            (false, true) => not_name,
            (true, false) => not_source,
            (false, false) => not_name.or(&not_source),
        }
    }

    /// The same condition, marked inexact.
    pub fn inexact(mut self) -> Cond {
        self.exact = false;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> FieldCond {
        FieldCond::In(KeySet::names(n.iter().copied()))
    }
    fn prefix(p: &str) -> FieldCond {
        FieldCond::In(KeySet::prefixes([p]))
    }
    fn not(c: FieldCond) -> FieldCond {
        c.not()
    }

    #[test]
    fn field_laws() {
        let a = names(&["A", "B"]);
        assert_eq!(a.and(&FieldCond::any()).0, a);
        assert!(a.and(&FieldCond::never()).0.is_never());
        assert!(a.or(&FieldCond::any()).0.is_any());
        assert_eq!(a.or(&FieldCond::never()).0, a);
        assert_eq!(a.and(&names(&["B", "C"])), (names(&["B"]), true));
        assert_eq!(a.and(&not(names(&["A"]))), (names(&["B"]), true));
        assert_eq!(
            prefix("Create").and(&names(&["CreateUser", "DeleteUser"])),
            (names(&["CreateUser"]), true)
        );
        assert_eq!(
            prefix("Create").and(&prefix("CreateU")),
            (prefix("CreateU"), true)
        );
        assert!(prefix("Create").and(&prefix("Delete")).0.is_never());
    }

    #[test]
    fn subtraction_rounds_the_safe_way() {
        // In(prefix Create) and not In(CreateUser): cannot cut a name out of a prefix.
        let (c, exact) = prefix("Create").and(&not(names(&["CreateUser"])));
        assert_eq!(c, prefix("Create"));
        assert!(!exact);
        assert!(c.admits(Some("CreateRole")));
        // NotIn(CreateUser) or In(prefix Create): everything (the excluded name is covered).
        let (c, exact) = not(names(&["CreateUser"])).or(&prefix("Create"));
        assert!(c.is_any());
        assert!(exact);
        // NotIn(prefix Create) or In(CreateUser): must still admit CreateUser.
        let (c, exact) = not(prefix("Create")).or(&names(&["CreateUser"]));
        assert!(c.admits(Some("CreateUser")));
        assert!(c.admits(Some("CreateRole"))); // rounded: sound but inexact
        assert!(!exact);
    }

    #[test]
    fn other_tracks_missing_fields() {
        let c = not(names(&["X"]));
        assert!(c.admits(None));
        assert!(!names(&["X"]).admits(None));
        assert!(FieldCond::In(KeySet::other()).admits(None));
    }

    #[test]
    fn box_union_is_exact_only_when_a_field_agrees() {
        let a = Cond::field(Field::EventName, names(&["A"]), true);
        let b = Cond::field(Field::EventName, names(&["B"]), true);
        assert!(a.or(&b).exact);
        let s = Cond::field(Field::EventSource, names(&["s3.amazonaws.com"]), true);
        let both = a.and(&s);
        assert!(both.exact);
        let u = both.or(&b);
        assert!(!u.exact, "{u:?}");
        assert!(u.admits(Some("A"), Some("s3.amazonaws.com")));
        assert!(u.admits(Some("B"), None));
    }
}
