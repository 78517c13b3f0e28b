//! The keeper: hold ports open until told to stop, whatever the router does. No I/O.
//!
//! Godot hands every pitfall of a port mapping to its user: leases end, routers reboot and
//! forget, the external address changes, another client holds the port. The keeper handles
//! them all, as a state machine with time passed in; the drivers
//! ([`crate::blocking::Upnp::keep`], and `tokio`'s) only move its requests over the network.
//!
//! [`Keeper`] knows nothing of SOAP: it asks for protocol-neutral [`Task`]s (find a gateway,
//! map this port, is this mapping still there, what is the external address, unmap) and is
//! told their [`Outcome`]s. [`upnp::UpnpKeeper`] runs those tasks as UPnP IGD actions; another
//! way to map (NAT-PMP, PCP) plugs in beside it the same way.
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
//! use upnp_igd::keeper::{Gateway, Keep, Keeper, Outcome, Task, Step};
//!
//! let keep = Keep::new().udp(7777).check(Duration::from_secs(30));
//! let now = Instant::now();
//! let mut keeper = Keeper::new(keep);
//! // First, a gateway: the driver searches and tells what it found.
//! assert!(matches!(keeper.poll(now), Step::Run(Task::FindGateway)));
//! keeper.handle(Outcome::Gateway(Ok(Gateway::new("11.0.0.7".parse().ok(), "192.168.1.10".parse().unwrap()))), now);
//! // Then the mapping.
//! assert!(matches!(keeper.poll(now), Step::Run(Task::Map(_))));
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

pub use upnp_soap::actions::Protocol;

use crate::error::{Error, ErrorKind};
use crate::limits::later;
use crate::mapping::DEFAULT_DESCRIPTION;
use crate::pmp::{Method, Target, Via};

mod machine;
pub mod pmp;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
pub mod upnp;

pub use machine::KeepMachine;

/// Ports a keeper holds, at most: what a caller asks is bounded like what the network sends.
pub const MAX_PORTS: usize = 64;

/// Ports an add that timed out may have mapped, remembered per port at most (each is
/// removed, if ours, at stop).
const MAX_MAYBE: usize = 16;

/// One port to keep open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortSpec {
    /// UDP or TCP.
    pub protocol: Protocol,
    /// The port on this host that traffic goes to.
    pub internal_port: u16,
    /// The external port wanted (another may be granted unless [`Keep::exact`]).
    pub external_port: u16,
}

impl fmt::Display for PortSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.protocol, self.internal_port)?;
        if self.external_port != self.internal_port {
            write!(f, " (external {})", self.external_port)?;
        }
        Ok(())
    }
}

/// What to keep open, and how. Built with [`Keep::new`] and its setters.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keep {
    /// The ports (at most [`MAX_PORTS`]).
    pub ports: Vec<PortSpec>,
    /// The lease asked for (1 hour); zero asks for a permanent mapping. A finite lease means
    /// that if this process dies without stopping, the router drops the mapping by itself.
    pub lease: Duration,
    /// How often each mapping is looked up and the external address re-queried (60 s).
    pub check: Duration,
    /// Demand the exact external ports: a conflict is reported and retried, never worked
    /// around with another port (off).
    pub exact: bool,
    /// Other external ports tried after a conflict, at most (8).
    pub port_attempts: u16,
    /// The first wait after a failure (1 s); it doubles with each failure in a row.
    pub retry: Duration,
    /// The longest wait after failures (60 s).
    pub max_retry: Duration,
    /// How long stopping may take, all unmapping together (5 s).
    pub stop_within: Duration,
    /// The description the router shows (default: [`DEFAULT_DESCRIPTION`]).
    pub description: String,
    /// Also keep an IPv6 pinhole open to each port (our global address), where the gateway
    /// offers them (off). Its lease is [`Keep::lease`] within 1 s to 1 day (a permanent lease
    /// asks a day); it is renewed at every check, and opened again when the gateway lost it.
    pub pinholes: bool,
    /// Which ways to map ([`Via::Upnp`]): with [`Via::Auto`], UPnP, PCP and NAT-PMP are tried
    /// at once whenever a gateway is looked for, the best that answers is used (UPnP, then
    /// PCP, then NAT-PMP: [`crate::pmp`]), and the keeper moves to another way when the one
    /// in use stops answering.
    pub via: Via,
    /// Where PCP and NAT-PMP are asked ([`Target::Default`]: the default gateway).
    pub target: Target,
}

impl Default for Keep {
    fn default() -> Keep {
        Keep::new()
    }
}

impl Keep {
    /// No ports yet; the defaults above.
    pub fn new() -> Keep {
        Keep {
            ports: Vec::new(),
            lease: Duration::from_secs(3600),
            check: Duration::from_secs(60),
            exact: false,
            port_attempts: 8,
            retry: Duration::from_secs(1),
            max_retry: Duration::from_secs(60),
            stop_within: Duration::from_secs(5),
            description: DEFAULT_DESCRIPTION.to_owned(),
            pinholes: false,
            via: Via::Upnp,
            target: Target::Default,
        }
    }

