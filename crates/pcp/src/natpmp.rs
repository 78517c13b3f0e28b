//! NAT-PMP (RFC 6886), version 0: external-address and mapping requests and their responses.
//!
//! | message | bytes |
//! | --- | --- |
//! | external-address request | version 0, opcode 0 |
//! | mapping request | version 0, opcode 1 (UDP) or 2 (TCP), reserved (2), internal port, suggested external port, lifetime (4) |
//! | every response | version 0, opcode + 128, result (2), seconds since the gateway's epoch (4), then the body |
//! | external-address body | the address (4) |
//! | mapping body | internal port, external port, lifetime (4) |

use std::fmt;
use std::net::Ipv4Addr;

use crate::error::Error;
use crate::protocol::Protocol;
use crate::wire::Reader;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

/// NAT-PMP's version number.
pub const NATPMP_VERSION: u8 = 0;

/// The bit that marks a response's opcode.
const RESPONSE_BIT: u8 = 128;

const OP_EXTERNAL: u8 = 0;
const OP_MAP_UDP: u8 = 1;
const OP_MAP_TCP: u8 = 2;

/// A request from a client to the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NatPmpRequest {
    /// What is your external address?
    ExternalAddress,
    /// Map `external_port` (a suggestion; 0: any) to our `internal_port` for `lifetime`
    /// seconds; a lifetime of 0 removes the mapping (its external port must then be 0).
    Map {
        /// UDP or TCP (NAT-PMP maps no other).
        protocol: Protocol,
        /// Our port.
        internal_port: u16,
        /// The external port asked for; the gateway may grant another.
        external_port: u16,
        /// Seconds; 0 removes.
        lifetime: u32,
    },
}

impl NatPmpRequest {
    /// Map `internal_port` for `lifetime` seconds, asking for `external_port`.
    pub fn map(
        protocol: Protocol,
        internal_port: u16,
        external_port: u16,
        lifetime: u32,
    ) -> NatPmpRequest {
        NatPmpRequest::Map {
            protocol,
            internal_port,
            external_port,
            lifetime,
        }
    }

    /// Remove our mapping of `internal_port` (RFC 6886 §3.4: lifetime 0, external port 0).
    pub fn unmap(protocol: Protocol, internal_port: u16) -> NatPmpRequest {
        NatPmpRequest::map(protocol, internal_port, 0, 0)
    }

    /// The opcode (without the response bit).
    pub fn opcode(&self) -> u8 {
        match self {
            NatPmpRequest::ExternalAddress => OP_EXTERNAL,
            NatPmpRequest::Map { protocol, .. } => map_opcode(*protocol).unwrap_or(u8::MAX),
        }
    }

    /// The datagram: 2 bytes for the external address, 12 for a mapping.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        match *self {
            NatPmpRequest::ExternalAddress => Ok(vec![NATPMP_VERSION, OP_EXTERNAL]),
            NatPmpRequest::Map {
                protocol,
                internal_port,
                external_port,
                lifetime,
            } => {
                let opcode = map_opcode(protocol).ok_or(Error::Unencodable {
                    what: "NAT-PMP protocol",
                    reason: "NAT-PMP maps UDP and TCP only",
                })?;
                let mut out = Vec::with_capacity(12);
                out.extend([NATPMP_VERSION, opcode, 0, 0]);
                out.extend(internal_port.to_be_bytes());
                out.extend(external_port.to_be_bytes());
                out.extend(lifetime.to_be_bytes());
                Ok(out)
            }
        }
    }

    /// Decode a request (what a gateway reads; used by tests and tools).
    pub fn parse(datagram: &[u8]) -> Result<NatPmpRequest, Error> {
        let mut r = Reader::new("NAT-PMP request", datagram);
        let version = r.u8()?;
        if version != NATPMP_VERSION {
            return Err(Error::UnknownVersion(version));
        }
        let opcode = r.u8()?;
        if opcode & RESPONSE_BIT != 0 {
            return Err(Error::UnexpectedDirection {
                expected: "request",
                found: "response",
            });
        }
        let protocol = match opcode {
            OP_EXTERNAL => return Ok(NatPmpRequest::ExternalAddress),
            OP_MAP_UDP => Protocol::Udp,
            OP_MAP_TCP => Protocol::Tcp,
            other => {
                return Err(Error::UnknownOpcode {
                    version,
                    opcode: other,
                });
            }
        };
        r.u16()?; // reserved
        Ok(NatPmpRequest::Map {
            protocol,
            internal_port: r.u16()?,
            external_port: r.u16()?,
            lifetime: r.u32()?,
        })
    }
}

