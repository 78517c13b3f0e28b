//! The keeper: hold ports open until told to stop, whatever the router does. No I/O.
//!
//! Godot hands every pitfall of a port mapping to its user: leases end, routers reboot and
//! forget, the external address changes, another client holds the port. The keeper handles
//! them all, as a state machine with time passed in; the drivers
//! ([`crate::blocking::Upnp::keep`], and `tokio`'s) only move its requests over the network.
//!
//! [`KeepMachine`] is the keeper as one machine of [the contract](crate::machine): inside it,
//! the policy (every rule below, knowing no protocol: it asks for tasks such as "find a
//! gateway", "map this port", "is this mapping still there" and is told how they ended) and
//! its way to map, UPnP IGD ([`upnp`]) or PCP/NAT-PMP, which carries each task out
//! as requests. With [`Keep::via`] `Auto` it changes way by itself whenever the one in use
//! stops answering.
//!
//! What it does, with the defaults of [`Keep`]:
//!
//! | when | what |
//! | --- | --- |
//! | start | find a gateway, map each port asking for a lease of [`Keep::lease`] (1 hour) |
//! | half the lease granted (read back) | renew: map it again |
//! | every [`Keep::check`] (60 s) | re-query the external address and our own local address; look each mapping up |
//! | a mapping gone (router reboot) or pointing elsewhere | [`Event::Lost`], map it again |
//! | the port held by another client (718, 724, 729, or seen) | IGDv2: `AddAnyPortMapping`; else the next ports, [`Keep::port_attempts`] (8) at most; with [`Keep::exact`], report and retry later |
//! | the gateway unreachable | find a gateway again, backing off from [`Keep::retry`] (1 s) to [`Keep::max_retry`] (60 s) |
//! | our local address changed | unmap the old mapping (it points at us), map to the new address |
//! | stop | unmap every mapping it made (and every one an add that timed out may have made), each checked to point at us, within [`Keep::stop_within`] (5 s) |
//!
//! ```
//! use std::time::{Duration, Instant};
//! use upnp_igd::keeper::{Keep, KeepMachine, upnp::Find};
//! use upnp_igd::machine::{Io, Machine, Output, RouteTo};
//! use upnp_igd::{DiscoverSettings, Limits, Via};
//!
//! let keep = Keep::new().udp(7777).check(Duration::from_secs(30)).via(Via::Auto);
//! let (settings, limits) = (DiscoverSettings::default(), Limits::default());
//! let seed = upnp_igd::pcp_natpmp::Nonce([7; 12]); // give `Nonce::random()`
//! let mut keeper = KeepMachine::new_upnp(keep, Find::default(), None, &settings, &limits, seed)?;
//! let now = Instant::now();
//! // Its state for the caller, then a way to map: every way at once, the default gateway
//! // first (the search also goes to it by unicast).
//! assert!(matches!(keeper.poll(now), Output::Event(_)));
//! assert!(matches!(keeper.poll(now), Output::Start(_, Io::Route(RouteTo::Gateway))));
//! # Ok::<(), upnp_igd::Error>(())
//! ```

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

pub use upnp_soap::actions::Protocol;

use crate::error::{Error, ErrorKind};
use crate::limits::later;
use crate::pmp::Method;

mod config;
mod events;
mod front;
mod machine;
mod pinholes;
pub(crate) mod pmp;
#[cfg(test)]
mod proptests;
mod stopping;
mod tasks;
#[cfg(test)]
mod tests;
pub mod upnp;

pub use config::{Keep, MAX_PORTS, PortSpec};
pub use events::{Event, Held, HeldPinhole, LostReason, PortStatus, Status};
pub use machine::KeepMachine;
pub(crate) use tasks::{Gateway, Grant, MapTask, Outcome, Seen, Slot, Step, Task};

/// Ports an add that timed out may have mapped, remembered per port at most (each is
/// removed, if ours, at stop).
const MAX_MAYBE: usize = 16;

