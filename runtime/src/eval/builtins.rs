//! How each builtin is evaluated: value builtins get the cartesian product
//! of their arguments' outputs (in jq's order for that builtin) and go to
//! [`super::funcs`]; generators (`range`, `limit`, `until`, …) and
//! builtins that take filters run them here.

use tattletail_compiler::ir::builtins::{ArgOrder, Args};
use tattletail_compiler::ir::{Builtin, Id};

use super::budget::Exceeded;
use super::interp::{describe, err, Interp, Res, Stop, K};
use super::value::{compare, equal, Kind, Value};
use super::{funcs, regex};

/// A builtin that produces at most one output.
pub fn one<'p, 't>(
    ev: &mut Interp<'p, 't>,
    b: Builtin,
    args: &'p [Id],
    input: Value<'t>,
) -> Result<Option<Value<'t>>, Stop<'t>> {
    use Builtin::*;
    match b {
        _ if b.is_type_selector() => {
            let k = input.kind();
            let pass = match b {
                Values => k != Kind::Null,
                Nulls => k == Kind::Null,
                Booleans => matches!(k, Kind::False | Kind::True),
                Numbers => k == Kind::Number,
                Strings => k == Kind::String,
                Arrays => k == Kind::Array,
                Objects => k == Kind::Object,
                Iterables => matches!(k, Kind::Array | Kind::Object),
                _ => !matches!(k, Kind::Array | Kind::Object),
            };
            Ok(pass.then_some(input))
        }
        SortBy | GroupBy | UniqueBy | MinBy | MaxBy => by(ev, b, args[0], input).map(Some),
        First => ev.first(args[0], input),
        // `def last(f): reduce f as $x (null; $x)`: null when f is empty.
        Last => Ok(Some(ev.last_output(args[0], input)?.unwrap_or(Value::Null))),
        IsEmpty => Ok(Some(Value::Bool(ev.first(args[0], input)?.is_none()))),
        Any2 | All2 => any_all(ev, b == Any2, args[0], args[1], input).map(Some),
        Until => {
            let (c, u) = (args[0], args[1]);
            let mut cur = input;
            loop {
                let Some(cv) = ev.one(c, cur.clone())? else {
                    return Ok(None);
                };
                if cv.truthy() {
                    return Ok(Some(cur));
                }
                match ev.one(u, cur)? {
                    Some(next) => cur = next,
                    None => return Ok(None),
                }
            }
        }
        Nth => {
            let Some(n) = ev.one(args[0], input.clone())? else {
                return Ok(None);
            };
            nth(ev, &n, args[1], input)
        }
        Walk => {
            let mut out = None;
            walk(ev, args[0], input, 0, &mut |_, v| {
                out = Some(v);
                Ok(())
            })?;
            Ok(out)
        }
        Sub => {
            let mut out = None;
            many(ev, b, args, input, &mut |_, v| {
                out = Some(v);
                Ok(())
            })?;
            Ok(out)
        }
        _ => match b.args() {
            Args::Values(_) => {
                let mut vals = Vec::with_capacity(args.len());
                for a in args {
                    match ev.one(*a, input.clone())? {
                        Some(v) => vals.push(v),
                        None => return Ok(None),
                    }
                }
                match b {
                    Test | Match | Split2 => {
                        let mut out = None;
                        regex::computed(ev, b, &vals, None, input, &mut |_, v| {
                            out = Some(v);
                            Ok(())
                        })?;
                        Ok(out)
                    }
                    _ => funcs::call(ev, b, input, &vals).map(Some),
                }
            }
            _ => unreachable!("{} is not single", b.name()),
        },
    }
}

