//! Unit tests of the sync state: idempotency key derivation, field codes, [`FieldPrints`] as a
//! sorted map and its serde, and cursor redaction.

use super::prints::standard_code;
use super::{Cursor, FieldPrints, FieldPrintsBuilder, IdempotencyKey, RecordId, Side, Version};
use crate::fields::{FieldKey, STANDARD_FIELDS as STANDARD_KEYS};
use crate::model::ObjectKind;

/// Keys are stored on the providers' records: the derivation never changes. Held to the
/// formula it was first written as, over ids of every shape.
#[test]
fn idempotency_keys_are_derived_as_always() {
    let ids = ["003A", "", "AAMkAGI2TG93AAA=", "bench-00042.ics", "Zoë/ünïcode 東京", &"x".repeat(300)];
    for object in [ObjectKind::Contact, ObjectKind::Event] {
        for side in Side::BOTH {
            for id in ids {
                let input = format!("tandem/v1/{object}/{side}/{id}");
                let expected = format!("tdm{:032x}", xxhash_rust::xxh3::xxh3_128(input.as_bytes()));
                let key = IdempotencyKey::derive(object, side, &RecordId::new(id));
                assert_eq!(key.as_str(), expected, "{input}");
            }
        }
    }
    // And one written out, for good.
    let key = IdempotencyKey::derive(ObjectKind::Contact, Side::Crm, &RecordId::new("003A"));
    assert_eq!(key.as_str(), "tdm44c98f07e3c585b92edb59220a7da37a");
}