#[derive(Clone, Debug)]
struct PortState {
    spec: PortSpec,
    held: Option<Held>,
    /// Held once: a new mapping is a remap.
    ever: bool,
    /// The external port to try next and how many conflicts led there.
    next_port: u16,
    conflicts: u16,
    /// Let the gateway pick the port (after a conflict, on a gateway that can).
    any_port: bool,
    failures: u32,
    /// When the slot needs work (map when not held, else look it up); `None`: now.
    due: Option<Instant>,
    /// When to renew (half the lease granted); `None` for a permanent mapping.
    renew_at: Option<Instant>,
    /// Ports an add may have mapped without our knowing (it timed out), and the address
    /// they would point at: removed at stop when they do.
    maybe: Vec<(u16, IpAddr)>,
    /// An old mapping of ours to remove before mapping again (our address changed).
    stale: Option<(u16, IpAddr)>,
    /// The IPv6 pinhole held, if any.
    pinhole: Option<PinholeState>,
    /// When to try opening the pinhole again after a failure; `None`: now.
    pinhole_due: Option<Instant>,
    /// Pinhole failures in a row, and whether one was ever opened.
    pinhole_failures: u32,
    /// An old pinhole of ours to close (our address changed).
    stale_pinhole: Option<u16>,
}

#[derive(Clone, Debug)]
struct PinholeState {
    held: HeldPinhole,
    /// When to renew it next (the check), and when a renewal is worth an event.
    renew_at: Instant,
    announce_at: Instant,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Round {
    /// Not in a check round.
    Idle,
    /// Asking our local address, then the external one.
    Local,
    External,
}

/// The keeper's state machine. See the [module docs](self).
#[derive(Debug)]
pub(crate) struct Keeper {
    keep: Keep,
    gateway: Option<Gateway>,
    /// Failures finding a gateway in a row, and when to try again.
    gateway_failures: u32,
    gateway_due: Option<Instant>,
    /// When the gateway last said it restarted (its SSDP notifications).
    restart_heard: Option<Instant>,
    /// Until when the gateway's last SSDP advertisement holds, and whether it held at the
    /// last poll: checks are [`Keep::quiet_check`] apart meanwhile.
    advertised_until: Option<Instant>,
    quiet: bool,
    /// [`Event::NotHearing`] was said.
    said_deaf: bool,
    external_ip: Option<IpAddr>,
    ports: Vec<PortState>,
    round: Round,
    next_check: Option<Instant>,
    running: Option<Task>,
    /// When the running task was given.
    running_since: Option<Instant>,
    events: VecDeque<Event>,
    stop: Option<Stop>,
    /// The state last handed out by [`Keeper::update`].
    published: Option<Status>,
    /// The way of the gateway found last.
    last_method: Option<Method>,
}

#[derive(Debug)]
struct Stop {
    deadline: Instant,
    /// What is left to remove.
    queue: VecDeque<StopItem>,
    left: usize,
    done: bool,
}

/// One thing to remove at stop.
#[derive(Clone, Copy, Debug)]
enum StopItem {
    /// A mapping: (slot, external port, whom it must point at).
    Unmap(Slot, u16, IpAddr),
    /// A pinhole: (slot, its ID).
    Close(Slot, u16),
}

/// What a keeper machine tells its caller ([`crate::machine::Output::Event`]).
#[non_exhaustive]
#[derive(Debug)]
pub enum Update {
    /// The state changed: this is it now (for a handle's `status()`).
    Status(Box<Status>),
    /// Something happened.
    Event(Event),
}

/// Events kept for the caller, at most; older ones are dropped first (the [`Status`] is
/// always current).
pub const MAX_EVENTS: usize = 256;

/// How long after the gateway said it restarted a mapping found gone is lost because of it
/// (at least; a check interval when longer).
const RESTART_HEARD: Duration = Duration::from_secs(30);

impl Keeper {
    /// A keeper for `keep`. Call [`Keep::validate`] first: ports it would refuse are kept
    /// as given.
    pub(crate) fn new(keep: Keep) -> Keeper {
        let ports = keep
            .ports
            .iter()
            .take(MAX_PORTS)
            .map(|spec| PortState {
                spec: *spec,
                held: None,
                ever: false,
                next_port: spec.external_port,
                conflicts: 0,
                any_port: false,
                failures: 0,
                due: None,
                renew_at: None,
                maybe: Vec::new(),
                stale: None,
                pinhole: None,
                pinhole_due: None,
                pinhole_failures: 0,
                stale_pinhole: None,
            })
            .collect();
        Keeper {
            keep,
            gateway: None,
            gateway_failures: 0,
            gateway_due: None,
            restart_heard: None,
            advertised_until: None,
            quiet: false,
            said_deaf: false,
            external_ip: None,
            ports,
            round: Round::Idle,
            next_check: None,
            running: None,
            running_since: None,
            events: VecDeque::new(),
            stop: None,
            published: None,
            last_method: None,
        }
    }

