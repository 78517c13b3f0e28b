//! The keeper over UPnP IGD: each `Task` of the `Keeper` as IGD actions, still without
//! I/O. The drivers run `UpnpKeeper`: find a gateway, tell our local address, make SOAP
//! calls, wait.
//!
//! | task | actions |
//! | --- | --- |
//! | find a gateway | discovery (or the description URL the caller gave), then the probe |
//! | map | `AddSequence`: look (never clobber), `AddPortMapping` with fallbacks, read back |
//! | map, any port (IGDv2, after a conflict) | `AddAnyPortMapping`, read back the port granted |
//! | look | `GetSpecificPortMappingEntry` |
//! | external address | `GetExternalIPAddress` |
//! | unmap | `DeleteSequence`: look (only ours), `DeletePortMapping` |

use std::net::IpAddr;
use std::time::{Duration, Instant};

use upnp_soap::actions::{
    Action, AddAnyPortMapping, DeletePortMapping, GetExternalIpAddress,
    GetSpecificPortMappingEntry, PortMapping,
};
use upnp_soap::firewall::{AddPinhole, DeletePinhole, UpdatePinhole};
use upnp_soap::{ActionRequest, ActionResponse, ErrorCode};
use url::Url;

use super::{Gateway, Grant, Keep, Keeper, MapTask, Outcome, Seen, Slot, Status, Step, Task};
use crate::device::{Device, require_usable};
use crate::discover::DiscoverOptions;
use crate::error::Error;
use crate::limits::{Limits, later};
use crate::mapping::{
    AddSequence, DeleteSequence, Granted, Mapping, Next, Sequence, Single, points_at,
};
use crate::pinhole::FirewallCall;

#[cfg(test)]
mod tests;

/// How the keeper finds its gateway (at the start, and again when it stops answering).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Find {
    /// Discover with these options (the driver's `find_gateway`: the first gateway with a
    /// public address, else the best one).
    Search(DiscoverOptions),
    /// Probe the device whose description is at this URL.
    Url(String),
}

impl Default for Find {
    /// Discover with Godot's defaults.
    fn default() -> Find {
        Find::Search(DiscoverOptions::default())
    }
}

/// The next thing a driver does for an [`UpnpKeeper`].
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum UpnpStep {
    /// Discover a gateway with these options; feed the best device found (or the error) to
    /// [`UpnpKeeper::found`].
    Search(DiscoverOptions),
    /// Probe the device at this description URL; feed it to [`UpnpKeeper::found`].
    Probe(String),
    /// Find a way to map, UPnP or another (a keeper made with `auto`): a UPnP gateway found
    /// goes to [`UpnpKeeper::found`]; another way, to a keeper of that way.
    FindWay,
    /// Find our own address on the route to this URL (the control URL); feed it to
    /// [`UpnpKeeper::routed`].
    Route(Url),
    /// POST `request` to `url`, giving up at `deadline`; feed the outcome to
    /// [`UpnpKeeper::answered`].
    Call {
        /// The control URL.
        url: Url,
        /// The action.
        request: ActionRequest,
        /// When this task's time is up (all its exchanges together).
        deadline: Instant,
    },
    /// Nothing to do until then, unless stopped.
    Wait(Instant),
    /// Stopped.
    Done,
}

/// A [`Keeper`] whose way to map is UPnP IGD.
#[derive(Debug)]
pub(crate) struct UpnpKeeper {
    keeper: Keeper,
    find: Find,
    limits: Limits,
    device: Option<Device>,
    /// A gateway the caller found already: the first search is skipped.
    seed: Option<Device>,
    /// Where the gateway said it moved (its notifications): probed first the next time it
    /// is looked for.
    moved_to: Option<String>,
    running: Option<Running>,
    /// Finding a gateway finds a way to map (UPnP, PCP or NAT-PMP: [`UpnpStep::FindWay`]).
    auto: bool,
    /// A keeper of the router in front of our gateway: the address its mappings point at
    /// (our gateway's external address, where its requests come from), whatever our route
    /// to it says.
    ours: Option<IpAddr>,
}

