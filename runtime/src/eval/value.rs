//! Values during evaluation. A value read from the record stays on the
//! simd-json tape (`TStr`, `TArr`, `TObj` borrow it), so a path like
//! `.userIdentity.arn` costs a walk over a few nodes and no allocation;
//! values a rule builds are reference-counted (`Str`, `Arr`, `Obj`).
//!
//! Owned containers know how deeply they nest: a container deeper than
//! [`Limits::depth`](super::budget::Limits) is never built, so dropping a
//! value can never overflow the stack. Tape values are leaves for that
//! purpose (they own nothing); walks over them count their own depth.
//!
//! Objects keep insertion order, as jq does (gojq sorts keys). A tape
//! object may repeat a key; as in jq, the last value wins, at the place
//! of the first.

use std::cmp::Ordering;
use std::rc::Rc;

use indexmap::IndexMap;
use simd_json::tape::Node;
use simd_json::StaticNode;

/// A slice of the tape that starts at a container node.
pub type Tape<'t> = &'t [Node<'t>];

/// An object key: borrowed from the tape or owned.
#[derive(Clone, Debug)]
pub enum Key<'t> {
    /// From the tape.
    T(&'t str),
    /// Built by the rule.
    R(Rc<str>),
}

impl Key<'_> {
    /// The text.
    pub fn as_str(&self) -> &str {
        match self {
            Key::T(s) => s,
            Key::R(s) => s,
        }
    }
}

impl PartialEq for Key<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}
impl Eq for Key<'_> {}
impl std::hash::Hash for Key<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}
impl std::borrow::Borrow<str> for Key<'_> {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

/// The map of an owned object (insertion order; a keyed fast hash, as
/// keys can come from records).
pub type Map<'t> = IndexMap<Key<'t>, Value<'t>, ahash::RandomState>;

/// An owned array and how deeply it nests (1 + its deepest owned child).
#[derive(Clone, Debug, Default)]
pub struct List<'t> {
    /// The elements.
    pub items: Vec<Value<'t>>,
    /// Nesting depth of owned containers.
    pub depth: u32,
}

/// An owned object and how deeply it nests.
#[derive(Clone, Debug, Default)]
pub struct Dict<'t> {
    /// Entries in insertion order.
    pub map: Map<'t>,
    /// Nesting depth of owned containers.
    pub depth: u32,
}

