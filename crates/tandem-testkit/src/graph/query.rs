//! OData query options of the Graph fake: which options each route accepts, `$select`,
//! `$filter` (a subset of the grammar, evaluated on the rendered JSON), `$orderby`, `$expand`,
//! `$top`, `$skip` and `$count`. Options a route does not accept, and filter nodes the fake does
//! not evaluate, answer 400 with Graph's error body instead of being ignored.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::api::Req;
use super::data::ApiError;
use super::util::parse_instant;

/// The entity type a route serves, for checking property names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entity {
    Contact,
    Event,
    ContactFolder,
    User,
}

const OUTLOOK_ITEM: &[&str] = &["id", "categories", "changeKey", "createdDateTime", "lastModifiedDateTime"];

/// Structural and navigation properties of `contact` in the v1.0 CSDL (besides those of
/// `outlookItem`).
const CONTACT: &[&str] = &[
    "assistantName",
    "birthday",
    "businessAddress",
    "businessHomePage",
    "businessPhones",
    "children",
    "companyName",
    "department",
    "displayName",
    "emailAddresses",
    "fileAs",
    "generation",
    "givenName",
    "homeAddress",
    "homePhones",
    "imAddresses",
    "initials",
    "jobTitle",
    "manager",
    "middleName",
    "mobilePhone",
    "nickName",
    "officeLocation",
    "otherAddress",
    "parentFolderId",
    "personalNotes",
    "primaryEmailAddress",
    "profession",
    "secondaryEmailAddress",
    "spouseName",
    "surname",
    "tertiaryEmailAddress",
    "title",
    "yomiCompanyName",
    "yomiGivenName",
    "yomiSurname",
    "extensions",
    "multiValueExtendedProperties",
    "photo",
    "singleValueExtendedProperties",
];

/// Structural and navigation properties of `event` in the v1.0 CSDL (besides those of
/// `outlookItem`).
const EVENT: &[&str] = &[
    "allowNewTimeProposals",
    "attendees",
    "body",
    "bodyPreview",
    "cancelledOccurrences",
    "end",
    "hasAttachments",
    "hideAttendees",
    "iCalUId",
    "importance",
    "isAllDay",
    "isCancelled",
    "isDraft",
    "isOnlineMeeting",
    "isOrganizer",
    "isReminderOn",
    "location",
    "locations",
    "onlineMeeting",
    "onlineMeetingProvider",
    "onlineMeetingUrl",
    "organizer",
    "originalEndTimeZone",
    "originalStart",
    "originalStartTimeZone",
    "recurrence",
    "reminderMinutesBeforeStart",
    "responseRequested",
    "responseStatus",
    "sensitivity",
    "seriesMasterId",
    "showAs",
    "start",
    "subject",
    "transactionId",
    "type",
    "webLink",
    "attachments",
    "calendar",
    "exceptionOccurrences",
    "extensions",
    "instances",
    "multiValueExtendedProperties",
    "singleValueExtendedProperties",
];

const CONTACT_FOLDER: &[&str] = &[
    "id",
    "displayName",
    "parentFolderId",
    "childFolders",
    "contacts",
    "multiValueExtendedProperties",
    "singleValueExtendedProperties",
];

/// The user properties the fake renders (the default set of `GET /users/{id}`).
const USER: &[&str] = &[
    "id",
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
];

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

impl Entity {
    pub(crate) fn type_name(self) -> &'static str {
        match self {
            Entity::Contact => "microsoft.graph.contact",
            Entity::Event => "microsoft.graph.event",
            Entity::ContactFolder => "microsoft.graph.contactFolder",
            Entity::User => "microsoft.graph.user",
        }
    }

    /// The canonical spelling of a property of this type (names are case-insensitive).
    fn property(self, name: &str) -> Option<&'static str> {
        let lists: &[&[&'static str]] = match self {
            Entity::Contact => &[OUTLOOK_ITEM, CONTACT],
            Entity::Event => &[OUTLOOK_ITEM, EVENT],
            Entity::ContactFolder => &[CONTACT_FOLDER],
            Entity::User => &[USER],
        };
        lists.iter().flat_map(|l| l.iter()).find(|p| p.eq_ignore_ascii_case(name)).copied()
    }

    fn is_navigation(self, name: &str) -> bool {
        [
            "extensions",
            "multiValueExtendedProperties",
            "singleValueExtendedProperties",
            "photo",
            "attachments",
            "calendar",
            "exceptionOccurrences",
            "instances",
            "childFolders",
            "contacts",
        ]
        .contains(&name)
    }
}

