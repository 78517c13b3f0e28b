//! What to keep open, and how: [`Keep`], checked before anything is sent. No I/O.

use crate::upstream::Upstream;
use std::fmt;
use std::time::Duration;

use super::Protocol;
use crate::error::Error;
use crate::mapping::DEFAULT_DESCRIPTION;
use crate::pmp::{Target, Via};

/// Ports a keeper holds, at most: what a caller asks is bounded like what the network sends.
pub const MAX_PORTS: usize = 64;

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
    /// The check interval while the UPnP gateway is heard advertising itself (its SSDP
    /// `ssdp:alive` notifications, each holding for its max-age): 300 s, never shorter than
    /// [`Keep::check`]. Such a gateway says when it restarts (a new boot id) or goes away,
    /// and the keeper acts on that within a second; what it does not announce (a mapping
    /// removed by hand, a new external address without a restart) is found within this
    /// long. Once its last advertisement expires (or with notifications blocked, or a router
    /// that sends none), checks are [`Keep::check`] apart again.
    pub quiet_check: Duration,
    /// Demand the exact external ports: a conflict is reported and retried, never worked
    /// around with another port (off).
    pub exact: bool,
    /// Other external ports tried after a conflict, at most (8).
    pub port_attempts: u16,
    /// The first wait after a failure (1 s); it doubles with each failure in a row.
    pub retry: Duration,
    /// The longest wait after failures (60 s).
    pub max_retry: Duration,
    /// How long stopping may take, all unmapping together (5 s); with a router in front
    /// held too ([`Keep::upstream`]), as long again for its mappings, removed first.
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
    /// Where the router in front of a UPnP gateway is looked for
    /// ([`Upstream::WhenPrivate`]: when the gateway's external address is private, at `.1`
    /// and `.254` of its /24). Once every port is held, the same external ports are mapped
    /// there to the gateway's external address and held as the ports are (renewed, checked
    /// every [`Keep::check`], mapped again when lost, removed first at stop), reported as
    /// [`Event::InFront`](crate::keeper::Event::InFront); a router in front that cannot be
    /// found is reported once ([`Event::NothingInFront`](crate::keeper::Event::NothingInFront))
    /// and looked for again every [`Keep::quiet_check`].
    pub upstream: Upstream,
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
            quiet_check: Duration::from_secs(300),
            exact: false,
            port_attempts: 8,
            retry: Duration::from_secs(1),
            max_retry: Duration::from_secs(60),
            stop_within: Duration::from_secs(5),
            description: DEFAULT_DESCRIPTION.to_owned(),
            pinholes: false,
            via: Via::Upnp,
            target: Target::Default,
            upstream: Upstream::WhenPrivate,
        }
    }

    /// Set [`Keep::upstream`].
    pub fn upstream(mut self, upstream: Upstream) -> Keep {
        self.upstream = upstream;
        self
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

    /// Set [`Keep::quiet_check`].
    pub fn quiet_check(mut self, quiet_check: Duration) -> Keep {
        self.quiet_check = quiet_check;
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
    pub(crate) fn pinhole_lease(&self) -> Duration {
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
