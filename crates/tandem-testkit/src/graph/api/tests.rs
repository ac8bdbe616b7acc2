use super::request::quoted_after;
use super::router::template_of;

#[test]
fn templates() {
    assert_eq!(template_of(&["users", "a@b", "events", "X", "instances"]), "/users/{id}/events/{id}/instances");
    assert_eq!(
        template_of(&["users", "a", "contactFolders", "F", "contacts", "delta"]),
        "/users/{id}/contactFolders/{id}/contacts/delta"
    );
    assert_eq!(template_of(&["users", "a", "calendarView", "delta"]), "/users/{id}/calendarView/delta");
}

#[test]
fn quoted() {
    let f = "singleValueExtendedProperties/Any(ep: ep/id eq 'String {x} Name A' and ep/value eq 'it''s')";
    assert_eq!(quoted_after(f, "/id eq").as_deref(), Some("String {x} Name A"));
    assert_eq!(quoted_after(f, "/value eq").as_deref(), Some("it's"));
}
