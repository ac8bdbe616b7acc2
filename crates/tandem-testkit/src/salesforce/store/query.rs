//! Query execution: resolving field references (through lookups too), checking and evaluating
//! filters, semi-joins, narrowing by the indexes, sorting and limiting the matching records.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::super::schema::{self, FieldDef, FieldType, ObjectDef};
use super::super::soql::{CmpOp, Expr, FieldGroup, Lit, Select, SoqlError, like};
use super::values::{V, check_lit, cmp_v, in_range, lit_v, typed};
use super::{Fields, Org, RECYCLE_DAYS};

/// A resolved field reference: a field of the object, or a field through a lookup.
#[derive(Debug, Clone)]
pub(super) enum Path {
    Direct(FieldDef),
    Via { lookup: FieldDef, target: String, ty: FieldType },
}

impl Path {
    fn ty(&self) -> &FieldType {
        match self {
            Path::Direct(f) => &f.ty,
            Path::Via { ty, .. } => ty,
        }
    }
}

impl Org {
    pub(super) fn resolve(&self, def: &ObjectDef, name: &str) -> Result<Path, SoqlError> {
        let no_column = || SoqlError {
            code: "INVALID_FIELD",
            message: format!(
                "No such column '{name}' on entity '{}'. If you are attempting to use a custom field, be sure to append \
                 the '__c' after the custom field name. Please reference your WSDL or the describe call for the \
                 appropriate names.",
                def.name
            ),
        };
        match name.split_once('.') {
            None => def.field(name).cloned().map(Path::Direct).ok_or_else(no_column),
            Some((rel, rest)) => {
                if rest.contains('.') {
                    return Err(no_column());
                }
                let lookup = def.relationship(rel).cloned().ok_or_else(no_column)?;
                let FieldType::Reference(targets) = &lookup.ty else { return Err(no_column()) };
                if targets.len() == 1 {
                    let target = self.object(targets[0]).ok_or_else(no_column)?;
                    let f = target.field(rest).ok_or_else(no_column)?;
                    Ok(Path::Via { target: f.name.clone(), ty: f.ty.clone(), lookup })
                } else {
                    // Polymorphic: the Name entity.
                    let field =
                        schema::NAME_FIELDS.iter().find(|f| f.eq_ignore_ascii_case(rest)).ok_or_else(no_column)?;
                    Ok(Path::Via { target: (*field).to_owned(), ty: FieldType::Text(255), lookup })
                }
            }
        }
    }

    pub(super) fn value_at(&self, record: &Fields, path: &Path) -> Value {
        match path {
            Path::Direct(f) => record.get(&f.name).cloned().unwrap_or(Value::Null),
            Path::Via { lookup, target, .. } => {
                let Some(id) = record.get(&lookup.name).and_then(Value::as_str) else { return Value::Null };
                match self.find(id) {
                    Some((object, r)) if !self.visible(object, &r) => Value::Null,
                    Some((object, r)) if target == "Type" => {
                        let _ = r;
                        Value::String(object.to_owned())
                    }
                    Some((_, r)) => r.get(target).cloned().unwrap_or(Value::Null),
                    None => Value::Null,
                }
            }
        }
    }

    fn check_expr(&self, def: &ObjectDef, e: &Expr) -> Result<(), SoqlError> {
        match e {
            Expr::And(p) | Expr::Or(p) => p.iter().try_for_each(|x| self.check_expr(def, x)),
            Expr::Not(x) | Expr::Group(x) => self.check_expr(def, x),
            Expr::Cmp { field, value, .. } => {
                let path = self.resolve(def, field)?;
                check_lit(field, path.ty(), value)
            }
            Expr::In { field, values, .. } => {
                let path = self.resolve(def, field)?;
                values.iter().try_for_each(|v| check_lit(field, path.ty(), v))
            }
            Expr::InSelect { field, select, .. } => {
                self.resolve(def, field)?;
                let inner = self.object(&select.object).ok_or_else(|| invalid_type(&select.object))?;
                self.resolve(inner, &select.fields[0])?;
                if let Some(f) = &select.filter {
                    self.check_expr(inner, f)?;
                }
                Ok(())
            }
            Expr::Like { field, .. } => self.resolve(def, field).map(|_| ()),
        }
    }