/// A jq value.
#[derive(Clone, Debug)]
pub enum Value<'t> {
    /// `null`
    Null,
    /// `true`, `false`
    Bool(bool),
    /// An integer (exact in 64 bits).
    Int(i64),
    /// Any other number.
    Float(f64),
    /// A string on the tape.
    TStr(&'t str),
    /// A string built by the rule.
    Str(Rc<str>),
    /// An array on the tape.
    TArr(Tape<'t>),
    /// An array built by the rule.
    Arr(Rc<List<'t>>),
    /// An object on the tape.
    TObj(Tape<'t>),
    /// An object built by the rule.
    Obj(Rc<Dict<'t>>),
}

/// The kinds of values in jq's sort order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// `null`
    Null,
    /// `false`
    False,
    /// `true`
    True,
    /// Numbers.
    Number,
    /// Strings.
    String,
    /// Arrays.
    Array,
    /// Objects.
    Object,
}

/// Size of a tape node with everything below it.
#[inline]
pub fn node_size(n: &Node<'_>) -> usize {
    match n {
        Node::Object { count, .. } | Node::Array { count, .. } => count + 1,
        _ => 1,
    }
}

impl<'t> Value<'t> {
    /// The value at the start of a tape slice.
    #[inline]
    pub fn from_tape(t: Tape<'t>) -> Value<'t> {
        match &t[0] {
            Node::String(s) => Value::TStr(s),
            Node::Object { .. } => Value::TObj(t),
            Node::Array { .. } => Value::TArr(t),
            Node::Static(s) => match s {
                StaticNode::Null => Value::Null,
                StaticNode::Bool(b) => Value::Bool(*b),
                StaticNode::I64(i) => Value::Int(*i),
                StaticNode::U64(u) => i64::try_from(*u).map_or(Value::Float(*u as f64), Value::Int),
                StaticNode::F64(f) => Value::Float(*f),
            },
        }
    }

    /// A string value.
    pub fn string(s: impl Into<Rc<str>>) -> Value<'t> {
        Value::Str(s.into())
    }

    /// An array of these items.
    pub fn array(items: Vec<Value<'t>>) -> Value<'t> {
        let depth = 1 + items.iter().map(Value::owned_depth).max().unwrap_or(0);
        Value::Arr(Rc::new(List { items, depth }))
    }

    /// An object of these entries (inserted in order; later keys win).
    pub fn object(map: Map<'t>) -> Value<'t> {
        let depth = 1 + map.values().map(Value::owned_depth).max().unwrap_or(0);
        Value::Obj(Rc::new(Dict { map, depth }))
    }

    /// A number: whole floats that fit stay integers.
    pub fn number(f: f64) -> Value<'t> {
        if f.fract() == 0.0 && f.abs() < 9.0e15 && !(f == 0.0 && f.is_sign_negative()) {
            Value::Int(f as i64)
        } else {
            Value::Float(f)
        }
    }

    /// Depth of owned containers (tape values own nothing: 0).
    pub fn owned_depth(&self) -> u32 {
        match self {
            Value::Arr(l) => l.depth,
            Value::Obj(d) => d.depth,
            _ => 0,
        }
    }

    /// The kind, for ordering and `type`.
    pub fn kind(&self) -> Kind {
        match self {
            Value::Null => Kind::Null,
            Value::Bool(false) => Kind::False,
            Value::Bool(true) => Kind::True,
            Value::Int(_) | Value::Float(_) => Kind::Number,
            Value::TStr(_) | Value::Str(_) => Kind::String,
            Value::TArr(_) | Value::Arr(_) => Kind::Array,
            Value::TObj(_) | Value::Obj(_) => Kind::Object,
        }
    }

    /// `type`.
    pub fn type_name(&self) -> &'static str {
        match self.kind() {
            Kind::Null => "null",
            Kind::False | Kind::True => "boolean",
            Kind::Number => "number",
            Kind::String => "string",
            Kind::Array => "array",
            Kind::Object => "object",
        }
    }

    /// Neither `null` nor `false`.
    #[inline]
    pub fn truthy(&self) -> bool {
        !matches!(self, Value::Null | Value::Bool(false))
    }

    /// The string, if it is one.
    #[inline]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::TStr(s) => Some(s),
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The number, if it is one.
    #[inline]
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// Is it an array?
    pub fn is_array(&self) -> bool {
        matches!(self, Value::TArr(_) | Value::Arr(_))
    }

    /// Is it an object?
    pub fn is_object(&self) -> bool {
        matches!(self, Value::TObj(_) | Value::Obj(_))
    }

    /// Number of elements of an array.
    pub fn array_len(&self) -> Option<usize> {
        match self {
            Value::TArr(t) => match t[0] {
                Node::Array { len, .. } => Some(len),
                _ => None,
            },
            Value::Arr(l) => Some(l.items.len()),
            _ => None,
        }
    }

    /// The elements of an array, in order.
    pub fn array_iter(&self) -> ArrayIter<'_, 't> {
        match self {
            Value::TArr(t) => ArrayIter::Tape(
                &t[1..],
                match t[0] {
                    Node::Array { len, .. } => len,
                    _ => 0,
                },
            ),
            Value::Arr(l) => ArrayIter::Own(l.items.iter()),
            _ => ArrayIter::Own([].iter()),
        }
    }

    /// Element `i` of an array (`None` past the end; negative from the end).
    pub fn array_get(&self, i: i64) -> Option<Value<'t>> {
        let len = self.array_len()? as i64;
        let i = if i < 0 { i + len } else { i };
        if i < 0 || i >= len {
            return None;
        }
        match self {
            Value::Arr(l) => l.items.get(i as usize).cloned(),
            _ => self.array_iter().nth(i as usize),
        }
    }

    /// The value of `key` in an object (a repeated key: the last one).
    #[inline]
    pub fn object_get(&self, key: &str) -> Option<Value<'t>> {
        match self {
            Value::TObj(t) => tape_get(t, key),
            Value::Obj(d) => d.map.get(key).cloned(),
            _ => None,
        }
    }

    /// The entries of an object in order, each key once (its first place,
    /// its last value).
    pub fn object_entries(&self) -> Vec<(Key<'t>, Value<'t>)> {
        match self {
            Value::TObj(t) => {
                let pairs = tape_pairs(t);
                if !has_repeats(&pairs) {
                    return pairs.into_iter().map(|(k, v)| (Key::T(k), v)).collect();
                }
                let mut map: IndexMap<&'t str, Value<'t>, ahash::RandomState> =
                    IndexMap::with_capacity_and_hasher(pairs.len(), Default::default());
                for (k, v) in pairs {
                    map.insert(k, v);
                }
                map.into_iter().map(|(k, v)| (Key::T(k), v)).collect()
            }
            Value::Obj(d) => d.map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            _ => Vec::new(),
        }
    }

    /// Number of (distinct) keys of an object.
    pub fn object_len(&self) -> usize {
        match self {
            Value::TObj(t) => {
                let pairs = tape_pairs(t);
                if has_repeats(&pairs) {
                    self.object_entries().len()
                } else {
                    pairs.len()
                }
            }
            Value::Obj(d) => d.map.len(),
            _ => 0,
        }
    }

    /// An owned copy of an object's entries (to modify it).
    pub fn to_dict(&self) -> Dict<'t> {
        match self {
            Value::Obj(d) => (**d).clone(),
            // Straight from the tape: inserting in order keeps a repeated
            // key at its first place with its last value, as jq does.
            Value::TObj(t) => {
                let mut map = Map::with_capacity_and_hasher(tape_len(t), Default::default());
                let mut depth = 0;
                for (k, v) in tape_iter(t) {
                    depth = depth.max(v.owned_depth());
                    map.insert(Key::T(k), v);
                }
                Dict {
                    map,
                    depth: 1 + depth,
                }
            }
            _ => {
                let entries = self.object_entries();
                let depth = 1 + entries
                    .iter()
                    .map(|(_, v)| v.owned_depth())
                    .max()
                    .unwrap_or(0);
                Dict {
                    map: entries.into_iter().collect(),
                    depth,
                }
            }
        }
    }

    /// An owned copy of an array's elements.
    pub fn to_list(&self) -> List<'t> {
        match self {
            Value::Arr(l) => (**l).clone(),
            _ => {
                let items: Vec<Value<'t>> = self.array_iter().collect();
                let depth = 1 + items.iter().map(Value::owned_depth).max().unwrap_or(0);
                List { items, depth }
            }
        }
    }
}

