//! Faults and response messages: the SOAP fault envelope, the per-item success and error
//! messages, and the response envelope around them.

use std::fmt::Write as _;

use crate::ews::xml::{self, NS_E, NS_M, NS_SOAP, NS_T};

/// An error answered as a SOAP fault.
pub(crate) struct Fault {
    pub(super) code: &'static str,
    pub(super) message: String,
    pub(super) backoff: Option<u64>,
}

pub(super) fn schema(message: impl Into<String>) -> Fault {
    Fault {
        code: "ErrorSchemaValidation",
        message: format!("The request failed schema validation: {}", message.into()),
        backoff: None,
    }
}

/// A SOAP fault envelope as Exchange sends it.
pub(crate) fn fault(code: &str, message: &str, backoff: Option<u64>) -> String {
    let mut detail = format!(
        "<e:ResponseCode xmlns:e=\"{NS_E}\">{code}</e:ResponseCode><e:Message xmlns:e=\"{NS_E}\">{}</e:Message>",
        xml::escape(message)
    );
    if let Some(ms) = backoff {
        let _ = write!(
            detail,
            "<t:MessageXml xmlns:t=\"{NS_T}\"><t:Value Name=\"BackOffMilliseconds\">{ms}</t:Value></t:MessageXml>"
        );
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><s:Envelope xmlns:s=\"{NS_SOAP}\"><s:Body><s:Fault>\
         <faultcode xmlns:a=\"{NS_T}\">a:{code}</faultcode><faultstring xml:lang=\"en-US\">{}</faultstring>\
         <detail>{detail}</detail></s:Fault></s:Body></s:Envelope>",
        xml::escape(message)
    )
}

/// An error answered in a response message.
pub(super) struct MsgError {
    pub(super) code: &'static str,
    pub(super) text: String,
}

pub(super) fn err(code: &'static str, text: impl Into<String>) -> MsgError {
    MsgError { code, text: text.into() }
}

pub(super) fn error_message(op: &str, e: &MsgError, extra: &str) -> String {
    format!(
        "<m:{op}ResponseMessage ResponseClass=\"Error\"><m:MessageText>{}</m:MessageText><m:ResponseCode>{}</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>{extra}</m:{op}ResponseMessage>",
        xml::escape(&e.text),
        e.code
    )
}

pub(super) fn ok_message(op: &str, body: &str) -> String {
    format!(
        "<m:{op}ResponseMessage ResponseClass=\"Success\"><m:ResponseCode>NoError</m:ResponseCode>{body}</m:{op}ResponseMessage>"
    )
}

pub(super) fn envelope(op: &str, messages: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><s:Envelope xmlns:s=\"{NS_SOAP}\"><s:Header>\
         <h:ServerVersionInfo MajorVersion=\"15\" MinorVersion=\"1\" MajorBuildNumber=\"2507\" MinorBuildNumber=\"6\" Version=\"V2017_07_11\" xmlns:h=\"{NS_T}\"/>\
         </s:Header><s:Body><m:{op}Response xmlns:m=\"{NS_M}\" xmlns:t=\"{NS_T}\"><m:ResponseMessages>{messages}</m:ResponseMessages></m:{op}Response></s:Body></s:Envelope>"
    )
}
