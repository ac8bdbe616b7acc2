//! Time-zone names: Windows ⇄ IANA (CLDR `windowsZones`, territory `001`), Outlook display
//! names, and resolution of iCalendar `TZID`s.

use chrono_tz::Tz;

/// `(Windows zone, IANA zone, Outlook display name without the "(UTC+hh:mm)" prefix)`, one row per
/// Windows zone, with the CLDR `001` ("golden") mapping. IANA names are the current canonical
/// spellings (`Asia/Kolkata`, `Europe/Kyiv`), where CLDR still lists the old ones.
#[rustfmt::skip]
const WINDOWS_ZONES: &[(&str, &str, Option<&str>)] = &[
    ("Dateline Standard Time", "Etc/GMT+12", Some("International Date Line West")),
    ("UTC-11", "Etc/GMT+11", Some("Coordinated Universal Time-11")),
    ("Aleutian Standard Time", "America/Adak", Some("Aleutian Islands")),
    ("Hawaiian Standard Time", "Pacific/Honolulu", Some("Hawaii")),
    ("Marquesas Standard Time", "Pacific/Marquesas", Some("Marquesas Islands")),
    ("Alaskan Standard Time", "America/Anchorage", Some("Alaska")),
    ("UTC-09", "Etc/GMT+9", Some("Coordinated Universal Time-09")),
    ("Pacific Standard Time (Mexico)", "America/Tijuana", Some("Baja California")),
    ("UTC-08", "Etc/GMT+8", Some("Coordinated Universal Time-08")),
    (
        "Pacific Standard Time",
        "America/Los_Angeles",
        Some("Pacific Time (US & Canada)"),
    ),
    ("US Mountain Standard Time", "America/Phoenix", Some("Arizona")),
    ("Mountain Standard Time (Mexico)", "America/Mazatlan", Some("La Paz, Mazatlan")),
    (
        "Mountain Standard Time",
        "America/Denver",
        Some("Mountain Time (US & Canada)"),
    ),
    ("Yukon Standard Time", "America/Whitehorse", Some("Yukon")),
    ("Central America Standard Time", "America/Guatemala", Some("Central America")),
    (
        "Central Standard Time",
        "America/Chicago",
        Some("Central Time (US & Canada)"),
    ),
    ("Easter Island Standard Time", "Pacific/Easter", Some("Easter Island")),
    ("Central Standard Time (Mexico)", "America/Mexico_City", Some("Guadalajara, Mexico City, Monterrey")),
    ("Canada Central Standard Time", "America/Regina", Some("Saskatchewan")),
    ("SA Pacific Standard Time", "America/Bogota", Some("Bogota, Lima, Quito, Rio Branco")),
    ("Eastern Standard Time (Mexico)", "America/Cancun", Some("Chetumal")),
    (
        "Eastern Standard Time",
        "America/New_York",
        Some("Eastern Time (US & Canada)"),
    ),
    ("Haiti Standard Time", "America/Port-au-Prince", Some("Haiti")),
    ("Cuba Standard Time", "America/Havana", Some("Havana")),
    (
        "US Eastern Standard Time",
        "America/Indiana/Indianapolis",
        Some("Indiana (East)"),
    ),
    ("Turks And Caicos Standard Time", "America/Grand_Turk", Some("Turks and Caicos")),
    ("Paraguay Standard Time", "America/Asuncion", Some("Asuncion")),
    (
        "Atlantic Standard Time",
        "America/Halifax",
        Some("Atlantic Time (Canada)"),
    ),
    ("Venezuela Standard Time", "America/Caracas", Some("Caracas")),
    ("Central Brazilian Standard Time", "America/Cuiaba", Some("Cuiaba")),
    ("SA Western Standard Time", "America/La_Paz", Some("Georgetown, La Paz, Manaus, San Juan")),
    ("Pacific SA Standard Time", "America/Santiago", Some("Santiago")),
    ("Newfoundland Standard Time", "America/St_Johns", Some("Newfoundland")),
    ("Tocantins Standard Time", "America/Araguaina", Some("Araguaina")),
    ("E. South America Standard Time", "America/Sao_Paulo", Some("Brasilia")),
    ("SA Eastern Standard Time", "America/Cayenne", Some("Cayenne, Fortaleza")),
    ("Argentina Standard Time", "America/Argentina/Buenos_Aires", Some("City of Buenos Aires")),
    ("Greenland Standard Time", "America/Nuuk", Some("Greenland")),
    ("Montevideo Standard Time", "America/Montevideo", Some("Montevideo")),
    ("Magallanes Standard Time", "America/Punta_Arenas", Some("Punta Arenas")),
    ("Saint Pierre Standard Time", "America/Miquelon", Some("Saint Pierre and Miquelon")),
    ("Bahia Standard Time", "America/Bahia", Some("Salvador")),
    ("UTC-02", "Etc/GMT+2", Some("Coordinated Universal Time-02")),
    ("Azores Standard Time", "Atlantic/Azores", Some("Azores")),
    ("Cape Verde Standard Time", "Atlantic/Cape_Verde", Some("Cabo Verde Is.")),
    ("UTC", "UTC", Some("Coordinated Universal Time")),
    ("GMT Standard Time", "Europe/London", Some("Dublin, Edinburgh, Lisbon, London")),
    ("Greenwich Standard Time", "Atlantic/Reykjavik", Some("Monrovia, Reykjavik")),
    ("Sao Tome Standard Time", "Africa/Sao_Tome", Some("Sao Tome")),
    ("Morocco Standard Time", "Africa/Casablanca", Some("Casablanca")),
    ("W. Europe Standard Time", "Europe/Berlin", Some("Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna")),
    ("Central Europe Standard Time", "Europe/Budapest", Some("Belgrade, Bratislava, Budapest, Ljubljana, Prague")),
    ("Romance Standard Time", "Europe/Paris", Some("Brussels, Copenhagen, Madrid, Paris")),
    ("Central European Standard Time", "Europe/Warsaw", Some("Sarajevo, Skopje, Warsaw, Zagreb")),
    ("W. Central Africa Standard Time", "Africa/Lagos", Some("West Central Africa")),
    ("Jordan Standard Time", "Asia/Amman", Some("Amman")),
    ("GTB Standard Time", "Europe/Bucharest", Some("Athens, Bucharest")),
    ("Middle East Standard Time", "Asia/Beirut", Some("Beirut")),
    ("Egypt Standard Time", "Africa/Cairo", Some("Cairo")),
    ("E. Europe Standard Time", "Europe/Chisinau", Some("Chisinau")),
    ("Syria Standard Time", "Asia/Damascus", Some("Damascus")),
    ("West Bank Standard Time", "Asia/Hebron", Some("Gaza, Hebron")),
    ("South Africa Standard Time", "Africa/Johannesburg", Some("Harare, Pretoria")),
    ("FLE Standard Time", "Europe/Kyiv", Some("Helsinki, Kyiv, Riga, Sofia, Tallinn, Vilnius")),
    ("Israel Standard Time", "Asia/Jerusalem", Some("Jerusalem")),
    ("South Sudan Standard Time", "Africa/Juba", Some("Juba")),
    ("Kaliningrad Standard Time", "Europe/Kaliningrad", Some("Kaliningrad")),
    ("Sudan Standard Time", "Africa/Khartoum", Some("Khartoum")),
    ("Libya Standard Time", "Africa/Tripoli", Some("Tripoli")),
    ("Namibia Standard Time", "Africa/Windhoek", Some("Windhoek")),
    ("Arabic Standard Time", "Asia/Baghdad", Some("Baghdad")),
    ("Turkey Standard Time", "Europe/Istanbul", Some("Istanbul")),
    ("Arab Standard Time", "Asia/Riyadh", Some("Kuwait, Riyadh")),
    ("Belarus Standard Time", "Europe/Minsk", Some("Minsk")),
    ("Russian Standard Time", "Europe/Moscow", Some("Moscow, St. Petersburg")),
    ("E. Africa Standard Time", "Africa/Nairobi", Some("Nairobi")),
    ("Volgograd Standard Time", "Europe/Volgograd", Some("Volgograd")),
    ("Iran Standard Time", "Asia/Tehran", Some("Tehran")),
    ("Arabian Standard Time", "Asia/Dubai", Some("Abu Dhabi, Muscat")),
    ("Astrakhan Standard Time", "Europe/Astrakhan", Some("Astrakhan, Ulyanovsk")),
    ("Azerbaijan Standard Time", "Asia/Baku", Some("Baku")),
    ("Russia Time Zone 3", "Europe/Samara", Some("Izhevsk, Samara")),
    ("Mauritius Standard Time", "Indian/Mauritius", Some("Port Louis")),
    ("Saratov Standard Time", "Europe/Saratov", Some("Saratov")),
    ("Georgian Standard Time", "Asia/Tbilisi", Some("Tbilisi")),
    ("Caucasus Standard Time", "Asia/Yerevan", Some("Yerevan")),
    ("Afghanistan Standard Time", "Asia/Kabul", Some("Kabul")),
    ("West Asia Standard Time", "Asia/Tashkent", Some("Ashgabat, Tashkent")),
    ("Ekaterinburg Standard Time", "Asia/Yekaterinburg", Some("Ekaterinburg")),
    ("Pakistan Standard Time", "Asia/Karachi", Some("Islamabad, Karachi")),
    ("Qyzylorda Standard Time", "Asia/Qyzylorda", Some("Qyzylorda")),
    ("India Standard Time", "Asia/Kolkata", Some("Chennai, Kolkata, Mumbai, New Delhi")),
    ("Sri Lanka Standard Time", "Asia/Colombo", Some("Sri Jayawardenepura")),
    ("Nepal Standard Time", "Asia/Kathmandu", Some("Kathmandu")),
    ("Central Asia Standard Time", "Asia/Bishkek", Some("Bishkek")),
    ("Bangladesh Standard Time", "Asia/Dhaka", Some("Dhaka")),
    ("Omsk Standard Time", "Asia/Omsk", Some("Omsk")),
    (
        "Myanmar Standard Time",
        "Asia/Yangon",
        Some("Yangon (Rangoon)"),
    ),
    ("SE Asia Standard Time", "Asia/Bangkok", Some("Bangkok, Hanoi, Jakarta")),
    ("Altai Standard Time", "Asia/Barnaul", Some("Barnaul, Gorno-Altaysk")),
    ("W. Mongolia Standard Time", "Asia/Hovd", Some("Hovd")),
    ("North Asia Standard Time", "Asia/Krasnoyarsk", Some("Krasnoyarsk")),
    ("N. Central Asia Standard Time", "Asia/Novosibirsk", Some("Novosibirsk")),
    ("Tomsk Standard Time", "Asia/Tomsk", Some("Tomsk")),
    ("China Standard Time", "Asia/Shanghai", Some("Beijing, Chongqing, Hong Kong, Urumqi")),
    ("North Asia East Standard Time", "Asia/Irkutsk", Some("Irkutsk")),
    ("Singapore Standard Time", "Asia/Singapore", Some("Kuala Lumpur, Singapore")),
    ("W. Australia Standard Time", "Australia/Perth", Some("Perth")),
    ("Taipei Standard Time", "Asia/Taipei", Some("Taipei")),
    ("Ulaanbaatar Standard Time", "Asia/Ulaanbaatar", Some("Ulaanbaatar")),
    ("Aus Central W. Standard Time", "Australia/Eucla", Some("Eucla")),
    ("Transbaikal Standard Time", "Asia/Chita", Some("Chita")),
    ("Tokyo Standard Time", "Asia/Tokyo", Some("Osaka, Sapporo, Tokyo")),
    ("North Korea Standard Time", "Asia/Pyongyang", Some("Pyongyang")),
    ("Korea Standard Time", "Asia/Seoul", Some("Seoul")),
    ("Yakutsk Standard Time", "Asia/Yakutsk", Some("Yakutsk")),
    ("Cen. Australia Standard Time", "Australia/Adelaide", Some("Adelaide")),
    ("AUS Central Standard Time", "Australia/Darwin", Some("Darwin")),
    ("E. Australia Standard Time", "Australia/Brisbane", Some("Brisbane")),
    ("AUS Eastern Standard Time", "Australia/Sydney", Some("Canberra, Melbourne, Sydney")),
    ("West Pacific Standard Time", "Pacific/Port_Moresby", Some("Guam, Port Moresby")),
    ("Tasmania Standard Time", "Australia/Hobart", Some("Hobart")),
    ("Vladivostok Standard Time", "Asia/Vladivostok", Some("Vladivostok")),
    ("Lord Howe Standard Time", "Australia/Lord_Howe", Some("Lord Howe Island")),
    ("Bougainville Standard Time", "Pacific/Bougainville", Some("Bougainville Island")),
    ("Russia Time Zone 10", "Asia/Srednekolymsk", Some("Chokurdakh")),
    ("Magadan Standard Time", "Asia/Magadan", Some("Magadan")),
    ("Norfolk Standard Time", "Pacific/Norfolk", Some("Norfolk Island")),
    ("Sakhalin Standard Time", "Asia/Sakhalin", Some("Sakhalin")),
    ("Central Pacific Standard Time", "Pacific/Guadalcanal", Some("Solomon Is., New Caledonia")),
    ("Russia Time Zone 11", "Asia/Kamchatka", Some("Anadyr, Petropavlovsk-Kamchatsky")),
    ("New Zealand Standard Time", "Pacific/Auckland", Some("Auckland, Wellington")),
    ("UTC+12", "Etc/GMT-12", Some("Coordinated Universal Time+12")),
    ("Fiji Standard Time", "Pacific/Fiji", Some("Fiji")),
    ("Chatham Islands Standard Time", "Pacific/Chatham", Some("Chatham Islands")),
    ("UTC+13", "Etc/GMT-13", Some("Coordinated Universal Time+13")),
    ("Tonga Standard Time", "Pacific/Tongatapu", Some("Nuku'alofa")),
    ("Samoa Standard Time", "Pacific/Apia", Some("Samoa")),
    ("Line Islands Standard Time", "Pacific/Kiritimati", Some("Kiritimati Island")),
];

