//! placeholder (the Salesforce connector).