#[derive(Debug)]
struct Running {
    url: Url,
    deadline: Instant,
    calls: Calls,
    /// The call to make next, until the driver takes it.
    request: Option<ActionRequest>,
}

/// A task as the IGD actions that carry it out.
#[derive(Debug)]
enum Calls {
    External(Single<GetExternalIpAddress>),
    Add(Slot, Box<AddSequence>),
    AddAny(Slot, Box<AddAny>),
    Look(Slot, Single<GetSpecificPortMappingEntry>),
    Unmap(Slot, Box<DeleteSequence>),
    OpenPinhole(Slot, FirewallCall<AddPinhole>),
    RenewPinhole(Slot, FirewallCall<UpdatePinhole>),
    ClosePinhole(Slot, FirewallCall<DeletePinhole>),
}

impl UpnpKeeper {
    /// Keep `keep` open, finding the gateway as `find` says, within `limits` (each task
    /// within [`Limits::call`]).
    pub(crate) fn new(keep: Keep, find: Find, limits: &Limits) -> UpnpKeeper {
        UpnpKeeper {
            keeper: Keeper::new(keep),
            find,
            limits: limits.clone(),
            device: None,
            seed: None,
            moved_to: None,
            running: None,
            auto: false,
            ours: None,
        }
    }

    /// A keeper of the router in front of our gateway, whose mappings point at `ours`.
    pub(crate) fn in_front_of(mut self, ours: IpAddr) -> UpnpKeeper {
        self.ours = Some(ours);
        if let Some(seed) = &mut self.seed {
            seed.igd_our_addr = ours.to_string();
        }
        self
    }

    /// A keeper over UPnP of the policy `keeper` (taken from another way's keeper).
    pub(crate) fn of_keeper(keeper: Keeper, find: Find, limits: &Limits) -> UpnpKeeper {
        UpnpKeeper {
            keeper,
            ..UpnpKeeper::new(Keep::new(), find, limits)
        }
    }

    /// Its policy, to hand to another way.
    pub(crate) fn into_keeper(self) -> Keeper {
        self.keeper
    }

    /// The policy.
    pub(crate) fn keeper_mut(&mut self) -> &mut Keeper {
        &mut self.keeper
    }

    /// Finding a gateway finds a way to map ([`UpnpStep::FindWay`]), UPnP or not.
    pub(crate) fn auto(mut self, auto: bool) -> UpnpKeeper {
        self.auto = auto;
        self
    }

    /// Start from this gateway (one the caller discovered already) instead of searching;
    /// later searches, if it stops answering, are made as `find` says.
    pub(crate) fn with_gateway(mut self, device: Device) -> UpnpKeeper {
        self.seed = Some(device);
        self
    }

    /// The gateway said it is now at `location` (a description URL on its own address):
    /// it is looked for again at once, that description probed first (then as `find` says,
    /// should that fail).
    pub(crate) fn moved(&mut self, location: String, now: Instant) {
        self.moved_to = Some(location);
        self.keeper.gateway_moved(now);
    }

    /// Its limits.
    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The keeper's state now.
    pub(crate) fn status(&self) -> Status {
        self.keeper.status()
    }

    /// The gateway device in use, if any.
    pub(crate) fn device(&self) -> Option<&Device> {
        self.device.as_ref()
    }

    #[cfg(test)]
    /// Stop: remove what was mapped (see [`Keeper::stop`]).
    pub(crate) fn stop(&mut self, now: Instant) {
        self.keeper.stop(now);
    }

