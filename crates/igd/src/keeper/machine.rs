//! The keeper as one [`Machine`]: the policy ([`Keeper`]) with its way to map inside it, UPnP
//! ([`UpnpKeeper`]) or PCP/NAT-PMP ([`PmpKeeper`]), and the I/O each asks for. With
//! [`Via::Auto`] it changes its way itself: whenever it looks for a gateway (at the start, and
//! when the one in use stops answering) it tries every way at once ([`FindWay`]) and takes the
//! best that answers, so a router whose UPnP is switched off keeps the port through PCP or
//! NAT-PMP, and back.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use pcp_natpmp::Nonce;

use super::front::{FRONT_TAGS, Front, Key, Polled};
use super::pmp::{PmpKeeper, PmpStep};
use super::upnp::{Find, UpnpKeeper, UpnpStep};
use super::{Keep, Keeper, Status, Update};
use crate::device::{Device, select_usable};
use crate::discover::{DiscoverOptions, DiscoverSettings, Goal};
use crate::error::Error;
use crate::limits::{Limits, later};
use crate::machine::{
    Completed, Input, Io, Machine, Output, Pending, RouteTo, Token, polled_after_done,
};
use crate::ops::{DiscoveryRun, FindWay, ProbeRun, WayFound};
use crate::pmp::{Found, Target, Via, Way};
use upnp_ssdp::watch::{Heard, Watch};

#[cfg(test)]
mod tests;

/// The way a keeper maps now.
#[derive(Debug)]
enum Current {
    Upnp(Box<UpnpKeeper>),
    Pmp(Box<PmpKeeper>),
}

/// Finding a gateway: the I/O of its own it is made of.
#[derive(Debug)]
enum Finding {
    Search(Box<DiscoveryRun>),
    Probe(Box<ProbeRun>),
    Way(Box<FindWay>),
}

/// What finding a way needs to know, and what a keeper of another way is made with.
#[derive(Debug)]
struct Ways {
    via: Via,
    find: Find,
    settings: DiscoverSettings,
    target: Target,
    limits: Limits,
    seed: Nonce,
}

/// The I/O of its own a keeper has out.
#[derive(Clone, Copy, Debug)]
enum Own {
    Route,
    Call,
    Open,
    Exchange,
}

/// The tag of a keeper's own I/O (a finding's are tagged with its generation, never 0) and
/// of the listener's.
const OWN: u16 = 0;

/// A keeper, whatever its way: what the drivers' `keep` run. See [the module](crate::keeper).
#[derive(Debug)]
pub struct KeepMachine {
    current: Current,
    ways: Option<Ways>,
    finding: Option<Finding>,
    /// Which finding it is: late answers of an earlier one are ignored.
    generation: u16,
    io: Pending,
    until: Option<(Instant, Own)>,
    /// The gateway whose announcements are listened to.
    listening: Option<IpAddr>,
    /// The UPnP gateway whose notifications are heard, and what was heard of it.
    watch: Option<Watch>,
    /// Whose notifications the listener hands over, and on which address of ours.
    hearing: Option<(IpAddr, IpAddr)>,
    /// Its way said it is done; `over` once every event is told.
    finished: bool,
    over: bool,
    /// The router in front of the gateway, held too ([`Keep::upstream`]).
    front: Option<Box<Front>>,
    /// Stop was asked: the gateway's mappings are removed once the front is done.
    stop_asked: bool,
    /// It listens for its gateway's notifications (a keeper of the router in front does
    /// not: they do not cross our gateway).
    listens: bool,
    /// The keeper is over, and is told so once the front is.
    done_after_front: Option<Result<(), Error>>,
}

impl KeepMachine {
    fn new(current: Current, ways: Option<Ways>) -> KeepMachine {
        KeepMachine {
            current,
            ways,
            finding: None,
            generation: 0,
            io: Pending::default(),
            until: None,
            listening: None,
            watch: None,
            hearing: None,
            finished: false,
            over: false,
            front: None,
            stop_asked: false,
            listens: true,
            done_after_front: None,
        }
    }

    /// A keeper of the router in front of our gateway: its mappings point at `external`
    /// (our gateway's external address), it never listens, and it has no front of its own.
    pub(crate) fn in_front_of(mut self, external: IpAddr) -> KeepMachine {
        self.front = None;
        self.listens = false;
        if let Current::Upnp(upnp) = &mut self.current {
            let placeholder = UpnpKeeper::new(Keep::new(), Find::default(), &Limits::default());
            let keeper = std::mem::replace(upnp.as_mut(), placeholder);
            **upnp = keeper.in_front_of(external);
        }
        self
    }