    /// Set [`Keep::via`].
    pub fn via(mut self, via: Via) -> Keep {
        self.via = via;
        self
    }

    /// Set [`Keep::target`].
    pub fn target(mut self, target: Target) -> Keep {
        self.target = target;
        self
    }

    /// Keep UDP `port` open (the same port outside).
    pub fn udp(self, port: u16) -> Keep {
        self.port(Protocol::Udp, port, port)
    }

    /// Keep TCP `port` open (the same port outside).
    pub fn tcp(self, port: u16) -> Keep {
        self.port(Protocol::Tcp, port, port)
    }

    /// Keep `internal` open as `external` (or another external port after a conflict).
    pub fn port(mut self, protocol: Protocol, internal: u16, external: u16) -> Keep {
        self.ports.push(PortSpec {
            protocol,
            internal_port: internal,
            external_port: external,
        });
        self
    }

    /// Set [`Keep::lease`].
    pub fn lease(mut self, lease: Duration) -> Keep {
        self.lease = lease;
        self
    }

    /// Set [`Keep::check`].
    pub fn check(mut self, check: Duration) -> Keep {
        self.check = check;
        self
    }

    /// Set [`Keep::exact`].
    pub fn exact(mut self, exact: bool) -> Keep {
        self.exact = exact;
        self
    }

    /// Set [`Keep::retry`] and [`Keep::max_retry`].
    pub fn retry(mut self, first: Duration, max: Duration) -> Keep {
        self.retry = first;
        self.max_retry = max;
        self
    }

    /// Set [`Keep::description`].
    pub fn description(mut self, description: impl Into<String>) -> Keep {
        self.description = description.into();
        self
    }

    /// Set [`Keep::pinholes`].
    pub fn pinholes(mut self, pinholes: bool) -> Keep {
        self.pinholes = pinholes;
        self
    }

    /// The lease of the pinholes: [`Keep::lease`] within 1 s to 1 day.
    pub fn pinhole_lease(&self) -> Duration {
        match self.lease.as_secs() {
            0 => Duration::from_secs(u64::from(upnp_soap::firewall::MAX_LEASE_TIME)),
            s => Duration::from_secs(s.min(u64::from(upnp_soap::firewall::MAX_LEASE_TIME))),
        }
    }

    /// Refuse what cannot be kept, before anything is sent: no port, too many, port 0, a
    /// port twice, a zero check interval, a lease longer than UPnP's 32 bits of seconds.
    pub fn validate(&self) -> Result<(), Error> {
        if self.ports.is_empty() {
            return Err(Error::InvalidParam("no port to keep"));
        }
        if self.ports.len() > MAX_PORTS {
            return Err(Error::InvalidParam("too many ports to keep (64 at most)"));
        }
        for (i, port) in self.ports.iter().enumerate() {
            if port.internal_port == 0 {
                return Err(Error::InvalidPort(0));
            }
            if port.external_port == 0 {
                return Err(Error::InvalidPort(0));
            }
            let twice = self.ports.iter().take(i).any(|other| {
                other.protocol == port.protocol && other.external_port == port.external_port
            });
            if twice {
                return Err(Error::InvalidParam("the same port is asked twice"));
            }
        }
        if self.check.is_zero() {
            return Err(Error::InvalidParam("the check interval must not be zero"));
        }
        if u32::try_from(self.lease.as_secs()).is_err() {
            return Err(Error::InvalidDuration(
                i64::try_from(self.lease.as_secs()).unwrap_or(i64::MAX),
            ));
        }
        Ok(())
    }
}

/// A gateway found: what the keeper needs to know of it, whatever the way to map.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gateway {
    /// Its external address, when it reported one.
    pub external_ip: Option<IpAddr>,
    /// Our own address on the path to it: what mappings point at.
    pub our_addr: IpAddr,
    /// It can choose a free external port itself (IGDv2's `AddAnyPortMapping`).
    pub any_port: bool,
    /// What to call it in events (its description URL for UPnP).
    pub name: String,
    /// Where it opens IPv6 pinholes, the address they let in to; `None`: it opens none.
    pub pinhole_addr: Option<Ipv6Addr>,
    /// The way it maps.
    pub method: Method,
}

impl Gateway {
    /// A gateway with this external address, reached from `our_addr`.
    pub fn new(external_ip: Option<IpAddr>, our_addr: IpAddr) -> Gateway {
        Gateway {
            external_ip,
            our_addr,
            any_port: false,
            name: String::new(),
            pinhole_addr: None,
            method: Method::Upnp,
        }
    }

    /// Set [`Gateway::method`].
    pub fn method(mut self, method: Method) -> Gateway {
        self.method = method;
        self
    }

    /// Set [`Gateway::any_port`].
    pub fn any_port(mut self, any_port: bool) -> Gateway {
        self.any_port = any_port;
        self
    }

    /// Set [`Gateway::pinhole_addr`].
    pub fn pinholes(mut self, addr: Option<Ipv6Addr>) -> Gateway {
        self.pinhole_addr = addr;
        self
    }

    /// Set [`Gateway::name`].
    pub fn name(mut self, name: impl Into<String>) -> Gateway {
        self.name = name.into();
        self
    }
}