fn unknown_property(name: &str, entity: Entity) -> ApiError {
    ApiError::new(
        400,
        "BadRequest",
        format!("Could not find a property named '{name}' on type '{}'.", entity.type_name()),
    )
}

fn invalid_filter() -> ApiError {
    ApiError::new(400, "ErrorInvalidUrlQueryFilter", "The query filter contains one or more invalid nodes.")
}

fn filter_syntax(detail: &str) -> ApiError {
    ApiError::new(400, "BadRequest", format!("Invalid filter clause: {detail}"))
}

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
fn split_top_level(value: &str) -> Vec<String> {
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

/// Splits a property path and checks its first segment names a structural property.
fn check_path(path: &str, entity: Entity, purpose: &str) -> Result<Vec<String>, ApiError> {
    let mut segments: Vec<String> = path.split('/').map(str::to_owned).collect();
    let first = segments.first().cloned().unwrap_or_default();
    if first.is_empty() || segments.iter().any(String::is_empty) {
        return Err(ApiError::new(400, "BadRequest", format!("Syntax error in property path '{path}'.")));
    }
    let canonical = entity.property(&first).ok_or_else(|| unknown_property(&first, entity))?;
    if entity.is_navigation(canonical) {
        return Err(ApiError::new(
            400,
            "ErrorInvalidProperty",
            format!("The property '{canonical}' does not support {purpose}."),
        ));
    }
    if let Some(s) = segments.first_mut() {
        *s = canonical.to_owned();
    }
    Ok(segments)
}

// --- $select --------------------------------------------------------------------------------

/// Keeps the selected properties of an entity, plus `id`, annotations (`@odata.etag`,
/// `@odata.type`, `@removed`) and expanded navigation properties.
pub(crate) fn apply_select(value: Value, options: &Options) -> Value {
    let Some(select) = &options.select else { return value };
    if select.iter().any(|s| s == "*") {
        return value;
    }
    let Value::Object(map) = value else { return value };
    let keep = |k: &str| {
        k == "id"
            || k.starts_with('@')
            || select.iter().any(|s| s == k)
            || (k == "singleValueExtendedProperties" && options.expand_ext.is_some())
            || (k == "exceptionOccurrences" && options.expand_exceptions)
    };
    Value::Object(map.into_iter().filter(|(k, _)| keep(k)).collect::<Map<String, Value>>())
}

/// The `(a,b)` suffix Graph adds to `@odata.context` for a `$select`.
pub(crate) fn context_suffix(options: &Options) -> String {
    match &options.select {
        Some(list) if !list.is_empty() => format!("({})", list.join(",")),
        _ => String::new(),
    }
}

// --- $orderby -------------------------------------------------------------------------------

fn at_path<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut v = value;
    for s in path {
        v = v.get(s.as_str())?;
    }
    Some(v)
}

fn compare_values(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (None | Some(Value::Null), None | Some(Value::Null)) => Ordering::Equal,
        (None | Some(Value::Null), _) => Ordering::Less,
        (_, None | Some(Value::Null)) => Ordering::Greater,
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            x.as_f64().unwrap_or(0.0).partial_cmp(&y.as_f64().unwrap_or(0.0)).unwrap_or(Ordering::Equal)
        }
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (Some(Value::String(x)), Some(Value::String(y))) => compare_strings(x, y),
        (Some(x), Some(y)) => x.to_string().cmp(&y.to_string()),
    }
}

fn compare_strings(x: &str, y: &str) -> Ordering {
    match (parse_instant(x), parse_instant(y)) {
        (Some(a), Some(b)) => a.cmp(&b),
        _ => x.to_lowercase().cmp(&y.to_lowercase()),
    }
}

