//! NAT-PMP and PCP as ways to map beside UPnP, without I/O.
//!
//! A router that speaks no UPnP (turned off, or never there) often speaks PCP (RFC 6887) or
//! its predecessor NAT-PMP (RFC 6886) on UDP 5351 of the default gateway. [`Via`] says which
//! way a call takes; [`Method`] says which way granted a mapping. The conversations (map,
//! unmap, external address, with PCP's fallback to NAT-PMP) are `PmpSequence`s: a driver
//! sends each [`pcp_natpmp::Request`] it is given through a `pcp_natpmp::net` client and feeds the answer
//! back, like the UPnP `Sequence`s.
//!
//! ## The order of preference of [`Via::Auto`]
//! All ways are probed at once (a UPnP search, a PCP ANNOUNCE, a NAT-PMP external-address
//! request); when several answer, **UPnP, then PCP, then NAT-PMP**:
//! - UPnP first: its mappings carry their description and show in every UPnP tool and router
//!   page, and it is what this crate's Godot API speaks, so where UPnP works the result is
//!   exactly what was asked and nothing changes for existing users;
//! - PCP before NAT-PMP: it is NAT-PMP's successor on the same port, with nonces (a forged
//!   or stale answer is ignored), IPv6, and exact-port requests (PREFER_FAILURE);
//! - NAT-PMP last: the oldest routers (Apple's AirPort) speak only it.
//!
//! Probing at once costs one datagram each and no time: where UPnP is off, the PCP or
//! NAT-PMP answer is ready when the search ends.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use pcp_natpmp::{
    Map, NatPmpRequest, NatPmpResponse, NatPmpResult, Nonce, PcpRequest, PcpResult, Request,
    Response, ResponseOp,
};
use upnp_soap::actions::Protocol;

use crate::device::is_public;
use crate::error::Error;

#[cfg(test)]
mod tests;

pub use crate::way::{Method, Target, Via, Way};

impl FromStr for Via {
    type Err = Error;

    /// `auto`, `upnp`, `pcp` or `natpmp` (any case).
    fn from_str(s: &str) -> Result<Via, Error> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Via::Auto),
            "upnp" => Ok(Via::Upnp),
            "pcp" => Ok(Via::Pcp),
            "natpmp" | "nat-pmp" => Ok(Via::NatPmp),
            _ => Err(Error::InvalidParam("a way is auto, upnp, pcp or natpmp")),
        }
    }
}

/// A mapping to ask through PCP or NAT-PMP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PmpMapping {
    /// UDP or TCP.
    pub protocol: Protocol,
    /// Our port.
    pub internal_port: u16,
    /// The external port asked for (0: any).
    pub external_port: u16,
    /// Seconds asked for (the gateway may grant less or more; miniupnpd grants at least 120).
    pub lifetime: u32,
    /// PCP: this exact external port or nothing (PREFER_FAILURE). NAT-PMP cannot ask it: a
    /// grant of another port is then removed and reported as [`Error::OtherPortGranted`].
    pub exact: bool,
    /// PCP's nonce for this mapping: renewing and removing it need the same one.
    pub nonce: Nonce,
}

impl PmpMapping {
    /// `protocol` `internal_port` → the same external port, for `lifetime` seconds, with
    /// `nonce`.
    pub fn new(protocol: Protocol, internal_port: u16, lifetime: u32, nonce: Nonce) -> PmpMapping {
        PmpMapping {
            protocol,
            internal_port,
            external_port: internal_port,
            lifetime,
            exact: false,
            nonce,
        }
    }

    /// Ask for this external port (0: any).
    pub fn external_port(mut self, port: u16) -> PmpMapping {
        self.external_port = port;
        self
    }

    /// Ask for this many seconds (zero removes: PCP and NAT-PMP have no permanent
    /// mapping; see [`LONGEST_LIFETIME`]).
    pub fn lifetime(mut self, lifetime: u32) -> PmpMapping {
        self.lifetime = lifetime;
        self
    }

