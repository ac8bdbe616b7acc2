//! Evaluating a parsed `$filter` on a rendered entity.

use std::cmp::Ordering;

use serde_json::Value;

use super::super::apply::{at_path, compare_strings};
use super::{Expr, Func, Lit, Op};

/// Evaluates a filter on a rendered entity (with every extended property included).
pub(crate) fn matches(expr: &Expr, item: &Value) -> bool {
    eval(expr, item, &[])
}

fn resolve<'a>(path: &[String], item: &'a Value, scope: &[(&str, &'a Value)]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let start = match scope.iter().rev().find(|(v, _)| v == first) {
        Some((_, bound)) => *bound,
        None => item.get(first.as_str())?,
    };
    at_path(start, rest)
}

fn eval<'a>(expr: &Expr, item: &'a Value, scope: &[(&str, &'a Value)]) -> bool {
    match expr {
        Expr::And(a, b) => eval(a, item, scope) && eval(b, item, scope),
        Expr::Or(a, b) => eval(a, item, scope) || eval(b, item, scope),
        Expr::Not(a) => !eval(a, item, scope),
        Expr::Truthy(path) => resolve(path, item, scope) == Some(&Value::Bool(true)),
        Expr::Func(func, path, text) => {
            let Some(Value::String(s)) = resolve(path, item, scope) else { return false };
            let (s, text) = (s.to_lowercase(), text.to_lowercase());
            match func {
                Func::StartsWith => s.starts_with(&text),
                Func::Contains => s.contains(&text),
            }
        }
        Expr::Any(path, var, body) => {
            let Some(Value::Array(list)) = resolve(path, item, scope) else { return false };
            list.iter().any(|element| {
                let mut inner: Vec<(&str, &Value)> = scope.to_vec();
                inner.push((var.as_str(), element));
                eval(body, item, &inner)
            })
        }
        Expr::Compare(path, op, lit) => {
            let value = resolve(path, item, scope);
            let ordering = match (value, lit) {
                (None | Some(Value::Null), Lit::Null) => Some(Ordering::Equal),
                (_, Lit::Null) => None,
                (Some(Value::String(s)), Lit::Str(l) | Lit::Raw(l)) => Some(compare_strings(s, l)),
                (Some(Value::Number(n)), Lit::Num(l)) => n.as_f64().and_then(|n| n.partial_cmp(l)),
                (Some(Value::Bool(b)), Lit::Bool(l)) => Some(b.cmp(l)),
                _ => None,
            };
            match (op, ordering) {
                (Op::Ne, None) => true,
                (_, None) => false,
                (Op::Eq, Some(o)) => o == Ordering::Equal,
                (Op::Ne, Some(o)) => o != Ordering::Equal,
                (Op::Gt, Some(o)) => o == Ordering::Greater,
                (Op::Ge, Some(o)) => o != Ordering::Less,
                (Op::Lt, Some(o)) => o == Ordering::Less,
                (Op::Le, Some(o)) => o != Ordering::Greater,
            }
        }
    }
}
