//! PCP (RFC 6887), version 2: MAP and ANNOUNCE requests and responses with their options,
//! and [`Response`], which reads a datagram of either version.
//!
//! | part | bytes |
//! | --- | --- |
//! | request header | version 2, opcode, reserved (2), lifetime (4), client address (16) |
//! | response header | version 2, opcode + 128, reserved, result, lifetime (4), epoch (4), reserved (12) |
//! | MAP body | nonce (12), protocol, reserved (3), internal port, external port, external address (16) |
//! | each option | code, reserved, length (2), data padded to 4 bytes |
//!
//! Addresses are 16 bytes: IPv4 as an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`).

use std::fmt;
use std::net::IpAddr;

use crate::error::Error;
use crate::natpmp::{NATPMP_VERSION, NatPmpResponse};
use crate::protocol::Protocol;
use crate::wire::{Reader, to_field};
use crate::{MAX_MESSAGE_SIZE, MAX_OPTIONS};

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

/// PCP's version number.
pub const PCP_VERSION: u8 = 2;

/// The UDP port gateways listen on, for both NAT-PMP and PCP.
pub const SERVER_PORT: u16 = 5351;

/// The UDP port clients hear the gateway's announcements on (sent to 224.0.0.1 and ff02::1).
pub const ANNOUNCE_PORT: u16 = 5350;

const RESPONSE_BIT: u8 = 128;
const OP_ANNOUNCE: u8 = 0;
const OP_MAP: u8 = 1;
const HEADER_LEN: usize = 24;
const MAP_LEN: usize = 36;

const OPTION_THIRD_PARTY: u8 = 1;
const OPTION_PREFER_FAILURE: u8 = 2;
const OPTION_FILTER: u8 = 3;

/// A MAP's nonce: 12 random bytes the client picks for a mapping and repeats in every
/// request about it; a response whose nonce differs is not for us.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Nonce(pub [u8; 12]);

#[cfg(feature = "net")]
#[cfg_attr(docsrs, doc(cfg(feature = "net")))]
impl Nonce {
    /// A nonce from the operating system's random source.
    pub fn random() -> Result<Nonce, Error> {
        let mut bytes = [0u8; 12];
        getrandom::fill(&mut bytes).map_err(|e| Error::Io {
            context: "random nonce",
            source: std::io::Error::other(e),
        })?;
        Ok(Nonce(bytes))
    }
}

/// The body of a MAP request or response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Map {
    /// The mapping's nonce.
    pub nonce: Nonce,
    /// The protocol mapped.
    pub protocol: Protocol,
    /// Our port (0 with [`Protocol::All`]: every port).
    pub internal_port: u16,
    /// Request: the external port suggested (0: any). Response: the port granted.
    pub external_port: u16,
    /// Request: the external address suggested (`0.0.0.0` or `::`: any). Response: the
    /// address granted.
    pub external_address: IpAddr,
}

impl Map {
    /// A MAP for `protocol` `internal_port`, suggesting `external_port` (0: any) and any
    /// external IPv4 address (`0.0.0.0`; set [`Map::external_address`] to `::` for IPv6).
    pub fn new(nonce: Nonce, protocol: Protocol, internal_port: u16, external_port: u16) -> Map {
        Map {
            nonce,
            protocol,
            internal_port,
            external_port,
            external_address: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        }
    }

