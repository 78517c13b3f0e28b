//! The keeper's vocabulary with its way to map: the [`Task`]s it asks for, the [`Outcome`]s it
//! is told, the [`Gateway`] it holds ports through. Protocol-neutral; no I/O.

use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use super::Protocol;
use crate::error::{Error, IgdStatus};
use crate::pmp::Method;

/// A gateway found: what the keeper needs to know of it, whatever the way to map.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Gateway {
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
    /// A UPnP gateway's status (one that is only usable, e.g. `Disconnected`, is used when
    /// no valid one answered); `None` for PCP and NAT-PMP.
    pub status: Option<IgdStatus>,
}

impl Gateway {
    /// A gateway with this external address, reached from `our_addr`.
    pub(crate) fn new(external_ip: Option<IpAddr>, our_addr: IpAddr) -> Gateway {
        Gateway {
            external_ip,
            our_addr,
            any_port: false,
            name: String::new(),
            pinhole_addr: None,
            method: Method::Upnp,
            status: None,
        }
    }

    /// Set [`Gateway::method`].
    pub(crate) fn method(mut self, method: Method) -> Gateway {
        self.method = method;
        self
    }

    /// Set [`Gateway::status`].
    pub(crate) fn status(mut self, status: IgdStatus) -> Gateway {
        self.status = Some(status);
        self
    }

    /// Set [`Gateway::any_port`].
    pub(crate) fn any_port(mut self, any_port: bool) -> Gateway {
        self.any_port = any_port;
        self
    }

    /// Set [`Gateway::pinhole_addr`].
    pub(crate) fn pinholes(mut self, addr: Option<Ipv6Addr>) -> Gateway {
        self.pinhole_addr = addr;
        self
    }

    /// Set [`Gateway::name`].
    pub(crate) fn name(mut self, name: impl Into<String>) -> Gateway {
        self.name = name.into();
        self
    }
}

/// Which slot (port) a task is about: an index into [`Keep::ports`].
pub(crate) type Slot = usize;

/// A request to map one port, as the keeper makes it.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MapTask {
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
pub(crate) enum Task {
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
    pub(crate) fn failed(&self, error: Error) -> Outcome {
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
pub(crate) struct Grant {
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
pub(crate) struct Seen {
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
pub(crate) enum Outcome {
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
    PinholeOpened(#[allow(dead_code)] Slot, Result<u16, Error>),
    /// A slot's pinhole renewed (an error: it may be gone).
    PinholeRenewed(Slot, Result<(), Error>),
    /// A slot's pinhole closed.
    PinholeClosed(Slot, Result<(), Error>),
}

/// The next thing a driver does for the keeper.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Run this task and feed its outcome to [`Keeper::handle`].
    Run(Task),
    /// Nothing to do until then (or until [`Keeper::stop`]).
    Wait(Instant),
    /// Stopped: every mapping made is removed (or the stop's time is up).
    Done,
}
