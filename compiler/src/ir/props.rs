//! Properties of IR nodes computed once, bottom-up (children have smaller
//! ids than their parents, so one forward pass over the arena suffices).
//!
//! `single`: the node produces at most one output (or one error) on any
//! input. The runtime evaluates such nodes directly, without building a
//! continuation, which is how the common predicates (paths, comparisons,
//! `and`/`or`, string tests) stay cheap.

use super::{Builtin, Node, Program, Step};

/// For each node: does it produce at most one output?
pub fn single_outputs(p: &Program) -> Vec<bool> {
    let mut single = vec![false; p.nodes.len()];
    for (i, node) in p.nodes.iter().enumerate() {
        let s = |id: super::Id| single[id.index()];
        let all = |ids: &[super::Id]| ids.iter().all(|&x| single[x.index()]);
        single[i] = match node {
            Node::Identity | Node::Empty | Node::Const(_) | Node::Var(_) | Node::Break(_) => true,
            Node::Format(_) => true,
            Node::Path(t, steps) => {
                s(*t)
                    && steps.iter().all(|(st, _)| match st {
                        Step::Field(_) => true,
                        Step::Index(k) => s(*k),
                        Step::Slice(a, b) => a.is_none_or(s) && b.is_none_or(s),
                        Step::Iterate => false,
                    })
            }
            Node::Recurse(_) | Node::RecurseCond(..) | Node::Comma(_) => false,
            Node::Pipe(xs) | Node::And(xs) | Node::Or(xs) => all(xs),
            // `a // b`: the truthy outputs of a, else the outputs of b.
            Node::Alt(xs) => all(xs),
            Node::Neg(a) => s(*a),
            Node::Binary(_, a, b) => s(*a) && s(*b),
            Node::Bind(src, pats, body) => {
                s(*src) && s(*body) && pats.len() == 1 && pattern_keys_single(&pats[0], &single)
            }
            Node::Reduce(_, _, init, _) => s(*init),
            Node::Foreach(..) => false,
            Node::If(c, a, b) => s(*c) && s(*a) && s(*b),
            Node::Try(b, c) => s(*b) && c.is_none_or(s),
            Node::Label(_, b) => s(*b),
            Node::Array(_) => true,
            Node::Object(kvs) => kvs.iter().all(|(k, v)| s(*k) && s(*v)),
            Node::Str(_, parts) => parts.iter().all(|p| match p {
                super::StrPiece::Lit(_) => true,
                super::StrPiece::Expr(e) => s(*e),
            }),
            Node::Assign(_, _, rhs) => s(*rhs),
            Node::Call(..) | Node::Param(..) => false,
            Node::InFrame(_, a) => s(*a),
            Node::Builtin(b, args) => builtin_single(*b, args, &single),
            Node::Regex(b, _, args) => match b {
                Builtin::Test | Builtin::Split2 => true,
                Builtin::Match => false,
                Builtin::Sub => args.iter().all(|a| single[a.index()]),
                _ => false,
            },
        };
    }
    single
}

fn builtin_single(b: Builtin, args: &[super::Id], single: &[bool]) -> bool {
    use Builtin::*;
    match b {
        Path | Range1 | Range2 | Range3 | Repeat | Limit | While | Match | Tostream
        | Combinations | FromStream => false,
        Until | Walk => args.iter().all(|a| single[a.index()]),
        // One output whatever the filter does.
        SortBy | GroupBy | UniqueBy | MinBy | MaxBy | First | Last | IsEmpty | Any2 | All2 => true,
        Nth => single[args[0].index()],
        Sub => args.iter().all(|a| single[a.index()]),
        _ => args.iter().all(|a| single[a.index()]),
    }
}

fn pattern_keys_single(p: &super::Pattern, single: &[bool]) -> bool {
    match p {
        super::Pattern::Var(_) => true,
        super::Pattern::Array(ps) => ps.iter().all(|p| pattern_keys_single(p, single)),
        super::Pattern::Object(es) => es.iter().all(|e| {
            single[e.key.index()]
                && e.value
                    .as_ref()
                    .is_none_or(|v| pattern_keys_single(v, single))
        }),
    }
}
