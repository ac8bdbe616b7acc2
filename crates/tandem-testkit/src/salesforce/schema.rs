//! The objects and fields the fake knows, with Salesforce's types, lengths and rules.

/// A field's type, as far as the fake checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FieldType {
    /// The record id.
    Id,
    /// A lookup to one of these objects (several: polymorphic).
    Reference(Vec<&'static str>),
    /// Text of at most this many characters.
    Text(usize),
    /// An email address (80).
    Email,
    /// A phone number (40).
    Phone,
    /// `YYYY-MM-DD`.
    Date,
    /// `YYYY-MM-DDThh:mm:ss.sss+0000`.
    DateTime,
    /// `true` / `false`.
    Bool,
    /// A whole number.
    Int,
    /// One of these values (restricted picklist); empty means unrestricted text of 255.
    Picklist(Vec<&'static str>),
}

impl FieldType {
    /// The maximum length of a text value, for text-like types.
    pub(crate) fn max_len(&self) -> Option<usize> {
        match self {
            FieldType::Text(n) => Some(*n),
            FieldType::Email => Some(80),
            FieldType::Phone => Some(40),
            FieldType::Picklist(_) => Some(255),
            _ => None,
        }
    }

    /// Whether values compare case-insensitively (text does; ids do not).
    pub(crate) fn case_insensitive(&self) -> bool {
        matches!(self, FieldType::Text(_) | FieldType::Email | FieldType::Phone | FieldType::Picklist(_))
    }
}

/// One field.
#[derive(Debug, Clone)]
pub(crate) struct FieldDef {
    pub(crate) name: String,
    pub(crate) label: String,
    pub(crate) ty: FieldType,
    /// Settable on create.
    pub(crate) createable: bool,
    /// Settable on update.
    pub(crate) updateable: bool,
    /// Marked External ID (usable for upserts), unique.
    pub(crate) external_id: bool,
    /// The relationship name of a lookup (`Account` for `AccountId`).
    pub(crate) relationship: Option<&'static str>,
}

impl FieldDef {
    fn new(name: &str, ty: FieldType) -> FieldDef {
        FieldDef {
            name: name.to_owned(),
            label: label_of(name),
            ty,
            createable: true,
            updateable: true,
            external_id: false,
            relationship: None,
        }
    }

    fn read_only(mut self) -> FieldDef {
        self.createable = false;
        self.updateable = false;
        self
    }

    fn create_only(mut self) -> FieldDef {
        self.updateable = false;
        self
    }

    fn rel(mut self, name: &'static str) -> FieldDef {
        self.relationship = Some(name);
        self
    }
}

pub(crate) fn label_of(name: &str) -> String {
    let base = name.trim_end_matches("__c");
    let mut out = String::new();
    for (i, c) in base.chars().enumerate() {
        if i > 0 && c.is_ascii_uppercase() && !out.ends_with(' ') {
            out.push(' ');
        }
        out.push(if c == '_' { ' ' } else { c });
    }
    out
}

/// One object type.
#[derive(Debug, Clone)]
pub(crate) struct ObjectDef {
    pub(crate) name: &'static str,
    pub(crate) prefix: &'static str,
    pub(crate) fields: Vec<FieldDef>,
    /// Fields a create must set.
    pub(crate) required: Vec<&'static str>,
}

impl ObjectDef {
    /// The field called `name` (case-insensitive).
    pub(crate) fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The lookup field whose relationship is called `rel` (case-insensitive).
    pub(crate) fn relationship(&self, rel: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.relationship.is_some_and(|r| r.eq_ignore_ascii_case(rel)))
    }
}

fn system(fields: &mut Vec<FieldDef>) {
    fields.push(FieldDef::new("Id", FieldType::Id).read_only());
    fields.push(FieldDef::new("IsDeleted", FieldType::Bool).read_only());
    fields.push(FieldDef::new("CreatedDate", FieldType::DateTime).read_only());
    fields.push(FieldDef::new("CreatedById", FieldType::Reference(vec!["User"])).read_only().rel("CreatedBy"));
    fields.push(FieldDef::new("LastModifiedDate", FieldType::DateTime).read_only());
    fields
        .push(FieldDef::new("LastModifiedById", FieldType::Reference(vec!["User"])).read_only().rel("LastModifiedBy"));
    fields.push(FieldDef::new("SystemModstamp", FieldType::DateTime).read_only());
}

/// What the org looks like.
#[derive(Debug, Clone)]
pub(crate) struct SchemaOptions {
    pub(crate) middle_name: bool,
    pub(crate) contact_custom: Vec<(String, usize)>,
    pub(crate) event_custom: Vec<(String, usize)>,
    /// The sync-key field on Contact and Event, and whether it is an External ID.
    pub(crate) sync_key: Option<(String, bool)>,
}

