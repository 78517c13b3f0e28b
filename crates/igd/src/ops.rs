//! Every one-shot operation as a [`Machine`]: what the drivers run, and what a driver written
//! outside this crate runs the same way. Discovery ([`DiscoveryRun`]), the probe of one
//! device ([`ProbeRun`]), Godot's calls on a device ([`external_address`],
//! [`add_port_mapping`], [`delete_port_mapping`], [`list_port_mappings`], the IPv6 firewall's
//! [`open_pinhole`]), and PCP/NAT-PMP conversations. Each wraps the pure logic that decides
//! (the call sequences, the probe, discovery's choices, [`crate::pmp`]) and says which I/O it
//! needs. No I/O here.
//!
//! ```
//! use std::time::Instant;
//! use upnp_igd::machine::{Completed, Input, Io, Machine, Output, RouteTo};
//! use upnp_igd::{DiscoverOptions, DiscoverSettings, Goal, Limits, ops};
//!
//! let now = Instant::now();
//! let settings = DiscoverSettings::default();
//! let mut discovery =
//!     ops::DiscoveryRun::new(Goal::FirstPublic, &settings, &DiscoverOptions::default(), &Limits::default(), now)?;
//! // The first thing it asks for: the default gateway (the search also goes to it by
//! // unicast), then the SSDP search.
//! let Output::Start(token, Io::Route(RouteTo::Gateway)) = discovery.poll(now) else { panic!() };
//! discovery.handle(Input::Completed(token, Completed::Routed(None)), now);
//! assert!(matches!(discovery.poll(now), Output::Start(_, Io::Search(_))));
//! # Ok::<(), upnp_igd::Error>(())
//! ```

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use url::Url;

use crate::device::{
    Device, Probe, ProbeStep, best_gateway, our_addr, require_usable, select_gateway, select_usable,
};
use crate::discover::{DiscoverOptions, DiscoverSettings, Discovery, DiscoveryStep, Goal};
use crate::error::Error;
use crate::limits::{Limits, later};
use crate::machine::{
    Completed, Input, Io, Machine, Output, Pending, RouteTo, Token, polled_after_done,
};
use crate::mapping::{
    AddSequence, DeleteSequence, Granted, ListSequence, MappingRequest, Next, Sequence, Single,
};
use crate::pinhole::{FirewallCall, Pinhole, PinholeRequest, is_global_unicast};
use crate::pmp::{self, Method, PmpNext, PmpSequence, Session, Target, Way};
use upnp_soap::ActionResponse;
use upnp_soap::actions::GetExternalIpAddress;
use upnp_soap::actions::PortMapping;
use upnp_soap::firewall::AddPinhole;

mod reach;
#[cfg(test)]
mod tests;
mod upstream;

pub use reach::{DEFAULT_REACH_TIME, ReachReport, ReachRun};
#[cfg(test)]
pub(crate) use upstream::UPSTREAM_SEARCH;
pub use upstream::{AddThroughRun, DeleteThroughRun, FindUpstreamRun};

/// What a machine's exchange gets when its deadline passes with the exchange still out (a
/// driver's exchange ends by the deadline itself; this covers one that does not).
fn soap_timeout(limit: Duration) -> upnp_soap::Error {
    upnp_soap::Error::Timeout {
        after: limit,
        stage: upnp_soap::Stage::ReadingHead,
    }
}

/// A [`Sequence`] of SOAP calls to one control URL, all by one deadline.
#[derive(Debug)]
pub(crate) struct Soap<S: Sequence> {
    url: Url,
    deadline: Instant,
    limit: Duration,
    sequence: S,
    next: Option<Next<S::Output>>,
    io: Pending,
}

impl<S: Sequence> Soap<S> {
    /// Run `sequence` against `url`, starting at `now`, within `limit`.
    pub(crate) fn new(url: Url, mut sequence: S, limit: Duration, now: Instant) -> Soap<S> {
        let next = Some(sequence.start());
        Soap {
            url,
            deadline: later(now, limit),
            limit,
            sequence,
            next,
            io: Pending::default(),
        }
    }
}

impl<S: Sequence> Machine for Soap<S> {
    type Value = S::Output;
    type Event = Infallible;

    fn poll(&mut self, now: Instant) -> Output<S::Output, Infallible> {
        loop {
            return match self.next.take() {
                Some(Next::Call(request)) => Output::Start(
                    self.io.start(),
                    Io::Call {
                        url: self.url.clone(),
                        request,
                        deadline: self.deadline,
                    },
                ),
                Some(Next::Done(result)) => Output::Done(result),
                None if !self.io.is_waiting() => polled_after_done(),
                None if now >= self.deadline => {
                    self.io.forget();
                    self.next = Some(self.sequence.handle(Err(soap_timeout(self.limit))));
                    continue;
                }
                None => Output::Wait(self.deadline),
            };
        }
    }