    /// Demand the exact external port.
    pub fn exact(mut self, exact: bool) -> PmpMapping {
        self.exact = exact;
        self
    }

    fn map(&self) -> Map {
        Map::new(
            self.nonce,
            pcp_protocol(self.protocol),
            self.internal_port,
            self.external_port,
        )
    }
}

/// What is asked in place of a permanent mapping (one day): PCP and NAT-PMP have no
/// permanent mapping, and a lifetime of zero removes one.
pub const LONGEST_LIFETIME: u32 = 86_400;

/// A nonce that any run of a program derives again from the mapping itself, so that a
/// later process (`upnp delete`) can remove what an earlier one (`upnp add`) made: PCP
/// gateways refuse a removal with another nonce. It proves nothing to an attacker who
/// knows the scheme; the gateway still only accepts requests from our own address. The
/// library's keeper uses random nonces.
pub(crate) fn derived_nonce(client: IpAddr, protocol: Protocol, internal_port: u16) -> Nonce {
    let mut nonce = *b"igd-rs nonce";
    let mut mix = |bytes: &[u8]| {
        for (i, b) in bytes.iter().enumerate() {
            if let Some(n) = nonce.get_mut(i % 12) {
                *n = n.rotate_left(3) ^ b;
            }
        }
    };
    match client {
        IpAddr::V4(v4) => mix(&v4.octets()),
        IpAddr::V6(v6) => mix(&v6.octets()),
    }
    mix(&[pcp_protocol(protocol).number()]);
    mix(&internal_port.to_be_bytes());
    Nonce(nonce)
}

fn pcp_protocol(protocol: Protocol) -> pcp_natpmp::Protocol {
    match protocol {
        Protocol::Udp => pcp_natpmp::Protocol::Udp,
        Protocol::Tcp => pcp_natpmp::Protocol::Tcp,
    }
}

/// A mapping granted through PCP or NAT-PMP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PmpGranted {
    /// PCP or NAT-PMP.
    pub method: Method,
    /// UDP or TCP.
    pub protocol: Protocol,
    /// Our port.
    pub internal_port: u16,
    /// The external port granted (it may differ from the one asked for).
    pub external_port: u16,
    /// The external address (PCP gives it with the mapping; NAT-PMP asks once more).
    pub external_ip: Option<IpAddr>,
    /// Seconds granted.
    pub lifetime: u32,
    /// The gateway's epoch count in its answer.
    pub epoch: u32,
    /// The external address is private, shared (CGNAT, 100.64/10) or otherwise not public:
    /// another NAT is in front of the gateway, and the mapping does not reach the Internet
    /// (as [`Device::is_behind_nat`](crate::Device::is_behind_nat) says for UPnP). `None`
    /// while the address is unknown.
    pub behind_another_nat: Option<bool>,
}

/// An external address and the way that gave it.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PmpAddress {
    /// PCP or NAT-PMP.
    pub method: Method,
    /// The address.
    pub address: IpAddr,
    /// The gateway's epoch count in its answer.
    pub epoch: u32,
    /// The address is private, shared (CGNAT, 100.64/10) or otherwise not public: another
    /// NAT is in front of the gateway (a router behind a modem's DMZ).
    pub behind_another_nat: bool,
}

/// The next thing a driver does for a [`PmpSequence`].
#[non_exhaustive]
#[derive(Debug)]
pub(crate) enum PmpNext<T> {
    /// Send this request (an [`pcp_natpmp::Exchange`] to the gateway) and feed its outcome to
    /// [`PmpSequence::handle`].
    Send(Request),
    /// Finished.
    Done(Result<T, Error>),
}

/// A conversation with a PCP or NAT-PMP gateway, without I/O.
pub(crate) trait PmpSequence {
    /// What it yields.
    type Output;
    /// The first request.
    fn start(&mut self) -> PmpNext<Self::Output>;
    /// The outcome of the last request.
    fn handle(&mut self, outcome: Result<Response, pcp_natpmp::Error>) -> PmpNext<Self::Output>;
}

