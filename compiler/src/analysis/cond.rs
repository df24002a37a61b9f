//! The condition algebra behind prefilters.
//!
//! A [`KeySet`] is a set of possible values of one *dimension* ([`Dim`])
//! of a record: the top-level `eventName` or `eventSource`, or the ASCII
//! lowercase of one of them (its *folded* value, for case-insensitive
//! tests; those sets hold lowercase strings): exact strings, string
//! prefixes, and whether "missing or not a string" belongs to it. A
//! [`FieldCond`] is a key set or its complement. A [`Cond`] is the product
//! of one field condition per dimension (a "box", [`KeyConds`]), plus an
//! `exact` flag.
//!
//! The four dimensions are treated as independent, which keeps every law
//! below sound (a record is a point in the four dimensions, and set
//! operations on boxes of points are set operations on the records they
//! admit). The one dependence used is that a field and its folded value
//! are strings on the same records: a condition that only says "a string"
//! or "not a string" can be moved between the two (exactly), which
//! normalisation and unions use to keep a condition in one dimension.
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
//! | `or` of boxes differing in one dimension | exact |
//! | complement of a box constraining one dimension | exact |

use std::borrow::Cow;
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

    /// Every value: every string and "missing or not a string".
    pub fn is_all(&self) -> bool {
        self.other && self.prefixes.contains("")
    }

    /// The same set without the strings that have an ASCII upper-case
    /// letter (no folded value is one of them).
    fn lowercase_only(mut self) -> KeySet {
        let lower = |s: &String| !s.bytes().any(|b| b.is_ascii_uppercase());
        self.names.retain(lower);
        self.prefixes.retain(lower);
        self
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

/// What a type-only condition says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    /// The value is a string.
    String,
    /// The value is missing or not a string.
    Other,
}

impl Ty {
    /// As a condition: `NotIn` when `negated`, else `In`.
    fn cond(self, negated: bool) -> FieldCond {
        match (self, negated) {
            (Ty::String, false) => FieldCond::In(KeySet::prefixes([""])),
            (Ty::String, true) => FieldCond::NotIn(KeySet::other()),
            (Ty::Other, false) => FieldCond::In(KeySet::other()),
            (Ty::Other, true) => FieldCond::NotIn(KeySet::prefixes([""])),
        }
    }
}

/// A condition on one dimension: in a set, or not in it.
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

    /// The canonical form of the same condition (in a folded dimension
    /// when `folded`: no upper-case strings), so that equal conditions
    /// compare equal more often.
    fn canonical(self, folded: bool) -> FieldCond {
        let (set, negated) = match self {
            FieldCond::In(s) => (s, false),
            FieldCond::NotIn(s) => (s, true),
        };
        let set = if folded { set.lowercase_only() } else { set };
        let c = if negated {
            FieldCond::NotIn(set.clone())
        } else {
            FieldCond::In(set.clone())
        };
        if let Some(ty) = c.type_only() {
            return ty.cond(false);
        }
        match (set.is_all(), negated) {
            (true, false) => FieldCond::any(),
            (true, true) => FieldCond::never(),
            (false, false) => FieldCond::In(set),
            (false, true) => FieldCond::NotIn(set),
        }
    }

    /// The type this condition says the value has, when that is all it
    /// says.
    fn type_only(&self) -> Option<Ty> {
        let (set, negated) = match self {
            FieldCond::In(s) => (s, false),
            FieldCond::NotIn(s) => (s, true),
        };
        if !set.names.is_empty() || set.is_all() {
            return None;
        }
        let strings = set.prefixes.contains("");
        let other = set.other;
        if strings == other {
            return None; // nothing, or (prefixes that are not "")
        }
        if !set.prefixes.iter().all(|p| p.is_empty()) {
            return None;
        }
        Some(if strings != negated {
            Ty::String
        } else {
            Ty::Other
        })
    }

    /// Intersection; the flag says whether it is exact.
    pub fn and(&self, other: &FieldCond) -> (FieldCond, bool) {
        use FieldCond::*;
        // "A string" meets an exclusion exactly as "not missing or a
        // non-string" (no name needs cutting out of the prefix "").
        let string = Some(Ty::String);
        match (self, other) {
            (NotIn(_), In(_)) if other.type_only() == string => {
                return self.and(&Ty::String.cond(true))
            }
            (In(_), NotIn(_)) if self.type_only() == string => {
                return Ty::String.cond(true).and(other)
            }
            _ => {}
        }
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

/// One dimension of a prefilter: a field's value, or its ASCII lowercase
/// (its *folded* value, what `ascii_downcase` gives; like the value, it is
/// "missing or not a string" exactly when the field is).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dim {
    /// The field.
    pub field: Field,
    /// Its ASCII-lowercased value rather than the value itself.
    pub folded: bool,
}

