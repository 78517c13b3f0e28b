//! Port mappings without I/O: Godot's validation, and the add sequence with its fallbacks,
//! as a state machine that the blocking and async drivers run.
//!
//! Adding a mapping is three steps: look at the port first (never clobber another client's
//! mapping, whatever the router would do), add it (retrying without what the router refuses,
//! as real routers need: a finite lease where only permanent ones are allowed, a week, a day,
//! then an hour where permanent ones are refused, no description), and read back what was
//! granted (miniupnpd, for one, turns a permanent lease into a week; some routers record
//! another internal port than the one asked, and that mapping is removed, not reported as a
//! success). A 718 to the add of a mapping the look showed as ours already is a renewal the
//! router declined, not a conflict.
//!
//! Why not fewer (each was weighed as a saving, and none is safe):
//! - The look before the add: a router that follows the standard refuses to map a port taken
//!   by another client (718), but not every router does, and the add that overwrote their
//!   mapping could not be undone. Even miniupnpd keeps other clients' mappings from us only
//!   with its `secure_mode` option on (the lab turns it on; it is a router's setting, not
//!   something a client can see), so "the router protects us" cannot be assumed.
//! - The read-back: what was granted is not what was sent. miniupnpd turns a permanent
//!   request into a week in IGDv1 mode as in IGDv2 (the lab checks both), and a keeper that
//!   believed "permanent" would never renew. Nor does a 200 prove the port is ours.
//! - The look before a delete: it tells "no such mapping" apart from success, and keeps us
//!   from removing another client's mapping where the router would (the same setting).
//!
//! What is saved instead: a keeper's look is put off after a renewal (its read-back just
//! saw the mapping), a warm start (`Upnp::revalidate`) replaces the search, the description
//! and GetStatusInfo with one exchange, and a lost SYN costs 250 ms rather than a second
//! (`upnp_soap::http::Config::connect_retry`).

use std::net::IpAddr;

use upnp_soap::actions::{
    Action, AddPortMapping, DeletePortMapping, GetGenericPortMappingEntry, GetListOfPortMappings,
    GetSpecificPortMappingEntry, PortMapping, Protocol,
};
use upnp_soap::{ActionRequest, ActionResponse, ErrorCode};

use crate::error::{Error, is_transport};

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

/// The description sent when the caller gives none.
pub const DEFAULT_DESCRIPTION: &str = concat!("igd-rs ", env!("CARGO_PKG_VERSION"));

/// What Godot's `add_port_mapping` takes, with its types and defaults, so that a binding
/// passes its arguments through unchanged and gets Godot's validation.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappingRequest {
    /// The external port, 1-65535.
    pub port: i64,
    /// The internal port, 0-65535; 0 (the default) means the same as `port`.
    pub port_internal: i64,
    /// The description; empty (the default) sends [`DEFAULT_DESCRIPTION`].
    pub desc: String,
    /// `"UDP"` (the default) or `"TCP"`, exactly.
    pub proto: String,
    /// The lease in seconds; 0 (the default) asks for a permanent one.
    pub duration: i64,
}

impl MappingRequest {
    /// A request for `port` with Godot's defaults: same internal port, UDP, permanent.
    pub fn new(port: i64) -> MappingRequest {
        MappingRequest {
            port,
            port_internal: 0,
            desc: String::new(),
            proto: "UDP".to_owned(),
            duration: 0,
        }
    }

    /// Set the internal port.
    pub fn port_internal(mut self, port: i64) -> Self {
        self.port_internal = port;
        self
    }

    /// Set the description.
    pub fn desc(mut self, desc: impl Into<String>) -> Self {
        self.desc = desc.into();
        self
    }

    /// Set the protocol (`"TCP"` or `"UDP"`).
    pub fn proto(mut self, proto: impl Into<String>) -> Self {
        self.proto = proto.into();
        self
    }

    /// Set the lease duration in seconds.
    pub fn duration(mut self, seconds: i64) -> Self {
        self.duration = seconds;
        self
    }

    /// Validate as Godot does, before anything is sent: the port 1-65535, the internal port
    /// 0-65535, `"TCP"` or `"UDP"`, a lease that fits 32 bits.
    pub fn validate(&self) -> Result<(), Error> {
        self.mapping().map(drop)
    }

