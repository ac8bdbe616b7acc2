//! proptest strategies for hostile input: arbitrary nested JSON, odd strings and extreme numbers,
//! and valid provider-shaped objects mutated field by field (nested fields too) with them.
//!
//! The connectors' property tests feed these to their mapping entry points to check that no
//! input panics: every row maps to a record or to a typed error.

use proptest::prelude::*;
use serde_json::{Map, Number, Value, json};

/// Strings that have broken parsers before, or that sit at the edges of what they accept:
/// extreme and malformed dates, non-ASCII where ASCII is expected, control characters,
/// near-valid recurrence rules and zone names.
pub const ODD_STRINGS: &[&str] = &[
    "",
    " ",
    "\u{0}",
    "\u{FFFF}",
    "\u{FEFF}x",
    "ñ",
    "ña",
    "日本語",
    "\u{202E}reversed",
    "null",
    "true",
    "1e400",
    "-0",
    "NaN",
    "9223372036854775807",
    "+262142-12-31T23:59:59.000+0000",
    "-262143-01-01T00:00:00.000+0000",
    "+262142-12-31T23:59:59Z",
    "+262142-12-31T23:59:59.9999999",
    "-262143-01-01T00:00:00",
    "+262142-12-31",
    "-262143-01-01",
    "9999-12-31T23:59:59.9999999",
    "0000-01-01T00:00:00",
    "2026-02-30",
    "2026-01-05T09:00:00.000+0000",
    "2026-01-05T09:00:00.0000000",
    "2026-01-05",
    "20260105T090000Z",
    "+2621421231T235959Z",
    "FREQ=WEEKLY;BYDAY=ña",
    "RRULE:FREQ=WEEKLY;BYDAY=ña",
    "RRULE:FREQ=DAILY;COUNT=3\nEXDATE:+2621421231T235959Z",
    "RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=99991231T235959Z",
    "RRULE:FREQ=YEARLY;BYMONTH=13;BYMONTHDAY=-40;BYSETPOS=0",
    "RRULE:FREQ=SECONDLY;INTERVAL=0;COUNT=-1",
    "EXDATE;TZID=Mars/Olympus:20260106T030000",
    "RDATE;VALUE=DATE:00000000",
    "FREQ=MONTHLY;BYDAY=-9999999999MO",
    "OID.x.+262142-12-31",
    "OID..",
    "UTC",
    "Customized Time Zone",
    "tzone://Microsoft/Utc",
    "Pacific/Kiritimati",
    "Etc/GMT+12",
    "Romance Standard Time",
    "first",
    "last",
    "monday",
    "weekly",
    "relativeYearly",
    "numbered",
    "endDate",
    "seriesMaster",
    "occurrence",
    "html",
    "<p>&amp;</p><",
    "W/\"1\"",
    "003000000000001AAA",
    "tdm0123456789abcdef0123456789abcdef",
];

/// A string: one of [`ODD_STRINGS`], any short string, or a long one.
pub fn odd_string() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(ODD_STRINGS).prop_map(str::to_owned),
        3 => any::<String>(),
        1 => "[a-zA-Zñ0-9 ;:=,.+-]{200,400}",
    ]
}

/// A number at the edges: `i64`/`u64` extremes, huge and tiny floats, and any `i64`.
pub fn odd_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        proptest::sample::select(vec![
            json!(i64::MAX),
            json!(i64::MIN),
            json!(u64::MAX),
            json!(0),
            json!(-1),
            json!(1),
            json!(1440),
            json!(20_161),
            json!(i64::from(i32::MAX)),
            json!(1e308),
            json!(-1e308),
            json!(0.5),
            json!(-0.0),
        ]),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
    ]
}

/// Any JSON value: scalars from [`odd_string`] and [`odd_number`], arrays and objects nested a
/// few levels, object keys from `keys` (the fields the mapping looks for) or anything.
pub fn any_json(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        odd_number(),
        odd_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 8, move |inner| {
        let key = prop_oneof![3 => proptest::sample::select(keys).prop_map(str::to_owned), 1 => any::<String>()];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((key, inner), 0..10).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// One step of a path into a JSON value.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// Every path to a value inside `v` (not `v` itself).
fn paths(v: &Value, prefix: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                prefix.push(Step::Key(k.clone()));
                out.push(prefix.clone());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(list) => {
            for (i, child) in list.iter().enumerate() {
                prefix.push(Step::Index(i));
                out.push(prefix.clone());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn slot<'a>(v: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |v, step| match step {
        Step::Key(k) => v.get_mut(k.as_str()),
        Step::Index(i) => v.get_mut(*i),
    })
}

/// What to do to one field.
#[derive(Debug, Clone)]
enum Mutation {
    Replace(Value),
    Remove,
}

fn odd_value(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => odd_string().prop_map(Value::String),
        3 => odd_number(),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => Just(Value::Null),
        1 => Just(json!([])),
        1 => Just(json!({})),
        1 => any_json(keys),
    ]
}

/// `base` with one to five of its fields (at any depth) replaced by odd values of any type or
/// removed, and sometimes a field from `keys` added at the top.
pub fn mutated(base: Value, keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let mut all = Vec::new();
    paths(&base, &mut Vec::new(), &mut all);
    let count = all.len().max(1);
    let mutation = prop_oneof![5 => odd_value(keys).prop_map(Mutation::Replace), 1 => Just(Mutation::Remove)];
    let added = proptest::option::of((proptest::sample::select(keys), odd_value(keys)));
    (proptest::collection::vec((0..count, mutation), 1..6), added).prop_map(move |(changes, added)| {
        let mut v = base.clone();
        for (index, change) in changes {
            let Some(path) = all.get(index) else { continue };
            let Some((last, parent)) = path.split_last() else { continue };
            match change {
                Mutation::Replace(new) => {
                    if let Some(target) = slot(&mut v, path) {
                        *target = new;
                    }
                }
                Mutation::Remove => match (slot(&mut v, parent), last) {
                    (Some(Value::Object(map)), Step::Key(k)) => {
                        map.remove(k);
                    }
                    (Some(Value::Array(list)), Step::Index(i)) if *i < list.len() => {
                        list.remove(*i);
                    }
                    _ => {}
                },
            }
        }
        if let (Some((key, value)), Value::Object(map)) = (added, &mut v) {
            map.insert((*key).to_owned(), value);
        }
        v
    })
}

/// An object from `base` (a JSON object literal), for [`mutated`].
pub fn object(base: Value) -> Map<String, Value> {
    match base {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