/// Which slot (port) a task is about: an index into [`Keep::ports`].
pub type Slot = usize;

/// A request to map one port, as the keeper makes it.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapTask {
    /// Which port of [`Keep::ports`].
    pub slot: Slot,
    /// The protocol.
    pub protocol: Protocol,
    /// The external port to map.
    pub external_port: u16,
    /// The internal port.
    pub internal_port: u16,
    /// Our address, which the mapping points at.
    pub internal_client: IpAddr,
    /// The lease to ask for; zero is permanent.
    pub lease: Duration,
    /// The description.
    pub description: String,
    /// Let the gateway choose another external port when this one is taken (IGDv2's
    /// `AddAnyPortMapping`); else the exact port, never replacing another client's mapping.
    pub any_port: bool,
}

/// What the keeper asks its driver (through a way to map) to do next.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Task {
    /// Find a gateway (discover, or probe the one the caller named); answer
    /// [`Outcome::Gateway`].
    FindGateway,
    /// Our own address on the path to the gateway; answer [`Outcome::LocalAddress`].
    LocalAddress,
    /// The gateway's external address; answer [`Outcome::ExternalIp`].
    ExternalIp,
    /// Map (or renew) a port; answer [`Outcome::Mapped`].
    Map(MapTask),
    /// Whether a mapping is still there and whom it points at; answer [`Outcome::Looked`].
    Look {
        /// Which port.
        slot: Slot,
        /// The protocol.
        protocol: Protocol,
        /// The external port.
        external_port: u16,
    },
    /// Remove a mapping, only if it points at `internal_client`:`internal_port`; answer
    /// [`Outcome::Unmapped`].
    Unmap {
        /// Which port.
        slot: Slot,
        /// The protocol.
        protocol: Protocol,
        /// The external port.
        external_port: u16,
        /// Whom it must point at to be removed.
        internal_client: IpAddr,
        /// On which port.
        internal_port: u16,
    },
    /// Open an IPv6 pinhole (or extend the one already there: gateways give its ID again);
    /// answer [`Outcome::PinholeOpened`].
    OpenPinhole {
        /// Which port.
        slot: Slot,
        /// The protocol.
        protocol: Protocol,
        /// Our port.
        internal_port: u16,
        /// Our global address.
        client: Ipv6Addr,
        /// For how long (1 s to 1 day).
        lease: Duration,
    },
    /// Extend a pinhole's lease (also how the keeper learns it is still there); answer
    /// [`Outcome::PinholeRenewed`].
    RenewPinhole {
        /// Which port.
        slot: Slot,
        /// The gateway's ID of the pinhole.
        unique_id: u16,
        /// For how long from now.
        lease: Duration,
    },
    /// Close a pinhole; answer [`Outcome::PinholeClosed`].
    ClosePinhole {
        /// Which port.
        slot: Slot,
        /// The gateway's ID of the pinhole.
        unique_id: u16,
    },
}

impl Task {
    /// Its outcome when it fails with `error` before or instead of its exchanges (a way to
    /// map that cannot start it).
    pub fn failed(&self, error: Error) -> Outcome {
        match self {
            Task::FindGateway => Outcome::Gateway(Err(error)),
            Task::LocalAddress => Outcome::LocalAddress(None),
            Task::ExternalIp => Outcome::ExternalIp(Err(error)),
            Task::Map(map) => Outcome::Mapped(map.slot, Err(error)),
            Task::Look { slot, .. } => Outcome::Looked(*slot, Err(error)),
            Task::Unmap { slot, .. } => Outcome::Unmapped(*slot, Err(error)),
            Task::OpenPinhole { slot, .. } => Outcome::PinholeOpened(*slot, Err(error)),
            Task::RenewPinhole { slot, .. } => Outcome::PinholeRenewed(*slot, Err(error)),
            Task::ClosePinhole { slot, .. } => Outcome::PinholeClosed(*slot, Err(error)),
        }
    }
}

/// A mapping as the gateway granted or shows it.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The external port granted.
    pub external_port: u16,
    /// The lease granted (what the gateway showed back, else what was asked); zero is
    /// permanent.
    pub lease: Duration,
    /// Whether the gateway showed the mapping back.
    pub confirmed: bool,
}

/// A mapping as a lookup shows it.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// Whom it points at, as the gateway says it (`None`: not an address).
    pub internal_client: Option<IpAddr>,
    /// The internal port.
    pub internal_port: u16,
    /// The lease left; zero is permanent.
    pub lease: Duration,
}

/// How a task ended: what the driver feeds back to [`Keeper::handle`].
#[non_exhaustive]
#[derive(Debug)]
pub enum Outcome {
    /// A gateway, or why none.
    Gateway(Result<Gateway, Error>),
    /// Our local address towards the gateway (`None`: no route any more).
    LocalAddress(Option<IpAddr>),
    /// The external address.
    ExternalIp(Result<IpAddr, Error>),
    /// The mapping of a slot.
    Mapped(Slot, Result<Grant, Error>),
    /// The lookup of a slot's mapping: `Ok(None)` when there is none.
    Looked(Slot, Result<Option<Seen>, Error>),
    /// The removal of a slot's mapping (`Ok` also when there was nothing to remove).
    Unmapped(Slot, Result<(), Error>),
    /// A slot's pinhole opened: its ID.
    PinholeOpened(Slot, Result<u16, Error>),
    /// A slot's pinhole renewed (an error: it may be gone).
    PinholeRenewed(Slot, Result<(), Error>),
    /// A slot's pinhole closed.
    PinholeClosed(Slot, Result<(), Error>),
}