    /// The next step, in the keeper's own vocabulary (what [`super::KeepMachine`] turns into
    /// I/O).
    pub(crate) fn step(&mut self, now: Instant) -> UpnpStep {
        loop {
            if let Some(running) = &mut self.running {
                return match running.request.take() {
                    Some(request) => UpnpStep::Call {
                        url: running.url.clone(),
                        request,
                        deadline: running.deadline,
                    },
                    // The call is out: the driver feeds its answer first.
                    None => UpnpStep::Wait(running.deadline),
                };
            }
            let task = match self.keeper.poll(now) {
                Step::Done => return UpnpStep::Done,
                Step::Wait(at) => return UpnpStep::Wait(at),
                Step::Run(task) => task,
            };
            match self.begin(task, now) {
                Ok(Some(step)) => return step,
                // A call to make: given at the top of the loop.
                Ok(None) => {}
                // A task that cannot start (no usable control URL): its outcome is known
                // at once.
                Err(outcome) => self.keeper.handle(outcome, now),
            }
        }
    }

    fn begin(&mut self, task: Task, now: Instant) -> Result<Option<UpnpStep>, Outcome> {
        if let Task::FindGateway = task {
            self.device = None;
            if let Some(seed) = self.seed.take() {
                self.found(Ok(seed), now);
                return Ok(None);
            }
            if let Some(location) = self.moved_to.take() {
                return Ok(Some(UpnpStep::Probe(location)));
            }
            if self.auto && matches!(self.find, Find::Search(_)) {
                return Ok(Some(UpnpStep::FindWay));
            }
            return Ok(Some(match &self.find {
                Find::Search(options) => UpnpStep::Search(options.clone()),
                Find::Url(url) => UpnpStep::Probe(url.clone()),
            }));
        }
        let Some(device) = &self.device else {
            return Err(task.failed(Error::NoDevices));
        };
        let pinhole = matches!(
            task,
            Task::OpenPinhole { .. } | Task::RenewPinhole { .. } | Task::ClosePinhole { .. }
        );
        let service = if pinhole {
            firewall(device)
        } else {
            require_usable(device).map(|(url, service_type)| (url, service_type.to_owned()))
        };
        let (url, service_type) = match service {
            Ok(service) => service,
            Err(e) => return Err(task.failed(e)),
        };
        let calls = match Calls::new(task, &service_type) {
            Ok(Some(calls)) => calls,
            Ok(None) => return Ok(Some(UpnpStep::Route(url))),
            Err(outcome) => return Err(outcome),
        };
        let mut deadline = later(now, self.limits.call);
        if let Some(stop) = self.keeper.stop_deadline() {
            deadline = deadline.min(stop);
        }
        let mut running = Running {
            url,
            deadline,
            calls,
            request: None,
        };
        let step = running.start();
        self.advance(running, step, now);
        Ok(None)
    }

    /// Keep the call to make, or hand the task's outcome to the keeper.
    fn advance(&mut self, mut running: Running, step: Next<Outcome>, now: Instant) {
        match step {
            Next::Call(request) => {
                running.request = Some(request);
                self.running = Some(running);
            }
            Next::Done(Ok(outcome)) => self.keeper.handle(outcome, now),
            Next::Done(Err(e)) => self.keeper.handle(failed_running(&running.calls, e), now),
        }
    }

    /// Feed what finding a gateway gave (the device found, or why none).
    pub(crate) fn found(&mut self, found: Result<Device, Error>, now: Instant) {
        let ours = self.ours;
        let gateway = found.and_then(|mut device| {
            if let Some(ours) = ours {
                device.igd_our_addr = ours.to_string();
            }
            require_usable(&device)?;
            let our_addr: IpAddr = device.igd_our_addr.parse().map_err(|_| {
                Error::InvalidGateway(crate::error::DeviceStatus {
                    description_url: device.description_url.clone(),
                    status: device.igd_status,
                    detail: Some("no local address reaches its control URL".to_owned()),
                })
            })?;
            let pinholes = device.ipv6_firewall.as_ref().and(device.pinhole_addr);
            let gateway = Gateway::new(device.external_address, our_addr)
                .status(device.igd_status)
                .any_port(is_v2(&device.igd_service_type))
                .pinholes(pinholes)
                .name(device.description_url.clone());
            self.device = Some(device);
            Ok(gateway)
        });
        self.keeper.handle(Outcome::Gateway(gateway), now);
    }

