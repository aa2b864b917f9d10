//! Reading back the XML the server writes, as a client's parser would.

use quick_xml::Reader;
use quick_xml::events::Event;

/// Whether XML 1.0 allows `c` in a document (production `Char`).
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// Parses `document` (panicking unless it is well-formed: one root element, end tags matching,
/// only XML characters, references resolvable to XML characters) and returns the text of its
/// `element`s, references resolved, in document order.
pub fn texts_of(document: &str, element: &str) -> Vec<String> {
    if let Some(c) = document.chars().find(|&c| !is_xml_char(c)) {
        panic!("{c:?} is not allowed in an XML document: {document:?}");
    }
    let mut reader = Reader::from_str(document);
    let mut depth = 0usize;
    let mut roots = 0;
    let mut open: Option<String> = None;
    let mut out = Vec::new();
    loop {
        let event = reader.read_event().unwrap_or_else(|e| panic!("not well-formed ({e}): {document:?}"));
        match event {
            Event::Eof => break,
            Event::Start(e) => {
                if depth == 0 {
                    roots += 1;
                }
                depth += 1;
                if e.name().as_ref() == element {
                    open = Some(String::new());
                }
            }
            Event::End(e) => {
                depth -= 1;
                if e.name().as_ref() == element
                    && let Some(text) = open.take()
                {
                    out.push(text);
                }
            }
            Event::Empty(e) => {
                if depth == 0 {
                    roots += 1;
                }
                if e.name().as_ref() == element {
                    out.push(String::new());
                }
            }
            Event::Text(t) => {
                assert!(depth > 0 || t.xml10_content().trim().is_empty(), "text outside the root: {document:?}");
                if let Some(text) = &mut open {
                    text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref() {
                    Ok(Some(c)) => c,
                    Ok(None) => match &*r.xml10_content() {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "quot" => '"',
                        "apos" => '\'',
                        other => panic!("undefined entity &{other}; in {document:?}"),
                    },
                    Err(e) => panic!("bad character reference ({e}) in {document:?}"),
                };
                assert!(is_xml_char(c), "a reference to {c:?} is not well-formed: {document:?}");
                if let Some(text) = &mut open {
                    text.push(c);
                }
            }
            Event::CData(_) | Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    assert_eq!((depth, roots), (0, 1), "one root element, closed: {document:?}");
    out
}