    /// The mapping to send, validated.
    pub(crate) fn mapping(&self) -> Result<Mapping, Error> {
        let external_port = external_port(self.port)?;
        let internal_port = match self.port_internal {
            0 => external_port,
            p => u16::try_from(p).map_err(|_| Error::InvalidPort(p))?,
        };
        let protocol = protocol(&self.proto)?;
        let lease_duration =
            u32::try_from(self.duration).map_err(|_| Error::InvalidDuration(self.duration))?;
        Ok(Mapping {
            external_port,
            internal_port,
            protocol,
            description: if self.desc.is_empty() {
                DEFAULT_DESCRIPTION.to_owned()
            } else {
                self.desc.clone()
            },
            lease_duration,
        })
    }
}

/// A validated mapping request.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Mapping {
    /// The external port.
    pub external_port: u16,
    /// The internal port.
    pub internal_port: u16,
    /// The protocol.
    pub protocol: Protocol,
    /// The description to send.
    pub description: String,
    /// The lease to ask for; 0 is permanent.
    pub lease_duration: u32,
}

/// An external port, 1-65535.
pub(crate) fn external_port(port: i64) -> Result<u16, Error> {
    match u16::try_from(port) {
        Ok(p) if p != 0 => Ok(p),
        _ => Err(Error::InvalidPort(port)),
    }
}

/// `"TCP"` or `"UDP"`, exactly (Godot's rule).
pub(crate) fn protocol(proto: &str) -> Result<Protocol, Error> {
    match proto {
        "TCP" => Ok(Protocol::Tcp),
        "UDP" => Ok(Protocol::Udp),
        other => Err(Error::InvalidProtocol(other.to_owned())),
    }
}

/// What the gateway granted.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Granted {
    /// The mapping as the gateway reports it (or as sent, when it cannot be read back).
    pub mapping: PortMapping,
    /// The router refused the lease and the mapping was made without it (permanent).
    pub lease_dropped: bool,
    /// The router refused a permanent mapping and it was made with a finite lease (a week, a
    /// day or an hour: `mapping.lease_duration`): renew it before it ends.
    pub lease_limited: bool,
    /// The router refused the description and the mapping was made without it.
    pub description_dropped: bool,
    /// Whether `mapping` was read back from the gateway.
    pub read_back: bool,
}

/// The next thing a driver does for a state machine.
#[non_exhaustive]
#[derive(Debug)]
pub(crate) enum Next<T> {
    /// Send this request to the control URL and hand the outcome to `handle`.
    Call(ActionRequest),
    /// Finished.
    Done(Result<T, Error>),
}

/// A conversation with a gateway, without I/O: a driver sends each request it is given and
/// feeds back the outcome until it is done. Every driver runs every sequence the same way.
pub(crate) trait Sequence {
    /// What the sequence yields at the end.
    type Output;

    /// The first step.
    fn start(&mut self) -> Next<Self::Output>;

    /// Feed the outcome of the last request; get the next step.
    fn handle(&mut self, outcome: Result<ActionResponse, upnp_soap::Error>) -> Next<Self::Output>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AddState {
    Check,
    Add,
    ReadBack,
    /// The mapping read back points elsewhere than asked: removing it.
    Remove,
}

/// The leases tried, in order, when a router refuses a permanent mapping (402, 601 or 725):
/// a week, a day, an hour.
pub(crate) const FINITE_LEASES: [u32; 3] = [7 * 86_400, 86_400, 3_600];

/// The add sequence for one mapping on one gateway.
#[derive(Clone, Debug)]
pub(crate) struct AddSequence {
    service_type: String,
    sent: PortMapping,
    lease_dropped: bool,
    description_dropped: bool,
    /// A permanent mapping was asked for.
    permanent_asked: bool,
    /// How many of [`FINITE_LEASES`] were tried after a permanent lease was refused.
    finite_tried: usize,
    /// The look before the add found this very mapping (our client, our port).
    existed: bool,
    /// What the read-back found pointing elsewhere than asked, being removed.
    rewritten: Option<PortMapping>,
    state: AddState,
    same_port: bool,
}

impl AddSequence {
    /// Add `mapping` for `our_addr` on the service `service_type`.
    pub(crate) fn new(mapping: &Mapping, our_addr: IpAddr, service_type: &str) -> AddSequence {
        AddSequence {
            service_type: service_type.to_owned(),
            sent: {
                let mut sent = PortMapping::new(
                    mapping.protocol,
                    mapping.external_port,
                    our_addr.to_string(),
                    mapping.internal_port,
                );
                sent.description = mapping.description.clone();
                sent.lease_duration = mapping.lease_duration;
                sent
            },
            lease_dropped: false,
            description_dropped: false,
            permanent_asked: mapping.lease_duration == 0,
            finite_tried: 0,
            existed: false,
            rewritten: None,
            state: AddState::Check,
            same_port: false,
        }
    }