    /// Feed our local address on the route to the control URL.
    pub(crate) fn routed(&mut self, addr: Option<IpAddr>, now: Instant) {
        let addr = self.ours.or(addr);
        self.keeper.handle(Outcome::LocalAddress(addr), now);
    }

    /// Feed the outcome of the last call.
    pub(crate) fn answered(
        &mut self,
        outcome: Result<ActionResponse, upnp_soap::Error>,
        now: Instant,
    ) {
        if let Some(mut running) = self.running.take() {
            let step = running.handle(outcome);
            self.advance(running, step, now);
        }
    }
}

fn is_v2(service_type: &str) -> bool {
    match service_type.parse::<upnp_ssdp::SearchTarget>() {
        Ok(upnp_ssdp::SearchTarget::Service(urn)) => urn.version >= 2,
        _ => false,
    }
}

/// A pinhole's lease as the service's seconds (the keeper asks 1 s to 1 day).
fn pinhole_lease(lease: Duration) -> u32 {
    let most = upnp_soap::firewall::MAX_LEASE_TIME;
    u32::try_from(lease.as_secs()).map_or(most, |s| s.clamp(1, most))
}

/// A lease as UPnP's seconds (capped at its 32 bits; [`Keep::validate`] refuses more).
fn lease_seconds(lease: Duration) -> u32 {
    u32::try_from(lease.as_secs()).unwrap_or(u32::MAX)
}

/// The device's IPv6 firewall service: its control URL and type.
fn firewall(device: &Device) -> Result<(Url, String), Error> {
    let service = device
        .ipv6_firewall
        .as_ref()
        .ok_or(Error::NoPinholeService)?;
    let url = Url::parse(&service.control_url).map_err(|_| Error::NoPinholeService)?;
    Ok((url, service.service_type.clone()))
}

fn failed_running(calls: &Calls, error: Error) -> Outcome {
    match calls {
        Calls::OpenPinhole(slot, _) => Outcome::PinholeOpened(*slot, Err(error)),
        Calls::RenewPinhole(slot, _) => Outcome::PinholeRenewed(*slot, Err(error)),
        Calls::ClosePinhole(slot, _) => Outcome::PinholeClosed(*slot, Err(error)),
        Calls::External(_) => Outcome::ExternalIp(Err(error)),
        Calls::Add(slot, _) | Calls::AddAny(slot, _) => Outcome::Mapped(*slot, Err(error)),
        Calls::Look(slot, _) => Outcome::Looked(*slot, Err(error)),
        Calls::Unmap(slot, _) => Outcome::Unmapped(*slot, Err(error)),
    }
}

impl Calls {
    /// The actions of `task`; `Ok(None)` for the local address (no call).
    fn new(task: Task, service_type: &str) -> Result<Option<Calls>, Outcome> {
        let st = service_type;
        Ok(Some(match task {
            Task::FindGateway => return Err(task.failed(Error::NoDevices)),
            Task::LocalAddress => return Ok(None),
            Task::OpenPinhole {
                slot,
                protocol,
                internal_port,
                client,
                lease,
            } => {
                let add = AddPinhole {
                    remote_host: None,
                    remote_port: 0,
                    internal_client: client,
                    internal_port,
                    protocol,
                    lease_time: pinhole_lease(lease),
                };
                Calls::OpenPinhole(slot, FirewallCall::new(add, st))
            }
            Task::RenewPinhole {
                slot,
                unique_id,
                lease,
            } => {
                let update = UpdatePinhole {
                    unique_id,
                    lease_time: pinhole_lease(lease),
                };
                Calls::RenewPinhole(slot, FirewallCall::new(update, st))
            }
            Task::ClosePinhole { slot, unique_id } => {
                Calls::ClosePinhole(slot, FirewallCall::new(DeletePinhole { unique_id }, st))
            }
            Task::ExternalIp => Calls::External(Single::new(GetExternalIpAddress, st)),
            Task::Map(map) if map.any_port => {
                Calls::AddAny(map.slot, Box::new(AddAny::new(&map, st)))
            }
            Task::Map(map) => {
                let mapping = Mapping {
                    external_port: map.external_port,
                    internal_port: map.internal_port,
                    protocol: map.protocol,
                    description: map.description.clone(),
                    lease_duration: lease_seconds(map.lease),
                };
                let add = AddSequence::new(&mapping, map.internal_client, st).same_port_only();
                Calls::Add(map.slot, Box::new(add))
            }
            Task::Look {
                slot,
                protocol,
                external_port,
            } => {
                let lookup = GetSpecificPortMappingEntry {
                    remote_host: String::new(),
                    external_port,
                    protocol,
                };
                Calls::Look(slot, Single::new(lookup, st))
            }
            Task::Unmap {
                slot,
                protocol,
                external_port,
                internal_client,
                internal_port,
            } => {
                let port = i64::from(external_port);
                match DeleteSequence::new(port, protocol.as_str(), st) {
                    Ok(delete) => {
                        let delete = delete.client(internal_client).internal_port(internal_port);
                        Calls::Unmap(slot, Box::new(delete))
                    }
                    Err(e) => return Err(Outcome::Unmapped(slot, Err(e))),
                }
            }
        }))
    }
}

