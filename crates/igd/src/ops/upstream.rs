//! Mapping through our gateway and the router in front of it ([`crate::upstream`]), as
//! machines: [`AddThroughRun`] and [`DeleteThroughRun`], each a chain of the one-hop
//! machines of [`crate::ops`] (a SOAP sequence, a unicast discovery), one after the other,
//! each under its own deadline.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::{DiscoveryRun, ExternalAddress, Soap};
use crate::device::{Device, our_addr, require_usable};
use crate::discover::{DiscoverOptions, DiscoverSettings, Goal};
use crate::error::Error;
use crate::limits::Limits;
use crate::machine::{Input, Machine, Output, polled_after_done};
use crate::mapping::{AddSequence, DeleteSequence, Granted, Mapping, MappingRequest, Single};
use crate::upstream::{Beyond, Removed, Through, Upstream};
use upnp_soap::actions::GetExternalIpAddress;

/// How long the unicast search of the router in front waits for an answer (a router asked
/// by unicast answers within milliseconds; a second is generous, and bounds what nobody
/// answers).
pub const UPSTREAM_SEARCH: Duration = Duration::from_millis(1000);

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

/// Where a chain is: its stages, in order; each child's tokens are tagged with its stage's
/// number, so that a late completion of one never reaches the next.
#[derive(Debug)]
enum AddStage {
    Inner(Soap<AddSequence>),
    Address(Soap<ExternalAddress>),
    Search(Box<DiscoveryRun>, Vec<IpAddr>),
    Outer(Soap<AddSequence>, Box<Device>),
    Done,
}