/// A builtin that may produce several outputs.
pub fn many<'p, 't>(
    ev: &mut Interp<'p, 't>,
    b: Builtin,
    args: &'p [Id],
    input: Value<'t>,
    k: K<'_, 'p, 't>,
) -> Res<'t> {
    use Builtin::*;
    match b {
        Path => {
            let f = args[0];
            ev.run_paths(f, Vec::new(), input, &mut |ev, p, _| {
                let v = ev.new_array(p)?;
                k(ev, v)
            })
        }
        Repeat => repeat(ev, args[0], input, k),
        While => {
            let (c, u) = (args[0], args[1]);
            while_(ev, c, u, input, 0, k)
        }
        Until => {
            let (c, u) = (args[0], args[1]);
            until(ev, c, u, input, 0, k)
        }
        Walk => walk(ev, args[0], input, 0, k),
        FromStream => fromstream(ev, args[0], input, k),
        Limit => {
            let f = args[1];
            ev.run(args[0], input.clone(), &mut |ev, n| {
                let n = n.as_f64().ok_or_else(|| {
                    err(format!("Invalid limit: {} is not a number", describe(&n)))
                })?;
                if n <= 0.0 {
                    // jq 1.6 and gojq: a negative limit takes everything.
                    return if n < 0.0 {
                        ev.run(f, input.clone(), k)
                    } else {
                        Ok(())
                    };
                }
                let l = ev.label();
                let mut count = 0.0;
                match ev.run(f, input.clone(), &mut |ev, v| {
                    count += 1.0;
                    k(ev, v)?;
                    if count >= n {
                        Err(Stop::Break(l))
                    } else {
                        Ok(())
                    }
                }) {
                    Err(Stop::Break(x)) if x == l => Ok(()),
                    r => r,
                }
            })
        }
        Nth => {
            let f = args[1];
            ev.run(
                args[0],
                input.clone(),
                &mut |ev, n| match nth(ev, &n, f, input.clone())? {
                    Some(v) => k(ev, v),
                    None => Ok(()),
                },
            )
        }
        Sub => {
            // Pattern and flags are values (cartesian), the replacement a
            // filter run on each match.
            let (re, repl, flags) = (args[0], args[1], args[2]);
            ev.run(re, input.clone(), &mut |ev, r| {
                ev.run(flags, input.clone(), &mut |ev, f| {
                    regex::computed(ev, Sub, &[r.clone(), f], Some(repl), input.clone(), k)
                })
            })
        }
        _ if ev_single_builtin(b) => match one(ev, b, args, input)? {
            Some(v) => k(ev, v),
            None => Ok(()),
        },
        _ => match b.args() {
            Args::Values(order) => {
                let mut vals = Vec::with_capacity(args.len());
                cartesian(
                    ev,
                    args,
                    order,
                    0,
                    &mut vals,
                    input.clone(),
                    &mut |ev, vals| match b {
                        Range1 => range(ev, &Value::Int(0), &vals[0], &Value::Int(1), k),
                        Range2 => range(ev, &vals[0], &vals[1], &Value::Int(1), k),
                        Range3 => range(ev, &vals[0], &vals[1], &vals[2], k),
                        Test | Match | Split2 => {
                            regex::computed(ev, b, vals, None, input.clone(), k)
                        }
                        Tostream => tostream(ev, input.clone(), k),
                        Combinations => combinations(ev, input.clone(), k),
                        _ => {
                            let v = funcs::call(ev, b, input.clone(), vals)?;
                            k(ev, v)
                        }
                    },
                )
            }
            _ => unreachable!("{} has no generator form", b.name()),
        },
    }
}

fn ev_single_builtin(b: Builtin) -> bool {
    use Builtin::*;
    matches!(
        b,
        SortBy | GroupBy | UniqueBy | MinBy | MaxBy | First | Last | IsEmpty | Any2 | All2
    )
}