    fn handle(&mut self, input: Input, _now: Instant) {
        if let Input::Completed(token, Completed::Called(outcome)) = input {
            if self.io.take(token) {
                self.next = Some(self.sequence.handle(outcome));
            }
        }
    }
}

/// Where a probe is once the device's service is known: our own addresses towards it.
#[derive(Debug)]
enum Routing {
    /// Our address towards the control URL: what mappings point at.
    Control,
    /// Our address towards the IPv6 firewall service: where pinholes go, if global.
    Firewall,
    /// Our global IPv6 address, when the route to the firewall gave none.
    Global,
}

/// The probe of one device (`Probe`), then our address towards it (its `igd_our_addr`
/// and `pinhole_addr`): the device, with its status. Never fails: a device that does not
/// answer is a device with an error status.
#[derive(Debug)]
pub struct ProbeRun {
    probe: Probe,
    step: Option<ProbeStep>,
    deadline: Instant,
    limit: Duration,
    io: Pending,
    /// What the I/O out is: a fetch (`true`) or a call.
    fetching: bool,
    routing: Option<(Box<Device>, Routing)>,
    /// Every route asked: the device is ready.
    routed: bool,
    done: bool,
}

impl ProbeRun {
    /// Run `probe` from `now`, every exchange by `deadline`.
    pub(crate) fn new(mut probe: Probe, deadline: Instant, now: Instant) -> ProbeRun {
        let step = Some(probe.start());
        ProbeRun {
            probe,
            step,
            deadline,
            limit: deadline.saturating_duration_since(now),
            io: Pending::default(),
            fetching: false,
            routing: None,
            routed: false,
            done: false,
        }
    }

    /// Probe the device at `url` (one the caller named), within [`Limits::probe`].
    pub fn at(url: &str, limits: &Limits, now: Instant) -> ProbeRun {
        let probe = Probe::new(Device::new(url, ""), None);
        ProbeRun::new(probe, later(now, limits.probe), now)
    }

    /// Check a gateway found before (`saved`) with one exchange
    /// (`Probe::revalidate`), within [`Limits::revalidate`].
    #[cfg(any(feature = "blocking", feature = "tokio"))]
    pub(crate) fn revalidate(saved: Device, limits: &Limits, now: Instant) -> ProbeRun {
        ProbeRun::new(Probe::revalidate(saved), later(now, limits.revalidate), now)
    }

    /// Only our pinhole address towards `device`'s IPv6 firewall service (a device built by
    /// hand, never probed), by `deadline`.
    pub(crate) fn routes(device: Device, deadline: Instant, now: Instant) -> ProbeRun {
        let mut run = ProbeRun::new(Probe::new(device.clone(), None), deadline, now);
        run.step = None;
        run.routing = Some((Box::new(device), Routing::Firewall));
        run
    }

    /// The next route to ask for, or the device when routing is over.
    fn route(&mut self) -> Output<Device, Infallible> {
        loop {
            let Some((device, routing)) = &mut self.routing else {
                return polled_after_done();
            };
            let to = match routing {
                Routing::Control => Url::parse(&device.igd_control_url).ok(),
                Routing::Firewall => device
                    .ipv6_firewall
                    .as_ref()
                    .and_then(|service| Url::parse(&service.control_url).ok()),
                Routing::Global => None,
            };
            match (to, &routing) {
                (Some(url), _) => {
                    return Output::Start(self.io.start(), Io::Route(RouteTo::Host(url)));
                }
                (None, Routing::Global) => {
                    return Output::Start(self.io.start(), Io::Route(RouteTo::Internet6));
                }
                (None, Routing::Control) => *routing = Routing::Firewall,
                // No firewall service: no pinholes.
                (None, Routing::Firewall) => return self.finish(),
            }
        }
    }

    fn routed(&mut self, addr: Option<IpAddr>) {
        let Some((device, routing)) = &mut self.routing else {
            return;
        };
        match routing {
            Routing::Control => {
                device.igd_our_addr = addr.map(|ip| ip.to_string()).unwrap_or_default();
                *routing = Routing::Firewall;
            }
            Routing::Firewall | Routing::Global => match addr {
                Some(IpAddr::V6(v6)) if is_global_unicast(v6) => {
                    device.pinhole_addr = Some(v6);
                    self.routed = true;
                }
                _ if matches!(routing, Routing::Firewall) => *routing = Routing::Global,
                _ => self.routed = true,
            },
        }
    }