    fn parse(r: &mut Reader<'_>) -> Result<Map, Error> {
        let nonce = Nonce(r.array()?);
        let protocol = Protocol::from_number(r.u8()?);
        r.take(3)?;
        Ok(Map {
            nonce,
            protocol,
            internal_port: r.u16()?,
            external_port: r.u16()?,
            external_address: r.address()?,
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend(self.nonce.0);
        out.extend([self.protocol.number(), 0, 0, 0]);
        out.extend(self.internal_port.to_be_bytes());
        out.extend(self.external_port.to_be_bytes());
        out.extend(to_field(self.external_address));
    }
}

/// What a request asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestOp {
    /// ANNOUNCE: are you there (and what is your epoch)? Sent with lifetime 0.
    Announce,
    /// MAP: create, renew (same nonce) or, with lifetime 0, remove a mapping.
    Map(Map),
}

/// A PCP option.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PcpOption {
    /// THIRD_PARTY (1): the mapping is for this host, not the sender.
    ThirdParty(IpAddr),
    /// PREFER_FAILURE (2): grant exactly the suggested port and address, or fail.
    PreferFailure,
    /// FILTER (3): only this remote peer (prefix) may use the mapping.
    Filter {
        /// The prefix length of `remote_address` (IPv4 counts from 96: /24 is 120).
        prefix_length: u8,
        /// The remote port (0: any).
        remote_port: u16,
        /// The remote peer's address.
        remote_address: IpAddr,
    },
    /// Another option, kept as received (never codes 1 to 3).
    Other {
        /// The option code (128 and above may be ignored by the receiver).
        code: u8,
        /// The data, without padding.
        data: Vec<u8>,
    },
}

impl PcpOption {
    /// The option code.
    pub fn code(&self) -> u8 {
        match self {
            PcpOption::ThirdParty(_) => OPTION_THIRD_PARTY,
            PcpOption::PreferFailure => OPTION_PREFER_FAILURE,
            PcpOption::Filter { .. } => OPTION_FILTER,
            PcpOption::Other { code, .. } => *code,
        }
    }

    fn data(&self) -> Vec<u8> {
        match self {
            PcpOption::ThirdParty(address) => to_field(*address).to_vec(),
            PcpOption::PreferFailure => Vec::new(),
            PcpOption::Filter {
                prefix_length,
                remote_port,
                remote_address,
            } => {
                let mut data = vec![0, *prefix_length];
                data.extend(remote_port.to_be_bytes());
                data.extend(to_field(*remote_address));
                data
            }
            PcpOption::Other { data, .. } => data.clone(),
        }
    }

    fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let code = self.code();
        if matches!(self, PcpOption::Other { .. })
            && matches!(code, OPTION_THIRD_PARTY..=OPTION_FILTER)
        {
            return Err(Error::Unencodable {
                what: "PCP option",
                reason: "codes 1 to 3 have their own variants",
            });
        }
        let data = self.data();
        let length = u16::try_from(data.len()).map_err(|_| Error::Unencodable {
            what: "PCP option",
            reason: "data longer than 65535 bytes",
        })?;
        out.extend([code, 0]);
        out.extend(length.to_be_bytes());
        out.extend(&data);
        out.resize(out.len() + padding(data.len()), 0);
        Ok(())
    }

    fn parse(r: &mut Reader<'_>) -> Result<PcpOption, Error> {
        let code = r.u8()?;
        r.u8()?; // reserved
        let length = usize::from(r.u16()?);
        let data = r.take(length).map_err(|_| Error::MalformedOption {
            code,
            reason: "its length runs past the message",
        })?;
        // The last option's padding may be missing: tolerated.
        let pad = padding(length).min(r.remaining());
        r.take(pad)?;
        let mut d = Reader::new("PCP option", data);
        let sized = |n: usize, reason| {
            if length == n {
                Ok(())
            } else {
                Err(Error::MalformedOption { code, reason })
            }
        };
        Ok(match code {
            OPTION_THIRD_PARTY => {
                sized(16, "THIRD_PARTY carries 16 bytes")?;
                PcpOption::ThirdParty(d.address()?)
            }
            OPTION_PREFER_FAILURE => {
                sized(0, "PREFER_FAILURE carries nothing")?;
                PcpOption::PreferFailure
            }
            OPTION_FILTER => {
                sized(20, "FILTER carries 20 bytes")?;
                d.u8()?;
                PcpOption::Filter {
                    prefix_length: d.u8()?,
                    remote_port: d.u16()?,
                    remote_address: d.address()?,
                }
            }
            code => PcpOption::Other {
                code,
                data: data.to_vec(),
            },
        })
    }
}

fn padding(length: usize) -> usize {
    (4 - length % 4) % 4
}

