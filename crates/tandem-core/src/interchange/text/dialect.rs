//! Dialects: which components iCalendar and vCard have, and which components each may appear in.

/// Which components a format has, and where they may stand.
pub(crate) struct Dialect {
    /// The outermost component: `VCALENDAR` or `VCARD`.
    pub(crate) root: &'static str,
    /// Components `ical` understands, each with the components it may appear in.
    pub(crate) known: &'static [(&'static str, &'static [&'static str])],
}

/// iCalendar as `ical::IcalParser` understands it.
pub(crate) const ICALENDAR: Dialect = Dialect {
    root: "VCALENDAR",
    known: &[
        ("VCALENDAR", &[]),
        ("VEVENT", &["VCALENDAR"]),
        ("VTODO", &["VCALENDAR"]),
        ("VJOURNAL", &["VCALENDAR"]),
        ("VFREEBUSY", &["VCALENDAR"]),
        ("VTIMEZONE", &["VCALENDAR"]),
        ("VALARM", &["VCALENDAR", "VEVENT", "VTODO"]),
        ("STANDARD", &["VTIMEZONE"]),
        ("DAYLIGHT", &["VTIMEZONE"]),
    ],
};

/// vCard as `ical::VcardParser` understands it.
pub(crate) const VCARD: Dialect = Dialect { root: "VCARD", known: &[("VCARD", &[])] };