    fn eval(&self, def: &ObjectDef, record: &Fields, e: &Expr, semi: &HashMap<usize, HashSet<String>>) -> bool {
        match e {
            Expr::And(p) => p.iter().all(|x| self.eval(def, record, x, semi)),
            Expr::Or(p) => p.iter().any(|x| self.eval(def, record, x, semi)),
            Expr::Not(x) => !self.eval(def, record, x, semi),
            Expr::Group(x) => self.eval(def, record, x, semi),
            Expr::Cmp { field, op, value } => {
                let Ok(path) = self.resolve(def, field) else { return false };
                let left = typed(&self.value_at(record, &path), path.ty());
                if let Lit::Relative(literal) = value {
                    return in_range(&left, literal.range(self.now().date_naive()), *op);
                }
                let right = lit_v(value, path.ty());
                match op {
                    CmpOp::Eq => left == right,
                    CmpOp::Ne => left != right,
                    op => {
                        let Some(ord) = cmp_v(&left, &right) else { return false };
                        match op {
                            CmpOp::Lt => ord == Ordering::Less,
                            CmpOp::Le => ord != Ordering::Greater,
                            CmpOp::Gt => ord == Ordering::Greater,
                            _ => ord != Ordering::Less,
                        }
                    }
                }
            }
            Expr::In { field, negated, values } => {
                let Ok(path) = self.resolve(def, field) else { return false };
                let left = typed(&self.value_at(record, &path), path.ty());
                let today = self.now().date_naive();
                let found = values.iter().any(|v| match v {
                    Lit::Relative(literal) => in_range(&left, literal.range(today), CmpOp::Eq),
                    v => lit_v(v, path.ty()) == left,
                });
                found != *negated
            }
            Expr::InSelect { field, negated, .. } => {
                let Ok(path) = self.resolve(def, field) else { return false };
                let key = std::ptr::from_ref(e) as usize;
                let value = self.value_at(record, &path);
                let found = value.as_str().is_some_and(|v| semi.get(&key).is_some_and(|s| s.contains(v)));
                found != *negated
            }
            Expr::Like { field, pattern } => {
                let Ok(path) = self.resolve(def, field) else { return false };
                self.value_at(record, &path).as_str().is_some_and(|v| like(v, pattern))
            }
        }
    }