fn parse_options(r: &mut Reader<'_>) -> Result<Vec<PcpOption>, Error> {
    let mut options = Vec::new();
    while r.remaining() > 0 {
        if options.len() == MAX_OPTIONS {
            return Err(Error::TooManyOptions(MAX_OPTIONS));
        }
        options.push(PcpOption::parse(r)?);
    }
    Ok(options)
}

fn encode_options(options: &[PcpOption], out: &mut Vec<u8>) -> Result<(), Error> {
    if options.len() > MAX_OPTIONS {
        return Err(Error::TooManyOptions(MAX_OPTIONS));
    }
    for option in options {
        option.encode(out)?;
    }
    if out.len() > MAX_MESSAGE_SIZE {
        return Err(Error::Unencodable {
            what: "PCP message",
            reason: "longer than 1100 bytes",
        });
    }
    Ok(())
}

fn check_size(datagram: &[u8]) -> Result<(), Error> {
    if datagram.len() > MAX_MESSAGE_SIZE {
        return Err(Error::TooLarge {
            size: datagram.len(),
            limit: MAX_MESSAGE_SIZE,
        });
    }
    Ok(())
}

/// A PCP request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcpRequest {
    /// Seconds asked for (0: remove; ANNOUNCE: 0).
    pub lifetime: u32,
    /// Our own address as the gateway sees the datagram's source (it answers
    /// [`PcpResult::AddressMismatch`] otherwise).
    pub client: IpAddr,
    /// What is asked.
    pub op: RequestOp,
    /// The options, in order.
    pub options: Vec<PcpOption>,
}

impl PcpRequest {
    /// An ANNOUNCE from `client`.
    pub fn announce(client: IpAddr) -> PcpRequest {
        PcpRequest {
            lifetime: 0,
            client,
            op: RequestOp::Announce,
            options: Vec::new(),
        }
    }

    /// A MAP from `client` for `lifetime` seconds (0: remove).
    pub fn map(client: IpAddr, map: Map, lifetime: u32) -> PcpRequest {
        PcpRequest {
            lifetime,
            client,
            op: RequestOp::Map(map),
            options: Vec::new(),
        }
    }

    /// With this option added.
    pub fn option(mut self, option: PcpOption) -> PcpRequest {
        self.options.push(option);
        self
    }

    /// The opcode.
    pub fn opcode(&self) -> u8 {
        match self.op {
            RequestOp::Announce => OP_ANNOUNCE,
            RequestOp::Map(_) => OP_MAP,
        }
    }

    /// The datagram (at most [`MAX_MESSAGE_SIZE`] bytes, a multiple of 4).
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(HEADER_LEN + MAP_LEN);
        out.extend([PCP_VERSION, self.opcode(), 0, 0]);
        out.extend(self.lifetime.to_be_bytes());
        out.extend(to_field(self.client));
        if let RequestOp::Map(map) = &self.op {
            map.encode(&mut out);
        }
        encode_options(&self.options, &mut out)?;
        Ok(out)
    }

    /// Decode a request (what a gateway reads; used by tests and tools).
    pub fn parse(datagram: &[u8]) -> Result<PcpRequest, Error> {
        check_size(datagram)?;
        let mut r = Reader::new("PCP request", datagram);
        let version = r.u8()?;
        if version != PCP_VERSION {
            return Err(Error::UnknownVersion(version));
        }
        let opcode = r.u8()?;
        if opcode & RESPONSE_BIT != 0 {
            return Err(Error::UnexpectedDirection {
                expected: "request",
                found: "response",
            });
        }
        r.u16()?;
        let lifetime = r.u32()?;
        let client = r.address()?;
        let op = match opcode {
            OP_ANNOUNCE => RequestOp::Announce,
            OP_MAP => RequestOp::Map(Map::parse(&mut r)?),
            other => {
                return Err(Error::UnknownOpcode {
                    version,
                    opcode: other,
                });
            }
        };
        Ok(PcpRequest {
            lifetime,
            client,
            op,
            options: parse_options(&mut r)?,
        })
    }
}

