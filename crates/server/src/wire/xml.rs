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
    only_xml_chars(format!(
        "{DECLARATION}\n<{action}Response xmlns=\"{ns}\">{result}<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>",
        ns = service.xml_namespace(),
        result = result.unwrap_or_default(),
    ))
}

/// Whether XML 1.0 allows `c` in a document at all (production `Char`), even as a reference.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// Whether `text` holds a character XML 1.0 forbids ([`is_xml_char`]), looked for byte by byte:
/// in UTF-8 those are the bytes below 0x20 but tab, newline and carriage return, and U+FFFE and
/// U+FFFF (`EF BF BE`, `EF BF BF`); a `str` holds no surrogates. Decoding every character
/// instead cost 9 400 instructions of a 146 000-instruction GetUser.
fn has_forbidden_char(text: &str) -> bool {
    let bytes = text.as_bytes();
    // A first pass without an early exit, which the compiler vectorizes: a control character
    // other than tab, newline and return, or the lead byte of U+F000..U+FFFF. Only text holding
    // one of those (rare) is looked at byte by byte.
    let suspect = bytes
        .iter()
        .fold(false, |seen, &b| seen | ((b < 0x20) & (b != b'\t') & (b != b'\n') & (b != b'\r')) | (b == 0xEF));
    suspect
        && bytes.iter().enumerate().any(|(i, &b)| match b {
            b'\t' | b'\n' | b'\r' => false,
            0..0x20 => true,
            0xEF => bytes.get(i + 1) == Some(&0xBF) && matches!(bytes.get(i + 2), Some(0xBE | 0xBF)),
            _ => false,
        })
}

/// Every body leaves through here (`success`, `error`), so every response is well-formed XML
/// whatever the input it echoes (messages quote names, serials, tag keys…). The serializer escapes
/// markup but passes control characters through; those can only come from text, never from
/// markup, so they are replaced in the finished document.
///
/// Replaced with U+FFFD rather than dropped: dropping would echo a *different* value
/// (`a\u{1}b` would read as `ab`, which may be another, existing name) and hide that the input
/// held something unusual; U+FFFD, the standard replacement character, keeps its place visible.
fn only_xml_chars(document: String) -> String {
    if !has_forbidden_char(&document) {
        return document;
    }
    document.chars().map(|c| if is_xml_char(c) { c } else { char::REPLACEMENT_CHARACTER }).collect()
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
    only_xml_chars(format!("{DECLARATION}\n{}", element("ErrorResponse", &body)))
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

    /// Every character XML 1.0 forbids, with its neighbours that it allows.
    const FORBIDDEN: &[char] =
        &['\u{0}', '\u{1}', '\u{8}', '\u{B}', '\u{C}', '\u{E}', '\u{1F}', '\u{FFFE}', '\u{FFFF}'];

    #[test]
    fn the_byte_check_finds_exactly_the_characters_xml_forbids() {
        for code in (0..=0x10FFFFu32).filter(|c| !(0xD800..=0xDFFF).contains(c)) {
            let c = char::from_u32(code).expect("a scalar value");
            for text in [format!("{c}"), format!("a{c}b"), format!("\u{FFFD}{c}\u{FFFD}")] {
                assert_eq!(has_forbidden_char(&text), !text.chars().all(is_xml_char), "U+{code:04X} in {text:?}");
            }
        }
    }

    #[test]
    fn forbidden_characters_never_reach_the_body() {
        for &c in FORBIDDEN {
            let message = format!("The user with name a{c}b cannot be found.");
            let body = error(Service::Iam, "Sender", "NoSuchEntity", &message, "r-3");
            assert!(!body.contains(c), "{c:?} went out raw: {body:?}");
            assert!(body.contains("a\u{FFFD}b cannot be found"), "{body:?}");

            #[derive(Serialize)]
            struct Tag<'a> {
                #[serde(rename = "Key")]
                key: &'a str,
            }
            let key = format!("k{c}");
            let result = element("ListUserTagsResult", &Tag { key: &key });
            let body = success(Service::Iam, "ListUserTags", Some(&result), "r-4");
            assert!(!body.contains(c), "{c:?} went out raw: {body:?}");
            assert!(body.contains("<Key>k\u{FFFD}</Key>"), "{body:?}");
        }
    }

    #[test]
    fn allowed_characters_pass_unchanged() {
        // (The serializer writes `\r` as `&#13;`, which is well-formed too.)
        let text = "tab\t nl\n space ~ \u{7F} \u{D7FF} \u{E000} \u{FFFD} \u{10000} \u{10FFFF} é 日本";
        let body = error(Service::Iam, "Sender", "ValidationError", text, "r-5");
        assert!(body.contains(&format!("<Message>{text}</Message>")), "{body:?}");
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
