//! The one error type of this crate.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;
use upnp_desc::text::shown;

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
    #[error("expected a SOAP Envelope, found <{}>", shown(found, 64))]
    NotEnvelope {
        /// The local name of the root element.
        found: String,
    },
    /// The envelope has no `Body`, or the body holds no element.
    #[error("SOAP envelope has no Body element or an empty one")]
    NoBody,
    /// The body answers another action than the one called.
    #[error("expected <{expected}>, found <{}>", shown(found, 64))]
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
    #[error("argument {name} = \"{}\" is not {expected}", shown(value, 128))]
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
    #[error("HTTP status {status}")]
    Status {
        /// The status code.
        status: u16,
    },
    /// The response's status line and headers are larger than the cap.
    #[error("HTTP response head exceeds the {limit}-byte limit")]
    HeadTooLarge {
        /// The cap in force.
        limit: usize,
    },
    /// The body is larger than the cap for its kind.
    #[error("HTTP body exceeds the {limit}-byte limit")]
    BodyTooLarge {
        /// The cap in force.
        limit: usize,
    },
    /// The response is not well-formed HTTP/1.x, or frames its body in a way we refuse.
    #[error("invalid HTTP response: {0}")]
    Framing(#[from] Framing),
    /// The connection closed before the response was complete (a body shorter than its
    /// Content-Length, a chunked body without its last chunk, no response at all).
    #[error("the connection closed {stage}")]
    Truncated {
        /// Where the exchange was.
        stage: Stage,
    },
    /// The exchange did not finish within its deadline (or a connection attempt within its
    /// own). Nothing received extends a deadline.
    #[error("timed out after {} {stage}", Seconds(*after))]
    Timeout {
        /// The deadline that ran out, counted from its start.
        after: Duration,
        /// Where the exchange was.
        stage: Stage,
    },
    /// Resolving, connecting, sending or receiving failed (connection refused, reset, no
    /// route, a host name with no address).
    #[error("{source} {stage}")]
    Io {
        /// Where the exchange was.
        stage: Stage,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Whether the exchange itself failed (timed out, refused, reset, cut short), so no
    /// answer was read to judge. Retrying, or another route, may succeed.
    pub fn is_network(&self) -> bool {
        matches!(
            self,
            Error::Timeout { .. } | Error::Io { .. } | Error::Truncated { .. }
        )
    }

    /// Whether the device's HTTP answer was unusable as HTTP: a status that is neither a
    /// success nor a fault, or a response refused for its size or its framing.
    pub fn is_bad_http(&self) -> bool {
        matches!(
            self,
            Error::Status { .. }
                | Error::HeadTooLarge { .. }
                | Error::BodyTooLarge { .. }
                | Error::Framing(_)
        )
    }
}

/// Where an HTTP exchange was when it failed: said in its error.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Resolving the URL's host name.
    Resolving,
    /// Opening the TCP connection.
    Connecting {
        /// The address tried.
        to: SocketAddr,
    },
    /// Writing the request.
    Sending,
    /// Reading the status line and the headers.
    ReadingHead,
    /// Reading the body.
    ReadingBody {
        /// Bytes of the body received so far.
        received: u64,
        /// The length the response announced (Content-Length), if it did.
        expected: Option<u64>,
    },
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Resolving => f.write_str("while resolving the host name"),
            Stage::Connecting { to } => write!(f, "while connecting to {to}"),
            Stage::Sending => f.write_str("while sending the request"),
            Stage::ReadingHead => f.write_str("while reading the response head"),
            Stage::ReadingBody {
                received,
                expected: Some(expected),
            } => write!(f, "while reading the body ({received} of {expected} bytes)"),
            Stage::ReadingBody { received, .. } => {
                write!(f, "while reading the body ({received} bytes)")
            }
        }
    }
}

/// What is wrong with an HTTP response's head or with how it frames its body. Ambiguous
/// framing is refused rather than guessed (the way request smuggling starts).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Framing {
    /// The status line or a header is not HTTP/1.x (the parser's reason).
    #[error("malformed response head ({0})")]
    MalformedHead(&'static str),
    /// A Content-Length that is not a decimal number.
    #[error("invalid Content-Length")]
    InvalidContentLength,
    /// Several Content-Length values that differ.
    #[error("conflicting Content-Length values")]
    ConflictingContentLength,
    /// Both Transfer-Encoding and Content-Length.
    #[error("both Transfer-Encoding and Content-Length")]
    LengthWithTransferEncoding,
    /// A transfer coding other than `chunked` (we ask for none).
    #[error("unsupported transfer coding \"{}\"", shown(.0, 64))]
    UnsupportedTransferCoding(String),
    /// A chunk-size line that is not a hexadecimal size (or one too large for 64 bits).
    #[error("invalid chunk size")]
    InvalidChunkSize,
    /// A chunk-size line (with its extensions) longer than the cap.
    #[error("chunk size line longer than {0} bytes")]
    ChunkLineTooLong(usize),
    /// Chunk data not followed by CRLF.
    #[error("chunk data not followed by CRLF")]
    MissingChunkEnd,
    /// The trailer section after the last chunk is malformed.
    #[error("malformed trailer section")]
    MalformedTrailers,
    /// More interim (1xx) responses than the cap.
    #[error("more than {0} interim (1xx) responses")]
    TooManyInterimResponses(usize),
    /// A protocol switch (101) we never asked for.
    #[error("unrequested protocol switch (101)")]
    UnexpectedUpgrade,
}

/// A duration as people read it: `10 s`, `1.5 s`, `300 ms`.
struct Seconds(Duration);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms < 1000 {
            write!(f, "{ms} ms")
        } else if ms % 1000 == 0 {
            write!(f, "{} s", ms / 1000)
        } else {
            write!(f, "{:.1} s", self.0.as_secs_f64())
        }
    }
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
