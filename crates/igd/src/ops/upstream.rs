//! Mapping through our gateway and the router in front of it ([`crate::upstream`]), as
//! machines: [`FindUpstreamRun`] (where the router in front is), [`AddThroughRun`] and
//! [`DeleteThroughRun`], each a chain of the one-hop machines of [`crate::ops`] (a SOAP
//! sequence, a unicast discovery, a PCP/NAT-PMP probe and exchange), one after the other,
//! each under its own deadline.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::{DiscoveryRun, ExternalAddress, PmpOpened, PmpProbeRun, PmpRun, Soap};
use crate::device::{Device, our_addr, require_usable};
use crate::discover::{DiscoverOptions, DiscoverSettings, Goal};
use crate::error::Error;
use crate::limits::{Limits, later};
use crate::machine::{Completed, Input, Io, Machine, Output, Pending, RouteTo, polled_after_done};
use crate::mapping::{AddSequence, DeleteSequence, Mapping, MappingRequest, Single};
use crate::pmp::{LONGEST_LIFETIME, PmpAdd, PmpDelete, PmpMapping, Target, Way, derived_nonce};
use crate::upstream::{Beyond, FrontGrant, Removed, Router, Through, Upstream};
use upnp_soap::actions::GetExternalIpAddress;

/// How long the unicast search of the router in front waits for an answer (a router asked
/// by unicast answers within milliseconds; a second is generous, and bounds what nobody
/// answers).
pub(crate) const UPSTREAM_SEARCH: Duration = Duration::from_millis(1000);

/// How long each address is given to answer PCP or NAT-PMP when no IGD answered there
/// (NAT-PMP's first three tries; an address with nothing on port 5351 answers at once with
/// a port unreachable).
pub(crate) const UPSTREAM_PMP_WAIT: Duration = Duration::from_millis(2000);

/// How long the TTL-limited probe of the router beyond our gateway is waited for (an ICMP
/// answer from the next router comes within milliseconds).
const HOP_WAIT: Duration = Duration::from_millis(500);

/// The unicast search's TTL: enough to cross our gateway (and a bridge or two), not to
/// leave the building.
const UPSTREAM_TTL: i64 = 4;

/// What polling a child gave: its value, or an output to pass on.
enum Stepped<V, T, E> {
    Done(Result<V, Error>),
    Out(Output<T, E>),
}

/// Poll `child`, whose tokens are tagged `tag`: its value when it is done, else what to
/// pass on.
fn step<M, T, E>(child: &mut M, tag: u16, now: Instant) -> Stepped<M::Value, T, E>
where
    M: Machine<Event = Infallible>,
{
    match child.poll(now) {
        Output::Start(token, io) => Stepped::Out(Output::Start(token.within(tag), io)),
        Output::Wait(at) => Stepped::Out(Output::Wait(at)),
        Output::Event(never) => match never {},
        Output::Done(value) => Stepped::Done(value),
    }
}

/// Hand `input` to `child` when it is for `tag` (or for no one in particular).
fn route<M: Machine>(child: &mut M, tag: u16, input: Input, now: Instant) {
    match input.for_child() {
        (Some(t), input) if t == tag => child.handle(input, now),
        (None, input) => child.handle(input, now),
        _ => {}
    }
}

/// A discovery of the router in front at `to` only (unicast M-SEARCHes to their port 1900,
/// no multicast, no default gateway asked), the first valid one taken.
fn unicast_discovery(to: &[IpAddr], limits: &Limits, now: Instant) -> Result<DiscoveryRun, Error> {
    let timeout = i64::try_from(UPSTREAM_SEARCH.as_millis()).unwrap_or(1000);
    let options = DiscoverOptions::default()
        .timeout(timeout)
        .ttl(UPSTREAM_TTL);
    let settings = DiscoverSettings {
        discover_gateway: to.first().copied(),
        ..DiscoverSettings::default()
    };
    let mut run = DiscoveryRun::new(Goal::FirstPublic, &settings, &options, limits, now)?;
    if let Some(search) = &mut run.search {
        search.also_to = to
            .iter()
            .skip(1)
            .map(|ip| SocketAddr::new(*ip, upnp_ssdp::SSDP_PORT))
            .collect();
    }
    Ok(run)
}