    fn finish(&mut self) -> Output<Device, Infallible> {
        self.done = true;
        match self.routing.take() {
            Some((device, _)) => Output::Done(Ok(*device)),
            None => polled_after_done(),
        }
    }
}

impl Machine for ProbeRun {
    type Value = Device;
    type Event = Infallible;

    fn poll(&mut self, now: Instant) -> Output<Device, Infallible> {
        if self.done {
            return polled_after_done();
        }
        if self.io.is_waiting() {
            if now < self.deadline {
                return Output::Wait(self.deadline);
            }
            // Out of time with an exchange out: it failed; a route: go on without it.
            self.io.forget();
            if self.routing.is_some() {
                return self.finish();
            }
            let timeout = soap_timeout(self.limit);
            self.step = Some(match self.fetching {
                true => self.probe.fetched(Err(timeout)),
                false => self.probe.answered(Err(timeout)),
            });
        }
        if self.routed {
            return self.finish();
        }
        match self.step.take() {
            Some(ProbeStep::Fetch(url)) => {
                self.fetching = true;
                let deadline = self.deadline;
                Output::Start(self.io.start(), Io::Fetch { url, deadline })
            }
            Some(ProbeStep::Call(url, request)) => {
                self.fetching = false;
                let deadline = self.deadline;
                let io = Io::Call {
                    url,
                    request,
                    deadline,
                };
                Output::Start(self.io.start(), io)
            }
            Some(ProbeStep::Done(device)) => {
                self.routing = Some((device, Routing::Control));
                self.route()
            }
            None => self.route(),
        }
    }

    fn handle(&mut self, input: Input, _now: Instant) {
        let Input::Completed(token, completed) = input else {
            return;
        };
        if !self.io.take(token) {
            return;
        }
        match completed {
            Completed::Fetched(outcome) => self.step = Some(self.probe.fetched(outcome)),
            Completed::Called(outcome) => self.step = Some(self.probe.answered(outcome)),
            Completed::Routed(addr) => self.routed(addr),
            _ => {}
        }
    }
}

/// The tag of a discovery's search among its I/O (its probes are tagged by their id + 1).
const SEARCH: u16 = 0;

/// How long a discovery waits for the default gateway's address before searching without
/// it (drivers answer at once: it is read from the routing table).
const GATEWAY_WAIT: Duration = Duration::from_millis(100);

/// Where a discovery stands with the default gateway's address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GatewayAsk {
    /// To ask before the search.
    Ask,
    /// Asked with this token; searched without it after this instant.
    Asked(Token, Instant),
    /// Answered, or not needed (a unicast search).
    Known,
}

/// A discovery (`Discovery`): the search and the probes of the devices that answer, all
/// under one deadline. Its value: every device found with its probe's outcome.
#[derive(Debug)]
pub struct DiscoveryRun {
    discovery: Discovery,
    search: Option<upnp_ssdp::SearchOptions>,
    search_token: Option<Token>,
    /// The default gateway's address, asked before the search (it gets the M-SEARCHes by
    /// unicast too), and until when it is waited for.
    gateway: GatewayAsk,
    probes: Vec<(usize, ProbeRun)>,
    done: bool,
}

impl DiscoveryRun {
    /// A discovery for `goal` with the caller's settings and options, from `now`.
    pub fn new(
        goal: Goal,
        settings: &DiscoverSettings,
        options: &DiscoverOptions,
        limits: &Limits,
        now: Instant,
    ) -> Result<DiscoveryRun, Error> {
        let search = crate::discover::search_options(settings, options)?;
        let gateway = match search.destination.is_none() {
            true => GatewayAsk::Ask,
            false => GatewayAsk::Known,
        };
        Ok(DiscoveryRun {
            discovery: Discovery::new(goal, options, limits, now)?,
            search: Some(search),
            search_token: None,
            gateway,
            probes: Vec::new(),
            done: false,
        })
    }

    /// When it is over at the latest: the search's timeout + [`Limits::probe`] from its start.
    pub(crate) fn deadline(&self) -> Instant {
        self.discovery.deadline()
    }

    /// The probe with this id.
    fn probe(&mut self, id: usize) -> Option<&mut ProbeRun> {
        self.probes
            .iter_mut()
            .find(|(i, _)| *i == id)
            .map(|(_, p)| p)
    }
}

