//! Path expressions: `path(f)`, `paths`, `del`, `to_entries`' friends and
//! the assignment operators evaluate `f` in path mode, where every output
//! comes with the path that leads to it from the input. Only expressions
//! that select parts of their input are paths (`.a`, `.[]`, `..`,
//! `select`, `if`, `//`, `first`, `getpath`, …); anything else is jq's
//! "Invalid path expression" error.
//!
//! `getpath`, `setpath` and `delpaths` live here too. They copy what they
//! change (values are shared), and respect the evaluation's limits.

use std::rc::Rc;

use tattletail_compiler::ir::{Builtin, Id, Node, Step};

use super::budget::Exceeded;
use super::interp::{describe, downstream, err, index, slice_bounds, Interp, Res, Stop};
use super::value::{compare, Key, Value};

type PathK<'a, 'p, 't> =
    &'a mut dyn FnMut(&mut Interp<'p, 't>, Vec<Value<'t>>, Value<'t>) -> Res<'t>;

fn extend<'t>(path: &[Value<'t>], c: Value<'t>) -> Vec<Value<'t>> {
    let mut p = Vec::with_capacity(path.len() + 1);
    p.extend_from_slice(path);
    p.push(c);
    p
}

fn invalid<'t>(v: &Value<'t>) -> Stop<'t> {
    err(format!(
        "Invalid path expression with result {}",
        describe(v)
    ))
}

/// Path mode: every output of `id` on `v` (reached by `path`) with its path.
pub fn run_paths<'p, 't>(
    ev: &mut Interp<'p, 't>,
    id: Id,
    path: Vec<Value<'t>>,
    v: Value<'t>,
    k: PathK<'_, 'p, 't>,
) -> Res<'t> {
    match ev.node_at(id) {
        Node::Identity => k(ev, path, v),
        Node::Empty => Ok(()),
        Node::Path(t, steps) => steps_paths(ev, v.clone(), *t, steps, steps.len(), path, v, k),
        Node::Recurse(f) => recurse_paths(ev, *f, None, path, v, 0, k),
        Node::RecurseCond(f, c) => recurse_paths(ev, *f, Some(*c), path, v, 0, k),
        Node::Pipe(xs) => pipe_paths(ev, xs, path, v, k),
        Node::Comma(xs) => {
            for x in xs {
                ev.run_paths(*x, path.clone(), v.clone(), k)?;
            }
            Ok(())
        }
        Node::Alt(xs) => {
            let (last, rest) = xs.split_last().expect("// has operands");
            for x in rest {
                let mut found = false;
                let r = ev.run_paths(*x, path.clone(), v.clone(), &mut |ev, p, o| {
                    if !o.truthy() {
                        return Ok(());
                    }
                    found = true;
                    k(ev, p, o).map_err(downstream)
                });
                match r {
                    Err(Stop::Downstream(e)) => return Err(*e),
                    Err(e) => return Err(e),
                    Ok(()) => {}
                }
                if found {
                    return Ok(());
                }
            }
            ev.run_paths(*last, path, v, k)
        }
        Node::If(c, a, b) => {
            let (a, b) = (*a, *b);
            ev.run(*c, v.clone(), &mut |ev, cv| {
                let branch = if cv.truthy() { a } else { b };
                ev.run_paths(branch, path.clone(), v.clone(), k)
            })
        }
        Node::Try(body, None) => {
            let r = ev.run_paths(*body, path, v, &mut |ev, p, o| {
                k(ev, p, o).map_err(downstream)
            });
            match r {
                Ok(()) | Err(Stop::Error(_)) => Ok(()),
                Err(Stop::Downstream(e)) => Err(*e),
                Err(e) => Err(e),
            }
        }
        Node::Bind(src, pats, body) if pats.len() == 1 => {
            let body = *body;
            ev.run(*src, v.clone(), &mut |ev, x| {
                ev.destructure(&pats[0], x, v.clone(), &mut |ev| {
                    ev.run_paths(body, path.clone(), v.clone(), k)
                })
            })
        }
        Node::Label(slot, body) => {
            let l = ev.label();
            ev.set_slot(*slot, Value::Int(l as i64));
            match ev.run_paths(*body, path, v, k) {
                Err(Stop::Break(x)) if x == l => Ok(()),
                r => r,
            }
        }
        Node::Break(var) => {
            let Value::Int(l) = ev.read_var(*var) else {
                return Err(err("break without a label"));
            };
            Err(Stop::Break(l as u64))
        }
        Node::Call(..) | Node::Param(..) | Node::InFrame(..) => ev.paths_via_call(id, path, v, k),
        Node::Builtin(b, args) => builtin_paths(ev, id, *b, args, path, v, k),
        Node::Reduce(src, pat, init, update) => {
            // `reduce` of paths: the state is a (path, value) pair.
            let (src, init, update) = (*src, *init, *update);
            let mut state: Option<(Vec<Value<'t>>, Value<'t>)> = None;
            ev.run_paths(init, path.clone(), v.clone(), &mut |_, p, x| {
                state = Some((p, x));
                Ok(())
            })?;
            let Some(mut st) = state else {
                return Ok(());
            };
            ev.run(src, v.clone(), &mut |ev, x| {
                ev.destructure(pat, x, v.clone(), &mut |ev| {
                    let mut next = None;
                    ev.run_paths(update, st.0.clone(), st.1.clone(), &mut |_, p, x| {
                        next = Some((p, x));
                        Ok(())
                    })?;
                    if let Some(n) = next {
                        st = n;
                    }
                    Ok(())
                })
            })?;
            k(ev, st.0, st.1)
        }
        // `$__loc__`, literals, arithmetic, …: not paths. jq accepts
        // `null` and `empty`-like constants only where they select
        // nothing; a constant `null` is jq's path `null` idiom (`path(null)`).
        Node::Const(tattletail_compiler::ir::Const::Null) => k(ev, path, Value::Null),
        _ => {
            // Evaluate it to say what it produced, as jq does.
            let first = ev.first(id, v).ok().flatten();
            Err(invalid(&first.unwrap_or(Value::Null)))
        }
    }
}

