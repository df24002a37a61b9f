//! The shared dispatch index: from a record's (`eventName`, `eventSource`)
//! to the rules that must look at it, in config order.
//!
//! Each prefilter dimension (each field, and each field's ASCII lowercase
//! for case-insensitive conditions, looked up with the lowercased value)
//! has an index of rule bitsets: by exact value (hash map), by prefix, for
//! "missing or not a string", and exclusions for "anything but"
//! conditions. The candidates of a record are the rules admitted in every
//! dimension. That computation is memoised per distinct (name, source) pair,
//! so a record costs one hash lookup (two, one per field level) however
//! many rules are indexed; CloudTrail has a few hundred distinct pairs per
//! file. The memo is bounded and starts over when full.
//!
//! Architecture invariant: a rule whose prefilter is `Any` runs on every
//! record, and a record that is not a JSON object runs every rule (the
//! analysis assumes objects).

use std::collections::HashMap;
use std::sync::Arc;

use tattletail_compiler::analysis::{Dim, FieldCond, KeyConds, KeySet, Prefilter};

/// Rule ids in config order.
pub type Candidates = Arc<[u32]>;

/// Most memoised (name, source) pairs before the memo starts over.
const MEMO_LIMIT: usize = 1 << 16;

#[derive(Clone, Default)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(n: usize) -> Bits {
        Bits(vec![0; n.div_ceil(64)])
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn or(&mut self, o: &Bits) {
        self.0.iter_mut().zip(&o.0).for_each(|(a, b)| *a |= b);
    }
    fn and(&mut self, o: &Bits) {
        self.0.iter_mut().zip(&o.0).for_each(|(a, b)| *a &= b);
    }
    fn and_not(&mut self, o: &Bits) {
        self.0.iter_mut().zip(&o.0).for_each(|(a, b)| *a &= !b);
    }
    fn ids(&self) -> Vec<u32> {
        let mut out = Vec::new();
        for (w, word) in self.0.iter().enumerate() {
            let mut x = *word;
            while x != 0 {
                out.push((w * 64 + x.trailing_zeros() as usize) as u32);
                x &= x - 1;
            }
        }
        out
    }
}

/// Rules by the value of one field.
struct Lookup {
    exact: HashMap<String, Bits>,
    prefixes: Vec<(String, Bits)>,
    other: Bits,
}

impl Lookup {
    fn new(n: usize) -> Lookup {
        Lookup {
            exact: HashMap::new(),
            prefixes: Vec::new(),
            other: Bits::new(n),
        }
    }

    fn add(&mut self, n: usize, set: &KeySet, rule: usize) {
        for name in &set.names {
            self.exact
                .entry(name.clone())
                .or_insert_with(|| Bits::new(n))
                .set(rule);
        }
        for p in &set.prefixes {
            match self.prefixes.iter_mut().find(|(q, _)| q == p) {
                Some((_, b)) => b.set(rule),
                None => {
                    let mut b = Bits::new(n);
                    b.set(rule);
                    self.prefixes.push((p.clone(), b));
                }
            }
        }
        if set.other {
            self.other.set(rule);
        }
    }

    fn hits(&self, value: Option<&str>, out: &mut Bits) {
        match value {
            None => out.or(&self.other),
            Some(v) => {
                if let Some(b) = self.exact.get(v) {
                    out.or(b);
                }
                for (p, b) in &self.prefixes {
                    if v.starts_with(p.as_str()) {
                        out.or(b);
                    }
                }
            }
        }
    }
}

/// The index for one dimension.
struct FieldIndex {
    /// Rules admitted whatever the value (Any, and NotIn before exclusions).
    base: Bits,
    include: Lookup,
    exclude: Lookup,
}

impl FieldIndex {
    fn new(n: usize) -> FieldIndex {
        FieldIndex {
            base: Bits::new(n),
            include: Lookup::new(n),
            exclude: Lookup::new(n),
        }
    }