impl Machine for DiscoveryRun {
    type Value = Vec<Device>;
    type Event = Infallible;

    fn poll(&mut self, now: Instant) -> Output<Vec<Device>, Infallible> {
        if self.done {
            return polled_after_done();
        }
        if self.search.is_some() {
            match self.gateway {
                GatewayAsk::Ask => {
                    let token = Token::new(2).within(SEARCH);
                    self.gateway = GatewayAsk::Asked(token, later(now, GATEWAY_WAIT));
                    let ipv6 = self.search.as_ref().is_some_and(|s| s.ipv6);
                    let to = if ipv6 {
                        RouteTo::Gateway6
                    } else {
                        RouteTo::Gateway
                    };
                    return Output::Start(token, Io::Route(to));
                }
                GatewayAsk::Asked(_, until) if now < until => return Output::Wait(until),
                // Asked and answered, or not in time: search without it.
                GatewayAsk::Asked(..) | GatewayAsk::Known => {}
            }
        }
        if let Some(options) = self.search.take() {
            let token = Token::new(1).within(SEARCH);
            self.search_token = Some(token);
            return Output::Start(token, Io::Search(options));
        }
        loop {
            let mut wake: Option<Instant> = None;
            let mut index = 0;
            while let Some((id, probe)) = self.probes.get_mut(index) {
                let id = *id;
                match probe.poll(now) {
                    Output::Start(token, io) => {
                        let tag = u16::try_from(id + 1).unwrap_or(u16::MAX);
                        return Output::Start(token.within(tag), io);
                    }
                    Output::Wait(at) => {
                        wake = Some(wake.map_or(at, |w| w.min(at)));
                        index += 1;
                    }
                    Output::Done(device) => {
                        self.probes.remove(index);
                        if let Ok(device) = device {
                            self.discovery.probed(id, device);
                        }
                    }
                    Output::Event(never) => match never {},
                }
            }
            match self.discovery.poll(now) {
                DiscoveryStep::Probe(task) => {
                    let run = ProbeRun::new(task.probe, task.deadline, now);
                    self.probes.push((task.id, run));
                }
                DiscoveryStep::Wait(until) => {
                    return Output::Wait(wake.map_or(until, |w| w.min(until)));
                }
                DiscoveryStep::Done(result) => {
                    self.done = true;
                    return Output::Done(result);
                }
            }
        }
    }

    fn handle(&mut self, input: Input, now: Instant) {
        match input {
            Input::Completed(token, Completed::Routed(gateway)) if matches!(self.gateway, GatewayAsk::Asked(asked, _) if asked == token) =>
            {
                self.gateway = GatewayAsk::Known;
                if let (Some(IpAddr::V4(gateway)), Some(search)) = (gateway, &mut self.search) {
                    let to = SocketAddr::from((gateway, upnp_ssdp::SSDP_PORT));
                    search.also_to = vec![to];
                    self.discovery.default_gateway(IpAddr::V4(gateway));
                }
            }
            Input::Completed(token, Completed::Gateway6(gateway)) if matches!(self.gateway, GatewayAsk::Asked(asked, _) if asked == token) =>
            {
                self.gateway = GatewayAsk::Known;
                if let (Some(mut gateway), Some(search)) = (gateway, &mut self.search) {
                    gateway.set_port(upnp_ssdp::SSDP_PORT);
                    search.also_to = vec![SocketAddr::V6(gateway)];
                    self.discovery.default_gateway(IpAddr::V6(*gateway.ip()));
                }
            }
            Input::Answer(token, answer) if Some(token) == self.search_token => {
                let _ = self.discovery.response(&answer, now);
            }
            Input::Completed(token, Completed::Searched(outcome))
                if Some(token) == self.search_token =>
            {
                match outcome {
                    Ok(()) => self.discovery.search_ended(),
                    Err(e) => self.discovery.search_failed(e),
                }
            }
            input => {
                if let (Some(tag), input) = input.for_child() {
                    let id = usize::from(tag).checked_sub(1);
                    if let Some(probe) = id.and_then(|id| self.probe(id)) {
                        probe.handle(input, now);
                    }
                }
            }
        }
    }
}

/// A client of a gateway's PCP/NAT-PMP service, opened and probed: what it speaks and where
/// the gateway is.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PmpOpened {
    /// The way it speaks and our address.
    pub(crate) session: Session,
    /// The gateway's address and port.
    pub(crate) gateway: SocketAddr,
}

/// A [`PmpSequence`] through the client opened last, all by one deadline.
#[derive(Debug)]
pub(crate) struct PmpRun<S: PmpSequence> {
    sequence: S,
    next: Option<PmpNext<S::Output>>,
    deadline: Instant,
    io: Pending,
}

