//! iCalendar and vCard interchange.