    /// Count a mapping of the port to another internal port of our own address as another
    /// program's, not ours: never replaced (Godot's `add_port_mapping` replaces it).
    pub(crate) fn same_port_only(mut self) -> Self {
        self.same_port = true;
        self
    }

    fn add(&mut self) -> Next<Granted> {
        self.state = AddState::Add;
        Next::Call(AddPortMapping(self.sent.clone()).request(&self.service_type))
    }

    fn lookup(&self) -> GetSpecificPortMappingEntry {
        GetSpecificPortMappingEntry {
            remote_host: String::new(),
            external_port: self.sent.external_port,
            protocol: self.sent.protocol,
        }
    }

    fn is_ours(&self, existing: &PortMapping) -> bool {
        let port = self.same_port.then_some(self.sent.internal_port);
        self.points_here(existing, port)
    }

    /// Exactly what we send: our client and our internal port.
    fn is_exact(&self, existing: &PortMapping) -> bool {
        self.points_here(existing, Some(self.sent.internal_port))
    }

    fn points_here(&self, existing: &PortMapping, port: Option<u16>) -> bool {
        self.sent
            .internal_client
            .parse()
            .is_ok_and(|ours| points_at(existing, Some(ours), port))
    }

    /// Whether to retry after this refusal, having changed what the router refuses.
    fn fallback(&mut self, code: Option<ErrorCode>) -> bool {
        let lease = self.sent.lease_duration != 0 && !self.lease_dropped;
        let description = !self.sent.description.is_empty() && !self.description_dropped;
        let permanent_asked = self.permanent_asked;
        let finite_next = FINITE_LEASES.get(self.finite_tried).copied();
        match (code, finite_next) {
            // A permanent mapping refused: a week, then a day, then an hour.
            (
                Some(
                    ErrorCode::InvalidArgs
                    | ErrorCode::ArgumentValueOutOfRange
                    | ErrorCode::OnlyPermanentLeasesSupported,
                ),
                Some(next),
            ) if permanent_asked && !self.lease_dropped => {
                self.sent.lease_duration = next;
                self.finite_tried += 1;
                return true;
            }
            // No lease was the cause: permanent again, and on to the description.
            (Some(ErrorCode::InvalidArgs), None) if permanent_asked && description => {
                self.sent.lease_duration = 0;
                self.finite_tried = 0;
                self.lease_dropped = true;
                self.sent.description.clear();
                self.description_dropped = true;
                return true;
            }
            _ => {}
        }
        if permanent_asked {
            return match code {
                Some(ErrorCode::ArgumentValueInvalid | ErrorCode::StringArgumentTooLong)
                    if description =>
                {
                    self.sent.description.clear();
                    self.description_dropped = true;
                    true
                }
                _ => false,
            };
        }
        match code {
            Some(ErrorCode::OnlyPermanentLeasesSupported) if lease => self.drop_lease(),
            Some(ErrorCode::InvalidArgs | ErrorCode::ArgumentValueOutOfRange) if lease => {
                self.drop_lease()
            }
            Some(
                ErrorCode::InvalidArgs
                | ErrorCode::ArgumentValueInvalid
                | ErrorCode::StringArgumentTooLong,
            ) if description => {
                self.sent.description.clear();
                self.description_dropped = true;
                true
            }
            _ => false,
        }
    }

    fn drop_lease(&mut self) -> bool {
        self.sent.lease_duration = 0;
        self.lease_dropped = true;
        true
    }
}

impl Sequence for AddSequence {
    type Output = Granted;

    /// The first request.
    fn start(&mut self) -> Next<Self::Output> {
        self.state = AddState::Check;
        Next::Call(self.lookup().request(&self.service_type))
    }

