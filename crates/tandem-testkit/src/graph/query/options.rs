//! Parsing a request's query options: which options the route accepts, `$select`, `$expand`,
//! `$orderby`, `$count`, `$top` and `$skip` (the `$filter` grammar lives in `filter/`).

use super::super::api::Req;
use super::super::data::ApiError;
use super::entity::{Entity, check_path};
use super::filter::{Expr, parse_filter};

/// Navigation properties the fake can expand.
const EXPANDABLE: &[&str] = &["singleValueExtendedProperties", "exceptionOccurrences"];

/// Every system query option of OData v4 Graph knows.
const SYSTEM_OPTIONS: &[&str] = &[
    "$select",
    "$filter",
    "$orderby",
    "$top",
    "$skip",
    "$count",
    "$expand",
    "$search",
    "$format",
    "$skiptoken",
    "$deltatoken",
    "$levels",
    "$apply",
    "$compute",
    "$index",
    "$schemaversion",
    "$id",
];

/// The query options of one request, checked against its route.
#[derive(Debug, Clone, Default)]
pub(crate) struct Options {
    /// `$select`, canonical names; `None` for all properties.
    pub(crate) select: Option<Vec<String>>,
    pub(crate) filter: Option<Expr>,
    /// `$orderby`: property paths and whether descending.
    pub(crate) orderby: Vec<(Vec<String>, bool)>,
    pub(crate) count: bool,
    /// `$expand=singleValueExtendedProperties(...)`: the raw item (its filter picks the ids).
    pub(crate) expand_ext: Option<String>,
    pub(crate) expand_exceptions: bool,
}

/// Checks the request's query options: every `$` option must be in `allowed`, and the options
/// the fake evaluates must parse and name properties of `entity`. Custom options (no `$`) are
/// ignored, as Graph ignores them, except the function parameters routes read themselves.
pub(crate) fn options(req: &Req, entity: Entity, allowed: &[&str]) -> Result<Options, ApiError> {
    let mut out = Options::default();
    let mut seen: Vec<String> = Vec::new();
    for (key, value) in &req.query {
        let lower = key.to_ascii_lowercase();
        if !lower.starts_with('$') {
            continue;
        }
        if seen.contains(&lower) {
            return Err(ApiError::new(
                400,
                "BadRequest",
                format!("Query option '{key}' was specified more than once, but it must be specified at most once."),
            ));
        }
        seen.push(lower.clone());
        if !SYSTEM_OPTIONS.contains(&lower.as_str()) {
            return Err(ApiError::new(400, "BadRequest", format!("The query parameter '{key}' is not supported.")));
        }
        if !allowed.contains(&lower.as_str()) {
            return Err(ApiError::new(
                400,
                "BadRequest",
                format!("The query option '{key}' is not supported on this resource (Graph fake)."),
            ));
        }
        match lower.as_str() {
            "$select" => out.select = Some(parse_select(value, entity)?),
            "$filter" => out.filter = Some(parse_filter(value, entity)?),
            "$orderby" => out.orderby = parse_orderby(value, entity)?,
            "$count" => {
                out.count = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(ApiError::new(400, "BadRequest", "$count must be true or false.")),
                }
            }
            "$top" | "$skip" if value.parse::<usize>().is_err() => {
                return Err(ApiError::new(
                    400,
                    "BadRequest",
                    format!("Invalid value '{value}' for query option '{key}': a non-negative integer is expected."),
                ));
            }
            "$expand" => parse_expand(value, entity, &mut out)?,
            _ => {}
        }
    }
    Ok(out)
}

fn parse_select(value: &str, entity: Entity) -> Result<Vec<String>, ApiError> {
    let mut out = Vec::new();
    for name in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if name == "*" {
            return Ok(Vec::from(["*".to_owned()]));
        }
        let Some(canonical) = entity.property(name) else {
            return Err(ApiError::new(
                400,
                "BadRequest",
                format!(
                    "Parsing OData Select and Expand failed: Could not find a property named '{name}' on type '{}'.",
                    entity.type_name()
                ),
            ));
        };
        out.push(canonical.to_owned());
    }
    Ok(out)
}

/// Splits at commas outside parentheses and quotes.
pub(super) fn split_top_level(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut quoted = false;
    let mut current = String::new();
    for c in value.chars() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                out.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    out.push(current);
    out.into_iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()
}

fn parse_expand(value: &str, entity: Entity, out: &mut Options) -> Result<(), ApiError> {
    for item in split_top_level(value) {
        let name = item.split('(').next().unwrap_or_default().trim();
        let Some(canonical) = entity.property(name) else {
            return Err(ApiError::new(
                400,
                "BadRequest",
                format!(
                    "Parsing OData Select and Expand failed: Could not find a property named '{name}' on type '{}'.",
                    entity.type_name()
                ),
            ));
        };
        if !EXPANDABLE.contains(&canonical) || (canonical == "exceptionOccurrences" && entity != Entity::Event) {
            return Err(ApiError::new(
                400,
                "BadRequest",
                format!("Expanding '{canonical}' is not supported by the Graph fake."),
            ));
        }
        if canonical == "exceptionOccurrences" {
            if item.contains('(') {
                return Err(ApiError::new(
                    400,
                    "BadRequest",
                    "Query options inside $expand=exceptionOccurrences are not supported by the Graph fake.",
                ));
            }
            out.expand_exceptions = true;
        } else {
            out.expand_ext = Some(item.clone());
        }
    }
    Ok(())
}

fn parse_orderby(value: &str, entity: Entity) -> Result<Vec<(Vec<String>, bool)>, ApiError> {
    let mut out = Vec::new();
    for clause in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let mut words = clause.split_whitespace();
        let path = words.next().unwrap_or_default();
        let desc = match words.next().map(str::to_ascii_lowercase).as_deref() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => {
                return Err(ApiError::new(400, "BadRequest", format!("Syntax error at '{other}' in '$orderby'.")));
            }
        };
        if words.next().is_some() {
            return Err(ApiError::new(400, "BadRequest", format!("Syntax error in '$orderby': '{clause}'.")));
        }
        let path = check_path(path, entity, "sorting")?;
        out.push((path, desc));
    }
    Ok(out)
}