/// Which version a conversation speaks now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Speaking {
    Pcp { fallback: bool },
    NatPmp,
}

impl Speaking {
    fn of(way: Way) -> Speaking {
        match way {
            Way::Pcp { fallback } => Speaking::Pcp { fallback },
            Way::NatPmp => Speaking::NatPmp,
        }
    }
}

/// The gateway answered a PCP request in version 0: NAT-PMP next, or an error.
fn falls_back(speaking: &mut Speaking, response: &Response) -> Result<bool, Error> {
    if !response.is_unsupported_version() {
        return Ok(false);
    }
    match *speaking {
        Speaking::Pcp { fallback: true } => {
            *speaking = Speaking::NatPmp;
            Ok(true)
        }
        _ => Err(Error::NotSpoken(Method::Pcp)),
    }
}

/// What an exchange's outcome tells a sequence.
enum Answer {
    /// A response to read.
    Read(Response),
    /// "I speak NAT-PMP only": send the request again, in NAT-PMP.
    Again,
    /// Over: no answer, or a version the sequence may not fall back to.
    Failed(Error),
}

/// Every sequence's first look at an outcome: a transport error ends it, a version-0 answer
/// to PCP falls back to NAT-PMP when allowed.
fn read(outcome: Result<Response, pcp_natpmp::Error>, speaking: &mut Speaking) -> Answer {
    let response = match outcome {
        Ok(response) => response,
        Err(e) => return Answer::Failed(Error::Pmp(e)),
    };
    match falls_back(speaking, &response) {
        Ok(true) => Answer::Again,
        Ok(false) => Answer::Read(response),
        Err(e) => Answer::Failed(e),
    }
}

/// Map a port: PCP MAP (falling back to NAT-PMP), or NAT-PMP map then external address.
#[derive(Debug)]
pub(crate) struct PmpAdd {
    speaking: Speaking,
    client: IpAddr,
    mapping: PmpMapping,
    state: AddState,
}

#[derive(Debug)]
enum AddState {
    Start,
    Mapping,
    /// NAT-PMP granted; its external address asked.
    Address(PmpGranted),
    /// NAT-PMP granted another port than the exact one demanded; removing it.
    Undo(u16),
    Done,
}

impl PmpAdd {
    /// Map `mapping` for `client` (our address on the route to the gateway) the `way` says.
    pub(crate) fn new(way: Way, client: IpAddr, mapping: PmpMapping) -> PmpAdd {
        PmpAdd {
            speaking: Speaking::of(way),
            client,
            mapping,
            state: AddState::Start,
        }
    }

    fn request(&mut self) -> PmpNext<PmpGranted> {
        self.state = AddState::Mapping;
        let m = &self.mapping;
        PmpNext::Send(match self.speaking {
            Speaking::Pcp { .. } => {
                let mut request = PcpRequest::map(self.client, m.map(), m.lifetime);
                if m.exact {
                    request = request.option(pcp_natpmp::PcpOption::PreferFailure);
                }
                Request::Pcp(request)
            }
            Speaking::NatPmp => Request::NatPmp(NatPmpRequest::map(
                pcp_protocol(m.protocol),
                m.internal_port,
                m.external_port,
                m.lifetime,
            )),
        })
    }

    fn done(&mut self, result: Result<PmpGranted, Error>) -> PmpNext<PmpGranted> {
        self.state = AddState::Done;
        PmpNext::Done(result)
    }
}

impl PmpSequence for PmpAdd {
    type Output = PmpGranted;

    fn start(&mut self) -> PmpNext<PmpGranted> {
        self.request()
    }

