//! Builtins that are functions of values: the input and the values of
//! their arguments in, one value (or an error) out. Semantics are gojq's
//! where jq 1.6 and gojq differ (see the README's dialect table); error
//! messages are jq's wording.

use std::cmp::Ordering;
use std::rc::Rc;

use tattletail_compiler::ir::Builtin;
use tattletail_compiler::syntax::ast::BinOp;

use super::budget::Exceeded;
use super::interp::{describe, err, object_key, Interp, Stop};
use super::value::{compare, equal, Key, Map, Value};

type R<'t> = Result<Value<'t>, Stop<'t>>;

fn need_array<'t>(v: &Value<'t>, what: &str) -> Result<(), Stop<'t>> {
    if v.is_array() {
        Ok(())
    } else {
        Err(err(format!("{what} cannot be applied to {}", describe(v))))
    }
}

fn need_str<'a, 't>(v: &'a Value<'t>, what: &str) -> Result<&'a str, Stop<'t>> {
    v.as_str()
        .ok_or_else(|| err(format!("{what} cannot be applied to {}", describe(v))))
}

/// `l op r` for the arithmetic operators.
pub fn arith<'t>(ev: &mut Interp<'_, 't>, op: BinOp, l: Value<'t>, r: Value<'t>) -> R<'t> {
    match op {
        BinOp::Add => add(ev, l, r),
        BinOp::Sub => match (&l, &r) {
            (Value::Int(a), Value::Int(b)) => Ok(a
                .checked_sub(*b)
                .map_or(Value::Float(*a as f64 - *b as f64), Value::Int)),
            _ if l.as_f64().is_some() && r.as_f64().is_some() => Ok(Value::number(
                l.as_f64().unwrap_or(0.0) - r.as_f64().unwrap_or(0.0),
            )),
            _ if l.is_array() && r.is_array() => {
                let rs: Vec<Value<'t>> = r.array_iter().collect();
                let n = l.array_len().unwrap_or(0) as u64;
                ev.charge(n * (1 + rs.len() as u64))?;
                let items = l
                    .array_iter()
                    .filter(|x| !rs.iter().any(|y| equal(x, y)))
                    .collect();
                ev.new_array(items)
            }
            _ => Err(err(format!(
                "{} and {} cannot be subtracted",
                describe(&l),
                describe(&r)
            ))),
        },
        BinOp::Mul => match (&l, &r) {
            (Value::Int(a), Value::Int(b)) => Ok(a
                .checked_mul(*b)
                .map_or(Value::Float(*a as f64 * *b as f64), Value::Int)),
            _ if l.as_f64().is_some() && r.as_f64().is_some() => Ok(Value::number(
                l.as_f64().unwrap_or(0.0) * r.as_f64().unwrap_or(0.0),
            )),
            (s, n) | (n, s) if s.as_str().is_some() && n.as_f64().is_some() => {
                let count = n.as_f64().unwrap_or(0.0);
                // jq: the string repeated trunc(n - 1) + 1 times; n <= 0 is null.
                let extra = (count - 1.0).trunc();
                if extra < 0.0 || count.is_nan() {
                    return Ok(Value::Null);
                }
                let s = s.as_str().unwrap_or_default();
                if s.is_empty() {
                    return ev.new_str(String::new());
                }
                // gojq gives null past 2^28 bytes (and `extra as usize + 1`
                // must not overflow).
                if extra + 1.0 > (0x1000_0000 / s.len()) as f64 {
                    return Ok(Value::Null);
                }
                let times = extra as usize + 1;
                if s.len().saturating_mul(times) > ev.limits.string {
                    return Err(Stop::Budget(Exceeded::String));
                }
                let out = s.repeat(times);
                ev.new_str(out)
            }
            _ if l.is_object() && r.is_object() => deep_merge(ev, &l, &r, 0),
            _ => Err(err(format!(
                "{} and {} cannot be multiplied",
                describe(&l),
                describe(&r)
            ))),
        },
        BinOp::Div => match (&l, &r) {
            _ if l.as_f64().is_some() && r.as_f64().is_some() => {
                let (a, b) = (l.as_f64().unwrap_or(0.0), r.as_f64().unwrap_or(0.0));
                // 0 / 0 is nan (prints null) in jq 1.6 and gojq.
                if b == 0.0 && a == 0.0 {
                    return Ok(Value::Float(f64::NAN));
                }
                if b == 0.0 {
                    return Err(err(format!(
                        "{} and {} cannot be divided because the divisor is zero",
                        describe(&l),
                        describe(&r)
                    )));
                }
                if let (Value::Int(x), Value::Int(y)) = (&l, &r) {
                    if x.checked_rem(*y) == Some(0) {
                        if let Some(q) = x.checked_div(*y) {
                            return Ok(Value::Int(q));
                        }
                    }
                }
                Ok(Value::number(a / b))
            }
            _ if l.as_str().is_some() && r.as_str().is_some() => split(ev, &l, &r),
            _ => Err(err(format!(
                "{} and {} cannot be divided",
                describe(&l),
                describe(&r)
            ))),
        },
        BinOp::Mod => {
            let (Some(a), Some(b)) = (l.as_f64(), r.as_f64()) else {
                return Err(err(format!(
                    "{} and {} cannot be divided",
                    describe(&l),
                    describe(&r)
                )));
            };
            // Integers exactly (beyond 2^53 too); other numbers through
            // gojq's float-to-int conversion.
            let (a, b) = match (&l, &r) {
                (Value::Int(a), Value::Int(b)) => (*a, *b),
                _ => (to_int(a), to_int(b)),
            };
            if b == 0 {
                return Err(err(format!(
                    "{} and {} cannot be divided because the divisor is zero",
                    describe(&l),
                    describe(&r)
                )));
            }
            Ok(Value::Int(a.wrapping_rem(b)))
        }
        _ => unreachable!("comparisons are not arithmetic"),
    }
}