fn pipe_paths<'p, 't>(
    ev: &mut Interp<'p, 't>,
    xs: &'p [Id],
    path: Vec<Value<'t>>,
    v: Value<'t>,
    k: PathK<'_, 'p, 't>,
) -> Res<'t> {
    match xs {
        [] => k(ev, path, v),
        [x] => ev.run_paths(*x, path, v, k),
        [x, rest @ ..] => ev.run_paths(*x, path, v, &mut |ev, p, o| pipe_paths(ev, rest, p, o, k)),
    }
}

#[allow(clippy::too_many_arguments)]
fn steps_paths<'p, 't>(
    ev: &mut Interp<'p, 't>,
    pinput: Value<'t>,
    t: Id,
    steps: &'p [(Step, bool)],
    n: usize,
    path: Vec<Value<'t>>,
    v: Value<'t>,
    k: PathK<'_, 'p, 't>,
) -> Res<'t> {
    if n == 0 {
        return ev.run_paths(t, path, v, k);
    }
    let (step, opt) = &steps[n - 1];
    let opt = *opt;
    let apply = |ev: &mut Interp<'p, 't>,
                 p: Vec<Value<'t>>,
                 cur: Value<'t>,
                 key: Value<'t>,
                 k: PathK<'_, 'p, 't>| {
        match path_index(&cur, &key) {
            Ok(x) => k(ev, extend(&p, key), x),
            Err(_) if opt => Ok(()),
            Err(e) => Err(e),
        }
    };
    match step {
        Step::Field(f) => {
            let key = Value::string(f.as_str());
            steps_paths(ev, pinput, t, steps, n - 1, path, v, &mut |ev, p, cur| {
                apply(ev, p, cur, key.clone(), k)
            })
        }
        Step::Index(kid) => ev.run(*kid, pinput.clone(), &mut |ev, key| {
            steps_paths(
                ev,
                pinput.clone(),
                t,
                steps,
                n - 1,
                path.clone(),
                v.clone(),
                &mut |ev, p, cur| apply(ev, p, cur, key.clone(), k),
            )
        }),
        Step::Slice(a, b) => {
            let (a, b) = (*a, *b);
            let bounds =
                |ev: &mut Interp<'p, 't>, id: Option<Id>| -> Result<Vec<Value<'t>>, Stop<'t>> {
                    match id {
                        Some(id) => ev.collect(id, pinput.clone()),
                        None => Ok(vec![Value::Null]),
                    }
                };
            let froms = bounds(ev, a)?;
            let tos = bounds(ev, b)?;
            for from in &froms {
                for to in &tos {
                    let key = slice_key(from, to);
                    steps_paths(
                        ev,
                        pinput.clone(),
                        t,
                        steps,
                        n - 1,
                        path.clone(),
                        v.clone(),
                        &mut |ev, p, cur| apply(ev, p, cur, key.clone(), k),
                    )?;
                }
            }
            Ok(())
        }
        Step::Iterate => {
            steps_paths(
                ev,
                pinput,
                t,
                steps,
                n - 1,
                path,
                v,
                &mut |ev, p, cur| match &cur {
                    Value::TArr(_) | Value::Arr(_) => {
                        for (i, x) in cur.array_iter().enumerate() {
                            ev.charge(1)?;
                            k(ev, extend(&p, Value::Int(i as i64)), x)?;
                        }
                        Ok(())
                    }
                    Value::TObj(_) | Value::Obj(_) => {
                        for (key, x) in cur.object_entries() {
                            ev.charge(1)?;
                            let kv = match key {
                                Key::T(s) => Value::TStr(s),
                                Key::R(s) => Value::Str(s),
                            };
                            k(ev, extend(&p, kv), x)?;
                        }
                        Ok(())
                    }
                    // `null | path(.[])` fails as `null | .[]` does (jq
                    // and gojq); only `.[]?` gives nothing.
                    _ if opt => Ok(()),
                    other => Err(err(format!("Cannot iterate over {}", describe(other)))),
                },
            )
        }
    }
}