/// The router in front among what the unicast discovery found: a valid gateway that is
/// not our own (another UDN), its mappings pointed at our gateway's external address.
fn router_in_front(
    found: Result<Vec<Device>, Error>,
    ours: &Device,
    our_external: IpAddr,
) -> Result<Device, Error> {
    let found: Vec<Device> = found?
        .into_iter()
        .filter(|d| d.udn.is_none() || d.udn != ours.udn)
        .filter(|d| d.description_url != ours.description_url)
        .collect();
    let mut router = crate::device::select_usable(&found, |d| d)?.clone();
    router.igd_our_addr = our_external.to_string();
    Ok(router)
}

#[derive(Debug)]
enum FindStage {
    Address(Box<Soap<ExternalAddress>>),
    /// The TTL-limited probe of the router beyond our gateway (once `asked`), awaited
    /// until this instant.
    Hop {
        until: Instant,
        asked: bool,
    },
    Search(Box<DiscoveryRun>),
    /// PCP/NAT-PMP at the address asked now (the index into `asked`), UPnP having found
    /// nothing (why: the error kept).
    Pmp(Box<PmpProbeRun>, usize, Error),
    Done,
}

/// Where the router in front of `device` is ([`Upstream`] says where to look): our
/// gateway's external address (asked when the probe did not give it), then a unicast
/// M-SEARCH to each address asked, then, where no IGD answered, PCP and NAT-PMP at each in
/// turn (unless made for a keeper, which holds an IGD only). Its value: [`Beyond::Done`] with the
/// router, or why there is none; never an error. Bounded: [`Limits::call`] +
/// the search's 1 s + [`Limits::probe`] + 2 s of PCP/NAT-PMP per address.
#[derive(Debug)]
pub struct FindUpstreamRun {
    ours: Device,
    upstream: Upstream,
    limits: Limits,
    stage: FindStage,
    pmp: bool,
    external: Option<IpAddr>,
    asked: Vec<IpAddr>,
    /// The PCP/NAT-PMP client found in front (its session, to map through).
    opened: Option<PmpOpened>,
    /// The router one hop beyond our gateway, when the probe found it.
    hop: Option<IpAddr>,
    io: Pending,
    ready: Option<Beyond<()>>,
}

impl FindUpstreamRun {
    /// Look in front of `device` as `upstream` says, from `now`.
    pub fn new(
        device: &Device,
        upstream: Upstream,
        limits: &Limits,
        now: Instant,
    ) -> FindUpstreamRun {
        let mut run = FindUpstreamRun {
            ours: device.clone(),
            upstream,
            limits: limits.clone(),
            stage: FindStage::Done,
            pmp: true,
            external: None,
            asked: Vec::new(),
            opened: None,
            hop: None,
            io: Pending::default(),
            ready: None,
        };
        match (upstream, device.external_address, require_usable(device)) {
            (Upstream::Off, ..) => run.ready = Some(Beyond::NotAsked),
            (_, Some(external), _) => run.external_known(external, now),
            (_, None, Ok((url, service_type))) => {
                let ask = ExternalAddress(Single::new(GetExternalIpAddress, service_type));
                let soap = Soap::new(url, ask, limits.call, now);
                run.stage = FindStage::Address(Box::new(soap));
            }
            (_, None, Err(e)) => run.ready = Some(Beyond::NoAddress(e)),
        }
        run
    }

    /// Only an IGD in front (no PCP or NAT-PMP asked): what a keeper holds.
    pub(crate) fn upnp_only(mut self) -> FindUpstreamRun {
        self.pmp = false;
        self
    }

    /// Our gateway's external address, once known.
    pub(crate) fn external(&self) -> Option<IpAddr> {
        self.external
    }

    /// The PCP/NAT-PMP client of the router in front, when that is what was found.
    pub(crate) fn opened(&self) -> Option<PmpOpened> {
        self.opened
    }

    /// With our gateway's external address known: the probe of the hop beyond it first,
    /// when the usual addresses would be asked.
    fn external_known(&mut self, external: IpAddr, now: Instant) {
        self.external = Some(external);
        match self.upstream.probes_hop(external) {
            true => {
                self.stage = FindStage::Hop {
                    until: later(now, HOP_WAIT),
                    asked: false,
                }
            }
            false => self.search(external, now),
        }
    }