impl Dim {
    /// Every dimension, in the order of [`KeyConds`]' fields.
    pub const ALL: [Dim; 4] = [
        Dim::plain(Field::EventName),
        Dim::plain(Field::EventSource),
        Dim::folded(Field::EventName),
        Dim::folded(Field::EventSource),
    ];

    /// The field's value.
    pub const fn plain(field: Field) -> Dim {
        Dim {
            field,
            folded: false,
        }
    }

    /// The field's ASCII-lowercased value.
    pub const fn folded(field: Field) -> Dim {
        Dim {
            field,
            folded: true,
        }
    }

    /// This dimension of a record with these top-level values (`None`:
    /// missing or not a string).
    pub fn value<'a>(self, name: Option<&'a str>, source: Option<&'a str>) -> Option<Cow<'a, str>> {
        let v = match self.field {
            Field::EventName => name?,
            Field::EventSource => source?,
        };
        Some(
            if self.folded && v.bytes().any(|b| b.is_ascii_uppercase()) {
                Cow::Owned(v.to_ascii_lowercase())
            } else {
                Cow::Borrowed(v)
            },
        )
    }
}

/// One [`FieldCond`] per [`Dim`]: a record is admitted when every one
/// admits its value in that dimension.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeyConds {
    /// Condition on `eventName`.
    pub event_name: FieldCond,
    /// Condition on `eventSource`.
    pub event_source: FieldCond,
    /// Condition on `eventName`'s ASCII lowercase (lowercase strings).
    pub event_name_folded: FieldCond,
    /// Condition on `eventSource`'s ASCII lowercase (lowercase strings).
    pub event_source_folded: FieldCond,
}

impl KeyConds {
    /// Every record.
    pub fn any() -> KeyConds {
        KeyConds {
            event_name: FieldCond::any(),
            event_source: FieldCond::any(),
            event_name_folded: FieldCond::any(),
            event_source_folded: FieldCond::any(),
        }
    }

    /// The same conditions with the one on `dim` replaced.
    pub fn with(mut self, dim: Dim, cond: FieldCond) -> KeyConds {
        *self.get_mut(dim) = cond;
        self
    }

    /// The condition on one dimension.
    pub fn get(&self, dim: Dim) -> &FieldCond {
        match (dim.field, dim.folded) {
            (Field::EventName, false) => &self.event_name,
            (Field::EventSource, false) => &self.event_source,
            (Field::EventName, true) => &self.event_name_folded,
            (Field::EventSource, true) => &self.event_source_folded,
        }
    }

    /// The condition on one dimension, to change.
    pub fn get_mut(&mut self, dim: Dim) -> &mut FieldCond {
        match (dim.field, dim.folded) {
            (Field::EventName, false) => &mut self.event_name,
            (Field::EventSource, false) => &mut self.event_source,
            (Field::EventName, true) => &mut self.event_name_folded,
            (Field::EventSource, true) => &mut self.event_source_folded,
        }
    }

    /// Every dimension with its condition.
    pub fn iter(&self) -> impl Iterator<Item = (Dim, &FieldCond)> {
        Dim::ALL.into_iter().map(move |d| (d, self.get(d)))
    }

    /// Admits every record.
    pub fn is_any(&self) -> bool {
        self.iter().all(|(_, c)| c.is_any())
    }

    /// Admits no record (syntactically: some dimension admits no value).
    pub fn is_never(&self) -> bool {
        self.iter().any(|(_, c)| c.is_never())
    }

    /// Does it admit a record with these top-level values (`None`:
    /// missing or not a string)?
    pub fn admits(&self, name: Option<&str>, source: Option<&str>) -> bool {
        self.iter()
            .all(|(d, c)| c.admits(d.value(name, source).as_deref()))
    }

    /// How many dimensions two of them disagree on.
    fn differences(&self, other: &KeyConds) -> usize {
        Dim::ALL
            .iter()
            .filter(|d| self.get(**d) != other.get(**d))
            .count()
    }
}