/// Ids are shared text now, but stored states and journals hold them as plain JSON strings, as
/// the `String` newtypes wrote them: the form must not change, and a clone must share the text.
#[test]
fn ids_are_plain_strings_on_the_wire_and_shared_in_memory() {
    let id = RecordId::new("AAMk/ünï\"code");
    let json = serde_json::to_string(&id).unwrap();
    assert_eq!(json, r#""AAMk/ünï\"code""#);
    // Borrowed (no escapes), owned (escapes force a copy) and from a `Value`: all read back.
    assert_eq!(serde_json::from_str::<RecordId>(&json).unwrap(), id);
    assert_eq!(serde_json::from_str::<Version>(r#""\"etag-1\"""#).unwrap(), Version::new("\"etag-1\""));
    assert_eq!(serde_json::from_str::<IdempotencyKey>(r#""tdm00""#).unwrap(), IdempotencyKey::from("tdm00"));
    assert_eq!(serde_json::from_value::<RecordId>(serde_json::json!("003A")).unwrap(), RecordId::new("003A"));
    // Anything but a string is refused, with what was expected.
    let err = serde_json::from_str::<RecordId>("42").unwrap_err().to_string();
    assert!(err.contains("a record id"), "{err}");
    assert!(serde_json::from_str::<Version>("null").is_err());
    // A clone is the same text, not a copy of it.
    let copy = id.clone();
    assert!(std::sync::Arc::ptr_eq(&id.0, &copy.0));
}

#[test]
fn standard_field_codes_follow_field_order() {
    assert!(STANDARD_KEYS.is_sorted());
    for (i, key) in STANDARD_KEYS.iter().enumerate() {
        assert_eq!(standard_code(key), Some(i as u16), "{key}");
    }
    let all: Vec<&FieldKey> =
        FieldKey::standard(ObjectKind::Contact).iter().chain(FieldKey::standard(ObjectKind::Event)).collect();
    assert_eq!(all.len(), STANDARD_KEYS.len());
    assert!(all.iter().all(|k| STANDARD_KEYS.contains(k)));
    assert_eq!(standard_code(&FieldKey::attendee("a@x.org")), None);
    assert_eq!(standard_code(&FieldKey::Custom("Region__c".into())), None);
}

#[test]
fn field_prints_with_named_fields_keep_field_order() {
    let mut p: FieldPrints = [
        (FieldKey::Custom("b".into()), 1),
        (FieldKey::Privacy, 2),
        (FieldKey::attendee("z@x.org"), 3),
        (FieldKey::Attendees, 4),
        (FieldKey::attendee("a@x.org"), 5),
        (FieldKey::Subject, 6),
    ]
    .into_iter()
    .collect();
    let order = |p: &FieldPrints| p.keys().cloned().collect::<Vec<_>>();
    let mut sorted = order(&p);
    sorted.sort();
    assert_eq!(order(&p), sorted);
    p.insert(FieldKey::attendee("m@x.org"), 7);
    p.insert(FieldKey::Custom("a".into()), 8);
    assert_eq!(p.remove(&FieldKey::attendee("a@x.org")), Some(5));
    assert_eq!(p.get(&FieldKey::attendee("z@x.org")), Some(&3));
    assert_eq!(p.get(&FieldKey::Custom("a".into())), Some(&8));
    assert_eq!(p.get(&FieldKey::Privacy), Some(&2));
    let mut sorted = order(&p);
    sorted.sort();
    assert_eq!(order(&p), sorted);
    // Equality is by content, not by how the named fields are stored.
    let rebuilt: FieldPrints = p.iter().rev().map(|(k, v)| (k.clone(), *v)).collect();
    assert_eq!(rebuilt, p);
    assert_eq!(serde_json::to_string(&rebuilt).unwrap(), serde_json::to_string(&p).unwrap());
    assert!(p.heap_bytes() > 0);
}

#[test]
fn field_prints_behave_like_a_sorted_map_and_serialise_as_one() {
    let mut p: FieldPrints =
        [(FieldKey::Title, 1), (FieldKey::GivenName, 2), (FieldKey::Title, 3)].into_iter().collect();
    assert_eq!(p.len(), 2);
    assert_eq!(p.get(&FieldKey::Title), Some(&3), "later entries win");
    // In field order already (no sorting), and in order with a repeat (the later wins).
    let in_order: FieldPrints = p.iter().map(|(k, v)| (k.clone(), *v)).collect();
    assert_eq!(in_order, p);
    let repeated: FieldPrints =
        [(FieldKey::GivenName, 2), (FieldKey::Title, 1), (FieldKey::Title, 3)].into_iter().collect();
    assert_eq!(repeated, p);
    assert_eq!(p.insert(FieldKey::Emails, 4), None);
    assert_eq!(p.insert(FieldKey::Emails, 5), Some(4));
    assert_eq!(p[&FieldKey::Emails], 5);
    assert_eq!(p.keys().cloned().collect::<Vec<_>>(), [FieldKey::GivenName, FieldKey::Emails, FieldKey::Title]);
    assert_eq!(p.remove(&FieldKey::GivenName), Some(2));
    let json = serde_json::to_string(&p).unwrap();
    assert_eq!(json, r#"{"emails":5,"title":3}"#);
    assert_eq!(serde_json::from_str::<FieldPrints>(&json).unwrap(), p);
    // The single `addresses` print of an earlier version is dropped; unknown names still fail.
    let legacy = serde_json::from_str::<FieldPrints>(r#"{"addresses":9,"emails":5,"title":3}"#).unwrap();
    assert_eq!(legacy, p);
    assert!(serde_json::from_str::<FieldPrints>(r#"{"nope":1}"#).is_err());
}

#[test]
fn idempotency_keys_are_deterministic_and_target_safe() {
    let a = IdempotencyKey::derive(ObjectKind::Contact, Side::Crm, &RecordId::new("003xx1"));
    let b = IdempotencyKey::derive(ObjectKind::Contact, Side::Crm, &RecordId::new("003xx1"));
    let c = IdempotencyKey::derive(ObjectKind::Contact, Side::Mailbox, &RecordId::new("003xx1"));
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(a.0.len(), 35);
    // Google event ids accept base32hex (a-v, 0-9) only.
    assert!(a.0.chars().all(|ch| ch.is_ascii_digit() || ('a'..='v').contains(&ch)));
}

#[test]
fn cursor_debug_hides_contents() {
    let c = Cursor(b"https://graph/delta?$deltatoken=secret".to_vec());
    assert!(!format!("{c:?}").contains("secret"));
}

/// Every standard field, three attendees (one not ASCII) and two custom fields.
fn every_kind_of_key() -> Vec<FieldKey> {
    STANDARD_KEYS
        .iter()
        .cloned()
        .chain(["a@x.org", "b@x.org", "zoë@x.org"].map(FieldKey::attendee))
        .chain(["Region__c", "Tier__c"].map(|n| FieldKey::Custom(n.into())))
        .collect()
}

/// A walk answers every key asked for in field order as `get` does, over maps mixing standard,
/// attendee and custom fields, with asked-for keys missing from the map and map keys never
/// asked for; and a walk never goes back.
#[test]
fn a_walk_in_field_order_answers_as_get_does() {
    use proptest::prelude::*;
    let all = every_kind_of_key();
    let n = all.len();
    proptest!(|(held in proptest::collection::vec(any::<bool>(), n), asked in proptest::collection::vec(any::<bool>(), n), print in any::<u64>())| {
        let prints: FieldPrints =
            all.iter().zip(&held).enumerate().filter(|(_, (_, h))| **h).map(|(i, (k, _))| (k.clone(), print ^ i as u64)).collect();
        let mut keys: Vec<&FieldKey> = all.iter().zip(&asked).filter(|(_, a)| **a).map(|(k, _)| k).collect();
        keys.sort();
        let mut walk = prints.walk();
        for key in &keys {
            prop_assert_eq!(walk.seek(key), prints.get(key).copied(), "{}", key);
        }
        // Behind the walk: absent, whatever the map holds.
        if let (Some(first), Some(last)) = (keys.first(), keys.last()) && first != last {
            prop_assert_eq!(walk.seek(first), None);
        }
    });
}

/// Collecting prints is inserting them one by one (later entries win), whatever the order,
/// repeats and named fields: in order and standard only (the fast path, prints read back from a
/// store) or not.
#[test]
fn collecting_prints_is_inserting_them_in_turn() {
    use proptest::prelude::*;
    let all: Vec<FieldKey> = STANDARD_KEYS
        .iter()
        .cloned()
        .chain(["a@x.org", "zoë@x.org"].map(FieldKey::attendee))
        .chain(["Region__c"].map(|n| FieldKey::Custom(n.into())))
        .collect();
    let entry = (0..all.len(), any::<u64>());
    proptest!(|(entries in proptest::collection::vec(entry, 0..40), sort in any::<bool>())| {
        let mut entries: Vec<(FieldKey, u64)> = entries.into_iter().map(|(i, p)| (all[i].clone(), p)).collect();
        if sort {
            entries.sort_by(|a, b| a.0.cmp(&b.0));
        }
        let mut model = std::collections::BTreeMap::new();
        let mut inserted = FieldPrints::new();
        for (key, print) in &entries {
            model.insert(key.clone(), *print);
            inserted.insert(key.clone(), *print);
        }
        let collected: FieldPrints = entries.into_iter().collect();
        prop_assert_eq!(&collected, &inserted);
        prop_assert_eq!(collected.len(), model.len());
        prop_assert!(collected.iter().map(|(k, p)| (k.clone(), *p)).eq(model.into_iter()));
        prop_assert!(collected.same_fields(&inserted) || collected.keys().any(|k| k.static_name().is_none()));
    });
}

/// Every standard field's place leads back to it, places are the fields' order, and named
/// fields have none.
#[test]
fn standard_places_lead_back_to_their_fields() {
    for (place, key) in STANDARD_KEYS.iter().enumerate() {
        assert_eq!(key.standard_index(), Some(place), "{key}");
        assert_eq!(FieldKey::standard_at(place), Some(key));
    }
    assert!(STANDARD_KEYS.is_sorted());
    assert_eq!(FieldKey::standard_at(STANDARD_KEYS.len()), None);
    assert_eq!(FieldKey::attendee("a@x.org").standard_index(), None);
    assert_eq!(FieldKey::Custom("Region__c".into()).standard_index(), None);
}

/// Building prints entry by entry makes the map collecting the same entries makes: in field
/// order (the builder's own path, standard and named fields alike) or not (any order, or in
/// order but for repeats: the order broken after a run in order).
#[test]
fn building_prints_is_collecting_them() {
    use proptest::prelude::*;
    let mut all = every_kind_of_key();
    all.sort();
    let entry = (0..all.len(), any::<u64>());
    // 0: as drawn; 1: in field order; 2: in field order with any repeats kept.
    proptest!(|(entries in proptest::collection::vec(entry, 0..40), order in 0u8..3, capacity in 0usize..8)| {
        let mut entries: Vec<(FieldKey, u64)> = entries.into_iter().map(|(i, p)| (all[i].clone(), p)).collect();
        if order > 0 {
            entries.sort_by(|a, b| a.0.cmp(&b.0));
        }
        if order == 1 {
            entries.dedup_by(|later, earlier| later.0 == earlier.0);
        }
        let mut builder = FieldPrintsBuilder::with_capacity(capacity);
        for (key, print) in &entries {
            builder.push(key.clone(), *print);
        }
        let built = builder.finish();
        let collected: FieldPrints = entries.into_iter().collect();
        prop_assert_eq!(&built, &collected);
        prop_assert!(built.iter().eq(collected.iter()));
        prop_assert!(built.same_fields(&collected));
    });
}

/// Two runs of fields in field order, one borrowed and one owned, merge into the map that
/// collecting all of them in any order builds: whichever fields each run holds (standard,
/// attendee, custom), and with either run empty.
#[test]
fn fields_in_order_from_two_runs_merge_as_collecting_them_does() {
    use proptest::prelude::*;
    let mut all = every_kind_of_key();
    // Field order: attendees come between the event's organizer and its privacy.
    all.sort();
    let n = all.len();
    proptest!(|(run in proptest::collection::vec(0u8..3, n), print in any::<u64>())| {
        // 0: neither run, 1: the borrowed one, 2: the owned one.
        let entry = |i: usize| (all[i].clone(), print.rotate_left(i as u32));
        let borrowed: Vec<(&FieldKey, u64)> = (0..n).filter(|i| run[*i] == 1).map(|i| (&all[i], entry(i).1)).collect();
        let owned: Vec<(FieldKey, u64)> = (0..n).filter(|i| run[*i] == 2).map(entry).collect();
        let expected: FieldPrints = (0..n).rev().filter(|i| run[*i] != 0).map(entry).collect();
        let merged = FieldPrints::from_sorted_with(borrowed.iter().copied(), owned);
        prop_assert_eq!(&merged, &expected);
        prop_assert!(merged.same_fields(&expected));
        prop_assert!(merged.iter().map(|(k, p)| (k.clone(), *p)).eq(expected.iter().map(|(k, p)| (k.clone(), *p))));
        let named: Vec<&FieldKey> = merged.keys().filter(|k| k.static_name().is_none()).collect();
        prop_assert!(merged.named_keys().iter().eq(named), "names in field order");
    });
}

/// Any run of inserts and removes (standard, attendee and custom fields, across the words that
/// hold four codes each) leaves the same map as a `BTreeMap` given the same steps; lookups,
/// iteration both ways, mutation through `iter_mut`, equal codes for equal fields, and the
/// packed bytes of the pair index all agree with it.
#[test]
fn field_prints_follow_a_sorted_map_through_inserts_and_removes() {
    use proptest::prelude::*;
    let all = every_kind_of_key();
    let step = (0..all.len(), any::<u64>(), any::<bool>());
    proptest!(|(steps in proptest::collection::vec(step, 0..60))| {
        let mut model = std::collections::BTreeMap::new();
        let mut prints = FieldPrints::new();
        for (i, print, insert) in steps {
            let key = &all[i];
            if insert {
                prop_assert_eq!(prints.insert(key.clone(), print), model.insert(key.clone(), print));
            } else {
                prop_assert_eq!(prints.remove(key), model.remove(key));
            }
            prop_assert_eq!(prints.len(), model.len());
        }
        for key in &all {
            prop_assert_eq!(prints.get(key), model.get(key));
            prop_assert_eq!(prints.contains_key(key), model.contains_key(key));
        }
        prop_assert!(prints.iter().map(|(k, p)| (k.clone(), *p)).eq(model.clone()));
        prop_assert!(prints.iter().rev().map(|(k, p)| (k.clone(), *p)).eq(model.clone().into_iter().rev()));
        // The same fields built afresh, in order: same codes, wherever they came from.
        let fresh: FieldPrints = model.iter().map(|(k, p)| (k.clone(), p.wrapping_add(1))).collect();
        prop_assert!(fresh.same_fields(&prints) || prints.keys().any(|k| k.static_name().is_none()));
        // Packed for the pair index and read back.
        let mut bytes = Vec::new();
        prints.pack_into(&mut bytes);
        prop_assert_eq!(bytes.len(), prints.packed_len());
        let back = FieldPrints::unpack(&mut crate::pair_index::Reader::new(&bytes));
        prop_assert_eq!(&back, &prints);
        prop_assert!(back.same_fields(&prints));
        // One field read where the bytes lie, and the bytes skipped, as unpacking reads them.
        for key in &all {
            let mut r = crate::pair_index::Reader::new(&bytes);
            prop_assert_eq!(FieldPrints::packed_get(&mut r, key), model.get(key).copied(), "{}", key);
            prop_assert_eq!(r.remaining(), 0);
        }
        let mut r = crate::pair_index::Reader::new(&bytes);
        FieldPrints::skip_packed(&mut r);
        prop_assert_eq!(r.remaining(), 0);
        // Changed in place.
        let mut doubled = prints.clone();
        doubled.iter_mut().for_each(|(_, p)| *p = p.wrapping_mul(2));
        prop_assert!(doubled.iter().map(|(k, p)| (k.clone(), *p)).eq(model.iter().map(|(k, p)| (k.clone(), p.wrapping_mul(2)))));
        prop_assert_eq!(prints.print_values().len(), model.len());
    });
}
