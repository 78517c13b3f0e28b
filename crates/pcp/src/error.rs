//! The one error type of this crate.

use std::io;
use std::net::SocketAddr;

/// Everything that can go wrong while encoding, decoding or exchanging messages.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The datagram ends before the message does.
    #[error("{what} of {got} bytes is truncated: {needed} needed")]
    Truncated {
        /// What was being decoded.
        what: &'static str,
        /// Bytes needed to go on.
        needed: usize,
        /// Bytes there were.
        got: usize,
    },
    /// The datagram is larger than [`crate::MAX_MESSAGE_SIZE`].
    #[error("message of {size} bytes exceeds the {limit}-byte limit")]
    TooLarge {
        /// Size of the datagram received.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// The version byte is neither NAT-PMP's 0 nor PCP's 2.
    #[error("unknown protocol version {0}")]
    UnknownVersion(u8),
    /// A request where a response was expected, or the reverse.
    #[error("expected a {expected}, got a {found}")]
    UnexpectedDirection {
        /// `"request"` or `"response"`.
        expected: &'static str,
        /// What the datagram is.
        found: &'static str,
    },
    /// An opcode this crate does not know (NAT-PMP: 0-2; PCP: ANNOUNCE and MAP).
    #[error("version {version} opcode {opcode} is not supported")]
    UnknownOpcode {
        /// The protocol version of the message.
        version: u8,
        /// The opcode, without the response bit.
        opcode: u8,
    },
    /// A PCP option whose length runs past the message, or whose body has the wrong size.
    #[error("malformed PCP option {code}: {reason}")]
    MalformedOption {
        /// The option code.
        code: u8,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// More options than [`crate::MAX_OPTIONS`].
    #[error("more than {0} PCP options")]
    TooManyOptions(usize),
    /// A value that the message format cannot carry (a protocol NAT-PMP does not map, an IPv6
    /// address in NAT-PMP, an option body too long).
    #[error("cannot encode {what}: {reason}")]
    Unencodable {
        /// Which part of the message.
        what: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// No answer from the gateway before the exchange's deadline.
    #[error("no answer from the gateway at {0} in time")]
    TimedOut(SocketAddr),
    /// The gateway answered before the deadline, but never with the answer: every datagram
    /// from it was short, malformed, of the other version or about something else.
    #[error(
        "the gateway at {gateway} answered {count} times, never with a valid answer (the last: {last})"
    )]
    OddAnswers {
        /// The gateway.
        gateway: SocketAddr,
        /// How many datagrams it sent that were not the answer.
        count: u32,
        /// What was wrong with the last one.
        last: String,
    },
    /// Nothing listens on the gateway's NAT-PMP/PCP port (an ICMP port unreachable came
    /// back): it speaks neither protocol.
    #[error("nothing answers NAT-PMP or PCP at {0}")]
    PortUnreachable(SocketAddr),
    /// The default gateway could not be found.
    #[error("no default gateway: {0}")]
    NoGateway(String),
    /// An I/O error from the socket, with what was being done.
    #[error("{context}: {source}")]
    Io {
        /// What was being done: "bind", "send", ...
        context: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    #[cfg_attr(not(feature = "net"), allow(dead_code))]
    pub(crate) fn io(context: &'static str) -> impl FnOnce(io::Error) -> Error {
        move |source| Error::Io { context, source }
    }

    /// A truncated-message error for `what`, which needed `needed` bytes of `got`.
    pub(crate) fn truncated(what: &'static str, needed: usize, got: usize) -> Error {
        Error::Truncated { what, needed, got }
    }
}