impl<S: PmpSequence> PmpRun<S> {
    /// Run `sequence` (one of [`crate::pmp`]'s, e.g. from a [`Session`]) from `now`
    /// within `limit`, through the client opened last.
    pub(crate) fn new(mut sequence: S, limit: Duration, now: Instant) -> PmpRun<S> {
        let next = Some(sequence.start());
        PmpRun {
            sequence,
            next,
            deadline: later(now, limit),
            io: Pending::default(),
        }
    }
}

/// What a PCP/NAT-PMP exchange out at its deadline ends with.
fn pmp_timeout() -> pcp_natpmp::Error {
    pcp_natpmp::Error::TimedOut(SocketAddr::from(([0, 0, 0, 0], pcp_natpmp::SERVER_PORT)))
}

impl<S: PmpSequence> Machine for PmpRun<S> {
    type Value = S::Output;
    type Event = Infallible;

    fn poll(&mut self, now: Instant) -> Output<S::Output, Infallible> {
        loop {
            return match self.next.take() {
                Some(PmpNext::Send(request)) => {
                    let deadline = self.deadline;
                    Output::Start(self.io.start(), Io::Exchange { request, deadline })
                }
                Some(PmpNext::Done(result)) => Output::Done(result),
                None if !self.io.is_waiting() => polled_after_done(),
                None if now >= self.deadline => {
                    self.io.forget();
                    self.next = Some(self.sequence.handle(Err(pmp_timeout())));
                    continue;
                }
                None => Output::Wait(self.deadline),
            };
        }
    }

    fn handle(&mut self, input: Input, _now: Instant) {
        if let Input::Completed(token, Completed::Exchanged(outcome)) = input {
            if self.io.take(token) {
                self.next = Some(self.sequence.handle(outcome));
            }
        }
    }
}

/// Open a PCP/NAT-PMP client towards a gateway and ask which version it speaks.
#[derive(Debug)]
pub(crate) struct PmpProbeRun {
    target: Target,
    way: Way,
    limit: Duration,
    opening: Pending,
    opened: Option<(Session, SocketAddr)>,
    probe: Option<PmpRun<pmp::PmpProbe>>,
    /// Why the client could not be opened.
    failure: Option<Error>,
    /// When opening must be over (a driver answers at once; one that does not is not
    /// waited for past this).
    opening_until: Option<Instant>,
    /// When the whole probe must be over, if sooner than its limit allows.
    cap: Option<Instant>,
    done: bool,
}

impl PmpProbeRun {
    /// Probe the gateway `target` names, speaking `way`, within `limits.call`.
    pub(crate) fn new(target: Target, way: Way, limits: &Limits) -> PmpProbeRun {
        PmpProbeRun {
            target,
            way,
            limit: limits.call,
            opening: Pending::default(),
            opened: None,
            probe: None,
            failure: None,
            opening_until: None,
            cap: None,
            done: false,
        }
    }

    /// End by `cap` at the latest (the deadline of a UPnP discovery run beside it).
    pub(crate) fn until(mut self, cap: Instant) -> PmpProbeRun {
        self.cap = Some(cap);
        self
    }

    /// What is left of its limit at `now`, within its cap.
    fn left(&self, now: Instant) -> Duration {
        match self.cap {
            Some(cap) => self.limit.min(cap.saturating_duration_since(now)),
            None => self.limit,
        }
    }
}

impl Machine for PmpProbeRun {
    type Value = PmpOpened;
    type Event = Infallible;

    fn poll(&mut self, now: Instant) -> Output<PmpOpened, Infallible> {
        if self.done {
            return polled_after_done();
        }
        let Some(until) = self.opening_until else {
            self.opening_until = Some(later(now, self.left(now)));
            let io = Io::OpenPmp {
                target: self.target,
                way: self.way,
            };
            return Output::Start(self.opening.start(), io);
        };
        if self.opening.is_waiting() {
            if now < until {
                return Output::Wait(until);
            }
            self.opening.forget();
            self.failure = Some(Error::Misuse("a PCP client neither opened nor failed"));
        }
        if let Some(e) = self.failure.take() {
            self.done = true;
            return Output::Done(Err(e));
        }
        let Some((session, gateway)) = self.opened else {
            self.done = true;
            return Output::Done(Err(Error::Misuse("a PCP client neither opened nor failed")));
        };
        let limit = self.left(now);
        let probe = self
            .probe
            .get_or_insert_with(|| PmpRun::new(session.probe(), limit, now));
        match probe.poll(now) {
            Output::Done(method) => {
                self.done = true;
                Output::Done(method.map(|method: Method| {
                    let mut session = session;
                    session.probed(method);
                    PmpOpened { session, gateway }
                }))
            }
            Output::Start(token, io) => Output::Start(token.within(1), io),
            Output::Wait(at) => Output::Wait(at),
            Output::Event(never) => match never {},
        }
    }

