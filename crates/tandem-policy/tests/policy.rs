//! The policy: TOML, validation, the connection check and the plan filter.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use chrono::{DateTime, NaiveDate};
use tandem_core::capabilities::ObjectCapabilities;
use tandem_core::config::{CustomFieldMapping, ObjectConfig};
use tandem_core::fields::{FieldKey, FieldValue, fingerprint};
use tandem_core::model::{
    AddressKind, Attendee, AttendeeRole, Contact, EmailAddress, Event, EventTime, EventTiming, ObjectKind, Person,
    Privacy, Record, ResponseStatus, ShowAs,
};
use tandem_core::plan::{Action, NextState, Plan};
use tandem_core::planner::{PairIndex, PlanInput, SideInput, plan};
use tandem_core::state::{Change, PairState, Side};
use tandem_policy::{
    ConnectionInfo, DataRules, Effect, MailboxScope, Method, PlanContext, Policy, PolicyError, PrivateEvents, Rule,
};

// ---------------------------------------------------------------------------------------------
// TOML and validation

const SAMPLE: &str = r#"
allow_in_memory = false

[endpoints]
allow_loopback_http = false
min_tls = "1.3"

[providers.salesforce]
methods = ["jwt_bearer"]
hosts = ["login.salesforce.com", "*.my.salesforce.com"]

[providers.graph]
methods = ["client_credentials_certificate"]
scopes = ["https://graph.microsoft.com/.default"]
hosts = ["graph.microsoft.com", "login.microsoftonline.com"]
mailboxes = { domains = ["example.com"], users = ["contractor@partner.example"] }

[providers.ews]
methods = ["ntlm"]
scopes = []
on_premises = true

[data]
private_events = "busy_only"
excluded_addresses = ["ceo@example.com"]
excluded_domains = ["competitor.example"]
crm_only_fields = ["notes", "custom.Margin__c"]
max_description_len = 2000

[audit]
retention_days = 90
"#;

#[test]
fn a_policy_round_trips_through_toml() {
    let policy = Policy::from_toml_str(SAMPLE).unwrap();
    assert!(!policy.allow_in_memory);
    assert_eq!(policy.providers.len(), 3, "listing providers replaces the default set");
    assert_eq!(policy.data.private_events, PrivateEvents::BusyOnly);
    assert!(policy.data.crm_only_fields.contains(&FieldKey::Custom("Margin__c".into())));
    assert_eq!(policy.audit.retention_days, 90);
    // Keys left out of a listed provider keep its defaults.
    let salesforce = &policy.providers["salesforce"];
    assert_eq!(salesforce.scopes, ["api".to_owned(), "refresh_token".to_owned()].into());
    let text = policy.to_toml_string().unwrap();
    assert_eq!(Policy::from_toml_str(&text).unwrap(), policy, "{text}");

    let default = Policy::default();
    let text = default.to_toml_string().unwrap();
    assert_eq!(Policy::from_toml_str(&text).unwrap(), default, "{text}");
    assert_eq!(Policy::from_toml_str("").unwrap(), default);
}

#[test]
fn the_default_is_documented_and_safe() {
    let p = Policy::default();
    assert!(p.allow_in_memory);
    assert!(!p.endpoints.allow_loopback_http);
    assert_eq!(p.min_tls(), tandem_policy::TlsVersion::Tls12);
    assert_eq!(p.data.private_events, PrivateEvents::Skip);
    assert_eq!(p.audit.retention_days, 365);
    let graph = &p.providers["graph"];
    assert!(graph.methods.contains(&Method::ClientCredentialsCertificate));
    assert!(!graph.methods.contains(&Method::ClientCredentialsSecret), "no client secret where a certificate works");
    for scope in ["Calendars.ReadWrite", "Contacts.ReadWrite", "offline_access", "https://graph.microsoft.com/.default"]
    {
        assert!(graph.scopes.contains(scope), "{scope}");
    }
    assert!(!p.providers["ews"].methods.contains(&Method::Basic));
    assert!(!p.providers["salesforce"].methods.contains(&Method::ClientCredentialsSecret));
}

