//! In-memory gateways for the unit tests: a UPnP one answering SOAP actions and a PCP /
//! NAT-PMP one answering requests, in the ways of miniupnpd.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use crate::machine::{Completed, Input, Io, Machine, Output, RouteTo};

use pcp_natpmp::{
    Map, NatPmpRequest, NatPmpResponse, NatPmpResult, Nonce, PcpOption, PcpResponse, PcpResult,
    Request, RequestOp, Response, ResponseOp,
};
use upnp_soap::{ActionRequest, ActionResponse, ErrorCode, SoapFault};

pub(crate) const WANIP2: &str = "urn:schemas-upnp-org:service:WANIPConnection:2";

/// Our address and port, as the PCP gateway sees them.
pub(crate) fn us() -> SocketAddr {
    SocketAddr::from(([192, 168, 77, 10], 40000))
}

/// The PCP gateway's address and port.
pub(crate) fn gateway_addr() -> SocketAddr {
    SocketAddr::from(([192, 168, 77, 1], 5351))
}

/// The router's link-local IPv6 address (scope 2 on our side).
pub(crate) const ROUTER6: std::net::Ipv6Addr = std::net::Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);

pub(crate) const WAN: Ipv4Addr = Ipv4Addr::new(11, 0, 0, 7);

/// A gateway in memory: its port mappings (external port → internal client, internal port,
/// lease) and its external address, answering the actions the keeper sends.
pub(crate) struct UpnpRouter {
    pub(crate) external: String,
    pub(crate) entries: BTreeMap<u16, (String, String, String)>,
    pub(crate) calls: Vec<String>,
}

impl UpnpRouter {
    pub(crate) fn new() -> UpnpRouter {
        UpnpRouter {
            external: "11.0.0.7".to_owned(),
            entries: BTreeMap::new(),
            calls: Vec::new(),
        }
    }

    pub(crate) fn answer(
        &mut self,
        request: &ActionRequest,
    ) -> Result<ActionResponse, upnp_soap::Error> {
        self.calls.push(request.action.clone());
        let arg = |name: &str| {
            request
                .arguments
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let port: u16 = arg("NewExternalPort").parse().unwrap_or(0);
        let ok = |arguments: Vec<(&str, String)>| {
            Ok(ActionResponse {
                service_type: Some(WANIP2.to_owned()),
                action: format!("{}Response", request.action),
                arguments: arguments
                    .into_iter()
                    .map(|(n, v)| (n.to_owned(), v))
                    .collect(),
            })
        };
        match request.action.as_str() {
            "GetExternalIPAddress" => ok(vec![("NewExternalIPAddress", self.external.clone())]),
            "GetStatusInfo" => ok(vec![("NewConnectionStatus", "Connected".to_owned())]),
            "GetSpecificPortMappingEntry" => match self.entries.get(&port) {
                Some((client, internal, lease)) => ok(vec![
                    ("NewInternalPort", internal.clone()),
                    ("NewInternalClient", client.clone()),
                    ("NewEnabled", "1".to_owned()),
                    ("NewPortMappingDescription", "test".to_owned()),
                    ("NewLeaseDuration", lease.clone()),
                ]),
                None => fault(ErrorCode::NoSuchEntryInArray),
            },
            "AddPortMapping" => {
                let entry = (
                    arg("NewInternalClient"),
                    arg("NewInternalPort"),
                    arg("NewLeaseDuration"),
                );
                self.entries.insert(port, entry);
                ok(Vec::new())
            }
            "AddAnyPortMapping" => {
                let free = (port..=u16::MAX)
                    .chain(1024..port)
                    .find(|p| !self.entries.contains_key(p))
                    .unwrap();
                let entry = (
                    arg("NewInternalClient"),
                    arg("NewInternalPort"),
                    arg("NewLeaseDuration"),
                );
                self.entries.insert(free, entry);
                ok(vec![("NewReservedPort", free.to_string())])
            }
            "DeletePortMapping" => match self.entries.remove(&port) {
                Some(_) => ok(Vec::new()),
                None => fault(ErrorCode::NoSuchEntryInArray),
            },
            other => panic!("unexpected action {other}"),
        }
    }
}

pub(crate) fn fault(code: ErrorCode) -> Result<ActionResponse, upnp_soap::Error> {
    Err(upnp_soap::Error::Fault(SoapFault::new(code, "")))
}

/// A PCP (or NAT-PMP only) gateway in memory, in the ways of miniupnpd: mappings by
/// protocol and internal port, each with the nonce that made it; an epoch counted from its
/// start; ports held by other hosts.
pub(crate) struct PmpRouter {
    pub(crate) pcp: bool,
    pub(crate) started: Instant,
    pub(crate) mappings: BTreeMap<(u8, u16), (Nonce, u16, u32)>,
    pub(crate) others: Vec<u16>,
    /// Lifetimes asked for, in order (0: removals).
    pub(crate) asked: Vec<u32>,
    /// Nonces of MAP requests for port mappings (not address probes), in order.
    pub(crate) nonces: Vec<Nonce>,
    /// No answer: the exchange ends with a timeout at once (the driver's own deadline).
    pub(crate) silent: bool,
    /// No answer and no end: the exchange is left to the machine's deadline (time passes).
    pub(crate) hangs: bool,
}

impl PmpRouter {
    pub(crate) fn new(now: Instant) -> PmpRouter {
        PmpRouter {
            pcp: true,
            started: now,
            mappings: BTreeMap::new(),
            others: Vec::new(),
            asked: Vec::new(),
            nonces: Vec::new(),
            silent: false,
            hangs: false,
        }
    }

