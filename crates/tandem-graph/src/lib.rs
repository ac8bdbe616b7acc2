//! placeholder (the Microsoft Graph connector).
