//! Related records: a contact's Account, an event's invitees and the contacts and leads it
//! relates to — the links Salesforce keeps where the mailbox keeps names and addresses.
//!
//! - **Company → Account.** A company written from the mailbox becomes `AccountId`: the one
//!   Account the user can see whose `Name` equals it (SOQL compares text case-insensitively).
//!   None, several, or no access to Accounts: the contact is written without it, the company is
//!   reported unstored with an unresolved item, and the Account is never guessed. Clearing the
//!   company in the mailbox never detaches a contact from its Account (item `account_kept`).
//! - **Attendees → invitees.** Each attendee address is looked up among active Users, Contacts
//!   and Leads that are not converted (in that order of preference, the smallest id among
//!   several of one kind) and written as an `EventRelation` with `IsInvitee`; an address that
//!   matches nothing, or beyond `max_attendees`, is reported unstored. No invitation is ever sent
//!   by Tandem: Salesforce sends none for API-made relations, and the mailbox sends its own.
//! - **Relate on first sync** (`relate_events`): a new event's first matching Contact (else
//!   Lead) becomes its `WhoId`; with Shared Activities the other matching contacts are related too
//!   (`IsParent`, at most 50 in all). The relations are written first and the `WhoId` set last,
//!   so the relation Salesforce keeps for the who is the invitation already there.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};
use tandem_connector::ConnectorError;
use tandem_core::fields::FieldKey;
use tandem_core::model::{Attendee, ObjectKind, ResponseStatus};
use tandem_core::state::{Unresolved, UnresolvedKind};

use crate::SalesforceConnector;
use crate::api::ApiError;
use crate::mapping::{MAX_BATCH, text};
use crate::soql::{Cond, Ident, Literal, Query};

/// Most related contacts of one event with Shared Activities.
const MAX_RELATED_CONTACTS: usize = 50;

/// Accounts by lower-cased name, or why they could not be read.
pub(crate) struct Accounts {
    by_name: HashMap<String, Vec<String>>,
    no_access: Option<String>,
}

/// A Salesforce person an address belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Person {
    pub(crate) id: String,
    pub(crate) kind: PersonKind,
}

/// Which object a person is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PersonKind {
    User,
    Contact,
    Lead,
}

fn lower(s: &str) -> String {
    s.trim().to_lowercase()
}

fn literals(values: &[String]) -> Vec<Literal> {
    values.iter().filter_map(|v| Literal::text(v).ok()).collect()
}

fn is_access_error(e: &ApiError) -> bool {
    matches!(
        e,
        ApiError::Connector(ConnectorError::Rejected { code, .. })
            if code.contains("INSUFFICIENT_ACCESS") || code == "INVALID_TYPE"
    )
}

/// The account item for a company that did not resolve.
fn account_item(kind: UnresolvedKind, name: &str, detail: String) -> Unresolved {
    Unresolved { kind, field: Some(FieldKey::Company), subject: name.to_owned(), detail }
}

impl Accounts {
    /// The Account for `name`, or the item saying why there is none.
    pub(crate) fn resolve(&self, name: &str) -> Result<String, Unresolved> {
        if let Some(why) = &self.no_access {
            return Err(account_item(
                UnresolvedKind::AccountNoAccess,
                name,
                format!("the user cannot read Accounts ({why}); the contact was synced without one"),
            ));
        }
        match self.by_name.get(&lower(name)).map(Vec::as_slice) {
            Some([one]) => Ok(one.clone()),
            Some(many) if many.len() > 1 => Err(account_item(
                UnresolvedKind::AccountAmbiguous,
                name,
                format!("{} Accounts are named `{name}`; the contact was synced without one", many.len()),
            )),
            _ => Err(account_item(
                UnresolvedKind::AccountNotFound,
                name,
                format!("no Account the user can see is named `{name}`; the contact was synced without one"),
            )),
        }
    }
}

/// The item for an attendee address no Salesforce person has.
pub(crate) fn attendee_item(email: &str) -> Unresolved {
    Unresolved {
        kind: UnresolvedKind::AttendeeNotFound,
        field: Some(FieldKey::attendee(email)),
        subject: lower(email),
        detail: format!("`{}` is no contact, lead or user the user can see; not invited in Salesforce", lower(email)),
    }
}

/// An invitee's `Status` for an attendee's answer.
pub(crate) fn status_of(response: ResponseStatus) -> &'static str {
    match response {
        ResponseStatus::Accepted => "Accepted",
        ResponseStatus::Declined => "Declined",
        ResponseStatus::Tentative => "Maybe",
        ResponseStatus::NeedsAction => "New",
    }
}