/// Every object of the fake.
pub(crate) fn objects(options: &SchemaOptions) -> Vec<ObjectDef> {
    let text = |n: &str, len: usize| FieldDef::new(n, FieldType::Text(len));
    let custom = |fields: &mut Vec<FieldDef>, list: &[(String, usize)]| {
        for (name, len) in list {
            fields.push(FieldDef::new(name, FieldType::Text(*len)));
        }
        if let Some((name, external)) = &options.sync_key {
            let mut f = FieldDef::new(name, FieldType::Text(255));
            f.external_id = *external;
            fields.push(f);
        }
    };

    let mut contact = Vec::new();
    system(&mut contact);
    contact.push(FieldDef::new("OwnerId", FieldType::Reference(vec!["User"])).rel("Owner"));
    contact.push(FieldDef::new("AccountId", FieldType::Reference(vec!["Account"])).rel("Account"));
    contact.push(text("FirstName", 40));
    contact.push(text("LastName", 80));
    if options.middle_name {
        contact.push(text("MiddleName", 40));
    }
    contact.push(text("Name", 121).read_only());
    contact.push(FieldDef::new("Email", FieldType::Email));
    for phone in ["Phone", "MobilePhone", "HomePhone", "Fax", "OtherPhone", "AssistantPhone"] {
        contact.push(FieldDef::new(phone, FieldType::Phone));
    }
    contact.push(text("AssistantName", 40));
    contact.push(text("Title", 128));
    contact.push(text("Department", 80));
    contact.push(FieldDef::new("Birthdate", FieldType::Date));
    contact.push(text("Description", 32_000));
    contact.push(text("MailingStreet", 255));
    contact.push(text("MailingCity", 40));
    contact.push(text("MailingState", 80));
    contact.push(text("MailingPostalCode", 20));
    contact.push(text("MailingCountry", 80));
    // The second address of a Contact (`OtherAddress`), with the Mailing address's lengths.
    contact.push(text("OtherStreet", 255));
    contact.push(text("OtherCity", 40));
    contact.push(text("OtherState", 80));
    contact.push(text("OtherPostalCode", 20));
    contact.push(text("OtherCountry", 80));
    contact.push(FieldDef::new("LeadSource", FieldType::Picklist(vec![])));
    contact.push(FieldDef::new("DoNotCall", FieldType::Bool));
    contact.push(FieldDef::new("HasOptedOutOfEmail", FieldType::Bool));
    contact.push(FieldDef::new("IsEmailBounced", FieldType::Bool).read_only());
    custom(&mut contact, &options.contact_custom);

    let mut event = Vec::new();
    system(&mut event);
    event.push(FieldDef::new("OwnerId", FieldType::Reference(vec!["User"])).rel("Owner"));
    event.push(FieldDef::new("WhoId", FieldType::Reference(vec!["Contact", "Lead"])).rel("Who"));
    event.push(
        FieldDef::new("WhatId", FieldType::Reference(vec!["Account", "Opportunity", "Case", "Campaign", "Contract"]))
            .rel("What"),
    );
    event.push(text("Subject", 255));
    event.push(text("Location", 255));
    event.push(text("Description", 32_000));
    event.push(FieldDef::new("StartDateTime", FieldType::DateTime));
    event.push(FieldDef::new("EndDateTime", FieldType::DateTime));
    event.push(FieldDef::new("ActivityDateTime", FieldType::DateTime));
    event.push(FieldDef::new("ActivityDate", FieldType::Date));
    event.push(FieldDef::new("EndDate", FieldType::Date).read_only());
    event.push(FieldDef::new("DurationInMinutes", FieldType::Int));
    event.push(FieldDef::new("IsAllDayEvent", FieldType::Bool));
    event.push(FieldDef::new("IsPrivate", FieldType::Bool));
    event.push(FieldDef::new("ShowAs", FieldType::Picklist(vec!["Busy", "OutOfOffice", "Free"])));
    event.push(FieldDef::new("Type", FieldType::Picklist(vec!["Call", "Email", "Meeting", "Other"])));
    event.push(FieldDef::new("IsChild", FieldType::Bool).read_only());
    event.push(FieldDef::new("IsGroupEvent", FieldType::Bool).read_only());
    event.push(FieldDef::new("IsRecurrence2", FieldType::Bool).create_only());
    event.push(text("Recurrence2PatternText", 1024));
    event.push(text("Recurrence2PatternTimeZone", 40));
    event.push(text("Recurrence2PatternVersion", 40));
    event.push(FieldDef::new("Recurrence2PatternStartDate", FieldType::DateTime).read_only());
    event.push(FieldDef::new("IsRecurrence2Exception", FieldType::Bool).read_only());
    event.push(FieldDef::new("IsRecurrence2Exclusion", FieldType::Bool).read_only());
    // An occurrence kept as its own row (an exception) points at the series' main record.
    event.push(FieldDef::new("RecurrenceActivityId", FieldType::Reference(vec!["Event"])).read_only());
    custom(&mut event, &options.event_custom);
    // A series can be switched off by an update too.
    if let Some(f) = event.iter_mut().find(|f| f.name == "IsRecurrence2") {
        f.updateable = true;
    }

    let mut relation = Vec::new();
    system(&mut relation);
    relation.push(FieldDef::new("EventId", FieldType::Reference(vec!["Event"])).create_only().rel("Event"));
    relation.push(
        FieldDef::new("RelationId", FieldType::Reference(vec!["Contact", "User", "Lead"]))
            .create_only()
            .rel("Relation"),
    );
    relation.push(FieldDef::new("IsInvitee", FieldType::Bool));
    relation.push(FieldDef::new("IsParent", FieldType::Bool));
    relation.push(FieldDef::new("IsWhat", FieldType::Bool));
    relation
        .push(FieldDef::new("Status", FieldType::Picklist(vec!["New", "Accepted", "Declined", "Uninvited", "Maybe"])));
    relation.push(text("Response", 255));
    relation.push(FieldDef::new("RespondedDate", FieldType::DateTime));

    let mut account = Vec::new();
    system(&mut account);
    account.push(FieldDef::new("OwnerId", FieldType::Reference(vec!["User"])).rel("Owner"));
    account.push(text("Name", 255));

    let mut user = Vec::new();
    system(&mut user);
    user.push(text("Username", 80));
    user.push(FieldDef::new("Email", FieldType::Email));
    user.push(text("FirstName", 40));
    user.push(text("LastName", 80));
    user.push(text("Name", 121).read_only());
    user.push(text("TimeZoneSidKey", 40));
    user.push(FieldDef::new("IsActive", FieldType::Bool));

    let mut lead = Vec::new();
    system(&mut lead);
    lead.push(FieldDef::new("OwnerId", FieldType::Reference(vec!["User"])).rel("Owner"));
    lead.push(text("FirstName", 40));
    lead.push(text("LastName", 80));
    lead.push(text("Name", 121).read_only());
    lead.push(FieldDef::new("Email", FieldType::Email));
    lead.push(text("Company", 255));
    // Set by lead conversion (the handle's `convert_lead`), never by a write.
    lead.push(FieldDef::new("IsConverted", FieldType::Bool).read_only());

    // A Chatter follow: no `LastModifiedDate`, `LastModifiedById` or `SystemModstamp` (object
    // reference, EntitySubscription), not updateable.
    let subscription = vec![
        FieldDef::new("Id", FieldType::Id).read_only(),
        FieldDef::new("IsDeleted", FieldType::Bool).read_only(),
        FieldDef::new("CreatedDate", FieldType::DateTime).read_only(),
        FieldDef::new("CreatedById", FieldType::Reference(vec!["User"])).read_only().rel("CreatedBy"),
        FieldDef::new("ParentId", FieldType::Reference(FOLLOWABLE.to_vec())).create_only().rel("Parent"),
        FieldDef::new("SubscriberId", FieldType::Reference(vec!["User"])).create_only().rel("Subscriber"),
        FieldDef::new("NetworkId", FieldType::Reference(vec!["Network"])).create_only().rel("Network"),
    ];

    vec![
        ObjectDef { name: "Contact", prefix: "003", fields: contact, required: vec!["LastName"] },
        ObjectDef { name: "Event", prefix: "00U", fields: event, required: vec![] },
        ObjectDef { name: "EventRelation", prefix: "0RE", fields: relation, required: vec!["EventId", "RelationId"] },
        ObjectDef { name: "Account", prefix: "001", fields: account, required: vec!["Name"] },
        ObjectDef { name: "User", prefix: "005", fields: user, required: vec!["Username", "LastName"] },
        ObjectDef { name: "Lead", prefix: "00Q", fields: lead, required: vec!["LastName", "Company"] },
        ObjectDef {
            name: "EntitySubscription",
            prefix: "0E8",
            fields: subscription,
            required: vec!["ParentId", "SubscriberId"],
        },
    ]
}

/// What `EntitySubscription.ParentId` may point at (a subset of Salesforce's long list).
pub(crate) const FOLLOWABLE: [&str; 8] =
    ["Account", "Contact", "Lead", "User", "Opportunity", "Case", "Campaign", "Contract"];

/// The fields of the polymorphic `Name` entity (`Relation.Email`, `Who.Name`).
pub(crate) const NAME_FIELDS: [&str; 6] = ["Id", "Name", "Email", "FirstName", "LastName", "Type"];

/// The object an id belongs to, by prefix.
pub(crate) fn object_of_id(id: &str) -> Option<&'static str> {
    Some(match id.get(..3)? {
        "003" => "Contact",
        "00U" => "Event",
        "0RE" => "EventRelation",
        "001" => "Account",
        "005" => "User",
        "00Q" => "Lead",
        "0E8" => "EntitySubscription",
        "0DB" => "Network",
        "006" => "Opportunity",
        "500" => "Case",
        "701" => "Campaign",
        "800" => "Contract",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(label_of("LastName"), "Last Name");
        assert_eq!(label_of("Region__c"), "Region");
        assert_eq!(label_of("Tandem_Sync_Id__c"), "Tandem Sync Id");
    }
}