/// Iterates over an array's elements.
pub enum ArrayIter<'a, 't> {
    /// On the tape: the remaining nodes and elements.
    Tape(Tape<'t>, usize),
    /// Owned.
    Own(std::slice::Iter<'a, Value<'t>>),
}

impl<'t> Iterator for ArrayIter<'_, 't> {
    type Item = Value<'t>;

    #[inline]
    fn next(&mut self) -> Option<Value<'t>> {
        match self {
            ArrayIter::Tape(rest, left) => {
                if *left == 0 {
                    return None;
                }
                *left -= 1;
                let v = Value::from_tape(rest);
                *rest = &rest[node_size(&rest[0])..];
                Some(v)
            }
            ArrayIter::Own(it) => it.next().cloned(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            ArrayIter::Tape(_, left) => (*left, Some(*left)),
            ArrayIter::Own(it) => it.size_hint(),
        }
    }
}

/// Number of key/value pairs of a tape object, repeats included.
fn tape_len(t: Tape<'_>) -> usize {
    match t[0] {
        Node::Object { len, .. } => len,
        _ => 0,
    }
}

/// Key/value pairs of a tape object, in order, repeats included, without
/// collecting them.
fn tape_iter<'t>(t: Tape<'t>) -> impl Iterator<Item = (&'t str, Value<'t>)> {
    let mut i = 1;
    (0..tape_len(t)).map_while(move |_| {
        let Node::String(k) = t[i] else {
            return None;
        };
        let v = &t[i + 1..];
        i += 1 + node_size(&v[0]);
        Some((k, Value::from_tape(v)))
    })
}