/// A mapping on our gateway (Godot's `add_port_mapping`, with its fallbacks), then, when
/// [`Upstream`] says where to look, the same external port on the router in front,
/// forwarded to our gateway's external address and the port it granted. Its value: a
/// [`Through`]; an error only when our gateway refuses (what happens in front is data in
/// [`Through::upstream`]). Bounded: [`Limits::call`] on our gateway, [`Limits::call`] for
/// its address when the probe did not give it, [`UPSTREAM_SEARCH`] + [`Limits::probe`] for
/// the search, [`Limits::call`] in front.
#[derive(Debug)]
pub struct AddThroughRun {
    ours: Device,
    mapping: Mapping,
    upstream: Upstream,
    limits: Limits,
    stage: AddStage,
    inner: Option<Granted>,
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
        Ok(AddThroughRun {
            ours: device.clone(),
            mapping,
            upstream,
            limits: limits.clone(),
            stage: AddStage::Inner(Soap::new(url, inner, limits.call, now)),
            inner: None,
            inner_external: None,
        })
    }

    /// The tag of the stage's child.
    fn tag(&self) -> u16 {
        match self.stage {
            AddStage::Inner(_) => 1,
            AddStage::Address(_) => 2,
            AddStage::Search(..) => 3,
            AddStage::Outer(..) => 4,
            AddStage::Done => 0,
        }
    }

    /// Over: what was done.
    fn finish(&mut self, upstream: Beyond<Granted>) -> Output<Through, Infallible> {
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

    /// With our gateway's external address known: the search in front, or the end.
    fn look_in_front(
        &mut self,
        external: IpAddr,
        now: Instant,
    ) -> Option<Output<Through, Infallible>> {
        self.inner_external = Some(external);
        let asked = self.upstream.candidates(external);
        if asked.is_empty() {
            return Some(self.finish(Beyond::NotAsked));
        }
        match unicast_discovery(&asked, &self.limits, now) {
            Ok(run) => {
                self.stage = AddStage::Search(Box::new(run), asked);
                None
            }
            Err(why) => Some(self.finish(Beyond::NotFound { asked, why })),
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
                AddStage::Inner(soap) => match step(soap, tag, now) {
                    Stepped::Out(out) => return out,
                    Stepped::Done(Err(e)) => {
                        self.stage = AddStage::Done;
                        return Output::Done(Err(e));
                    }
                    Stepped::Done(Ok(granted)) => {
                        self.inner = Some(granted);
                        if self.upstream == Upstream::Off {
                            return self.finish(Beyond::NotAsked);
                        }
                        match self.ours.external_address {
                            Some(external) => {
                                if let Some(out) = self.look_in_front(external, now) {
                                    return out;
                                }
                            }
                            None => match require_usable(&self.ours) {
                                Ok((url, service_type)) => {
                                    let single = Single::new(GetExternalIpAddress, service_type);
                                    let ask = ExternalAddress(single);
                                    let soap = Soap::new(url, ask, self.limits.call, now);
                                    self.stage = AddStage::Address(soap);
                                }
                                Err(e) => return self.finish(Beyond::NoAddress(e)),
                            },
                        }
                    }
                },
                AddStage::Address(soap) => match step(soap, tag, now) {
                    Stepped::Out(out) => return out,
                    Stepped::Done(Err(e)) => return self.finish(Beyond::NoAddress(e)),
                    Stepped::Done(Ok(external)) => {
                        if let Some(out) = self.look_in_front(external, now) {
                            return out;
                        }
                    }
                },
                AddStage::Search(run, asked) => match step(run.as_mut(), tag, now) {
                    Stepped::Out(out) => return out,
                    Stepped::Done(found) => {
                        let asked = std::mem::take(asked);
                        let external = self.inner_external.unwrap_or(IpAddr::from([0, 0, 0, 0]));
                        let router = match router_in_front(found, &self.ours, external) {
                            Ok(router) => router,
                            Err(why) => return self.finish(Beyond::NotFound { asked, why }),
                        };
                        let Some(inner) = &self.inner else {
                            return polled_after_done();
                        };
                        // The same external port, to our gateway's external side.
                        let outer = Mapping {
                            external_port: inner.mapping.external_port,
                            internal_port: inner.mapping.external_port,
                            ..self.mapping.clone()
                        };
                        match require_usable(&router) {
                            Ok((url, service_type)) => {
                                let add = AddSequence::new(&outer, external, service_type);
                                let soap = Soap::new(url, add, self.limits.call, now);
                                self.stage = AddStage::Outer(soap, Box::new(router));
                            }
                            Err(error) => {
                                let router = Box::new(router);
                                return self.finish(Beyond::Failed { router, error });
                            }
                        }
                    }
                },
                AddStage::Outer(soap, router) => match step(soap, tag, now) {
                    Stepped::Out(out) => return out,
                    Stepped::Done(outcome) => {
                        let router = std::mem::replace(router, Box::new(Device::new("", "")));
                        return self.finish(match outcome {
                            Ok(value) => Beyond::Done { router, value },
                            Err(error) => Beyond::Failed { router, error },
                        });
                    }
                },
            }
        }
    }

    fn handle(&mut self, input: Input, now: Instant) {
        let tag = self.tag();
        match &mut self.stage {
            AddStage::Inner(soap) | AddStage::Outer(soap, _) => route(soap, tag, input, now),
            AddStage::Address(soap) => route(soap, tag, input, now),
            AddStage::Search(run, _) => route(run.as_mut(), tag, input, now),
            AddStage::Done => {}
        }
    }
}

#[derive(Debug)]
enum DeleteStage {
    Address(Soap<ExternalAddress>),
    Search(Box<DiscoveryRun>, Vec<IpAddr>),
    Outer(Soap<DeleteSequence>, Box<Device>),
    Inner(Soap<DeleteSequence>),
    Done,
}