    /// What to tell the caller next: the state when it changed since the last time, then
    /// each event (oldest first). The state goes first, so that a reader woken by an event
    /// already reads the state that event announces.
    pub(crate) fn update(&mut self) -> Option<Update> {
        let status = self.status();
        if self.published.as_ref() != Some(&status) {
            self.published = Some(status.clone());
            return Some(Update::Status(Box::new(status)));
        }
        self.next_event().map(Update::Event)
    }

    /// What it keeps.
    pub(crate) fn keep(&self) -> &Keep {
        &self.keep
    }

    /// The state now.
    pub(crate) fn status(&self) -> Status {
        Status {
            gateway: self.gateway.as_ref().map(|g| g.name.clone()),
            external_ip: self.external_ip,
            ports: self
                .ports
                .iter()
                .map(|p| PortStatus {
                    port: p.spec,
                    held: p.held.clone(),
                    pinhole: p.pinhole.as_ref().map(|h| h.held.clone()),
                    failures: p.failures,
                })
                .collect(),
            stopping: self.stop.is_some(),
            method: self.gateway.as_ref().map(|g| g.method),
            device: None,
            in_front: None,
        }
    }

    /// The next event, oldest first.
    pub(crate) fn next_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn emit(&mut self, event: Event) {
        event!(event = ?event, "keeper");
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    /// The gateway's own news cannot be heard: said once ([`Event::NotHearing`]); checks go
    /// on at [`Keep::check`], as they do when nothing is heard.
    pub(crate) fn not_hearing(&mut self, error: Error) {
        if !self.said_deaf {
            self.said_deaf = true;
            let check = self.keep.check;
            self.emit(Event::NotHearing { error, check });
        }
    }

    /// The gateway says it lost its state (PCP's or NAT-PMP's epoch went back: it
    /// restarted): every mapping held is [`Event::Lost`] ([`LostReason::Restarted`]) and made
    /// again at once. Nothing while stopping.
    pub(crate) fn gateway_restarted(&mut self) {
        self.all_lost(LostReason::Restarted);
    }

    /// Every mapping held is [`Event::Lost`] for `reason` and made again at once. Nothing
    /// while stopping.
    fn all_lost(&mut self, reason: LostReason) {
        if self.stop.is_some() {
            return;
        }
        let mut lost = Vec::new();
        for port in &mut self.ports {
            if let Some(held) = port.held.take() {
                port.next_port = held.external_port;
                port.renew_at = None;
                port.due = None;
                lost.push((port.spec, held.external_port));
            }
        }
        for (spec, external_port) in lost {
            self.emit(Event::Lost {
                port: spec,
                external_port,
                reason: reason.clone(),
            });
        }
    }

    /// The gateway said it restarted (a new boot id in its SSDP notifications): check now
    /// ([`Keeper::gateway_speaks`]); a mapping that check finds gone is lost because of it
    /// ([`LostReason::Restarted`]).
    pub(crate) fn gateway_restart_heard(&mut self, now: Instant) {
        self.restart_heard = Some(now);
        self.gateway_speaks(now);
    }

    /// The gateway's last SSDP advertisement holds until `until` (`None`: none holds): while
    /// it does, checks are [`Keep::quiet_check`] apart.
    pub(crate) fn gateway_advertised(&mut self, until: Option<Instant>, now: Instant) {
        self.advertised_until = until;
        self.update_quiet(now);
    }

    /// Whether the gateway's advertisement holds at `now`; when it stops holding, whatever
    /// was due a quiet interval away is due a check interval from now at the latest.
    fn update_quiet(&mut self, now: Instant) {
        let quiet = self.advertised_until.is_some_and(|until| now < until);
        if self.quiet && !quiet {
            let soon = later(now, self.keep.check);
            self.next_check = self.next_check.map(|at| at.min(soon));
            for port in &mut self.ports {
                port.due = port.due.map(|at| at.min(soon));
                if let Some(pinhole) = &mut port.pinhole {
                    pinhole.renew_at = pinhole.renew_at.min(soon);
                }
            }
        }
        self.quiet = quiet;
    }

    /// The check interval now: [`Keep::quiet_check`] while the gateway's advertisement
    /// holds, else [`Keep::check`].
    fn interval(&self) -> Duration {
        match self.quiet {
            true => self.keep.quiet_check.max(self.keep.check),
            false => self.keep.check,
        }
    }

    /// Run a check round now (the gateway announced a change), unless stopping or
    /// without a gateway.
    pub(crate) fn check_now(&mut self, now: Instant) {
        if self.stop.is_none() && self.gateway.is_some() {
            self.next_check = Some(now);
        }
    }

    /// The gateway said it moved (another description URL): it is looked for again now,
    /// keeping what it holds (a check of the old place would only fail). While a task runs,
    /// a check now instead (which fails, and finds it again).
    pub(crate) fn gateway_moved(&mut self, now: Instant) {
        if self.stop.is_some() {
            return;
        }
        if self.running.is_some() || self.gateway.is_none() {
            return self.gateway_speaks(now);
        }
        self.lose_gateway(now);
        self.gateway_due = Some(now);
    }

    /// The gateway said it is (back) there, e.g. restarted: check now, or, while it is being
    /// looked for again (backing off after it stopped answering), look now.
    pub(crate) fn gateway_speaks(&mut self, now: Instant) {
        if self.stop.is_some() {
            return;
        }
        match self.gateway {
            Some(_) => self.next_check = Some(now),
            None => self.gateway_due = Some(now),
        }
    }

    /// The gateway said it is going away (a byebye): nothing more is asked of it (no check,
    /// no renewal, no call that would fail); it is looked for again as when it stops
    /// answering (with backoff, every way allowed: an auto keeper moves to PCP when UPnP is
    /// switched off), and at once when it speaks ([`Keeper::gateway_speaks`]). The mappings
    /// held stay held. Nothing while stopping or a task runs.
    pub(crate) fn gateway_leaving(&mut self, now: Instant) {
        if self.stop.is_some() || self.running.is_some() || self.gateway.is_none() {
            return;
        }
        self.lose_gateway(now);
    }

    /// The next step. Call it again after each [`Keeper::handle`], and when a
    /// [`Step::Wait`] ends.
    pub(crate) fn poll(&mut self, now: Instant) -> Step {
        self.update_quiet(now);
        if self.running.is_some() {
            // The driver runs one task at a time; this is a driver's mistake, not the network's.
            return Step::Wait(later(now, Duration::from_millis(10)));
        }
        if self.stop.is_some() {
            return self.poll_stop(now);
        }
        let Some(gateway) = &self.gateway else {
            if self.gateway_due.is_some_and(|due| due > now) {
                return Step::Wait(self.next_wake(now));
            }
            return self.run_at(now, Task::FindGateway);
        };
        let our_addr = gateway.our_addr;
        let any_port_ok = gateway.any_port;
        match self.round {
            Round::Local => return self.run_at(now, Task::LocalAddress),
            Round::External => return self.run_at(now, Task::ExternalIp),
            Round::Idle => {}
        }
        if self.next_check.is_some_and(|at| at <= now) {
            self.round = Round::Local;
            return self.run_at(now, Task::LocalAddress);
        }
        for slot in 0..self.ports.len() {
            let Some(port) = self.ports.get(slot) else {
                continue;
            };
            if let Some((external_port, internal_client)) = port.stale {
                return self.run_at(
                    now,
                    Task::Unmap {
                        slot,
                        protocol: port.spec.protocol,
                        external_port,
                        internal_client,
                        internal_port: port.spec.internal_port,
                    },
                );
            }
            if let Some(task) = self.pinhole_task(slot, now) {
                return self.run_at(now, task);
            }
            let Some(port) = self.ports.get(slot) else {
                continue;
            };
            let renew = port.renew_at.is_some_and(|at| at <= now);
            if port.due.is_some_and(|due| due > now) && !renew {
                continue;
            }
            let task = match &port.held {
                Some(held) if !renew => Task::Look {
                    slot,
                    protocol: port.spec.protocol,
                    external_port: held.external_port,
                },
                held => {
                    let external_port = held.as_ref().map_or(port.next_port, |h| h.external_port);
                    Task::Map(MapTask {
                        slot,
                        protocol: port.spec.protocol,
                        external_port,
                        internal_port: port.spec.internal_port,
                        internal_client: our_addr,
                        lease: self.keep.lease,
                        description: self.keep.description.clone(),
                        any_port: port.any_port && any_port_ok && held.is_none(),
                    })
                }
            };
            return self.run_at(now, task);
        }
        Step::Wait(self.next_wake(now))
    }

    /// When something is due next, once nothing is due now: every timer the keeper keeps, in
    /// one place. Finding a gateway again (after a backoff) without one; else the next check
    /// round, each port's next lookup and renewal, each pinhole's renewal or next attempt;
    /// with none of them, a check interval from now.
    fn next_wake(&self, now: Instant) -> Instant {
        if self.gateway.is_none() {
            return self.gateway_due.unwrap_or(now);
        }
        let pinholes = self.keep.pinholes
            && self
                .gateway
                .as_ref()
                .is_some_and(|g| g.pinhole_addr.is_some());
        let mut wake = self.next_check;
        for port in &self.ports {
            wake = earliest(wake, port.due);
            wake = earliest(wake, port.renew_at);
            if pinholes {
                let pinhole = match &port.pinhole {
                    Some(state) => Some(state.renew_at),
                    None => port.pinhole_due,
                };
                wake = earliest(wake, pinhole);
            }
        }
        if self.quiet && self.keep.quiet_check > self.keep.check {
            wake = earliest(wake, self.advertised_until);
        }
        wake.unwrap_or_else(|| later(now, self.interval()))
    }

    fn run_at(&mut self, now: Instant, task: Task) -> Step {
        event!(task = ?task, "keeper task");
        self.running = Some(task.clone());
        self.running_since = Some(now);
        Step::Run(task)
    }

    /// The deadline by which stopping must be over, once stopping.
    pub(crate) fn stop_deadline(&self) -> Option<Instant> {
        self.stop.as_ref().map(|s| s.deadline)
    }

    fn backoff(&self, failures: u32) -> Duration {
        let factor = 1u32.checked_shl(failures.min(20)).unwrap_or(u32::MAX);
        self.keep
            .retry
            .checked_mul(factor)
            .unwrap_or(self.keep.max_retry)
            .min(self.keep.max_retry)
    }

    /// Feed the outcome of the task last given.
    pub(crate) fn handle(&mut self, outcome: Outcome, now: Instant) {
        let task = self.running.take();
        if self.stop.is_some() {
            self.handle_stopping(task, outcome);
            return;
        }
        match outcome {
            Outcome::Gateway(found) => self.found(found, now),
            Outcome::LocalAddress(addr) => self.local_address(addr, now),
            Outcome::ExternalIp(ip) => {
                self.round = Round::Idle;
                match ip {
                    Ok(ip) => self.external_ip_is(ip),
                    Err(e) if is_gone(&e) => self.unreachable(None, e, now),
                    // Refused or garbled: the mappings are still checked; try at the next round.
                    Err(error) => self.emit(Event::Failed {
                        port: None,
                        error,
                        retry_in: self.keep.check,
                    }),
                }
            }
            Outcome::Mapped(slot, result) => {
                let Some(Task::Map(task)) =
                    task.filter(|t| matches!(t, Task::Map(m) if m.slot == slot))
                else {
                    return;
                };
                let took = self
                    .running_since
                    .map_or(Duration::ZERO, |since| now.saturating_duration_since(since));
                let result = result.map(|grant| counted_down(grant, task.lease, took));
                self.mapped(task, result, now);
            }
            Outcome::Looked(slot, result) => self.looked(slot, result, now),
            Outcome::Unmapped(slot, result) => self.unmapped_stale(slot, result, now),
            Outcome::PinholeOpened(_, result) => self.pinhole_opened(task, result, now),
            Outcome::PinholeRenewed(slot, result) => self.pinhole_renewed(slot, result, now),
            Outcome::PinholeClosed(slot, result) => self.stale_pinhole_closed(slot, result, now),
        }
    }

    /// An old mapping (to our previous address) removed, or not, before mapping again.
    fn unmapped_stale(&mut self, slot: Slot, result: Result<(), Error>, now: Instant) {
        let Some(port) = self.ports.get_mut(slot) else {
            return;
        };
        let (spec, stale) = (port.spec, port.stale.take());
        match result {
            Ok(()) => {
                if let Some((external_port, _)) = stale {
                    self.emit(Event::Removed {
                        port: spec,
                        external_port,
                    });
                }
            }
            Err(e) if is_gone(&e) => {
                port.stale = stale;
                self.unreachable(Some(slot), e, now);
            }
            // Not there, or not ours any more: nothing of ours to remove.
            Err(_) => {}
        }
    }

    fn found(&mut self, found: Result<Gateway, Error>, now: Instant) {
        match found {
            Ok(gateway) => {
                event!(gateway = %upnp_desc::text::shown(&gateway.name, 128), "keeper: gateway found");
                self.gateway_failures = 0;
                self.gateway_due = None;
                if let Some(ip) = gateway.external_ip {
                    self.external_ip_is(ip);
                }
                let our_addr = gateway.our_addr;
                let pinhole_addr = gateway.pinhole_addr;
                if self.last_method.is_some_and(|m| m != gateway.method) {
                    // Another way to map: what the last one held is not there (or not
                    // renewed by this one): map it again this way.
                    self.all_lost(LostReason::Gone);
                }
                self.last_method = Some(gateway.method);
                self.gateway = Some(gateway);
                if self.keep.pinholes {
                    self.pinhole_address_is(pinhole_addr);
                    if pinhole_addr.is_none() {
                        self.emit(Event::Failed {
                            port: None,
                            error: Error::NoPinholeService,
                            retry_in: Duration::ZERO,
                        });
                    }
                }
                // Mappings made from another address of ours are lost (see `address_moved`).
                self.address_moved(our_addr);
                // A gateway found again (it may have rebooted): look at every mapping now,
                // renew every pinhole.
                for port in &mut self.ports {
                    port.due = None;
                    if let Some(pinhole) = &mut port.pinhole {
                        pinhole.renew_at = pinhole.renew_at.min(now);
                    }
                }
                self.next_check = Some(later(now, self.interval()));
            }
            Err(error) => {
                let retry_in = self.backoff(self.gateway_failures);
                self.gateway_failures = self.gateway_failures.saturating_add(1);
                self.gateway_due = Some(later(now, retry_in));
                self.emit(Event::Failed {
                    port: None,
                    error,
                    retry_in,
                });
            }
        }
    }

    fn local_address(&mut self, addr: Option<IpAddr>, now: Instant) {
        self.round = Round::External;
        let Some(addr) = addr else {
            // No route to the gateway any more: find one again.
            self.round = Round::Idle;
            self.lose_gateway(now);
            return;
        };
        self.address_moved(addr);
        // Look at every mapping after the address, and renew every pinhole (how a pinhole is
        // checked).
        for port in &mut self.ports {
            if port.held.is_some() {
                port.due = None;
            }
            if let Some(pinhole) = &mut port.pinhole {
                pinhole.renew_at = pinhole.renew_at.min(now);
            }
        }
        self.next_check = Some(later(now, self.interval()));
    }

    /// Our address is now `new`: mappings to the old one are lost; remove them, map again.
    fn address_moved(&mut self, new: IpAddr) {
        if let Some(gateway) = &mut self.gateway {
            gateway.our_addr = new;
        }
        let mut lost = Vec::new();
        for port in &mut self.ports {
            if let Some(held) = port.held.take() {
                if held.internal_client != new {
                    port.stale = Some((held.external_port, held.internal_client));
                    lost.push((port.spec, held.external_port, held.internal_client));
                    port.next_port = held.external_port;
                    port.renew_at = None;
                    port.due = None;
                } else {
                    port.held = Some(held);
                }
            }
        }
        for (spec, external_port, old) in lost {
            self.emit(Event::Lost {
                port: spec,
                external_port,
                reason: LostReason::LocalAddressChanged { old, new },
            });
        }
    }

    fn external_ip_is(&mut self, ip: IpAddr) {
        if self.external_ip != Some(ip) {
            let old = self.external_ip.replace(ip);
            for port in &mut self.ports {
                if let Some(held) = &mut port.held {
                    held.external_ip = Some(ip);
                }
            }
            if old.is_some() {
                self.emit(Event::ExternalIpChanged { old, new: ip });
            }
        }
    }

    /// Find the gateway again, after a backoff. The mappings held keep the address they
    /// point at, so that a gateway found from another address of ours moves them.
    fn lose_gateway(&mut self, now: Instant) {
        self.gateway_due = Some(later(now, self.backoff(self.gateway_failures)));
        self.gateway_failures = self.gateway_failures.saturating_add(1);
        self.gateway = None;
        self.round = Round::Idle;
    }

    /// The gateway did not answer (or its answer could not be read at the HTTP level): find it
    /// again, backing off.
    fn unreachable(&mut self, slot: Option<Slot>, error: Error, now: Instant) {
        let retry_in = self.backoff(self.gateway_failures);
        self.lose_gateway(now);
        let port = slot.and_then(|s| self.ports.get(s)).map(|p| p.spec);
        self.emit(Event::Failed {
            port,
            error,
            retry_in,
        });
    }

    fn mapped(&mut self, task: MapTask, result: Result<Grant, Error>, now: Instant) {
        let slot = task.slot;
        let external_ip = self.external_ip;
        let method = self.gateway.as_ref().map_or(Method::Upnp, |g| g.method);
        let gateway_status = self.gateway.as_ref().and_then(|g| g.status);
        let renew_policy = |lease: Duration| (!lease.is_zero()).then(|| later(now, lease / 2));
        let check = self.interval();
        let Some(port) = self.ports.get_mut(slot) else {
            return;
        };
        match result {
            Ok(grant) => {
                // A port the add may have mapped earlier is ours either way now, or not.
                port.maybe.retain(|(p, _)| *p != grant.external_port);
                let previous = port.held.take();
                let held = Held {
                    port: port.spec,
                    external_port: grant.external_port,
                    external_ip,
                    internal_client: task.internal_client,
                    lease: grant.lease,
                    confirmed: grant.confirmed,
                    method,
                    gateway_status,
                };
                port.held = Some(held.clone());
                port.failures = 0;
                port.conflicts = 0;
                port.any_port = false;
                port.next_port = grant.external_port;
                port.renew_at = renew_policy(grant.lease);
                port.due = Some(later(now, check));
                let event = match previous {
                    Some(old) if old.external_port == grant.external_port => Event::Renewed(held),
                    _ if port.ever => Event::Remapped(held),
                    _ => Event::Mapped(held),
                };
                port.ever = true;
                self.emit(event);
            }
            Err(error) => {
                let was_held = port.held.take();
                if let Some(held) = &was_held {
                    // A renewal refused: the mapping may still be there until its lease ends;
                    // it is ours to remove at stop.
                    remember(&mut port.maybe, (held.external_port, held.internal_client));
                }
                if is_gone(&error) {
                    // A timed-out add may have created the mapping.
                    remember(&mut port.maybe, (task.external_port, task.internal_client));
                    port.held = was_held;
                    self.unreachable(Some(slot), error, now);
                    return;
                }
                if let Some(held) = was_held {
                    let spec = port.spec;
                    self.emit(Event::Lost {
                        port: spec,
                        external_port: held.external_port,
                        reason: taken_reason(&error),
                    });
                }
                let Some(port) = self.ports.get_mut(slot) else {
                    return;
                };
                if port_refused(&error) && !self.keep.exact {
                    if task.any_port {
                        // The gateway could not choose either: try ports ourselves.
                        port.any_port = false;
                        if let Some(gateway) = &mut self.gateway {
                            gateway.any_port = false;
                        }
                    }
                    if port.conflicts < self.keep.port_attempts {
                        port.conflicts = port.conflicts.saturating_add(1);
                        // Letting the gateway pick is safe only against another client:
                        // miniupnpd's AddAnyPortMapping replaces a mapping to our own
                        // address (another program of this host) instead of moving on.
                        let own_host = matches!(&error, Error::MappingTaken { internal_client, .. }
                            if internal_client.trim().parse() == Ok(task.internal_client));
                        let can_pick =
                            self.gateway.as_ref().is_some_and(|g| g.any_port) && !own_host;
                        if can_pick && !task.any_port && port.conflicts == 1 {
                            port.any_port = true;
                            port.next_port = port.spec.external_port;
                        } else {
                            port.next_port = nth_port(port.spec.external_port, port.conflicts);
                        }
                        port.due = None;
                        event!(
                            next = port.next_port,
                            "keeper: conflict, trying another port"
                        );
                        return;
                    }
                }
                let failures = port.failures;
                let retry_in = self.backoff(failures);
                let Some(port) = self.ports.get_mut(slot) else {
                    return;
                };
                port.failures = failures.saturating_add(1);
                port.conflicts = 0;
                port.next_port = port.spec.external_port;
                port.due = Some(later(now, retry_in));
                port.renew_at = None;
                let spec = port.spec;
                self.emit(Event::Failed {
                    port: Some(spec),
                    error,
                    retry_in,
                });
            }
        }
    }

    fn looked(&mut self, slot: Slot, result: Result<Option<Seen>, Error>, now: Instant) {
        let check = self.interval();
        // Gone soon after the gateway said it restarted: because it did.
        let gone = match self.restart_heard {
            Some(at) if now.saturating_duration_since(at) < self.keep.check.max(RESTART_HEARD) => {
                LostReason::Restarted
            }
            _ => LostReason::Gone,
        };
        let Some(port) = self.ports.get_mut(slot) else {
            return;
        };
        let Some(held) = port.held.clone() else {
            return;
        };
        let reason = match result {
            Ok(Some(seen))
                if seen.internal_client == Some(held.internal_client)
                    && seen.internal_port == port.spec.internal_port =>
            {
                port.due = Some(later(now, check));
                return;
            }
            Ok(Some(seen)) => LostReason::TakenBy {
                internal_client: seen.internal_client,
                internal_port: seen.internal_port,
            },
            Ok(None) => gone,
            Err(error) if error.is_absent() => gone,
            Err(e) if is_gone(&e) => {
                self.unreachable(Some(slot), e, now);
                return;
            }
            // A lookup the gateway refuses or garbles: renew instead, which re-adds it.
            Err(_) => {
                port.renew_at = Some(now);
                port.due = Some(later(now, check));
                return;
            }
        };
        port.held = None;
        port.renew_at = None;
        port.next_port = held.external_port;
        port.due = None;
        let spec = port.spec;
        self.emit(Event::Lost {
            port: spec,
            external_port: held.external_port,
            reason,
        });
    }
}

/// The gateway in use does not serve us any more: no answer reached us, or what answered
/// says there is no gateway there (nothing listens on PCP's port, the service is gone):
/// find one again.
fn is_gone(error: &Error) -> bool {
    matches!(error.kind(), ErrorKind::Unreachable | ErrorKind::NoGateway)
}

fn taken_reason(error: &Error) -> LostReason {
    match error {
        Error::MappingTaken {
            internal_client,
            internal_port,
        } => LostReason::TakenBy {
            internal_client: internal_client.trim().parse().ok(),
            internal_port: *internal_port,
        },
        _ => LostReason::Gone,
    }
}

/// The gateway will not give this external port, though another may do: a conflict (718,
/// 724, 729, another client's mapping), or 606 where a line allows only some ports (MAP-E,
/// miniupnpd's port ranges). Another port is tried (the gateway's own choice first, on
/// IGDv2).
fn port_refused(error: &Error) -> bool {
    error.is_conflict()
        || error
            .fault()
            .is_some_and(|f| f.code() == Some(upnp_soap::ErrorCode::ActionNotAuthorized))
}

/// The `n`th other port after `base` (1024-65535, wrapping past the end).
fn nth_port(base: u16, n: u16) -> u16 {
    let span = u32::from(u16::MAX) - 1024 + 1;
    let base = u32::from(base.max(1024)) - 1024;
    let port = (base + u32::from(n)) % span + 1024;
    u16::try_from(port).unwrap_or(1024)
}

fn remember(list: &mut Vec<(u16, IpAddr)>, entry: (u16, IpAddr)) {
    if !list.contains(&entry) && list.len() < MAX_MAYBE {
        list.push(entry);
    }
}

/// The lease granted, from what the gateway showed back: a router shows the lease *left*,
/// counting from the add, so a read-back up to the time the add took (plus a second for the
/// router's rounding) below the lease asked means the lease asked was granted. A shorter one
/// is the gateway's own cap, reported as shown.
fn counted_down(mut grant: Grant, asked: Duration, took: Duration) -> Grant {
    let slack = took.saturating_add(Duration::from_secs(1));
    if grant.confirmed
        && !asked.is_zero()
        && !grant.lease.is_zero()
        && grant.lease < asked
        && asked.saturating_sub(grant.lease) <= slack
    {
        grant.lease = asked;
    }
    grant
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}
