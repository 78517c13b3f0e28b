//! The keeper over PCP and NAT-PMP: each `Task` of the `Keeper` as requests to the
//! gateway's UDP port 5351, still without I/O. The drivers run `PmpKeeper`: open a client
//! (a UDP socket towards the gateway), send what it gives, wait.
//!
//! | task | requests |
//! | --- | --- |
//! | find a gateway | open a client to the gateway (the default gateway unless named), probe it (`PmpProbe`: PCP, else NAT-PMP), ask its external address |
//! | our local address | open the client again: the address the route to the gateway leaves from now |
//! | map | `PmpAdd` with this port's nonce: the gateway may grant another external port unless [`Keep::exact`] |
//! | look | PCP and NAT-PMP have no lookup: the same MAP again (a renewal); another port granted means the mapping was gone |
//! | external address | `PmpExternal` |
//! | unmap | `PmpDelete` with this port's nonce |
//!
//! **The epoch.** Every answer carries the gateway's epoch (seconds since it started or lost
//! its mappings). Each one is checked by the RFC's rule ([`pcp_natpmp::Epoch`]); when it went back,
//! the gateway restarted and forgot us: every mapping is [`Event::Lost`](crate::keeper::Event::Lost)
//! and made again at once (`Keeper::gateway_restarted`), without waiting for the next
//! check. An announcement the gateway multicasts when it restarts or its address changes
//! (`PmpKeeper::announced`) is checked the same way, and starts a check round.
//!
//! **Nonces.** PCP renews and removes a mapping only for the nonce that made it. Each port
//! gets its own, derived from a random seed the driver gives (`PmpKeeper::new`), and keeps
//! it for the keeper's life.
//!
//! **IPv6.** Opened towards an IPv6 gateway ([`Target::DefaultV6`] or an IPv6 address), the
//! keeper speaks PCP from our global address and every mapping it holds is a pinhole to that
//! address ([`Event::Mapped`](crate::keeper::Event::Mapped) names it as the external address). [`Keep::pinholes`] asks for
//! UPnP's firewall service, which these gateways do not have:
//! [`Error::NoPinholeService`].
//!
//! **Leases.** [`Keep::lease`] is asked as the lifetime; a permanent lease (zero), which
//! these protocols do not have (a lifetime of zero removes), is asked as
//! [`LONGEST_LIFETIME`] and renewed like any other. The gateway may grant another lifetime
//! (miniupnpd grants at least 120 s); the keeper renews at half of what it granted.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use pcp_natpmp::{Announcement, Epoch, EpochCheck, EpochRule, Nonce, Request, Response};

use super::{Gateway, Grant, Keep, Keeper, Outcome, Seen, Slot, Status, Step, Task};
use crate::error::Error;
use crate::limits::{Limits, later};
use crate::pmp::{
    LONGEST_LIFETIME, Method, PmpAdd, PmpDelete, PmpExternal, PmpGranted, PmpMapping, PmpNext,
    PmpProbe, PmpSequence, Session, Target, Way,
};
use upnp_soap::actions::Protocol;

#[cfg(test)]
mod tests;

/// The next thing a driver does for a [`PmpKeeper`].
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PmpStep {
    /// Open a client towards the gateway this names, speaking [`PmpKeeper::way`]: a UDP
    /// socket connected to its port 5351, replacing the one before. Feed the socket's local
    /// address and the gateway's (or why it failed) to [`PmpKeeper::opened`].
    Open(Target),
    /// Send `request` through the open client (a [`pcp_natpmp::Exchange`], retransmitting on its
    /// schedule) until `deadline`; feed the outcome to [`PmpKeeper::answered`].
    Send {
        /// The request.
        request: Request,
        /// When this task's time is up (all its exchanges together).
        deadline: Instant,
    },
    /// Find a way to map, PCP/NAT-PMP or another (a keeper made with `auto`): a client
    /// opened goes to [`PmpKeeper::opened`]; another way, to a keeper of that way.
    FindWay,
    /// Nothing to do until then, unless stopped or an announcement arrives.
    Wait(Instant),
    /// Stopped.
    Done,
}