/// gojq's `floatToInt` (as it runs on x86-64, where Go converts an
/// out-of-range double to `i64::MIN`): truncation within the range, the
/// nearest bound outside it, `i64::MIN` for NaN and for 2^63 itself (the
/// double nearest `i64::MAX`).
fn to_int(f: f64) -> i64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if f.is_nan() || f == TWO_63 {
        i64::MIN
    } else {
        f.trunc().clamp(i64::MIN as f64, i64::MAX as f64) as i64
    }
}

fn add<'t>(ev: &mut Interp<'_, 't>, l: Value<'t>, r: Value<'t>) -> R<'t> {
    match (&l, &r) {
        (Value::Null, _) => Ok(r),
        (_, Value::Null) => Ok(l),
        (Value::Int(a), Value::Int(b)) => Ok(a
            .checked_add(*b)
            .map_or(Value::Float(*a as f64 + *b as f64), Value::Int)),
        _ if l.as_f64().is_some() && r.as_f64().is_some() => Ok(Value::number(
            l.as_f64().unwrap_or(0.0) + r.as_f64().unwrap_or(0.0),
        )),
        _ if l.as_str().is_some() && r.as_str().is_some() => {
            let (a, b) = (
                l.as_str().unwrap_or_default(),
                r.as_str().unwrap_or_default(),
            );
            if a.len() + b.len() > ev.limits.string {
                return Err(Stop::Budget(Exceeded::String));
            }
            let mut s = String::with_capacity(a.len() + b.len());
            s.push_str(a);
            s.push_str(b);
            ev.new_str(s)
        }
        _ if l.is_array() && r.is_array() => {
            let mut items: Vec<Value<'t>> = match l {
                Value::Arr(rc) => Rc::try_unwrap(rc)
                    .map(|l| l.items)
                    .unwrap_or_else(|rc| rc.items.clone()),
                other => other.array_iter().collect(),
            };
            ev.check_items(items.len() + r.array_len().unwrap_or(0))?;
            items.extend(r.array_iter());
            ev.new_array(items)
        }
        _ if l.is_object() && r.is_object() => {
            let mut d = l.to_dict();
            for (k, v) in r.object_entries() {
                d.map.insert(k, v);
            }
            ev.new_object(d.map)
        }
        _ => Err(err(format!(
            "{} and {} cannot be added",
            describe(&l),
            describe(&r)
        ))),
    }
}

fn deep_merge<'t>(ev: &mut Interp<'_, 't>, l: &Value<'t>, r: &Value<'t>, depth: usize) -> R<'t> {
    if depth > ev.limits.depth {
        return Err(Stop::Budget(Exceeded::Depth));
    }
    let mut d = l.to_dict();
    for (k, v) in r.object_entries() {
        let merged = match d.map.get(k.as_str()) {
            Some(old) if old.is_object() && v.is_object() => {
                tattletail_compiler::stack::guard(|| deep_merge(ev, old, &v, depth + 1))?
            }
            _ => v,
        };
        d.map.insert(k, merged);
    }
    ev.new_object(d.map)
}

/// Positions of `sub` in array `v` (`.[[1,2]]`, `indices([1,2])`).
/// The search is naive, as jq's (length of `v` times length of `sub`), and
/// billed as it goes.
pub fn array_indices<'t>(v: &Value<'t>, sub: &Value<'t>) -> Result<Value<'t>, Exceeded> {
    let hay: Vec<Value<'t>> = v.array_iter().collect();
    let needle: Vec<Value<'t>> = sub.array_iter().collect();
    let mut out = Vec::new();
    if needle.is_empty() {
        return Ok(Value::array(out));
    }
    if hay.len() >= needle.len() {
        for i in 0..=hay.len() - needle.len() {
            let mut all = true;
            for (j, n) in needle.iter().enumerate() {
                super::budget::bill(1)?;
                if !equal(&hay[i + j], n) {
                    all = false;
                    break;
                }
            }
            if all {
                out.push(Value::Int(i as i64));
            }
        }
    }
    Ok(Value::array(out))
}