impl SalesforceConnector {
    /// The Accounts named like `names` (case-insensitively), in queries of at most 200 names.
    pub(crate) async fn accounts_named(&self, names: &[String]) -> Result<Accounts, ApiError> {
        let mut out = Accounts { by_name: HashMap::new(), no_access: None };
        let mut unique: Vec<String> = names.iter().map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).collect();
        unique.sort_by_key(|n| lower(n));
        unique.dedup_by_key(|n| lower(n));
        for chunk in unique.chunks(MAX_BATCH) {
            let q = Query::select(vec![Ident::known("Id"), Ident::known("Name")], Ident::known("Account"))
                .and(Cond::In(Ident::known("Name"), true, literals(chunk)))
                .order_by(Ident::known("Id"));
            match self.api.query_all_pages(&q.to_soql(), false).await {
                Ok(rows) => {
                    for row in rows {
                        if let (Ok(Some(id)), Ok(Some(name))) = (text(&row, "Id"), text(&row, "Name")) {
                            out.by_name.entry(lower(&name)).or_default().push(id);
                        }
                    }
                }
                Err(e) if is_access_error(&e) => {
                    out.no_access = Some(e.into_connector().to_string());
                    return Ok(out);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// The Salesforce person of each address: an active User, else a Contact, else a Lead not
    /// converted; the smallest id among several of one kind. Addresses are lower-cased.
    pub(crate) async fn people(&self, emails: &[String]) -> Result<HashMap<String, Person>, ApiError> {
        let mut unique: Vec<String> = emails.iter().map(|e| lower(e)).filter(|e| !e.is_empty()).collect();
        unique.sort();
        unique.dedup();
        let mut out: HashMap<String, Person> = HashMap::new();
        for (object, kind) in [("User", PersonKind::User), ("Contact", PersonKind::Contact), ("Lead", PersonKind::Lead)]
        {
            for chunk in unique.chunks(MAX_BATCH) {
                let mut q = Query::select(vec![Ident::known("Id"), Ident::known("Email")], Ident::known(object))
                    .and(Cond::In(Ident::known("Email"), true, literals(chunk)));
                q = match kind {
                    PersonKind::User => q.and(Cond::eq(Ident::known("IsActive"), Literal::Bool(true))),
                    PersonKind::Lead => q.and(Cond::eq(Ident::known("IsConverted"), Literal::Bool(false))),
                    PersonKind::Contact => q,
                };
                let rows = match self.api.query_all_pages(&q.order_by(Ident::known("Id")).to_soql(), false).await {
                    Ok(rows) => rows,
                    // A user who may not read Leads (or Users) simply has no such people.
                    Err(e) if is_access_error(&e) => continue,
                    Err(e) => return Err(e),
                };
                for row in rows {
                    if let (Ok(Some(id)), Ok(Some(email))) = (text(&row, "Id"), text(&row, "Email")) {
                        out.entry(lower(&email)).or_insert(Person { id, kind });
                    }
                }
            }
        }
        Ok(out)
    }

    /// Creates invitations (and relations) in sObject collections; one result per row.
    pub(crate) async fn create_relations(&self, rows: Vec<Map<String, Value>>) -> Vec<Result<(), String>> {
        let mut out = Vec::with_capacity(rows.len());
        for chunk in rows.chunks(MAX_BATCH) {
            let records: Vec<Value> = chunk
                .iter()
                .map(|r| {
                    let mut r = r.clone();
                    r.insert("attributes".to_owned(), json!({ "type": "EventRelation" }));
                    Value::Object(r)
                })
                .collect();
            let body = json!({ "allOrNone": false, "records": records });
            match self.api.collection("POST", "composite/sobjects", &[], Some(&body), false).await {
                Ok(items) if items.len() == chunk.len() => out.extend(items.into_iter().map(|i| {
                    if i.success {
                        Ok(())
                    } else {
                        Err(i
                            .errors
                            .first()
                            .map_or_else(|| "refused".to_owned(), |e| format!("{}: {}", e.code, e.message)))
                    }
                })),
                Ok(_) => out.extend(chunk.iter().map(|_| Err("a short answer from an sObject collection".to_owned()))),
                Err(e) => {
                    let message = e.into_connector().to_string();
                    out.extend(chunk.iter().map(|_| Err(message.clone())));
                }
            }
        }
        out
    }

    /// Removes the invitations of `pairs` (event id, person id). Errors fail the whole call.
    pub(crate) async fn delete_invitations(&self, pairs: &[(String, String)]) -> Result<(), ConnectorError> {
        if pairs.is_empty() {
            return Ok(());
        }
        let events: Vec<String> = pairs.iter().map(|(e, _)| e.clone()).collect();
        let people: Vec<String> = pairs.iter().map(|(_, p)| p.clone()).collect();
        let mut ids = Vec::new();
        for (events, people) in events.chunks(MAX_BATCH).zip(people.chunks(MAX_BATCH)) {
            let q = Query::select(
                vec![Ident::known("Id"), Ident::known("EventId"), Ident::known("RelationId")],
                Ident::known("EventRelation"),
            )
            .and(Cond::eq(Ident::known("IsInvitee"), Literal::Bool(true)))
            .and(Cond::In(Ident::known("EventId"), true, literals(events)))
            .and(Cond::In(Ident::known("RelationId"), true, literals(people)));
            let rows = self.api.query_all_pages(&q.to_soql(), false).await.map_err(ApiError::into_connector)?;
            for row in rows {
                let (Ok(Some(id)), Ok(Some(event)), Ok(Some(person))) =
                    (text(&row, "Id"), text(&row, "EventId"), text(&row, "RelationId"))
                else {
                    continue;
                };
                if pairs.iter().any(|(e, p)| *e == event && *p == person) {
                    ids.push(id);
                }
            }
        }
        for chunk in ids.chunks(MAX_BATCH) {
            let list = chunk.join(",");
            let items = self
                .api
                .collection("DELETE", "composite/sobjects", &[("ids", &list), ("allOrNone", "false")], None, false)
                .await
                .map_err(ApiError::into_connector)?;
            if let Some(e) = items.iter().filter(|i| !i.success).flat_map(|i| i.errors.first()).next()
                && e.code != "ENTITY_IS_DELETED"
            {
                return Err(ConnectorError::Transient {
                    message: format!("removing an invitation: {}: {}", e.code, e.message),
                });
            }
        }
        Ok(())
    }

    /// Which items the org could resolve now (see [`tandem_connector::Connector::recheck`]).
    pub(crate) async fn recheck_items(
        &self,
        object: ObjectKind,
        items: &[Unresolved],
    ) -> Result<Vec<bool>, ConnectorError> {
        let account = |k: UnresolvedKind| {
            matches!(
                k,
                UnresolvedKind::AccountNotFound | UnresolvedKind::AccountAmbiguous | UnresolvedKind::AccountNoAccess
            )
        };
        let names: Vec<String> = items.iter().filter(|i| account(i.kind)).map(|i| i.subject.clone()).collect();
        let accounts = if names.is_empty() || object != ObjectKind::Contact {
            None
        } else {
            Some(self.accounts_named(&names).await.map_err(ApiError::into_connector)?)
        };
        let emails: Vec<String> = items
            .iter()
            .filter(|i| matches!(i.kind, UnresolvedKind::AttendeeNotFound | UnresolvedKind::EventUnrelated))
            .flat_map(|i| i.subject.split(", ").map(str::to_owned).collect::<Vec<_>>())
            .collect();
        let people = if emails.is_empty() || object != ObjectKind::Event {
            HashMap::new()
        } else {
            self.people(&emails).await.map_err(ApiError::into_connector)?
        };
        Ok(items
            .iter()
            .map(|i| match i.kind {
                k if account(k) => accounts.as_ref().is_some_and(|a| a.resolve(&i.subject).is_ok()),
                UnresolvedKind::AttendeeNotFound => people.contains_key(&lower(&i.subject)),
                // Only a record set aside (no field) waits for a relation; a kept event does not.
                UnresolvedKind::EventUnrelated => {
                    i.field.is_none()
                        && i.subject
                            .split(", ")
                            .any(|e| people.get(&lower(e)).is_some_and(|p| p.kind != PersonKind::User))
                }
                _ => false,
            })
            .collect())
    }
}

/// What relating a new event means: its `WhoId` and the invitations marked `IsParent`.
pub(crate) struct Relate {
    pub(crate) who: Option<String>,
    pub(crate) parents: Vec<String>,
}

/// Which of an event's matched people it is related to (contacts first; a lead only alone).
pub(crate) fn relate(matched: &[(Attendee, Person)], shared_activities: bool) -> Relate {
    let contacts: Vec<&String> =
        matched.iter().filter(|(_, p)| p.kind == PersonKind::Contact).map(|(_, p)| &p.id).collect();
    let lead = matched.iter().find(|(_, p)| p.kind == PersonKind::Lead).map(|(_, p)| &p.id);
    match (contacts.first(), lead) {
        (Some(first), _) => Relate {
            who: Some((*first).clone()),
            parents: if shared_activities {
                contacts.iter().take(MAX_RELATED_CONTACTS).map(|c| (*c).clone()).collect()
            } else {
                Vec::new()
            },
        },
        (None, Some(lead)) => {
            Relate { who: Some(lead.clone()), parents: if shared_activities { vec![lead.clone()] } else { Vec::new() } }
        }
        (None, None) => Relate { who: None, parents: Vec::new() },
    }
}

/// The invitation row for one attendee of `event`.
pub(crate) fn invitation(event: &str, person: &Person, attendee: &Attendee, parent: bool) -> Map<String, Value> {
    let mut row = Map::new();
    row.insert("EventId".to_owned(), Value::String(event.to_owned()));
    row.insert("RelationId".to_owned(), Value::String(person.id.clone()));
    row.insert("IsInvitee".to_owned(), Value::Bool(true));
    if parent {
        row.insert("IsParent".to_owned(), Value::Bool(true));
    }
    row.insert("Status".to_owned(), Value::String(status_of(attendee.response).to_owned()));
    row
}

/// Attendees of a create, deduplicated by address, in order.
pub(crate) fn distinct(attendees: &[Attendee]) -> Vec<Attendee> {
    let mut seen: BTreeMap<String, ()> = BTreeMap::new();
    attendees
        .iter()
        .filter(|a| !a.email.trim().is_empty() && seen.insert(lower(&a.email), ()).is_none())
        .cloned()
        .collect()
}
