//! What the journal keeps for each write before it is sent ([`JournalEntry`]), and its text.
//!
//! An entry is the planned [`Operation`] and the pair's [`NextState`], as JSON. The next state's
//! field prints are written packed (`tandem_store::packed_prints`: one string of about 12
//! characters a field) instead of as [`FieldPrints`]' own object of names and numbers: both
//! sides' prints were about four fifths of an update's entry (1.6 KB for a contact), and every
//! write of every cycle writes its entry and the cycle's commit deletes it again. Entries
//! journaled by an earlier build, with the prints as objects, still read.
//!
//! A create's entry leaves out the record to create: recovery settles a create by its key and
//! the next state's prints alone (the record is looked up on the target, and the source is read
//! again when it did not land), so the record was most of a first sync's journal (about 1.3 KB
//! of an event's 2 KB entry) for nothing. What is read back is only what recovery and the
//! invariant checks use ([`JournaledAction`]), so entries of earlier builds, record included,
//! still read.

use chrono::{DateTime, Utc};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize};
use tandem_core::model::ObjectKind;
use tandem_core::plan::{Action, NextState, Operation};
use tandem_core::state::{FieldPrints, IdempotencyKey, PairId, PairState, RecordId, Side, SideState, Version};

/// What the journal keeps for each write before it is sent, as read back.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct JournalEntry {
    pub(crate) operation: JournaledOperation,
    // `default`: an entry without the field reads as no next state, as `Option`'s own serde
    // reads it (a custom reader alone would refuse it).
    #[serde(default, deserialize_with = "deserialize_next")]
    pub(crate) next: Option<NextState>,
}

/// The parts of a journaled [`Operation`] that settling it needs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct JournaledOperation {
    /// The pair it concerns, if any.
    pub(crate) pair: Option<PairId>,
    /// The write.
    #[serde(flatten)]
    pub(crate) action: JournaledAction,
}

/// A journaled write, as [`Action`] names it (`op`); other fields of the entry are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum JournaledAction {
    /// [`Action::Create`].
    Create { target: Side, source_id: RecordId, key: IdempotencyKey },
    /// [`Action::Update`].
    Update { target: Side, id: RecordId },
    /// [`Action::Delete`].
    Delete { target: Side, id: RecordId },
    /// Anything else (only writes are journaled).
    #[serde(other)]
    Other,
}

/// A [`JournalEntry`] as written: borrowed from the plan.
#[derive(Serialize)]
pub(super) struct JournalEntryRef<'a> {
    #[serde(serialize_with = "serialize_operation")]
    pub(super) operation: &'a Operation,
    #[serde(serialize_with = "serialize_next_ref")]
    pub(super) next: Option<&'a NextState>,
}

/// An operation as journaled: as [`Operation`]'s own serde writes it, except that a create
/// leaves out its record (see the module's documentation).
fn serialize_operation<S: serde::Serializer>(operation: &&Operation, serializer: S) -> Result<S::Ok, S::Error> {
    let Action::Create { target, source_id, key, record: _, truncated } = &operation.action else {
        return operation.serialize(serializer);
    };
    let mut map = serializer.serialize_map(Some(7))?;
    map.serialize_entry("pair", &operation.pair)?;
    map.serialize_entry("op", "create")?;
    map.serialize_entry("target", target)?;
    map.serialize_entry("source_id", source_id)?;
    map.serialize_entry("key", key)?;
    map.serialize_entry("truncated", truncated)?;
    map.serialize_entry("reason", &operation.reason)?;
    map.end()
}

/// The journal's intent key of a write: its idempotency key for a create, otherwise the
/// target, record and expected version (the same write planned again gets the same key).
pub(super) fn intent_key(op: &Operation) -> String {
    match &op.action {
        Action::Create { key, .. } => key.0.to_string(),
        Action::Update { target, id, expected, .. } => format!("update:{target}:{id}:{}", expected.as_str()),
        Action::Delete { target, id, expected } => format!("delete:{target}:{id}:{}", expected.as_str()),
        other => format!("{}:{:?}", other.name(), op.pair),
    }
}

/// [`NextState`] as journaled, borrowed; the same tags and names as its own serde.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum NextRef<'a> {
    Put(PairRef<'a>),
    Remove,
}

#[derive(Serialize)]
struct PairRef<'a> {
    pair_id: &'a PairId,
    object: ObjectKind,
    crm: SideRef<'a>,
    mailbox: SideRef<'a>,
    synced_at: &'a DateTime<Utc>,
    tombstone: Option<Side>,
}

