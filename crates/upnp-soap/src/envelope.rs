//! SOAP 1.1 envelopes: action requests, their responses, and the body that is one or a fault.
//!
//! Requests are written compact, as routers expect: an XML declaration, the envelope with its
//! `encodingStyle`, the action element in the service's namespace, one element per argument,
//! values escaped. Responses are read tolerantly: any namespace prefix or a default namespace,
//! white space anywhere, no XML declaration, elements we do not know; values are trimmed, as
//! routers pad them.

use std::borrow::Cow;

use upnp_desc::xml::{self, Limits};
use xmltree::{Element, XMLNode};

use crate::error::{Error, echo};
use crate::fault::{ErrorCode, SoapFault, UpnpError};

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

/// The SOAP 1.1 envelope namespace.
pub const ENVELOPE_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The SOAP 1.1 encoding style UPnP requires on every envelope.
pub const ENCODING_STYLE: &str = "http://schemas.xmlsoap.org/soap/encoding/";
/// The Content-Type of a UPnP control request.
pub const CONTENT_TYPE: &str = "text/xml; charset=\"utf-8\"";
/// Most arguments one action takes or returns (the largest IGD action has 8).
pub const MAX_ARGUMENTS: usize = 64;

/// A call of one action on one service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionRequest {
    /// The service type, e.g. `urn:schemas-upnp-org:service:WANIPConnection:1`.
    pub service_type: String,
    /// The action, e.g. `AddPortMapping`.
    pub action: String,
    /// The input arguments, in the order the service declares them: (name, value).
    pub arguments: Vec<(String, String)>,
}

impl ActionRequest {
    /// A call of `action` on `service_type`, with no arguments yet.
    pub fn new(service_type: impl Into<String>, action: impl Into<String>) -> ActionRequest {
        ActionRequest {
            service_type: service_type.into(),
            action: action.into(),
            arguments: Vec::new(),
        }
    }

    /// Append an argument.
    pub fn argument(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.arguments.push((name.into(), value.into()));
        self
    }

    /// The SOAPAction header value, quoted: `"urn:...:service:NAME:V#Action"`.
    pub fn soap_action(&self) -> Result<String, Error> {
        self.check_names()?;
        Ok(format!("\"{}#{}\"", self.service_type, self.action))
    }

    /// The HTTP body: the compact envelope.
    pub fn encode(&self) -> Result<String, Error> {
        self.check_names()?;
        let mut body = format!("<u:{} xmlns:u=\"{}\">", self.action, self.service_type);
        push_arguments(&mut body, &self.arguments)?;
        body.push_str("</u:");
        body.push_str(&self.action);
        body.push('>');
        Ok(wrap(&body))
    }

    /// Read a request back from its body (what a device does; used to test our encoder).
    pub fn parse(bytes: &[u8]) -> Result<ActionRequest, Error> {
        let root = xml::parse(bytes, &Limits::SOAP)?;
        let element = body_element(&root)?;
        Ok(ActionRequest {
            service_type: element.namespace.clone().unwrap_or_default(),
            action: element.name.clone(),
            arguments: read_arguments(element)?,
        })
    }

    fn check_names(&self) -> Result<(), Error> {
        if !is_service_type(&self.service_type) {
            return Err(Error::InvalidName {
                what: "service type",
                name: echo(&self.service_type),
            });
        }
        check_name("action name", &self.action)?;
        if self.arguments.len() > MAX_ARGUMENTS {
            return Err(Error::TooManyArguments {
                limit: MAX_ARGUMENTS,
            });
        }
        Ok(())
    }
}

/// A successful answer: the action's output arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionResponse {
    /// The namespace of the response element: the service type, when the device gave one.
    pub service_type: Option<String>,
    /// The action answered (the response element's name without `Response`).
    pub action: String,
    /// The output arguments in the order sent: (name, value), values trimmed. An argument
    /// holding elements instead of text (some routers send GetListOfPortMappings' listing
    /// unescaped) has that markup as its value.
    pub arguments: Vec<(String, String)>,
}

impl ActionResponse {
    /// Parse the answer to `action`: its response, or [`Error::Fault`] when the device
    /// refused it.
    pub fn parse(bytes: &[u8], action: &str) -> Result<ActionResponse, Error> {
        match Reply::parse(bytes)? {
            Reply::Fault(fault) => Err(Error::Fault(fault)),
            Reply::Response(response) if response.action.eq_ignore_ascii_case(action) => {
                Ok(response)
            }
            Reply::Response(response) => Err(Error::UnexpectedElement {
                expected: format!("{action}Response"),
                found: format!("{}Response", echo(&response.action)),
            }),
        }
    }

