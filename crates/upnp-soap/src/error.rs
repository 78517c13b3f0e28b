//! The one error type of this crate.

use crate::fault::SoapFault;

/// Everything that can go wrong building a request, reading an answer, or exchanging them.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The device answered with a SOAP fault: the action was refused. The fault carries the
    /// UPnP error code and the device's own description.
    #[error("{0}")]
    Fault(#[from] SoapFault),
    /// The XML gate or the parser refused the document (too large, too deep, a DOCTYPE,
    /// malformed or truncated XML, ...).
    #[error("SOAP document refused: {0}")]
    Xml(#[from] upnp_desc::Error),
    /// The document's root element is not a SOAP `Envelope`.
    #[error("expected a SOAP Envelope, found <{found}>")]
    NotEnvelope {
        /// The local name of the root element.
        found: String,
    },
    /// The envelope has no `Body`, or the body holds no element.
    #[error("SOAP envelope has no Body element or an empty one")]
    NoBody,
    /// The body answers another action than the one called.
    #[error("expected <{expected}>, found <{found}>")]
    UnexpectedElement {
        /// The element expected, e.g. `AddPortMappingResponse`.
        expected: String,
        /// The element found.
        found: String,
    },
    /// More arguments than [`MAX_ARGUMENTS`](crate::envelope::MAX_ARGUMENTS).
    #[error("more than {limit} arguments in one action")]
    TooManyArguments {
        /// The cap in force.
        limit: usize,
    },
    /// An output argument the action must return is missing.
    #[error("{action} response lacks its {name} argument")]
    MissingArgument {
        /// The action.
        action: &'static str,
        /// The argument.
        name: &'static str,
    },
    /// An argument whose value is not of the type its state variable says.
    #[error("argument {name} = {value:?} is not {expected}")]
    InvalidArgument {
        /// The argument.
        name: &'static str,
        /// The value received (cut to 128 bytes).
        value: String,
        /// What it should have been, e.g. `"a port number"`.
        expected: &'static str,
    },
    /// A service type, action or argument name that cannot be written into an envelope or a
    /// SOAPAction header (empty, or characters XML names and URNs do not allow).
    #[error("invalid {what} {name:?}")]
    InvalidName {
        /// `"service type"`, `"action name"` or `"argument name"`.
        what: &'static str,
        /// The name (cut to 128 bytes).
        name: String,
    },
    /// An argument value with a character XML 1.0 cannot carry (a control character other
    /// than tab, line feed and carriage return).
    #[error("argument {name} holds a character XML cannot carry")]
    Unencodable {
        /// The argument.
        name: String,
    },
    /// A URL from the network that we refuse to contact.
    #[error("refusing URL {url}: {reason}")]
    ForbiddenUrl {
        /// The URL (cut to 128 bytes).
        url: String,
        /// Why: `"not http"`, `"loopback host"`, `"link-local host"`, ...
        reason: &'static str,
    },
    /// The HTTP status is neither a success nor a SOAP fault.
    #[cfg(feature = "http")]
    #[error("HTTP status {status}")]
    Status {
        /// The status code.
        status: u16,
    },
    /// The body is larger than the cap for its kind.
    #[cfg(feature = "http")]
    #[error("HTTP body exceeds the {limit}-byte limit")]
    BodyTooLarge {
        /// The cap in force.
        limit: usize,
    },
    /// The body ended before the length its Content-Length announced.
    #[cfg(feature = "http")]
    #[error("HTTP body truncated: {received} of {expected} bytes")]
    Truncated {
        /// The announced length.
        expected: u64,
        /// What arrived.
        received: u64,
    },
    /// The exchange did not finish within its timeout (connecting or as a whole).
    #[cfg(feature = "http")]
    #[error("HTTP exchange timed out")]
    Timeout,
    /// Connecting, sending or receiving failed (refused connection, reset, malformed HTTP,
    /// a body cut short).
    #[cfg(feature = "http")]
    #[error("HTTP exchange failed: {0}")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The longest piece of received text an error repeats.
pub(crate) const MAX_ECHO: usize = 128;

/// `text` cut to [`MAX_ECHO`] bytes, on a character boundary.
pub(crate) fn echo(text: &str) -> String {
    let mut end = text.len().min(MAX_ECHO);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default().to_owned()
}
