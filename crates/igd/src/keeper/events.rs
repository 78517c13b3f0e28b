//! What a keeper tells: its [`Event`]s, each printable on one line, and its [`Status`]. No
//! I/O.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use super::PortSpec;
use crate::error::{Error, IgdStatus};
use crate::pmp::Method;

/// Why a mapping was lost.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LostReason {
    /// The gateway no longer has it (a reboot, a lease it let lapse).
    Gone,
    /// The gateway restarted, as it said (a new boot id in its SSDP notifications, a PCP or
    /// NAT-PMP epoch that went back), and no longer has it.
    Restarted,
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
            LostReason::Restarted => f.write_str("the gateway restarted (it said so)"),
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
    /// Through UPnP, the gateway's status: [`IgdStatus::Ok`], or the reason it is not valid
    /// when it was used all the same ([`Device::is_usable`](crate::Device::is_usable): its
    /// connection says it is not connected, or its status is unknown). `None` through PCP or
    /// NAT-PMP.
    pub gateway_status: Option<IgdStatus>,
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
    /// [`Keep::check`](crate::keeper::Keep::check), silently).
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
    /// What the gateway says of itself (UPnP's SSDP notifications, PCP/NAT-PMP's
    /// announcements) cannot be heard: another program holds the port (Windows' SSDP
    /// service), or the interface takes no multicast. Said once; nothing fails: the gateway
    /// is checked every `check` as if it never spoke.
    NotHearing {
        /// Why.
        error: Error,
        /// The check interval used instead ([`Keep::check`](crate::keeper::Keep::check)).
        check: Duration,
    },
    /// What the keeper of the router in front of the gateway did or saw
    /// ([`Keep::upstream`](crate::keeper::Keep::upstream)): its mappings forward the
    /// gateway's external ports to the gateway's external address.
    InFront(Box<Event>),
    /// The gateway's external address is private and no router in front of it could be
    /// used: another NAT that nothing is mapped through (the ports are not reachable from
    /// the Internet). Said once for each search; looked for again later.
    NothingInFront {
        /// The addresses asked.
        asked: Vec<IpAddr>,
        /// Why none could be used.
        why: Error,
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
        if let Some(status) = self.gateway_status.filter(|s| *s != IgdStatus::Ok) {
            write!(f, " (the gateway's status is {status}: used all the same)")?;
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
            Event::NotHearing { error, check } => write!(
                f,
                "not hearing the gateway's own news ({error}): checking it every {} s",
                check.as_secs()
            ),
            Event::InFront(event) => write!(f, "in front of the gateway: {event}"),
            Event::NothingInFront { asked, why } => {
                let asked: Vec<String> = asked.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "behind another NAT: no router in front of the gateway could be used \
                     (asked {}): {why}",
                    asked.join(", ")
                )
            }
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
    /// The keeper of the router in front of the gateway, when one holds the ports there too
    /// ([`Keep::upstream`](crate::keeper::Keep::upstream)): its ports' external address and
    /// port are what peers reach.
    pub in_front: Option<Box<Status>>,
}