    fn add(&mut self, n: usize, cond: &FieldCond, rule: usize) {
        match cond {
            FieldCond::In(s) => self.include.add(n, s, rule),
            FieldCond::NotIn(s) => {
                self.base.set(rule);
                self.exclude.add(n, s, rule);
            }
        }
    }

    fn admitted(&self, n: usize, value: Option<&str>) -> Bits {
        let mut bits = self.base.clone();
        self.include.hits(value, &mut bits);
        let mut excluded = Bits::new(n);
        self.exclude.hits(value, &mut excluded);
        bits.and_not(&excluded);
        bits
    }
}

#[derive(Default)]
struct BySource {
    some: HashMap<String, Candidates>,
    none: Option<Candidates>,
}

/// The dispatch index over all rules of a plan.
pub struct DispatchIndex {
    n: usize,
    /// One per dimension, in the order of [`Dim::ALL`].
    dims: Vec<FieldIndex>,
    every: Candidates,
    memo_some: HashMap<String, BySource>,
    memo_none: BySource,
    memo_len: usize,
}

impl DispatchIndex {
    /// Build the index from the rules' prefilters (in config order).
    pub fn new<'a>(prefilters: impl IntoIterator<Item = &'a Prefilter>) -> DispatchIndex {
        let prefilters: Vec<&Prefilter> = prefilters.into_iter().collect();
        let n = prefilters.len();
        let mut dims: Vec<FieldIndex> = Dim::ALL.iter().map(|_| FieldIndex::new(n)).collect();
        let any = KeyConds::any();
        for (i, p) in prefilters.iter().enumerate() {
            let keys = match p {
                Prefilter::Never => continue,
                Prefilter::Any => &any,
                Prefilter::Keys(keys) => keys,
            };
            for (ix, (_, cond)) in dims.iter_mut().zip(keys.iter()) {
                ix.add(n, cond, i);
            }
        }
        DispatchIndex {
            n,
            dims,
            every: (0..n as u32).collect(),
            memo_some: HashMap::new(),
            memo_none: BySource::default(),
            memo_len: 0,
        }
    }

    /// Every rule, for records that are not objects.
    pub fn every_rule(&self) -> Candidates {
        self.every.clone()
    }

    fn compute(&self, name: Option<&str>, source: Option<&str>) -> Candidates {
        let mut admitted = self
            .dims
            .iter()
            .zip(Dim::ALL)
            .map(|(ix, d)| ix.admitted(self.n, d.value(name, source).as_deref()));
        let mut bits = admitted.next().expect("a prefilter has dimensions");
        admitted.for_each(|b| bits.and(&b));
        bits.ids().into()
    }

    /// The rules that must look at a record with these top-level values
    /// (`None`: missing or not a string), in config order.
    pub fn candidates(&mut self, name: Option<&str>, source: Option<&str>) -> Candidates {
        let level = match name {
            Some(n) => self.memo_some.get(n),
            None => Some(&self.memo_none),
        };
        if let Some(level) = level {
            let hit = match source {
                Some(s) => level.some.get(s),
                None => level.none.as_ref(),
            };
            if let Some(c) = hit {
                return c.clone();
            }
        }
        let c = self.compute(name, source);
        if self.memo_len >= MEMO_LIMIT {
            self.memo_some.clear();
            self.memo_none = BySource::default();
            self.memo_len = 0;
        }
        self.memo_len += 1;
        let level = match name {
            Some(n) => self.memo_some.entry(n.to_string()).or_default(),
            None => &mut self.memo_none,
        };
        match source {
            Some(s) => {
                level.some.insert(s.to_string(), c.clone());
            }
            None => level.none = Some(c.clone()),
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> FieldCond {
        FieldCond::In(KeySet::names(n.iter().copied()))
    }

    fn keys(event_name: FieldCond, event_source: FieldCond) -> Prefilter {
        Prefilter::Keys(KeyConds {
            event_name,
            event_source,
            ..KeyConds::any()
        })
    }

    #[test]
    fn dispatches_by_name_prefix_source_and_exclusion() {
        let rules = [
            keys(names(&["A"]), FieldCond::any()),
            Prefilter::Any,
            keys(FieldCond::In(KeySet::prefixes(["Get"])), FieldCond::any()),
            keys(FieldCond::any(), names(&["s3"])),
            keys(names(&["A"]).not(), FieldCond::any()),
            Prefilter::Never,
            keys(names(&["A"]), names(&["iam"])),
        ];
        let mut ix = DispatchIndex::new(&rules);
        let c =
            |ix: &mut DispatchIndex, n: Option<&str>, s: Option<&str>| ix.candidates(n, s).to_vec();
        assert_eq!(c(&mut ix, Some("A"), Some("iam")), [0, 1, 6]);
        assert_eq!(c(&mut ix, Some("A"), Some("s3")), [0, 1, 3]);
        assert_eq!(c(&mut ix, Some("GetObject"), Some("s3")), [1, 2, 3, 4]);
        assert_eq!(c(&mut ix, None, None), [1, 4]);
        // Memoised answers are the same.
        assert_eq!(c(&mut ix, Some("GetObject"), Some("s3")), [1, 2, 3, 4]);
        assert_eq!(ix.every_rule().len(), 7);
    }

    #[test]
    fn many_rules_spill_over_one_word() {
        let rules: Vec<Prefilter> = (0..200)
            .map(|i| keys(names(&[&format!("E{i}")]), FieldCond::any()))
            .collect();
        let mut ix = DispatchIndex::new(&rules);
        assert_eq!(ix.candidates(Some("E150"), None).to_vec(), [150]);
        assert!(ix.candidates(Some("nope"), None).is_empty());
    }

    #[test]
    fn folded_conditions_are_looked_up_lowercased() {
        let folded = |c: FieldCond| {
            Prefilter::Keys(KeyConds {
                event_name_folded: c,
                ..KeyConds::any()
            })
        };
        let mut no_x = KeySet::names(["deletetrail"]);
        no_x.other = true;
        let rules = [
            folded(names(&["deletetrail"])),
            keys(names(&["DeleteTrail"]), FieldCond::any()),
            folded(FieldCond::In(KeySet::prefixes(["delete"]))),
            folded(FieldCond::NotIn(no_x)),
            folded(FieldCond::In(KeySet::other())),
            Prefilter::Keys(KeyConds {
                event_source: names(&["s3"]),
                event_name_folded: names(&["deletetrail"]),
                ..KeyConds::any()
            }),
        ];
        let mut ix = DispatchIndex::new(&rules);
        let c =
            |ix: &mut DispatchIndex, n: Option<&str>, s: Option<&str>| ix.candidates(n, s).to_vec();
        assert_eq!(c(&mut ix, Some("DeleteTrail"), None), [0, 1, 2]);
        assert_eq!(c(&mut ix, Some("deletetrail"), None), [0, 2]);
        assert_eq!(c(&mut ix, Some("DELETETRAIL"), Some("s3")), [0, 2, 5]);
        assert_eq!(c(&mut ix, Some("DeleteBucket"), None), [2, 3]);
        assert_eq!(c(&mut ix, Some("StopLogging"), None), [3]);
        assert_eq!(c(&mut ix, None, Some("s3")), [4]);
        // Memoised per exact pair: another case is another entry.
        assert_eq!(c(&mut ix, Some("DeleteTrail"), None), [0, 1, 2]);
        assert_eq!(c(&mut ix, Some("deleteTRAIL"), None), [0, 2]);
        for name in [Some("DeleteTrail"), Some("x"), None] {
            let got = c(&mut ix, name, Some("s3"));
            let want: Vec<u32> = (0..rules.len() as u32)
                .filter(|&i| rules[i as usize].admits(name, Some("s3")))
                .collect();
            assert_eq!(got, want, "{name:?}");
        }
    }
}
