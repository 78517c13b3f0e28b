//! The gate in front of the XML parser, shared by every crate that parses XML.
//!
//! xmltree's tree builder recurses once per nesting level with no limit (about 1 000 levels
//! overflow a 2 MiB thread stack and abort the process), and its parser expands DOCTYPE
//! entities by default (a 35 KB document can grow to 100 MB). So no document reaches it
//! before [`parse`] has checked, without recursion: its size, that it declares no DOCTYPE
//! or entity, and that its nesting and element count stay within [`Limits`]. The parser
//! itself then runs with tight limits of its own.
//!
//! UPnP requires UTF-8, and real routers send other bytes all the same (a Latin-1
//! `errorDescription`, a friendly name cut in the middle of a character): a document is never
//! refused for its encoding. One that declares ISO-8859-1 is read as Latin-1; otherwise each
//! invalid sequence becomes U+FFFD, and the parser reads the result as UTF-8.
//!
//! Helpers to read the tree by local name (any namespace prefix, or none) come with it.

use std::borrow::Cow;

use xmltree::{Element, ParserConfig, XMLNode};

use crate::error::Error;

#[cfg(test)]
mod tests;

/// Caps for one document.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest document, in bytes.
    pub max_bytes: usize,
    /// Deepest nesting of elements.
    pub max_depth: usize,
    /// Most elements in the document.
    pub max_elements: usize,
    /// Longest attribute value, in bytes (the parser enforces it). Element text is bounded
    /// by `max_bytes` here; the model layers cap the values they keep.
    pub max_value: usize,
}

impl Limits {
    /// For device descriptions and SCPDs: 256 KiB, 32 levels.
    pub const DESCRIPTION: Limits = Limits {
        max_bytes: 256 * 1024,
        max_depth: 32,
        max_elements: 16 * 1024,
        max_value: 16 * 1024,
    };

    /// For SOAP responses and faults: 64 KiB, 32 levels.
    pub const SOAP: Limits = Limits {
        max_bytes: 64 * 1024,
        max_depth: 32,
        max_elements: 4 * 1024,
        max_value: 64 * 1024,
    };
}

/// Check `bytes` against `limits`, then parse them into a tree.
pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Element, Error> {
    if bytes.len() > limits.max_bytes {
        return Err(Error::TooLarge {
            size: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    let text = decode(bytes);
    let text = text
        .trim_start_matches('\u{feff}')
        .trim_matches(|c: char| c.is_ascii_whitespace() || c == '\0');
    if text.is_empty() {
        return Err(Error::Empty);
    }
    prescan(text, limits)?;
    let config = ParserConfig::new()
        .trim_whitespace(true)
        .cdata_to_characters(true)
        .ignore_comments(true)
        .coalesce_characters(true)
        .allow_multiple_root_elements(false)
        .max_entity_expansion_depth(1)
        .max_entity_expansion_length(0)
        .max_name_length(256)
        .max_attributes(64)
        .max_attribute_length(limits.max_value)
        .override_encoding(Some(xml::Encoding::Utf8));
    // The text is UTF-8 now, whatever its declaration says: the parser reads it without one.
    Ok(Element::parse_with_config(
        without_declaration(text).as_bytes(),
        config,
    )?)
}

/// `text` without its XML declaration (`<?xml ...?>`), if it starts with one.
fn without_declaration(text: &str) -> &str {
    let Some(rest) = text.strip_prefix("<?xml") else {
        return text;
    };
    if !rest.starts_with(|c: char| c.is_ascii_whitespace()) {
        return text;
    }
    match rest.find("?>") {
        Some(end) => rest.get(end + 2..).unwrap_or_default(),
        None => text,
    }
}

/// The document as text: UTF-8 as it is; else Latin-1 when its declaration says so (every
/// byte is a character), else UTF-8 with each invalid sequence replaced by U+FFFD.
fn decode(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Cow::Borrowed(text);
    }
    let prolog = bytes.get(..bytes.len().min(128)).unwrap_or_default();
    let prolog = String::from_utf8_lossy(prolog).to_ascii_lowercase();
    let latin1 = prolog.trim_start().starts_with("<?xml")
        && ["iso-8859-1", "latin1", "latin-1"]
            .iter()
            .any(|name| prolog.contains(name));
    match latin1 {
        true => Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect()),
        false => String::from_utf8_lossy(bytes),
    }
}

/// Refuse DOCTYPEs and entities, and count nesting and elements, without recursion.
///
/// This is not an XML parser: it only needs to never under-count. Comments, CDATA sections,
/// processing instructions and quoted attribute values are skipped so that a `<` or `>` in
/// them is not taken for a tag. Whatever it lets through that is not well-formed, the parser
/// refuses afterwards.
fn prescan(text: &str, limits: &Limits) -> Result<(), Error> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut elements = 0usize;
    let mut i = 0usize;
    while let Some(offset) = bytes
        .get(i..)
        .and_then(|rest| rest.iter().position(|&b| b == b'<'))
    {
        i += offset;
        let rest = bytes.get(i..).unwrap_or_default();
        if rest.starts_with(b"<!--") {
            i = skip_past(bytes, i + 4, b"-->");
        } else if rest.starts_with(b"<![CDATA[") {
            i = skip_past(bytes, i + 9, b"]]>");
        } else if rest.starts_with(b"<?") {
            i = skip_past(bytes, i + 2, b"?>");
        } else if rest.starts_with(b"<!") {
            // <!DOCTYPE, <!ENTITY, <!ELEMENT, ...: none has a place in UPnP.
            return Err(Error::Doctype);
        } else if rest.starts_with(b"</") {
            depth = depth.saturating_sub(1);
            i = skip_tag(bytes, i + 2).0;
        } else {
            let (end, self_closing) = skip_tag(bytes, i + 1);
            elements += 1;
            if elements > limits.max_elements {
                return Err(Error::TooManyElements {
                    limit: limits.max_elements,
                });
            }
            if !self_closing {
                depth += 1;
                if depth > limits.max_depth {
                    return Err(Error::TooDeep {
                        limit: limits.max_depth,
                    });
                }
            }
            i = end;
        }
    }
    Ok(())
}