impl Running {
    fn start(&mut self) -> Next<Outcome> {
        self.step(None)
    }

    fn handle(&mut self, outcome: Result<ActionResponse, upnp_soap::Error>) -> Next<Outcome> {
        self.step(Some(outcome))
    }

    /// Start the task's sequence (`None`) or feed it an answer; its end as an [`Outcome`].
    fn step(&mut self, outcome: Option<Result<ActionResponse, upnp_soap::Error>>) -> Next<Outcome> {
        match &mut self.calls {
            Calls::External(single) => lift(drive(single, outcome), |ip| {
                Outcome::ExternalIp(ip.and_then(|ip| {
                    ip.ok_or(Error::InvalidResponse(
                        "the gateway reports no external address",
                    ))
                }))
            }),
            Calls::Add(slot, add) => {
                let slot = *slot;
                lift(drive(add.as_mut(), outcome), |g| {
                    Outcome::Mapped(slot, g.map(|g| grant(&g)))
                })
            }
            Calls::AddAny(slot, add) => {
                let slot = *slot;
                lift(drive(add.as_mut(), outcome), |g| {
                    Outcome::Mapped(slot, g.map(|g| grant(&g)))
                })
            }
            Calls::Look(slot, look) => {
                let slot = *slot;
                lift(drive(look, outcome), |seen| {
                    Outcome::Looked(slot, looked(seen))
                })
            }
            Calls::Unmap(slot, delete) => {
                let slot = *slot;
                lift(drive(delete.as_mut(), outcome), |done| {
                    Outcome::Unmapped(slot, done)
                })
            }
            Calls::OpenPinhole(slot, open) => {
                let slot = *slot;
                lift(drive(open, outcome), |id| Outcome::PinholeOpened(slot, id))
            }
            Calls::RenewPinhole(slot, renew) => {
                let slot = *slot;
                lift(drive(renew, outcome), |done| {
                    Outcome::PinholeRenewed(slot, done)
                })
            }
            Calls::ClosePinhole(slot, close) => {
                let slot = *slot;
                lift(drive(close, outcome), |done| {
                    Outcome::PinholeClosed(slot, done)
                })
            }
        }
    }
}

fn drive<S: Sequence>(
    sequence: &mut S,
    outcome: Option<Result<ActionResponse, upnp_soap::Error>>,
) -> Next<S::Output> {
    match outcome {
        None => sequence.start(),
        Some(outcome) => sequence.handle(outcome),
    }
}

fn lift<T>(next: Next<T>, done: impl FnOnce(Result<T, Error>) -> Outcome) -> Next<Outcome> {
    match next {
        Next::Call(request) => Next::Call(request),
        Next::Done(result) => Next::Done(Ok(done(result))),
    }
}