    fn handle(&mut self, outcome: Result<Response, pcp_natpmp::Error>) -> PmpNext<PmpGranted> {
        let response = match outcome {
            Ok(response) => response,
            Err(e) => return self.done(Err(Error::Pmp(e))),
        };
        match std::mem::replace(&mut self.state, AddState::Done) {
            AddState::Mapping => {
                match falls_back(&mut self.speaking, &response) {
                    Ok(true) => return self.request(),
                    Ok(false) => {}
                    Err(e) => return self.done(Err(e)),
                }
                match response {
                    Response::Pcp(r) => {
                        let granted = granted_pcp(&self.mapping, &r);
                        self.done(granted)
                    }
                    Response::NatPmp(r) => match granted_natpmp(&self.mapping, &r) {
                        Ok(granted)
                            if self.mapping.exact
                                && granted.external_port != self.mapping.external_port =>
                        {
                            // Not what was demanded: give it back, then say so.
                            self.state = AddState::Undo(granted.external_port);
                            PmpNext::Send(Request::NatPmp(NatPmpRequest::unmap(
                                pcp_protocol(self.mapping.protocol),
                                self.mapping.internal_port,
                            )))
                        }
                        Ok(granted) => {
                            self.state = AddState::Address(granted);
                            PmpNext::Send(Request::NatPmp(NatPmpRequest::ExternalAddress))
                        }
                        Err(e) => self.done(Err(e)),
                    },
                }
            }
            AddState::Address(mut granted) => {
                if let Response::NatPmp(NatPmpResponse::ExternalAddress {
                    result, address, ..
                }) = response
                {
                    if result.is_success() && !address.is_unspecified() {
                        granted.external_ip = Some(IpAddr::V4(address));
                        granted.behind_another_nat = Some(!is_public(IpAddr::V4(address)));
                    }
                }
                self.done(Ok(granted))
            }
            AddState::Undo(granted) => self.done(Err(Error::OtherPortGranted {
                asked: self.mapping.external_port,
                granted,
            })),
            AddState::Start | AddState::Done => {
                self.done(Err(Error::InvalidResponse("an answer to nothing asked")))
            }
        }
    }
}

fn granted_pcp(mapping: &PmpMapping, r: &pcp_natpmp::PcpResponse) -> Result<PmpGranted, Error> {
    if !r.result.is_success() {
        return Err(Error::PcpRefused {
            result: r.result,
            lifetime: r.lifetime,
        });
    }
    let ResponseOp::Map(map) = r.op else {
        return Err(Error::InvalidResponse("a PCP success without its mapping"));
    };
    if mapping.exact && map.external_port != mapping.external_port {
        return Err(Error::PcpRefused {
            result: PcpResult::CannotProvideExternal,
            lifetime: r.lifetime,
        });
    }
    Ok(PmpGranted {
        method: Method::Pcp,
        protocol: mapping.protocol,
        internal_port: map.internal_port,
        external_port: map.external_port,
        external_ip: Some(map.external_address).filter(|a| !a.is_unspecified()),
        lifetime: r.lifetime,
        epoch: r.epoch,
        behind_another_nat: Some(map.external_address)
            .filter(|a| !a.is_unspecified())
            .map(|a| !is_public(a)),
    })
}

fn granted_natpmp(mapping: &PmpMapping, r: &NatPmpResponse) -> Result<PmpGranted, Error> {
    if !r.result().is_success() {
        return Err(Error::NatPmpRefused(r.result()));
    }
    let NatPmpResponse::Map {
        internal_port,
        external_port,
        lifetime,
        epoch,
        ..
    } = *r
    else {
        return Err(Error::InvalidResponse(
            "a NAT-PMP success without its mapping",
        ));
    };
    Ok(PmpGranted {
        method: Method::NatPmp,
        protocol: mapping.protocol,
        internal_port,
        external_port,
        external_ip: None,
        lifetime,
        epoch,
        behind_another_nat: None,
    })
}

/// Remove our mapping of `internal_port`: PCP MAP with lifetime 0 and the mapping's nonce
/// (falling back to NAT-PMP), or NAT-PMP's lifetime 0.
#[derive(Debug)]
pub(crate) struct PmpDelete {
    speaking: Speaking,
    client: IpAddr,
    mapping: PmpMapping,
}

