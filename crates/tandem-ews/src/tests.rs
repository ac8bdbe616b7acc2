//! Parsing of canned EWS responses (shapes from Microsoft's EWS reference), request building
//! and robustness against garbage.

use std::time::Duration;

use proptest::prelude::*;
use tandem_connector::ConnectorError;
use tandem_core::model::{AttendeeRole, EventTime, ResponseStatus};

use crate::config::SyncKeyProperty;
use crate::map::{contact, event};
use crate::read::parse_sync;
use crate::xml::{self, Header, XmlWriter};

const MAX: usize = 1 << 20;

fn envelope(body: &str) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">
  <s:Header>
    <h:ServerVersionInfo MajorVersion="15" MinorVersion="1" MajorBuildNumber="2507" MinorBuildNumber="6" Version="V2017_07_11" xmlns:h="http://schemas.microsoft.com/exchange/services/2006/types" xmlns="http://schemas.microsoft.com/exchange/services/2006/types"/>
  </s:Header>
  <s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">
    {body}
  </s:Body>
</s:Envelope>"#
    )
    .into_bytes()
}

const NS: &str = r#"xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types""#;

#[test]
fn sync_folder_items_with_changes() {
    let body = envelope(&format!(
        r#"<m:SyncFolderItemsResponse {NS}>
      <m:ResponseMessages>
        <m:SyncFolderItemsResponseMessage ResponseClass="Success">
          <m:ResponseCode>NoError</m:ResponseCode>
          <m:SyncState>H4sIAAAAAAAEAO29B2AcSZ=</m:SyncState>
          <m:IncludesLastItemInRange>false</m:IncludesLastItemInRange>
          <m:Changes>
            <t:Create><t:Contact><t:ItemId Id="AAA1" ChangeKey="EQAAA1"/></t:Contact></t:Create>
            <t:Update><t:Contact><t:ItemId Id="AAA2" ChangeKey="EQAAA2"/></t:Contact></t:Update>
            <t:Delete><t:ItemId Id="AAA3" ChangeKey="EQAAA3"/></t:Delete>
            <t:ReadFlagChange><t:ItemId Id="AAA4" ChangeKey="x"/><t:IsRead>true</t:IsRead></t:ReadFlagChange>
            <t:Delete><t:ItemId Id="AAA1" ChangeKey="EQAAA1"/></t:Delete>
          </m:Changes>
        </m:SyncFolderItemsResponseMessage>
      </m:ResponseMessages>
    </m:SyncFolderItemsResponse>"#
    ));
    let m = xml::single(xml::parse_messages(&body, MAX).unwrap()).unwrap();
    let sync = parse_sync(&m.element).unwrap();
    assert_eq!(sync.state, "H4sIAAAAAAAEAO29B2AcSZ=");
    assert!(!sync.last);
    assert_eq!(sync.changes, vec![("AAA2".into(), true), ("AAA3".into(), false), ("AAA1".into(), false)]);
}

#[test]
fn invalid_sync_state_expires_the_cursor() {
    let body = envelope(&format!(
        r#"<m:SyncFolderItemsResponse {NS}><m:ResponseMessages>
        <m:SyncFolderItemsResponseMessage ResponseClass="Error">
          <m:MessageText>Synchronization state data is corrupt or otherwise invalid.</m:MessageText>
          <m:ResponseCode>ErrorInvalidSyncStateData</m:ResponseCode>
          <m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>
          <m:SyncState/>
          <m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>
        </m:SyncFolderItemsResponseMessage></m:ResponseMessages></m:SyncFolderItemsResponse>"#
    ));
    assert_eq!(xml::single(xml::parse_messages(&body, MAX).unwrap()), Err(ConnectorError::CursorExpired));
}