/// The product of the arguments' outputs, in `order`.
fn cartesian<'p, 't>(
    ev: &mut Interp<'p, 't>,
    args: &'p [Id],
    order: ArgOrder,
    i: usize,
    vals: &mut Vec<Value<'t>>,
    input: Value<'t>,
    k: &mut dyn FnMut(&mut Interp<'p, 't>, &[Value<'t>]) -> Res<'t>,
) -> Res<'t> {
    let n = args.len();
    if i == n {
        let ordered: Vec<Value<'t>> = match order {
            ArgOrder::FirstOuter => vals.clone(),
            ArgOrder::LastOuter => vals.iter().rev().cloned().collect(),
        };
        return k(ev, &ordered);
    }
    let arg = match order {
        ArgOrder::FirstOuter => args[i],
        ArgOrder::LastOuter => args[n - 1 - i],
    };
    ev.run(arg, input.clone(), &mut |ev, v| {
        vals.push(v);
        let r = cartesian(ev, args, order, i + 1, vals, input.clone(), k);
        vals.pop();
        r
    })
}

fn range<'p, 't>(
    ev: &mut Interp<'p, 't>,
    from: &Value<'t>,
    to: &Value<'t>,
    by: &Value<'t>,
    k: K<'_, 'p, 't>,
) -> Res<'t> {
    let (Some(a), Some(b), Some(s)) = (from.as_f64(), to.as_f64(), by.as_f64()) else {
        return Err(err("Range bounds must be numeric"));
    };
    if let (Value::Int(a), Value::Int(b), Value::Int(s)) = (from, to, by) {
        let (mut x, b, s) = (*a, *b, *s);
        if s > 0 {
            while x < b {
                ev.charge(1)?;
                k(ev, Value::Int(x))?;
                x = match x.checked_add(s) {
                    Some(n) => n,
                    None => return Ok(()),
                };
            }
        } else if s < 0 {
            while x > b {
                ev.charge(1)?;
                k(ev, Value::Int(x))?;
                x = match x.checked_add(s) {
                    Some(n) => n,
                    None => return Ok(()),
                };
            }
        }
        return Ok(());
    }
    let mut x = a;
    if s > 0.0 {
        while x < b {
            ev.charge(1)?;
            k(ev, Value::number(x))?;
            x += s;
        }
    } else if s < 0.0 {
        while x > b {
            ev.charge(1)?;
            k(ev, Value::number(x))?;
            x += s;
        }
    }
    Ok(())
}

/// `sort_by`, `group_by`, `unique_by`, `min_by`, `max_by`: the key of an
/// element is the array of `f`'s outputs on it.
fn by<'p, 't>(
    ev: &mut Interp<'p, 't>,
    b: Builtin,
    f: Id,
    input: Value<'t>,
) -> Result<Value<'t>, Stop<'t>> {
    use Builtin::*;
    if !input.is_array() {
        return Err(err(format!(
            "Cannot index {} with number",
            input.type_name()
        )));
    }
    let mut keyed = Vec::with_capacity(input.array_len().unwrap_or(0));
    for x in input.array_iter() {
        let key = ev.collect(f, x.clone())?;
        keyed.push((Value::array(key), x));
    }
    let n = keyed.len() as u64;
    ev.charge(n * (64 - n.leading_zeros() as u64 + 1))?;
    match b {
        MinBy | MaxBy => {
            let mut best: Option<(Value<'t>, Value<'t>)> = None;
            for (k, x) in keyed {
                best = Some(match best {
                    None => (k, x),
                    Some((bk, bx)) => {
                        // As gojq: compare the best so far with the new key
                        // (NaN is less than everything, itself included, so
                        // the order of the operands matters).
                        let o = compare(&bk, &k);
                        let take = if b == MinBy { o.is_gt() } else { o.is_le() };
                        if take {
                            (k, x)
                        } else {
                            (bk, bx)
                        }
                    }
                });
            }
            Ok(best.map_or(Value::Null, |(_, x)| x))
        }
        _ => {
            keyed.sort_by(|a, b| compare(&a.0, &b.0));
            match b {
                SortBy => ev.new_array(keyed.into_iter().map(|(_, x)| x).collect()),
                GroupBy | UniqueBy => {
                    let mut groups: Vec<(Value<'t>, Vec<Value<'t>>)> = Vec::new();
                    for (k, x) in keyed {
                        match groups.last_mut() {
                            Some((gk, items)) if equal(gk, &k) => items.push(x),
                            _ => groups.push((k, vec![x])),
                        }
                    }
                    if b == UniqueBy {
                        let firsts = groups.into_iter().filter_map(|(_, mut g)| {
                            if g.is_empty() {
                                None
                            } else {
                                Some(g.swap_remove(0))
                            }
                        });
                        ev.new_array(firsts.collect())
                    } else {
                        let mut out = Vec::with_capacity(groups.len());
                        for (_, g) in groups {
                            out.push(ev.new_array(g)?);
                        }
                        ev.new_array(out)
                    }
                }
                _ => unreachable!(),
            }
        }
    }
}