    /// Keep `keep` (validated first) the way [`Keep::via`] says: UPnP finding its gateway as
    /// `find` says (starting from `gateway` when the caller found one), PCP/NAT-PMP at
    /// [`Keep::target`], or, with [`Via::Auto`], whichever answers, best first, changing
    /// when the way in use stops answering. `seed` makes the PCP nonces
    /// ([`Nonce::random`]).
    pub fn new_upnp(
        keep: Keep,
        find: Find,
        gateway: Option<Device>,
        settings: &DiscoverSettings,
        limits: &Limits,
        seed: Nonce,
    ) -> Result<KeepMachine, Error> {
        keep.validate()?;
        let front = Front::new(&keep, limits, seed).map(Box::new);
        let (via, target) = (keep.via, keep.target);
        let ways = Ways {
            via,
            find: find.clone(),
            settings: settings.clone(),
            target,
            limits: limits.clone(),
            seed,
        };
        let current = match (via, Way::of(via)) {
            (Via::Pcp | Via::NatPmp, Some(way)) => {
                Current::Pmp(Box::new(PmpKeeper::new(keep, way, target, limits, seed)))
            }
            _ => {
                let mut upnp = UpnpKeeper::new(keep, find, limits).auto(via == Via::Auto);
                if let Some(device) = gateway {
                    upnp = upnp.with_gateway(device);
                }
                Current::Upnp(Box::new(upnp))
            }
        };
        Ok(KeepMachine {
            front,
            ..KeepMachine::new(current, Some(ways))
        })
    }

    /// Keep `keep` (validated first) through PCP or NAT-PMP (`way`) at the gateway `target`
    /// names, and no other way (see `PmpKeeper::validated`).
    pub fn new_pmp(
        keep: Keep,
        way: Way,
        target: Target,
        limits: &Limits,
        seed: Nonce,
    ) -> Result<KeepMachine, Error> {
        let keeper = PmpKeeper::validated(keep, way, target, limits, seed)?;
        Ok(KeepMachine::new(Current::Pmp(Box::new(keeper)), None))
    }

    /// Keep `keep` (validated first) through a PCP/NAT-PMP client opened already (its
    /// `session`, towards `gateway`), and no other way (see `PmpKeeper::of_client`).
    #[cfg(any(feature = "blocking", feature = "tokio"))]
    pub(crate) fn of_pmp_client(
        keep: Keep,
        session: crate::pmp::Session,
        gateway: SocketAddr,
        limits: &Limits,
        seed: Nonce,
    ) -> Result<KeepMachine, Error> {
        let keeper = PmpKeeper::of_client(keep, session, gateway, limits, seed)?;
        Ok(KeepMachine::new(Current::Pmp(Box::new(keeper)), None))
    }

    /// The keeper's state now.
    pub fn status(&self) -> Status {
        let status = match &self.current {
            Current::Upnp(upnp) => with_device(upnp.status(), upnp),
            Current::Pmp(pmp) => pmp.status(),
        };
        self.with_front(status)
    }

    /// `status` with the state of the keeper in front, if any.
    fn with_front(&self, mut status: Status) -> Status {
        status.in_front = self
            .front
            .as_ref()
            .and_then(|f| f.status())
            .map(|s| Box::new(s.clone()));
        status
    }

    fn keeper(&mut self) -> &mut Keeper {
        match &mut self.current {
            Current::Upnp(upnp) => upnp.keeper_mut(),
            Current::Pmp(pmp) => pmp.keeper_mut(),
        }
    }

    fn stop(&mut self, now: Instant) {
        self.keeper().stop(now);
    }

    /// Start finding a gateway with `finding` (or fail at once with why not).
    fn begin_finding(&mut self, finding: Result<Finding, Error>, now: Instant) {
        match finding {
            Ok(finding) => {
                // Below the front's tags.
                self.generation = match self.generation.checked_add(1) {
                    Some(g) if g < FRONT_TAGS => g,
                    _ => 1,
                };
                self.finding = Some(finding);
            }
            Err(e) => self.found_way(Err(e), now),
        }
    }