fn grant(granted: &Granted) -> Grant {
    Grant {
        external_port: granted.mapping.external_port,
        lease: Duration::from_secs(u64::from(granted.mapping.lease_duration)),
        confirmed: granted.read_back,
    }
}

/// A lookup: `Ok(None)` when the gateway has no such mapping (714).
fn looked(result: Result<PortMapping, Error>) -> Result<Option<Seen>, Error> {
    match result {
        Ok(mapping) => Ok(Some(Seen {
            internal_client: mapping.internal_client.trim().parse().ok(),
            internal_port: mapping.internal_port,
            lease: Duration::from_secs(u64::from(mapping.lease_duration)),
        })),
        Err(e)
            if e.fault()
                .is_some_and(|f| f.code() == Some(ErrorCode::NoSuchEntryInArray)) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// IGDv2's `AddAnyPortMapping`, then the read-back of the port the gateway chose.
#[derive(Debug)]
struct AddAny {
    service_type: String,
    sent: PortMapping,
    reserved: Option<u16>,
    /// The mapping the gateway made to another client or port than asked, being removed.
    removing: Option<PortMapping>,
}

impl AddAny {
    fn new(map: &MapTask, service_type: &str) -> AddAny {
        AddAny {
            service_type: service_type.to_owned(),
            sent: {
                let mut sent = PortMapping::new(
                    map.protocol,
                    map.external_port,
                    map.internal_client.to_string(),
                    map.internal_port,
                );
                sent.description = map.description.clone();
                sent.lease_duration = lease_seconds(map.lease);
                sent
            },
            reserved: None,
            removing: None,
        }
    }

    fn lookup(&self, port: u16) -> GetSpecificPortMappingEntry {
        GetSpecificPortMappingEntry {
            remote_host: String::new(),
            external_port: port,
            protocol: self.sent.protocol,
        }
    }
}

impl Sequence for AddAny {
    type Output = Granted;

    fn start(&mut self) -> Next<Granted> {
        self.reserved = None;
        Next::Call(AddAnyPortMapping(self.sent.clone()).request(&self.service_type))
    }

    fn handle(&mut self, outcome: Result<ActionResponse, upnp_soap::Error>) -> Next<Granted> {
        if let Some(elsewhere) = self.removing.take() {
            // Whether the removal worked or not, the mapping was not what was asked.
            return Next::Done(Err(Error::MappingRewritten {
                asked_client: self.sent.internal_client.clone(),
                asked_port: self.sent.internal_port,
                internal_client: elsewhere.internal_client,
                internal_port: elsewhere.internal_port,
            }));
        }
        let Some(port) = self.reserved else {
            return match outcome.and_then(|r| AddAnyPortMapping(self.sent.clone()).output(&r)) {
                Ok(0) => Next::Done(Err(Error::InvalidResponse(
                    "the gateway reserved external port 0",
                ))),
                Ok(port) => {
                    self.reserved = Some(port);
                    Next::Call(self.lookup(port).request(&self.service_type))
                }
                Err(e) => Next::Done(Err(e.into())),
            };
        };
        let mut sent = self.sent.clone();
        sent.external_port = port;
        let read = outcome.and_then(|r| self.lookup(port).output(&r)).ok();
        let client = sent.internal_client.parse().ok();
        let ours = |m: &PortMapping| points_at(m, client, Some(sent.internal_port));
        match read {
            // The port is the one the gateway chose for us: what is there, it made for us,
            // pointing elsewhere than asked. Remove it.
            Some(elsewhere) if !ours(&elsewhere) => {
                self.removing = Some(elsewhere);
                let delete = DeletePortMapping {
                    remote_host: String::new(),
                    external_port: port,
                    protocol: self.sent.protocol,
                };
                Next::Call(delete.request(&self.service_type))
            }
            read => Next::Done(Ok(Granted {
                read_back: read.is_some(),
                mapping: read.unwrap_or(sent),
                lease_dropped: false,
                lease_limited: false,
                description_dropped: false,
            })),
        }
    }
}