/// `any(g; c)` / `all(g; c)`, stopping at the first decisive output.
fn any_all<'p, 't>(
    ev: &mut Interp<'p, 't>,
    any: bool,
    g: Id,
    c: Id,
    input: Value<'t>,
) -> Result<Value<'t>, Stop<'t>> {
    let l = ev.label();
    let r = ev.run(g, input, &mut |ev, x| {
        ev.run(c, x, &mut |_, cv| {
            if cv.truthy() == any {
                Err(Stop::Break(l))
            } else {
                Ok(())
            }
        })
    });
    match r {
        Ok(()) => Ok(Value::Bool(!any)),
        Err(Stop::Break(x)) if x == l => Ok(Value::Bool(any)),
        Err(e) => Err(e),
    }
}

/// `nth(n; f)`: the n-th output (from 0), nothing past the end (gojq).
fn nth<'p, 't>(
    ev: &mut Interp<'p, 't>,
    n: &Value<'t>,
    f: Id,
    input: Value<'t>,
) -> Result<Option<Value<'t>>, Stop<'t>> {
    let n = n
        .as_f64()
        .ok_or_else(|| err(format!("nth: {} is not a number", describe(n))))?;
    if n < 0.0 {
        return Err(err("nth doesn't support negative indices"));
    }
    let l = ev.label();
    let mut i = 0.0;
    let mut out = None;
    match ev.run(f, input, &mut |_, v| {
        if i >= n {
            out = Some(v);
            return Err(Stop::Break(l));
        }
        i += 1.0;
        Ok(())
    }) {
        Ok(()) => Ok(None),
        Err(Stop::Break(x)) if x == l => Ok(out),
        Err(e) => Err(e),
    }
}

fn check_recursion<'t>(ev: &Interp<'_, 't>, depth: usize) -> Result<(), Stop<'t>> {
    if depth > ev.limits.recursion {
        return Err(Stop::Budget(Exceeded::Recursion));
    }
    Ok(())
}

/// `repeat(f)`: the outputs of `f` on the input, again and again (what
/// jq 1.6 and gojq do, whatever the manual suggests).
fn repeat<'p, 't>(ev: &mut Interp<'p, 't>, f: Id, input: Value<'t>, k: K<'_, 'p, 't>) -> Res<'t> {
    loop {
        ev.charge(1)?;
        ev.run(f, input.clone(), k)?;
    }
}

fn ev_is_single(ev: &Interp<'_, '_>, id: Id) -> bool {
    ev.prog.single[id.index()]
}

/// `while(c; u)`: `if c then ., (u | while(c; u)) else empty end`.
fn while_<'p, 't>(
    ev: &mut Interp<'p, 't>,
    c: Id,
    u: Id,
    input: Value<'t>,
    depth: usize,
    k: K<'_, 'p, 't>,
) -> Res<'t> {
    check_recursion(ev, depth)?;
    if ev_is_single(ev, c) && ev_is_single(ev, u) {
        let mut cur = input;
        loop {
            match ev.one(c, cur.clone())? {
                Some(cv) if cv.truthy() => {}
                _ => return Ok(()),
            }
            k(ev, cur.clone())?;
            match ev.one(u, cur)? {
                Some(next) => cur = next,
                None => return Ok(()),
            }
        }
    }
    tattletail_compiler::stack::guard(|| {
        ev.run(c, input.clone(), &mut |ev, cv| {
            if !cv.truthy() {
                return Ok(());
            }
            k(ev, input.clone())?;
            ev.run(u, input.clone(), &mut |ev, v| {
                while_(ev, c, u, v, depth + 1, k)
            })
        })
    })
}