fn map_opcode(protocol: Protocol) -> Option<u8> {
    match protocol {
        Protocol::Udp => Some(OP_MAP_UDP),
        Protocol::Tcp => Some(OP_MAP_TCP),
        Protocol::All | Protocol::Other(_) => None,
    }
}

/// A NAT-PMP result code (RFC 6886 §3.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NatPmpResult {
    /// 0: done.
    Success,
    /// 1: the gateway speaks another version (a PCP request sent to a NAT-PMP gateway gets this).
    UnsupportedVersion,
    /// 2: refused (e.g. the box has port mapping turned off).
    NotAuthorized,
    /// 3: the gateway has no external address (its WAN is down, or DHCP has not finished).
    NetworkFailure,
    /// 4: no ports left, or too many mappings.
    OutOfResources,
    /// 5: the gateway does not know the opcode.
    UnsupportedOpcode,
    /// Any other code (never one of the above).
    Other(u16),
}

impl NatPmpResult {
    /// The result with this code.
    pub fn from_code(code: u16) -> NatPmpResult {
        match code {
            0 => NatPmpResult::Success,
            1 => NatPmpResult::UnsupportedVersion,
            2 => NatPmpResult::NotAuthorized,
            3 => NatPmpResult::NetworkFailure,
            4 => NatPmpResult::OutOfResources,
            5 => NatPmpResult::UnsupportedOpcode,
            n => NatPmpResult::Other(n),
        }
    }

    /// Its code.
    pub fn code(self) -> u16 {
        match self {
            NatPmpResult::Success => 0,
            NatPmpResult::UnsupportedVersion => 1,
            NatPmpResult::NotAuthorized => 2,
            NatPmpResult::NetworkFailure => 3,
            NatPmpResult::OutOfResources => 4,
            NatPmpResult::UnsupportedOpcode => 5,
            NatPmpResult::Other(n) => n,
        }
    }

    /// Whether this is [`NatPmpResult::Success`].
    pub fn is_success(self) -> bool {
        self == NatPmpResult::Success
    }
}

impl fmt::Display for NatPmpResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            NatPmpResult::Success => "success",
            NatPmpResult::UnsupportedVersion => "unsupported version",
            NatPmpResult::NotAuthorized => "not authorized or refused",
            NatPmpResult::NetworkFailure => "network failure",
            NatPmpResult::OutOfResources => "out of resources",
            NatPmpResult::UnsupportedOpcode => "unsupported opcode",
            NatPmpResult::Other(n) => return write!(f, "NAT-PMP result {n}"),
        };
        write!(f, "{text} ({})", self.code())
    }
}

/// A response from the gateway (also what it multicasts to 224.0.0.1:5350 when its external
/// address changes: an external-address response).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NatPmpResponse {
    /// The answer to [`NatPmpRequest::ExternalAddress`].
    ExternalAddress {
        /// The outcome.
        result: NatPmpResult,
        /// Seconds since the gateway's epoch (its start, or the loss of its mappings).
        epoch: u32,
        /// The external address (0.0.0.0 when it has none).
        address: Ipv4Addr,
    },
    /// The answer to [`NatPmpRequest::Map`].
    Map {
        /// UDP or TCP.
        protocol: Protocol,
        /// The outcome.
        result: NatPmpResult,
        /// Seconds since the gateway's epoch.
        epoch: u32,
        /// Our port, as asked.
        internal_port: u16,
        /// The external port granted (it may differ from the one asked for).
        external_port: u16,
        /// The lifetime granted, in seconds.
        lifetime: u32,
    },
    /// A response with the common header only: what a gateway sends when it cannot read the
    /// request (an unsupported version or opcode). Never a success for opcodes 0-2.
    Bare {
        /// The opcode answered (without the response bit).
        opcode: u8,
        /// The outcome.
        result: NatPmpResult,
        /// Seconds since the gateway's epoch.
        epoch: u32,
    },
}