#[test]
fn unknown_keys_and_values_are_parse_errors() {
    for bad in [
        "private_events = \"skip\"",
        "[data]\nprivate_event = \"skip\"",
        "[data]\nprivate_events = \"sometimes\"",
        "[endpoints]\nmin_tls = \"1.1\"",
        "[providers.graph]\nmethods = [\"password\"]",
        "[providers.graph]\nscope = [\"Calendars.ReadWrite\"]",
        "[data]\ncrm_only_fields = [\"shoe_size\"]",
    ] {
        let err = Policy::from_toml_str(bad).unwrap_err();
        assert!(matches!(err, PolicyError::Parse(_)), "{bad}: {err}");
    }
}

fn problems(toml: &str) -> Vec<(Rule, String)> {
    match Policy::from_toml_str(toml) {
        Err(PolicyError::Invalid { problems }) => problems.into_iter().map(|p| (p.rule, p.message)).collect(),
        other => panic!("expected an invalid policy for {toml}, got {other:?}"),
    }
}

#[test]
fn validation_names_the_rule_and_says_what_is_wrong() {
    let graph = || "graph".to_owned();
    let cases: Vec<(&str, Rule, &str)> = vec![
        ("[providers.graph]\nscopes = [\"Calendar.ReadWrite\"]", Rule::Scopes(graph()), "unknown scope"),
        ("[providers.graph]\nscopes = [\"Mail.Read\"]", Rule::Scopes(graph()), "mail scopes are never allowed"),
        (
            "[providers.google]\nscopes = [\"https://www.googleapis.com/auth/gmail.readonly\"]",
            Rule::Scopes("google".into()),
            "Gmail",
        ),
        ("[providers.graph]\nhosts = []", Rule::Hosts(graph()), "excludes every endpoint"),
        ("[providers.graph]\nhosts = [\"https://graph.microsoft.com\"]", Rule::Hosts(graph()), "not a host name"),
        ("[providers.graph]\nmailboxes = {}", Rule::Mailboxes(graph()), "excludes every mailbox"),
        ("[providers.graph]\nmailboxes = { users = [\"ada\"] }", Rule::Mailboxes(graph()), "not an email address"),
        ("[providers.graph]\nmethods = []", Rule::Methods(graph()), "remove the provider"),
        ("[providers.graph]\nmethods = [\"ntlm\"]", Rule::Methods(graph()), "on-premises Exchange method"),
        ("[providers.ews]\nmethods = [\"ntlm\"]\non_premises = false", Rule::OnPremises("ews".into()), "never be used"),
        (
            "[providers.ews]\nmethods = [\"ntlm\"]\nhosts = [\"outlook.office365.com\"]",
            Rule::OnPremises("ews".into()),
            "Microsoft's cloud",
        ),
        ("[data]\ncrm_only_fields = [\"timing\"]", Rule::CrmOnlyFields, "start and end"),
        (
            "[data]\nprivate_events = \"full\"\ncrm_only_fields = [\"privacy\"]",
            Rule::CrmOnlyFields,
            "arrive in mailboxes unmarked",
        ),
        ("[data]\nexcluded_domains = [\"@example.com\"]", Rule::ExcludedDomains, "not a domain"),
        ("[data]\nexcluded_addresses = [\"example.com\"]", Rule::ExcludedAddresses, "not an email address"),
        ("[data]\nmax_description_len = 0", Rule::MaxDescriptionLen, "erase every description"),
        ("[audit]\nretention_days = 0", Rule::AuditRetention, "at least 1 day"),
    ];
    for (toml, rule, words) in cases {
        let found = problems(toml);
        assert!(
            found.iter().any(|(r, m)| *r == rule && m.contains(words)),
            "{toml}: expected `{rule}` saying {words:?}, got {found:?}"
        );
    }
    // Every problem is reported, not only the first.
    let found = problems("[audit]\nretention_days = 0\n[data]\nmax_description_len = 0");
    assert_eq!(found.len(), 2);
    let err = Policy::from_toml_str("[audit]\nretention_days = 0").unwrap_err();
    assert_eq!(err.rule(), Some(&Rule::AuditRetention));
    assert!(err.to_string().starts_with("invalid policy: `audit.retention_days`:"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Connections

fn graph_app(endpoint: &str) -> ConnectionInfo {
    ConnectionInfo {
        provider: "graph".into(),
        method: "client_credentials_certificate".into(),
        endpoints: vec![endpoint.into(), "https://login.microsoftonline.com/tenant/oauth2/v2.0/token".into()],
        scopes: vec!["https://graph.microsoft.com/.default".into()],
        principal: Some("ada@example.com".into()),
    }
}

fn denied(policy: &Policy, info: &ConnectionInfo) -> (Rule, String) {
    match policy.check_connection(info) {
        Err(PolicyError::Denied { rule, reason, provider }) => {
            assert_eq!(provider, info.provider);
            (rule, reason)
        }
        other => panic!("expected a denial of {info:?}, got {other:?}"),
    }
}

#[test]
fn a_plain_http_endpoint_is_denied() {
    let policy = Policy::default();
    assert!(policy.check_connection(&graph_app("https://graph.microsoft.com/v1.0")).is_ok());
    let (rule, reason) = denied(&policy, &graph_app("http://graph.microsoft.com/v1.0/users?access_token=CANARY"));
    assert_eq!(rule, Rule::HttpsOnly);
    assert!(reason.contains("graph.microsoft.com") && !reason.contains("CANARY") && !reason.contains("/v1.0"));
    let err = policy.check_connection(&graph_app("ftp://graph.microsoft.com/")).unwrap_err();
    assert!(err.to_string().contains("endpoints.https_only"), "{err}");
    let (rule, _) = denied(&policy, &graph_app("https://user:CANARY@graph.microsoft.com/"));
    assert_eq!(rule, Rule::HttpsOnly);
    let (rule, reason) = denied(&policy, &graph_app("not a url CANARY"));
    assert_eq!(rule, Rule::HttpsOnly);
    assert!(!reason.contains("CANARY"), "{reason}");
}

#[test]
fn loopback_http_needs_the_testing_flag() {
    let local = graph_app("http://127.0.0.1:8080/v1.0");
    let (rule, _) = denied(&Policy::default(), &local);
    assert_eq!(rule, Rule::LoopbackHttp);
    assert!(Policy::for_loopback_tests().check_connection(&local).is_ok());
    // The flag is for loopback only.
    let (rule, _) = denied(&Policy::for_loopback_tests(), &graph_app("http://10.0.0.1/v1.0"));
    assert_eq!(rule, Rule::HttpsOnly);
}

#[test]
fn a_disallowed_scope_is_denied() {
    let policy = Policy::default();
    let mut info = graph_app("https://graph.microsoft.com/v1.0");
    info.scopes = vec!["Calendars.ReadWrite".into(), "Contacts.ReadWrite".into(), "offline_access".into()];
    assert!(policy.check_connection(&info).is_ok());
    info.method = "auth_code_pkce".into();
    info.scopes = vec!["https://graph.microsoft.com/calendars.readwrite".into()];
    assert!(policy.check_connection(&info).is_ok(), "prefixed and case-insensitive");
    info.scopes.push("User.Read.All".into());
    let (rule, reason) = denied(&policy, &info);
    assert_eq!(rule, Rule::Scopes("graph".into()));
    assert!(reason.contains("User.Read.All"), "{reason}");
    info.scopes = vec!["Mail.ReadWrite".into()];
    let (_, reason) = denied(&policy, &info);
    assert!(reason.contains("never allowed"), "{reason}");
}

#[test]
fn an_out_of_scope_mailbox_is_denied() {
    let mut policy = Policy::default();
    policy.providers.get_mut("graph").unwrap().mailboxes =
        Some(MailboxScope { users: ["guest@partner.example".into()].into(), domains: ["example.com".into()].into() });
    policy.validate().unwrap();
    let mut info = graph_app("https://graph.microsoft.com/v1.0");
    assert!(policy.check_connection(&info).is_ok());
    info.principal = Some("Guest@Partner.example".into());
    assert!(policy.check_connection(&info).is_ok());
    info.principal = Some("mallory@evil.example".into());
    let (rule, reason) = denied(&policy, &info);
    assert_eq!(rule, Rule::Mailboxes("graph".into()));
    assert!(reason.contains("mallory@evil.example"), "{reason}");
    info.principal = None;
    assert_eq!(denied(&policy, &info).0, Rule::Mailboxes("graph".into()));
    assert!(policy.check_mailbox("graph", "ada@example.com").is_ok());
    assert!(policy.check_mailbox("graph", "ada@evil.example").is_err());
    assert!(policy.check_mailbox("google", "ada@evil.example").is_ok(), "google has no mailbox scope");
}

#[test]
fn methods_are_checked_per_provider() {
    let policy = Policy::default();
    let mut info = graph_app("https://graph.microsoft.com/v1.0");
    info.method = "client_credentials_secret".into();
    let (rule, reason) = denied(&policy, &info);
    assert_eq!(rule, Rule::Methods("graph".into()));
    assert!(reason.contains("client_credentials_certificate"), "lists what is allowed: {reason}");
    info.method = "password".into();
    assert_eq!(denied(&policy, &info).0, Rule::Methods("graph".into()));

    let ews = |method: &str, endpoint: &str| ConnectionInfo {
        provider: "ews".into(),
        method: method.into(),
        endpoints: vec![endpoint.into()],
        scopes: vec![],
        principal: Some("ada@example.com".into()),
    };
    let (rule, _) = denied(&policy, &ews("basic", "https://mail.example.com/EWS/Exchange.asmx"));
    assert_eq!(rule, Rule::Methods("ews".into()));
    let mut allows_basic = Policy::default();
    allows_basic.providers.get_mut("ews").unwrap().methods.insert(Method::Basic);
    assert!(allows_basic.check_connection(&ews("basic", "https://mail.example.com/EWS")).is_ok(), "listed: allowed");
    assert!(policy.check_connection(&ews("ntlm", "https://mail.example.com/EWS/Exchange.asmx")).is_ok());
    let (rule, _) = denied(&policy, &ews("ntlm", "https://outlook.office365.com/EWS/Exchange.asmx"));
    assert_eq!(rule, Rule::OnPremises("ews".into()));
    let mut flagged = Policy::default();
    flagged.providers.get_mut("ews").unwrap().on_premises = Some(true);
    assert!(flagged.check_connection(&ews("ntlm", "https://exchange.corp.example/EWS")).is_ok());

    let unknown = ConnectionInfo { provider: "dropbox".into(), ..graph_app("https://api.dropbox.com") };
    assert_eq!(denied(&policy, &unknown).0, Rule::Provider("dropbox".into()));
}

#[test]
fn host_allow_lists_and_in_memory_connectors() {
    let mut policy = Policy::default();
    policy.providers.get_mut("graph").unwrap().hosts =
        Some(["graph.microsoft.com".into(), "login.microsoftonline.com".into()].into());
    assert!(policy.check_connection(&graph_app("https://graph.microsoft.com/v1.0")).is_ok());
    let (rule, reason) = denied(&policy, &graph_app("https://graph.evil.example/v1.0"));
    assert_eq!(rule, Rule::Hosts("graph".into()));
    assert!(reason.contains("graph.evil.example"), "{reason}");

    let memory = ConnectionInfo::in_memory("crm");
    assert!(policy.check_connection(&memory).is_ok());
    policy.allow_in_memory = false;
    assert_eq!(denied(&policy, &memory).0, Rule::AllowInMemory);
}

// ---------------------------------------------------------------------------------------------
// Plans

fn at(h: u32) -> EventTime {
    EventTime::utc(NaiveDate::from_ymd_opt(2026, 3, 2).unwrap().and_hms_opt(h, 0, 0).unwrap())
}

fn event(subject: &str, privacy: Privacy) -> Record {
    Record::Event(Event {
        subject: Some(subject.into()),
        description: Some("Quarterly numbers, confidential".into()),
        location: Some("Board room".into()),
        timing: EventTiming { start: at(9), end: at(10) },
        recurrence: None,
        organizer: Some(Person { email: "ada@example.com".into(), name: None }),
        attendees: vec![Attendee {
            email: "grace@partner.example".into(),
            name: Some("Grace".into()),
            role: AttendeeRole::Required,
            response: ResponseStatus::Accepted,
        }],
        privacy,
        show_as: ShowAs::Busy,
        categories: vec!["Board".into()],
        crm_links: vec![],
        ical_uid: Some("uid-1@example.com".into()),
        custom: Default::default(),
    })
}

fn contact(email: &str, notes: &str) -> Record {
    let mut c = Contact {
        given_name: Some("Ada".into()),
        family_name: Some("Lovelace".into()),
        emails: vec![EmailAddress { kind: AddressKind::Work, address: email.into() }],
        notes: Some(notes.into()),
        ..Contact::default()
    };
    c.custom.insert("Margin__c".into(), "42%".into());
    Record::Contact(c)
}

struct Scenario {
    object: ObjectKind,
    config: ObjectConfig,
    pairs: PairIndex,
    crm: Vec<Change>,
    mailbox: Vec<Change>,
    mailbox_info: ConnectionInfo,
}

impl Scenario {
    fn new(object: ObjectKind) -> Self {
        // The events here are dated 2026 and the clock is 1970: no sync window.
        let mut config = ObjectConfig { window: None, ..ObjectConfig::default() };
        config.fields.custom.push(CustomFieldMapping {
            name: "margin".into(),
            crm: "Margin__c".into(),
            mailbox: "tandemMargin".into(),
        });
        let mut mailbox_info = ConnectionInfo::in_memory("graph");
        mailbox_info.principal = Some("ada@example.com".into());
        Scenario { object, config, pairs: PairIndex::default(), crm: vec![], mailbox: vec![], mailbox_info }
    }

    fn plan(&self) -> Plan {
        let caps = ObjectCapabilities::everything(self.object);
        plan(&PlanInput {
            object: self.object,
            config: &self.config,
            pairs: &self.pairs,
            mapped_pairs: self.pairs.len(),
            crm: SideInput { changes: &self.crm, capabilities: &caps },
            mailbox: SideInput { changes: &self.mailbox, capabilities: &caps },
            now: DateTime::UNIX_EPOCH,
            release_held_deletes: false,
            approved_deletes: &tandem_core::planner::NO_APPROVED_DELETES,
            mailbox_owner: None,
        })
    }

    fn apply(&self, policy: &Policy) -> (Plan, Vec<tandem_policy::PolicyDecision>) {
        let mut plan = self.plan();
        let decisions = policy.apply(
            &mut plan,
            &PlanContext {
                user: "ada@example.com",
                mailbox: &self.mailbox_info,
                config: &self.config,
                pairs: &self.pairs,
                crm_changes: &self.crm,
                mailbox_changes: &self.mailbox,
            },
        );
        (plan, decisions)
    }

    /// Runs the plan the way the engine does against an imaginary target: the pairs' next
    /// states become the known pairs (with the pending ids replaced).
    fn settle(&mut self, plan: &Plan) {
        let mut pairs: Vec<PairState> = self.pairs.iter().collect();
        for (id, next) in &plan.states {
            pairs.retain(|p| &p.pair_id != id);
            if let NextState::Put(state) = next {
                let mut state = state.clone();
                for side in Side::BOTH {
                    if state.side(side).id.is_pending() {
                        state.side_mut(side).id = tandem_core::state::RecordId::new("new-1");
                    }
                }
                pairs.push(state);
            }
        }
        self.pairs = PairIndex::new(pairs);
        self.crm.clear();
        self.mailbox.clear();
    }
}

fn with_data(data: DataRules) -> Policy {
    let policy = Policy { data, ..Policy::default() };
    policy.validate().unwrap();
    policy
}

fn creates(plan: &Plan) -> Vec<&Record> {
    plan.operations
        .iter()
        .filter_map(|op| match &op.action {
            Action::Create { record, .. } => Some(&**record),
            _ => None,
        })
        .collect()
}

fn mailbox_prints(plan: &Plan) -> &tandem_core::state::FieldPrints {
    match plan.states.values().next() {
        Some(NextState::Put(state)) => &state.mailbox.fields,
        other => panic!("expected one put state, got {other:?}"),
    }
}

#[test]
fn private_events_are_skipped_by_default() {
    let mut s = Scenario::new(ObjectKind::Event);
    s.crm.push(Change::upserted("00U1", "1", event("Board meeting", Privacy::Private)));
    s.crm.push(Change::upserted("00U2", "1", event("Team lunch", Privacy::Normal)));
    let (plan, decisions) = s.apply(&Policy::default());
    assert_eq!(creates(&plan).len(), 1, "{plan}");
    assert_eq!(decisions.len(), 1);
    let d = &decisions[0];
    assert_eq!((d.effect, &d.rule, d.operation.as_str()), (Effect::Deny, &Rule::PrivateEvents, "create"));
    assert_eq!(d.side, Some(Side::Crm));
    assert_eq!(d.record.as_ref().map(|r| r.as_str()), Some("00U1"));
    assert_eq!(plan.states.len(), 1, "a denied create leaves no pair state");
    assert!(plan.states.values().all(|n| matches!(n, NextState::Put(p) if p.crm.id.as_str() == "00U2")));
    let skip = plan.operations.iter().find(|op| matches!(op.action, Action::Skip { .. })).unwrap();
    assert!(skip.reason.contains("data.private_events"), "{}", skip.reason);
}

#[test]
fn private_events_can_sync_as_busy_only_placeholders() {
    let policy = with_data(DataRules { private_events: PrivateEvents::BusyOnly, ..DataRules::default() });
    let mut s = Scenario::new(ObjectKind::Event);
    s.crm.push(Change::upserted("00U1", "1", event("Board meeting", Privacy::Private)));
    let (plan, decisions) = s.apply(&policy);
    let created = creates(&plan);
    let Record::Event(e) = created[0] else { panic!() };
    assert_eq!(e.subject.as_deref(), Some("Busy"));
    assert_eq!((e.description.as_ref(), e.location.as_ref(), e.organizer.as_ref()), (None, None, None));
    assert!(e.attendees.is_empty() && e.categories.is_empty());
    assert_eq!(e.privacy, Privacy::Private);
    assert_eq!(e.timing, EventTiming { start: at(9), end: at(10) });
    assert_eq!(decisions.len(), 1);
    assert_eq!((decisions[0].effect, &decisions[0].rule), (Effect::Transform, &Rule::PrivateEvents));
    assert!(decisions[0].fields.contains(&FieldKey::Attendees));
    // The state records what was written, not the original.
    let prints = mailbox_prints(&plan);
    assert_eq!(prints[&FieldKey::Subject], FieldValue::Text("Busy".into()).fingerprint());
    assert_eq!(prints[&FieldKey::Description], fingerprint(None));

    // The original's description changes: nothing of it may reach the placeholder.
    s.settle(&plan);
    let Record::Event(mut edited) = event("Board meeting", Privacy::Private) else { panic!() };
    edited.description = Some("New confidential agenda".into());
    s.crm.push(Change::upserted("00U1", "2", Record::Event(edited.clone())));
    let before = s.pairs.iter().next().unwrap().mailbox.fields.clone();
    let (plan, decisions) = s.apply(&policy);
    assert!(plan.writes().next().is_none(), "{plan}");
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    assert_eq!(mailbox_prints(&plan), &before, "the placeholder's state is unchanged");

    // A move is carried, and only the move.
    s.settle(&plan);
    edited.timing = EventTiming { start: at(11), end: at(12) };
    edited.location = Some("Secret location".into());
    s.crm.push(Change::upserted("00U1", "3", Record::Event(edited)));
    let (plan, _) = s.apply(&policy);
    let patch: Vec<&FieldKey> = plan
        .writes()
        .flat_map(|op| match &op.action {
            Action::Update { patch, .. } => patch.iter().map(|c| &c.field).collect(),
            _ => vec![],
        })
        .collect();
    assert_eq!(patch, vec![&FieldKey::Timing], "{plan}");
    assert_eq!(mailbox_prints(&plan)[&FieldKey::Location], fingerprint(None));
}

#[test]
fn private_events_can_sync_in_full() {
    let policy = with_data(DataRules { private_events: PrivateEvents::Full, ..DataRules::default() });
    let mut s = Scenario::new(ObjectKind::Event);
    let original = event("Board meeting", Privacy::Private);
    s.crm.push(Change::upserted("00U1", "1", original.clone()));
    let (plan, decisions) = s.apply(&policy);
    assert!(decisions.is_empty());
    assert_eq!(creates(&plan), vec![&original]);
}

#[test]
fn a_private_placeholder_in_the_mailbox_denies_writes_under_skip() {
    // The pair was synced (busy-only) before; the policy is now `skip`: the mailbox copy's
    // recorded privacy says private, so nothing is written either way.
    let busy = with_data(DataRules { private_events: PrivateEvents::BusyOnly, ..DataRules::default() });
    let mut s = Scenario::new(ObjectKind::Event);
    s.crm.push(Change::upserted("00U1", "1", event("Board meeting", Privacy::Private)));
    let (plan, _) = s.apply(&busy);
    s.settle(&plan);
    let old = s.pairs.iter().next().unwrap().clone();
    s.mailbox.push(Change::upserted("new-1", "m2", {
        let mut r = event("Busy", Privacy::Private);
        if let Record::Event(e) = &mut r {
            e.description = None;
            e.location = None;
            e.attendees.clear();
            e.organizer = None;
            e.categories.clear();
            e.timing = EventTiming { start: at(13), end: at(14) };
        }
        r
    }));
    let (plan, decisions) = s.apply(&Policy::default());
    assert!(plan.writes().next().is_none(), "{plan}");
    assert_eq!(decisions[0].effect, Effect::Deny);
    assert!(!plan.states.contains_key(&old.pair_id), "a denied pair keeps its old state");
}

#[test]
fn an_excluded_domain_or_address_is_not_synced() {
    let policy = with_data(DataRules {
        excluded_domains: ["competitor.example".into()].into(),
        excluded_addresses: ["grace@partner.example".into()].into(),
        ..DataRules::default()
    });
    let mut s = Scenario::new(ObjectKind::Contact);
    s.crm.push(Change::upserted("003A", "1", contact("spy@EU.Competitor.example", "n")));
    s.crm.push(Change::upserted("003B", "1", contact("ada@example.com", "n")));
    s.mailbox.push(Change::upserted("AAA", "1", contact("rival@competitor.example", "n")));
    let (plan, decisions) = s.apply(&policy);
    assert_eq!(creates(&plan).len(), 1, "{plan}");
    assert_eq!(decisions.len(), 2);
    assert!(decisions.iter().all(|d| d.effect == Effect::Deny && d.rule == Rule::ExcludedDomains));
    assert!(decisions.iter().any(|d| d.side == Some(Side::Mailbox) && d.target == Some(Side::Crm)));
    assert!(decisions[0].reason.contains("competitor.example") && !decisions[0].reason.contains("spy"));

    // Events: by attendee, in either direction.
    let mut s = Scenario::new(ObjectKind::Event);
    s.mailbox.push(Change::upserted("AAE", "1", event("Partner sync", Privacy::Normal)));
    let (plan, decisions) = s.apply(&policy);
    assert!(plan.writes().next().is_none(), "{plan}");
    assert_eq!(decisions[0].rule, Rule::ExcludedAddresses);

    // A link of excluded records is denied too: no pair is made.
    let mut s = Scenario::new(ObjectKind::Contact);
    s.crm.push(Change::upserted("003A", "1", contact("spy@competitor.example", "n")));
    s.mailbox.push(Change::upserted("AAA", "1", contact("spy@competitor.example", "n")));
    let (plan, decisions) = s.apply(&policy);
    assert!(plan.states.is_empty(), "{plan}");
    assert_eq!(decisions[0].operation, "link");
}

#[test]
fn fields_that_never_leave_salesforce_are_removed_from_mailbox_writes() {
    let policy = with_data(DataRules {
        crm_only_fields: [FieldKey::Notes, FieldKey::Custom("Margin__c".into())].into(),
        ..DataRules::default()
    });
    let mut s = Scenario::new(ObjectKind::Contact);
    s.crm.push(Change::upserted("003A", "1", contact("ada@example.com", "Owes us money")));
    let (plan, decisions) = s.apply(&policy);
    let Record::Contact(c) = creates(&plan)[0] else { panic!() };
    assert_eq!(c.notes, None);
    assert!(c.custom.is_empty(), "custom field by its Salesforce name: {:?}", c.custom);
    assert_eq!(c.family_name.as_deref(), Some("Lovelace"));
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0].rule, Rule::CrmOnlyFields);
    assert_eq!(decisions[0].fields, vec![FieldKey::Notes, FieldKey::Custom("margin".into())]);
    let prints = mailbox_prints(&plan);
    assert_eq!(prints[&FieldKey::Notes], fingerprint(None));
    assert_eq!(prints[&FieldKey::Custom("margin".into())], fingerprint(None));

    // An edit of the notes in Salesforce writes nothing; an edit of the title writes the title.
    s.settle(&plan);
    let mut edited = contact("ada@example.com", "Owes us more money");
    if let Record::Contact(c) = &mut edited {
        c.title = Some("Countess".into());
    }
    s.crm.push(Change::upserted("003A", "2", edited));
    let (plan, decisions) = s.apply(&policy);
    let patch: Vec<&FieldKey> = plan
        .writes()
        .flat_map(|op| match &op.action {
            Action::Update { patch, .. } => patch.iter().map(|c| &c.field).collect(),
            _ => vec![],
        })
        .collect();
    assert_eq!(patch, vec![&FieldKey::Title], "{plan}");
    assert_eq!(decisions[0].fields, vec![FieldKey::Notes]);
    assert_eq!(mailbox_prints(&plan)[&FieldKey::Notes], fingerprint(None), "the mailbox still holds none");

    // Mailbox to Salesforce is not restricted.
    let mut s = Scenario::new(ObjectKind::Contact);
    s.mailbox.push(Change::upserted("AAA", "1", contact("ada@example.com", "From Outlook")));
    let (plan, decisions) = s.apply(&policy);
    assert!(decisions.is_empty());
    let Record::Contact(c) = creates(&plan)[0] else { panic!() };
    assert_eq!(c.notes.as_deref(), Some("From Outlook"));
}

#[test]
fn descriptions_are_cut_to_the_maximum_length() {
    let policy = with_data(DataRules { max_description_len: Some(5), ..DataRules::default() });
    let mut s = Scenario::new(ObjectKind::Contact);
    s.crm.push(Change::upserted("003A", "1", contact("ada@example.com", "Long  notes")));
    let (plan, decisions) = s.apply(&policy);
    let Record::Contact(c) = creates(&plan)[0] else { panic!() };
    assert_eq!(c.notes.as_deref(), Some("Long"), "cut, trailing blank dropped");
    assert_eq!(decisions[0].rule, Rule::MaxDescriptionLen);
    assert_eq!(mailbox_prints(&plan)[&FieldKey::Notes], FieldValue::Text("Long".into()).fingerprint());
    match &plan.operations[0].action {
        Action::Create { truncated, .. } => assert_eq!(truncated, &vec![FieldKey::Notes]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn writes_into_an_out_of_scope_mailbox_are_refused() {
    let mut policy = Policy::default();
    policy.providers.get_mut("graph").unwrap().mailboxes =
        Some(MailboxScope { domains: ["example.com".into()].into(), ..MailboxScope::default() });
    let mut s = Scenario::new(ObjectKind::Contact);
    s.crm.push(Change::upserted("003A", "1", contact("ada@example.com", "n")));
    s.mailbox.push(Change::upserted("AAA", "1", contact("bob@example.com", "n")));
    let (plan, decisions) = s.apply(&policy);
    assert_eq!(plan.writes().count(), 2, "in scope");
    assert!(decisions.is_empty());
    s.mailbox_info.principal = Some("mallory@evil.example".into());
    let (plan, decisions) = s.apply(&policy);
    assert_eq!(plan.writes().count(), 0, "{plan}");
    assert!(plan.states.is_empty());
    assert_eq!(decisions.len(), 2);
    assert!(decisions.iter().all(|d| d.rule == Rule::Mailboxes("graph".into()) && d.effect == Effect::Deny));
    assert_eq!(decisions[0].action(), "policy_deny");
}

#[test]
fn basic_auth_to_ews_is_refused_unless_a_policy_lists_it_and_then_only_over_tls() {
    let ews = |endpoint: &str| ConnectionInfo {
        provider: "ews".into(),
        method: "basic".into(),
        endpoints: vec![endpoint.into()],
        scopes: Vec::new(),
        principal: Some("ada@contoso.example".into()),
    };
    let (rule, reason) = denied(&Policy::default(), &ews("https://mail.contoso.example/EWS/Exchange.asmx"));
    assert_eq!(rule, Rule::Methods("ews".into()));
    assert!(reason.contains("password"), "{reason}");
    let listed = Policy::from_toml_str("[providers.ews]\nmethods = [\"ntlm\", \"basic\"]").unwrap();
    assert!(listed.check_connection(&ews("https://mail.contoso.example/EWS/Exchange.asmx")).is_ok());
    let (rule, _) = denied(&listed, &ews("http://mail.contoso.example/EWS/Exchange.asmx"));
    assert_eq!(rule, Rule::HttpsOnly, "never without TLS");
}