    fn handle(&mut self, input: Input, now: Instant) {
        match input {
            Input::Completed(token, Completed::Opened(opened)) if self.opening.take(token) => {
                match opened {
                    Ok((local, gateway)) => {
                        self.opened = Some((Session::new(self.way, local), gateway));
                    }
                    Err(e) => self.failure = Some(e),
                }
            }
            input => {
                if let ((Some(1), input), Some(probe)) = (input.for_child(), &mut self.probe) {
                    probe.handle(input, now);
                }
            }
        }
    }
}

/// What [`FindWay`] found: the devices its UPnP search probed (none when it made none) and
/// the way chosen: the UPnP gateway among them (its index), or the PCP/NAT-PMP client.
#[derive(Debug)]
pub(crate) struct WayFound {
    pub(crate) devices: Vec<Device>,
    pub(crate) found: Result<pmp::Found<usize, PmpOpened>, Error>,
}

/// Finding a way to map as `via` says: a UPnP discovery and a PCP/NAT-PMP probe at once, then
/// [`pmp::prefer`]'s order.
#[derive(Debug)]
pub(crate) struct FindWay {
    upnp: Option<DiscoveryRun>,
    pmp: Option<PmpProbeRun>,
    devices: Option<Result<Vec<Device>, Error>>,
    opened: Option<Result<PmpOpened, Error>>,
    done: bool,
}

/// The tags of [`FindWay`]'s two children.
const UPNP: u16 = 1;
const PMP: u16 = 2;

impl FindWay {
    /// Find a way from `now`: UPnP when `via` allows it (discovery with the caller's settings
    /// and options, stopping at the first public gateway), PCP/NAT-PMP towards `target` when
    /// it allows them.
    pub(crate) fn new(
        via: pmp::Via,
        target: Target,
        settings: &DiscoverSettings,
        options: &DiscoverOptions,
        limits: &Limits,
        now: Instant,
    ) -> Result<FindWay, Error> {
        let upnp = match via.upnp() {
            true => Some(DiscoveryRun::new(
                Goal::FirstPublic,
                settings,
                options,
                limits,
                now,
            )?),
            false => None,
        };
        // Every way within the same deadline: PCP and NAT-PMP are not waited for past the
        // end of a UPnP discovery beside them.
        let cap = upnp.as_ref().map(DiscoveryRun::deadline);
        let pmp = Way::of(via).map(|way| {
            let probe = PmpProbeRun::new(target, way, limits);
            match cap {
                Some(cap) => probe.until(cap),
                None => probe,
            }
        });
        Ok(FindWay {
            upnp,
            pmp,
            devices: None,
            opened: None,
            done: false,
        })
    }

    fn decide(&mut self) -> Output<WayFound, Infallible> {
        self.done = true;
        let (devices, upnp) = match self.devices.take() {
            Some(Ok(devices)) => {
                let listed: Vec<(usize, &Device)> = devices.iter().enumerate().collect();
                let chosen = match select_gateway(&listed, |(_, d)| d) {
                    Ok((i, _)) => Ok(*i),
                    // No valid gateway: a PCP/NAT-PMP one that answered comes before a UPnP
                    // one that is only usable.
                    Err(e) if matches!(self.opened, Some(Ok(_))) => Err(e),
                    Err(e) => select_usable(&listed, |(_, d)| d)
                        .map(|(i, _)| *i)
                        .or(Err(e)),
                };
                (devices, Some(chosen))
            }
            Some(Err(e)) => (Vec::new(), Some(Err(e))),
            None => (Vec::new(), None),
        };
        let found = pmp::prefer(upnp, self.opened.take());
        Output::Done(Ok(WayFound { devices, found }))
    }
}

impl Machine for FindWay {
    type Value = WayFound;
    type Event = Infallible;