impl NatPmpResponse {
    /// The outcome.
    pub fn result(&self) -> NatPmpResult {
        match self {
            NatPmpResponse::ExternalAddress { result, .. }
            | NatPmpResponse::Map { result, .. }
            | NatPmpResponse::Bare { result, .. } => *result,
        }
    }

    /// Seconds since the gateway's epoch.
    pub fn epoch(&self) -> u32 {
        match self {
            NatPmpResponse::ExternalAddress { epoch, .. }
            | NatPmpResponse::Map { epoch, .. }
            | NatPmpResponse::Bare { epoch, .. } => *epoch,
        }
    }

    /// The opcode answered (without the response bit).
    pub fn opcode(&self) -> u8 {
        match self {
            NatPmpResponse::ExternalAddress { .. } => OP_EXTERNAL,
            NatPmpResponse::Map { protocol, .. } => map_opcode(*protocol).unwrap_or(u8::MAX),
            NatPmpResponse::Bare { opcode, .. } => *opcode,
        }
    }

    /// Decode a response. Bytes past the body are ignored.
    pub fn parse(datagram: &[u8]) -> Result<NatPmpResponse, Error> {
        if datagram.len() > crate::MAX_MESSAGE_SIZE {
            return Err(Error::TooLarge {
                size: datagram.len(),
                limit: crate::MAX_MESSAGE_SIZE,
            });
        }
        let mut r = Reader::new("NAT-PMP response", datagram);
        let version = r.u8()?;
        if version != NATPMP_VERSION {
            return Err(Error::UnknownVersion(version));
        }
        let op = r.u8()?;
        if op & RESPONSE_BIT == 0 {
            return Err(Error::UnexpectedDirection {
                expected: "response",
                found: "request",
            });
        }
        let opcode = op & !RESPONSE_BIT;
        let result = NatPmpResult::from_code(r.u16()?);
        let epoch = r.u32()?;
        let bare = NatPmpResponse::Bare {
            opcode,
            result,
            epoch,
        };
        match opcode {
            OP_EXTERNAL if r.remaining() >= 4 => Ok(NatPmpResponse::ExternalAddress {
                result,
                epoch,
                address: Ipv4Addr::from(r.array::<4>()?),
            }),
            OP_MAP_UDP | OP_MAP_TCP if r.remaining() >= 8 => Ok(NatPmpResponse::Map {
                protocol: if opcode == OP_MAP_UDP {
                    Protocol::Udp
                } else {
                    Protocol::Tcp
                },
                result,
                epoch,
                internal_port: r.u16()?,
                external_port: r.u16()?,
                lifetime: r.u32()?,
            }),
            OP_EXTERNAL | OP_MAP_UDP | OP_MAP_TCP if result.is_success() => {
                let body = if opcode == OP_EXTERNAL { 4 } else { 8 };
                Err(Error::truncated(
                    "NAT-PMP response",
                    8 + body,
                    datagram.len(),
                ))
            }
            _ => Ok(bare),
        }
    }

    /// The datagram.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(16);
        out.extend([NATPMP_VERSION, self.opcode() | RESPONSE_BIT]);
        out.extend(self.result().code().to_be_bytes());
        out.extend(self.epoch().to_be_bytes());
        match *self {
            NatPmpResponse::ExternalAddress { address, .. } => out.extend(address.octets()),
            NatPmpResponse::Map {
                protocol,
                internal_port,
                external_port,
                lifetime,
                ..
            } => {
                if map_opcode(protocol).is_none() {
                    return Err(Error::Unencodable {
                        what: "NAT-PMP protocol",
                        reason: "NAT-PMP maps UDP and TCP only",
                    });
                }
                out.extend(internal_port.to_be_bytes());
                out.extend(external_port.to_be_bytes());
                out.extend(lifetime.to_be_bytes());
            }
            NatPmpResponse::Bare { opcode, result, .. } => {
                if opcode & RESPONSE_BIT != 0 {
                    return Err(Error::Unencodable {
                        what: "NAT-PMP opcode",
                        reason: "opcodes are below 128",
                    });
                }
                if opcode <= OP_MAP_TCP && result.is_success() {
                    return Err(Error::Unencodable {
                        what: "NAT-PMP response",
                        reason: "a success carries its body",
                    });
                }
            }
        }
        Ok(out)
    }
}