fn split<'t>(ev: &mut Interp<'_, 't>, s: &Value<'t>, sep: &Value<'t>) -> R<'t> {
    let s = s.as_str().unwrap_or_default();
    let sep = sep.as_str().unwrap_or_default();
    ev.charge(1 + s.len() as u64 / 32)?;
    let parts: Vec<Value<'t>> = if sep.is_empty() {
        s.chars().map(|c| Value::string(c.to_string())).collect()
    } else {
        s.split(sep).map(Value::string).collect()
    };
    ev.alloc(s.len())?;
    ev.new_array(parts)
}

/// Why `contains` has no answer.
enum Uncontainable {
    /// Values of different types (jq's error).
    Types,
    /// Values nested deeper than the depth limit, or more work than the
    /// evaluation can afford.
    Budget(Exceeded),
}

impl From<Exceeded> for Uncontainable {
    fn from(e: Exceeded) -> Self {
        Uncontainable::Budget(e)
    }
}

/// `contains`: jq's containment. It bills its work (one step per pair of
/// elements tried, a step per 64 bytes of string searched), since an
/// array contained in an array costs the product of their lengths.
/// `room` is how many more levels of nesting it may descend.
fn contains(a: &Value<'_>, b: &Value<'_>, room: usize) -> Result<bool, Uncontainable> {
    if room == 0 {
        return Err(Uncontainable::Budget(Exceeded::Depth));
    }
    if a.kind() != b.kind() {
        return Err(Uncontainable::Types);
    }
    Ok(match a {
        Value::TObj(_) | Value::Obj(_) => {
            for (k, bv) in b.object_entries() {
                super::budget::bill(1)?;
                match a.object_get(k.as_str()) {
                    Some(av) => {
                        if av.kind() != bv.kind()
                            || !tattletail_compiler::stack::guard(|| contains(&av, &bv, room - 1))?
                        {
                            return Ok(false);
                        }
                    }
                    None => return Ok(false),
                }
            }
            true
        }
        Value::TArr(_) | Value::Arr(_) => {
            let items: Vec<Value<'_>> = a.array_iter().collect();
            for bv in b.array_iter() {
                let mut found = false;
                for av in &items {
                    super::budget::bill(1)?;
                    if av.kind() == bv.kind()
                        && tattletail_compiler::stack::guard(|| contains(av, &bv, room - 1))?
                    {
                        found = true;
                        break;
                    }
                }
                if !found {
                    return Ok(false);
                }
            }
            true
        }
        Value::TStr(_) | Value::Str(_) => {
            let (x, y) = (
                a.as_str().unwrap_or_default(),
                b.as_str().unwrap_or_default(),
            );
            super::budget::bill(x.len() as u64 / 64)?;
            x.contains(y)
        }
        _ => equal(a, b),
    })
}

fn indices<'t>(ev: &mut Interp<'_, 't>, v: &Value<'t>, x: &Value<'t>) -> R<'t> {
    match (v, x) {
        (Value::Null, _) | (_, Value::Null) => Ok(Value::Null),
        _ if v.as_str().is_some() && x.as_str().is_some() => {
            let (s, n) = (
                v.as_str().unwrap_or_default(),
                x.as_str().unwrap_or_default(),
            );
            ev.charge(1 + s.len() as u64 / 16)?;
            if n.is_empty() {
                return ev.new_array(Vec::new());
            }
            let mut out = Vec::new();
            let mut start = 0;
            // Code points before `start`, counted as the search moves on.
            let (mut counted, mut cps) = (0, 0);
            while let Some(i) = s[start..].find(n) {
                cps += s[counted..start + i].chars().count();
                counted = start + i;
                out.push(Value::Int(cps as i64));
                if out.len() > ev.limits.items {
                    return Err(Stop::Budget(Exceeded::Items));
                }
                ev.charge(1)?;
                // Overlapping matches, as jq.
                start += i + s[start + i..].chars().next().map_or(1, char::len_utf8);
                if start > s.len() {
                    break;
                }
            }
            ev.new_array(out)
        }
        _ if v.is_array() && x.is_array() => {
            ev.charge(1 + v.array_len().unwrap_or(0) as u64)?;
            array_indices(v, x).map_err(Stop::Budget)
        }
        _ if v.is_array() => {
            ev.charge(1 + v.array_len().unwrap_or(0) as u64)?;
            let out = v
                .array_iter()
                .enumerate()
                .filter(|(_, e)| equal(e, x))
                .map(|(i, _)| Value::Int(i as i64))
                .collect();
            ev.new_array(out)
        }
        _ => Err(err(format!(
            "Cannot determine the indices of {} in {}",
            describe(x),
            describe(v)
        ))),
    }
}

/// Sort values with jq's order, charging for the comparisons.
pub fn sort_values<'t>(ev: &mut Interp<'_, 't>, items: &mut [Value<'t>]) -> Result<(), Stop<'t>> {
    let n = items.len() as u64;
    ev.charge(n * (64 - n.leading_zeros() as u64 + 1))?;
    items.sort_by(compare);
    Ok(())
}

fn float_fn<'t>(v: &Value<'t>, name: &str, f: impl Fn(f64) -> f64) -> R<'t> {
    num(v, name).map(|x| Value::number(f(x)))
}