/// `until(c; u)`: `if c then . else (u | until(c; u)) end`.
fn until<'p, 't>(
    ev: &mut Interp<'p, 't>,
    c: Id,
    u: Id,
    input: Value<'t>,
    depth: usize,
    k: K<'_, 'p, 't>,
) -> Res<'t> {
    check_recursion(ev, depth)?;
    tattletail_compiler::stack::guard(|| {
        ev.run(c, input.clone(), &mut |ev, cv| {
            if cv.truthy() {
                return k(ev, input.clone());
            }
            ev.run(u, input.clone(), &mut |ev, v| {
                until(ev, c, u, v, depth + 1, k)
            })
        })
    })
}

/// `walk(f)` (jq 1.7: keys keep their order): children first, then `f`.
fn walk<'p, 't>(
    ev: &mut Interp<'p, 't>,
    f: Id,
    input: Value<'t>,
    depth: usize,
    k: K<'_, 'p, 't>,
) -> Res<'t> {
    if depth > ev.limits.depth {
        return Err(Stop::Budget(Exceeded::Depth));
    }
    ev.charge(1)?;
    let rebuilt = match &input {
        Value::TArr(_) | Value::Arr(_) => {
            let mut items = Vec::new();
            for x in input.array_iter() {
                tattletail_compiler::stack::guard(|| {
                    walk(ev, f, x, depth + 1, &mut |_, v| {
                        items.push(v);
                        Ok(())
                    })
                })?;
            }
            ev.new_array(items)?
        }
        Value::TObj(_) | Value::Obj(_) => {
            let mut m = super::value::Map::default();
            for (key, x) in input.object_entries() {
                let mut first = None;
                let l = ev.label();
                let r = tattletail_compiler::stack::guard(|| {
                    walk(ev, f, x, depth + 1, &mut |_, v| {
                        first = Some(v);
                        Err(Stop::Break(l))
                    })
                });
                match r {
                    Ok(()) => {}
                    Err(Stop::Break(b)) if b == l => {}
                    Err(e) => return Err(e),
                }
                if let Some(v) = first {
                    m.insert(key, v);
                }
            }
            ev.new_object(m)?
        }
        _ => input,
    };
    ev.run(f, rebuilt, k)
}

/// `tostream`: `[path, leaf]` events, and `[path]` closing each container.
fn tostream<'p, 't>(ev: &mut Interp<'p, 't>, input: Value<'t>, k: K<'_, 'p, 't>) -> Res<'t> {
    fn go<'p, 't>(
        ev: &mut Interp<'p, 't>,
        path: &mut Vec<Value<'t>>,
        v: Value<'t>,
        top: bool,
        k: K<'_, 'p, 't>,
    ) -> Res<'t> {
        if path.len() > ev.limits.depth {
            return Err(Stop::Budget(Exceeded::Depth));
        }
        ev.charge(1)?;
        let children: Vec<(Value<'t>, Value<'t>)> = match &v {
            Value::TArr(_) | Value::Arr(_) => v
                .array_iter()
                .enumerate()
                .map(|(i, x)| (Value::Int(i as i64), x))
                .collect(),
            Value::TObj(_) | Value::Obj(_) => v
                .object_entries()
                .into_iter()
                .map(|(key, x)| (funcs::key_value(&key), x))
                .collect(),
            _ => {
                let p = ev.new_array(path.clone())?;
                let e = ev.new_array(vec![p, v])?;
                return k(ev, e);
            }
        };
        if children.is_empty() {
            let p = ev.new_array(path.clone())?;
            let e = ev.new_array(vec![p, v])?;
            k(ev, e)?;
        } else {
            let last = children.len() - 1;
            for (i, (key, x)) in children.into_iter().enumerate() {
                path.push(key);
                tattletail_compiler::stack::guard(|| go(ev, path, x, false, k))?;
                if i == last {
                    let p = ev.new_array(path.clone())?;
                    let e = ev.new_array(vec![p])?;
                    k(ev, e)?;
                }
                path.pop();
            }
        }
        let _ = top;
        Ok(())
    }
    go(ev, &mut Vec::new(), input, true, k)
}