    fn search(&mut self, external: IpAddr, now: Instant) {
        self.external = Some(external);
        self.asked = self.upstream.candidates_with_hop(external, self.hop);
        if self.asked.is_empty() {
            self.ready = Some(Beyond::NotAsked);
            return;
        }
        match unicast_discovery(&self.asked, &self.limits, now) {
            Ok(run) => self.stage = FindStage::Search(Box::new(run)),
            Err(why) => self.not_found(why),
        }
    }

    /// Nothing usable found: PCP/NAT-PMP at the address after `index`, or the end.
    fn next_pmp(&mut self, index: usize, why: Error, now: Instant) {
        match self.asked.get(index) {
            Some(ip) if self.pmp => {
                let target = Target::gateway(*ip);
                let way = Way::Pcp { fallback: true };
                let run = PmpProbeRun::new(target, way, &self.limits)
                    .until(later(now, UPSTREAM_PMP_WAIT));
                self.stage = FindStage::Pmp(Box::new(run), index, why);
            }
            _ => self.not_found(why),
        }
    }

    fn not_found(&mut self, why: Error) {
        let (asked, hop) = (self.asked.clone(), self.hop);
        self.ready = Some(Beyond::NotFound { asked, hop, why });
    }

    fn tag(&self) -> u16 {
        match self.stage {
            FindStage::Address(_) => 1,
            FindStage::Hop { .. } => 2,
            FindStage::Search(_) => 3,
            // Each address its own tag: a late answer from the one before is not this one's.
            FindStage::Pmp(_, index, _) => 4 + u16::try_from(index).unwrap_or(u16::MAX - 4),
            FindStage::Done => 0,
        }
    }
}

impl Machine for FindUpstreamRun {
    type Value = Beyond<()>;
    type Event = Infallible;

    fn poll(&mut self, now: Instant) -> Output<Beyond<()>, Infallible> {
        loop {
            if let Some(ready) = self.ready.take() {
                self.stage = FindStage::Done;
                return Output::Done(Ok(ready));
            }
            let tag = self.tag();
            match &mut self.stage {
                FindStage::Done => return polled_after_done(),
                FindStage::Address(soap) => match step(soap.as_mut(), tag, now) {
                    Stepped::Out(out) => return out,
                    Stepped::Done(Ok(external)) => self.external_known(external, now),
                    Stepped::Done(Err(e)) => self.ready = Some(Beyond::NoAddress(e)),
                },
                FindStage::Hop { until, asked } => {
                    if !*asked {
                        *asked = true;
                        let to = RouteTo::Hop {
                            distance: 2,
                            deadline: *until,
                        };
                        return Output::Start(self.io.start().within(tag), Io::Route(to));
                    }
                    if self.io.is_waiting() && now < *until {
                        return Output::Wait(*until);
                    }
                    self.io.forget();
                    let external = self.external.unwrap_or(IpAddr::from([0, 0, 0, 0]));
                    self.search(external, now);
                }
                FindStage::Search(run) => {
                    let found = match step(run.as_mut(), tag, now) {
                        Stepped::Out(out) => return out,
                        Stepped::Done(found) => found,
                    };
                    let external = self.external.unwrap_or(IpAddr::from([0, 0, 0, 0]));
                    match router_in_front(found, &self.ours, external) {
                        Ok(router) => {
                            let router = Router::Upnp(Box::new(router));
                            self.ready = Some(Beyond::Done { router, value: () });
                        }
                        Err(why) => self.next_pmp(0, why, now),
                    }
                }
                FindStage::Pmp(run, index, why) => {
                    let opened = match step(run.as_mut(), tag, now) {
                        Stepped::Out(out) => return out,
                        Stepped::Done(opened) => opened,
                    };
                    let (index, why) = (*index, std::mem::replace(why, Error::NoDevices));
                    match opened {
                        Ok(opened) => {
                            self.opened = Some(opened);
                            let router = Router::Pmp {
                                gateway: opened.gateway,
                                method: opened.session.method(),
                            };
                            self.ready = Some(Beyond::Done { router, value: () });
                        }
                        Err(_) => self.next_pmp(index + 1, why, now),
                    }
                }
            }
        }
    }