/// A [`Keeper`] whose way to map is PCP or NAT-PMP.
#[derive(Debug)]
pub(crate) struct PmpKeeper {
    keeper: Keeper,
    /// The way asked for; after a probe, the session's way is the one the gateway speaks.
    way: Way,
    /// The gateway the caller named, or which default one.
    target: Target,
    limits: Limits,
    seed: Nonce,
    /// The open client: the way spoken and our address and port.
    session: Option<Session>,
    /// The gateway the client is open to.
    gateway: Option<SocketAddr>,
    epoch: Epoch,
    running: Option<Running>,
    /// A client the caller opened (and probed) already: the first open is skipped.
    seed_client: Option<(Session, SocketAddr)>,
    /// Counts PCP's address probes, each with its own nonce.
    probes: u32,
    /// When an announcement was last acted on.
    heard: Option<Instant>,
    /// Finding a gateway finds a way to map (UPnP, PCP or NAT-PMP: [`PmpStep::FindWay`]).
    auto: bool,
}

#[cfg(any(feature = "blocking", feature = "tokio"))]
/// What a driver answers a [`PmpStep::Send`] with when it has no client open (the keeper
/// asks to open one first, so only a driver's own slip gives this).
pub(crate) fn no_client() -> pcp_natpmp::Error {
    pcp_natpmp::Error::NoGateway("no client open".into())
}

/// Announcements acted on, at most one per this: what the network sends never makes more
/// work than this (a forged flood of them included).
pub(crate) const HEARD_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Debug)]
struct Running {
    deadline: Instant,
    calls: Calls,
    /// The request to send next, until the driver takes it.
    request: Option<Request>,
}

/// A task as the sequence that carries it out.
#[derive(Debug)]
enum Calls {
    /// Finding: waiting for the client to open.
    Opening,
    /// Our local address: waiting for the client to open again.
    Reopening,
    /// Finding: which version the gateway speaks.
    Probe(PmpProbe),
    /// Finding: its external address.
    FindAddress(PmpExternal),
    External(PmpExternal),
    Add(Slot, Box<PmpAdd>),
    /// A lookup as a renewal of the mapping at this external port, for this client.
    Look(Slot, u16, IpAddr, Box<PmpAdd>),
    Unmap(Slot, PmpDelete),
}

impl PmpKeeper {
    /// Keep `keep` open through `way`, at the gateway `target` names (over IPv6: pinholes
    /// to our global address, see [`Target`]), each task within [`Limits::call`]. `seed`
    /// makes each port's PCP nonce: give [`Nonce::random`] (a predictable seed lets another
    /// host on the LAN that guesses it remove our mappings).
    pub(crate) fn new(
        keep: Keep,
        way: Way,
        target: Target,
        limits: &Limits,
        seed: Nonce,
    ) -> PmpKeeper {
        PmpKeeper {
            keeper: Keeper::new(keep),
            way,
            target,
            limits: limits.clone(),
            seed,
            session: None,
            gateway: None,
            epoch: Epoch::new(EpochRule::Pcp),
            running: None,
            seed_client: None,
            probes: 0,
            heard: None,
            auto: false,
        }
    }

    /// [`PmpKeeper::new`] once [`Keep::validate`] passes.
    pub(crate) fn validated(
        keep: Keep,
        way: Way,
        target: Target,
        limits: &Limits,
        seed: Nonce,
    ) -> Result<PmpKeeper, Error> {
        keep.validate()?;
        Ok(PmpKeeper::new(keep, way, target, limits, seed))
    }

    /// A keeper of `keep` (once [`Keep::validate`] passes) through a client the caller
    /// opened and probed already: its `session`, towards `gateway`.
    #[cfg(any(feature = "blocking", feature = "tokio"))]
    pub(crate) fn of_client(
        keep: Keep,
        session: Session,
        gateway: SocketAddr,
        limits: &Limits,
        seed: Nonce,
    ) -> Result<PmpKeeper, Error> {
        keep.validate()?;
        Ok(
            PmpKeeper::new(keep, session.way(), Target::At(gateway), limits, seed)
                .with_client(session, gateway),
        )
    }

    /// A keeper over PCP/NAT-PMP of the policy `keeper` (taken from another way's keeper),
    /// in the middle of finding a gateway: [`PmpKeeper::opened`] is what it waits for.
    pub(crate) fn of_keeper(
        keeper: Keeper,
        way: Way,
        target: Target,
        limits: &Limits,
        seed: Nonce,
        now: Instant,
    ) -> PmpKeeper {
        let mut pmp = PmpKeeper::new(Keep::new(), way, target, limits, seed);
        pmp.keeper = keeper;
        pmp.running = Some(Running {
            deadline: later(now, limits.call),
            calls: Calls::Opening,
            request: None,
        });
        pmp
    }

