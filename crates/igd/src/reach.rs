//! Whether a mapping makes us reachable from outside, asked of a STUN server the caller
//! names (RFC 5389 Binding, RFC 5780 CHANGE-REQUEST). No I/O, no clock: bytes in, values
//! out; the codec is the `stun_codec` crate.
//!
//! A Binding request sent from the mapped port comes back with the address and port the
//! server saw it from. Compared with the mapping's external address and port, that gives a
//! [`Reachability`]: the same means one NAT, mapped; another address means a NAT in front
//! of ours that the mapping did not open (a second router, the ISP's carrier-grade NAT).
//! Where the server has a second address (RFC 5780: it names it in `OTHER-ADDRESS`), a
//! request asking it to answer from there ([`BindingRequest::change_address`]) proves that
//! a datagram from an address we never sent to comes in through the mapping.
//!
//! ```
//! use std::net::SocketAddr;
//! use upnp_igd::reach::{BindingAnswer, BindingRequest, Reachability};
//!
//! let request = BindingRequest::new([7; 12]);
//! let bytes = request.encode();
//! assert_eq!(BindingRequest::parse(&bytes).unwrap(), request);
//! // The server's answer: it saw us at 11.0.0.7:7777.
//! let seen: SocketAddr = "11.0.0.7:7777".parse().unwrap();
//! let answer = BindingAnswer::new([7; 12], seen).encode();
//! let answer = request.answered(&answer).unwrap();
//! assert_eq!(
//!     Reachability::judge(seen, Some(answer.mapped), None),
//!     Reachability::Reachable { inbound: false }
//! );
//! ```

use std::fmt;
use std::net::SocketAddr;

use bytecodec::{DecodeExt, EncodeExt};
use stun_codec::rfc5389::attributes::{
    ErrorCode, Fingerprint, MappedAddress, MessageIntegrity, Software, XorMappedAddress,
};
use stun_codec::rfc5389::methods::BINDING;
use stun_codec::rfc5780::attributes::{ChangeRequest, OtherAddress, ResponseOrigin};
use stun_codec::{Message, MessageClass, MessageDecoder, MessageEncoder, TransactionId};

use crate::error::Error;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

/// The STUN port (RFC 5389), where a server given without one is asked.
pub const STUN_PORT: u16 = 3478;

/// The largest answer read: a Binding answer is a few dozen bytes; anything over is refused
/// before it is decoded.
pub const MAX_ANSWER: usize = 1280;

/// When to send a request again after `sent` sends (RFC 5389 7.2.1: 500 ms, then twice as
/// long each time, 8 s at most between two).
pub fn resend_after(sent: u32) -> std::time::Duration {
    let millis = 500u64.saturating_mul(1u64 << sent.saturating_sub(1).min(4));
    std::time::Duration::from_millis(millis)
}

/// A STUN Binding request: what is sent from the mapped port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BindingRequest {
    /// Its transaction ID (random: only an answer naming it counts).
    pub transaction: [u8; 12],
    /// Ask the server to answer from its other address and port (RFC 5780
    /// `CHANGE-REQUEST`): an answer proves inbound reachability.
    pub change_address: bool,
}

/// What a server answered to a [`BindingRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingAnswer {
    /// The transaction ID it answers.
    pub transaction: [u8; 12],
    /// The address and port the server saw the request from (`XOR-MAPPED-ADDRESS`, else the
    /// older `MAPPED-ADDRESS`).
    pub mapped: SocketAddr,
    /// The server's other address and port, where it has one (RFC 5780 `OTHER-ADDRESS`).
    pub other_address: Option<SocketAddr>,
    /// Where the answer was sent from, as the server says (RFC 5780 `RESPONSE-ORIGIN`).
    pub response_origin: Option<SocketAddr>,
}