    pub(crate) fn restart(&mut self, now: Instant) {
        self.started = now;
        self.mappings.clear();
    }

    pub(crate) fn epoch(&self, now: Instant) -> u32 {
        u32::try_from(now.duration_since(self.started).as_secs()).unwrap()
    }

    pub(crate) fn free_from(&self, port: u16) -> u16 {
        (port..=u16::MAX)
            .find(|p| !self.others.contains(p) && !self.mappings.values().any(|(_, e, _)| e == p))
            .unwrap()
    }

    pub(crate) fn answer(
        &mut self,
        request: &Request,
        now: Instant,
    ) -> Result<Response, pcp_natpmp::Error> {
        if self.silent {
            return Err(pcp_natpmp::Error::TimedOut(gateway_addr()));
        }
        let epoch = self.epoch(now);
        match request {
            Request::Pcp(_) if !self.pcp => Ok(Response::NatPmp(NatPmpResponse::Bare {
                opcode: 0,
                result: NatPmpResult::UnsupportedVersion,
                epoch,
            })),
            Request::Pcp(request) => {
                let pcp = |result, lifetime, op| {
                    Ok(Response::Pcp(PcpResponse {
                        result,
                        lifetime,
                        epoch,
                        op,
                        options: Vec::new(),
                    }))
                };
                let map = match &request.op {
                    RequestOp::Announce => return pcp(PcpResult::Success, 0, ResponseOp::Announce),
                    RequestOp::Map(map) => *map,
                };
                let key = (map.protocol.number(), map.internal_port);
                let probe = map.internal_port == us().port();
                if !probe {
                    self.asked.push(request.lifetime);
                    self.nonces.push(map.nonce);
                }
                if let Some((nonce, _, _)) = self.mappings.get(&key) {
                    if *nonce != map.nonce {
                        return pcp(PcpResult::NotAuthorized, 30, ResponseOp::Bare(1));
                    }
                }
                if request.lifetime == 0 {
                    return match self.mappings.remove(&key) {
                        Some(_) => pcp(PcpResult::Success, 0, ResponseOp::Map(map)),
                        None => pcp(PcpResult::NoResources, 30, ResponseOp::Bare(1)),
                    };
                }
                let lifetime = request.lifetime.max(120);
                let external = match self.mappings.get(&key) {
                    Some((_, external, _)) => *external,
                    None => {
                        let free = self.free_from(map.external_port);
                        let exact = request.options.contains(&PcpOption::PreferFailure);
                        if exact && free != map.external_port {
                            return pcp(PcpResult::CannotProvideExternal, 30, ResponseOp::Bare(1));
                        }
                        free
                    }
                };
                self.mappings.insert(key, (map.nonce, external, lifetime));
                let granted = Map {
                    external_port: external,
                    external_address: IpAddr::V4(WAN),
                    ..map
                };
                pcp(PcpResult::Success, lifetime, ResponseOp::Map(granted))
            }
            Request::NatPmp(NatPmpRequest::ExternalAddress) => {
                Ok(Response::NatPmp(NatPmpResponse::ExternalAddress {
                    result: NatPmpResult::Success,
                    epoch,
                    address: WAN,
                }))
            }
            Request::NatPmp(NatPmpRequest::Map {
                protocol,
                internal_port,
                external_port,
                lifetime,
            }) => {
                let key = (protocol.number(), *internal_port);
                self.asked.push(*lifetime);
                let nonce = Nonce([0; 12]);
                let external = if *lifetime == 0 {
                    self.mappings.remove(&key);
                    0
                } else {
                    let external = match self.mappings.get(&key) {
                        Some((_, e, _)) => *e,
                        None => self.free_from(*external_port),
                    };
                    self.mappings.insert(key, (nonce, external, *lifetime));
                    external
                };
                Ok(Response::NatPmp(NatPmpResponse::Map {
                    protocol: *protocol,
                    result: NatPmpResult::Success,
                    epoch,
                    internal_port: *internal_port,
                    external_port: external,
                    lifetime: *lifetime,
                }))
            }
        }
    }