    /// Its policy, to hand to another way.
    pub(crate) fn into_keeper(self) -> Keeper {
        self.keeper
    }

    /// The policy.
    pub(crate) fn keeper_mut(&mut self) -> &mut Keeper {
        &mut self.keeper
    }

    /// Finding a gateway finds a way to map ([`PmpStep::FindWay`]), PCP/NAT-PMP or not.
    pub(crate) fn auto(mut self, auto: bool) -> PmpKeeper {
        self.auto = auto;
        self
    }

    /// Start from a client the caller opened already (its session and the gateway's
    /// address): the first open is skipped; the keeper still probes it and asks its address.
    #[cfg(any(feature = "blocking", feature = "tokio"))]
    pub(crate) fn with_client(mut self, session: Session, gateway: SocketAddr) -> PmpKeeper {
        self.target = Target::At(gateway);
        self.seed_client = Some((session, gateway));
        self
    }

    /// Its limits.
    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The keeper's state now.
    pub(crate) fn status(&self) -> Status {
        self.keeper.status()
    }

    #[cfg(test)]
    /// The next event, oldest first.
    pub(crate) fn next_event(&mut self) -> Option<super::Event> {
        self.keeper.next_event()
    }

    /// The gateway the client is open to, if any: whose announcements to believe.
    pub(crate) fn gateway(&self) -> Option<SocketAddr> {
        self.gateway
    }

    /// The way asked for: what a client is opened to speak.
    pub(crate) fn way(&self) -> Way {
        self.way
    }

    /// The way spoken now (after a probe, the one the gateway answered in).
    pub(crate) fn method(&self) -> Method {
        match &self.session {
            Some(session) => session.method(),
            None => Session::new(self.way, SocketAddr::from(([0, 0, 0, 0], 0))).method(),
        }
    }

    #[cfg(test)]
    /// Stop: remove what was mapped (see [`Keeper::stop`]).
    pub(crate) fn stop(&mut self, now: Instant) {
        self.keeper.stop(now);
    }

    /// The next step, in the keeper's own vocabulary (what [`super::KeepMachine`] turns into
    /// I/O).
    pub(crate) fn step(&mut self, now: Instant) -> PmpStep {
        loop {
            if let Some(running) = &mut self.running {
                return match (&running.calls, running.request.take()) {
                    // Finding: the gateway named, else the default gateway now.
                    (Calls::Opening, _) if self.auto => PmpStep::FindWay,
                    (Calls::Opening, _) => PmpStep::Open(self.target),
                    (Calls::Reopening, _) => {
                        PmpStep::Open(self.gateway.map_or(self.target, Target::At))
                    }
                    (_, Some(request)) => PmpStep::Send {
                        request,
                        deadline: running.deadline,
                    },
                    // The request is out: the driver feeds its answer first.
                    (_, None) => PmpStep::Wait(running.deadline),
                };
            }
            let task = match self.keeper.poll(now) {
                Step::Done => return PmpStep::Done,
                Step::Wait(at) => return PmpStep::Wait(at),
                Step::Run(task) => task,
            };
            if let Err(outcome) = self.begin(task, now) {
                // A task that cannot start: its outcome is known at once.
                self.keeper.handle(outcome, now);
            }
        }
    }

    fn begin(&mut self, task: Task, now: Instant) -> Result<(), Outcome> {
        let mut deadline = later(now, self.limits.call);
        if let Some(stop) = self.keeper.stop_deadline() {
            deadline = deadline.min(stop);
        }
        let calls = match task {
            Task::FindGateway => {
                if let Some((session, gateway)) = self.seed_client.take() {
                    self.running = Some(Running {
                        deadline,
                        calls: Calls::Opening,
                        request: None,
                    });
                    self.opened(Ok((session.local(), gateway)), now);
                    return Ok(());
                }
                Calls::Opening
            }
            Task::LocalAddress => Calls::Reopening,
            _ => {
                let Some(session) = self.session else {
                    return Err(task.failed(Error::NoDevices));
                };
                self.calls(task, &session)?
            }
        };
        let mut running = Running {
            deadline,
            calls,
            request: None,
        };
        if let Calls::Opening | Calls::Reopening = running.calls {
            // The driver opens the client first (`poll` says so).
            self.running = Some(running);
            return Ok(());
        }
        let step = running.start();
        self.advance(running, step, now);
        Ok(())
    }