    /// Pre-computes the value sets of semi-join subqueries, keyed by the expression's address.
    fn semi_joins(&self, e: &Expr, out: &mut HashMap<usize, HashSet<String>>) -> Result<(), SoqlError> {
        match e {
            Expr::And(p) | Expr::Or(p) => p.iter().try_for_each(|x| self.semi_joins(x, out)),
            Expr::Not(x) | Expr::Group(x) => self.semi_joins(x, out),
            Expr::InSelect { select, .. } => {
                let rows = self.select_rows(select, false)?;
                let inner = self.object(&select.object).ok_or_else(|| invalid_type(&select.object))?;
                let path = self.resolve(inner, &select.fields[0])?;
                let set = rows.iter().filter_map(|r| self.value_at(r, &path).as_str().map(str::to_owned)).collect();
                out.insert(std::ptr::from_ref(e) as usize, set);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The fields a select list names, with its `FIELDS()` groups expanded (custom fields end in
    /// `__c`; the others are standard).
    pub(super) fn selected(&self, def: &ObjectDef, select: &Select) -> Vec<String> {
        let mut out = select.fields.clone();
        for group in &select.groups {
            for f in &def.fields {
                let custom = f.name.ends_with("__c");
                let wanted = match group {
                    FieldGroup::All => true,
                    FieldGroup::Custom => custom,
                    FieldGroup::Standard => !custom,
                };
                if wanted && !out.iter().any(|o| o.eq_ignore_ascii_case(&f.name)) {
                    out.push(f.name.clone());
                }
            }
        }
        out
    }

    /// The ids of records that may match `e`, from the indexes, or `None` when the indexes cannot
    /// narrow it (or would give more than `cap`): `OwnerId =`/`IN`, `Id =`/`IN`/`IN (SELECT …)`,
    /// `SystemModstamp >=`/`>`/`=`, and `AND`/`OR` of them. A superset of the matches: the filter
    /// still decides.
    fn candidates(
        &self,
        def: &ObjectDef,
        e: &Expr,
        semi: &HashMap<usize, HashSet<String>>,
        cap: Option<usize>,
    ) -> Option<BTreeSet<String>> {
        let within = |n: usize| cap.is_none_or(|c| n <= c);
        let field_is =
            |field: &str, name: &str| matches!(self.resolve(def, field), Ok(Path::Direct(f)) if f.name == name);
        let owned = |owners: &mut dyn Iterator<Item = &String>| -> Option<BTreeSet<String>> {
            let mut out = BTreeSet::new();
            for o in owners {
                if let Some(ids) = self.by_owner.get(&(def.name, o.clone())) {
                    out.extend(ids.iter().cloned());
                }
                if !within(out.len()) {
                    return None;
                }
            }
            Some(out)
        };
        let strings = |values: &[Lit]| -> Option<Vec<String>> {
            values.iter().map(|v| if let Lit::Str(s) = v { Some(s.clone()) } else { None }).collect()
        };
        match e {
            Expr::Group(x) => self.candidates(def, x, semi, cap),
            Expr::And(parts) => {
                let mut best: Option<BTreeSet<String>> = None;
                for p in parts {
                    let limit = best.as_ref().map_or(cap, |b| Some(b.len().saturating_sub(1)));
                    if let Some(c) = self.candidates(def, p, semi, limit) {
                        best = Some(c);
                    }
                }
                best
            }
            Expr::Or(parts) => {
                let mut out = BTreeSet::new();
                for p in parts {
                    out.extend(self.candidates(def, p, semi, cap)?);
                    if !within(out.len()) {
                        return None;
                    }
                }
                Some(out)
            }
            Expr::Cmp { field, op: CmpOp::Eq, value: Lit::Str(v) } if field_is(field, "OwnerId") => {
                owned(&mut std::iter::once(v))
            }
            Expr::Cmp { field, op: CmpOp::Eq, value: Lit::Str(v) } if field_is(field, "Id") => {
                Some(BTreeSet::from([v.clone()]))
            }
            Expr::In { field, negated: false, values } if field_is(field, "OwnerId") => {
                owned(&mut strings(values)?.iter())
            }
            Expr::In { field, negated: false, values } if field_is(field, "Id") => {
                let ids: BTreeSet<String> = strings(values)?.into_iter().collect();
                within(ids.len()).then_some(ids)
            }
            Expr::InSelect { field, negated: false, .. } if field_is(field, "Id") => {
                let set = semi.get(&(std::ptr::from_ref(e) as usize))?;
                within(set.len()).then(|| set.iter().cloned().collect())
            }
            Expr::Cmp { field, op: op @ (CmpOp::Eq | CmpOp::Ge | CmpOp::Gt), value: Lit::DateTime(t) }
                if field_is(field, "SystemModstamp") =>
            {
                let stamps = self.by_stamp.get(def.name)?;
                let mut out = BTreeSet::new();
                for (stamp, id) in stamps.range((Some(*t), String::new())..) {
                    if *op == CmpOp::Eq && *stamp != Some(*t) {
                        break;
                    }
                    out.insert(id.clone());
                    if !within(out.len()) {
                        return None;
                    }
                }
                Some(out)
            }
            _ => None,
        }
    }

    /// A stamp no record matching `e` is below (`SystemModstamp >=`, `>` or `=` a time, and
    /// `AND`/`OR` of them), or `None` when the filter does not bound it.
    fn stamp_floor(&self, def: &ObjectDef, e: &Expr) -> Option<DateTime<Utc>> {
        match e {
            Expr::Group(x) => self.stamp_floor(def, x),
            Expr::Cmp { field, op: CmpOp::Eq | CmpOp::Ge | CmpOp::Gt, value: Lit::DateTime(t) } if matches!(self.resolve(def, field), Ok(Path::Direct(f)) if f.name == "SystemModstamp") => {
                Some(*t)
            }
            Expr::And(parts) => parts.iter().filter_map(|p| self.stamp_floor(def, p)).max(),
            Expr::Or(parts) => {
                parts.iter().map(|p| self.stamp_floor(def, p)).collect::<Option<Vec<_>>>()?.into_iter().min()
            }
            _ => None,
        }
    }

    /// The matching records, sorted and limited (not projected).
    pub(super) fn select_rows(&self, select: &Select, all: bool) -> Result<Vec<Fields>, SoqlError> {
        let def = self.object(&select.object).ok_or_else(|| invalid_type(&select.object))?;
        for f in self.selected(def, select) {
            self.resolve(def, &f)?;
        }
        let mut semi = HashMap::new();
        if let Some(filter) = &select.filter {
            self.check_expr(def, filter)?;
            self.semi_joins(filter, &mut semi)?;
        }
        let order: Vec<(Path, bool, bool)> = select
            .order
            .iter()
            .map(|o| self.resolve(def, &o.field).map(|p| (p, o.asc, o.nulls_first)))
            .collect::<Result<_, _>>()?;
        let horizon = self.now() - Duration::days(RECYCLE_DAYS);
        let table = self.tables.get(def.name);
        // A limited query in the stamp index's order (a feed's keyset page) walks that index from
        // the filter's lowest possible stamp and stops at the limit, as a database would, unless
        // the other indexes narrow it to a few times the limit: a page of 2,000 decodes about
        // 2,000 records, not the whole remainder of the org.
        let ordered_walk = select.limit.filter(|_| in_stamp_order(&order));
        let cap = ordered_walk.map(|limit| limit.saturating_mul(4));
        // The records the indexes narrow the filter to, in id order (as a scan would see them).
        let candidates = select.filter.as_ref().and_then(|f| self.candidates(def, f, &semi, cap));
        let walk_from = match (ordered_walk, &candidates) {
            (Some(_), None) => Some(select.filter.as_ref().and_then(|f| self.stamp_floor(def, f))),
            _ => None,
        };
        // Records are decoded one at a time as the filter reaches them (`Table`).
        let scanned: Box<dyn Iterator<Item = (&String, Fields)>> = match (&candidates, table, walk_from) {
            (_, None, _) => Box::new(std::iter::empty()),
            (Some(ids), Some(t), _) => Box::new(ids.iter().filter_map(|id| t.get_key_value(id))),
            (None, Some(t), Some(floor)) => Box::new(
                self.by_stamp
                    .get(def.name)
                    .into_iter()
                    .flat_map(move |stamps| stamps.range((floor, String::new())..))
                    .filter_map(|(_, id)| t.get_key_value(id)),
            ),
            (None, Some(t), None) => Box::new(t.iter()),
        };
        let matching = scanned
            .inspect(|_| self.examined.set(self.examined.get() + 1))
            .filter(|(id, r)| Self::is_live(r) || all && self.deleted_at.get(*id).is_some_and(|at| *at >= horizon))
            .filter(|(_, r)| self.visible(def.name, r))
            .filter(|(_, r)| select.filter.as_ref().is_none_or(|f| self.eval(def, r, f, &semi)))
            // The walk meets rows in the order asked for: the first `limit` are the page.
            .take(if walk_from.is_some() { ordered_walk.unwrap_or(usize::MAX) } else { usize::MAX });
        // Matching rows are kept as their ids and sort keys, sorted, cut to the limit, and only
        // then decoded again to be returned: a page of 2,000 from 50,000 matching records holds
        // 2,000 records, not 50,000. Each row's sort key is typed once.
        let mut keyed: Vec<(Vec<V>, &String)> = matching
            .map(|(id, r)| (order.iter().map(|(path, _, _)| typed(&self.value_at(&r, path), path.ty())).collect(), id))
            .collect();
        if !order.is_empty() {
            keyed.sort_by(|(a, _), (b, _)| {
                for ((x, y), (_, asc, nulls_first)) in a.iter().zip(b).zip(&order) {
                    let ord = match (x, y) {
                        (V::Null, V::Null) => Ordering::Equal,
                        (V::Null, _) => {
                            if *nulls_first {
                                Ordering::Less
                            } else {
                                Ordering::Greater
                            }
                        }
                        (_, V::Null) => {
                            if *nulls_first {
                                Ordering::Greater
                            } else {
                                Ordering::Less
                            }
                        }
                        _ => {
                            let o = cmp_v(x, y).unwrap_or(Ordering::Equal);
                            if *asc { o } else { o.reverse() }
                        }
                    };
                    if ord != Ordering::Equal {
                        return ord;
                    }
                }
                Ordering::Equal
            });
        }
        if let Some(n) = select.limit {
            keyed.truncate(n);
        }
        let rows: Vec<Fields> = keyed.into_iter().filter_map(|(_, id)| table.and_then(|t| t.get(id))).collect();
        Ok(rows)
    }
}

/// Whether `order` is the stamp index's own order: `SystemModstamp` ascending with nulls first
/// (SOQL's default), then optionally `Id` ascending (the index's tie-break).
fn in_stamp_order(order: &[(Path, bool, bool)]) -> bool {
    let is = |p: &Path, name: &str| matches!(p, Path::Direct(f) if f.name == name);
    match order {
        [(stamp, true, true)] => is(stamp, "SystemModstamp"),
        [(stamp, true, true), (id, true, _)] => is(stamp, "SystemModstamp") && is(id, "Id"),
        _ => false,
    }
}

pub(super) fn invalid_type(name: &str) -> SoqlError {
    SoqlError {
        code: "INVALID_TYPE",
        message: format!(
            "sObject type '{name}' is not supported. If you are attempting to use a custom object, be sure to append \
             the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names."
        ),
    }
}