impl PmpDelete {
    /// Remove `mapping` (its protocol, internal port and nonce count).
    pub(crate) fn new(way: Way, client: IpAddr, mapping: PmpMapping) -> PmpDelete {
        PmpDelete {
            speaking: Speaking::of(way),
            client,
            mapping,
        }
    }

    fn request(&self) -> PmpNext<Method> {
        let m = &self.mapping;
        PmpNext::Send(match self.speaking {
            Speaking::Pcp { .. } => {
                let mut map = m.map();
                map.external_port = 0;
                Request::Pcp(PcpRequest::map(self.client, map, 0))
            }
            Speaking::NatPmp => Request::NatPmp(NatPmpRequest::unmap(
                pcp_protocol(m.protocol),
                m.internal_port,
            )),
        })
    }
}

impl PmpSequence for PmpDelete {
    type Output = Method;

    fn start(&mut self) -> PmpNext<Method> {
        self.request()
    }

    fn handle(&mut self, outcome: Result<Response, pcp_natpmp::Error>) -> PmpNext<Method> {
        let response = match read(outcome, &mut self.speaking) {
            Answer::Read(response) => response,
            Answer::Again => return self.request(),
            Answer::Failed(e) => return PmpNext::Done(Err(e)),
        };
        PmpNext::Done(match response {
            Response::Pcp(r) if r.result.is_success() => Ok(Method::Pcp),
            Response::Pcp(r) => Err(Error::PcpRefused {
                result: r.result,
                lifetime: r.lifetime,
            }),
            Response::NatPmp(r) if r.result().is_success() => Ok(Method::NatPmp),
            Response::NatPmp(r) => Err(Error::NatPmpRefused(r.result())),
        })
    }
}

/// The external address. NAT-PMP asks it directly. PCP has no such request: a MAP of our
/// own client port (nothing listens behind it) for the shortest lifetime, then its removal,
/// shows the address and leaves nothing behind.
#[derive(Debug)]
pub(crate) struct PmpExternal {
    speaking: Speaking,
    client: SocketAddr,
    nonce: Nonce,
    state: ExternalState,
}

#[derive(Debug)]
enum ExternalState {
    Asking,
    Removing(PmpAddress),
}

impl PmpExternal {
    /// Ask the `way` says, from `client` (the address and port our requests leave from),
    /// with `nonce` for PCP's temporary mapping.
    pub(crate) fn new(way: Way, client: SocketAddr, nonce: Nonce) -> PmpExternal {
        PmpExternal {
            speaking: Speaking::of(way),
            client,
            nonce,
            state: ExternalState::Asking,
        }
    }

    fn probe_map(&self, lifetime: u32) -> Request {
        let port = self.client.port();
        let map = Map::new(self.nonce, pcp_natpmp::Protocol::Udp, port, port);
        Request::Pcp(PcpRequest::map(self.client.ip(), map, lifetime))
    }

    fn request(&mut self) -> PmpNext<PmpAddress> {
        self.state = ExternalState::Asking;
        PmpNext::Send(match self.speaking {
            Speaking::Pcp { .. } => self.probe_map(PROBE_LIFETIME),
            Speaking::NatPmp => Request::NatPmp(NatPmpRequest::ExternalAddress),
        })
    }
}

/// The lifetime of PCP's address probe: the least miniupnpd grants; removed at once anyway.
const PROBE_LIFETIME: u32 = 120;

impl PmpSequence for PmpExternal {
    type Output = PmpAddress;

    fn start(&mut self) -> PmpNext<PmpAddress> {
        self.request()
    }