    /// Poll the finding under way: `None` once it is over (its outcome fed to the way).
    fn poll_finding(&mut self, now: Instant) -> Option<Output<(), Update>> {
        let tag = self.generation;
        macro_rules! child {
            ($machine:expr) => {
                match $machine.poll(now) {
                    Output::Done(value) => value,
                    Output::Start(token, io) => return Some(Output::Start(token.within(tag), io)),
                    Output::Wait(at) => return Some(Output::Wait(at)),
                    Output::Event(never) => match never {},
                }
            };
        }
        match self.finding.as_mut()? {
            Finding::Search(search) => {
                let found =
                    child!(search).and_then(|devices| select_usable(&devices, |d| d).cloned());
                self.finding = None;
                if let Current::Upnp(upnp) = &mut self.current {
                    upnp.found(found, now);
                }
            }
            Finding::Probe(probe) => {
                let found = child!(probe);
                self.finding = None;
                if let Current::Upnp(upnp) = &mut self.current {
                    upnp.found(found, now);
                }
            }
            Finding::Way(way) => {
                let found = child!(way);
                self.finding = None;
                self.found_way(found, now);
            }
        }
        None
    }

    /// What finding a way found: the way in use changes when another one answered.
    fn found_way(&mut self, found: Result<WayFound, Error>, now: Instant) {
        let found = found.and_then(|way| match way.found? {
            Found::Upnp(index) => way
                .devices
                .into_iter()
                .nth(index)
                .map(Found::Upnp)
                .ok_or(Error::Misuse("a gateway chosen out of the list")),
            Found::Pmp(opened) => Ok(Found::Pmp(opened)),
        });
        let Some(ways) = &self.ways else {
            // A keeper of one way never looks for another: nothing to move to.
            let e = found
                .err()
                .unwrap_or(Error::Misuse("a way found by a keeper of one way"));
            match &mut self.current {
                Current::Upnp(upnp) => upnp.found(Err(e), now),
                Current::Pmp(pmp) => pmp.opened(Err(e), now),
            }
            return;
        };
        let placeholder = UpnpKeeper::new(Keep::new(), Find::default(), &ways.limits);
        let current = std::mem::replace(&mut self.current, Current::Upnp(Box::new(placeholder)));
        self.current = match (current, found) {
            (Current::Upnp(mut upnp), Ok(Found::Upnp(device))) => {
                upnp.found(Ok(device), now);
                Current::Upnp(upnp)
            }
            (Current::Pmp(pmp), Ok(Found::Upnp(device))) => {
                let find = ways.find.clone();
                let mut upnp =
                    UpnpKeeper::of_keeper(pmp.into_keeper(), find, &ways.limits).auto(true);
                upnp.found(Ok(device), now);
                Current::Upnp(Box::new(upnp))
            }
            (current, Ok(Found::Pmp(opened))) => {
                let mut pmp = match current {
                    Current::Pmp(pmp) => pmp,
                    Current::Upnp(upnp) => {
                        let (target, limits, seed) = (ways.target, &ways.limits, ways.seed);
                        let way = Way::of(ways.via).unwrap_or(Way::Pcp { fallback: true });
                        let keeper = upnp.into_keeper();
                        let pmp = PmpKeeper::of_keeper(keeper, way, target, limits, seed, now);
                        Box::new(pmp.auto(true))
                    }
                };
                pmp.opened(Ok((opened.session.local(), opened.gateway)), now);
                Current::Pmp(pmp)
            }
            (Current::Upnp(mut upnp), Err(e)) => {
                upnp.found(Err(e), now);
                Current::Upnp(upnp)
            }
            (Current::Pmp(mut pmp), Err(e)) => {
                pmp.opened(Err(e), now);
                Current::Pmp(pmp)
            }
        };
    }

    /// A way found, with this keeper's settings, from `now`.
    fn find_way(&self, now: Instant) -> Result<Finding, Error> {
        let ways = self.ways.as_ref().ok_or(Error::Misuse("no way to find"))?;
        let options = match &ways.find {
            Find::Search(options) => options.clone(),
            Find::Url(_) => DiscoverOptions::default(),
        };
        let way = FindWay::new(
            ways.via,
            ways.target,
            &ways.settings,
            &options,
            &ways.limits,
            now,
        )?;
        Ok(Finding::Way(Box::new(way)))
    }