    pub(crate) fn external_of(&self, internal_port: u16) -> Option<u16> {
        self.mappings
            .iter()
            .find(|((_, i), _)| *i == internal_port)
            .map(|(_, (_, e, _))| *e)
    }
}

/// Where the in-memory UPnP gateway's description is.
pub(crate) const LOCATION: &str = "http://192.168.77.1:5000/rootDesc.xml";

/// Where the router in front's description is (on our gateway's WAN side).
pub(crate) const UPSTREAM_LOCATION: &str = "http://192.168.1.1:5000/rootDesc.xml";

/// The router in front's address on our gateway's WAN side.
pub(crate) const UPSTREAM: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);

/// A LAN in memory for machines: a UPnP gateway (`None`: UPnP off, nothing answers the
/// search and every connection is refused) and a PCP gateway (`None`: nothing on 5351).
/// It performs each [`Io`] at once, as a driver would.
pub(crate) struct Lan {
    pub(crate) upnp: Option<UpnpRouter>,
    pub(crate) pmp: Option<PmpRouter>,
    /// Every I/O started, in order (its kind).
    pub(crate) log: Vec<&'static str>,
    /// The router answers multicast M-SEARCHes (else only those sent to it by unicast).
    pub(crate) multicast: bool,
    /// Listeners cannot be had (the SSDP port held by another program).
    pub(crate) deaf: bool,
    /// A STUN server, if any.
    pub(crate) stun: Option<StunServer>,
    /// A router in front of the gateway (at [`UPSTREAM`], answering unicast M-SEARCHes
    /// only), if any.
    pub(crate) upstream: Option<UpnpRouter>,
    /// The PCP server of the router in front, if any.
    pub(crate) upstream_pmp: Option<PmpRouter>,
    /// What a TTL-limited probe finds two hops away.
    pub(crate) hop: Option<IpAddr>,
    /// The host has no IPv4 default route.
    pub(crate) no_default_gateway: bool,
    /// A search goes on until its timeout (its end is not reported at once).
    pub(crate) search_lingers: bool,
    /// The PCP client opened last: towards our gateway (`Some(false)`), the router in front
    /// (`Some(true)`), or an address with nothing there (`None`).
    pmp_in_front: Option<bool>,
}

/// A STUN server in memory: where it sees us, its other address, and what it answers.
pub(crate) struct StunServer {
    pub(crate) seen: SocketAddr,
    pub(crate) other: Option<SocketAddr>,
    /// It answers a change request from its other address.
    pub(crate) changes: bool,
    /// It answers garbage instead.
    pub(crate) garbage: bool,
}

