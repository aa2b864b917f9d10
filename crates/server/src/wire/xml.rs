//! XML documents as AWS's query protocol writes them.

use serde::Serialize;

use super::Service;

const DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// Serializes a result structure as `<{root}>…</{root}>`.
pub fn element<T: Serialize>(root: &str, value: &T) -> String {
    quick_xml::se::to_string_with_root(root, value).expect("response shapes always serialize")
}

/// `<{Op}Response xmlns=…>[<{Op}Result>…</{Op}Result>]<ResponseMetadata>…</{Op}Response>`.
pub fn success(service: Service, action: &str, result: Option<&str>, request_id: &str) -> String {
    format!(
        "{DECLARATION}\n<{action}Response xmlns=\"{ns}\">{result}<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>",
        ns = service.xml_namespace(),
        result = result.unwrap_or_default(),
    )
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    #[serde(rename = "@xmlns")]
    xmlns: &'a str,
    #[serde(rename = "Error")]
    error: ErrorDetail<'a>,
    #[serde(rename = "RequestId")]
    request_id: &'a str,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    #[serde(rename = "Type")]
    fault: &'a str,
    #[serde(rename = "Code")]
    code: &'a str,
    #[serde(rename = "Message")]
    message: &'a str,
}

/// `<ErrorResponse xmlns=…><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>`.
pub fn error(service: Service, fault: &str, code: &str, message: &str, request_id: &str) -> String {
    let body = ErrorBody { xmlns: service.xml_namespace(), error: ErrorDetail { fault, code, message }, request_id };
    format!("{DECLARATION}\n{}", element("ErrorResponse", &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_success_has_only_metadata() {
        assert_eq!(
            success(Service::Iam, "EnableMFADevice", None, "r-1"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<EnableMFADeviceResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">\
             <ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></EnableMFADeviceResponse>"
        );
    }

    #[test]
    fn error_document_escapes_text() {
        assert_eq!(
            error(Service::Sts, "Sender", "AccessDenied", "a <b> & c", "r-2"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
             <Error><Type>Sender</Type><Code>AccessDenied</Code><Message>a &lt;b&gt; &amp; c</Message></Error>\
             <RequestId>r-2</RequestId></ErrorResponse>"
        );
    }
}