/// The next thing a driver does for the keeper.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Run this task and feed its outcome to [`Keeper::handle`].
    Run(Task),
    /// Nothing to do until then (or until [`Keeper::stop`]).
    Wait(Instant),
    /// Stopped: every mapping made is removed (or the stop's time is up).
    Done,
}

/// Why a mapping was lost.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LostReason {
    /// The gateway no longer has it (a reboot, a lease it let lapse).
    Gone,
    /// It now points at another client (or somewhere else on this host).
    TakenBy {
        /// Whom it points at, as the gateway says it.
        internal_client: Option<IpAddr>,
        /// On which port.
        internal_port: u16,
    },
    /// Our own address changed: the mapping pointed at the old one.
    LocalAddressChanged {
        /// The address it pointed at.
        old: IpAddr,
        /// Ours now.
        new: IpAddr,
    },
}

impl fmt::Display for LostReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LostReason::Gone => f.write_str("the gateway no longer has it"),
            LostReason::TakenBy {
                internal_client: Some(client),
                internal_port,
            } => write!(f, "it now points at {client}:{internal_port}"),
            LostReason::TakenBy { internal_port, .. } => {
                write!(f, "it now points elsewhere (port {internal_port})")
            }
            LostReason::LocalAddressChanged { old, new } => {
                write!(f, "our address changed from {old} to {new}")
            }
        }
    }
}

/// A port held: what [`Event::Mapped`], [`Event::Renewed`] and [`Event::Remapped`] report.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    /// The port asked for.
    pub port: PortSpec,
    /// The external port obtained (may differ from the one asked for after a conflict).
    pub external_port: u16,
    /// The gateway's external address, when known.
    pub external_ip: Option<IpAddr>,
    /// Our address, which it points at.
    pub internal_client: IpAddr,
    /// The lease granted; zero is permanent.
    pub lease: Duration,
    /// Whether the gateway showed the mapping back.
    pub confirmed: bool,
    /// The way it was mapped.
    pub method: Method,
}

/// Every change the keeper makes or sees.
#[non_exhaustive]
#[derive(Debug)]
pub enum Event {
    /// A port is mapped for the first time.
    Mapped(Held),
    /// A mapping is renewed before its lease ended.
    Renewed(Held),
    /// A mapping is gone or points elsewhere; the keeper maps it again.
    Lost {
        /// The port.
        port: PortSpec,
        /// The external port it had.
        external_port: u16,
        /// Why.
        reason: LostReason,
    },
    /// A port lost (or moved to another external port) is mapped again.
    Remapped(Held),
    /// The gateway's external address changed (or became known after being unknown).
    ExternalIpChanged {
        /// The one known before.
        old: Option<IpAddr>,
        /// The new one.
        new: IpAddr,
    },
    /// Something failed; the keeper tries again in `retry_in` (unless stopping).
    Failed {
        /// The port, when the failure is about one.
        port: Option<PortSpec>,
        /// What failed.
        error: Error,
        /// When it tries again.
        retry_in: Duration,
    },
    /// A mapping is removed (at stop, or an old one after a move).
    Removed {
        /// The port.
        port: PortSpec,
        /// The external port removed.
        external_port: u16,
    },
    /// An IPv6 pinhole is open to a port (the first time, or again after it was lost).
    PinholeOpened(HeldPinhole),
    /// A pinhole's lease is extended (at about half of it; it is also checked at every
    /// [`Keep::check`], silently).
    PinholeRenewed(HeldPinhole),
    /// A pinhole is gone (the gateway no longer has it) or pointed at our old address; the
    /// keeper opens it again.
    PinholeLost {
        /// The port.
        port: PortSpec,
        /// The gateway's ID it had.
        unique_id: u16,
        /// Why.
        reason: LostReason,
    },
    /// A pinhole is closed (at stop, or an old one after our address changed).
    PinholeClosed {
        /// The port.
        port: PortSpec,
        /// The gateway's ID it had.
        unique_id: u16,
    },
    /// Stopping is over; `left` mappings (and pinholes) could not be removed in time (the
    /// router drops them when their lease ends).
    Stopped {
        /// Mappings not removed.
        left: usize,
    },
}

/// A pinhole held: what [`Event::PinholeOpened`] and [`Event::PinholeRenewed`] report.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldPinhole {
    /// The port.
    pub port: PortSpec,
    /// The gateway's ID of it.
    pub unique_id: u16,
    /// Our global address, which it lets in to.
    pub client: Ipv6Addr,
    /// Its lease.
    pub lease: Duration,
}