    fn calls(&mut self, task: Task, session: &Session) -> Result<Calls, Outcome> {
        Ok(match task {
            Task::FindGateway | Task::LocalAddress => return Err(task.failed(Error::NoDevices)),
            // The pinholes beside mappings are UPnP's firewall service. Here a PCP keeper of
            // an IPv6 gateway ([`Target`]) holds pinholes as its mappings instead.
            Task::OpenPinhole { .. } | Task::RenewPinhole { .. } | Task::ClosePinhole { .. } => {
                return Err(task.failed(Error::NoPinholeService));
            }
            Task::ExternalIp => Calls::External(session.external(self.probe_nonce())),
            Task::Map(map) => {
                let mapping = self
                    .mapping(map.slot, map.protocol, map.internal_port)
                    .external_port(map.external_port)
                    .lifetime(lifetime(&self.keeper.keep().lease))
                    .exact(self.keeper.keep().exact);
                Calls::Add(
                    map.slot,
                    Box::new(session.add_for(map.internal_client, mapping)),
                )
            }
            Task::Look {
                slot,
                protocol,
                external_port,
            } => {
                let internal_port = self
                    .keeper
                    .keep()
                    .ports
                    .get(slot)
                    .map_or(external_port, |p| p.internal_port);
                let mapping = self
                    .mapping(slot, protocol, internal_port)
                    .external_port(external_port)
                    .lifetime(lifetime(&self.keeper.keep().lease));
                let client = session.local().ip();
                Calls::Look(slot, external_port, client, Box::new(session.add(mapping)))
            }
            Task::Unmap {
                slot,
                protocol,
                external_port,
                internal_client,
                internal_port,
            } => {
                let mapping = self
                    .mapping(slot, protocol, internal_port)
                    .external_port(external_port)
                    .lifetime(0);
                Calls::Unmap(slot, session.delete_for(internal_client, mapping))
            }
        })
    }

    /// The mapping of `slot`, with its own nonce.
    fn mapping(&self, slot: Slot, protocol: Protocol, internal_port: u16) -> PmpMapping {
        PmpMapping::new(protocol, internal_port, 0, self.nonce_of(slot))
    }

    /// Slot `slot`'s nonce: the seed mixed with the slot.
    fn nonce_of(&self, slot: Slot) -> Nonce {
        mix(self.seed, u64::try_from(slot).unwrap_or(u64::MAX))
    }

    /// A fresh nonce for an address probe (never one of a port's).
    fn probe_nonce(&mut self) -> Nonce {
        self.probes = self.probes.wrapping_add(1);
        mix(self.seed, (1 << 63) | u64::from(self.probes))
    }

    /// Keep the request to send, or hand the task's outcome to the keeper.
    fn advance(&mut self, mut running: Running, step: PmpNext<Outcome>, now: Instant) {
        match step {
            PmpNext::Send(request) => {
                running.request = Some(request);
                self.running = Some(running);
            }
            PmpNext::Done(Ok(outcome)) => self.keeper.handle(outcome, now),
            PmpNext::Done(Err(e)) => self.keeper.handle(running.calls.failed(e), now),
        }
    }

    /// Feed what opening the client gave: our address and port, and the gateway's (or why
    /// it could not be opened: no default gateway, no route).
    pub(crate) fn opened(&mut self, opened: Result<(SocketAddr, SocketAddr), Error>, now: Instant) {
        let Some(running) = self.running.take() else {
            return;
        };
        match running.calls {
            Calls::Opening => match opened {
                Ok((local, gateway)) => {
                    if self.gateway.is_some_and(|g| g.ip() != gateway.ip()) {
                        // Another gateway: its epoch is not comparable with the last one's.
                        self.epoch.reset();
                    }
                    let session = Session::new(self.way, local);
                    self.session = Some(session);
                    self.gateway = Some(gateway);
                    let mut running = Running {
                        deadline: running.deadline,
                        calls: Calls::Probe(session.probe()),
                        request: None,
                    };
                    let step = running.start();
                    self.advance(running, step, now);
                }
                Err(e) => self.keeper.handle(Outcome::Gateway(Err(e)), now),
            },
            Calls::Reopening => {
                let addr = match opened {
                    Ok((local, _)) => {
                        if let Some(session) = &mut self.session {
                            session.moved(local);
                        }
                        Some(local.ip())
                    }
                    Err(_) => None,
                };
                self.keeper.handle(Outcome::LocalAddress(addr), now);
            }
            // Not waiting for a client: the outcome of nothing asked.
            calls => {
                self.running = Some(Running { calls, ..running });
            }
        }
    }