#[test]
fn get_item_contact() {
    let body = envelope(&format!(
        r#"<m:GetItemResponse {NS}><m:ResponseMessages>
        <m:GetItemResponseMessage ResponseClass="Success">
          <m:ResponseCode>NoError</m:ResponseCode>
          <m:Items>
            <t:Contact>
              <t:ItemId Id="AAMkAD" ChangeKey="EQAAAB"/>
              <t:Body BodyType="Text">Met at the &lt;conference&gt; &amp; dinner</t:Body>
              <t:LastModifiedTime>2026-01-05T08:00:00Z</t:LastModifiedTime>
              <t:ExtendedProperty>
                <t:ExtendedFieldURI PropertySetId="66F5A359-4659-4830-9070-00047EC6AC6E" PropertyName="TandemSyncId" PropertyType="String"/>
                <t:Value>pair-123</t:Value>
              </t:ExtendedProperty>
              <t:GivenName>Ada</t:GivenName>
              <t:CompanyName>Analytical Engines</t:CompanyName>
              <t:EmailAddresses>
                <t:Entry Key="EmailAddress1">ada@example.com</t:Entry>
                <t:Entry Key="EmailAddress3">ada@other.example</t:Entry>
              </t:EmailAddresses>
              <t:PhysicalAddresses>
                <t:Entry Key="Business"><t:Street>1 Main St</t:Street><t:City>London</t:City><t:CountryOrRegion>UK</t:CountryOrRegion></t:Entry>
              </t:PhysicalAddresses>
              <t:PhoneNumbers>
                <t:Entry Key="BusinessPhone">+44 1</t:Entry>
                <t:Entry Key="BusinessFax">+44 2</t:Entry>
                <t:Entry Key="AssistantPhone">+44 3</t:Entry>
                <t:Entry Key="OtherTelephone">+44 4</t:Entry>
                <t:Entry Key="Pager">+44 5</t:Entry>
              </t:PhoneNumbers>
              <t:Birthday>1815-12-10T00:00:00Z</t:Birthday>
              <t:JobTitle>Countess</t:JobTitle>
              <t:Surname>Lovelace</t:Surname>
            </t:Contact>
          </m:Items>
        </m:GetItemResponseMessage></m:ResponseMessages></m:GetItemResponse>"#
    ));
    let m = xml::single(xml::parse_messages(&body, MAX).unwrap()).unwrap();
    let item = m.element.at(&["Items", "Contact"]).unwrap();
    let c = contact::parse(item).unwrap();
    assert_eq!(c.given_name.as_deref(), Some("Ada"));
    assert_eq!(c.family_name.as_deref(), Some("Lovelace"));
    assert_eq!(c.notes.as_deref(), Some("Met at the <conference> & dinner"));
    assert_eq!(c.emails.len(), 2);
    assert_eq!(c.phones.len(), 4, "the pager has no slot in the model");
    assert_eq!(c.addresses[0].city.as_deref(), Some("London"));
    assert_eq!(crate::map::key_of(item, &SyncKeyProperty::default()).as_deref(), Some("pair-123"));
    assert_eq!(crate::map::item_id(item), Some(("AAMkAD".into(), "EQAAAB".into())));
}