    /// Feed the outcome of the last request; get the next step.
    fn handle(&mut self, outcome: Result<ActionResponse, upnp_soap::Error>) -> Next<Self::Output> {
        match self.state {
            AddState::Check => match outcome.and_then(|r| self.lookup().output(&r)) {
                Ok(existing) if !self.is_ours(&existing) => Next::Done(Err(Error::MappingTaken {
                    internal_client: existing.internal_client,
                    internal_port: existing.internal_port,
                })),
                Ok(existing) => {
                    self.existed = self.is_exact(&existing);
                    self.add()
                }
                // Ours already (we update it), or none (a fault, normally 714), or an answer
                // we cannot read: go on and add; the router has the last word.
                Err(upnp_soap::Error::Fault(_)) => self.add(),
                Err(e) if is_transport(&e) => Next::Done(Err(e.into())),
                Err(_) => self.add(),
            },
            AddState::Add => match outcome {
                Ok(_) => {
                    self.state = AddState::ReadBack;
                    Next::Call(self.lookup().request(&self.service_type))
                }
                // Our own mapping, exactly, was there: the router declines to update it (some
                // answer 718 to any add of an existing mapping). It stays as it was.
                Err(upnp_soap::Error::Fault(fault))
                    if self.existed && fault.code() == Some(ErrorCode::ConflictInMappingEntry) =>
                {
                    event!(fault = %fault, "718 for our own mapping: kept as it is");
                    self.state = AddState::ReadBack;
                    Next::Call(self.lookup().request(&self.service_type))
                }
                Err(upnp_soap::Error::Fault(fault)) => match self.fallback(fault.code()) {
                    true => {
                        event!(
                            fault = %fault,
                            lease_dropped = self.lease_dropped,
                            description_dropped = self.description_dropped,
                            "add refused: retrying without what the router refuses"
                        );
                        self.add()
                    }
                    false => Next::Done(Err(upnp_soap::Error::Fault(fault).into())),
                },
                Err(e) => Next::Done(Err(e.into())),
            },
            AddState::ReadBack => {
                let read = outcome.and_then(|r| self.lookup().output(&r)).ok();
                if let Some(elsewhere) = read.as_ref().filter(|m| !self.is_exact(m)) {
                    // The router said yes, but the port forwards elsewhere than asked: the
                    // look showed no other client's mapping, so the router recorded ours
                    // wrong (some set the internal port to the external one). Traffic would
                    // go astray: remove it, and say so.
                    event!(
                        internal_port = elsewhere.internal_port,
                        asked = self.sent.internal_port,
                        "the mapping read back points elsewhere: removing it"
                    );
                    self.rewritten = Some(elsewhere.clone());
                    self.state = AddState::Remove;
                    let delete = DeletePortMapping {
                        remote_host: String::new(),
                        external_port: self.sent.external_port,
                        protocol: self.sent.protocol,
                    };
                    return Next::Call(delete.request(&self.service_type));
                }
                Next::Done(Ok(Granted {
                    read_back: read.is_some(),
                    mapping: read.unwrap_or_else(|| self.sent.clone()),
                    lease_dropped: self.lease_dropped,
                    lease_limited: self.finite_tried > 0,
                    description_dropped: self.description_dropped,
                }))
            }
            // Whether the removal worked or not, the mapping was not what was asked.
            AddState::Remove => Next::Done(Err(match self.rewritten.take() {
                Some(elsewhere) => Error::MappingRewritten {
                    asked_client: self.sent.internal_client.clone(),
                    asked_port: self.sent.internal_port,
                    internal_client: elsewhere.internal_client,
                    internal_port: elsewhere.internal_port,
                },
                None => Error::Misuse("an add sequence fed after its end"),
            })),
        }
    }
}

/// The delete sequence: look at the port first, so that deleting a mapping that does not exist
/// says so (miniupnpd answers such a delete with success) and another client's mapping is
/// never removed (routers without a secure mode would), then delete.
#[derive(Clone, Debug)]
pub(crate) struct DeleteSequence {
    service_type: String,
    external_port: u16,
    protocol: Protocol,
    our_addr: Option<IpAddr>,
    internal_port: Option<u16>,
    deleting: bool,
}

impl DeleteSequence {
    /// Delete the mapping of `port`/`proto`, validated as Godot does.
    pub(crate) fn new(port: i64, proto: &str, service_type: &str) -> Result<DeleteSequence, Error> {
        Ok(DeleteSequence {
            service_type: service_type.to_owned(),
            external_port: external_port(port)?,
            protocol: protocol(proto)?,
            our_addr: None,
            internal_port: None,
            deleting: false,
        })
    }