fn refused() -> upnp_soap::Error {
    upnp_soap::Error::Io {
        stage: upnp_soap::Stage::Connecting {
            to: SocketAddr::from(([192, 168, 77, 1], 5000)),
        },
        source: std::io::ErrorKind::ConnectionRefused.into(),
    }
}

impl Lan {
    pub(crate) fn new(now: Instant) -> Lan {
        Lan {
            upnp: Some(UpnpRouter::new()),
            pmp: Some(PmpRouter::new(now)),
            log: Vec::new(),
            multicast: true,
            deaf: false,
            stun: None,
            upstream: None,
            upstream_pmp: None,
            hop: None,
            no_default_gateway: false,
            search_lingers: false,
            pmp_in_front: Some(false),
        }
    }

    /// What performing `io` gives back.
    fn perform(&mut self, token: crate::machine::Token, io: Io, now: Instant) -> Vec<Input> {
        let done = |completed| vec![Input::Completed(token, completed)];
        match io {
            Io::Search(options) => {
                self.log.push("search");
                let mut inputs = Vec::new();
                let router = SocketAddr::from(([192, 168, 77, 1], 1900));
                let router6 = SocketAddr::V6(std::net::SocketAddrV6::new(ROUTER6, 1900, 0, 2));
                let heard = (self.multicast && options.destination.is_none())
                    || options.also_to.contains(&router)
                    || options.also_to.contains(&router6)
                    || options.destination == Some(router);
                if self.upnp.is_some() && heard {
                    let answer = upnp_ssdp::SearchResponse::new(
                        LOCATION,
                        "urn:schemas-upnp-org:device:InternetGatewayDevice:2"
                            .parse()
                            .unwrap(),
                    );
                    let from = SocketAddr::from(([192, 168, 77, 1], 1900));
                    let response = upnp_ssdp::search::Response::new(from, answer, now);
                    inputs.push(Input::Answer(token, response));
                }
                let front = SocketAddr::from((UPSTREAM, 1900));
                let asked = options.destination == Some(front) || options.also_to.contains(&front);
                if self.upstream.is_some() && asked {
                    let answer = upnp_ssdp::SearchResponse::new(
                        UPSTREAM_LOCATION,
                        "urn:schemas-upnp-org:device:InternetGatewayDevice:2"
                            .parse()
                            .unwrap(),
                    );
                    let response = upnp_ssdp::search::Response::new(front, answer, now);
                    inputs.push(Input::Answer(token, response));
                }
                if !self.search_lingers {
                    inputs.push(Input::Completed(token, Completed::Searched(Ok(()))));
                }
                inputs
            }
            Io::Fetch { url, .. } => {
                self.log.push("fetch");
                let path = format!(
                    "{}/tests/data/miniupnpd-v2-rootDesc.xml",
                    env!("CARGO_MANIFEST_DIR")
                );
                let description = std::fs::read_to_string(path).unwrap();
                let in_front = url.host_str() == Some("192.168.1.1");
                let router = match in_front {
                    true => self.upstream.as_ref(),
                    false => self.upnp.as_ref(),
                };
                // The router in front: another device (another UDN).
                let description = match in_front {
                    true => description.replace("3d3cec3a", "5b2e8d1c"),
                    false => description,
                };
                done(Completed::Fetched(match router {
                    Some(_) => Ok(description.into_bytes()),
                    None => Err(refused()),
                }))
            }
            Io::Call { url, request, .. } => {
                self.log.push("call");
                let router = match url.host_str() == Some("192.168.1.1") {
                    true => self.upstream.as_mut(),
                    false => self.upnp.as_mut(),
                };
                done(Completed::Called(match router {
                    Some(router) => router.answer(&request),
                    None => Err(refused()),
                }))
            }
            Io::Route(RouteTo::Gateway) => {
                self.log.push("gateway");
                let gateway = Some(gateway_addr().ip()).filter(|_| !self.no_default_gateway);
                done(Completed::Routed(gateway))
            }
            Io::Route(RouteTo::Host(_)) => {
                self.log.push("route");
                done(Completed::Routed(Some(us().ip())))
            }
            Io::Route(RouteTo::Hop { .. }) => {
                self.log.push("hop");
                done(Completed::Routed(self.hop))
            }
            Io::Route(RouteTo::Gateway6) => {
                self.log.push("gateway6");
                let gateway = std::net::SocketAddrV6::new(ROUTER6, 0, 0, 2);
                done(Completed::Gateway6(Some(gateway)))
            }
            Io::Route(_) => {
                self.log.push("route6");
                done(Completed::Routed(None))
            }
            Io::OpenPmp { target, .. } => {
                self.log.push("open");
                let front = SocketAddr::from((UPSTREAM, 5351));
                let (in_front, gateway) = match target {
                    crate::pmp::Target::At(at) if at == front => (Some(true), at),
                    crate::pmp::Target::At(at) if at != gateway_addr() => (None, at),
                    _ => (Some(false), gateway_addr()),
                };
                self.pmp_in_front = in_front;
                done(Completed::Opened(Ok((us(), gateway))))
            }
            Io::Exchange { .. } if self.pmp.as_ref().is_some_and(|p| p.hangs) => {
                self.log.push("exchange");
                Vec::new()
            }
            Io::Exchange { request, .. } => {
                self.log.push("exchange");
                let router = match self.pmp_in_front {
                    Some(true) => self.upstream_pmp.as_mut(),
                    Some(false) => self.pmp.as_mut(),
                    None => None,
                };
                done(Completed::Exchanged(match router {
                    Some(router) => router.answer(&request, now),
                    None => Err(pcp_natpmp::Error::PortUnreachable(gateway_addr())),
                }))
            }
            Io::Stun {
                server, request, ..
            } => {
                self.log.push("stun");
                let timed_out = || Err(std::io::ErrorKind::TimedOut.into());
                let Some(stun) = &self.stun else {
                    return done(Completed::Stunned(timed_out()));
                };
                let Ok(asked) = crate::reach::BindingRequest::parse(&request) else {
                    return done(Completed::Stunned(timed_out()));
                };
                if stun.garbage {
                    return done(Completed::Stunned(Ok((server, b"garbage".to_vec()))));
                }
                let answer = crate::reach::BindingAnswer {
                    other_address: stun.other,
                    ..crate::reach::BindingAnswer::new(asked.transaction, stun.seen)
                };
                let from = match (asked.change_address, stun.other) {
                    (false, _) => server,
                    (true, Some(other)) if stun.changes => other,
                    (true, _) => return done(Completed::Stunned(timed_out())),
                };
                done(Completed::Stunned(Ok((from, answer.encode()))))
            }
            Io::Listen(_) => {
                self.log.push("listen");
                Vec::new()
            }
            Io::Notifications { .. } => {
                self.log.push("notifications");
                match self.deaf {
                    true => done(Completed::Deaf(crate::Error::Discovery(
                        upnp_ssdp::Error::Io {
                            context: "bind",
                            source: std::io::ErrorKind::AddrInUse.into(),
                        },
                    ))),
                    false => Vec::new(),
                }
            }
        }
    }

    /// Drive `machine` at `now` until it waits (`Err(until)`) or is done (`Ok(value)`); its
    /// events to `events`.
    pub(crate) fn drive<M: Machine>(
        &mut self,
        machine: &mut M,
        now: Instant,
        events: &mut Vec<M::Event>,
    ) -> Result<Result<M::Value, crate::Error>, Instant> {
        for _ in 0..10_000 {
            match machine.poll(now) {
                Output::Start(token, io) => {
                    for input in self.perform(token, io, now) {
                        machine.handle(input, now);
                    }
                }
                Output::Event(event) => events.push(event),
                Output::Wait(until) => return Err(until),
                Output::Done(value) => return Ok(value),
            }
        }
        panic!("the machine never waits");
    }
}