#[test]
fn get_item_recurring_master_with_modified_and_deleted_occurrences() {
    let body = envelope(&format!(
        r#"<m:GetItemResponse {NS}><m:ResponseMessages>
        <m:GetItemResponseMessage ResponseClass="Success">
          <m:ResponseCode>NoError</m:ResponseCode>
          <m:Items>
            <t:CalendarItem>
              <t:ItemId Id="MASTER" ChangeKey="DwAAA"/>
              <t:Subject>Weekly sync</t:Subject>
              <t:Sensitivity>Normal</t:Sensitivity>
              <t:Body BodyType="Text">Agenda</t:Body>
              <t:Categories><t:String>CRM</t:String></t:Categories>
              <t:UID>040000008200E00074C5B7101A82E0080000000</t:UID>
              <t:Start>2026-01-05T08:00:00Z</t:Start>
              <t:End>2026-01-05T09:00:00Z</t:End>
              <t:IsAllDayEvent>false</t:IsAllDayEvent>
              <t:LegacyFreeBusyStatus>Busy</t:LegacyFreeBusyStatus>
              <t:Location>Room 1</t:Location>
              <t:CalendarItemType>RecurringMaster</t:CalendarItemType>
              <t:Organizer><t:Mailbox><t:Name>Bob</t:Name><t:EmailAddress>bob@example.com</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType></t:Mailbox></t:Organizer>
              <t:RequiredAttendees>
                <t:Attendee><t:Mailbox><t:Name>Ada</t:Name><t:EmailAddress>ada@example.com</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType></t:Mailbox><t:ResponseType>Accept</t:ResponseType></t:Attendee>
              </t:RequiredAttendees>
              <t:OptionalAttendees>
                <t:Attendee><t:Mailbox><t:EmailAddress>eve@example.com</t:EmailAddress></t:Mailbox><t:ResponseType>Tentative</t:ResponseType></t:Attendee>
              </t:OptionalAttendees>
              <t:Recurrence>
                <t:WeeklyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Monday</t:DaysOfWeek><t:FirstDayOfWeek>Monday</t:FirstDayOfWeek></t:WeeklyRecurrence>
                <t:NumberedRecurrence><t:StartDate>2026-01-05+01:00</t:StartDate><t:NumberOfOccurrences>10</t:NumberOfOccurrences></t:NumberedRecurrence>
              </t:Recurrence>
              <t:ModifiedOccurrences>
                <t:Occurrence><t:ItemId Id="EXC1" ChangeKey="x"/><t:Start>2026-01-12T10:00:00Z</t:Start><t:End>2026-01-12T11:00:00Z</t:End><t:OriginalStart>2026-01-12T08:00:00Z</t:OriginalStart></t:Occurrence>
              </t:ModifiedOccurrences>
              <t:DeletedOccurrences>
                <t:DeletedOccurrence><t:Start>2026-01-19T08:00:00Z</t:Start></t:DeletedOccurrence>
              </t:DeletedOccurrences>
              <t:StartTimeZone Id="Romance Standard Time" Name="(UTC+01:00) Brussels, Copenhagen, Madrid, Paris"/>
              <t:EndTimeZone Id="Romance Standard Time"/>
            </t:CalendarItem>
          </m:Items>
        </m:GetItemResponseMessage></m:ResponseMessages></m:GetItemResponse>"#
    ));
    let m = xml::single(xml::parse_messages(&body, MAX).unwrap()).unwrap();
    let item = m.element.at(&["Items", "CalendarItem"]).unwrap();
    let mut parsed = event::parse(item, "ada@example.com").unwrap();
    assert_eq!(parsed.item_type, "RecurringMaster");
    let e = &parsed.event;
    assert_eq!(e.organizer.as_ref().map(|p| p.email.as_str()), Some("bob@example.com"));
    assert_eq!(e.attendees.len(), 2);
    assert_eq!(e.attendees[0].response, ResponseStatus::Accepted);
    assert_eq!(e.attendees[1].role, AttendeeRole::Optional);
    let paris = |d: u32, h: u32| EventTime::Zoned {
        local: chrono::NaiveDate::from_ymd_opt(2026, 1, d).unwrap().and_hms_opt(h, 0, 0).unwrap(),
        zone: "Europe/Paris".into(),
    };
    assert_eq!(e.timing.start, paris(5, 9));
    let rec = e.recurrence.as_ref().unwrap();
    assert_eq!(rec.rules, vec!["FREQ=WEEKLY;BYDAY=MO;COUNT=10".to_owned()]);
    assert!(rec.cancelled.contains(&paris(19, 9)));
    assert_eq!(parsed.modified.len(), 1);

    // The exception, read with GetItem, becomes an override keyed by its original start.
    let mut moved = e.clone();
    moved.recurrence = None;
    moved.timing.start = paris(12, 11);
    moved.timing.end = paris(12, 12);
    moved.subject = Some("Weekly sync (moved)".into());
    let original = parsed.modified[0].1;
    event::apply_exceptions(&mut parsed, &[(original, moved)]).unwrap();
    let o = &parsed.event.recurrence.as_ref().unwrap().overrides[&paris(12, 9)];
    assert_eq!(o.subject.as_deref(), Some("Weekly sync (moved)"));
    assert!(o.timing.is_some());
    assert_eq!(o.location, None, "unchanged fields are not overrides");
}

#[test]
fn create_item_per_item_results() {
    let body = envelope(&format!(
        r#"<m:CreateItemResponse {NS}><m:ResponseMessages>
        <m:CreateItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>
          <m:Items><t:Contact><t:ItemId Id="NEW1" ChangeKey="EQ1"/></t:Contact></m:Items></m:CreateItemResponseMessage>
        <m:CreateItemResponseMessage ResponseClass="Error"><m:MessageText>The property has an invalid value.</m:MessageText>
          <m:ResponseCode>ErrorInvalidPropertyValue</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey><m:Items/></m:CreateItemResponseMessage>
        </m:ResponseMessages></m:CreateItemResponse>"#
    ));
    let results = crate::write::answers(&body).unwrap();
    assert_eq!(results[0].as_ref().unwrap().id.as_str(), "NEW1");
    assert_eq!(results[0].as_ref().unwrap().version.as_str(), "EQ1");
    assert!(matches!(&results[1], Err(ConnectorError::Rejected { code, .. }) if code == "ErrorInvalidPropertyValue"));
}