fn slice_key<'t>(from: &Value<'t>, to: &Value<'t>) -> Value<'t> {
    let mut m = super::value::Map::default();
    m.insert(Key::R(Rc::from("start")), from.clone());
    m.insert(Key::R(Rc::from("end")), to.clone());
    Value::object(m)
}

/// Indexing as `getpath` does it: `null` gives `null` for any key.
fn path_index<'t>(v: &Value<'t>, key: &Value<'t>) -> Result<Value<'t>, Stop<'t>> {
    match v {
        Value::Null => Ok(Value::Null),
        _ => index(v, key),
    }
}

fn recurse_paths<'p, 't>(
    ev: &mut Interp<'p, 't>,
    f: Id,
    cond: Option<Id>,
    path: Vec<Value<'t>>,
    v: Value<'t>,
    depth: usize,
    k: PathK<'_, 'p, 't>,
) -> Res<'t> {
    if depth > ev.limits.depth {
        return Err(Stop::Budget(Exceeded::Depth));
    }
    k(ev, path.clone(), v.clone())?;
    tattletail_compiler::stack::guard(|| {
        ev.run_paths(f, path, v, &mut |ev, p, x| match cond {
            Some(c) => ev.run(c, x.clone(), &mut |ev, cv| {
                if cv.truthy() {
                    recurse_paths(ev, f, Some(c), p.clone(), x.clone(), depth + 1, k)
                } else {
                    Ok(())
                }
            }),
            None => recurse_paths(ev, f, None, p, x, depth + 1, k),
        })
    })
}