    fn poll(&mut self, now: Instant) -> Output<WayFound, Infallible> {
        if self.done {
            return polled_after_done();
        }
        let mut wake: Option<Instant> = None;
        if let Some(upnp) = &mut self.upnp {
            match upnp.poll(now) {
                Output::Start(token, io) => return Output::Start(token.within(UPNP), io),
                Output::Wait(at) => wake = Some(at),
                Output::Done(devices) => {
                    let found = devices.as_ref().is_ok_and(|d| best_gateway(d).is_some());
                    self.devices = Some(devices);
                    self.upnp = None;
                    if found {
                        // UPnP is preferred: no need to wait for the other ways.
                        return self.decide();
                    }
                }
                Output::Event(never) => match never {},
            }
        }
        if let Some(pmp) = &mut self.pmp {
            match pmp.poll(now) {
                Output::Start(token, io) => return Output::Start(token.within(PMP), io),
                Output::Wait(at) => wake = Some(wake.map_or(at, |w| w.min(at))),
                Output::Done(opened) => {
                    self.opened = Some(opened);
                    self.pmp = None;
                    // Polled again at once: the other child may be waiting on it.
                    return self.poll(now);
                }
                Output::Event(never) => match never {},
            }
        }
        match wake {
            Some(at) => Output::Wait(at),
            None => self.decide(),
        }
    }

    fn handle(&mut self, input: Input, now: Instant) {
        match input.for_child() {
            (Some(UPNP), input) => {
                if let Some(upnp) = &mut self.upnp {
                    upnp.handle(input, now);
                }
            }
            (Some(PMP), input) => {
                if let Some(pmp) = &mut self.pmp {
                    pmp.handle(input, now);
                }
            }
            _ => {}
        }
    }
}

/// One action of `device`'s IPv6 firewall service from `now`, within [`Limits::call`].
#[cfg(any(feature = "blocking", feature = "tokio"))]
pub(crate) fn firewall<A: upnp_soap::Action>(
    device: &Device,
    action: A,
    limits: &Limits,
    now: Instant,
) -> Result<impl Machine<Value = A::Output, Event = Infallible> + use<A>, Error> {
    firewall_soap(device, action, limits, now)
}

fn firewall_soap<A: upnp_soap::Action>(
    device: &Device,
    action: A,
    limits: &Limits,
    now: Instant,
) -> Result<Soap<FirewallCall<A>>, Error> {
    let service = device
        .ipv6_firewall
        .as_ref()
        .ok_or(Error::NoPinholeService)?;
    let url = Url::parse(&service.control_url).map_err(|_| Error::NoPinholeService)?;
    let call = FirewallCall::new(action, &service.service_type);
    Ok(Soap::new(url, call, limits.call, now))
}

/// Opening an IPv6 pinhole: our pinhole address first when the device does not know it
/// (one built by hand), then the request checked ([`PinholeRequest::action`]) and sent.
#[derive(Debug)]
pub(crate) struct OpenPinhole {
    device: Device,
    request: PinholeRequest,
    limits: Limits,
    route: Option<ProbeRun>,
    call: Option<(AddPinhole, Soap<FirewallCall<AddPinhole>>)>,
    done: bool,
}

impl OpenPinhole {
    pub(crate) fn new(
        device: &Device,
        request: &PinholeRequest,
        limits: &Limits,
        now: Instant,
    ) -> OpenPinhole {
        let route = (device.pinhole_addr.is_none() && device.ipv6_firewall.is_some())
            .then(|| ProbeRun::routes(device.clone(), later(now, limits.call), now));
        OpenPinhole {
            device: device.clone(),
            request: request.clone(),
            limits: limits.clone(),
            route,
            call: None,
            done: false,
        }
    }

    /// The call, once our address is known.
    fn call(
        &mut self,
        now: Instant,
    ) -> Result<&mut (AddPinhole, Soap<FirewallCall<AddPinhole>>), Error> {
        if self.call.is_none() {
            let add = match self.request.action(self.device.pinhole_addr) {
                Err(Error::NoGlobalAddress) if self.device.ipv6_firewall.is_none() => {
                    Err(Error::NoPinholeService)
                }
                other => other,
            }?;
            let soap = firewall_soap(&self.device, add.clone(), &self.limits, now)?;
            self.call = Some((add, soap));
        }
        self.call
            .as_mut()
            .ok_or(Error::Misuse("a pinhole call not made"))
    }
}

impl Machine for OpenPinhole {
    type Value = Pinhole;
    type Event = Infallible;