impl fmt::Display for HeldPinhole {
    /// `UDP 7777 to [2001:db8::10]:7777 (id 3), lease 3600 s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} to {} (id {}), lease {} s",
            self.port.protocol,
            self.port.internal_port,
            std::net::SocketAddrV6::new(self.client, self.port.internal_port, 0, 0),
            self.unique_id,
            self.lease.as_secs()
        )
    }
}

impl fmt::Display for Held {
    /// `UDP 7777 -> 11.0.0.7:7777 for 192.168.1.10, lease 3600 s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ", self.port.protocol, self.port.internal_port)?;
        match self.external_ip {
            Some(ip) => write!(
                f,
                "as {}",
                std::net::SocketAddr::new(ip, self.external_port)
            )?,
            None => write!(f, "as external port {}", self.external_port)?,
        }
        write!(
            f,
            " for {}:{}",
            self.internal_client, self.port.internal_port
        )?;
        match self.lease.as_secs() {
            0 => f.write_str(", permanent")?,
            s => write!(f, ", lease {s} s")?,
        }
        if !self.confirmed {
            f.write_str(" (not confirmed: the router did not show it back)")?;
        }
        Ok(())
    }
}

impl fmt::Display for Event {
    /// One line, e.g. `mapped UDP 7777 as 11.0.0.7:7777 for 192.168.1.10:7777, lease 3600 s`.
    /// Text from the network is escaped (errors escape their own).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Mapped(held) => write!(f, "mapped {held}"),
            Event::Renewed(held) => write!(f, "renewed {held}"),
            Event::Remapped(held) => write!(f, "remapped {held}"),
            Event::Lost {
                port,
                external_port,
                reason,
            } => write!(f, "lost {}: {reason}", Moved(port, *external_port)),
            Event::ExternalIpChanged {
                old: Some(old),
                new,
            } => {
                write!(f, "external address changed from {old} to {new}")
            }
            Event::ExternalIpChanged { old: None, new } => {
                write!(f, "external address is {new}")
            }
            Event::Failed {
                port,
                error,
                retry_in,
            } => {
                f.write_str("failed")?;
                if let Some(port) = port {
                    write!(f, " {port}")?;
                }
                write!(f, ": {error}")?;
                if !retry_in.is_zero() {
                    write!(f, " (retrying in {} ms)", retry_in.as_millis())?;
                }
                Ok(())
            }
            Event::Removed {
                port,
                external_port,
            } => write!(f, "removed {}", Moved(port, *external_port)),
            Event::PinholeOpened(held) => write!(f, "pinhole opened {held}"),
            Event::PinholeRenewed(held) => write!(f, "pinhole renewed {held}"),
            Event::PinholeLost {
                port,
                unique_id,
                reason,
            } => write!(
                f,
                "pinhole lost {} {} (id {unique_id}): {reason}",
                port.protocol, port.internal_port
            ),
            Event::PinholeClosed { port, unique_id } => write!(
                f,
                "pinhole closed {} {} (id {unique_id})",
                port.protocol, port.internal_port
            ),
            Event::Stopped { left: 0 } => f.write_str("stopped: every mapping removed"),
            Event::Stopped { left } => write!(
                f,
                "stopped: {left} mapping(s) could not be removed (their lease ends them)"
            ),
        }
    }
}

/// A port and the external port it had, said once when they agree.
struct Moved<'a>(&'a PortSpec, u16);

impl fmt::Display for Moved<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Moved(port, external) = *self;
        write!(f, "{} {}", port.protocol, port.internal_port)?;
        if external != port.internal_port {
            write!(f, " (external {external})")?;
        }
        Ok(())
    }
}

/// One port's state, as [`Status`] shows it.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortStatus {
    /// The port asked for.
    pub port: PortSpec,
    /// The mapping held now, if any.
    pub held: Option<Held>,
    /// The IPv6 pinhole held now, if any.
    pub pinhole: Option<HeldPinhole>,
    /// Failures in a row.
    pub failures: u32,
}

/// The keeper's state at a glance.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// The gateway's name, when one is found.
    pub gateway: Option<String>,
    /// The external address, when known.
    pub external_ip: Option<IpAddr>,
    /// Each port.
    pub ports: Vec<PortStatus>,
    /// Stopping or stopped.
    pub stopping: bool,
    /// The way the gateway in use maps, when one is found.
    pub method: Option<Method>,
    /// The UPnP gateway in use, as probed (what a later start can check with one exchange:
    /// `Upnp::revalidate`); `None` with another way or none.
    pub device: Option<crate::Device>,
}

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
pub struct Keeper {
    keep: Keep,
    gateway: Option<Gateway>,
    /// Failures finding a gateway in a row, and when to try again.
    gateway_failures: u32,
    gateway_due: Option<Instant>,
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

impl Keeper {
    /// A keeper for `keep`. Call [`Keep::validate`] first: ports it would refuse are kept
    /// as given.
    pub fn new(keep: Keep) -> Keeper {
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
    pub fn keep(&self) -> &Keep {
        &self.keep
    }

    /// The gateway in use, if any.
    pub fn gateway(&self) -> Option<&Gateway> {
        self.gateway.as_ref()
    }

    /// The state now.
    pub fn status(&self) -> Status {
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
        }
    }