    /// Only delete a mapping to `our_addr` (the gateway's `igd_our_addr`).
    pub(crate) fn client(mut self, our_addr: IpAddr) -> Self {
        self.our_addr = Some(our_addr);
        self
    }

    /// Only delete a mapping to this internal port.
    pub(crate) fn internal_port(mut self, port: u16) -> Self {
        self.internal_port = Some(port);
        self
    }
}

impl Sequence for DeleteSequence {
    type Output = ();

    /// The first request.
    fn start(&mut self) -> Next<Self::Output> {
        self.deleting = false;
        Next::Call(
            GetSpecificPortMappingEntry {
                remote_host: String::new(),
                external_port: self.external_port,
                protocol: self.protocol,
            }
            .request(&self.service_type),
        )
    }

    /// Feed the outcome of the last request; get the next step.
    fn handle(&mut self, outcome: Result<ActionResponse, upnp_soap::Error>) -> Next<Self::Output> {
        if self.deleting {
            return Next::Done(outcome.map(drop).map_err(Error::from));
        }
        let lookup = GetSpecificPortMappingEntry {
            remote_host: String::new(),
            external_port: self.external_port,
            protocol: self.protocol,
        };
        match outcome.and_then(|r| lookup.output(&r)) {
            Err(upnp_soap::Error::Fault(fault))
                if fault.code() == Some(ErrorCode::NoSuchEntryInArray) =>
            {
                Next::Done(Err(upnp_soap::Error::Fault(fault).into()))
            }
            Ok(existing) if !points_at(&existing, self.our_addr, self.internal_port) => {
                Next::Done(Err(Error::MappingTaken {
                    internal_client: existing.internal_client,
                    internal_port: existing.internal_port,
                }))
            }
            Err(e) if is_transport(&e) => Next::Done(Err(e.into())),
            // Ours, or a lookup the gateway does not answer: delete.
            _ => {
                self.deleting = true;
                Next::Call(
                    DeletePortMapping {
                        remote_host: String::new(),
                        external_port: self.external_port,
                        protocol: self.protocol,
                    }
                    .request(&self.service_type),
                )
            }
        }
    }
}

/// Mappings a listing keeps by default, at most.
pub(crate) const MAX_LISTED: usize = 1024;

/// Listing every mapping: IGDv2's GetListOfPortMappings (TCP, then UDP) when the service is
/// v2, else, or when the gateway refuses it, GetGenericPortMappingEntry from index 0 until the
/// gateway says the index is past the end.
///
/// Bounded whatever the gateway answers: at most [`ListSequence::max_entries`] mappings
/// (default [`MAX_LISTED`]) are kept and the walk stops there; a walk that gives a mapping
/// already listed (a gateway that ignores the index) stops, and the mappings seen once are
/// the list. The driver bounds the time.
#[derive(Clone, Debug)]
pub(crate) struct ListSequence {
    service_type: String,
    state: ListState,
    found: Vec<PortMapping>,
    max: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ListState {
    Range(Protocol),
    Generic(u16),
}

impl ListSequence {
    /// List the mappings of the service `service_type`.
    pub(crate) fn new(service_type: &str) -> ListSequence {
        let v2 = service_type
            .parse::<upnp_ssdp::SearchTarget>()
            .ok()
            .and_then(|st| match st {
                upnp_ssdp::SearchTarget::Service(urn) => Some(urn.version >= 2),
                _ => None,
            })
            .unwrap_or(false);
        ListSequence {
            service_type: service_type.to_owned(),
            state: if v2 {
                ListState::Range(Protocol::Tcp)
            } else {
                ListState::Generic(0)
            },
            found: Vec::new(),
            max: MAX_LISTED,
        }
    }

    /// Keep at most `max` mappings.
    pub(crate) fn max_entries(mut self, max: usize) -> Self {
        self.max = max;
        self
    }