#[derive(Serialize)]
struct SideRef<'a> {
    id: &'a RecordId,
    version: &'a Version,
    #[serde(with = "tandem_store::packed_prints")]
    fields: &'a FieldPrints,
}

impl<'a> NextRef<'a> {
    fn of(next: &'a NextState) -> Self {
        match next {
            NextState::Put(pair) => NextRef::Put(PairRef {
                pair_id: &pair.pair_id,
                object: pair.object,
                crm: SideRef::of(&pair.crm),
                mailbox: SideRef::of(&pair.mailbox),
                synced_at: &pair.synced_at,
                tombstone: pair.tombstone,
            }),
            NextState::Remove => NextRef::Remove,
        }
    }
}

impl<'a> SideRef<'a> {
    fn of(side: &'a SideState) -> Self {
        SideRef { id: &side.id, version: &side.version, fields: &side.fields }
    }
}

/// [`NextState`] as read back: prints packed, or as objects (entries of earlier builds).
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum NextRead {
    Put(PairRead),
    Remove,
}

#[derive(Deserialize)]
struct PairRead {
    pair_id: PairId,
    object: ObjectKind,
    crm: SideRead,
    mailbox: SideRead,
    synced_at: DateTime<Utc>,
    tombstone: Option<Side>,
}

#[derive(Deserialize)]
struct SideRead {
    id: RecordId,
    version: Version,
    #[serde(with = "tandem_store::packed_prints")]
    fields: FieldPrints,
}

impl From<NextRead> for NextState {
    fn from(read: NextRead) -> Self {
        match read {
            NextRead::Put(p) => NextState::Put(PairState {
                pair_id: p.pair_id,
                object: p.object,
                crm: p.crm.into(),
                mailbox: p.mailbox.into(),
                synced_at: p.synced_at,
                tombstone: p.tombstone,
            }),
            NextRead::Remove => NextState::Remove,
        }
    }
}

impl From<SideRead> for SideState {
    fn from(read: SideRead) -> Self {
        SideState { id: read.id, version: read.version, fields: read.fields }
    }
}

// `serialize_with` hands the field by reference.
#[allow(clippy::ref_option)]
fn serialize_next_ref<S: serde::Serializer>(next: &Option<&NextState>, serializer: S) -> Result<S::Ok, S::Error> {
    next.map(NextRef::of).serialize(serializer)
}

fn deserialize_next<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<NextState>, D::Error> {
    Ok(Option::<NextRead>::deserialize(deserializer)?.map(NextState::from))
}

#[cfg(test)]
mod tests {
    use tandem_core::fields::FieldKey;
    use tandem_core::model::{Contact, Record};
    use tandem_core::plan::FieldChange;

    use super::*;

    fn side(id: &str, version: &str) -> SideState {
        let fields: FieldPrints = [
            // Fingerprints as the planner makes them: hashes, nearly always 19 or 20 digits.
            (FieldKey::GivenName, 15_202_951_073_931_102_122_u64),
            (FieldKey::Title, u64::MAX),
            (FieldKey::Notes, 0),
            (FieldKey::Custom("Region__c".into()), 4_776_333_266_588_244_544),
            (FieldKey::attendee("Ada@Example.com"), 6_952_354_348_347_908_376),
        ]
        .into_iter()
        .collect();
        SideState { id: RecordId(id.into()), version: Version(version.into()), fields }
    }

    fn pair_id() -> PairId {
        tandem_core::state::IdempotencyKey("tdm0123".into())
    }

    fn next() -> NextState {
        NextState::Put(PairState {
            pair_id: pair_id(),
            object: ObjectKind::Event,
            crm: side("crm-1", "v7"),
            mailbox: side("mailbox-1", "v1"),
            synced_at: DateTime::from_timestamp(1_800_000_000, 123_456_789).unwrap(),
            tombstone: Some(Side::Crm),
        })
    }

    fn update() -> Operation {
        Operation {
            pair: Some(pair_id()),
            action: Action::Update {
                target: Side::Mailbox,
                id: RecordId("mailbox-1".into()),
                expected: Version("v1".into()),
                patch: vec![FieldChange { field: FieldKey::Title, value: None }],
                truncated: Vec::new(),
            },
            reason: "crm changed [title]".into(),
        }
    }

