//! Properties as read back from `ical`: sentinel removed, vCard group split off, parameters
//! decoded.

use ical::property::Property;

use super::SENTINEL;
use super::escape::unescape;
use super::params::decode_param;

/// A property as read by `ical`, with the sentinel removed and parameters decoded.
#[derive(Debug, Clone)]
pub(crate) struct Prop {
    /// The name as written, without a vCard group prefix.
    pub(crate) raw_name: String,
    /// The name upper-cased, without a vCard group prefix.
    pub(crate) name: String,
    /// The vCard group (`item1` in `item1.EMAIL`), upper-cased.
    pub(crate) group: Option<String>,
    /// Parameters: upper-cased key, RFC 6868-decoded values.
    params: Vec<(String, Vec<String>)>,
    /// The value as written: still escaped.
    pub(crate) value: String,
}

/// `text` without the sentinel: taken as it is when it holds none (nearly always), so that
/// reading a property moves its text rather than copying it.
fn without_sentinel(mut text: String) -> String {
    if text.contains(SENTINEL) {
        text.retain(|c| c != SENTINEL);
    }
    text
}

impl Prop {
    /// The property `ical` read, its text moved in.
    pub(crate) fn from_ical(p: Property) -> Prop {
        let full = without_sentinel(p.name);
        let (group, raw_name) = match full.rsplit_once('.') {
            Some((group, name)) => (Some(group.to_ascii_uppercase()), name.to_owned()),
            None => (None, full),
        };
        let params = p
            .params
            .into_iter()
            .flatten()
            .map(|(k, vs)| {
                let mut key = without_sentinel(k);
                key.make_ascii_uppercase();
                (key, vs.iter().map(|v| decode_param(v)).collect())
            })
            .collect();
        Prop {
            name: raw_name.to_ascii_uppercase(),
            raw_name,
            group,
            params,
            value: without_sentinel(p.value.unwrap_or_default()),
        }
    }

    /// The first parameter `key`, its values joined with commas (as `ical` splits unquoted
    /// values on them).
    pub(crate) fn param(&self, key: &str) -> Option<String> {
        self.params.iter().find(|(k, _)| k == key).map(|(_, vs)| vs.join(","))
    }

    /// Every value of every parameter `key`, split on commas, trimmed and lower-cased: for
    /// `TYPE=WORK,VOICE;TYPE=pref` that is `work`, `voice`, `pref`.
    pub(crate) fn tokens(&self, key: &str) -> Vec<String> {
        self.params
            .iter()
            .filter(|(k, _)| k == key)
            .flat_map(|(_, vs)| vs.iter())
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_lowercase())
            .filter(|t| !t.is_empty())
            .collect()
    }

    /// The value as text, unescaped.
    pub(crate) fn text(&self) -> String {
        unescape(&self.value)
    }

    /// The value as text, or `None` when empty.
    pub(crate) fn text_opt(&self) -> Option<String> {
        Some(self.text()).filter(|t| !t.is_empty())
    }
}

/// Reads all of `ical`'s properties (their text moved, not copied).
pub(crate) fn props(properties: Vec<Property>) -> Vec<Prop> {
    properties.into_iter().map(Prop::from_ical).collect()
}