    fn handle(&mut self, outcome: Result<Response, pcp_natpmp::Error>) -> PmpNext<PmpAddress> {
        if let ExternalState::Removing(address) = self.state {
            // The address is known; the removal's own outcome does not change it (a
            // mapping left behind expires with its short lifetime).
            return PmpNext::Done(Ok(address));
        }
        let response = match read(outcome, &mut self.speaking) {
            Answer::Read(response) => response,
            Answer::Again => return self.request(),
            Answer::Failed(e) => return PmpNext::Done(Err(e)),
        };
        match response {
            Response::NatPmp(NatPmpResponse::ExternalAddress {
                result,
                address,
                epoch,
            }) => PmpNext::Done(if !result.is_success() {
                Err(Error::NatPmpRefused(result))
            } else if address.is_unspecified() {
                Err(Error::NatPmpRefused(NatPmpResult::NetworkFailure))
            } else {
                Ok(PmpAddress {
                    method: Method::NatPmp,
                    address: IpAddr::V4(address),
                    epoch,
                    behind_another_nat: !is_public(IpAddr::V4(address)),
                })
            }),
            Response::Pcp(r) => match (r.result.is_success(), r.op) {
                (true, ResponseOp::Map(map)) if !map.external_address.is_unspecified() => {
                    let address = PmpAddress {
                        method: Method::Pcp,
                        address: map.external_address,
                        epoch: r.epoch,
                        behind_another_nat: !is_public(map.external_address),
                    };
                    self.state = ExternalState::Removing(address);
                    PmpNext::Send(self.probe_map(0))
                }
                (true, _) => PmpNext::Done(Err(Error::InvalidResponse(
                    "a PCP mapping without an external address",
                ))),
                (false, _) => PmpNext::Done(Err(Error::PcpRefused {
                    result: r.result,
                    lifetime: r.lifetime,
                })),
            },
            Response::NatPmp(r) => PmpNext::Done(Err(Error::NatPmpRefused(r.result()))),
        }
    }
}

/// Whether the gateway speaks PCP or NAT-PMP: a PCP ANNOUNCE (answered in version 0 by a
/// NAT-PMP-only gateway), or NAT-PMP's external-address request.
#[derive(Debug)]
pub(crate) struct PmpProbe {
    speaking: Speaking,
    client: IpAddr,
}

impl PmpProbe {
    /// Probe the `way` says, from `client`.
    pub(crate) fn new(way: Way, client: IpAddr) -> PmpProbe {
        PmpProbe {
            speaking: Speaking::of(way),
            client,
        }
    }

    fn request(&self) -> PmpNext<Method> {
        PmpNext::Send(match self.speaking {
            Speaking::Pcp { .. } => Request::Pcp(PcpRequest::announce(self.client)),
            Speaking::NatPmp => Request::NatPmp(NatPmpRequest::ExternalAddress),
        })
    }
}

impl PmpSequence for PmpProbe {
    type Output = Method;

    fn start(&mut self) -> PmpNext<Method> {
        self.request()
    }

    fn handle(&mut self, outcome: Result<Response, pcp_natpmp::Error>) -> PmpNext<Method> {
        let response = match read(outcome, &mut self.speaking) {
            Answer::Read(response) => response,
            Answer::Again => return self.request(),
            Answer::Failed(e) => return PmpNext::Done(Err(e)),
        };
        PmpNext::Done(match response {
            // Any PCP answer to ANNOUNCE means PCP is spoken (an error result too: e.g.
            // NOT_AUTHORIZED for ANNOUNCE on some boxes); a MAP will tell more.
            Response::Pcp(_) => Ok(Method::Pcp),
            Response::NatPmp(r) if r.result().is_success() => Ok(Method::NatPmp),
            Response::NatPmp(r) => Err(Error::NatPmpRefused(r.result())),
        })
    }
}

/// Which way to use, from what each probe found (`None`: not tried): UPnP's gateway, then
/// the PCP or NAT-PMP client. When none worked, the error of the first way tried.
pub(crate) fn prefer<U, P>(
    upnp: Option<Result<U, Error>>,
    pmp: Option<Result<P, Error>>,
) -> Result<Found<U, P>, Error> {
    let upnp_error = match upnp {
        Some(Ok(gateway)) => return Ok(Found::Upnp(gateway)),
        Some(Err(e)) => Some(e),
        None => None,
    };
    match (pmp, upnp_error) {
        (Some(Ok(client)), _) => Ok(Found::Pmp(client)),
        (_, Some(e)) | (Some(Err(e)), None) => Err(e),
        (None, None) => Err(Error::InvalidParam("no way to try")),
    }
}