/// A PCP result code (RFC 6887 §7.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PcpResult {
    /// 0: done.
    Success,
    /// 1: the server speaks another version.
    UnsupportedVersion,
    /// 2: refused by policy (e.g. mappings turned off).
    NotAuthorized,
    /// 3: the server could not read the request.
    MalformedRequest,
    /// 4: the opcode is unknown to the server.
    UnsupportedOpcode,
    /// 5: a mandatory option is unknown to the server.
    UnsupportedOption,
    /// 6: an option is malformed.
    MalformedOption,
    /// 7: the server has a network failure (e.g. no external address yet).
    NetworkFailure,
    /// 8: no resources for the mapping.
    NoResources,
    /// 9: the protocol cannot be mapped.
    UnsupportedProtocol,
    /// 10: our quota of mappings is exhausted.
    UserExceededQuota,
    /// 11: the suggested external port or address cannot be given (with PREFER_FAILURE),
    /// or the external address is wrong.
    CannotProvideExternal,
    /// 12: the client address in the request is not the datagram's source (a NAT between).
    AddressMismatch,
    /// 13: too many remote peers in FILTER options.
    ExcessiveRemotePeers,
    /// Any other code (never one of the above).
    Other(u8),
}

impl PcpResult {
    /// The result with this code.
    pub fn from_code(code: u8) -> PcpResult {
        use PcpResult::*;
        match code {
            0 => Success,
            1 => UnsupportedVersion,
            2 => NotAuthorized,
            3 => MalformedRequest,
            4 => UnsupportedOpcode,
            5 => UnsupportedOption,
            6 => MalformedOption,
            7 => NetworkFailure,
            8 => NoResources,
            9 => UnsupportedProtocol,
            10 => UserExceededQuota,
            11 => CannotProvideExternal,
            12 => AddressMismatch,
            13 => ExcessiveRemotePeers,
            n => Other(n),
        }
    }

    /// Its code.
    pub fn code(self) -> u8 {
        use PcpResult::*;
        match self {
            Success => 0,
            UnsupportedVersion => 1,
            NotAuthorized => 2,
            MalformedRequest => 3,
            UnsupportedOpcode => 4,
            UnsupportedOption => 5,
            MalformedOption => 6,
            NetworkFailure => 7,
            NoResources => 8,
            UnsupportedProtocol => 9,
            UserExceededQuota => 10,
            CannotProvideExternal => 11,
            AddressMismatch => 12,
            ExcessiveRemotePeers => 13,
            Other(n) => n,
        }
    }

    /// Whether this is [`PcpResult::Success`].
    pub fn is_success(self) -> bool {
        self == PcpResult::Success
    }
}

impl fmt::Display for PcpResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use PcpResult::*;
        let name = match self {
            Success => "SUCCESS",
            UnsupportedVersion => "UNSUPP_VERSION",
            NotAuthorized => "NOT_AUTHORIZED",
            MalformedRequest => "MALFORMED_REQUEST",
            UnsupportedOpcode => "UNSUPP_OPCODE",
            UnsupportedOption => "UNSUPP_OPTION",
            MalformedOption => "MALFORMED_OPTION",
            NetworkFailure => "NETWORK_FAILURE",
            NoResources => "NO_RESOURCES",
            UnsupportedProtocol => "UNSUPP_PROTOCOL",
            UserExceededQuota => "USER_EX_QUOTA",
            CannotProvideExternal => "CANNOT_PROVIDE_EXTERNAL",
            AddressMismatch => "ADDRESS_MISMATCH",
            ExcessiveRemotePeers => "EXCESSIVE_REMOTE_PEERS",
            Other(n) => return write!(f, "PCP result {n}"),
        };
        write!(f, "{name} ({})", self.code())
    }
}

/// What a response answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseOp {
    /// ANNOUNCE (also sent unsolicited, to 224.0.0.1:5350, after the server lost its state).
    Announce,
    /// MAP, with the mapping granted (or, on error, the request's fields).
    Map(Map),
    /// The header only: an error response to a request the server did not read (never a
    /// success). The opcode answered, without the response bit.
    Bare(u8),
}