    /// The value of the first argument with this name (ASCII case ignored).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.arguments
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The whole envelope, as a device sends it.
    pub fn encode(&self) -> Result<String, Error> {
        check_name("action name", &format!("{}Response", self.action))?;
        let mut body = match &self.service_type {
            Some(service_type) => {
                if !is_service_type(service_type) {
                    return Err(Error::InvalidName {
                        what: "service type",
                        name: echo(service_type),
                    });
                }
                format!("<u:{}Response xmlns:u=\"{}\">", self.action, service_type)
            }
            None => format!("<{}Response>", self.action),
        };
        push_arguments(&mut body, &self.arguments)?;
        match self.service_type {
            Some(_) => body.push_str("</u:"),
            None => body.push_str("</"),
        }
        body.push_str(&self.action);
        body.push_str("Response>");
        Ok(wrap(&body))
    }
}

/// What a control URL answers: a response or a fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The action succeeded.
    Response(ActionResponse),
    /// The device refused it.
    Fault(SoapFault),
}

impl Reply {
    /// Parse an envelope whose body is a response (any `...Response` element) or a fault.
    pub fn parse(bytes: &[u8]) -> Result<Reply, Error> {
        let root = xml::parse(bytes, &Limits::SOAP)?;
        let element = body_element(&root)?;
        if element.name == "Fault" {
            return Ok(Reply::Fault(SoapFault::from_element(element)));
        }
        let Some(action) = element.name.strip_suffix("Response") else {
            return Err(Error::UnexpectedElement {
                expected: "an action response or a Fault".to_owned(),
                found: echo(&element.name),
            });
        };
        Ok(Reply::Response(ActionResponse {
            service_type: element.namespace.clone(),
            action: action.to_owned(),
            arguments: read_arguments(element)?,
        }))
    }

    /// The whole envelope.
    pub fn encode(&self) -> Result<String, Error> {
        match self {
            Reply::Response(response) => response.encode(),
            Reply::Fault(fault) => fault.encode(),
        }
    }
}

/// The first element of the envelope's body.
fn body_element(root: &Element) -> Result<&Element, Error> {
    if root.name != "Envelope" {
        return Err(Error::NotEnvelope {
            found: echo(&root.name),
        });
    }
    xml::child(root, "Body")
        .and_then(|body| xml::elements(body).next())
        .ok_or(Error::NoBody)
}

fn read_arguments(element: &Element) -> Result<Vec<(String, String)>, Error> {
    let mut arguments = Vec::new();
    for argument in xml::elements(element) {
        if arguments.len() == MAX_ARGUMENTS {
            return Err(Error::TooManyArguments {
                limit: MAX_ARGUMENTS,
            });
        }
        let value = if xml::elements(argument).next().is_some() {
            inner_markup(argument)
        } else {
            xml::text(argument).unwrap_or_default()
        };
        arguments.push((argument.name.clone(), value));
    }
    Ok(arguments)
}

/// The child elements of `element`, written back as compact XML.
fn inner_markup(element: &Element) -> String {
    let config = xmltree::EmitterConfig::new()
        .perform_indent(false)
        .write_document_declaration(false);
    let mut out = Vec::new();
    for child in element.children.iter().filter_map(XMLNode::as_element) {
        // Writing a parsed tree to a Vec does not fail; if it did, the value is what was
        // written so far, and the layer reading it reports what is wrong with it.
        let _ = child.write_with_config(&mut out, config.clone());
    }
    String::from_utf8(out).unwrap_or_default().trim().to_owned()
}

fn push_arguments(out: &mut String, arguments: &[(String, String)]) -> Result<(), Error> {
    if arguments.len() > MAX_ARGUMENTS {
        return Err(Error::TooManyArguments {
            limit: MAX_ARGUMENTS,
        });
    }
    for (name, value) in arguments {
        check_name("argument name", name)?;
        let value = escape(value).ok_or_else(|| Error::Unencodable { name: echo(name) })?;
        out.push('<');
        out.push_str(name);
        out.push('>');
        out.push_str(&value);
        out.push_str("</");
        out.push_str(name);
        out.push('>');
    }
    Ok(())
}