#[test]
fn update_item_conflicts_and_missing_items() {
    let body = envelope(&format!(
        r#"<m:UpdateItemResponse {NS}><m:ResponseMessages>
        <m:UpdateItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>
          <m:Items><t:CalendarItem><t:ItemId Id="A" ChangeKey="NEWCK"/></t:CalendarItem></m:Items>
          <m:ConflictResults><t:Count>0</t:Count></m:ConflictResults></m:UpdateItemResponseMessage>
        <m:UpdateItemResponseMessage ResponseClass="Error"><m:MessageText>Conflict</m:MessageText>
          <m:ResponseCode>ErrorIrresolvableConflict</m:ResponseCode><m:Items/></m:UpdateItemResponseMessage>
        <m:UpdateItemResponseMessage ResponseClass="Error"><m:MessageText>Not found</m:MessageText>
          <m:ResponseCode>ErrorItemNotFound</m:ResponseCode><m:Items/></m:UpdateItemResponseMessage>
        </m:ResponseMessages></m:UpdateItemResponse>"#
    ));
    let results = crate::write::answers(&body).unwrap();
    assert_eq!(results[0].as_ref().unwrap().version.as_str(), "NEWCK");
    assert_eq!(results[1], Err(ConnectorError::PreconditionFailed { current: None }));
    assert_eq!(results[2], Err(ConnectorError::NotFound));
}

#[test]
fn server_busy_fault_is_throttling_with_back_off() {
    let body = br#"<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">
  <s:Body>
    <s:Fault>
      <faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:ErrorServerBusy</faultcode>
      <faultstring xml:lang="en-US">The server cannot service this request right now. Try again later.</faultstring>
      <detail>
        <e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">ErrorServerBusy</e:ResponseCode>
        <e:Message xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">The server cannot service this request right now. Try again later.</e:Message>
        <t:MessageXml xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
          <t:Value Name="BackOffMilliseconds">297749</t:Value>
        </t:MessageXml>
      </detail>
    </s:Fault>
  </s:Body>
</s:Envelope>"#;
    assert_eq!(
        xml::parse_messages(body, MAX),
        Err(ConnectorError::Throttled { retry_after: Some(Duration::from_millis(297_749)) })
    );
}

#[test]
fn server_busy_in_a_response_message_is_throttling_for_the_call() {
    let body = envelope(&format!(
        r#"<m:GetItemResponse {NS}><m:ResponseMessages>
        <m:GetItemResponseMessage ResponseClass="Error"><m:MessageText>busy</m:MessageText>
          <m:ResponseCode>ErrorServerBusy</m:ResponseCode>
          <m:MessageXml><t:Value Name="BackOffMilliseconds">1500</t:Value></m:MessageXml>
        </m:GetItemResponseMessage></m:ResponseMessages></m:GetItemResponse>"#
    ));
    let messages = xml::parse_messages(&body, MAX).unwrap();
    assert_eq!(
        xml::call_level_error(&messages),
        Some(ConnectorError::Throttled { retry_after: Some(Duration::from_millis(1500)) })
    );
}

#[test]
fn soap_faults_map_onto_the_taxonomy() {
    let fault = |code: &str| {
        format!(
            r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>
            <faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:{code}</faultcode>
            <faultstring>fault {code}</faultstring>
            <detail><e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">{code}</e:ResponseCode></detail>
            </s:Fault></s:Body></s:Envelope>"#
        )
        .into_bytes()
    };
    assert!(matches!(xml::parse_messages(&fault("ErrorSchemaValidation"), MAX), Err(ConnectorError::Rejected { .. })));
    assert!(matches!(xml::parse_messages(&fault("ErrorImpersonateUserDenied"), MAX), Err(ConnectorError::Auth { .. })));
    assert!(matches!(xml::parse_messages(&fault("ErrorAccessDenied"), MAX), Err(ConnectorError::Auth { .. })));
    assert!(matches!(
        xml::parse_messages(&fault("ErrorInternalServerError"), MAX),
        Err(ConnectorError::Transient { .. })
    ));
    let plain = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>The request failed schema validation</faultstring></s:Fault></s:Body></s:Envelope>"#;
    assert!(matches!(xml::parse_messages(plain, MAX), Err(ConnectorError::Transient { .. })));
}