    fn handle(&mut self, input: Input, now: Instant) {
        let tag = self.tag();
        match &mut self.stage {
            FindStage::Address(soap) => route(soap.as_mut(), tag, input, now),
            FindStage::Hop { .. } => {
                if let (Some(t), Input::Completed(token, Completed::Routed(hop))) =
                    input.for_child()
                {
                    if t == tag && self.io.take(token) {
                        self.hop = hop;
                    }
                }
            }
            FindStage::Search(run) => route(run.as_mut(), tag, input, now),
            FindStage::Pmp(run, ..) => route(run.as_mut(), tag, input, now),
            FindStage::Done => {}
        }
    }
}

/// The lifetime asked of PCP/NAT-PMP in front for a lease (0, permanent: a day, the
/// longest they grant).
fn pmp_lifetime(lease: u32) -> u32 {
    match lease {
        0 => LONGEST_LIFETIME,
        s => s.min(LONGEST_LIFETIME),
    }
}

#[derive(Debug)]
enum AddStage {
    Inner(Box<Soap<AddSequence>>),
    Find(Box<FindUpstreamRun>),
    Outer(Box<Soap<AddSequence>>, Router),
    OuterPmp(Box<PmpRun<PmpAdd>>, Router),
    Done,
}

/// A mapping on our gateway (Godot's `add_port_mapping`, with its fallbacks), then, when
/// [`Upstream`] says where to look, the same external port on the router in front
/// ([`FindUpstreamRun`]), forwarded to our gateway's external address and the port it
/// granted: through UPnP, or PCP / NAT-PMP where UPnP is off there. Its value: a
/// [`Through`]; an error only when our gateway refuses (what happens in front is data in
/// [`Through::upstream`]). Bounded: [`Limits::call`] on our gateway, the finding's bound,
/// [`Limits::call`] in front.
#[derive(Debug)]
pub struct AddThroughRun {
    ours: Device,
    mapping: Mapping,
    upstream: Upstream,
    limits: Limits,
    stage: AddStage,
    inner: Option<crate::Granted>,
    inner_external: Option<IpAddr>,
}

impl AddThroughRun {
    /// Map `request` on `device` and, as `upstream` says, in front of it, from `now`.
    pub fn new(
        device: &Device,
        request: &MappingRequest,
        upstream: Upstream,
        limits: &Limits,
        now: Instant,
    ) -> Result<AddThroughRun, Error> {
        let mapping = request.mapping()?;
        let (url, service_type) = require_usable(device)?;
        let inner = AddSequence::new(&mapping, our_addr(device)?, service_type);
        let soap = Soap::new(url, inner, limits.call, now);
        Ok(AddThroughRun {
            ours: device.clone(),
            mapping,
            upstream,
            limits: limits.clone(),
            stage: AddStage::Inner(Box::new(soap)),
            inner: None,
            inner_external: None,
        })
    }

    /// The tag of the stage's child.
    fn tag(&self) -> u16 {
        match self.stage {
            AddStage::Inner(_) => 1,
            AddStage::Find(_) => 2,
            AddStage::Outer(..) => 3,
            AddStage::OuterPmp(..) => 4,
            AddStage::Done => 0,
        }
    }

    /// Over: what was done.
    fn finish(&mut self, upstream: Beyond<FrontGrant>) -> Output<Through, Infallible> {
        self.stage = AddStage::Done;
        match self.inner.take() {
            Some(inner) => Output::Done(Ok(Through {
                inner,
                inner_external: self.inner_external,
                upstream,
            })),
            None => polled_after_done(),
        }
    }

    /// What the router in front answered: the end.
    fn granted_in_front(
        &mut self,
        outcome: Result<FrontGrant, Error>,
    ) -> Output<Through, Infallible> {
        let router = match std::mem::replace(&mut self.stage, AddStage::Done) {
            AddStage::Outer(_, router) | AddStage::OuterPmp(_, router) => router,
            _ => return polled_after_done(),
        };
        self.finish(match outcome {
            Ok(value) => Beyond::Done { router, value },
            Err(error) => Beyond::Failed { router, error },
        })
    }