/// IANA zones that are not a `001` mapping but that Windows covers: other territories of CLDR's
/// table, old spellings, and links. Used by [`iana_to_windows`] only.
#[rustfmt::skip]
const EXTRA_IANA: &[(&str, &str)] = &[
    ("Etc/UTC", "UTC"),
    ("Etc/GMT", "UTC"),
    ("Etc/Universal", "UTC"),
    ("Etc/Zulu", "UTC"),
    ("GMT", "UTC"),
    ("Universal", "UTC"),
    ("Zulu", "UTC"),
    ("Europe/Dublin", "GMT Standard Time"),
    ("Europe/Lisbon", "GMT Standard Time"),
    ("Atlantic/Canary", "GMT Standard Time"),
    ("Atlantic/Madeira", "GMT Standard Time"),
    ("Atlantic/Faroe", "GMT Standard Time"),
    ("Europe/Guernsey", "GMT Standard Time"),
    ("Europe/Isle_of_Man", "GMT Standard Time"),
    ("Europe/Jersey", "GMT Standard Time"),
    ("Europe/Amsterdam", "W. Europe Standard Time"),
    ("Europe/Andorra", "W. Europe Standard Time"),
    ("Europe/Gibraltar", "W. Europe Standard Time"),
    ("Europe/Luxembourg", "W. Europe Standard Time"),
    ("Europe/Malta", "W. Europe Standard Time"),
    ("Europe/Monaco", "W. Europe Standard Time"),
    ("Europe/Oslo", "W. Europe Standard Time"),
    ("Europe/Rome", "W. Europe Standard Time"),
    ("Europe/San_Marino", "W. Europe Standard Time"),
    ("Europe/Stockholm", "W. Europe Standard Time"),
    ("Europe/Vaduz", "W. Europe Standard Time"),
    ("Europe/Vatican", "W. Europe Standard Time"),
    ("Europe/Vienna", "W. Europe Standard Time"),
    ("Europe/Zurich", "W. Europe Standard Time"),
    ("Europe/Busingen", "W. Europe Standard Time"),
    ("Arctic/Longyearbyen", "W. Europe Standard Time"),
    ("Europe/Brussels", "Romance Standard Time"),
    ("Europe/Copenhagen", "Romance Standard Time"),
    ("Europe/Madrid", "Romance Standard Time"),
    ("Africa/Ceuta", "Romance Standard Time"),
    ("Europe/Belgrade", "Central Europe Standard Time"),
    ("Europe/Bratislava", "Central Europe Standard Time"),
    ("Europe/Ljubljana", "Central Europe Standard Time"),
    ("Europe/Podgorica", "Central Europe Standard Time"),
    ("Europe/Prague", "Central Europe Standard Time"),
    ("Europe/Tirane", "Central Europe Standard Time"),
    ("Europe/Sarajevo", "Central European Standard Time"),
    ("Europe/Skopje", "Central European Standard Time"),
    ("Europe/Zagreb", "Central European Standard Time"),
    ("Europe/Athens", "GTB Standard Time"),
    ("Asia/Nicosia", "GTB Standard Time"),
    ("Asia/Famagusta", "GTB Standard Time"),
    ("Europe/Helsinki", "FLE Standard Time"),
    ("Europe/Kiev", "FLE Standard Time"),
    ("Europe/Mariehamn", "FLE Standard Time"),
    ("Europe/Riga", "FLE Standard Time"),
    ("Europe/Sofia", "FLE Standard Time"),
    ("Europe/Tallinn", "FLE Standard Time"),
    ("Europe/Vilnius", "FLE Standard Time"),
    ("Europe/Uzhgorod", "FLE Standard Time"),
    ("Europe/Zaporozhye", "FLE Standard Time"),
    ("Europe/Simferopol", "Russian Standard Time"),
    ("Europe/Kirov", "Russian Standard Time"),
    ("Africa/Harare", "South Africa Standard Time"),
    ("Africa/Maputo", "South Africa Standard Time"),
    ("Africa/Lusaka", "South Africa Standard Time"),
    ("Africa/Kinshasa", "W. Central Africa Standard Time"),
    ("Africa/Algiers", "W. Central Africa Standard Time"),
    ("Africa/Tunis", "W. Central Africa Standard Time"),
    ("Africa/Accra", "Greenwich Standard Time"),
    ("Africa/Abidjan", "Greenwich Standard Time"),
    ("Africa/Dakar", "Greenwich Standard Time"),
    ("Africa/Addis_Ababa", "E. Africa Standard Time"),
    ("Africa/Dar_es_Salaam", "E. Africa Standard Time"),
    ("Africa/Kampala", "E. Africa Standard Time"),
    ("Asia/Kuwait", "Arab Standard Time"),
    ("Asia/Qatar", "Arab Standard Time"),
    ("Asia/Bahrain", "Arab Standard Time"),
    ("Asia/Muscat", "Arabian Standard Time"),
    ("Asia/Tel_Aviv", "Israel Standard Time"),
    ("Asia/Istanbul", "Turkey Standard Time"),
    ("Asia/Calcutta", "India Standard Time"),
    ("Asia/Katmandu", "Nepal Standard Time"),
    ("Asia/Rangoon", "Myanmar Standard Time"),
    ("Asia/Almaty", "Central Asia Standard Time"),
    ("Asia/Jakarta", "SE Asia Standard Time"),
    ("Asia/Ho_Chi_Minh", "SE Asia Standard Time"),
    ("Asia/Saigon", "SE Asia Standard Time"),
    ("Asia/Phnom_Penh", "SE Asia Standard Time"),
    ("Asia/Vientiane", "SE Asia Standard Time"),
    ("Asia/Hong_Kong", "China Standard Time"),
    ("Asia/Macau", "China Standard Time"),
    ("Asia/Chongqing", "China Standard Time"),
    ("PRC", "China Standard Time"),
    ("Asia/Kuala_Lumpur", "Singapore Standard Time"),
    ("Asia/Manila", "Singapore Standard Time"),
    ("Asia/Makassar", "Singapore Standard Time"),
    ("Asia/Brunei", "Singapore Standard Time"),
    ("Japan", "Tokyo Standard Time"),
    ("Asia/Jayapura", "Tokyo Standard Time"),
    ("Australia/Melbourne", "AUS Eastern Standard Time"),
    ("Australia/Canberra", "AUS Eastern Standard Time"),
    ("Australia/ACT", "AUS Eastern Standard Time"),
    ("Australia/NSW", "AUS Eastern Standard Time"),
    ("Australia/Victoria", "AUS Eastern Standard Time"),
    ("Australia/Lindeman", "E. Australia Standard Time"),
    ("Australia/Broken_Hill", "Cen. Australia Standard Time"),
    ("Pacific/Guam", "West Pacific Standard Time"),
    ("NZ", "New Zealand Standard Time"),
    ("Antarctica/McMurdo", "New Zealand Standard Time"),
    ("America/Toronto", "Eastern Standard Time"),
    ("America/Detroit", "Eastern Standard Time"),
    ("America/Montreal", "Eastern Standard Time"),
    ("America/Nassau", "Eastern Standard Time"),
    ("America/Kentucky/Louisville", "Eastern Standard Time"),
    ("America/Louisville", "Eastern Standard Time"),
    ("US/Eastern", "Eastern Standard Time"),
    ("EST5EDT", "Eastern Standard Time"),
    ("America/Indianapolis", "US Eastern Standard Time"),
    ("US/East-Indiana", "US Eastern Standard Time"),
    ("America/Winnipeg", "Central Standard Time"),
    ("America/Matamoros", "Central Standard Time"),
    ("America/Indiana/Knox", "Central Standard Time"),
    ("America/Menominee", "Central Standard Time"),
    ("US/Central", "Central Standard Time"),
    ("CST6CDT", "Central Standard Time"),
    ("America/Monterrey", "Central Standard Time (Mexico)"),
    ("America/Merida", "Central Standard Time (Mexico)"),
    ("America/Edmonton", "Mountain Standard Time"),
    ("America/Boise", "Mountain Standard Time"),
    ("America/Ciudad_Juarez", "Mountain Standard Time"),
    ("US/Mountain", "Mountain Standard Time"),
    ("MST7MDT", "Mountain Standard Time"),
    ("America/Chihuahua", "Central Standard Time (Mexico)"),
    ("US/Arizona", "US Mountain Standard Time"),
    ("America/Vancouver", "Pacific Standard Time"),
    ("US/Pacific", "Pacific Standard Time"),
    ("PST8PDT", "Pacific Standard Time"),
    ("America/Juneau", "Alaskan Standard Time"),
    ("America/Sitka", "Alaskan Standard Time"),
    ("US/Alaska", "Alaskan Standard Time"),
    ("US/Hawaii", "Hawaiian Standard Time"),
    ("America/Puerto_Rico", "SA Western Standard Time"),
    ("America/Manaus", "SA Western Standard Time"),
    ("America/Santo_Domingo", "SA Western Standard Time"),
    ("America/Lima", "SA Pacific Standard Time"),
    ("America/Panama", "SA Pacific Standard Time"),
    ("America/Guayaquil", "SA Pacific Standard Time"),
    ("America/Jamaica", "SA Pacific Standard Time"),
    ("America/Costa_Rica", "Central America Standard Time"),
    ("America/El_Salvador", "Central America Standard Time"),
    ("America/Tegucigalpa", "Central America Standard Time"),
    ("America/Managua", "Central America Standard Time"),
    ("America/Buenos_Aires", "Argentina Standard Time"),
    ("America/Godthab", "Greenland Standard Time"),
    ("America/Fortaleza", "SA Eastern Standard Time"),
    ("America/Belem", "SA Eastern Standard Time"),
    ("America/Paramaribo", "SA Eastern Standard Time"),
    ("Brazil/East", "E. South America Standard Time"),
    ("America/St_Thomas", "SA Western Standard Time"),
    ("Pacific/Noumea", "Central Pacific Standard Time"),
    ("ROK", "Korea Standard Time"),
    ("ROC", "Taipei Standard Time"),
    ("Asia/Ulan_Bator", "Ulaanbaatar Standard Time"),
    ("GB", "GMT Standard Time"),
    ("Eire", "GMT Standard Time"),
    ("Portugal", "GMT Standard Time"),
    ("Poland", "Central European Standard Time"),
    ("W-SU", "Russian Standard Time"),
    ("Turkey", "Turkey Standard Time"),
    ("Israel", "Israel Standard Time"),
    ("Egypt", "Egypt Standard Time"),
    ("Iran", "Iran Standard Time"),
    ("Singapore", "Singapore Standard Time"),
    ("Hongkong", "China Standard Time"),
];