    /// The I/O out ran out of time: it failed.
    fn timed_out(&mut self, own: Own, now: Instant) {
        self.io.forget();
        self.until = None;
        match (&mut self.current, own) {
            (Current::Upnp(upnp), Own::Route) => upnp.routed(None, now),
            (Current::Upnp(upnp), _) => {
                let after = self
                    .ways
                    .as_ref()
                    .map(|w| w.limits.call)
                    .unwrap_or_default();
                let stage = upnp_soap::Stage::ReadingHead;
                upnp.answered(Err(upnp_soap::Error::Timeout { after, stage }), now);
            }
            (Current::Pmp(pmp), Own::Open) => {
                pmp.opened(
                    Err(Error::Misuse("a PCP client neither opened nor failed")),
                    now,
                );
            }
            (Current::Pmp(pmp), _) => {
                let gateway = pmp.gateway().unwrap_or(SocketAddr::from(([0; 4], 0)));
                pmp.answered(Err(pcp_natpmp::Error::TimedOut(gateway)), now);
            }
        }
    }

    /// Start an I/O of its own, out until `until`.
    fn start(&mut self, io: Io, until: Instant, own: Own) -> Output<(), Update> {
        self.until = Some((until, own));
        Output::Start(self.io.start().within(OWN), io)
    }

    /// The next output of the UPnP way.
    fn poll_upnp(&mut self, now: Instant) -> Option<Output<(), Update>> {
        let Current::Upnp(upnp) = &mut self.current else {
            return None;
        };
        let limits = upnp.limits().clone();
        if let Some(output) = self.watch_gateway() {
            return Some(output);
        }
        if let Some(heard) = self.watch.as_mut().and_then(|w| w.poll(now)) {
            self.heard(heard, now);
        }
        let Current::Upnp(upnp) = &mut self.current else {
            return None;
        };
        let advertised = self.watch.as_ref().and_then(Watch::advertised_until);
        upnp.keeper_mut().gateway_advertised(advertised, now);
        let heard_at = self.watch.as_ref().and_then(Watch::poll_timeout);
        Some(match upnp.step(now) {
            UpnpStep::Search(options) => {
                let settings = self
                    .ways
                    .as_ref()
                    .map(|w| w.settings.clone())
                    .unwrap_or_default();
                let search =
                    DiscoveryRun::new(Goal::FirstPublic, &settings, &options, &limits, now);
                let search = search.map(|s| Finding::Search(Box::new(s)));
                self.begin_finding(search, now);
                return None;
            }
            UpnpStep::Probe(url) => {
                let probe = ProbeRun::at(&url, &limits, now);
                self.begin_finding(Ok(Finding::Probe(Box::new(probe))), now);
                return None;
            }
            UpnpStep::FindWay => {
                let way = self.find_way(now);
                self.begin_finding(way, now);
                return None;
            }
            UpnpStep::Route(url) => {
                let io = Io::Route(RouteTo::Host(url));
                self.start(io, later(now, limits.call), Own::Route)
            }
            UpnpStep::Call {
                url,
                request,
                deadline,
            } => {
                let io = Io::Call {
                    url,
                    request,
                    deadline,
                };
                self.start(io, deadline, Own::Call)
            }
            UpnpStep::Wait(at) => Output::Wait(heard_at.map_or(at, |h| h.min(at))),
            UpnpStep::Done => {
                self.finished = true;
                return None;
            }
        })
    }

    /// Hear the UPnP gateway in use (a new one, or one at another place): its notifications
    /// go to a [`Watch`] of it from now on. `None` when it is heard already (or stopping).
    fn watch_gateway(&mut self) -> Option<Output<(), Update>> {
        let Current::Upnp(upnp) = &mut self.current else {
            return None;
        };
        let stopping = upnp.keeper_mut().stop_deadline().is_some();
        if !self.listens {
            return None;
        }
        let device = upnp.device()?;
        let gateway = host_ip(&device.description_url)?;
        let interface: IpAddr = device.igd_our_addr.parse().ok()?;
        let watched = self
            .watch
            .as_ref()
            .is_some_and(|w| w.source() == gateway && w.location() == device.description_url);
        if watched || stopping {
            return None;
        }
        let mut watch = Watch::new(gateway, &device.description_url);
        if let Some(udn) = &device.udn {
            watch = watch.with_uuid(udn);
        }
        if let Some(boot_id) = device.boot_id {
            watch = watch.with_boot_id(boot_id);
        }
        self.watch = Some(watch);
        // The listener hears that address already: only the device watched is new.
        if self.hearing == Some((gateway, interface)) {
            return None;
        }
        self.hearing = Some((gateway, interface));
        let io = Io::Notifications { gateway, interface };
        Some(Output::Start(Token::new(1).within(OWN), io))
    }

