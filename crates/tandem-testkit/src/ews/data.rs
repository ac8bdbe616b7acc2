//! What the fake holds: mailboxes with their folders and items, accounts, sync states and the
//! request records, behind the handle's lock.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use chrono::{DateTime, Utc};

use super::ids::{Kind, RawId};
use super::item_view::ItemKind;
use super::xml::Element;

#[derive(Debug, Clone)]
pub(crate) struct Folder {
    pub(crate) num: u64,
    pub(crate) parent: Option<u64>,
    pub(crate) distinguished: Option<&'static str>,
    pub(crate) name: String,
    pub(crate) class: String,
    /// `Folder`, `ContactsFolder` or `CalendarFolder`.
    pub(crate) element: &'static str,
    pub(crate) version: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub(crate) num: u64,
    pub(crate) folder: u64,
    pub(crate) kind: ItemKind,
    pub(crate) version: u32,
    /// The global write sequence number of its last write (sync orders by it).
    pub(crate) seq: u64,
    pub(crate) props: Vec<Element>,
    pub(crate) extended: Vec<Element>,
    pub(crate) created: DateTime<Utc>,
    pub(crate) modified: DateTime<Utc>,
    /// Exceptions of a recurring master: instance index → the occurrence's full properties.
    pub(crate) exceptions: BTreeMap<u32, Vec<Element>>,
    /// Deleted occurrences of a recurring master (instance indexes).
    pub(crate) deleted: BTreeSet<u32>,
}

#[derive(Debug, Clone)]
pub(crate) struct Mailbox {
    pub(crate) smtp: String,
    pub(crate) display: String,
    pub(crate) folders: BTreeMap<u64, Folder>,
    pub(crate) items: BTreeMap<u64, Item>,
    pub(crate) next: u64,
}

impl Mailbox {
    pub(super) fn new(smtp: &str, display: &str) -> Mailbox {
        let mut m = Mailbox {
            smtp: smtp.to_lowercase(),
            display: display.to_owned(),
            folders: BTreeMap::new(),
            items: BTreeMap::new(),
            next: 100,
        };
        let mut add = |num, parent, d, name: &str, class: &str, element| {
            m.folders.insert(
                num,
                Folder {
                    num,
                    parent,
                    distinguished: Some(d),
                    name: name.to_owned(),
                    class: class.to_owned(),
                    element,
                    version: 1,
                },
            );
        };
        add(1, None, "root", "", "", "Folder");
        add(2, Some(1), "msgfolderroot", "Top of Information Store", "IPF.Note", "Folder");
        add(3, Some(2), "contacts", "Contacts", "IPF.Contact", "ContactsFolder");
        add(4, Some(2), "calendar", "Calendar", "IPF.Appointment", "CalendarFolder");
        add(5, Some(2), "inbox", "Inbox", "IPF.Note", "Folder");
        add(6, Some(2), "deleteditems", "Deleted Items", "IPF.Note", "Folder");
        m
    }

    pub(crate) fn raw(&self, kind: Kind, num: u64) -> RawId {
        RawId { mailbox: self.smtp.clone(), kind, num }
    }

    pub(crate) fn distinguished(&self, name: &str) -> Option<u64> {
        self.folders.values().find(|f| f.distinguished == Some(name)).map(|f| f.num)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub(crate) password: String,
    pub(crate) grants: BTreeSet<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct SyncState {
    pub(crate) mailbox: String,
    pub(crate) folder: u64,
    pub(crate) known: BTreeMap<u64, u32>,
}

#[derive(Debug, Default)]
pub(crate) struct Data {
    pub(crate) mailboxes: BTreeMap<String, Mailbox>,
    pub(crate) accounts: BTreeMap<String, Account>,
    pub(crate) tokens: BTreeMap<String, String>,
    pub(crate) allow_basic: bool,
    pub(crate) sync_states: HashMap<String, SyncState>,
    pub(crate) next_state: u64,
    pub(crate) busy: Option<(u32, u64)>,
    pub(crate) counts: BTreeMap<String, u64>,
    pub(crate) anchors: Vec<Option<String>>,
    pub(crate) versions: Vec<String>,
    pub(crate) challenges: VecDeque<[u8; 8]>,
    pub(crate) challenge_counter: u64,
    pub(crate) seq: u64,
}

impl Data {
    pub(crate) fn bump(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
}