/// The IANA zone of a Windows time-zone name, e.g. `W. Europe Standard Time` → `Europe/Berlin`.
///
/// Uses the CLDR `windowsZones` mapping for territory `001` (every Windows zone is covered),
/// with current IANA spellings; `UTC` maps to `UTC`. Matching ignores ASCII case and surrounding
/// white space.
pub fn windows_to_iana(name: &str) -> Option<&'static str> {
    let name = name.trim();
    WINDOWS_ZONES.iter().find(|(windows, _, _)| windows.eq_ignore_ascii_case(name)).map(|(_, iana, _)| *iana)
}

/// The Windows time-zone name for an IANA zone, e.g. `Europe/Paris` → `Romance Standard Time`.
///
/// Covers every `001` zone of CLDR's table, their old spellings (`Asia/Calcutta`), and the
/// common zones of other territories (`Europe/Amsterdam` → `W. Europe Standard Time`,
/// `America/Toronto` → `Eastern Standard Time`). Matching ignores ASCII case.
pub fn iana_to_windows(name: &str) -> Option<&'static str> {
    let name = name.trim();
    WINDOWS_ZONES
        .iter()
        .find(|(_, iana, _)| iana.eq_ignore_ascii_case(name))
        .map(|(windows, _, _)| *windows)
        .or_else(|| EXTRA_IANA.iter().find(|(iana, _)| iana.eq_ignore_ascii_case(name)).map(|(_, w)| *w))
}

