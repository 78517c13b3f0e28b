//! The router in front of the gateway, held by the keeper ([`Keep::upstream`]): once every
//! port is held through a UPnP gateway whose external address is private, the router in
//! front is looked for ([`FindUpstreamRun`]) and a keeper of its own (a [`KeepMachine`] of
//! UPnP, its mappings pointing at the gateway's external address, deaf to notifications it
//! could not hear anyway) holds the same external ports there. When what it holds no longer
//! matches (another external port, address or gateway), it is stopped (its mappings
//! removed) and another is made. At stop it is stopped first; the gateway's mappings are
//! removed once it is done. No I/O here.

use std::net::IpAddr;
use std::time::Instant;

use pcp_natpmp::Nonce;

use super::upnp::Find;
use super::{Event, Keep, KeepMachine, PortSpec, Status, Update};
use crate::device::Device;
use crate::discover::DiscoverSettings;
use crate::limits::{Limits, later};
use crate::machine::{Input, Machine, Output};
use crate::ops::FindUpstreamRun;
use crate::pmp::Via;
use crate::upstream::{Beyond, Router, Upstream};

/// The tags of the front's children: at or above this (a keeper's findings stay below).
pub(crate) const FRONT_TAGS: u16 = 0x8000;

/// Front keepers removing their mappings at once, at most: another is made only when fewer
/// are (a gateway whose address flaps makes no more work than this).
const MAX_RETIRING: usize = 4;

/// What the front is held for: the gateway, its external address, and the external ports
/// held there (protocol, port), in the keeper's order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    gateway: String,
    external: IpAddr,
    ports: Vec<PortSpec>,
}