/// Does a tape object repeat a key? Without allocating for small objects.
fn tape_has_repeats(t: Tape<'_>) -> bool {
    let n = tape_len(t);
    if n <= 16 {
        let mut keys = [""; 16];
        for (i, (k, _)) in tape_iter(t).enumerate() {
            if keys[..i].contains(&k) {
                return true;
            }
            keys[i] = k;
        }
        return false;
    }
    has_repeats(&tape_pairs(t))
}

impl<'t> Value<'t> {
    /// The values of an object in order (a repeated key's last value at its
    /// first place), or of an array; without collecting them when the
    /// container is on the tape and repeats no key.
    pub fn for_each_child<E>(
        &self,
        mut f: impl FnMut(Value<'t>) -> Result<(), E>,
    ) -> Result<(), E> {
        match self {
            Value::TObj(t) if !tape_has_repeats(t) => {
                for (_, v) in tape_iter(t) {
                    f(v)?;
                }
            }
            Value::TObj(_) | Value::Obj(_) => {
                for (_, v) in self.object_entries() {
                    f(v)?;
                }
            }
            _ => {
                for v in self.array_iter() {
                    f(v)?;
                }
            }
        }
        Ok(())
    }
}

/// Key/value pairs of a tape object, in order, repeats included.
pub fn tape_pairs<'t>(t: Tape<'t>) -> Vec<(&'t str, Value<'t>)> {
    let Node::Object { len, .. } = t[0] else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(len);
    let mut i = 1;
    for _ in 0..len {
        let Node::String(k) = t[i] else {
            break;
        };
        let v = &t[i + 1..];
        out.push((k, Value::from_tape(v)));
        i += 1 + node_size(&v[0]);
    }
    out
}

fn has_repeats(pairs: &[(&str, Value<'_>)]) -> bool {
    if pairs.len() <= 16 {
        for i in 1..pairs.len() {
            for j in 0..i {
                if pairs[i].0 == pairs[j].0 {
                    return true;
                }
            }
        }
        return false;
    }
    let mut seen: std::collections::HashSet<&str, ahash::RandomState> =
        std::collections::HashSet::with_capacity_and_hasher(pairs.len(), Default::default());
    pairs.iter().any(|(k, _)| !seen.insert(*k))
}

/// The value of `key` in a tape object; the last repeat wins.
#[inline]
pub fn tape_get<'t>(t: Tape<'t>, key: &str) -> Option<Value<'t>> {
    let Node::Object { len, .. } = t[0] else {
        return None;
    };
    let mut found = None;
    let mut i = 1;
    for _ in 0..len {
        let Node::String(k) = t[i] else {
            break;
        };
        let v = &t[i + 1..];
        if k == key {
            found = Some(v);
        }
        i += 1 + node_size(&v[0]);
    }
    found.map(Value::from_tape)
}

/// Bill work to the running evaluation; a comparison is linear in its
/// values and finishes (the evaluation stops at its next step).
fn work(steps: u64) {
    let _ = super::budget::bill(steps);
}