/// What a STUN server's view says of a mapping.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reachability {
    /// The server saw us at the mapping's external address and port: one NAT, mapped.
    /// `inbound`: an answer sent from the server's other address came in through it.
    Reachable {
        /// Proven from outside (RFC 5780), not only inferred.
        inbound: bool,
    },
    /// The server saw us at the mapping's address and port, but its answer from its other
    /// address (RFC 5780) did not come in: something in front of the mapping drops what we
    /// did not ask for (a second NAT that keeps ports, a firewall).
    Filtered {
        /// Where the server saw us.
        seen: SocketAddr,
    },
    /// The server saw our external address, but another port: the NAT did not send our
    /// datagram through the mapping (it may still let traffic in on the mapped port).
    OtherPort {
        /// Where the server saw us.
        seen: SocketAddr,
    },
    /// The server saw another address: a NAT in front of ours that the mapping does not
    /// open (a second router, the ISP's carrier-grade NAT).
    AnotherNat {
        /// Where the server saw us.
        seen: SocketAddr,
    },
    /// No answer: nothing can be said.
    Unknown,
}

impl Reachability {
    /// The verdict for a mapping whose external side is `external`, from the address the
    /// server saw (`None`: no answer) and whether an answer from its other address came in
    /// (`None`: the server has none, not asked).
    pub fn judge(
        external: SocketAddr,
        seen: Option<SocketAddr>,
        inbound: Option<bool>,
    ) -> Reachability {
        match seen {
            None => Reachability::Unknown,
            Some(seen) if seen.ip() != external.ip() => Reachability::AnotherNat { seen },
            Some(seen) if seen.port() != external.port() => Reachability::OtherPort { seen },
            Some(seen) if inbound == Some(false) => Reachability::Filtered { seen },
            Some(_) => Reachability::Reachable {
                inbound: inbound == Some(true),
            },
        }
    }

    /// The verdict's name, as the CLI prints it: `reachable`, `other-port`,
    /// `another-nat`, `unknown`.
    pub fn name(&self) -> &'static str {
        match self {
            Reachability::Reachable { .. } => "reachable",
            Reachability::Filtered { .. } => "filtered",
            Reachability::OtherPort { .. } => "other-port",
            Reachability::AnotherNat { .. } => "another-nat",
            Reachability::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Reachability {
    /// One line: `reachable (proven from outside)`, `another NAT: the server saw us at ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reachability::Reachable { inbound: true } => {
                f.write_str("reachable (an answer from the server's other address came in)")
            }
            Reachability::Reachable { inbound: false } => f.write_str("reachable"),
            Reachability::Filtered { seen } => write!(
                f,
                "filtered: the server saw us at {seen}, but its answer from its other address \
                 did not come in (a NAT or firewall in front of the mapping)"
            ),
            Reachability::OtherPort { seen } => write!(
                f,
                "the server saw us at {seen}: our external address, another port"
            ),
            Reachability::AnotherNat { seen } => write!(
                f,
                "another NAT: the server saw us at {seen}, not at the mapping's address"
            ),
            Reachability::Unknown => f.write_str("unknown: the STUN server did not answer"),
        }
    }
}

impl BindingRequest {
    /// A plain Binding request.
    pub fn new(transaction: [u8; 12]) -> BindingRequest {
        BindingRequest {
            transaction,
            change_address: false,
        }
    }

    /// Set [`BindingRequest::change_address`].
    pub fn change_address(mut self, change: bool) -> BindingRequest {
        self.change_address = change;
        self
    }

    /// Its bytes.
    pub fn encode(&self) -> Vec<u8> {
        let transaction = TransactionId::new(self.transaction);
        let mut message = Message::<Attr>::new(MessageClass::Request, BINDING, transaction);
        if self.change_address {
            message.add_attribute(ChangeRequest::new(true, true));
        }
        // A request of ours always encodes; an empty one would only be refused by the server.
        MessageEncoder::new()
            .encode_into_bytes(message)
            .unwrap_or_default()
    }

    /// Decode a Binding request (what a server reads; the tests' and fuzzers' round trip).
    pub fn parse(bytes: &[u8]) -> Result<BindingRequest, Error> {
        let message = decode(bytes)?;
        if message.class() != MessageClass::Request || message.method() != BINDING {
            return Err(Error::StunAnswer("not a Binding request"));
        }
        let change = message
            .get_attribute::<ChangeRequest>()
            .is_some_and(|c| c.ip() || c.port());
        Ok(BindingRequest {
            transaction: *message.transaction_id().as_bytes(),
            change_address: change,
        })
    }