/// `body` inside a SOAP envelope, with the XML declaration.
pub(crate) fn wrap(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?>\r\n<s:Envelope xmlns:s=\"{ENVELOPE_NS}\" \
         s:encodingStyle=\"{ENCODING_STYLE}\"><s:Body>{body}</s:Body></s:Envelope>\r\n"
    )
}

/// `value` escaped for element text or a quoted attribute; `None` when it holds a character
/// XML 1.0 cannot carry. Carriage returns are escaped so that they survive parsing.
pub(crate) fn escape(value: &str) -> Option<Cow<'_, str>> {
    let special = |c: char| matches!(c, '<' | '>' | '&' | '"' | '\'' | '\r') || !is_xml_char(c);
    if !value.contains(special) {
        return Some(Cow::Borrowed(value));
    }
    let mut out = String::with_capacity(value.len() + 16);
    for c in value.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            c if is_xml_char(c) => out.push(c),
            _ => return None,
        }
    }
    Some(Cow::Owned(out))
}

/// Whether XML 1.0 allows this character in a document.
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Whether `name` can be an element name without a prefix: ASCII letters, digits, `_`, `-`
/// and `.`, not starting with a digit, `-` or `.` (every UPnP name fits).
pub(crate) fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn check_name(what: &'static str, name: &str) -> Result<(), Error> {
    if is_name(name) {
        Ok(())
    } else {
        Err(Error::InvalidName {
            what,
            name: echo(name),
        })
    }
}

/// Whether a service type can go in a namespace attribute and a SOAPAction header: visible
/// ASCII, without quotes, `#`, `<`, `>`, `&` or `\`.
fn is_service_type(service_type: &str) -> bool {
    !service_type.is_empty()
        && service_type.len() <= xml::MAX_VALUE
        && service_type.bytes().all(|b| {
            b.is_ascii_graphic() && !matches!(b, b'"' | b'\'' | b'#' | b'<' | b'>' | b'&' | b'\\')
        })
}

/// The fault's own envelope: what a device sends when it refuses.
impl SoapFault {
    /// Parse a whole envelope whose body is a fault.
    pub fn parse(bytes: &[u8]) -> Result<SoapFault, Error> {
        match Reply::parse(bytes)? {
            Reply::Fault(fault) => Ok(fault),
            Reply::Response(response) => Err(Error::UnexpectedElement {
                expected: "Fault".to_owned(),
                found: format!("{}Response", response.action),
            }),
        }
    }

    /// Read the `Fault` element of a body.
    pub(crate) fn from_element(fault: &Element) -> SoapFault {
        use upnp_desc::xml::{child, child_text};
        let upnp_error = child(fault, "detail")
            .and_then(|detail| child(detail, "UPnPError"))
            .map(|error| UpnpError {
                code: child_text(error, "errorCode")
                    .and_then(|code| code.parse::<u32>().ok())
                    .map(ErrorCode::from),
                description: child_text(error, "errorDescription"),
            });
        SoapFault {
            fault_code: child_text(fault, "faultcode").unwrap_or_default(),
            fault_string: child_text(fault, "faultstring").unwrap_or_default(),
            upnp_error,
        }
    }

    /// The whole envelope, as a device sends it.
    pub fn encode(&self) -> Result<String, Error> {
        let mut body = String::from("<s:Fault>");
        push_element(&mut body, "faultcode", &self.fault_code)?;
        push_element(&mut body, "faultstring", &self.fault_string)?;
        if let Some(error) = &self.upnp_error {
            body.push_str(
                "<detail><UPnPError xmlns=\"urn:schemas-upnp-org:control-1-0\"><errorCode>",
            );
            if let Some(code) = error.code {
                body.push_str(&code.code().to_string());
            }
            body.push_str("</errorCode>");
            if let Some(description) = &error.description {
                push_element(&mut body, "errorDescription", description)?;
            }
            body.push_str("</UPnPError></detail>");
        }
        body.push_str("</s:Fault>");
        Ok(wrap(&body))
    }
}

fn push_element(out: &mut String, name: &str, value: &str) -> Result<(), Error> {
    out.push('<');
    out.push_str(name);
    out.push('>');
    out.push_str(&escape(value).ok_or_else(|| Error::Unencodable {
        name: name.to_owned(),
    })?);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
    Ok(())
}