    /// Act on what the UPnP gateway said of itself: a restart starts a check now (mappings
    /// gone are mapped again), or ends the backoff of looking for it. A move (another
    /// description URL, on the same address): looked for again at once, that description
    /// probed first (a URL on another host is never contacted: a check instead). A byebye:
    /// nothing is asked of it; it is looked for again (with backoff, every way allowed), at
    /// once when it speaks.
    fn heard(&mut self, heard: Heard, now: Instant) {
        event!(heard = ?heard, "keeper: the gateway's notification");
        let Current::Upnp(upnp) = &mut self.current else {
            return;
        };
        match heard {
            Heard::Restarted { .. } => upnp.keeper_mut().gateway_restart_heard(now),
            // Only a description on the address that said it is probed.
            Heard::Moved { location } if on_source(&location, self.watch.as_ref()) => {
                upnp.moved(location, now)
            }
            Heard::Moved { .. } => upnp.keeper_mut().gateway_speaks(now),
            Heard::Leaving => upnp.keeper_mut().gateway_leaving(now),
        }
    }

    /// The next output of the PCP/NAT-PMP way.
    fn poll_pmp(&mut self, now: Instant) -> Option<Output<(), Update>> {
        let Current::Pmp(pmp) = &mut self.current else {
            return None;
        };
        let gateway = pmp.gateway().map(|g| g.ip());
        let stopping = pmp.keeper_mut().stop_deadline().is_some();
        if let Some(gateway) = gateway.filter(|g| !stopping && self.listening != Some(*g)) {
            self.listening = Some(gateway);
            return Some(Output::Start(
                Token::new(0).within(OWN),
                Io::Listen(gateway),
            ));
        }
        let call = pmp.limits().call;
        Some(match pmp.step(now) {
            PmpStep::Open(target) => {
                let way = pmp.way();
                self.start(Io::OpenPmp { target, way }, later(now, call), Own::Open)
            }
            PmpStep::FindWay => {
                let way = self.find_way(now);
                self.begin_finding(way, now);
                return None;
            }
            PmpStep::Send { request, deadline } => {
                self.start(Io::Exchange { request, deadline }, deadline, Own::Exchange)
            }
            PmpStep::Wait(at) => Output::Wait(at),
            PmpStep::Done => {
                self.finished = true;
                return None;
            }
        })
    }
}

/// Whether `location` is on the address of the device `watch` hears (what may be probed
/// when it says it moved there).
fn on_source(location: &str, watch: Option<&Watch>) -> bool {
    host_ip(location).is_some_and(|host| watch.is_some_and(|w| w.source() == host))
}

/// The address a URL names as its host (`None` for a name, or no URL).
fn host_ip(url: &str) -> Option<IpAddr> {
    match url::Url::parse(url).ok()?.host()? {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(_) => None,
    }
}

/// `status` with the UPnP gateway in use.
fn with_device(mut status: Status, upnp: &UpnpKeeper) -> Status {
    status.device = upnp.device().filter(|_| status.gateway.is_some()).cloned();
    status
}

impl Machine for KeepMachine {
    type Value = ();
    type Event = Update;

    fn poll(&mut self, now: Instant) -> Output<(), Update> {
        let mut wake = None;
        // What the keeper has to tell first: its events come before the front's.
        if !self.over {
            if let Some(update) = self.next_update() {
                return Output::Event(update);
            }
        }
        if let Some(front) = &mut self.front {
            let inner = match &self.current {
                Current::Upnp(upnp) => upnp
                    .device()
                    .and_then(|device| Some((device, Key::of(device, &upnp.status())?))),
                Current::Pmp(_) => None,
            };
            match front.poll(inner, now) {
                Polled::Out(out) => return out,
                Polled::Changed => return Output::Event(Update::Status(Box::new(self.status()))),
                Polled::Wait(at) => wake = at,
            }
            // The gateway's mappings are removed once the front's are.
            if self.stop_asked && front.is_done() {
                self.stop_asked = false;
                self.stop(now);
            }
        }
        if let Some(done) = self.done_after_front.take() {
            if self.front.as_ref().is_none_or(|f| f.is_done()) {
                return Output::Done(done);
            }
            self.done_after_front = Some(done);
            return Output::Wait(wake.unwrap_or(now));
        }
        match self.poll_inner(now) {
            Output::Wait(at) => Output::Wait(wake.map_or(at, |w| w.min(at))),
            // Never over before the front is (its mappings removed first).
            Output::Done(done) if self.front.as_ref().is_some_and(|f| !f.is_done()) => {
                if let Some(front) = &mut self.front {
                    front.stop(now);
                }
                self.done_after_front = Some(done);
                Output::Wait(wake.unwrap_or(now))
            }
            out => out,
        }
    }