#[test]
fn malformed_oversized_and_hostile_bodies_are_typed_errors() {
    let transient = |b: &[u8]| matches!(xml::parse_messages(b, 4096), Err(ConnectorError::Transient { .. }));
    assert!(transient(b""));
    assert!(transient(b"<html><body>Service Unavailable</body></html>"));
    assert!(transient(b"<s:Envelope><s:Body>"));
    assert!(transient(b"<a></b>"));
    assert!(transient(b"\xff\xfe<a/>"));
    assert!(transient(&vec![b' '; 5000]));
    assert!(transient(br#"<!DOCTYPE lolz [<!ENTITY lol "lol">]><lolz>&lol;</lolz>"#));
    assert!(transient(b"<a>&unknown;</a>"));
    let deep = "<a>".repeat(100) + &"</a>".repeat(100);
    assert!(transient(deep.as_bytes()));
    assert_eq!(
        xml::parse(b"<a/><b/>", 100).map(|_| ()),
        Err(xml::XmlError::Malformed("content after the root element".into()))
    );
}

#[test]
fn requests_escape_every_value() {
    let evil = r#"x"/><t:Evil a="&amp;</t:PrimarySmtpAddress>"#;
    let bytes = xml::envelope(&Header { version: "Exchange2016", impersonate: Some(evil) }, |w| {
        w.open("m:FindFolder", &[("Traversal", "Shallow")]);
        w.empty("t:Constant", &[("Value", evil)]);
        w.text("t:DisplayName", evil);
        w.close("m:FindFolder");
    });
    let root = xml::parse(&bytes, MAX).unwrap();
    assert!(root.find("Evil").is_none(), "no injected element");
    assert_eq!(root.find("PrimarySmtpAddress").unwrap().text, evil);
    assert_eq!(root.find("Constant").unwrap().attr("Value"), Some(evil));
    assert_eq!(root.find("DisplayName").unwrap().text, evil);
    assert_eq!(root.find("RequestServerVersion").unwrap().attr("Version"), Some("Exchange2016"));
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.contains("<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>"));
}

#[test]
fn no_impersonation_header_for_delegated_connections() {
    let bytes =
        xml::envelope(&Header { version: "Exchange2013_SP1", impersonate: None }, |w| w.empty("m:GetFolder", &[]));
    let root = xml::parse(&bytes, MAX).unwrap();
    assert!(root.find("ExchangeImpersonation").is_none());
    assert_eq!(xml::body_of(&root).unwrap().name, "GetFolder");
}

#[test]
fn the_sync_key_is_written_as_a_named_string_property() {
    let mut w = XmlWriter::new();
    crate::map::write_key(&mut w, &SyncKeyProperty::default(), "key<1>");
    let root = xml::parse(&w.into_bytes(), MAX).unwrap();
    assert_eq!(
        crate::map::key_of(
            &xml::Element { name: "Item".into(), children: vec![root], ..Default::default() },
            &SyncKeyProperty::default()
        )
        .as_deref(),
        Some("key<1>")
    );
}

proptest! {
    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = xml::parse_messages(&bytes, 4096);
    }

    #[test]
    fn garbage_inside_an_envelope_never_panics(inner in "[<>/a-zA-Z:=\" &;#x0-9]{0,200}") {
        let _ = xml::parse_messages(&envelope(&inner), 1 << 16);
    }

    #[test]
    fn text_round_trips_through_writer_and_parser(value in "[^\u{0}-\u{1f}\u{7f}\u{fffe}\u{ffff}]{0,64}|[\t\n]{0,4}") {
        let mut w = XmlWriter::new();
        w.open("root", &[("attr", value.as_str())]);
        w.text("t:v", &value);
        w.close("root");
        let root = xml::parse(&w.into_bytes(), 1 << 16).unwrap();
        prop_assert_eq!(&root.child("v").unwrap().text, &value);
        prop_assert!(root.child("v").unwrap().children.is_empty());
    }
}