    /// The mapping in front through `router` (found by `find`), or the end.
    fn map_in_front(
        &mut self,
        router: Router,
        find: &FindUpstreamRun,
        now: Instant,
    ) -> Option<Output<Through, Infallible>> {
        let (Some(inner), Some(external)) = (&self.inner, self.inner_external) else {
            return Some(polled_after_done());
        };
        // The same external port, to our gateway's external side.
        let port = inner.mapping.external_port;
        let outer = Mapping {
            external_port: port,
            internal_port: port,
            ..self.mapping.clone()
        };
        match (&router, find.opened()) {
            (Router::Upnp(device), _) => match require_usable(device) {
                Ok((url, service_type)) => {
                    let add = AddSequence::new(&outer, external, service_type);
                    let soap = Soap::new(url, add, self.limits.call, now);
                    self.stage = AddStage::Outer(Box::new(soap), router);
                    None
                }
                Err(error) => Some(self.finish(Beyond::Failed { router, error })),
            },
            (Router::Pmp { .. }, Some(opened)) => {
                // PCP's client address is our gateway's external one: the request comes
                // from there, through its NAT.
                let protocol = outer.protocol;
                let nonce = derived_nonce(external, protocol, port);
                let lifetime = pmp_lifetime(outer.lease_duration);
                let mapping = PmpMapping::new(protocol, port, lifetime, nonce);
                let add = opened.session.add_for(external, mapping);
                let run = PmpRun::new(add, self.limits.call, now);
                self.stage = AddStage::OuterPmp(Box::new(run), router);
                None
            }
            (Router::Pmp { .. }, None) => {
                let error = Error::Misuse("a PCP router in front without its client");
                Some(self.finish(Beyond::Failed { router, error }))
            }
        }
    }
}

impl Machine for AddThroughRun {
    type Value = Through;
    type Event = Infallible;

    fn poll(&mut self, now: Instant) -> Output<Through, Infallible> {
        loop {
            let tag = self.tag();
            match &mut self.stage {
                AddStage::Done => return polled_after_done(),
                AddStage::Inner(soap) => match step(soap.as_mut(), tag, now) {
                    Stepped::Out(out) => return out,
                    Stepped::Done(Err(e)) => {
                        self.stage = AddStage::Done;
                        return Output::Done(Err(e));
                    }
                    Stepped::Done(Ok(granted)) => {
                        self.inner = Some(granted);
                        self.inner_external = self.ours.external_address;
                        let find =
                            FindUpstreamRun::new(&self.ours, self.upstream, &self.limits, now);
                        self.stage = AddStage::Find(Box::new(find));
                    }
                },
                AddStage::Find(find) => {
                    let found = match step(find.as_mut(), tag, now) {
                        Stepped::Out(out) => return out,
                        Stepped::Done(found) => found,
                    };
                    let find = match std::mem::replace(&mut self.stage, AddStage::Done) {
                        AddStage::Find(find) => find,
                        _ => return polled_after_done(),
                    };
                    self.inner_external = find.external().or(self.inner_external);
                    let beyond = match found {
                        Ok(beyond) => beyond,
                        Err(e) => Beyond::NoAddress(e),
                    };
                    let out = match beyond {
                        Beyond::Done { router, .. } => self.map_in_front(router, &find, now),
                        Beyond::NotAsked => Some(self.finish(Beyond::NotAsked)),
                        Beyond::NoAddress(e) => Some(self.finish(Beyond::NoAddress(e))),
                        Beyond::NotFound { asked, hop, why } => {
                            Some(self.finish(Beyond::NotFound { asked, hop, why }))
                        }
                        Beyond::Failed { router, error } => {
                            Some(self.finish(Beyond::Failed { router, error }))
                        }
                    };
                    if let Some(out) = out {
                        return out;
                    }
                }
                AddStage::Outer(soap, _) => {
                    let outcome = match step(soap.as_mut(), tag, now) {
                        Stepped::Out(out) => return out,
                        Stepped::Done(outcome) => outcome,
                    };
                    return self.granted_in_front(outcome.map(FrontGrant::Upnp));
                }
                AddStage::OuterPmp(run, _) => {
                    let outcome = match step(run.as_mut(), tag, now) {
                        Stepped::Out(out) => return out,
                        Stepped::Done(outcome) => outcome,
                    };
                    return self.granted_in_front(outcome.map(FrontGrant::Pmp));
                }
            }
        }
    }