fn frexp(x: f64) -> (f64, i64) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i64;
    if exp == 0 {
        // Subnormal: scale up first.
        let (m, e) = frexp(x * 2f64.powi(64));
        return (m, e - 64);
    }
    let e = exp - 1022;
    let m = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (m, e)
}

/// Call a value builtin with its arguments' values.
pub fn call<'t>(ev: &mut Interp<'_, 't>, b: Builtin, v: Value<'t>, args: &[Value<'t>]) -> R<'t> {
    use Builtin::*;
    // Builtins on strings are linear in them (`startswith`, `length`,
    // `ltrimstr`, `fromjson`…): a long string costs a step per 256 bytes,
    // so that one repeated in a loop stays within the budget.
    let text = v.as_str().map_or(0, str::len)
        + args
            .iter()
            .map(|a| a.as_str().map_or(0, str::len))
            .sum::<usize>();
    ev.charge(1 + (text as u64 >> 8))?;
    Ok(match b {
        Not => Value::Bool(!v.truthy()),
        Length => match &v {
            Value::Null => Value::Int(0),
            Value::Bool(_) => return Err(err(format!("{} has no length", describe(&v)))),
            Value::Int(i) => i
                .checked_abs()
                .map_or(Value::Float((*i as f64).abs()), Value::Int),
            Value::Float(f) => Value::Float(f.abs()),
            Value::TStr(_) | Value::Str(_) => {
                Value::Int(v.as_str().unwrap_or_default().chars().count() as i64)
            }
            Value::TArr(_) | Value::Arr(_) => Value::Int(v.array_len().unwrap_or(0) as i64),
            Value::TObj(_) | Value::Obj(_) => Value::Int(v.object_len() as i64),
        },
        Utf8ByteLength => Value::Int(need_str(&v, "utf8bytelength")?.len() as i64),
        Keys | KeysUnsorted => match &v {
            Value::TObj(_) | Value::Obj(_) => {
                let mut keys: Vec<Value<'t>> = v
                    .object_entries()
                    .into_iter()
                    .map(|(k, _)| match k {
                        Key::T(s) => Value::TStr(s),
                        Key::R(s) => Value::Str(s),
                    })
                    .collect();
                if b == Keys {
                    sort_values(ev, &mut keys)?;
                }
                ev.new_array(keys)?
            }
            Value::TArr(_) | Value::Arr(_) => {
                let n = v.array_len().unwrap_or(0);
                ev.new_array((0..n as i64).map(Value::Int).collect())?
            }
            _ => return Err(err(format!("{} has no keys", describe(&v)))),
        },
        // A static string: `type == "string"` runs on every node of `..`.
        Type => Value::TStr(v.type_name()),
        ToString => match &v {
            Value::TStr(_) | Value::Str(_) => v,
            _ => {
                let mut s = String::new();
                ev.write_json(&v, &mut s)?;
                ev.new_str(s)?
            }
        },
        ToNumber => match &v {
            Value::Int(_) | Value::Float(_) => v,
            Value::TStr(_) | Value::Str(_) => {
                let s = v.as_str().unwrap_or_default();
                parse_number(s)
                    .ok_or_else(|| err(format!("Cannot parse {} as a number", describe(&v))))?
            }
            _ => {
                return Err(err(format!(
                    "{} cannot be parsed as a number",
                    describe(&v)
                )))
            }
        },
        ToJson => {
            let mut s = String::new();
            ev.write_json(&v, &mut s)?;
            ev.new_str(s)?
        }
        FromJson => {
            let s = need_str(&v, "fromjson")?;
            ev.charge(1 + s.len() as u64 / 16)?;
            ev.alloc(s.len() * 2)?;
            match super::json::parse(s, ev.limits.depth) {
                Ok(x) => {
                    ev.check_items(x.array_len().unwrap_or(0))?;
                    x
                }
                Err(super::json::ParseError::TooDeep) => return Err(Stop::Budget(Exceeded::Depth)),
                Err(super::json::ParseError::Syntax(m, at)) => {
                    return Err(err(format!(
                        "{m} at byte {at} while parsing '{}'",
                        cut(s, 40)
                    )))
                }
            }
        }
        AsciiDowncase => {
            let s = need_str(&v, "ascii_downcase")?.to_ascii_lowercase();
            ev.new_str(s)?
        }
        AsciiUpcase => {
            let s = need_str(&v, "ascii_upcase")?.to_ascii_uppercase();
            ev.new_str(s)?
        }
        Explode => {
            let s = need_str(&v, "explode")?;
            ev.new_array(s.chars().map(|c| Value::Int(c as i64)).collect())?
        }
        Implode => {
            need_array(&v, "implode")?;
            let mut s = String::new();
            for c in v.array_iter() {
                let Some(n) = c.as_f64() else {
                    return Err(err(format!(
                        "implode cannot be applied to {}",
                        describe(&v)
                    )));
                };
                let n = n as i64;
                if !(0..=0x10FFFF).contains(&n) {
                    return Err(err(format!("Invalid codepoint literal {n}")));
                }
                s.push(char::from_u32(n as u32).unwrap_or('\u{FFFD}'));
            }
            ev.new_str(s)?
        }
        Trim | Ltrim | Rtrim => {
            let s = need_str(&v, b.name())?;
            let t = match b {
                Trim => s.trim(),
                Ltrim => s.trim_start(),
                _ => s.trim_end(),
            };
            if t.len() == s.len() {
                v
            } else {
                Value::string(t)
            }
        }
        Sort => {
            need_array(&v, b.name())?;
            let mut items = v.to_list().items;
            sort_values(ev, &mut items)?;
            ev.new_array(items)?
        }
        Unique => {
            need_array(&v, b.name())?;
            let mut items = v.to_list().items;
            sort_values(ev, &mut items)?;
            items.dedup_by(|a, b| equal(a, b));
            ev.new_array(items)?
        }
        Min | Max => {
            need_array(&v, b.name())?;
            ev.charge(v.array_len().unwrap_or(0) as u64)?;
            let mut best: Option<Value<'t>> = None;
            for x in v.array_iter() {
                best = Some(match best {
                    None => x,
                    Some(cur) => {
                        // As gojq: the best so far compared with the new
                        // value (NaN is less than everything, itself too).
                        let o = compare(&cur, &x);
                        if (b == Min && o == Ordering::Greater)
                            || (b == Max && o != Ordering::Greater)
                        {
                            x
                        } else {
                            cur
                        }
                    }
                });
            }
            best.unwrap_or(Value::Null)
        }
        Reverse => {
            need_array(&v, "reverse")?;
            let mut items = v.to_list().items;
            items.reverse();
            ev.new_array(items)?
        }
        Add => {
            let items: Vec<Value<'t>> = match &v {
                Value::TArr(_) | Value::Arr(_) => v.array_iter().collect(),
                Value::TObj(_) | Value::Obj(_) => {
                    v.object_entries().into_iter().map(|(_, x)| x).collect()
                }
                _ => return Err(err(format!("add cannot be applied to {}", describe(&v)))),
            };
            let mut acc = Value::Null;
            for x in items {
                ev.charge(1)?;
                acc = add(ev, acc, x)?;
            }
            acc
        }
        Flatten => flatten(ev, &v, 1e9)?,
        FlattenDepth => {
            let d = args[0]
                .as_f64()
                .ok_or_else(|| err("flatten depth must be a number"))?;
            if d < 0.0 {
                return Err(err("flatten depth must not be negative"));
            }
            flatten(ev, &v, d)?
        }
        ToEntries => {
            let entries: Vec<(Value<'t>, Value<'t>)> = match &v {
                Value::TObj(_) | Value::Obj(_) => v
                    .object_entries()
                    .into_iter()
                    .map(|(k, x)| {
                        let k = match k {
                            Key::T(s) => Value::TStr(s),
                            Key::R(s) => Value::Str(s),
                        };
                        (k, x)
                    })
                    .collect(),
                Value::TArr(_) | Value::Arr(_) => v
                    .array_iter()
                    .enumerate()
                    .map(|(i, x)| (Value::Int(i as i64), x))
                    .collect(),
                _ => return Err(err(format!("{} has no keys", describe(&v)))),
            };
            let key = Key::R(Rc::from("key"));
            let value = Key::R(Rc::from("value"));
            let mut out = Vec::with_capacity(entries.len());
            for (k, x) in entries {
                let mut m = Map::with_capacity_and_hasher(2, Default::default());
                m.insert(key.clone(), k);
                m.insert(value.clone(), x);
                out.push(ev.new_object(m)?);
            }
            ev.new_array(out)?
        }
        FromEntries => {
            need_array(&v, "from_entries")?;
            let mut m = Map::default();
            for e in v.array_iter() {
                ev.charge(1)?;
                if !e.is_object() {
                    return Err(err(format!("Cannot index {} with \"key\"", e.type_name())));
                }
                // jq 1.6 and gojq: `.key // .name // .Name // .Key` and
                // `if has("value") then .value else .Value end`.
                let mut key = Value::Null;
                for k in ["key", "name", "Name", "Key"] {
                    if let Some(x) = e.object_get(k) {
                        if x.truthy() {
                            key = x;
                            break;
                        }
                    }
                }
                let value = match e.object_get("value") {
                    Some(x) => x,
                    None => e.object_get("Value").unwrap_or(Value::Null),
                };
                m.insert(object_key(key)?, value);
            }
            ev.new_object(m)?
        }
        Transpose => {
            need_array(&v, "transpose")?;
            let mut rows: Vec<Vec<Value<'t>>> = Vec::new();
            for r in v.array_iter() {
                if !r.is_array() {
                    return Err(err(format!("Cannot index {} with number", r.type_name())));
                }
                rows.push(r.array_iter().collect());
            }
            let width = rows.iter().map(Vec::len).max().unwrap_or(0);
            ev.check_items(width * rows.len())?;
            let mut out = Vec::with_capacity(width);
            for i in 0..width {
                let col = rows
                    .iter()
                    .map(|r| r.get(i).cloned().unwrap_or(Value::Null))
                    .collect();
                out.push(ev.new_array(col)?);
            }
            ev.new_array(out)?
        }
        Infinite => Value::Float(f64::INFINITY),
        Nan => Value::Float(f64::NAN),
        // Non-numbers are none of these (jq 1.6 and gojq).
        IsInfinite => Value::Bool(v.as_f64().is_some_and(f64::is_infinite)),
        IsNan => Value::Bool(v.as_f64().is_some_and(f64::is_nan)),
        IsNormal => Value::Bool(v.as_f64().is_some_and(f64::is_normal)),
        Now => {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            Value::Float(t)
        }
        Mktime => super::time::mktime(&v)?,
        Gmtime | Localtime => super::time::gmtime(ev, &v)?,
        Strftime | Strflocaltime => super::time::strftime(ev, &v, &args[0])?,
        Strptime => super::time::strptime(ev, &v, &args[0])?,
        Error0 => return Err(Stop::Error(v)),
        Error1 => return Err(Stop::Error(args[0].clone())),
        Ascii => {
            let n = num(&v, "ascii")? as u32;
            Value::string(
                char::from_u32(n)
                    .filter(char::is_ascii)
                    .unwrap_or('?')
                    .to_string(),
            )
        }
        Abs => match &v {
            Value::Int(i) => i
                .checked_abs()
                .map_or(Value::Float((*i as f64).abs()), Value::Int),
            Value::Float(f) => Value::Float(f.abs()),
            _ => return Err(err(format!("{} has no absolute value", describe(&v)))),
        },
        ToArray => {
            if v.is_array() {
                v
            } else {
                ev.new_array(vec![v])?
            }
        }
        Floor => float_fn(&v, "floor", f64::floor)?,
        Ceil => float_fn(&v, "ceil", f64::ceil)?,
        Round => float_fn(&v, "round", f64::round)?,
        Sqrt => float_fn(&v, "sqrt", f64::sqrt)?,
        Fabs => float_fn(&v, "fabs", f64::abs)?,
        Trunc => float_fn(&v, "trunc", f64::trunc)?,
        // gojq rounds half away from zero here too.
        Rint | Nearbyint => float_fn(&v, "rint", f64::round)?,
        Exp => float_fn(&v, "exp", f64::exp)?,
        Exp2 => float_fn(&v, "exp2", f64::exp2)?,
        Exp10 => float_fn(&v, "exp10", |x| 10f64.powf(x))?,
        Log => float_fn(&v, "log", f64::ln)?,
        Log2 => float_fn(&v, "log2", f64::log2)?,
        Log10 => float_fn(&v, "log10", f64::log10)?,
        Log1p => float_fn(&v, "log1p", f64::ln_1p)?,
        Expm1 => float_fn(&v, "expm1", f64::exp_m1)?,
        Sin => float_fn(&v, "sin", f64::sin)?,
        Cos => float_fn(&v, "cos", f64::cos)?,
        Tan => float_fn(&v, "tan", f64::tan)?,
        Asin => float_fn(&v, "asin", f64::asin)?,
        Acos => float_fn(&v, "acos", f64::acos)?,
        Atan => float_fn(&v, "atan", f64::atan)?,
        Sinh => float_fn(&v, "sinh", f64::sinh)?,
        Cosh => float_fn(&v, "cosh", f64::cosh)?,
        Tanh => float_fn(&v, "tanh", f64::tanh)?,
        Asinh => float_fn(&v, "asinh", f64::asinh)?,
        Acosh => float_fn(&v, "acosh", f64::acosh)?,
        Atanh => float_fn(&v, "atanh", f64::atanh)?,
        Cbrt => float_fn(&v, "cbrt", f64::cbrt)?,
        Significand => float_fn(&v, "significand", |x| {
            let (m, _) = frexp(x);
            m * 2.0
        })?,
        Logb => float_fn(&v, "logb", |x| {
            if x == 0.0 {
                f64::NEG_INFINITY
            } else {
                (frexp(x).1 - 1) as f64
            }
        })?,
        Gamma | Tgamma => float_fn(&v, b.name(), libm::tgamma)?,
        Lgamma => float_fn(&v, "lgamma", libm::lgamma)?,
        LgammaR => {
            let (l, sign) = libm::lgamma_r(num(&v, "lgamma_r")?);
            ev.new_array(vec![Value::number(l), Value::Int(sign as i64)])?
        }
        J0 => float_fn(&v, "j0", libm::j0)?,
        J1 => float_fn(&v, "j1", libm::j1)?,
        Y0 => float_fn(&v, "y0", libm::y0)?,
        Y1 => float_fn(&v, "y1", libm::y1)?,
        Erf => float_fn(&v, "erf", libm::erf)?,
        Erfc => float_fn(&v, "erfc", libm::erfc)?,
        Pow10 => float_fn(&v, "pow10", |x| 10f64.powf(x))?,
        Jn | Yn => {
            let n = num(&args[0], b.name())? as i32;
            let x = num(&args[1], b.name())?;
            Value::number(if b == Jn {
                libm::jn(n, x)
            } else {
                libm::yn(n, x)
            })
        }
        Bsearch => {
            if !v.is_array() {
                return Err(err(format!("{} cannot be searched from", describe(&v))));
            }
            let items: Vec<Value<'t>> = v.array_iter().collect();
            ev.charge(1 + (items.len() as u64).ilog2() as u64)?;
            match items.binary_search_by(|x| compare(x, &args[0])) {
                Ok(i) => Value::Int(i as i64),
                Err(i) => Value::Int(-1 - i as i64),
            }
        }
        Frexp => {
            let (m, e) = frexp(num(&v, "frexp")?);
            ev.new_array(vec![Value::number(m), Value::Int(e)])?
        }
        Modf => {
            let x = num(&v, "modf")?;
            let i = x.trunc();
            ev.new_array(vec![Value::number(x - i), Value::number(i)])?
        }
        Pow | Atan2 | Fmin | Fmax | Fmod | Hypot | Copysign | Drem | Nextafter | Nexttoward
        | Ldexp | Scalb | Scalbln | Fdim | Remainder => {
            let a = num(&args[0], b.name())?;
            let c = num(&args[1], b.name())?;
            Value::number(match b {
                Pow => a.powf(c),
                Atan2 => a.atan2(c),
                Fmin => a.min(c),
                Fmax => a.max(c),
                Fmod => a % c,
                Hypot => a.hypot(c),
                Copysign => a.copysign(c),
                Drem | Remainder => libm::remainder(a, c),
                Fdim => libm::fdim(a, c),
                Nextafter | Nexttoward => next_after(a, c),
                _ => a * 2f64.powf(c.trunc()),
            })
        }
        Fma => {
            let (a, c, d) = (
                num(&args[0], "fma")?,
                num(&args[1], "fma")?,
                num(&args[2], "fma")?,
            );
            Value::number(a.mul_add(c, d))
        }
        Has => match (&v, &args[0]) {
            (Value::Null, _) => Value::Bool(false),
            (Value::TObj(_) | Value::Obj(_), Value::TStr(_) | Value::Str(_)) => {
                Value::Bool(v.object_get(args[0].as_str().unwrap_or_default()).is_some())
            }
            (Value::TArr(_) | Value::Arr(_), Value::Int(_) | Value::Float(_)) => {
                let i = args[0].as_f64().unwrap_or(-1.0);
                Value::Bool(i >= 0.0 && (i as usize) < v.array_len().unwrap_or(0))
            }
            _ => {
                return Err(err(format!(
                    "Cannot check whether {} has a {} key",
                    v.type_name(),
                    args[0].type_name()
                )))
            }
        },
        Contains => match contains(&v, &args[0], ev.limits.depth + 1) {
            Ok(b) => Value::Bool(b),
            Err(Uncontainable::Budget(e)) => return Err(Stop::Budget(e)),
            Err(Uncontainable::Types) => {
                return Err(err(format!(
                    "{} and {} cannot have their containment checked",
                    describe(&v),
                    describe(&args[0])
                )))
            }
        },
        StartsWith | EndsWith => {
            let (Some(s), Some(p)) = (v.as_str(), args[0].as_str()) else {
                return Err(err(format!("{}() requires string inputs", b.name())));
            };
            Value::Bool(if b == StartsWith {
                s.starts_with(p)
            } else {
                s.ends_with(p)
            })
        }
        LtrimStr | RtrimStr => match (v.as_str(), args[0].as_str()) {
            (Some(s), Some(p)) => {
                let t = if b == LtrimStr {
                    s.strip_prefix(p)
                } else {
                    s.strip_suffix(p)
                };
                match t {
                    Some(t) => Value::string(t),
                    None => v,
                }
            }
            _ => v,
        },
        Split => {
            let (Some(_), Some(_)) = (v.as_str(), args[0].as_str()) else {
                return Err(err("split input and separator must be strings"));
            };
            split(ev, &v, &args[0])?
        }
        Join => {
            let sep = args[0].clone();
            let items: Vec<Value<'t>> = match &v {
                Value::TArr(_) | Value::Arr(_) => v.array_iter().collect(),
                Value::TObj(_) | Value::Obj(_) => {
                    v.object_entries().into_iter().map(|(_, x)| x).collect()
                }
                _ => return Err(err(format!("Cannot iterate over {}", describe(&v)))),
            };
            let sep_s = match &sep {
                Value::TStr(_) | Value::Str(_) => sep.as_str().unwrap_or_default().to_string(),
                _ if items.is_empty() => String::new(),
                _ => {
                    return Err(err(format!(
                        "{} and {} cannot be added",
                        describe(&Value::string("")),
                        describe(&sep)
                    )))
                }
            };
            let mut out = String::new();
            for (i, x) in items.into_iter().enumerate() {
                ev.charge(1)?;
                if i > 0 {
                    out.push_str(&sep_s);
                }
                match &x {
                    Value::Null => {}
                    Value::TStr(_) | Value::Str(_) => out.push_str(x.as_str().unwrap_or_default()),
                    Value::Bool(_) | Value::Int(_) | Value::Float(_) => {
                        ev.write_json(&x, &mut out)?
                    }
                    _ => return Err(err(format!("Cannot join with {}", describe(&x)))),
                }
                if out.len() > ev.limits.string {
                    return Err(Stop::Budget(Exceeded::String));
                }
            }
            ev.new_str(out)?
        }
        Indices => indices(ev, &v, &args[0])?,
        Index | Rindex => {
            let all = indices(ev, &v, &args[0])?;
            let n = all.array_len().unwrap_or(0);
            if n == 0 {
                Value::Null
            } else if b == Index {
                all.array_get(0).unwrap_or(Value::Null)
            } else {
                all.array_get(n as i64 - 1).unwrap_or(Value::Null)
            }
        }
        GetPath => {
            if !args[0].is_array() {
                return Err(err("Path must be specified as an array"));
            }
            let p: Vec<Value<'t>> = args[0].array_iter().collect();
            match super::paths::getpath(&v, &p) {
                Ok(x) => x,
                Err(Stop::Error(_)) => {
                    return Err(err(format!("Cannot getpath with {}", describe(&args[0]))))
                }
                Err(e) => return Err(e),
            }
        }
        SetPath => {
            if !args[0].is_array() {
                return Err(err("Path must be specified as an array"));
            }
            let p: Vec<Value<'t>> = args[0].array_iter().collect();
            super::paths::setpath(ev, &v, &p, args[1].clone())?
        }
        DelPaths => {
            if !args[0].is_array() {
                return Err(err("Paths must be specified as an array"));
            }
            let mut paths = Vec::new();
            for p in args[0].array_iter() {
                if !p.is_array() {
                    return Err(err("Path must be specified as an array"));
                }
                paths.push(p.array_iter().collect());
            }
            super::paths::delpaths(ev, &v, paths)?
        }
        FormatNamed => {
            let name = need_str(&args[0], "format")?;
            let f = tattletail_compiler::ir::Format::from_name(name)
                .ok_or_else(|| err(format!("{name} is not a valid format")))?;
            ev.format(f, v)?
        }
        _ => unreachable!("{} is not a value builtin", b.name()),
    })
}