/// A PCP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcpResponse {
    /// The outcome.
    pub result: PcpResult,
    /// Success: seconds granted. Error: how long the error is likely to last.
    pub lifetime: u32,
    /// Seconds since the server's epoch (see [`crate::Epoch`]).
    pub epoch: u32,
    /// What it answers.
    pub op: ResponseOp,
    /// The options, in order.
    pub options: Vec<PcpOption>,
}

impl PcpResponse {
    /// The opcode answered, without the response bit.
    pub fn opcode(&self) -> u8 {
        match self.op {
            ResponseOp::Announce => OP_ANNOUNCE,
            ResponseOp::Map(_) => OP_MAP,
            ResponseOp::Bare(opcode) => opcode,
        }
    }

    /// Decode a response.
    pub fn parse(datagram: &[u8]) -> Result<PcpResponse, Error> {
        check_size(datagram)?;
        let mut r = Reader::new("PCP response", datagram);
        let version = r.u8()?;
        if version != PCP_VERSION {
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
        r.u8()?;
        let result = PcpResult::from_code(r.u8()?);
        let lifetime = r.u32()?;
        let epoch = r.u32()?;
        r.take(12)?;
        let op = match opcode {
            _ if r.remaining() == 0 && !result.is_success() && opcode != OP_ANNOUNCE => {
                ResponseOp::Bare(opcode)
            }
            OP_ANNOUNCE => ResponseOp::Announce,
            OP_MAP => ResponseOp::Map(Map::parse(&mut r)?),
            other => {
                return Err(Error::UnknownOpcode {
                    version,
                    opcode: other,
                });
            }
        };
        Ok(PcpResponse {
            result,
            lifetime,
            epoch,
            op,
            options: parse_options(&mut r)?,
        })
    }

    /// The datagram.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        let opcode = self.opcode();
        if opcode & RESPONSE_BIT != 0 {
            return Err(Error::Unencodable {
                what: "PCP opcode",
                reason: "opcodes are below 128",
            });
        }
        if let ResponseOp::Bare(_) = self.op {
            if self.result.is_success() || opcode == OP_ANNOUNCE || !self.options.is_empty() {
                return Err(Error::Unencodable {
                    what: "PCP response",
                    reason: "only an error other than ANNOUNCE's comes without a body",
                });
            }
        }
        let mut out = Vec::with_capacity(HEADER_LEN + MAP_LEN);
        out.extend([PCP_VERSION, opcode | RESPONSE_BIT, 0, self.result.code()]);
        out.extend(self.lifetime.to_be_bytes());
        out.extend(self.epoch.to_be_bytes());
        out.extend([0; 12]);
        if let ResponseOp::Map(map) = &self.op {
            map.encode(&mut out);
        }
        encode_options(&self.options, &mut out)?;
        Ok(out)
    }
}

/// A response of either version, as read from the gateway's port or its announcements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// Version 0.
    NatPmp(NatPmpResponse),
    /// Version 2.
    Pcp(PcpResponse),
}

impl Response {
    /// Decode a datagram by its version byte.
    pub fn parse(datagram: &[u8]) -> Result<Response, Error> {
        match datagram.first() {
            None => Err(Error::truncated("response", 1, 0)),
            Some(&NATPMP_VERSION) => NatPmpResponse::parse(datagram).map(Response::NatPmp),
            Some(&PCP_VERSION) => PcpResponse::parse(datagram).map(Response::Pcp),
            Some(&other) => Err(Error::UnknownVersion(other)),
        }
    }

    /// The datagram.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        match self {
            Response::NatPmp(response) => response.encode(),
            Response::Pcp(response) => response.encode(),
        }
    }

    /// Seconds since the server's epoch.
    pub fn epoch(&self) -> u32 {
        match self {
            Response::NatPmp(response) => response.epoch(),
            Response::Pcp(response) => response.epoch,
        }
    }
}
