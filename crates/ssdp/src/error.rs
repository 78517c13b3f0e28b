//! The one error type of this crate.

use std::io;

/// Everything that can go wrong while encoding, decoding or searching.
///
/// Values taken from the network are kept (shortened to [`MAX_ECHO`] bytes) so that a
/// log line shows what was received.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The datagram was empty.
    #[error("empty SSDP message")]
    Empty,
    /// The datagram is larger than [`crate::MAX_MESSAGE_SIZE`].
    #[error("SSDP message of {size} bytes exceeds the {limit}-byte limit")]
    TooLarge {
        /// Size of the datagram received (at least `limit + 1`).
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// The datagram is not UTF-8 text.
    #[error("SSDP message is not UTF-8 text")]
    NotUtf8,
    /// The first line is none of `HTTP/1.x STATUS`, `NOTIFY * HTTP/1.1`, `M-SEARCH * HTTP/1.1`.
    #[error("unrecognised SSDP start line {0:?}")]
    UnknownStartLine(String),
    /// A response whose status is not 200 OK.
    #[error("SSDP response with HTTP status {0}")]
    Status(u16),
    /// A header line without a colon, or with an empty or invalid name.
    #[error("malformed SSDP header line {0:?}")]
    MalformedHeader(String),
    /// A header the message kind requires is absent (or empty).
    #[error("SSDP message lacks the {0} header")]
    MissingHeader(&'static str),
    /// A header the message kind requires has a value we cannot use.
    #[error("SSDP header {name} has the invalid value {value:?}")]
    InvalidHeader {
        /// Header name, upper-case.
        name: &'static str,
        /// The value received.
        value: String,
    },
    /// A value to encode would break the message (a CR or LF, an empty header name, ...).
    #[error("cannot encode {what}: {value:?}")]
    Unencodable {
        /// Which part of the message.
        what: &'static str,
        /// The offending value.
        value: String,
    },
    /// The message decoded, but it is not of the kind asked for.
    #[error("expected an SSDP {expected}, got a {found}")]
    UnexpectedKind {
        /// The kind asked for.
        expected: &'static str,
        /// The kind received.
        found: &'static str,
    },
    /// A search was started with no search target.
    #[error("a search needs at least one search target")]
    NoTargets,
    /// No network interface has that name or index.
    #[error("no network interface {0:?}")]
    NoSuchInterface(String),
    /// The interface exists but has no address of the family searched (IPv4 or IPv6).
    #[error("network interface {interface:?} has no {family} address")]
    NoInterfaceAddress {
        /// The interface as given.
        interface: String,
        /// `"IPv4"` or `"IPv6"`.
        family: &'static str,
    },
    /// An I/O error from the socket, with what was being done.
    #[error("{context}: {source}")]
    Io {
        /// What was being done: "bind", "send M-SEARCH", ...
        context: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// How many bytes of a received value an [`Error`] keeps.
pub const MAX_ECHO: usize = 128;

/// Shorten a received value for an error message, on a character boundary.
pub(crate) fn echo(value: &str) -> String {
    if value.len() <= MAX_ECHO {
        return value.to_owned();
    }
    let mut end = MAX_ECHO;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    let mut s = value.get(..end).unwrap_or_default().to_owned();
    s.push('…');
    s
}

impl Error {
    #[cfg_attr(not(feature = "net"), allow(dead_code))]
    pub(crate) fn io(context: &'static str) -> impl FnOnce(io::Error) -> Error {
        move |source| Error::Io { context, source }
    }
}