    fn handle(&mut self, input: Input, now: Instant) {
        let tag = self.tag();
        match &mut self.stage {
            AddStage::Inner(soap) | AddStage::Outer(soap, _) => {
                route(soap.as_mut(), tag, input, now)
            }
            AddStage::Find(find) => route(find.as_mut(), tag, input, now),
            AddStage::OuterPmp(run, _) => route(run.as_mut(), tag, input, now),
            AddStage::Done => {}
        }
    }
}

#[derive(Debug)]
enum DeleteStage {
    Find(Box<FindUpstreamRun>),
    Outer(Box<Soap<DeleteSequence>>, Router),
    OuterPmp(Box<PmpRun<PmpDelete>>, Router),
    Inner(Box<Soap<DeleteSequence>>),
    Done,
}

/// The removal of a mapping made by [`AddThroughRun`]: first from the router in front
/// (found again as [`Upstream`] says: through UPnP the same external port, only if it points
/// at our gateway's external address; through PCP / NAT-PMP the mapping of that port from
/// there), then from our gateway (only a mapping to us), whatever happened in front. Its
/// value: a [`Removed`]; an error only when our gateway's removal fails. Bounded as
/// [`AddThroughRun`] is.
#[derive(Debug)]
pub struct DeleteThroughRun {
    ours: Device,
    port: i64,
    proto: String,
    limits: Limits,
    stage: DeleteStage,
    beyond: Option<Beyond<()>>,
}

impl DeleteThroughRun {
    /// Remove the mapping of external `port` and `proto` from `device` and, as `upstream`
    /// says, in front of it, from `now`.
    pub fn new(
        device: &Device,
        port: i64,
        proto: &str,
        upstream: Upstream,
        limits: &Limits,
        now: Instant,
    ) -> Result<DeleteThroughRun, Error> {
        // Checked before anything is sent.
        DeleteSequence::new(port, proto, &device.igd_service_type)?;
        require_usable(device)?;
        our_addr(device)?;
        let find = FindUpstreamRun::new(device, upstream, limits, now);
        Ok(DeleteThroughRun {
            ours: device.clone(),
            port,
            proto: proto.to_owned(),
            limits: limits.clone(),
            stage: DeleteStage::Find(Box::new(find)),
            beyond: None,
        })
    }

    fn tag(&self) -> u16 {
        match self.stage {
            DeleteStage::Find(_) => 1,
            DeleteStage::Outer(..) => 2,
            DeleteStage::OuterPmp(..) => 3,
            DeleteStage::Inner(_) => 4,
            DeleteStage::Done => 0,
        }
    }

    /// The removal from our gateway, `beyond` being what happened in front.
    fn delete_inner(&mut self, beyond: Beyond<()>, now: Instant) -> Result<(), Error> {
        let (url, _) = require_usable(&self.ours)?;
        let sequence = DeleteSequence::new(self.port, &self.proto, &self.ours.igd_service_type)?
            .client(our_addr(&self.ours)?);
        self.beyond = Some(beyond);
        let soap = Soap::new(url, sequence, self.limits.call, now);
        self.stage = DeleteStage::Inner(Box::new(soap));
        Ok(())
    }

    /// The removal in front through `router` (found by `find`).
    fn delete_in_front(
        &mut self,
        router: Router,
        find: &FindUpstreamRun,
        now: Instant,
    ) -> Result<(), Error> {
        let external = find.external().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        match (&router, find.opened()) {
            (Router::Upnp(device), _) => {
                let outer = DeleteSequence::new(self.port, &self.proto, &device.igd_service_type)
                    .map(|s| s.client(external));
                match (outer, require_usable(device)) {
                    (Ok(sequence), Ok((url, _))) => {
                        let soap = Soap::new(url, sequence, self.limits.call, now);
                        self.stage = DeleteStage::Outer(Box::new(soap), router);
                        Ok(())
                    }
                    (Err(error), _) | (_, Err(error)) => {
                        self.delete_inner(Beyond::Failed { router, error }, now)
                    }
                }
            }
            (Router::Pmp { .. }, Some(opened)) => {
                let port = crate::mapping::external_port(self.port)?;
                let protocol = crate::mapping::protocol(&self.proto)?;
                let nonce = derived_nonce(external, protocol, port);
                let mapping = PmpMapping::new(protocol, port, 0, nonce);
                let delete = opened.session.delete_for(external, mapping);
                let run = PmpRun::new(delete, self.limits.call, now);
                self.stage = DeleteStage::OuterPmp(Box::new(run), router);
                Ok(())
            }
            (Router::Pmp { .. }, None) => {
                let error = Error::Misuse("a PCP router in front without its client");
                self.delete_inner(Beyond::Failed { router, error }, now)
            }
        }
    }