    /// The next event, oldest first.
    pub fn next_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn emit(&mut self, event: Event) {
        event!(event = ?event, "keeper");
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    /// Hand the state now to `status` and then every event to `send` (oldest first): what
    /// each driver does after each step, for its handle. The state goes first, so that a
    /// reader woken by an event already reads the state that event announces.
    pub fn publish(&mut self, mut send: impl FnMut(Event), status: &Mutex<Status>) {
        *status.lock().unwrap_or_else(PoisonError::into_inner) = self.status();
        while let Some(event) = self.next_event() {
            send(event);
        }
    }

    /// The gateway says it lost its state (PCP's or NAT-PMP's epoch went back: it
    /// restarted): every mapping held is [`Event::Lost`] ([`LostReason::Gone`]) and made
    /// again at once. Nothing while stopping.
    pub fn gateway_restarted(&mut self) {
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
                reason: LostReason::Gone,
            });
        }
    }

    /// Run a check round now (the gateway announced a change), unless stopping or
    /// without a gateway.
    pub fn check_now(&mut self, now: Instant) {
        if self.stop.is_none() && self.gateway.is_some() {
            self.next_check = Some(now);
        }
    }

    /// Stop: from now on, only remove what was mapped, within [`Keep::stop_within`].
    /// Mappings are removed only where they still point at us.
    pub fn stop(&mut self, now: Instant) {
        if self.stop.is_some() {
            return;
        }
        let mut queue = VecDeque::new();
        for (slot, port) in self.ports.iter().enumerate() {
            let mut ours: Vec<(u16, IpAddr)> = Vec::new();
            if let Some(held) = &port.held {
                ours.push((held.external_port, held.internal_client));
            }
            ours.extend(port.maybe.iter().copied());
            ours.extend(port.stale);
            if let Some((external, client)) = self.running_map(slot) {
                ours.push((external, client));
            }
            let mut seen = Vec::new();
            for (external, client) in ours {
                if !seen.contains(&(external, client)) {
                    seen.push((external, client));
                    queue.push_back(StopItem::Unmap(slot, external, client));
                }
            }
            let pinholes = port.pinhole.as_ref().map(|p| p.held.unique_id);
            for unique_id in pinholes.into_iter().chain(port.stale_pinhole) {
                queue.push_back(StopItem::Close(slot, unique_id));
            }
        }
        self.stop = Some(Stop {
            deadline: later(now, self.keep.stop_within),
            left: queue.len(),
            queue,
            done: false,
        });
    }

    /// A map task in flight for `slot`: it may succeed after we stop.
    fn running_map(&self, slot: Slot) -> Option<(u16, IpAddr)> {
        match &self.running {
            Some(Task::Map(task)) if task.slot == slot => {
                Some((task.external_port, task.internal_client))
            }
            _ => None,
        }
    }

    /// The next step. Call it again after each [`Keeper::handle`], and when a
    /// [`Step::Wait`] ends.
    pub fn poll(&mut self, now: Instant) -> Step {
        if self.running.is_some() {
            // The driver runs one task at a time; this is a driver's mistake, not the network's.
            return Step::Wait(later(now, Duration::from_millis(10)));
        }
        if self.stop.is_some() {
            return self.poll_stop(now);
        }
        let Some(gateway) = &self.gateway else {
            if let Some(due) = self.gateway_due.filter(|due| *due > now) {
                return Step::Wait(due);
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
        let mut wake = self.next_check;
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
            if let Some(task) = self.pinhole_task(slot, now, &mut wake) {
                return self.run_at(now, task);
            }
            let Some(port) = self.ports.get(slot) else {
                continue;
            };
            let renew = port.renew_at.is_some_and(|at| at <= now);
            if port.due.is_some_and(|due| due > now) && !renew {
                wake = earliest(wake, port.due);
                wake = earliest(wake, port.renew_at);
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
        match wake {
            Some(at) => Step::Wait(at),
            // Nothing held and nothing due: wait for the next check.
            None => Step::Wait(later(now, self.keep.check)),
        }
    }

    fn poll_stop(&mut self, now: Instant) -> Step {
        let Some(stop) = &mut self.stop else {
            return Step::Done;
        };
        if stop.done {
            return Step::Done;
        }
        let expired = now >= stop.deadline;
        let next = if expired {
            None
        } else {
            stop.queue.pop_front()
        };
        match next {
            Some(StopItem::Unmap(slot, external_port, internal_client)) => {
                match self.ports.get(slot) {
                    Some(port) => {
                        let (protocol, internal_port) =
                            (port.spec.protocol, port.spec.internal_port);
                        self.run_at(
                            now,
                            Task::Unmap {
                                slot,
                                protocol,
                                external_port,
                                internal_client,
                                internal_port,
                            },
                        )
                    }
                    None => self.poll_stop(now),
                }
            }
            Some(StopItem::Close(slot, unique_id)) => {
                self.run_at(now, Task::ClosePinhole { slot, unique_id })
            }
            None => {
                stop.done = true;
                let left = stop.left;
                self.emit(Event::Stopped { left });
                Step::Done
            }
        }
    }

    fn run_at(&mut self, now: Instant, task: Task) -> Step {
        event!(task = ?task, "keeper task");
        self.running = Some(task.clone());
        self.running_since = Some(now);
        Step::Run(task)
    }

    /// The deadline by which stopping must be over, once stopping.
    pub fn stop_deadline(&self) -> Option<Instant> {
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
    pub fn handle(&mut self, outcome: Outcome, now: Instant) {
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

    fn pinhole_closed_at_stop(&mut self, slot: Slot, unique_id: u16, result: &Result<(), Error>) {
        let gone = match result {
            Ok(()) => true,
            Err(e) => is_pinhole_absent(e),
        };
        if gone {
            if let Some(stop) = &mut self.stop {
                stop.left = stop.left.saturating_sub(1);
            }
        }
        let spec = self.ports.get_mut(slot).map(|port| {
            if port
                .pinhole
                .as_ref()
                .is_some_and(|p| p.held.unique_id == unique_id)
            {
                port.pinhole = None;
            }
            port.spec
        });
        match (spec, result) {
            (Some(port), Ok(())) => self.emit(Event::PinholeClosed { port, unique_id }),
            (port, Err(error)) if !gone => self.emit(Event::Failed {
                port,
                error: pinhole_error(error),
                retry_in: Duration::ZERO,
            }),
            _ => {}
        }
    }

    fn pinhole_opened(&mut self, task: Option<Task>, result: Result<u16, Error>, now: Instant) {
        let Some(Task::OpenPinhole {
            slot,
            client,
            lease,
            ..
        }) = task
        else {
            return;
        };
        let check = self.keep.check;
        let retry = |failures: u32| self.backoff(failures);
        let Some(port) = self.ports.get(slot) else {
            return;
        };
        let retry_in = retry(port.pinhole_failures);
        match result {
            Ok(unique_id) => {
                let held = HeldPinhole {
                    port: port.spec,
                    unique_id,
                    client,
                    lease,
                };
                if let Some(port) = self.ports.get_mut(slot) {
                    port.pinhole = Some(PinholeState {
                        held: held.clone(),
                        renew_at: later(now, check.min(lease / 2)),
                        announce_at: later(now, lease / 2),
                    });
                    port.pinhole_failures = 0;
                    port.pinhole_due = None;
                }
                self.emit(Event::PinholeOpened(held));
            }
            Err(e) if e.is_unreachable() => self.unreachable(Some(slot), e, now),
            Err(error) => {
                let spec = port.spec;
                if let Some(port) = self.ports.get_mut(slot) {
                    port.pinhole_failures = port.pinhole_failures.saturating_add(1);
                    port.pinhole_due = Some(later(now, retry_in));
                }
                self.emit(Event::Failed {
                    port: Some(spec),
                    error,
                    retry_in,
                });
            }
        }
    }

    fn pinhole_renewed(&mut self, slot: Slot, result: Result<(), Error>, now: Instant) {
        let check = self.keep.check;
        let Some(port) = self.ports.get_mut(slot) else {
            return;
        };
        let Some(state) = port.pinhole.as_mut() else {
            return;
        };
        let lease = state.held.lease;
        match result {
            Ok(()) => {
                state.renew_at = later(now, check.min(lease / 2));
                if state.announce_at <= now {
                    state.announce_at = later(now, lease / 2);
                    let held = state.held.clone();
                    self.emit(Event::PinholeRenewed(held));
                }
            }
            Err(e) if e.is_unreachable() => self.unreachable(Some(slot), e, now),
            // Refused: the gateway no longer has it (a restart; miniupnpd says 704, or 402
            // for an ID it does not know): open it again now.
            Err(_) => {
                let (spec, unique_id) = (port.spec, state.held.unique_id);
                port.pinhole = None;
                port.pinhole_due = None;
                self.emit(Event::PinholeLost {
                    port: spec,
                    unique_id,
                    reason: LostReason::Gone,
                });
            }
        }
    }

    /// An old pinhole (to our previous address) closed, or not.
    fn stale_pinhole_closed(&mut self, slot: Slot, result: Result<(), Error>, now: Instant) {
        let Some(port) = self.ports.get_mut(slot) else {
            return;
        };
        let (spec, stale) = (port.spec, port.stale_pinhole.take());
        match result {
            Ok(()) => {
                if let Some(unique_id) = stale {
                    self.emit(Event::PinholeClosed {
                        port: spec,
                        unique_id,
                    });
                }
            }
            Err(e) if e.is_unreachable() => {
                port.stale_pinhole = stale;
                self.unreachable(Some(slot), e, now);
            }
            // Not there, or not ours to close: nothing left of ours.
            Err(_) => {}
        }
    }

    /// What to do next about `slot`'s pinhole, if anything now; else when (into `wake`).
    fn pinhole_task(&self, slot: Slot, now: Instant, wake: &mut Option<Instant>) -> Option<Task> {
        if !self.keep.pinholes {
            return None;
        }
        let port = self.ports.get(slot)?;
        if let Some(unique_id) = port.stale_pinhole {
            return Some(Task::ClosePinhole { slot, unique_id });
        }
        let client = self.gateway.as_ref()?.pinhole_addr?;
        match &port.pinhole {
            Some(state) if state.renew_at <= now => Some(Task::RenewPinhole {
                slot,
                unique_id: state.held.unique_id,
                lease: state.held.lease,
            }),
            Some(state) => {
                *wake = earliest(*wake, Some(state.renew_at));
                None
            }
            None => match port.pinhole_due {
                Some(due) if due > now => {
                    *wake = earliest(*wake, Some(due));
                    None
                }
                _ => Some(Task::OpenPinhole {
                    slot,
                    protocol: port.spec.protocol,
                    internal_port: port.spec.internal_port,
                    client,
                    lease: self.keep.pinhole_lease(),
                }),
            },
        }
    }

    /// The gateway's pinhole address is now `new`: pinholes to another address are closed
    /// and opened again.
    fn pinhole_address_is(&mut self, new: Option<Ipv6Addr>) {
        let mut lost = Vec::new();
        for port in &mut self.ports {
            if let Some(state) = &port.pinhole {
                if Some(state.held.client) != new {
                    let (unique_id, old) = (state.held.unique_id, state.held.client);
                    port.stale_pinhole = Some(unique_id);
                    port.pinhole = None;
                    port.pinhole_due = None;
                    lost.push((port.spec, unique_id, old));
                }
            }
        }
        for (spec, unique_id, old) in lost {
            let reason = match new {
                Some(new) => LostReason::LocalAddressChanged {
                    old: IpAddr::V6(old),
                    new: IpAddr::V6(new),
                },
                None => LostReason::Gone,
            };
            self.emit(Event::PinholeLost {
                port: spec,
                unique_id,
                reason,
            });
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

    fn handle_stopping(&mut self, task: Option<Task>, outcome: Outcome) {
        if let (Some(Task::ClosePinhole { slot, unique_id }), Outcome::PinholeClosed(_, result)) =
            (&task, &outcome)
        {
            self.pinhole_closed_at_stop(*slot, *unique_id, result);
            return;
        }
        // A pinhole opened as the stop began is ours to close too.
        if let (Some(Task::OpenPinhole { slot, .. }), Outcome::PinholeOpened(_, Ok(unique_id))) =
            (&task, &outcome)
        {
            if let Some(stop) = &mut self.stop {
                stop.queue.push_back(StopItem::Close(*slot, *unique_id));
                stop.left = stop.left.saturating_add(1);
            }
            return;
        }
        let (
            Some(Task::Unmap {
                slot,
                external_port,
                ..
            }),
            Outcome::Unmapped(_, result),
        ) = (task, outcome)
        else {
            return;
        };
        let spec = self.ports.get(slot).map(|p| p.spec);
        let gone = match &result {
            Ok(()) => true,
            // Not there any more, or not ours: nothing of ours is left behind.
            Err(e) => e.is_absent() || matches!(e, Error::MappingTaken { .. }),
        };
        if gone {
            if let Some(stop) = &mut self.stop {
                stop.left = stop.left.saturating_sub(1);
            }
        }
        if let Some(port) = self.ports.get_mut(slot) {
            if port
                .held
                .as_ref()
                .is_some_and(|h| h.external_port == external_port)
            {
                port.held = None;
            }
        }
        match (spec, result) {
            (Some(port), Ok(())) => self.emit(Event::Removed {
                port,
                external_port,
            }),
            // Stopping is bounded: a removal that fails is not retried; the lease ends it.
            (port, Err(error)) if !gone => self.emit(Event::Failed {
                port,
                error,
                retry_in: Duration::ZERO,
            }),
            _ => {}
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
                    self.gateway_restarted();
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
                // A gateway found again (it may have rebooted): look at every mapping now.
                for port in &mut self.ports {
                    port.due = None;
                }
                self.next_check = Some(later(now, self.keep.check));
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
        // Look at every mapping after the address.
        for port in &mut self.ports {
            if port.held.is_some() {
                port.due = None;
            }
        }
        self.next_check = Some(later(now, self.keep.check));
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
        let renew_policy = |lease: Duration| (!lease.is_zero()).then(|| later(now, lease / 2));
        let check = self.keep.check;
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
                if error.is_conflict() && !self.keep.exact {
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
        let check = self.keep.check;
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
            Ok(None) => LostReason::Gone,
            Err(error) if error.is_absent() => LostReason::Gone,
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

/// The gateway says there is no such pinhole.
fn is_pinhole_absent(error: &Error) -> bool {
    matches!(
        error,
        Error::FirewallRefused {
            error: upnp_soap::firewall::FirewallError::NoSuchEntry,
            ..
        }
    )
}

/// An error to report again (errors are not `Clone`: the fault's text is kept in words).
fn pinhole_error(error: &Error) -> Error {
    match error {
        Error::FirewallRefused { error, fault } => Error::FirewallRefused {
            error: *error,
            fault: fault.clone(),
        },
        _ => Error::InvalidResponse("the pinhole could not be closed"),
    }
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