impl Key {
    /// What the front should hold for `status`, the keeper's through `device`: `None` until
    /// every port is held.
    pub(crate) fn of(device: &Device, status: &Status) -> Option<Key> {
        // The keeper's current address (it follows changes), else the probe's.
        let external = status.external_ip.or(device.external_address)?;
        let ports = status
            .ports
            .iter()
            .map(|p| {
                p.held.as_ref().map(|held| PortSpec {
                    protocol: p.port.protocol,
                    internal_port: held.external_port,
                    external_port: held.external_port,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Key {
            gateway: device.description_url.clone(),
            external,
            ports,
        })
    }
}

#[derive(Debug)]
enum State {
    /// Nothing in front now; look again from this instant (for another key at once).
    Idle(Option<(Key, Instant)>),
    Finding(Box<FindUpstreamRun>, Key, u16),
    Keeping(Box<KeepMachine>, Key, u16),
}

/// The front of a keeper: see [the module](self).
#[derive(Debug)]
pub(crate) struct Front {
    upstream: Upstream,
    keep: Keep,
    limits: Limits,
    seed: Nonce,
    state: State,
    /// Front keepers stopping (their mappings being removed), with their tags.
    retiring: Vec<(KeepMachine, u16)>,
    next_tag: u16,
    stopping: bool,
    /// The front keeper's state, as it told it last.
    status: Option<Status>,
}

/// What polling the front gives its keeper.
pub(crate) enum Polled {
    /// Pass this on.
    Out(Output<(), Update>),
    /// The front's state changed: tell the keeper's ([`Front::status`] in it).
    Changed,
    /// Nothing to do before this instant (or an input), if then.
    Wait(Option<Instant>),
}

impl Front {
    /// The front of a keeper of `keep` (`None` when [`Keep::upstream`] is off).
    pub(crate) fn new(keep: &Keep, limits: &Limits, seed: Nonce) -> Option<Front> {
        (keep.upstream != Upstream::Off).then(|| Front {
            upstream: keep.upstream,
            keep: keep.clone(),
            limits: limits.clone(),
            seed,
            state: State::Idle(None),
            retiring: Vec::new(),
            next_tag: FRONT_TAGS,
            stopping: false,
            status: None,
        })
    }

    /// The front keeper's state, when one holds the ports in front.
    pub(crate) fn status(&self) -> Option<&Status> {
        match self.state {
            State::Keeping(..) => self.status.as_ref(),
            _ => None,
        }
    }

    fn tag(&mut self) -> u16 {
        let tag = self.next_tag;
        self.next_tag = self.next_tag.checked_add(1).unwrap_or(FRONT_TAGS);
        tag
    }

    /// Stop: the front keeper (and any finding) ends; its mappings are removed.
    pub(crate) fn stop(&mut self, now: Instant) {
        self.stopping = true;
        self.retire(now);
    }

    /// Whether nothing is left to do in front (stopped, every mapping removed or given up).
    pub(crate) fn is_done(&self) -> bool {
        self.stopping && self.retiring.is_empty() && matches!(self.state, State::Idle(_))
    }

    /// Stop the front keeper, if any, and forget any finding.
    fn retire(&mut self, now: Instant) {
        match std::mem::replace(&mut self.state, State::Idle(None)) {
            State::Keeping(mut machine, _, tag) => {
                machine.handle(Input::Stop, now);
                self.retiring.push((*machine, tag));
                self.status = None;
            }
            State::Finding(..) | State::Idle(_) => {}
        }
    }

    /// The next output, given what the keeper holds now (`inner`: its gateway and the key
    /// of what it holds there, when every port is held through UPnP).
    pub(crate) fn poll(&mut self, inner: Option<(&Device, Key)>, now: Instant) -> Polled {
        let mut wake: Option<Instant> = None;
        let mut soonest = |at: Instant| wake = Some(wake.map_or(at, |w: Instant| w.min(at)));
        'all: loop {
            // Those stopping first: their removals go out before anything new.
            let mut index = 0;
            while let Some((machine, tag)) = self.retiring.get_mut(index) {
                match machine.poll(now) {
                    Output::Start(token, io) => {
                        return Polled::Out(Output::Start(token.within(*tag), io));
                    }
                    Output::Event(update) => {
                        if let Some(out) = in_front(update) {
                            return Polled::Out(out);
                        }
                    }
                    Output::Wait(at) => {
                        soonest(at);
                        index += 1;
                    }
                    Output::Done(_) => {
                        self.retiring.remove(index);
                    }
                }
            }
            if self.stopping {
                return Polled::Wait(wake);
            }
            let key = inner.as_ref().map(|(_, key)| key);
            match &mut self.state {
                State::Idle(_) if self.retiring.len() >= MAX_RETIRING => {
                    return Polled::Wait(wake);
                }
                State::Idle(next) => {
                    let Some((device, key)) = &inner else {
                        return Polled::Wait(wake);
                    };
                    if let Some((tried, at)) = next {
                        if tried == key && now < *at {
                            soonest(*at);
                            return Polled::Wait(wake);
                        }
                    }
                    if self.upstream.candidates(key.external).is_empty() {
                        // Nothing to ask for this key (a public address): not until it changes.
                        self.state = State::Idle(Some((key.clone(), far(now))));
                        return Polled::Wait(wake);
                    }
                    // An IGD only: PCP and NAT-PMP in front are not held (yet).
                    let device = Device {
                        external_address: Some(key.external),
                        ..(*device).clone()
                    };
                    let run =
                        FindUpstreamRun::new(&device, self.upstream, &self.limits, now).upnp_only();
                    let tag = self.tag();
                    self.state = State::Finding(Box::new(run), key.clone(), tag);
                }
                State::Finding(_, for_key, _) if key != Some(for_key) => {
                    self.state = State::Idle(None);
                }
                State::Finding(run, for_key, tag) => match run.poll(now) {
                    Output::Start(token, io) => {
                        return Polled::Out(Output::Start(token.within(*tag), io));
                    }
                    Output::Wait(at) => {
                        soonest(at);
                        return Polled::Wait(wake);
                    }
                    Output::Event(never) => match never {},
                    Output::Done(found) => {
                        let for_key = for_key.clone();
                        let again = later(now, self.keep.quiet_check);
                        match found {
                            Ok(Beyond::Done {
                                router: Router::Upnp(router),
                                ..
                            }) => match self.keeper_of(*router, &for_key) {
                                Some(machine) => {
                                    let tag = self.tag();
                                    let machine = Box::new(machine);
                                    self.state = State::Keeping(machine, for_key, tag);
                                }
                                None => self.state = State::Idle(Some((for_key, again))),
                            },
                            Ok(Beyond::NotFound { asked, why, .. }) => {
                                self.state = State::Idle(Some((for_key, again)));
                                let event = Event::NothingInFront { asked, why };
                                return Polled::Out(Output::Event(Update::Event(event)));
                            }
                            _ => self.state = State::Idle(Some((for_key, again))),
                        }
                    }
                },
                State::Keeping(_, for_key, _) if key.is_some_and(|k| k != for_key) => {
                    // Another port, address or gateway: what it holds points wrong.
                    self.retire(now);
                    continue 'all;
                }
                State::Keeping(machine, _, tag) => match machine.poll(now) {
                    Output::Start(token, io) => {
                        return Polled::Out(Output::Start(token.within(*tag), io));
                    }
                    Output::Event(Update::Status(status)) => {
                        self.status = Some(*status);
                        return Polled::Changed;
                    }
                    Output::Event(update) => {
                        if let Some(out) = in_front(update) {
                            return Polled::Out(out);
                        }
                    }
                    Output::Wait(at) => {
                        soonest(at);
                        return Polled::Wait(wake);
                    }
                    Output::Done(_) => {
                        self.state = State::Idle(None);
                        return Polled::Wait(wake);
                    }
                },
            }
        }
    }

    /// A keeper of `router` holding the ports of `key`, pointing at the gateway's external
    /// address (`None` when it cannot be made).
    fn keeper_of(&self, router: Device, key: &Key) -> Option<KeepMachine> {
        let keep = Keep {
            ports: key.ports.clone(),
            via: Via::Upnp,
            pinholes: false,
            upstream: Upstream::Off,
            ..self.keep.clone()
        };
        let find = Find::Url(router.description_url.clone());
        let settings = DiscoverSettings::default();
        KeepMachine::new_upnp(keep, find, Some(router), &settings, &self.limits, self.seed)
            .ok()
            .map(|machine| machine.in_front_of(key.external))
    }

    /// Hand `input` (tagged `tag`, the rest of its token inside) to the child it is for.
    pub(crate) fn handle(&mut self, tag: u16, input: Input, now: Instant) {
        match &mut self.state {
            State::Finding(run, _, t) if *t == tag => return run.handle(input, now),
            State::Keeping(machine, _, t) if *t == tag => return machine.handle(input, now),
            _ => {}
        }
        if let Some((machine, _)) = self.retiring.iter_mut().find(|(_, t)| *t == tag) {
            machine.handle(input, now);
        }
    }
}

/// A front keeper's update as its keeper tells it: events wrapped, its status kept to
/// itself.
fn in_front(update: Update) -> Option<Output<(), Update>> {
    match update {
        Update::Event(event) => Some(Output::Event(Update::Event(Event::InFront(Box::new(
            event,
        ))))),
        _ => None,
    }
}

/// An instant that does not come (a day on): a key with nothing to ask waits for a new key.
fn far(now: Instant) -> Instant {
    later(now, std::time::Duration::from_secs(86_400))
}
