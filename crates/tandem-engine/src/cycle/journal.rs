//! What the journal keeps for each write before it is sent ([`JournalEntry`]), and its text.
//!
//! An entry is the planned [`Operation`] and the pair's [`NextState`], as JSON. The next state's
//! field prints are written packed (`tandem_store::packed_prints`: one string of about 12
//! characters a field) instead of as [`FieldPrints`]' own object of names and numbers: both
//! sides' prints were about four fifths of an update's entry (1.6 KB for a contact), and every
//! write of every cycle writes its entry and the cycle's commit deletes it again. Entries
//! journaled by an earlier build, with the prints as objects, still read.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tandem_core::model::ObjectKind;
use tandem_core::plan::{Action, NextState, Operation};
use tandem_core::state::{FieldPrints, PairId, PairState, RecordId, Side, SideState, Version};

/// What the journal keeps for each write before it is sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct JournalEntry {
    pub(crate) operation: Operation,
    // `default`: an entry without the field reads as no next state, as `Option`'s own serde
    // reads it (a custom reader alone would refuse it).
    #[serde(default, serialize_with = "serialize_next", deserialize_with = "deserialize_next")]
    pub(crate) next: Option<NextState>,
}

/// A [`JournalEntry`] as written: borrowed from the plan, serialised the same way.
#[derive(Serialize)]
pub(super) struct JournalEntryRef<'a> {
    pub(super) operation: &'a Operation,
    #[serde(serialize_with = "serialize_next_ref")]
    pub(super) next: Option<&'a NextState>,
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
fn serialize_next<S: serde::Serializer>(next: &Option<NextState>, serializer: S) -> Result<S::Ok, S::Error> {
    next.as_ref().map(NextRef::of).serialize(serializer)
}

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

    fn entry() -> JournalEntry {
        let pair: PairId = tandem_core::state::IdempotencyKey("tdm0123".into());
        let operation = Operation {
            pair: Some(pair.clone()),
            action: Action::Update {
                target: Side::Mailbox,
                id: RecordId("mailbox-1".into()),
                expected: Version("v1".into()),
                patch: vec![FieldChange { field: FieldKey::Title, value: None }],
                truncated: Vec::new(),
            },
            reason: "crm changed [title]".into(),
        };
        let next = NextState::Put(PairState {
            pair_id: pair,
            object: ObjectKind::Event,
            crm: side("crm-1", "v7"),
            mailbox: side("mailbox-1", "v1"),
            synced_at: DateTime::from_timestamp(1_800_000_000, 123_456_789).unwrap(),
            tombstone: Some(Side::Crm),
        });
        JournalEntry { operation, next: Some(next) }
    }

    /// The entry as an earlier build wrote it: `NextState`'s own serde (prints as objects).
    fn as_written_before(entry: &JournalEntry) -> String {
        #[derive(Serialize)]
        struct Before<'a> {
            operation: &'a Operation,
            next: Option<&'a NextState>,
        }
        serde_json::to_string(&Before { operation: &entry.operation, next: entry.next.as_ref() }).unwrap()
    }

    #[test]
    fn an_entry_reads_back_as_written_with_its_prints_packed() {
        let entry = entry();
        let written =
            serde_json::to_string(&JournalEntryRef { operation: &entry.operation, next: entry.next.as_ref() }).unwrap();
        let json: serde_json::Value = serde_json::from_str(&written).unwrap();
        assert!(json["next"]["crm"]["fields"].as_str().is_some_and(|f| f.starts_with("v2:")), "{written}");
        assert!(json["next"]["mailbox"]["fields"].as_str().is_some_and(|f| f.starts_with("v2:")), "{written}");
        assert_eq!(json["next"]["type"], "put");
        let read: JournalEntry = serde_json::from_str(&written).unwrap();
        assert_eq!(read.operation, entry.operation);
        assert_eq!(read.next, entry.next);
        // The owned entry writes the same text as the borrowed one.
        assert_eq!(serde_json::to_string(&entry).unwrap(), written);
        assert!(written.len() < as_written_before(&entry).len());
    }

    #[test]
    fn entries_of_earlier_builds_still_read() {
        let entry = entry();
        let read: JournalEntry = serde_json::from_str(&as_written_before(&entry)).unwrap();
        assert_eq!(read.operation, entry.operation);
        assert_eq!(read.next, entry.next);
        let without_next = format!(r#"{{"operation":{}}}"#, serde_json::to_string(&entry.operation).unwrap());
        assert_eq!(serde_json::from_str::<JournalEntry>(&without_next).unwrap().next, None);
        for next in [None, Some(NextState::Remove)] {
            let entry = JournalEntry { operation: entry.operation.clone(), next };
            let read: JournalEntry = serde_json::from_str(&as_written_before(&entry)).unwrap();
            assert_eq!(read.next, entry.next);
            assert_eq!(serde_json::to_string(&entry).unwrap(), as_written_before(&entry));
        }
    }

    #[test]
    fn damaged_packed_prints_fail_the_entry_not_the_process() {
        let entry = entry();
        let written = serde_json::to_string(&entry).unwrap();
        let json: serde_json::Value = serde_json::from_str(&written).unwrap();
        let packed = json["next"]["crm"]["fields"].as_str().unwrap().to_owned();
        let damaged = written.replace(&packed, &packed[..packed.len() - 3]);
        assert!(serde_json::from_str::<JournalEntry>(&damaged).is_err());
    }
}