/// An IANA zone spelled exactly or up to ASCII case, in its canonical spelling.
fn iana(name: &str) -> Option<String> {
    if name.parse::<Tz>().is_ok() {
        return Some(name.to_owned());
    }
    chrono_tz::TZ_VARIANTS.iter().find(|tz| tz.name().eq_ignore_ascii_case(name)).map(|tz| tz.name().to_owned())
}

/// The lower-case words of an Outlook display name after its `(UTC+01:00)` prefix:
/// `(GMT+01.00) Amsterdam / Berlin` and `(UTC+01:00) Amsterdam, Berlin` both give
/// `["amsterdam", "berlin"]`.
fn display_words(name: &str) -> Vec<String> {
    let rest = match name.trim_start().strip_prefix('(') {
        Some(rest) => rest.split_once(')').map_or(rest, |(_, after)| after),
        None => name,
    };
    rest.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// Resolves an iCalendar `TZID` (or a Windows or display name) to an IANA zone name.
///
/// Tried in order: an IANA name, a Windows name, an IANA name up to case, the tail of a path-like
/// `TZID` (`/mozilla.org/20050126_1/Europe/Berlin`), an Outlook display name.
pub(crate) fn resolve(tzid: &str) -> Option<String> {
    let name = tzid.trim().trim_matches('"').trim();
    if name.is_empty() {
        return None;
    }
    if name.parse::<Tz>().is_ok() {
        return Some(name.to_owned());
    }
    if let Some(zone) = windows_to_iana(name).map(str::to_owned).or_else(|| iana(name)) {
        return Some(zone);
    }
    for (i, _) in name.match_indices('/') {
        let tail = &name[i + 1..];
        if let Some(zone) = iana(tail).or_else(|| windows_to_iana(tail).map(str::to_owned)) {
            return Some(zone);
        }
    }
    let words = display_words(name);
    if words.is_empty() {
        return None;
    }
    WINDOWS_ZONES
        .iter()
        .find(|(_, _, display)| display.is_some_and(|d| display_words(d) == words))
        .map(|(_, iana, _)| (*iana).to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_mapped_zone_exists_in_chrono_tz() {
        for (windows, iana, _) in WINDOWS_ZONES {
            assert!(iana.parse::<Tz>().is_ok(), "{windows} -> {iana}");
        }
        for (iana, windows) in EXTRA_IANA {
            assert!(iana.parse::<Tz>().is_ok(), "{iana}");
            assert!(windows_to_iana(windows).is_some(), "{iana} -> {windows} is not a Windows zone we know");
        }
    }

    #[test]
    fn table_has_no_duplicates() {
        let mut seen = std::collections::BTreeSet::new();
        for (windows, _, _) in WINDOWS_ZONES {
            assert!(seen.insert(windows.to_ascii_lowercase()), "{windows}");
        }
        // Reverse lookups are unambiguous only if each IANA name has one row.
        let mut seen = std::collections::BTreeSet::new();
        for iana in WINDOWS_ZONES.iter().map(|r| r.1).chain(EXTRA_IANA.iter().map(|r| r.0)) {
            assert!(seen.insert(iana.to_ascii_lowercase()), "{iana}");
        }
        assert!(WINDOWS_ZONES.len() >= 40);
    }

    #[test]
    fn common_windows_zones() {
        let cases = [
            ("Romance Standard Time", "Europe/Paris"),
            ("W. Europe Standard Time", "Europe/Berlin"),
            ("Pacific Standard Time", "America/Los_Angeles"),
            ("Eastern Standard Time", "America/New_York"),
            ("GMT Standard Time", "Europe/London"),
            ("Tokyo Standard Time", "Asia/Tokyo"),
            ("India Standard Time", "Asia/Kolkata"),
            ("AUS Eastern Standard Time", "Australia/Sydney"),
            ("Central Standard Time", "America/Chicago"),
            ("Mountain Standard Time", "America/Denver"),
            ("China Standard Time", "Asia/Shanghai"),
            ("Russian Standard Time", "Europe/Moscow"),
            ("E. South America Standard Time", "America/Sao_Paulo"),
            ("Singapore Standard Time", "Asia/Singapore"),
            ("Central Europe Standard Time", "Europe/Budapest"),
            ("FLE Standard Time", "Europe/Kyiv"),
            ("South Africa Standard Time", "Africa/Johannesburg"),
            ("Arabian Standard Time", "Asia/Dubai"),
            ("UTC", "UTC"),
        ];
        for (windows, iana) in cases {
            assert_eq!(windows_to_iana(windows), Some(iana), "{windows}");
            assert_eq!(iana_to_windows(iana), Some(windows), "{iana}");
        }
        assert_eq!(windows_to_iana(" w. europe standard time "), Some("Europe/Berlin"));
        assert_eq!(windows_to_iana("Mars Standard Time"), None);
    }

    #[test]
    fn reverse_lookup_covers_other_territories_and_old_names() {
        assert_eq!(iana_to_windows("Europe/Amsterdam"), Some("W. Europe Standard Time"));
        assert_eq!(iana_to_windows("Europe/Madrid"), Some("Romance Standard Time"));
        assert_eq!(iana_to_windows("Asia/Calcutta"), Some("India Standard Time"));
        assert_eq!(iana_to_windows("Europe/Kiev"), Some("FLE Standard Time"));
        assert_eq!(iana_to_windows("America/Toronto"), Some("Eastern Standard Time"));
        assert_eq!(iana_to_windows("Etc/UTC"), Some("UTC"));
        assert_eq!(iana_to_windows("europe/paris"), Some("Romance Standard Time"));
        assert_eq!(iana_to_windows("Mars/Olympus_Mons"), None);
        // Every 001 row maps back to its own Windows name.
        for (windows, iana, _) in WINDOWS_ZONES {
            assert_eq!(iana_to_windows(iana), Some(*windows));
        }
    }

    #[test]
    fn resolves_tzids() {
        let cases = [
            ("Europe/Berlin", "Europe/Berlin"),
            ("europe/berlin", "Europe/Berlin"),
            ("\"Europe/Berlin\"", "Europe/Berlin"),
            ("US/Pacific", "US/Pacific"),
            ("W. Europe Standard Time", "Europe/Berlin"),
            ("/mozilla.org/20050126_1/Europe/Berlin", "Europe/Berlin"),
            ("/freeassociation.sourceforge.net/Tzfile/America/New_York", "America/New_York"),
            ("(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna", "Europe/Berlin"),
            ("(GMT+01.00) Amsterdam / Berlin / Bern / Rome / Stockholm / Vienna", "Europe/Berlin"),
            ("(UTC-08:00) Pacific Time (US & Canada)", "America/Los_Angeles"),
            ("(UTC) Coordinated Universal Time", "UTC"),
            ("(UTC+00:00) Dublin, Edinburgh, Lisbon, London", "Europe/London"),
        ];
        for (tzid, zone) in cases {
            assert_eq!(resolve(tzid).as_deref(), Some(zone), "{tzid}");
        }
        for tzid in ["", "  ", "Customized Time Zone", "(UTC+01:00)", "Mars/Olympus_Mons", "/"] {
            assert_eq!(resolve(tzid), None, "{tzid}");
        }
    }
}
