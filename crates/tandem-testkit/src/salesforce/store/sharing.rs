//! Sharing: who sees and edits which record (organisation-wide defaults, ownership, manual
//! shares, View All Data, follows through their parent).

use serde_json::Value;

use super::super::OrgWideDefault;
use super::{ApiError, Fields, Org};

impl Org {
    fn owd(&self, object: &str) -> Option<OrgWideDefault> {
        match object {
            "Contact" => Some(self.sharing.contact),
            "Account" => Some(self.sharing.account),
            "Lead" => Some(self.sharing.lead),
            _ => None,
        }
    }

    fn share_of(&self, record: &Fields, user: &str) -> Option<bool> {
        let id = record.get("Id").and_then(Value::as_str)?;
        self.shares.get(id).and_then(|m| m.get(user)).copied()
    }

    fn owns(record: &Fields, user: &str) -> bool {
        record.get("OwnerId").and_then(Value::as_str) == Some(user)
    }

    /// Whether `user` (`None`: the handle) sees `record` of `object`: Contact, Account and Lead
    /// by their organisation-wide default, ownership, shares and View All Data; a follow when its
    /// parent is visible; everything else (users, events, relations) always.
    pub(crate) fn can_see(&self, user: Option<&str>, object: &str, record: &Fields) -> bool {
        let Some(user) = user else { return true };
        if self.view_all.contains(user) {
            return true;
        }
        let name = self.object(object).map_or(object, |d| d.name);
        match self.owd(name) {
            Some(OrgWideDefault::Private) => Self::owns(record, user) || self.share_of(record, user).is_some(),
            Some(_) => true,
            None if name == "EntitySubscription" => {
                record.get("ParentId").and_then(Value::as_str).is_none_or(|p| self.id_visible(Some(user), p))
            }
            None => true,
        }
    }

    /// Whether `user` may edit (and delete) `record`: Contact, Account and Lead when the default
    /// is public read/write, the user owns it, has an edit share or Modify All Data (View All
    /// Data in the fake); a follow only its subscriber (or Modify All Data). Events keep their
    /// owner rule ([`Org::check_owner`]).
    pub(crate) fn can_edit(&self, user: Option<&str>, object: &str, record: &Fields) -> bool {
        let Some(u) = user else { return true };
        if self.view_all.contains(u) {
            return true;
        }
        let name = self.object(object).map_or(object, |d| d.name);
        match self.owd(name) {
            Some(OrgWideDefault::PublicReadWrite) => true,
            Some(_) => Self::owns(record, u) || self.share_of(record, u) == Some(true),
            None if name == "EntitySubscription" => record.get("SubscriberId").and_then(Value::as_str) == Some(u),
            None => true,
        }
    }

    /// Whether the record with this id (deleted or not) is visible to `user`; ids of objects the
    /// fake does not store count as visible.
    pub(super) fn id_visible(&self, user: Option<&str>, id: &str) -> bool {
        self.find(id).is_none_or(|(object, r)| self.can_see(user, object, &r))
    }

    /// Whether the request's user sees `record`.
    pub(crate) fn visible(&self, object: &str, record: &Fields) -> bool {
        self.can_see(self.viewer.as_deref(), object, record)
    }

    /// A manual share.
    pub(crate) fn share(&mut self, object: &str, id: &str, user: &str, edit: bool) -> Result<(), ApiError> {
        let def = self.object(object).ok_or_else(|| Self::unsupported(object))?;
        if self.owd(def.name).is_none() {
            return Err(ApiError::new("INVALID_TYPE", format!("{} has no sharing model in the fake", def.name), &[]));
        }
        let name = def.name;
        if self.get(name, id).is_none() || self.get("User", user).is_none() {
            return Err(ApiError::new("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", &[]));
        }
        self.shares.entry(id.to_owned()).or_default().insert(user.to_owned(), edit);
        Ok(())
    }

    pub(crate) fn grant_view_all(&mut self, user: &str) {
        self.view_all.insert(user.to_owned());
    }

    pub(super) fn no_access() -> ApiError {
        ApiError::new("INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id", &[])
    }
}