/// The removal of a mapping made by [`AddThroughRun`]: first from the router in front
/// (found again as [`Upstream`] says: the same external port, only if it points at our
/// gateway's external address), then from our gateway (only a mapping to us), whatever
/// happened in front. Its value: a [`Removed`]; an error only when our gateway's removal
/// fails. Bounded as [`AddThroughRun`] is.
#[derive(Debug)]
pub struct DeleteThroughRun {
    ours: Device,
    port: i64,
    proto: String,
    upstream: Upstream,
    limits: Limits,
    stage: DeleteStage,
    beyond: Option<Beyond<()>>,
    /// Our gateway's external address, once known.
    external: Option<IpAddr>,
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
        let (url, service_type) = require_usable(device)?;
        our_addr(device)?;
        let mut run = DeleteThroughRun {
            ours: device.clone(),
            port,
            proto: proto.to_owned(),
            upstream,
            limits: limits.clone(),
            stage: DeleteStage::Done,
            beyond: None,
            external: None,
        };
        match (upstream, device.external_address) {
            (Upstream::Off, _) => run.delete_inner(Beyond::NotAsked, now)?,
            (_, Some(external)) => run.look_in_front(external, now)?,
            (_, None) => {
                let single = Single::new(GetExternalIpAddress, service_type);
                let ask = ExternalAddress(single);
                run.stage = DeleteStage::Address(Soap::new(url, ask, limits.call, now));
            }
        }
        Ok(run)
    }

    fn tag(&self) -> u16 {
        match self.stage {
            DeleteStage::Address(_) => 1,
            DeleteStage::Search(..) => 2,
            DeleteStage::Outer(..) => 3,
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
        self.stage = DeleteStage::Inner(Soap::new(url, sequence, self.limits.call, now));
        Ok(())
    }

    fn look_in_front(&mut self, external: IpAddr, now: Instant) -> Result<(), Error> {
        self.external = Some(external);
        let asked = self.upstream.candidates(external);
        if asked.is_empty() {
            return self.delete_inner(Beyond::NotAsked, now);
        }
        match unicast_discovery(&asked, &self.limits, now) {
            Ok(run) => {
                self.stage = DeleteStage::Search(Box::new(run), asked);
                Ok(())
            }
            Err(why) => self.delete_inner(Beyond::NotFound { asked, why }, now),
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
}

impl Machine for DeleteThroughRun {
    type Value = Removed;
    type Event = Infallible;

    fn poll(&mut self, now: Instant) -> Output<Removed, Infallible> {
        loop {
            let tag = self.tag();
            match &mut self.stage {
                DeleteStage::Done => return polled_after_done(),
                DeleteStage::Address(soap) => {
                    let next = match step(soap, tag, now) {
                        Stepped::Out(out) => return out,
                        Stepped::Done(Ok(external)) => self.look_in_front(external, now),
                        Stepped::Done(Err(e)) => self.delete_inner(Beyond::NoAddress(e), now),
                    };
                    if let Some(out) = self.then(next) {
                        return out;
                    }
                }
                DeleteStage::Search(run, asked) => {
                    let found = match step(run.as_mut(), tag, now) {
                        Stepped::Out(out) => return out,
                        Stepped::Done(found) => found,
                    };
                    let asked = std::mem::take(asked);
                    let external = self.external.unwrap_or(IpAddr::from([0, 0, 0, 0]));
                    let next = match router_in_front(found, &self.ours, external) {
                        Err(why) => self.delete_inner(Beyond::NotFound { asked, why }, now),
                        Ok(router) => {
                            let outer = DeleteSequence::new(
                                self.port,
                                &self.proto,
                                &router.igd_service_type,
                            )
                            .map(|s| s.client(external));
                            match (outer, require_usable(&router)) {
                                (Ok(sequence), Ok((url, _))) => {
                                    let soap = Soap::new(url, sequence, self.limits.call, now);
                                    self.stage = DeleteStage::Outer(soap, Box::new(router));
                                    Ok(())
                                }
                                (Err(error), _) | (_, Err(error)) => {
                                    let router = Box::new(router);
                                    self.delete_inner(Beyond::Failed { router, error }, now)
                                }
                            }
                        }
                    };
                    if let Some(out) = self.then(next) {
                        return out;
                    }
                }
                DeleteStage::Outer(soap, router) => {
                    let outcome = match step(soap, tag, now) {
                        Stepped::Out(out) => return out,
                        Stepped::Done(outcome) => outcome,
                    };
                    let router = std::mem::replace(router, Box::new(Device::new("", "")));
                    let beyond = match outcome {
                        Ok(()) => Beyond::Done { router, value: () },
                        Err(error) => Beyond::Failed { router, error },
                    };
                    let next = self.delete_inner(beyond, now);
                    if let Some(out) = self.then(next) {
                        return out;
                    }
                }
                DeleteStage::Inner(soap) => {
                    let outcome = match step(soap, tag, now) {
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
            DeleteStage::Address(soap) => route(soap, tag, input, now),
            DeleteStage::Search(run, _) => route(run.as_mut(), tag, input, now),
            DeleteStage::Outer(soap, _) | DeleteStage::Inner(soap) => route(soap, tag, input, now),
            DeleteStage::Done => {}
        }
    }
}

#[derive(Debug)]
enum FindStage {
    Address(Box<Soap<ExternalAddress>>),
    Search(Box<DiscoveryRun>, Vec<IpAddr>, IpAddr),
    Done,
}

/// Only the finding of the router in front of `device` ([`Upstream`] says where): its
/// external address (asked when the probe did not give it), then the unicast search. Its
/// value: [`Beyond::Done`] with the router (its `igd_our_addr` our gateway's external
/// address), or why there is none; never an error. Bounded: [`Limits::call`] +
/// [`UPSTREAM_SEARCH`] + [`Limits::probe`].
#[derive(Debug)]
pub struct FindUpstreamRun {
    ours: Device,
    upstream: Upstream,
    limits: Limits,
    stage: FindStage,
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
            ready: None,
        };
        match (upstream, device.external_address, require_usable(device)) {
            (Upstream::Off, ..) => run.ready = Some(Beyond::NotAsked),
            (_, Some(external), _) => run.search(external, now),
            (_, None, Ok((url, service_type))) => {
                let ask = ExternalAddress(Single::new(GetExternalIpAddress, service_type));
                run.stage = FindStage::Address(Box::new(Soap::new(url, ask, limits.call, now)));
            }
            (_, None, Err(e)) => run.ready = Some(Beyond::NoAddress(e)),
        }
        run
    }

    fn search(&mut self, external: IpAddr, now: Instant) {
        let asked = self.upstream.candidates(external);
        if asked.is_empty() {
            self.ready = Some(Beyond::NotAsked);
            return;
        }
        match unicast_discovery(&asked, &self.limits, now) {
            Ok(run) => self.stage = FindStage::Search(Box::new(run), asked, external),
            Err(why) => self.ready = Some(Beyond::NotFound { asked, why }),
        }
    }

    fn tag(&self) -> u16 {
        match self.stage {
            FindStage::Address(_) => 1,
            FindStage::Search(..) => 2,
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
                    Stepped::Done(Ok(external)) => self.search(external, now),
                    Stepped::Done(Err(e)) => self.ready = Some(Beyond::NoAddress(e)),
                },
                FindStage::Search(run, asked, external) => {
                    let found = match step(run.as_mut(), tag, now) {
                        Stepped::Out(out) => return out,
                        Stepped::Done(found) => found,
                    };
                    let asked = std::mem::take(asked);
                    self.ready = Some(match router_in_front(found, &self.ours, *external) {
                        Ok(router) => Beyond::Done {
                            router: Box::new(router),
                            value: (),
                        },
                        Err(why) => Beyond::NotFound { asked, why },
                    });
                }
            }
        }
    }

    fn handle(&mut self, input: Input, now: Instant) {
        let tag = self.tag();
        match &mut self.stage {
            FindStage::Address(soap) => route(soap.as_mut(), tag, input, now),
            FindStage::Search(run, ..) => route(run.as_mut(), tag, input, now),
            FindStage::Done => {}
        }
    }
}
