//! The record's top-level fields, indexed once per record. Rules read
//! top-level fields all the time (`.eventName`, `.userIdentity`,
//! `.errorCode`, …); without an index every such read walks the record's
//! keys. With it, a read is one hash and a probe, shared by every rule
//! evaluated on the record.

use simd_json::tape::Node;

use super::value::{node_size, Tape, Value};

/// Top-level fields of one record (the last of repeated keys wins, as in
/// jq).
#[derive(Default)]
pub struct RootIndex<'t> {
    /// The record's tape, to recognise it.
    root: Option<Tape<'t>>,
    /// Open addressing; empty slots have `None`.
    slots: Vec<Option<(u64, &'t str, Value<'t>)>>,
    mask: usize,
    len: usize,
}

#[inline]
fn hash(s: &str) -> u64 {
    // FxHash-style: cheap and good enough for keys the record chose. The
    // table is rebuilt per record and a probe is bounded by its size, so a
    // crafted set of colliding keys costs at most a linear scan.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for chunk in s.as_bytes().chunks(8) {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    h ^ (s.len() as u64)
}

impl<'t> RootIndex<'t> {
    /// Index the top-level fields of `root` (nothing when it is not an
    /// object).
    pub fn build(&mut self, root: &Value<'t>) {
        self.root = None;
        let Value::TObj(t) = root else {
            return;
        };
        let Node::Object { len, .. } = t[0] else {
            return;
        };
        let cap = (len * 2).next_power_of_two().max(16);
        self.slots.clear();
        self.slots.resize(cap, None);
        self.mask = cap - 1;
        self.len = 0;
        let mut i = 1;
        for _ in 0..len {
            let Node::String(k) = t[i] else {
                break;
            };
            let v = &t[i + 1..];
            self.insert(k, Value::from_tape(v));
            i += 1 + node_size(&v[0]);
        }
        self.root = Some(t);
    }

    fn insert(&mut self, k: &'t str, v: Value<'t>) {
        let h = hash(k);
        let mut at = h as usize & self.mask;
        loop {
            match &mut self.slots[at] {
                slot @ None => {
                    *slot = Some((h, k, v));
                    self.len += 1;
                    return;
                }
                Some((sh, sk, sv)) if *sh == h && *sk == k => {
                    *sv = v;
                    return;
                }
                _ => at = (at + 1) & self.mask,
            }
        }
    }

    /// Number of distinct top-level keys (0 when not an object).
    pub fn len(&self) -> usize {
        self.len
    }

    /// No top-level keys?
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `.key` of `v` if `v` is the indexed record: `Some(value or null)`;
    /// `None` when `v` is something else.
    #[inline]
    pub fn get(&self, v: &Value<'t>, key: &str) -> Option<Value<'t>> {
        let (Value::TObj(t), Some(root)) = (v, self.root) else {
            return None;
        };
        if !std::ptr::eq(t.as_ptr(), root.as_ptr()) {
            return None;
        }
        let h = hash(key);
        let mut at = h as usize & self.mask;
        loop {
            match &self.slots[at] {
                None => return Some(Value::Null),
                Some((sh, sk, sv)) if *sh == h && *sk == key => return Some(sv.clone()),
                _ => at = (at + 1) & self.mask,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_fields_and_keeps_the_last_repeat() {
        let mut bytes = br#"{"a":1,"eventName":"X","a":2,"nested":{"a":3}}"#.to_vec();
        let tape = simd_json::to_tape(&mut bytes).unwrap();
        let root = Value::from_tape(&tape.0);
        let mut ix = RootIndex::default();
        ix.build(&root);
        assert!(matches!(ix.get(&root, "a"), Some(Value::Int(2))));
        assert!(matches!(ix.get(&root, "eventName"), Some(Value::TStr("X"))));
        assert!(matches!(ix.get(&root, "missing"), Some(Value::Null)));
        let nested = root.object_get("nested").unwrap();
        assert!(
            ix.get(&nested, "a").is_none(),
            "only the record itself is indexed"
        );
    }
}