fn builtin_paths<'p, 't>(
    ev: &mut Interp<'p, 't>,
    id: Id,
    b: Builtin,
    args: &'p [Id],
    path: Vec<Value<'t>>,
    v: Value<'t>,
    k: PathK<'_, 'p, 't>,
) -> Res<'t> {
    match b {
        // Type selectors keep the path of what they let through.
        _ if b.is_type_selector() => match super::builtins::one(ev, b, args, v)? {
            Some(x) => k(ev, path, x),
            None => Ok(()),
        },
        Builtin::GetPath => ev.run(args[0], v.clone(), &mut |ev, p| {
            let Some(n) = p.array_len() else {
                return Err(err("Path must be specified as an array"));
            };
            let comps: Vec<Value<'t>> = p.array_iter().collect();
            // An error is an error here too (`"x" | path(getpath(["n"]))`).
            let x = getpath(&v, &comps)?;
            let mut full = path.clone();
            full.reserve(n);
            full.extend(comps);
            k(ev, full, x)
        }),
        Builtin::First => {
            let l = ev.label();
            match ev.run_paths(args[0], path, v, &mut |ev, p, x| {
                k(ev, p, x)?;
                Err(Stop::Break(l))
            }) {
                Err(Stop::Break(x)) if x == l => Ok(()),
                r => r,
            }
        }
        Builtin::Last => {
            let mut last = None;
            ev.run_paths(args[0], path, v, &mut |_, p, x| {
                last = Some((p, x));
                Ok(())
            })?;
            match last {
                Some((p, x)) => k(ev, p, x),
                None => Ok(()),
            }
        }
        Builtin::Limit => {
            let n_id = args[0];
            let f = args[1];
            ev.run(n_id, v.clone(), &mut |ev, n| {
                let n = n
                    .as_f64()
                    .ok_or_else(|| err("Invalid limit: not a number"))?;
                if n <= 0.0 {
                    return if n < 0.0 {
                        ev.run_paths(f, path.clone(), v.clone(), k)
                    } else {
                        Ok(())
                    };
                }
                let l = ev.label();
                let mut count = 0.0;
                match ev.run_paths(f, path.clone(), v.clone(), &mut |ev, p, x| {
                    count += 1.0;
                    k(ev, p, x)?;
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
        Builtin::Error0 => Err(Stop::Error(v)),
        Builtin::Error1 => ev.run(args[0], v, &mut |_, m| Err(Stop::Error(m))),
        _ => {
            let first = ev.first(id, v).ok().flatten();
            Err(invalid(&first.unwrap_or(Value::Null)))
        }
    }
}

/// `getpath(p)`: `null` where the path leads nowhere; an error where it
/// would index a value that cannot be indexed that way.
pub fn getpath<'t>(v: &Value<'t>, path: &[Value<'t>]) -> Result<Value<'t>, Stop<'t>> {
    let mut cur = v.clone();
    for c in path {
        if let Value::Null = cur {
            return Ok(Value::Null);
        }
        // As gojq: only null, arrays and objects are looked into (`.[0]` of
        // a string is its first character, `getpath([0])` an error).
        if !cur.is_array() && !cur.is_object() {
            return Err(err(format!(
                "Cannot index {} with {}",
                describe(&cur),
                describe(c)
            )));
        }
        cur = index(&cur, c)?;
    }
    Ok(cur)
}

/// `setpath(p; x)`.
pub fn setpath<'t>(
    ev: &mut Interp<'_, 't>,
    v: &Value<'t>,
    path: &[Value<'t>],
    x: Value<'t>,
) -> Result<Value<'t>, Stop<'t>> {
    if path.len() > ev.limits.depth {
        return Err(Stop::Budget(Exceeded::Depth));
    }
    ev.charge(1 + path.len() as u64)?;
    let out = tattletail_compiler::stack::guard(|| set_rec(ev, v, path, x))?;
    ev.check_depth(&out)?;
    Ok(out)
}

fn set_rec<'t>(
    ev: &mut Interp<'_, 't>,
    v: &Value<'t>,
    path: &[Value<'t>],
    x: Value<'t>,
) -> Result<Value<'t>, Stop<'t>> {
    let Some((c, rest)) = path.split_first() else {
        return Ok(x);
    };
    // The container is copied: charge for it (a loop of assignments into
    // a growing value is quadratic).
    let size = v.array_len().unwrap_or_else(|| v.object_len());
    ev.charge(1 + size as u64 / 16)?;
    match (v, c) {
        (Value::Null | Value::TObj(_) | Value::Obj(_), Value::TStr(_) | Value::Str(_)) => {
            let key = c.as_str().unwrap_or_default();
            let mut d = match v {
                Value::Null => super::value::Dict::default(),
                _ => v.to_dict(),
            };
            let child = d.map.get(key).cloned().unwrap_or(Value::Null);
            let new = tattletail_compiler::stack::guard(|| set_rec(ev, &child, rest, x))?;
            ev.alloc(48)?;
            let k = match c {
                Value::TStr(s) => Key::T(s),
                Value::Str(s) => Key::R(s.clone()),
                _ => unreachable!(),
            };
            d.map.insert(k, new);
            ev.check_items(d.map.len())?;
            Ok(Value::object(d.map))
        }
        (Value::Null | Value::TArr(_) | Value::Arr(_), Value::Int(_) | Value::Float(_)) => {
            let mut items = match v {
                Value::Null => Vec::new(),
                _ => v.to_list().items,
            };
            let i = match c {
                Value::Int(i) => *i,
                Value::Float(f) => f.floor() as i64,
                _ => unreachable!(),
            };
            let len = items.len() as i64;
            let i = if i < 0 {
                if i + len < 0 {
                    return Err(err("Out of bounds negative array index"));
                }
                i + len
            } else {
                i
            };
            let i = i as usize;
            if i >= items.len() {
                ev.check_items(i + 1)?;
                ev.alloc((i + 1 - items.len()) * std::mem::size_of::<Value<'t>>())?;
                items.resize(i + 1, Value::Null);
            }
            let new = tattletail_compiler::stack::guard(|| set_rec(ev, &items[i], rest, x))?;
            items[i] = new;
            Ok(Value::array(items))
        }
        (Value::Null | Value::TArr(_) | Value::Arr(_), Value::TObj(_) | Value::Obj(_)) => {
            let items = match v {
                Value::Null => Vec::new(),
                _ => v.to_list().items,
            };
            let from = c.object_get("start").unwrap_or(Value::Null);
            let to = c.object_get("end").unwrap_or(Value::Null);
            let (a, b) = slice_bounds(items.len(), &from, &to)?;
            let cur = Value::array(items[a..b].to_vec());
            let new = tattletail_compiler::stack::guard(|| set_rec(ev, &cur, rest, x))?;
            let Some(_) = new.array_len() else {
                return Err(err(
                    "A slice of an array can only be assigned another array",
                ));
            };
            let mut out = items[..a].to_vec();
            out.extend(new.array_iter());
            out.extend_from_slice(&items[b..]);
            ev.check_items(out.len())?;
            Ok(Value::array(out))
        }
        (_, _) => Err(err(format!(
            "Cannot index {} with {}",
            v.type_name(),
            match c.as_str() {
                Some(s) => format!("\"{s}\""),
                None => c.type_name().to_string(),
            }
        ))),
    }
}

/// `delpaths(ps)`: each path is first resolved against the input
/// (negative indices and slices become absolute), then the paths are
/// deleted from the last to the first, so that no deletion moves another.
/// Paths that lead nowhere delete nothing.
pub fn delpaths<'t>(
    ev: &mut Interp<'_, 't>,
    v: &Value<'t>,
    paths: Vec<Vec<Value<'t>>>,
) -> Result<Value<'t>, Stop<'t>> {
    ev.charge(paths.len() as u64 * 4)?;
    let mut resolved = Vec::with_capacity(paths.len());
    for p in &paths {
        if let Some(r) = resolve(v, p)? {
            resolved.push(Value::array(r));
        }
    }
    resolved.sort_by(|a, b| compare(b, a));
    resolved.dedup_by(|a, b| compare(a, b).is_eq());
    // gojq: deleting from null starts from an empty container.
    let mut cur = match (v, paths.iter().find_map(|p| p.first())) {
        (Value::Null, Some(Value::TStr(_) | Value::Str(_))) => Value::object(Default::default()),
        (Value::Null, Some(Value::Int(_) | Value::Float(_))) => Value::array(Vec::new()),
        _ => v.clone(),
    };
    for p in resolved {
        let comps: Vec<Value<'t>> = p.array_iter().collect();
        cur = tattletail_compiler::stack::guard(|| del_rec(ev, &cur, &comps))?;
    }
    Ok(cur)
}

/// A path with negative indices and slice bounds made absolute against
/// `v`; `None` when it points outside the value.
fn resolve<'t>(v: &Value<'t>, path: &[Value<'t>]) -> Result<Option<Vec<Value<'t>>>, Stop<'t>> {
    let mut out = Vec::with_capacity(path.len());
    let mut cur = v.clone();
    for c in path {
        match (&cur, c) {
            (Value::TArr(_) | Value::Arr(_), Value::Int(_) | Value::Float(_)) => {
                let f = c.as_f64().unwrap_or(0.0);
                if f.is_nan() {
                    return Ok(None);
                }
                let len = cur.array_len().unwrap_or(0) as i64;
                let mut i = f.trunc() as i64;
                if i < 0 {
                    i += len;
                }
                if i < 0 || i >= len {
                    return Ok(None);
                }
                out.push(Value::Int(i));
                cur = cur.array_get(i).unwrap_or(Value::Null);
            }
            (Value::TArr(_) | Value::Arr(_), Value::TObj(_) | Value::Obj(_)) => {
                let len = cur.array_len().unwrap_or(0);
                let from = c.object_get("start").unwrap_or(Value::Null);
                let to = c.object_get("end").unwrap_or(Value::Null);
                let (a, b) = slice_bounds(len, &from, &to)?;
                out.push(slice_key(&Value::Int(a as i64), &Value::Int(b as i64)));
                cur = Value::array(cur.array_iter().skip(a).take(b - a).collect());
            }
            (Value::Null, _) => return Ok(None),
            (Value::TObj(_) | Value::Obj(_), Value::TStr(_) | Value::Str(_)) => {
                match cur.object_get(c.as_str().unwrap_or_default()) {
                    Some(x) => {
                        out.push(c.clone());
                        cur = x;
                    }
                    None => return Ok(None),
                }
            }
            _ => {
                return Err(err(format!(
                    "Cannot delete field at {} index of {}",
                    c.type_name(),
                    cur.type_name()
                )))
            }
        }
    }
    Ok(Some(out))
}

/// Delete one resolved path.
fn del_rec<'t>(
    ev: &mut Interp<'_, 't>,
    v: &Value<'t>,
    path: &[Value<'t>],
) -> Result<Value<'t>, Stop<'t>> {
    let Some((c, rest)) = path.split_first() else {
        return Ok(Value::Null);
    };
    if !rest.is_empty() {
        let child = index(v, c)?;
        let new = tattletail_compiler::stack::guard(|| del_rec(ev, &child, rest))?;
        return set_rec(ev, v, std::slice::from_ref(c), new);
    }
    // Each deletion copies the container (when shared): charge for it, or
    // deleting many paths from a large value would run unbounded.
    let size = v.array_len().unwrap_or_else(|| v.object_len());
    ev.charge(1 + size as u64)?;
    match (v, c) {
        (Value::TObj(_) | Value::Obj(_), Value::TStr(_) | Value::Str(_)) => {
            let mut d = v.to_dict();
            d.map.shift_remove(c.as_str().unwrap_or_default());
            Ok(Value::object(d.map))
        }
        (Value::TArr(_) | Value::Arr(_), Value::Int(i)) => {
            let mut items = v.to_list().items;
            if (*i as usize) < items.len() {
                items.remove(*i as usize);
            }
            Ok(Value::array(items))
        }
        (Value::TArr(_) | Value::Arr(_), Value::TObj(_) | Value::Obj(_)) => {
            let mut items = v.to_list().items;
            let from = c.object_get("start").unwrap_or(Value::Null);
            let to = c.object_get("end").unwrap_or(Value::Null);
            let (a, b) = slice_bounds(items.len(), &from, &to)?;
            items.drain(a..b);
            Ok(Value::array(items))
        }
        _ => Ok(v.clone()),
    }
}