    /// Feed the outcome of the last request. Every answer's epoch is checked first.
    pub(crate) fn answered(&mut self, outcome: Result<Response, pcp_natpmp::Error>, now: Instant) {
        let Some(mut running) = self.running.take() else {
            return;
        };
        if let Ok(response) = &outcome {
            self.epoch_of(response, now);
        }
        let nonce = self.probe_nonce();
        let step = match running.handle(outcome, self.session.as_mut(), nonce) {
            // Found: named after the way it speaks and where it is.
            PmpNext::Done(Ok(Outcome::Gateway(Ok(gateway)))) => {
                PmpNext::Done(Ok(Outcome::Gateway(Ok(self.name(gateway)))))
            }
            other => other,
        };
        self.advance(running, step, now);
    }

    /// Feed an announcement heard from the gateway (224.0.0.1:5350): checked like an
    /// answer's epoch; a restart remaps everything, anything else starts a check round
    /// (the external address may have changed). At most one per [`HEARD_EVERY`] is acted
    /// on; the others are dropped (the next check finds what they would have told).
    pub(crate) fn announced(&mut self, announcement: Announcement, now: Instant) {
        if self
            .heard
            .is_some_and(|at| now.saturating_duration_since(at) < HEARD_EVERY)
        {
            return;
        }
        self.heard = Some(now);
        if self.check_epoch(announcement.rule(), announcement.epoch(), now) != EpochCheck::Reset {
            self.keeper.check_now(now);
        }
    }

    fn epoch_of(&mut self, response: &Response, now: Instant) {
        if response.is_unsupported_version() {
            // "Speak NAT-PMP": its epoch is that of another exchange.
            return;
        }
        let rule = match response {
            Response::NatPmp(_) => EpochRule::NatPmp,
            Response::Pcp(_) => EpochRule::Pcp,
        };
        self.check_epoch(rule, response.epoch(), now);
    }

    fn check_epoch(&mut self, rule: EpochRule, count: u32, now: Instant) -> EpochCheck {
        if self.epoch.rule() != rule {
            self.epoch = Epoch::new(rule);
        }
        let check = self.epoch.check(count, now);
        if check == EpochCheck::Reset {
            event!(
                epoch = count,
                "keeper: the gateway's epoch went back: it restarted"
            );
            self.keeper.gateway_restarted();
        }
        check
    }

    fn name(&self, gateway: Gateway) -> Gateway {
        let name = match self.gateway {
            Some(addr) => format!("{} {addr}", self.method()),
            None => self.method().to_string(),
        };
        gateway.name(name).method(self.method())
    }
}

/// What a permanent lease is asked as, and the lease in seconds otherwise (capped).
fn lifetime(lease: &std::time::Duration) -> u32 {
    match lease.as_secs() {
        0 => LONGEST_LIFETIME,
        s => u32::try_from(s).unwrap_or(u32::MAX),
    }
}

/// `seed` with `n` mixed in (not cryptographic: the seed's randomness is the secret).
fn mix(seed: Nonce, n: u64) -> Nonce {
    let mut bytes = seed.0;
    for (i, b) in n.to_be_bytes().iter().enumerate() {
        if let Some(x) = bytes.get_mut(i + 4) {
            *x ^= b;
        }
    }
    Nonce(bytes)
}

impl Calls {
    /// The outcome of this task when it fails with `error`.
    fn failed(&self, error: Error) -> Outcome {
        match self {
            Calls::Opening | Calls::Probe(_) | Calls::FindAddress(_) => {
                Outcome::Gateway(Err(error))
            }
            Calls::Reopening => Outcome::LocalAddress(None),
            Calls::External(_) => Outcome::ExternalIp(Err(error)),
            Calls::Add(slot, _) => Outcome::Mapped(*slot, Err(error)),
            Calls::Look(slot, ..) => Outcome::Looked(*slot, Err(error)),
            Calls::Unmap(slot, _) => Outcome::Unmapped(*slot, Err(error)),
        }
    }
}

impl Running {
    fn start(&mut self) -> PmpNext<Outcome> {
        match &mut self.calls {
            Calls::Opening | Calls::Reopening => PmpNext::Done(Err(Error::InvalidParam(
                "a client to open is not a request to send",
            ))),
            Calls::Probe(probe) => wrap(probe.start()),
            Calls::FindAddress(external) | Calls::External(external) => wrap(external.start()),
            Calls::Add(_, add) | Calls::Look(_, _, _, add) => wrap(add.start()),
            Calls::Unmap(_, delete) => wrap(delete.start()),
        }
    }