/// The way `prefer` chose: a gateway reached one way or another (each driver names it
/// `Found`, with its own device and client types).
#[derive(Debug)]
pub enum Found<U, P> {
    /// This UPnP gateway.
    Upnp(U),
    /// This gateway that speaks PCP or NAT-PMP (its probe said which version).
    Pmp(P),
}

/// What a driver's PCP/NAT-PMP client knows: the way it speaks and where its requests leave
/// from. It hands out the sequences; the driver only runs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Session {
    way: Way,
    local: SocketAddr,
}

impl Session {
    /// Speak `way` from `local` (our address and port on the route to the gateway). From
    /// an IPv6 address PCP does not fall back: NAT-PMP is IPv4 only.
    pub(crate) fn new(way: Way, local: SocketAddr) -> Session {
        let way = match (way, local) {
            (Way::Pcp { .. }, SocketAddr::V6(_)) => Way::Pcp { fallback: false },
            (way, _) => way,
        };
        Session { way, local }
    }

    /// The way it speaks now.
    pub(crate) fn method(&self) -> Method {
        match self.way {
            Way::Pcp { .. } => Method::Pcp,
            Way::NatPmp => Method::NatPmp,
        }
    }

    /// The way it speaks now (as [`Way`]: PCP keeps its fallback).
    #[cfg(any(test, feature = "blocking", feature = "tokio"))]
    pub(crate) fn way(&self) -> Way {
        self.way
    }

    /// Our address and port.
    pub(crate) fn local(&self) -> SocketAddr {
        self.local
    }

    /// Does the gateway speak it?
    pub(crate) fn probe(&self) -> PmpProbe {
        PmpProbe::new(self.way, self.local.ip())
    }

    /// The probe's answer: a NAT-PMP gateway is spoken to in NAT-PMP from now on.
    pub(crate) fn probed(&mut self, method: Method) {
        if method == Method::NatPmp {
            self.way = Way::NatPmp;
        }
    }

    /// Our address and port are now `local` (the client was opened again).
    pub(crate) fn moved(&mut self, local: SocketAddr) {
        self.local = local;
    }

    /// Map, for our own address.
    pub(crate) fn add(&self, mapping: PmpMapping) -> PmpAdd {
        self.add_for(self.local.ip(), mapping)
    }

    /// Map for `client` (PCP's client address field: the gateway accepts only the address
    /// the request comes from).
    pub(crate) fn add_for(&self, client: IpAddr, mapping: PmpMapping) -> PmpAdd {
        PmpAdd::new(self.way, client, mapping)
    }

    #[cfg(any(feature = "blocking", feature = "tokio"))]
    /// Unmap, for our own address.
    pub(crate) fn delete(&self, mapping: PmpMapping) -> PmpDelete {
        self.delete_for(self.local.ip(), mapping)
    }

    /// Unmap for `client` (see [`Session::add_for`]).
    pub(crate) fn delete_for(&self, client: IpAddr, mapping: PmpMapping) -> PmpDelete {
        PmpDelete::new(self.way, client, mapping)
    }

    /// The external address (`nonce` for PCP's temporary mapping).
    pub(crate) fn external(&self, nonce: Nonce) -> PmpExternal {
        PmpExternal::new(self.way, self.local, nonce)
    }

    /// The nonce `upnp add` and `upnp delete` agree on for `protocol` `internal_port`.
    #[cfg(any(feature = "blocking", feature = "tokio"))]
    pub(crate) fn derived_nonce(&self, protocol: Protocol, internal_port: u16) -> Nonce {
        derived_nonce(self.local.ip(), protocol, internal_port)
    }
}