    fn done(&mut self) -> Next<Vec<PortMapping>> {
        let mut found = std::mem::take(&mut self.found);
        found.truncate(self.max);
        Next::Done(Ok(found))
    }

    fn call(&self) -> Next<Vec<PortMapping>> {
        Next::Call(match self.state {
            ListState::Range(protocol) => range(protocol).request(&self.service_type),
            ListState::Generic(index) => {
                GetGenericPortMappingEntry { index }.request(&self.service_type)
            }
        })
    }
}

impl Sequence for ListSequence {
    type Output = Vec<PortMapping>;

    /// The first request.
    fn start(&mut self) -> Next<Self::Output> {
        self.call()
    }

    /// Feed the outcome of the last request; get the next step.
    fn handle(&mut self, outcome: Result<ActionResponse, upnp_soap::Error>) -> Next<Self::Output> {
        match self.state {
            ListState::Range(protocol) => {
                match outcome.and_then(|r| range(protocol).output(&r)) {
                    Ok(mut mappings) => self.found.append(&mut mappings),
                    // 730: none in the range (miniupnpd answers an empty list instead).
                    Err(upnp_soap::Error::Fault(f))
                        if f.code() == Some(ErrorCode::PortMappingNotFound) => {}
                    Err(e) if e.is_network() => {
                        return Next::Done(Err(e.into()));
                    }
                    // Refused, too large, unreadable: walk the table instead.
                    Err(_) => {
                        self.found.clear();
                        self.state = ListState::Generic(0);
                        return self.call();
                    }
                }
                match protocol {
                    Protocol::Tcp if self.found.len() < self.max => {
                        self.state = ListState::Range(Protocol::Udp);
                        self.call()
                    }
                    _ => self.done(),
                }
            }
            ListState::Generic(index) => {
                match outcome.and_then(|r| GetGenericPortMappingEntry { index }.output(&r)) {
                    // The same mapping again: the gateway does not walk its table.
                    Ok(mapping) if self.found.iter().any(|m| same_entry(m, &mapping)) => {
                        return self.done();
                    }
                    Ok(mapping) => self.found.push(mapping),
                    // 713 past the end (some gateways say 714 or 402): the table is walked.
                    Err(upnp_soap::Error::Fault(_)) => return self.done(),
                    Err(e) => return Next::Done(Err(e.into())),
                }
                match index.checked_add(1) {
                    Some(next) if self.found.len() < self.max => {
                        self.state = ListState::Generic(next);
                        self.call()
                    }
                    _ => self.done(),
                }
            }
        }
    }
}

/// The same entry of a mapping table: one mapping per remote host, external port and protocol.
fn same_entry(a: &PortMapping, b: &PortMapping) -> bool {
    a.external_port == b.external_port
        && a.protocol == b.protocol
        && a.remote_host.trim() == b.remote_host.trim()
}

fn range(protocol: Protocol) -> GetListOfPortMappings {
    GetListOfPortMappings {
        start_port: 1,
        end_port: u16::MAX,
        protocol,
        manage: true,
        number_of_ports: 0,
    }
}

/// Whether `mapping` points at `client` (any client when `None`) and at `port` (any port
/// when `None`), as the gateway writes the client.
pub(crate) fn points_at(mapping: &PortMapping, client: Option<IpAddr>, port: Option<u16>) -> bool {
    let client_ok = client
        .is_none_or(|ours| mapping.internal_client.trim().parse::<IpAddr>().ok() == Some(ours));
    client_ok && port.is_none_or(|p| p == mapping.internal_port)
}

/// One action, one exchange.
#[derive(Debug)]
pub(crate) struct Single<A> {
    action: A,
    service_type: String,
}

impl<A: Action> Single<A> {
    pub(crate) fn new(action: A, service_type: &str) -> Single<A> {
        Single {
            action,
            service_type: service_type.to_owned(),
        }
    }
}

impl<A: Action> Sequence for Single<A> {
    type Output = A::Output;

    fn start(&mut self) -> Next<A::Output> {
        Next::Call(self.action.request(&self.service_type))
    }

    fn handle(&mut self, outcome: Result<ActionResponse, upnp_soap::Error>) -> Next<A::Output> {
        Next::Done(
            outcome
                .and_then(|r| self.action.output(&r))
                .map_err(Error::from),
        )
    }
}