fn next_after(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    if a == b {
        return b;
    }
    if a == 0.0 {
        return if b > 0.0 {
            f64::from_bits(1)
        } else {
            -f64::from_bits(1)
        };
    }
    let bits = a.to_bits();
    let up = (b > a) == (a > 0.0);
    f64::from_bits(if up { bits + 1 } else { bits - 1 })
}

fn num<'t>(v: &Value<'t>, what: &str) -> Result<f64, Stop<'t>> {
    v.as_f64().ok_or_else(|| {
        err(format!(
            "{what} cannot be applied to {}: a number is required",
            describe(v)
        ))
    })
}

fn cut(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// `tonumber` of a string, as gojq: optional sign, digits, fraction,
/// exponent; no spaces, no hex, no `nan` or `infinity`.
pub fn parse_number<'t>(s: &str) -> Option<Value<'t>> {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i > start;
    let mut int = true;
    if i < b.len() && b[i] == b'.' {
        int = false;
        i += 1;
        let f = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        digits |= i > f;
    }
    if !digits {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        int = false;
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let e = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == e {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    if int {
        if let Ok(n) = s.trim_start_matches('+').parse::<i64>() {
            return Some(if n == 0 { Value::Int(0) } else { Value::Int(n) });
        }
    }
    let f: f64 = s.trim_start_matches('+').parse().ok()?;
    Some(Value::number(f.clamp(-f64::MAX, f64::MAX)))
}

/// `flatten(depth)`: as jq's definition, a depth that is not a whole
/// number never reaches 0, so it flattens completely; an object's values
/// are flattened.
fn flatten<'t>(ev: &mut Interp<'_, 't>, v: &Value<'t>, depth: f64) -> R<'t> {
    if !v.is_array() && !v.is_object() {
        return Err(err(format!("Cannot iterate over {}", describe(v))));
    }
    fn go<'t>(
        ev: &mut Interp<'_, 't>,
        v: &Value<'t>,
        depth: f64,
        level: usize,
        out: &mut Vec<Value<'t>>,
    ) -> Result<(), Stop<'t>> {
        if level > ev.limits.depth {
            return Err(Stop::Budget(Exceeded::Depth));
        }
        let items: Vec<Value<'t>> = if v.is_object() {
            v.object_entries().into_iter().map(|(_, x)| x).collect()
        } else {
            v.array_iter().collect()
        };
        for x in items {
            ev.charge(1)?;
            if x.is_array() && depth != 0.0 {
                tattletail_compiler::stack::guard(|| go(ev, &x, depth - 1.0, level + 1, out))?;
            } else {
                out.push(x);
                if out.len() > ev.limits.items {
                    return Err(Stop::Budget(Exceeded::Items));
                }
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    go(ev, v, depth, 0, &mut out)?;
    ev.new_array(out)
}

/// A string-valued key for an object built from a value.
pub fn key_value<'t>(k: &Key<'t>) -> Value<'t> {
    match k {
        Key::T(s) => Value::TStr(s),
        Key::R(s) => Value::Str(s.clone()),
    }
}