    /// The step after the one that ended, or the output that ends the run.
    fn then(&mut self, next: Result<(), Error>) -> Option<Output<Removed, Infallible>> {
        match next {
            Ok(()) => None,
            Err(e) => {
                self.stage = DeleteStage::Done;
                Some(Output::Done(Err(e)))
            }
        }
    }

    /// What happened in front, once its removal is over.
    fn removed_in_front(&mut self, outcome: Result<(), Error>, now: Instant) -> Result<(), Error> {
        let router = match std::mem::replace(&mut self.stage, DeleteStage::Done) {
            DeleteStage::Outer(_, router) | DeleteStage::OuterPmp(_, router) => router,
            _ => return Err(Error::Misuse("a removal in front with no router")),
        };
        let beyond = match outcome {
            Ok(()) => Beyond::Done { router, value: () },
            Err(error) => Beyond::Failed { router, error },
        };
        self.delete_inner(beyond, now)
    }
}

impl Machine for DeleteThroughRun {
    type Value = Removed;
    type Event = Infallible;

    fn poll(&mut self, now: Instant) -> Output<Removed, Infallible> {
        loop {
            let tag = self.tag();
            match &mut self.stage {
                DeleteStage::Done => return polled_after_done(),
                DeleteStage::Find(find) => {
                    let found = match step(find.as_mut(), tag, now) {
                        Stepped::Out(out) => return out,
                        Stepped::Done(found) => found,
                    };
                    let find = match std::mem::replace(&mut self.stage, DeleteStage::Done) {
                        DeleteStage::Find(find) => find,
                        _ => return polled_after_done(),
                    };
                    let next = match found {
                        Ok(Beyond::Done { router, .. }) => self.delete_in_front(router, &find, now),
                        Ok(beyond) => self.delete_inner(beyond, now),
                        Err(e) => self.delete_inner(Beyond::NoAddress(e), now),
                    };
                    if let Some(out) = self.then(next) {
                        return out;
                    }
                }
                DeleteStage::Outer(soap, _) => {
                    let outcome = match step(soap.as_mut(), tag, now) {
                        Stepped::Out(out) => return out,
                        Stepped::Done(outcome) => outcome,
                    };
                    let next = self.removed_in_front(outcome, now);
                    if let Some(out) = self.then(next) {
                        return out;
                    }
                }
                DeleteStage::OuterPmp(run, _) => {
                    let outcome = match step(run.as_mut(), tag, now) {
                        Stepped::Out(out) => return out,
                        Stepped::Done(outcome) => outcome,
                    };
                    let next = self.removed_in_front(outcome.map(drop), now);
                    if let Some(out) = self.then(next) {
                        return out;
                    }
                }
                DeleteStage::Inner(soap) => {
                    let outcome = match step(soap.as_mut(), tag, now) {
                        Stepped::Out(out) => return out,
                        Stepped::Done(outcome) => outcome,
                    };
                    self.stage = DeleteStage::Done;
                    return Output::Done(outcome.map(|()| Removed {
                        upstream: self.beyond.take().unwrap_or(Beyond::NotAsked),
                    }));
                }
            }
        }
    }

    fn handle(&mut self, input: Input, now: Instant) {
        let tag = self.tag();
        match &mut self.stage {
            DeleteStage::Find(find) => route(find.as_mut(), tag, input, now),
            DeleteStage::Outer(soap, _) | DeleteStage::Inner(soap) => {
                route(soap.as_mut(), tag, input, now)
            }
            DeleteStage::OuterPmp(run, _) => route(run.as_mut(), tag, input, now),
            DeleteStage::Done => {}
        }
    }
}