/// Sorts rendered entities by `$orderby` (stable).
pub(crate) fn sort(items: &mut [Value], options: &Options) {
    if options.orderby.is_empty() {
        return;
    }
    items.sort_by(|a, b| {
        for (path, desc) in &options.orderby {
            let o = compare_values(at_path(a, path), at_path(b, path));
            let o = if *desc { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
}

// --- $filter --------------------------------------------------------------------------------

/// A parsed `$filter`.
#[derive(Debug, Clone)]
pub(crate) enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Compare(Vec<String>, Op, Lit),
    /// `startswith(path, 'x')`, `contains(path, 'x')`.
    Func(Func, Vec<String>, String),
    /// `collection/any(v: expr)`.
    Any(Vec<String>, String, Box<Expr>),
    /// A boolean property on its own.
    Truthy(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    StartsWith,
    Contains,
}

#[derive(Debug, Clone)]
pub(crate) enum Lit {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
    /// An unquoted date, time or GUID literal, compared as text (instants as instants).
    Raw(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Open,
    Close,
    Comma,
    Colon,
}

fn tokenize(text: &str) -> Result<Vec<Tok>, ApiError> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Tok::Open);
                i += 1;
            }
            ')' => {
                out.push(Tok::Close);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            ':' => {
                out.push(Tok::Colon);
                i += 1;
            }
            '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(filter_syntax("unterminated string literal")),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            s.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            s.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(s));
            }
            _ => {
                let mut s = String::new();
                while let Some(&ch) = chars.get(i) {
                    // `:` belongs to a time literal (`2026-01-05T09:00:00Z`) when a digit precedes it.
                    let time_colon = ch == ':' && s.chars().next().is_some_and(|f| f.is_ascii_digit());
                    if ch.is_whitespace() || "(),'".contains(ch) || (ch == ':' && !time_colon) {
                        break;
                    }
                    s.push(ch);
                    i += 1;
                }
                if s.is_empty() {
                    return Err(filter_syntax(&format!("unexpected character '{c}'")));
                }
                out.push(Tok::Word(s));
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    entity: Entity,
    /// Lambda variables in scope.
    vars: Vec<String>,
}

fn parse_filter(text: &str, entity: Entity) -> Result<Expr, ApiError> {
    let mut p = Parser { toks: tokenize(text)?, pos: 0, entity, vars: Vec::new() };
    let e = p.or()?;
    if p.pos != p.toks.len() {
        return Err(filter_syntax("unexpected text after the expression"));
    }
    Ok(e)
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn expect(&mut self, tok: &Tok) -> Result<(), ApiError> {
        if self.next().as_ref() == Some(tok) { Ok(()) } else { Err(filter_syntax(&format!("expected {tok:?}"))) }
    }

    fn or(&mut self) -> Result<Expr, ApiError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ApiError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.pos += 1;
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, ApiError> {
        if self.keyword("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some(&Tok::Open) {
            self.pos += 1;
            let e = self.or()?;
            self.expect(&Tok::Close)?;
            return Ok(e);
        }
        self.primary()
    }

    /// A property path, checked: the first segment is a lambda variable or a property.
    fn path(&self, word: &str) -> Result<Vec<String>, ApiError> {
        let segments: Vec<String> = word.split('/').map(str::to_owned).collect();
        if segments.iter().any(String::is_empty) {
            return Err(filter_syntax(&format!("invalid property path '{word}'")));
        }
        if segments.first().is_some_and(|f| self.vars.contains(f)) {
            return Ok(segments);
        }
        check_path(word, self.entity, "filtering")
    }

    fn primary(&mut self) -> Result<Expr, ApiError> {
        let Some(Tok::Word(word)) = self.next() else { return Err(filter_syntax("expected a property or function")) };
        if self.peek() == Some(&Tok::Open) {
            let lower = word.to_ascii_lowercase();
            // `collection/any(v: …)`
            if let Some((collection, lambda)) = word.rsplit_once('/')
                && (lambda.eq_ignore_ascii_case("any") || lambda.eq_ignore_ascii_case("all"))
            {
                if lambda.eq_ignore_ascii_case("all") {
                    return Err(invalid_filter());
                }
                let segments: Vec<String> = collection.split('/').map(str::to_owned).collect();
                let first = segments.first().cloned().unwrap_or_default();
                let canonical = self.entity.property(&first).ok_or_else(|| unknown_property(&first, self.entity))?;
                let mut segments = segments;
                if let Some(s) = segments.first_mut() {
                    *s = canonical.to_owned();
                }
                self.pos += 1;
                let Some(Tok::Word(var)) = self.next() else { return Err(filter_syntax("expected a lambda variable")) };
                self.expect(&Tok::Colon)?;
                self.vars.push(var.clone());
                let body = self.or();
                self.vars.pop();
                let body = body?;
                self.expect(&Tok::Close)?;
                return Ok(Expr::Any(segments, var, Box::new(body)));
            }
            let func = match lower.as_str() {
                "startswith" => Func::StartsWith,
                "contains" => Func::Contains,
                _ => return Err(invalid_filter()),
            };
            self.pos += 1;
            let Some(Tok::Word(arg)) = self.next() else { return Err(invalid_filter()) };
            let path = self.path(&arg)?;
            self.expect(&Tok::Comma)?;
            let Some(Tok::Str(text)) = self.next() else { return Err(invalid_filter()) };
            self.expect(&Tok::Close)?;
            return Ok(Expr::Func(func, path, text));
        }
        let path = self.path(&word)?;
        let op = match self.peek() {
            Some(Tok::Word(w)) => match w.to_ascii_lowercase().as_str() {
                "eq" => Some(Op::Eq),
                "ne" => Some(Op::Ne),
                "gt" => Some(Op::Gt),
                "ge" => Some(Op::Ge),
                "lt" => Some(Op::Lt),
                "le" => Some(Op::Le),
                "and" | "or" => None,
                "has" | "in" | "add" | "sub" | "mul" | "div" | "mod" => return Err(invalid_filter()),
                _ => return Err(filter_syntax(&format!("unknown operator '{w}'"))),
            },
            _ => None,
        };
        let Some(op) = op else { return Ok(Expr::Truthy(path)) };
        self.pos += 1;
        let lit = match self.next() {
            Some(Tok::Str(s)) => Lit::Str(s),
            Some(Tok::Word(w)) => match w.to_ascii_lowercase().as_str() {
                "true" => Lit::Bool(true),
                "false" => Lit::Bool(false),
                "null" => Lit::Null,
                _ => match w.parse::<f64>() {
                    Ok(n) => Lit::Num(n),
                    Err(_) if w.chars().next().is_some_and(|c| c.is_ascii_digit()) => Lit::Raw(w),
                    // Comparing two properties, or an enum literal: not evaluated by the fake.
                    Err(_) => return Err(invalid_filter()),
                },
            },
            _ => return Err(filter_syntax("expected a literal")),
        };
        Ok(Expr::Compare(path, op, lit))
    }
}

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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn filters_parse_and_evaluate() {
        let item = json!({"displayName": "Ann O'Hara", "isAllDay": true, "reminderMinutesBeforeStart": 15,
            "createdDateTime": "2026-01-05T09:00:00Z",
            "singleValueExtendedProperties": [{"id": "String {x} Name K", "value": "v1"}]});
        let ok = |f: &str| matches(&parse_filter(f, Entity::Event).unwrap(), &item);
        assert!(ok("isAllDay eq true and reminderMinutesBeforeStart ge 10"));
        assert!(ok("createdDateTime gt 2026-01-01T00:00:00Z"));
        assert!(!ok("createdDateTime lt 2026-01-01T00:00:00Z"));
        assert!(ok("singleValueExtendedProperties/Any(ep: ep/id eq 'String {x} Name K' and ep/value eq 'v1')"));
        assert!(!ok("singleValueExtendedProperties/any(ep: ep/value eq 'v2')"));
        assert!(ok("not (subject eq 'x') or isAllDay"));
        let contact = json!({"displayName": "Ann O'Hara"});
        assert!(matches(&parse_filter("displayName eq 'ann o''hara'", Entity::Contact).unwrap(), &contact));
        assert!(matches(&parse_filter("startswith(displayName,'Ann')", Entity::Contact).unwrap(), &contact));
        assert_eq!(parse_filter("nope eq 1", Entity::Contact).unwrap_err().code, "BadRequest");
        assert_eq!(
            parse_filter("endswith(displayName,'a')", Entity::Contact).unwrap_err().code,
            "ErrorInvalidUrlQueryFilter"
        );
        assert!(parse_filter("displayName eq 'a", Entity::Contact).is_err());
    }

    #[test]
    fn top_level_split() {
        assert_eq!(split_top_level("a($filter=id eq 'x,y'),b"), vec!["a($filter=id eq 'x,y')", "b"]);
    }
}