/// jq's equality (numbers by value, objects regardless of key order).
///
/// Like [`compare`], it bills its work beyond one step to the running
/// evaluation ([`super::budget::bill`]).
pub fn equal(a: &Value<'_>, b: &Value<'_>) -> bool {
    match (a.kind(), b.kind()) {
        (x, y) if x != y => false,
        (Kind::String, _) => {
            let (x, y) = (a.as_str(), b.as_str());
            work(x.map_or(0, str::len) as u64 / 64);
            x == y
        }
        (Kind::Array, _) if a.array_len() != b.array_len() => false,
        _ => compare(a, b) == Ordering::Equal,
    }
}

/// jq's total order: null < false < true < numbers < strings < arrays <
/// objects; arrays element-wise; objects by their sorted keys, then by
/// values in key order. Recursion is bounded by the nesting of the
/// values, which the evaluator limits; it runs on a guarded stack.
pub fn compare(a: &Value<'_>, b: &Value<'_>) -> Ordering {
    let (ka, kb) = (a.kind(), b.kind());
    if ka != kb {
        return ka.cmp(&kb);
    }
    match ka {
        Kind::Null | Kind::False | Kind::True => Ordering::Equal,
        Kind::Number => match (a, b) {
            (Value::Int(x), Value::Int(y)) => x.cmp(y),
            _ => {
                let (x, y) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
                // As jq and gojq: nan is below every number and equal to
                // nothing, itself included.
                if x.is_nan() {
                    Ordering::Less
                } else if y.is_nan() {
                    Ordering::Greater
                } else {
                    x.partial_cmp(&y).unwrap_or(Ordering::Equal)
                }
            }
        },
        Kind::String => {
            let (x, y) = (a.as_str(), b.as_str());
            work(x.map_or(0, str::len).min(y.map_or(0, str::len)) as u64 / 64);
            x.cmp(&y)
        }
        Kind::Array => tattletail_compiler::stack::guard(|| {
            let mut ia = a.array_iter();
            let mut ib = b.array_iter();
            loop {
                match (ia.next(), ib.next()) {
                    (None, None) => return Ordering::Equal,
                    (None, Some(_)) => return Ordering::Less,
                    (Some(_), None) => return Ordering::Greater,
                    (Some(x), Some(y)) => match compare_counted(&x, &y) {
                        Ordering::Equal => continue,
                        o => return o,
                    },
                }
            }
        }),
        Kind::Object => tattletail_compiler::stack::guard(|| {
            let mut ea = a.object_entries();
            let mut eb = b.object_entries();
            work(2 * (ea.len() + eb.len()) as u64);
            ea.sort_by(|x, y| x.0.as_str().cmp(y.0.as_str()));
            eb.sort_by(|x, y| x.0.as_str().cmp(y.0.as_str()));
            let keys_a = ea.iter().map(|(k, _)| k.as_str());
            let keys_b = eb.iter().map(|(k, _)| k.as_str());
            match keys_a.cmp(keys_b) {
                Ordering::Equal => {}
                o => return o,
            }
            for ((_, x), (_, y)) in ea.iter().zip(&eb) {
                match compare(x, y) {
                    Ordering::Equal => continue,
                    o => return o,
                }
            }
            Ordering::Equal
        }),
    }
}

/// [`compare`] of two elements, billed one step.
fn compare_counted(a: &Value<'_>, b: &Value<'_>) -> Ordering {
    work(1);
    compare(a, b)
}

/// A value with its input's lifetime forgotten where it borrows nothing:
/// consts are converted once and cloned into each evaluation.
pub fn from_const(c: &tattletail_compiler::ir::Const) -> Value<'static> {
    use tattletail_compiler::ir::Const;
    match c {
        Const::Null => Value::Null,
        Const::Bool(b) => Value::Bool(*b),
        Const::Int(i) => Value::Int(*i),
        Const::Float(f) => Value::Float(*f),
        Const::Str(s) => Value::string(s.as_str()),
        Const::Array(items) => Value::array(items.iter().map(from_const).collect()),
        Const::Object(kvs) => Value::object(
            kvs.iter()
                .map(|(k, v)| (Key::R(Rc::from(k.as_str())), from_const(v)))
                .collect(),
        ),
    }
}