    fn create() -> Operation {
        let notes = "Met at the conference; prefers mornings. ".repeat(20);
        let record = Record::Contact(Contact {
            given_name: Some("Ada".into()),
            family_name: Some("Lovelace".into()),
            notes: Some(notes),
            ..Contact::default()
        });
        Operation {
            pair: Some(pair_id()),
            action: Action::Create {
                target: Side::Mailbox,
                source_id: RecordId("crm-1".into()),
                key: pair_id(),
                record: Box::new(record),
                truncated: vec![FieldKey::Notes],
            },
            reason: "new in crm".into(),
        }
    }

    fn written(operation: &Operation, next: Option<&NextState>) -> String {
        serde_json::to_string(&JournalEntryRef { operation, next }).unwrap()
    }

    /// An entry as an earlier build wrote it: `Operation`'s and `NextState`'s own serde (a
    /// create's record included, prints as objects).
    fn as_written_before(operation: &Operation, next: Option<&NextState>) -> String {
        #[derive(Serialize)]
        struct Before<'a> {
            operation: &'a Operation,
            next: Option<&'a NextState>,
        }
        serde_json::to_string(&Before { operation, next }).unwrap()
    }

    fn journaled_update() -> JournaledOperation {
        JournaledOperation {
            pair: Some(pair_id()),
            action: JournaledAction::Update { target: Side::Mailbox, id: RecordId("mailbox-1".into()) },
        }
    }

    fn journaled_create() -> JournaledOperation {
        JournaledOperation {
            pair: Some(pair_id()),
            action: JournaledAction::Create {
                target: Side::Mailbox,
                source_id: RecordId("crm-1".into()),
                key: pair_id(),
            },
        }
    }

    #[test]
    fn an_entry_reads_back_as_written_with_its_prints_packed() {
        let (operation, next) = (update(), next());
        let text = written(&operation, Some(&next));
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(json["next"]["crm"]["fields"].as_str().is_some_and(|f| f.starts_with("v2:")), "{text}");
        assert!(json["next"]["mailbox"]["fields"].as_str().is_some_and(|f| f.starts_with("v2:")), "{text}");
        assert_eq!(json["next"]["type"], "put");
        // An update is written as `Operation` writes it: its patch is there for a person to read.
        assert_eq!(json["operation"], serde_json::to_value(&operation).unwrap());
        let read: JournalEntry = serde_json::from_str(&text).unwrap();
        assert_eq!(read.operation, journaled_update());
        assert_eq!(read.next, Some(next.clone()));
        assert!(text.len() < as_written_before(&operation, Some(&next)).len());
    }

    #[test]
    fn a_create_is_journaled_without_its_record() {
        let (operation, next) = (create(), next());
        let text = written(&operation, Some(&next));
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut expected = serde_json::to_value(&operation).unwrap();
        expected.as_object_mut().unwrap().remove("record");
        assert_eq!(json["operation"], expected, "everything but the record, as `Operation` writes it");
        let read: JournalEntry = serde_json::from_str(&text).unwrap();
        assert_eq!(read.operation, journaled_create());
        assert_eq!(read.next, Some(next.clone()));
        let before = as_written_before(&operation, Some(&next));
        assert!(text.len() * 2 < before.len(), "{} bytes against {}", text.len(), before.len());
    }

    #[test]
    fn entries_of_earlier_builds_still_read() {
        for (operation, journaled) in [(update(), journaled_update()), (create(), journaled_create())] {
            for next in [None, Some(NextState::Remove), Some(next())] {
                let read: JournalEntry = serde_json::from_str(&as_written_before(&operation, next.as_ref())).unwrap();
                assert_eq!(read.operation, journaled);
                assert_eq!(read.next, next);
            }
            let without_next = format!(r#"{{"operation":{}}}"#, serde_json::to_string(&operation).unwrap());
            assert_eq!(serde_json::from_str::<JournalEntry>(&without_next).unwrap().next, None);
        }
        let link = r#"{"operation":{"pair":null,"op":"link","crm":"c","mailbox":"m","reason":"r"}}"#;
        assert_eq!(serde_json::from_str::<JournalEntry>(link).unwrap().operation.action, JournaledAction::Other);
    }

    #[test]
    fn damaged_entries_fail_the_entry_not_the_process() {
        let text = written(&update(), Some(&next()));
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let packed = json["next"]["crm"]["fields"].as_str().unwrap().to_owned();
        let damaged = text.replace(&packed, &packed[..packed.len() - 3]);
        assert!(serde_json::from_str::<JournalEntry>(&damaged).is_err());
        let create = written(&create(), None);
        assert!(serde_json::from_str::<JournalEntry>(&create.replace(r#""key":"#, r#""kee":"#)).is_err());
    }
}