/// `fromstream(f)`: rebuild values from `tostream` events.
fn fromstream<'p, 't>(
    ev: &mut Interp<'p, 't>,
    f: Id,
    input: Value<'t>,
    k: K<'_, 'p, 't>,
) -> Res<'t> {
    let mut state: Option<Value<'t>> = None;
    ev.run(f, input, &mut |ev, e| {
        let Some(n) = e.array_len() else {
            return Err(err("Invalid stream event"));
        };
        let path = e.array_get(0).unwrap_or(Value::Null);
        if !path.is_array() {
            return Err(err("Invalid stream event"));
        }
        let p: Vec<Value<'t>> = path.array_iter().collect();
        if n == 2 {
            let leaf = e.array_get(1).unwrap_or(Value::Null);
            if p.is_empty() {
                return k(ev, leaf);
            }
            let cur = state.take().unwrap_or(Value::Null);
            state = Some(super::paths::setpath(ev, &cur, &p, leaf)?);
            Ok(())
        } else if n == 1 {
            if p.len() <= 1 {
                if let Some(v) = state.take() {
                    return k(ev, v);
                }
            }
            Ok(())
        } else {
            Err(err("Invalid stream event"))
        }
    })
}

/// `combinations`: the cartesian product of the input's arrays, as jq
/// defines it (`if length == 0 then [] else .[0][] as $x | (.[1:] |
/// combinations) as $w | [$x] + $w end`): anything of length 0 (`null`,
/// `0`, `{}`) gives `[]`, an element may be an object (its values), and
/// an element that cannot be iterated fails only when it is reached.
fn combinations<'p, 't>(ev: &mut Interp<'p, 't>, input: Value<'t>, k: K<'_, 'p, 't>) -> Res<'t> {
    let empty = match &input {
        Value::Null => true,
        Value::Int(i) => *i == 0,
        Value::Float(f) => *f == 0.0,
        Value::TArr(_) | Value::Arr(_) => input.array_len() == Some(0),
        Value::TObj(_) | Value::Obj(_) => input.object_len() == 0,
        Value::TStr(_) | Value::Str(_) => input.as_str().is_some_and(str::is_empty),
        Value::Bool(_) => return Err(err(format!("{} has no length", describe(&input)))),
    };
    if empty {
        let v = ev.new_array(Vec::new())?;
        return k(ev, v);
    }
    if !input.is_array() {
        return Err(err(format!(
            "Cannot index {} with number",
            describe(&input)
        )));
    }
    let items: Vec<Value<'t>> = input.array_iter().collect();
    fn go<'p, 't>(
        ev: &mut Interp<'p, 't>,
        items: &[Value<'t>],
        acc: &mut Vec<Value<'t>>,
        k: K<'_, 'p, 't>,
    ) -> Res<'t> {
        let Some((first, rest)) = items.split_first() else {
            let v = ev.new_array(acc.clone())?;
            return k(ev, v);
        };
        ev.iterate(first.clone(), false, &mut |ev, x| {
            acc.push(x);
            let r = tattletail_compiler::stack::guard(|| go(ev, rest, acc, k));
            acc.pop();
            r
        })
    }
    go(ev, &items, &mut Vec::new(), k)
}