/// The index just past the next `end` at or after `from` (the text's end if there is none).
fn skip_past(bytes: &[u8], from: usize, end: &[u8]) -> usize {
    bytes
        .get(from..)
        .and_then(|rest| rest.windows(end.len()).position(|w| w == end))
        .map_or(bytes.len(), |p| from + p + end.len())
}

/// The index just past the `>` closing a tag that starts before `from`, skipping quoted
/// attribute values; and whether the tag closes itself (`/>`).
fn skip_tag(bytes: &[u8], from: usize) -> (usize, bool) {
    let mut quote = None;
    let mut previous = 0u8;
    for (offset, &b) in bytes.get(from..).unwrap_or_default().iter().enumerate() {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(b),
            (None, b'>') => return (from + offset + 1, previous == b'/'),
            (None, _) => {}
        }
        previous = b;
    }
    (bytes.len(), false)
}

/// The first child element with this local name (any namespace).
pub fn child<'a>(element: &'a Element, name: &str) -> Option<&'a Element> {
    elements(element).find(|e| e.name == name)
}

/// Every child element with this local name (any namespace), in document order.
pub fn children<'a>(element: &'a Element, name: &'a str) -> impl Iterator<Item = &'a Element> {
    elements(element).filter(move |e| e.name == name)
}

/// Every child element, in document order.
pub fn elements(element: &Element) -> impl Iterator<Item = &Element> {
    element.children.iter().filter_map(XMLNode::as_element)
}

/// The element's text, trimmed; `None` when empty.
pub fn text(element: &Element) -> Option<String> {
    let text = element.get_text()?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return None;
    }
    Some(match text {
        Cow::Borrowed(_) => trimmed.to_owned(),
        Cow::Owned(ref s) if s.len() == trimmed.len() => text.into_owned(),
        Cow::Owned(_) => trimmed.to_owned(),
    })
}

/// The text of the child with this local name, trimmed; `None` when absent or empty.
pub fn child_text(element: &Element, name: &str) -> Option<String> {
    child(element, name).and_then(text)
}

/// Longest value a model keeps (a name, a type, a URL), in bytes.
pub const MAX_VALUE: usize = 2048;

pub(crate) fn missing(path: &str) -> Error {
    Error::Missing {
        path: path.to_owned(),
    }
}

/// The trimmed text of a child, refused past [`MAX_VALUE`].
pub(crate) fn value(element: &Element, name: &str, path: &str) -> Result<Option<String>, Error> {
    match child_text(element, name) {
        Some(v) if v.len() > MAX_VALUE => Err(Error::ValueTooLong {
            path: path.to_owned(),
            limit: MAX_VALUE,
        }),
        v => Ok(v),
    }
}

/// Append `<name>text</name>` to `parent` when there is a text.
pub(crate) fn push_text(parent: &mut Element, name: &str, text: Option<&str>) {
    if let Some(text) = text {
        let mut e = Element::new(name);
        e.children.push(XMLNode::Text(text.to_owned()));
        parent.children.push(XMLNode::Element(e));
    }
}

/// `specVersion` (major, minor) under `root`, when present and numeric.
pub(crate) fn spec_version(root: &Element) -> Option<(u32, u32)> {
    let v = child(root, "specVersion")?;
    Some((
        child_text(v, "major")?.parse().ok()?,
        child_text(v, "minor")?.parse().ok()?,
    ))
}

/// A root element in `namespace` (as the default namespace), with its `specVersion` if any.
pub(crate) fn root_element(name: &str, namespace: &str, spec: Option<(u32, u32)>) -> Element {
    let mut root = Element::new(name);
    root.namespace = Some(namespace.to_owned());
    let mut ns = xmltree::Namespace::empty();
    ns.force_put("", namespace);
    root.namespaces = Some(ns);
    if let Some((major, minor)) = spec {
        let mut e = Element::new("specVersion");
        push_text(&mut e, "major", Some(&major.to_string()));
        push_text(&mut e, "minor", Some(&minor.to_string()));
        root.children.push(XMLNode::Element(e));
    }
    root
}