    fn handle(&mut self, input: Input, now: Instant) {
        match input.for_child() {
            (Some(tag), input) if tag >= FRONT_TAGS => {
                if let Some(front) = &mut self.front {
                    front.handle(tag, input, now);
                }
            }
            (None, Input::Stop) if self.front.is_some() => {
                if let Some(front) = &mut self.front {
                    front.stop(now);
                }
                self.stop_asked = true;
            }
            (Some(tag), input) => self.handle_inner(Some(tag), input, now),
            (None, input) => self.handle_inner(None, input, now),
        }
    }
}

impl KeepMachine {
    /// The keeper's next update to tell, its status with the UPnP gateway in use.
    fn next_update(&mut self) -> Option<Update> {
        let update = self.keeper().update()?;
        Some(match (update, &self.current) {
            (Update::Status(status), Current::Upnp(upnp)) => {
                Update::Status(Box::new(self.with_front(with_device(*status, upnp))))
            }
            (Update::Status(status), _) => Update::Status(Box::new(self.with_front(*status))),
            (update, _) => update,
        })
    }

    /// The keeper's own outputs (the front aside).
    fn poll_inner(&mut self, now: Instant) -> Output<(), Update> {
        loop {
            if self.over {
                return polled_after_done();
            }
            if let Some(update) = self.next_update() {
                return Output::Event(update);
            }
            if self.finished {
                // Every event told first.
                self.over = true;
                return Output::Done(Ok(()));
            }
            if let Some((until, own)) = self.until {
                if now < until {
                    return Output::Wait(until);
                }
                self.timed_out(own, now);
                continue;
            }
            if self.finding.is_some() {
                match self.poll_finding(now) {
                    Some(output) => return output,
                    None => continue,
                }
            }
            let output = match self.current {
                Current::Upnp(_) => self.poll_upnp(now),
                Current::Pmp(_) => self.poll_pmp(now),
            };
            if let Some(output) = output {
                return output;
            }
        }
    }

    /// An input for the keeper itself (its tag split off).
    fn handle_inner(&mut self, tag: Option<u16>, input: Input, now: Instant) {
        let (tag, input) = match (tag, input) {
            (Some(tag), input) => (tag, input),
            (None, Input::Stop) => return self.stop(now),
            (None, Input::Heard(announcement)) => {
                if let Current::Pmp(pmp) = &mut self.current {
                    pmp.announced(announcement, now);
                }
                return;
            }
            (None, Input::Notified { from, datagram }) => {
                let heard = self.watch.as_mut().map(|w| w.handle(from, &datagram, now));
                if let Some(Ok(heard)) = heard {
                    self.heard(heard, now);
                }
                return;
            }
            (None, _) => return,
        };
        if tag != OWN {
            match &mut self.finding {
                Some(Finding::Search(search)) if tag == self.generation => {
                    search.handle(input, now)
                }
                Some(Finding::Probe(probe)) if tag == self.generation => probe.handle(input, now),
                Some(Finding::Way(way)) if tag == self.generation => way.handle(input, now),
                _ => {}
            }
            return;
        }
        let Input::Completed(token, completed) = input else {
            return;
        };
        if let Completed::Deaf(error) = completed {
            match &mut self.current {
                Current::Upnp(upnp) => upnp.keeper_mut().not_hearing(error),
                Current::Pmp(pmp) => pmp.keeper_mut().not_hearing(error),
            }
            return;
        }
        if !self.io.take(token) {
            return;
        }
        self.until = None;
        match (&mut self.current, completed) {
            (Current::Upnp(upnp), Completed::Routed(addr)) => upnp.routed(addr, now),
            (Current::Upnp(upnp), Completed::Called(outcome)) => upnp.answered(outcome, now),
            (Current::Pmp(pmp), Completed::Opened(opened)) => pmp.opened(opened, now),
            (Current::Pmp(pmp), Completed::Exchanged(outcome)) => pmp.answered(outcome, now),
            _ => {}
        }
    }
}