    /// The answer to this request in `bytes`: a Binding success naming its transaction and
    /// the address the server saw. A Binding error is [`Error::StunRefused`]; anything
    /// else (another transaction, another message, garbage, over [`MAX_ANSWER`] bytes) is
    /// [`Error::StunAnswer`].
    pub fn answered(&self, bytes: &[u8]) -> Result<BindingAnswer, Error> {
        let answer = BindingAnswer::parse(bytes)?;
        if answer.transaction != self.transaction {
            return Err(Error::StunAnswer("an answer to another request"));
        }
        Ok(answer)
    }
}

impl BindingAnswer {
    /// The answer of a server that saw the request of `transaction` from `mapped`.
    pub fn new(transaction: [u8; 12], mapped: SocketAddr) -> BindingAnswer {
        BindingAnswer {
            transaction,
            mapped,
            other_address: None,
            response_origin: None,
        }
    }

    /// Decode a Binding success response (of any transaction; see
    /// [`BindingRequest::answered`]).
    pub fn parse(bytes: &[u8]) -> Result<BindingAnswer, Error> {
        let message = decode(bytes)?;
        if message.method() != BINDING {
            return Err(Error::StunAnswer("not a Binding answer"));
        }
        match message.class() {
            MessageClass::SuccessResponse => {}
            MessageClass::ErrorResponse => {
                let (code, reason) = message
                    .get_attribute::<ErrorCode>()
                    .map_or((0, String::new()), |e| {
                        (e.code(), e.reason_phrase().chars().take(128).collect())
                    });
                return Err(Error::StunRefused { code, reason });
            }
            _ => return Err(Error::StunAnswer("not a Binding answer")),
        }
        let mapped = message
            .get_attribute::<XorMappedAddress>()
            .map(XorMappedAddress::address)
            .or_else(|| {
                message
                    .get_attribute::<MappedAddress>()
                    .map(MappedAddress::address)
            })
            .ok_or(Error::StunAnswer("no mapped address in the answer"))?;
        let other_address = message
            .get_attribute::<OtherAddress>()
            .map(OtherAddress::address);
        let response_origin = message
            .get_attribute::<ResponseOrigin>()
            .map(ResponseOrigin::address);
        Ok(BindingAnswer {
            transaction: *message.transaction_id().as_bytes(),
            mapped,
            other_address,
            response_origin,
        })
    }

    /// Its bytes (`XOR-MAPPED-ADDRESS`, and RFC 5780's attributes where set).
    pub fn encode(&self) -> Vec<u8> {
        let transaction = TransactionId::new(self.transaction);
        let mut message = Message::<Attr>::new(MessageClass::SuccessResponse, BINDING, transaction);
        message.add_attribute(XorMappedAddress::new(self.mapped));
        if let Some(other) = self.other_address {
            message.add_attribute(OtherAddress::new(other));
        }
        if let Some(origin) = self.response_origin {
            message.add_attribute(ResponseOrigin::new(origin));
        }
        MessageEncoder::new()
            .encode_into_bytes(message)
            .unwrap_or_default()
    }
}

stun_codec::define_attribute_enums!(
    Attr,
    AttrDecoder,
    AttrEncoder,
    [
        XorMappedAddress,
        MappedAddress,
        ErrorCode,
        ChangeRequest,
        OtherAddress,
        ResponseOrigin,
        Software,
        MessageIntegrity,
        Fingerprint
    ]
);

/// A STUN message, decoded from at most [`MAX_ANSWER`] bytes.
fn decode(bytes: &[u8]) -> Result<Message<Attr>, Error> {
    if bytes.len() > MAX_ANSWER {
        return Err(Error::StunAnswer("larger than any STUN answer"));
    }
    match MessageDecoder::<Attr>::new().decode_from_bytes(bytes) {
        Ok(Ok(message)) => Ok(message),
        Ok(Err(_)) => Err(Error::StunAnswer("a malformed attribute")),
        Err(_) => Err(Error::StunAnswer("not a STUN message")),
    }
}