    /// Feed an answer; the task's end as an [`Outcome`] (finding goes on from the probe to
    /// the address here).
    fn handle(
        &mut self,
        outcome: Result<Response, pcp_natpmp::Error>,
        session: Option<&mut Session>,
        nonce: Nonce,
    ) -> PmpNext<Outcome> {
        match &mut self.calls {
            Calls::Opening | Calls::Reopening => {
                PmpNext::Done(Err(Error::InvalidResponse("an answer to nothing asked")))
            }
            Calls::Probe(probe) => match probe.handle(outcome) {
                PmpNext::Send(request) => PmpNext::Send(request),
                PmpNext::Done(Err(e)) => PmpNext::Done(Err(e)),
                PmpNext::Done(Ok(method)) => {
                    let Some(session) = session else {
                        return PmpNext::Done(Err(Error::NoDevices));
                    };
                    session.probed(method);
                    let mut external = session.external(nonce);
                    let first = external.start();
                    self.calls = Calls::FindAddress(external);
                    let local = session.local().ip();
                    match first {
                        PmpNext::Send(request) => PmpNext::Send(request),
                        PmpNext::Done(result) => {
                            PmpNext::Done(result.map(|a| gateway_found(Some(a.address), local)))
                        }
                    }
                }
            },
            Calls::FindAddress(external) => {
                let local = session.map(|s| s.local().ip());
                match (external.handle(outcome), local) {
                    (PmpNext::Send(request), _) => PmpNext::Send(request),
                    (PmpNext::Done(result), Some(local)) => {
                        PmpNext::Done(result.map(|a| gateway_found(Some(a.address), local)))
                    }
                    (PmpNext::Done(_), None) => PmpNext::Done(Err(Error::NoDevices)),
                }
            }
            Calls::External(external) => lift(external.handle(outcome), |a| {
                Outcome::ExternalIp(Ok(a.address))
            }),
            Calls::Add(slot, add) => {
                let slot = *slot;
                lift(add.handle(outcome), |g| {
                    Outcome::Mapped(slot, Ok(grant(&g)))
                })
            }
            Calls::Look(slot, external_port, client, add) => {
                let (slot, port, client) = (*slot, *external_port, *client);
                match add.handle(outcome) {
                    PmpNext::Send(request) => PmpNext::Send(request),
                    PmpNext::Done(result) => {
                        PmpNext::Done(Ok(Outcome::Looked(slot, looked(result, port, client))))
                    }
                }
            }
            Calls::Unmap(slot, delete) => {
                let slot = *slot;
                lift(delete.handle(outcome), |_| Outcome::Unmapped(slot, Ok(())))
            }
        }
    }
}

fn gateway_found(external_ip: Option<IpAddr>, local: IpAddr) -> Outcome {
    Outcome::Gateway(Ok(Gateway::new(external_ip, local)))
}

fn wrap<T>(next: PmpNext<T>) -> PmpNext<Outcome> {
    match next {
        PmpNext::Send(request) => PmpNext::Send(request),
        PmpNext::Done(Err(e)) => PmpNext::Done(Err(e)),
        PmpNext::Done(Ok(_)) => PmpNext::Done(Err(Error::InvalidResponse(
            "a conversation over before its first request",
        ))),
    }
}

fn lift<T>(next: PmpNext<T>, done: impl FnOnce(T) -> Outcome) -> PmpNext<Outcome> {
    match next {
        PmpNext::Send(request) => PmpNext::Send(request),
        PmpNext::Done(result) => PmpNext::Done(result.map(done)),
    }
}

fn grant(granted: &PmpGranted) -> Grant {
    Grant {
        external_port: granted.external_port,
        lease: std::time::Duration::from_secs(u64::from(granted.lifetime)),
        confirmed: true,
    }
}

/// A renewal as a lookup: the same external port granted means the mapping is there and
/// ours; another port means it was gone (the renewal made a new one, which the keeper's
/// next map, with the same nonce, takes over).
fn looked(
    result: Result<PmpGranted, Error>,
    port: u16,
    client: IpAddr,
) -> Result<Option<Seen>, Error> {
    let granted = result?;
    if granted.external_port != port {
        return Ok(None);
    }
    Ok(Some(Seen {
        // The gateway maps a request to the address it came from: ours.
        internal_client: Some(client),
        internal_port: granted.internal_port,
        lease: std::time::Duration::from_secs(u64::from(granted.lifetime)),
    }))
}