/// A condition on a record: one [`FieldCond`] per dimension, and exactness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cond {
    /// The conditions per dimension.
    pub keys: KeyConds,
    /// Admits exactly the records with the property (not just a superset).
    pub exact: bool,
}

impl Cond {
    /// Every record (exact: "always").
    pub fn all() -> Cond {
        Cond {
            keys: KeyConds::any(),
            exact: true,
        }
    }

    /// No record (exact: "never").
    pub fn never() -> Cond {
        Cond {
            keys: KeyConds::any().with(Dim::plain(Field::EventName), FieldCond::never()),
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

    /// A condition on one dimension.
    pub fn field(dim: Dim, cond: FieldCond, exact: bool) -> Cond {
        Cond {
            keys: KeyConds::any().with(dim, cond),
            exact,
        }
        .normalized()
    }

    /// Admits no record.
    pub fn is_never(&self) -> bool {
        self.keys.is_never()
    }

    /// Admits every record.
    pub fn is_all(&self) -> bool {
        self.keys.is_any()
    }

    /// The canonical form of the same set of records: each condition
    /// canonical, no upper-case letters in folded ones, and a type-only
    /// condition on a field ("a string", "not a string") moved into the
    /// field's other dimension when that one is constrained too (into the
    /// folded one when both are type-only), so that one dimension says
    /// it all.
    fn normalized(mut self) -> Cond {
        for d in Dim::ALL {
            let c = self.keys.get_mut(d);
            *c = std::mem::replace(c, FieldCond::any()).canonical(d.folded);
        }
        for f in [Field::EventName, Field::EventSource] {
            let (plain, folded) = (Dim::plain(f), Dim::folded(f));
            if !self.keys.get(folded).is_any() && self.keys.get(plain).type_only().is_some() {
                self.move_type(plain, folded);
            } else if !self.keys.get(plain).is_any() {
                self.move_type(folded, plain);
            }
        }
        // A sound condition that admits nothing is exact: the property
        // holds nowhere.
        if self.is_never() {
            Cond::never()
        } else {
            self
        }
    }

    /// Move a type-only condition from one dimension of a field into the
    /// other (an exact rewrite; nothing happens to other conditions).
    fn move_type(&mut self, from: Dim, to: Dim) {
        let Some(ty) = self.keys.get(from).type_only() else {
            return;
        };
        // In the target's polarity (`In` when it is "any"), the
        // intersection is exact.
        let target = self.keys.get(to);
        let negated = matches!(target, FieldCond::NotIn(s) if !s.is_empty());
        let (moved, exact) = target.and(&ty.cond(negated));
        debug_assert!(exact, "a type condition intersects exactly");
        *self.keys.get_mut(to) = moved.canonical(to.folded);
        *self.keys.get_mut(from) = FieldCond::any();
    }

    /// The same records with every type-only condition on a field in the
    /// dimension `folded` says.
    fn types_in(&self, folded: bool) -> Cond {
        let mut c = self.clone();
        for f in [Field::EventName, Field::EventSource] {
            let (from, to) = if folded {
                (Dim::plain(f), Dim::folded(f))
            } else {
                (Dim::folded(f), Dim::plain(f))
            };
            c.move_type(from, to);
        }
        c
    }

    /// A superset: every `In` condition on a field said on its folded
    /// value instead (lowercased: a value in the set folds into the
    /// lowercased set), and every `NotIn` one dropped where the folded
    /// value is constrained, so that it can meet a case-insensitive
    /// condition.
    fn lifted(&self) -> Cond {
        let mut c = self.clone();
        for f in [Field::EventName, Field::EventSource] {
            let (plain, folded) = (Dim::plain(f), Dim::folded(f));
            if matches!(c.keys.get(plain), FieldCond::NotIn(s) if !s.is_empty())
                && !c.keys.get(folded).is_any()
            {
                *c.keys.get_mut(plain) = FieldCond::any();
                c.exact = false;
            }
            if let FieldCond::In(set) = c.keys.get(plain) {
                let lower = KeySet {
                    names: set.names.iter().map(|n| n.to_ascii_lowercase()).collect(),
                    prefixes: set
                        .prefixes
                        .iter()
                        .map(|p| p.to_ascii_lowercase())
                        .collect(),
                    other: set.other,
                }
                .normalized();
                let (moved, _) = c.keys.get(folded).and(&FieldCond::In(lower));
                *c.keys.get_mut(folded) = moved;
                *c.keys.get_mut(plain) = FieldCond::any();
                c.exact = false;
            }
        }
        c.normalized()
    }

    /// Does the condition admit a record with these field values?
    pub fn admits(&self, name: Option<&str>, source: Option<&str>) -> bool {
        self.keys.admits(name, source)
    }

    /// Both hold.
    pub fn and(&self, other: &Cond) -> Cond {
        if self.is_never() || other.is_never() {
            return Cond::never();
        }
        let mut keys = KeyConds::any();
        let mut exact = self.exact && other.exact;
        for d in Dim::ALL {
            let (c, e) = self.keys.get(d).and(other.keys.get(d));
            *keys.get_mut(d) = c;
            exact &= e;
        }
        Cond { keys, exact }.normalized()
    }

    /// Either holds. The union of two boxes is a box (exact) only when
    /// they agree on all dimensions but one; where a type condition could
    /// be said in either dimension of a field, the forms that agree most
    /// are used.
    pub fn or(&self, other: &Cond) -> Cond {
        if self.is_never() && self.exact {
            return other.clone();
        }
        if other.is_never() && other.exact {
            return self.clone();
        }
        let (a, b) = aligned(self, other);
        let mut keys = KeyConds::any();
        let mut exact = a.exact && b.exact && a.keys.differences(&b.keys) <= 1;
        for d in Dim::ALL {
            let (c, e) = a.keys.get(d).or(b.keys.get(d));
            *keys.get_mut(d) = c;
            exact &= e;
        }
        Cond { keys, exact }.normalized()
    }

    /// The records it does not admit: exact when this condition is exact
    /// and its complement is one box (it constrains one dimension, or
    /// the unions of the per-dimension complements align into one);
    /// otherwise a sound over-approximation (for an inexact condition,
    /// every record).
    pub fn complement(&self) -> Cond {
        if !self.exact {
            return Cond::all().inexact();
        }
        if self.is_never() {
            return Cond::all();
        }
        self.keys
            .iter()
            .filter(|(_, c)| !c.is_any())
            .map(|(d, c)| Cond::field(d, c.not(), true))
            .reduce(|a, b| a.or(&b))
            .unwrap_or_else(Cond::never)
    }

    /// The same condition, marked inexact.
    pub fn inexact(mut self) -> Cond {
        self.exact = false;
        self
    }
}

/// The forms of two conditions (type conditions as they are, all in
/// folded dimensions, or all in plain ones; last, the inexact lifted
/// form) that differ in the fewest dimensions, the first such: only
/// their union's hull is taken, so that is the tightest.
fn aligned(a: &Cond, b: &Cond) -> (Cond, Cond) {
    if a.keys.differences(&b.keys) <= 1 {
        return (a.clone(), b.clone());
    }
    let forms = |c: &Cond| [c.clone(), c.types_in(true), c.types_in(false), c.lifted()];
    let (fa, fb) = (forms(a), forms(b));
    let mut best = (fa[0].clone(), fb[0].clone());
    let mut fewest = usize::MAX;
    for x in &fa {
        for y in &fb {
            let n = x.keys.differences(&y.keys);
            if n < fewest {
                fewest = n;
                best = (x.clone(), y.clone());
            }
        }
    }
    best
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
        let a = Cond::field(Dim::plain(Field::EventName), names(&["A"]), true);
        let b = Cond::field(Dim::plain(Field::EventName), names(&["B"]), true);
        assert!(a.or(&b).exact);
        let s = Cond::field(
            Dim::plain(Field::EventSource),
            names(&["s3.amazonaws.com"]),
            true,
        );
        let both = a.and(&s);
        assert!(both.exact);
        let u = both.or(&b);
        assert!(!u.exact, "{u:?}");
        assert!(u.admits(Some("A"), Some("s3.amazonaws.com")));
        assert!(u.admits(Some("B"), None));
    }

    fn on(d: Dim, c: FieldCond) -> Cond {
        Cond::field(d, c, true)
    }
    const NAME: Dim = Dim::plain(Field::EventName);
    const FOLDED: Dim = Dim::folded(Field::EventName);
    const SOURCE: Dim = Dim::plain(Field::EventSource);
    fn strings() -> FieldCond {
        FieldCond::In(KeySet::prefixes([""]))
    }
    fn others() -> FieldCond {
        FieldCond::In(KeySet::other())
    }

    #[test]
    fn folded_values_are_looked_up_lowercased() {
        let c = on(FOLDED, names(&["deletetrail"]));
        assert!(c.admits(Some("DeleteTrail"), None));
        assert!(c.admits(Some("deletetrail"), None));
        assert!(c.admits(Some("DELETETRAIL"), None));
        assert!(!c.admits(Some("DeleteTrails"), None));
        assert!(!c.admits(None, None));
        assert_eq!(
            Dim::folded(Field::EventSource).value(None, Some("S3.Amazonaws.com")),
            Some(Cow::Owned("s3.amazonaws.com".into()))
        );
        // No folded value has an upper-case letter.
        assert!(on(FOLDED, names(&["DeleteTrail"])).is_never());
        assert!(on(FOLDED, prefix("Get")).is_never());
        assert!(on(FOLDED, not(names(&["DeleteTrail"]))).is_all());
    }

    #[test]
    fn folded_dimension_laws() {
        let x = on(FOLDED, names(&["x"]));
        let y = on(FOLDED, names(&["y"]));
        assert_eq!(x.or(&y), on(FOLDED, names(&["x", "y"])));
        assert!(x.and(&y).is_never() && x.and(&y).exact);
        assert_eq!(x.complement(), on(FOLDED, not(names(&["x"]))));
        assert!(x.and(&Cond::all()) == x && x.or(&Cond::never()) == x);
        assert!(x.or(&Cond::all()).is_all() && x.and(&Cond::never()).is_never());
        // A box over a field and the folded value of another: exact
        // intersections, inexact unions across two dimensions.
        let s = on(SOURCE, names(&["s"]));
        let both = x.and(&s);
        assert!(both.exact && both.admits(Some("X"), Some("s")));
        assert!(!both.admits(Some("X"), Some("t")));
        let u = both.or(&y);
        assert!(!u.exact);
        assert!(u.admits(Some("X"), Some("s")) && u.admits(Some("Y"), None));
        // The complement of a box over two dimensions is not a box.
        let c = both.complement();
        assert!(!c.exact && c.admits(Some("X"), Some("t")) && c.admits(Some("z"), Some("s")));
    }

    #[test]
    fn type_conditions_move_between_a_field_and_its_folded_value() {
        // "A string" and "folded ≠ x": one condition on the folded value.
        let c = on(NAME, strings()).and(&on(FOLDED, not(names(&["x"]))));
        let mut want = KeySet::names(["x"]);
        want.other = true;
        assert_eq!(c, on(FOLDED, FieldCond::NotIn(want)));
        assert_eq!(
            c.complement(),
            on(FOLDED, FieldCond::In(want_other(&["x"])))
        );
        // "Not a string" or "folded = x": one box, exact.
        let u = on(NAME, others()).or(&on(FOLDED, names(&["x"])));
        assert!(u.exact);
        assert_eq!(u, on(FOLDED, FieldCond::In(want_other(&["x"]))));
        // "A string" and "not a string": nothing, in either dimension.
        assert!(on(NAME, strings()).and(&on(FOLDED, others())).is_never());
        // Both forms of "a string" are the same condition.
        assert_eq!(
            on(NAME, strings()),
            on(NAME, not(FieldCond::In(KeySet::other())))
        );
        // A type condition stays on the field next to names.
        let n = on(NAME, names(&["A"])).or(&on(NAME, others()));
        assert!(n.exact);
        assert_eq!(n, on(NAME, FieldCond::In(want_other(&["A"]))));
    }

    fn want_other(n: &[&str]) -> KeySet {
        let mut s = KeySet::names(n.iter().copied());
        s.other = true;
        s
    }

    #[test]
    fn a_case_sensitive_condition_meets_a_folded_one_on_the_folded_value() {
        let u = on(NAME, names(&["DeleteTrail"])).or(&on(FOLDED, names(&["stoplogging"])));
        assert!(!u.exact);
        assert_eq!(
            u.keys.event_name_folded,
            names(&["deletetrail", "stoplogging"])
        );
        assert!(u.keys.event_name.is_any());
        assert!(u.admits(Some("DeleteTrail"), None) && u.admits(Some("STOPLOGGING"), None));
        // Exclusions are dropped, not lifted: still a superset.
        let v = on(NAME, not(names(&["A"])))
            .and(&on(FOLDED, names(&["b"])))
            .or(&on(FOLDED, names(&["c"])));
        assert!(v.admits(Some("B"), None) && v.admits(Some("c"), None));
    }
}