    fn poll(&mut self, now: Instant) -> Output<Pinhole, Infallible> {
        if self.done {
            return polled_after_done();
        }
        if let Some(route) = &mut self.route {
            match route.poll(now) {
                Output::Start(token, io) => return Output::Start(token.within(1), io),
                Output::Wait(at) => return Output::Wait(at),
                Output::Done(device) => {
                    self.device.pinhole_addr = device.ok().and_then(|d| d.pinhole_addr);
                    self.route = None;
                }
                Output::Event(never) => match never {},
            }
        }
        let (add, soap) = match self.call(now) {
            Ok(call) => call,
            Err(e) => {
                self.done = true;
                return Output::Done(Err(e));
            }
        };
        match soap.poll(now) {
            Output::Start(token, io) => Output::Start(token.within(2), io),
            Output::Wait(at) => Output::Wait(at),
            Output::Done(id) => {
                let opened = id.map(|id| Pinhole::opened(add, id));
                self.done = true;
                Output::Done(opened)
            }
            Output::Event(never) => match never {},
        }
    }

    fn handle(&mut self, input: Input, now: Instant) {
        match (input.for_child(), &mut self.route, &mut self.call) {
            ((Some(1), input), Some(route), _) => route.handle(input, now),
            ((Some(2), input), _, Some((_, soap))) => soap.handle(input, now),
            _ => {}
        }
    }
}

/// Godot's `query_external_address` on `device` from `now`, within [`Limits::call`].
pub fn external_address(
    device: &Device,
    limits: &Limits,
    now: Instant,
) -> Result<impl Machine<Value = IpAddr, Event = Infallible> + use<>, Error> {
    let (url, service_type) = require_usable(device)?;
    let single = Single::new(GetExternalIpAddress, service_type);
    Ok(Soap::new(url, ExternalAddress(single), limits.call, now))
}

/// Godot's `add_port_mapping` on `device` from `now`: validate, look (never replace another
/// client's mapping), add with fallbacks, read back; within [`Limits::call`].
pub fn add_port_mapping(
    device: &Device,
    request: &MappingRequest,
    limits: &Limits,
    now: Instant,
) -> Result<impl Machine<Value = Granted, Event = Infallible> + use<>, Error> {
    let mapping = request.mapping()?;
    let (url, service_type) = require_usable(device)?;
    let sequence = AddSequence::new(&mapping, our_addr(device)?, service_type);
    Ok(Soap::new(url, sequence, limits.call, now))
}

/// Godot's `delete_port_mapping` on `device` from `now`: only a mapping to us; within
/// [`Limits::call`].
pub fn delete_port_mapping(
    device: &Device,
    port: i64,
    proto: &str,
    limits: &Limits,
    now: Instant,
) -> Result<impl Machine<Value = (), Event = Infallible> + use<>, Error> {
    let sequence = DeleteSequence::new(port, proto, &device.igd_service_type)?;
    let (url, _) = require_usable(device)?;
    let sequence = sequence.client(our_addr(device)?);
    Ok(Soap::new(url, sequence, limits.call, now))
}

/// Every mapping of `device` from `now`: at most [`Limits::list_entries`], within
/// [`Limits::list`].
pub fn list_port_mappings(
    device: &Device,
    limits: &Limits,
    now: Instant,
) -> Result<impl Machine<Value = Vec<PortMapping>, Event = Infallible> + use<>, Error> {
    let (url, service_type) = require_usable(device)?;
    let sequence = ListSequence::new(service_type).max_entries(limits.list_entries);
    Ok(Soap::new(url, sequence, limits.list, now))
}

/// Open an IPv6 pinhole on `device` for `request` from `now` (see `OpenPinhole`).
pub fn open_pinhole(
    device: &Device,
    request: &PinholeRequest,
    limits: &Limits,
    now: Instant,
) -> impl Machine<Value = Pinhole, Event = Infallible> + use<> {
    OpenPinhole::new(device, request, limits, now)
}

/// `GetExternalIPAddress` as a sequence whose end is the address, or why there is none.
#[derive(Debug)]
pub(crate) struct ExternalAddress(Single<GetExternalIpAddress>);

impl Sequence for ExternalAddress {
    type Output = IpAddr;

    fn start(&mut self) -> Next<IpAddr> {
        match self.0.start() {
            Next::Call(request) => Next::Call(request),
            Next::Done(done) => Next::Done(done.and_then(address)),
        }
    }

    fn handle(&mut self, outcome: Result<ActionResponse, upnp_soap::Error>) -> Next<IpAddr> {
        match self.0.handle(outcome) {
            Next::Call(request) => Next::Call(request),
            Next::Done(done) => Next::Done(done.and_then(address)),
        }
    }
}

fn address(ip: Option<IpAddr>) -> Result<IpAddr, Error> {
    ip.ok_or(Error::InvalidResponse(
        "the gateway reports no external address",
    ))
}
