//! Salesforce's rules on semi-joins and anti-joins (`IN (SELECT …)`), checked after parsing.

use super::ast::Expr;
use super::error::{SoqlError, malformed};

/// Objects SOQL does not support as the inner select of a semi-join or anti-join.
const NOT_IN_SUBQUERIES: [&str; 2] = ["Event", "Task"];

/// Salesforce's rules on semi-joins and anti-joins: only in the top-level `AND` (`top`), not
/// nested, not on the objects SOQL leaves out of subqueries.
pub(super) fn check_joins(e: &Expr, top: bool, inner: bool) -> Result<(), SoqlError> {
    match e {
        Expr::And(parts) => parts.iter().try_for_each(|p| check_joins(p, top, inner)),
        Expr::Group(x) => check_joins(x, top, inner),
        Expr::Or(parts) => parts.iter().try_for_each(|p| check_joins(p, false, inner)),
        Expr::Not(x) => check_joins(x, false, inner),
        Expr::InSelect { select, .. } => {
            if inner {
                return Err(malformed("Nesting of semi join sub-selects is not supported"));
            }
            if !top {
                return Err(malformed(
                    "Semi join sub-selects are only allowed at the top level WHERE expressions and not in nested WHERE \
                     expressions.",
                ));
            }
            if let Some(object) = NOT_IN_SUBQUERIES.iter().find(|o| o.eq_ignore_ascii_case(&select.object)) {
                return Err(malformed(format!("Entity '{object}' is not supported for semi join inner selects")));
            }
            match &select.filter {
                Some(f) => check_joins(f, true, true),
                None => Ok(()),
            }
        }
        Expr::Cmp { .. } | Expr::In { .. } | Expr::Like { .. } => Ok(()),
    }
}
