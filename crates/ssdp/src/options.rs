//! What a search needs: targets, timing, and where to search from. Pure data, shared by the
//! sans-I/O [`crate::search`] and the sockets of [`crate::net`] (which re-exports it).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use crate::message::{SSDP_PORT, SearchTarget};
use crate::search::default_user_agent;

/// The local port a search socket binds to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LocalPort {
    /// Any free port, chosen by the system (Godot's `discover_local_port = 0`).
    #[default]
    Any,
    /// The SSDP port 1900, shared with other SSDP sockets (Godot's `discover_local_port = 1`,
    /// miniupnpc's `UPNP_LOCAL_PORT_SAME`). Some devices only answer to port 1900.
    Ssdp,
    /// This port.
    Port(u16),
}

impl From<u16> for LocalPort {
    /// Godot's and miniupnpc's numbering: 0 is any port, 1 is the SSDP port, others are
    /// themselves.
    fn from(port: u16) -> Self {
        match port {
            0 => LocalPort::Any,
            1 => LocalPort::Ssdp,
            p => LocalPort::Port(p),
        }
    }
}

impl LocalPort {
    #[cfg_attr(not(feature = "net"), allow(dead_code))]
    pub(crate) fn number(self) -> u16 {
        match self {
            LocalPort::Any => 0,
            LocalPort::Ssdp => SSDP_PORT,
            LocalPort::Port(p) => p,
        }
    }
}

/// The interface multicast searches go out of.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MulticastInterface {
    /// The interface that holds this address.
    Addr(IpAddr),
    /// The interface with this name (`eth0`).
    Name(String),
    /// The interface with this index.
    Index(u32),
}

impl FromStr for MulticastInterface {
    type Err = std::convert::Infallible;

    /// An address if it parses as one, else a name (Godot's `discover_multicast_if`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.parse::<IpAddr>() {
            Ok(addr) => MulticastInterface::Addr(addr),
            Err(_) => MulticastInterface::Name(s.to_owned()),
        })
    }
}

impl fmt::Display for MulticastInterface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MulticastInterface::Addr(a) => a.fmt(f),
            MulticastInterface::Name(n) => f.write_str(n),
            MulticastInterface::Index(i) => write!(f, "#{i}"),
        }
    }
}

/// Which IPv6 multicast group to search (UDA: link-local `FF02::C` or site-local `FF05::C`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Ipv6Scope {
    /// `[FF02::C]:1900`.
    #[default]
    LinkLocal,
    /// `[FF05::C]:1900`.
    SiteLocal,
}

/// The most unicast addresses a search also sends to ([`SearchOptions::also_to`]).
pub const MAX_ALSO_TO: usize = 4;

/// The most interfaces a search sends out of ([`SearchOptions::every_interface`]).
pub const MAX_INTERFACES: usize = 16;

/// Everything a search needs. `Default` gives Godot's `discover()` defaults.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchOptions {
    /// What to search for; one M-SEARCH per target.
    pub targets: Vec<SearchTarget>,
    /// The whole search's duration (Godot: 2000 ms).
    pub timeout: Duration,
    /// Multicast TTL (IPv4) or hop limit (IPv6) (Godot: 2).
    pub ttl: u32,
    /// Search over IPv6 instead of IPv4.
    pub ipv6: bool,
    /// The IPv6 multicast group.
    pub ipv6_scope: Ipv6Scope,
    /// The local port.
    pub local_port: LocalPort,
    /// The interface to search from; `None` lets the routing table choose.
    pub interface: Option<MulticastInterface>,
    /// Send the M-SEARCHes to this address instead of the multicast group: a unicast search
    /// of one known device (UDA 1.1).
    pub destination: Option<SocketAddr>,
    /// Also send every M-SEARCH to these addresses by unicast, beside the group (or the
    /// [`SearchOptions::destination`]): a router that ignores multicast still answers one
    /// sent to it (the default gateway's port 1900). Their answers are judged as any other.
    /// At most [`MAX_ALSO_TO`]; a failed send to one of them does not end the search.
    pub also_to: Vec<SocketAddr>,
    /// With no [`SearchOptions::interface`] named, send each multicast M-SEARCH out of every
    /// interface that is up, not loopback, not point-to-point, with an address of the
    /// search's family (IPv4 not link-local; any IPv6) (at most [`MAX_INTERFACES`]), rather
    /// than only the one the system's multicast route picks (which may be a VPN, Docker or
    /// Hyper-V adapter). Off by default.
    pub every_interface: bool,
    /// How many rounds of M-SEARCHes are sent.
    pub sends: u8,
    /// How many of the targets, the first ones, make up the first round; the others join
    /// the later rounds only while nothing has answered ([`crate::search::SearchRequest::leading`]).
    /// 0 (the default): every target in every round.
    pub leading: usize,
    /// The `MX` header; `None` derives it from the timeout.
    pub mx: Option<u8>,
    /// The `USER-AGENT` header.
    pub user_agent: Option<String>,
}

impl SearchOptions {
    /// Set [`SearchOptions::targets`].
    pub fn targets(mut self, targets: Vec<SearchTarget>) -> Self {
        self.targets = targets;
        self
    }

    /// Set [`SearchOptions::timeout`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Set [`SearchOptions::ttl`].
    pub fn ttl(mut self, ttl: u32) -> Self {
        self.ttl = ttl;
        self
    }

    /// Set [`SearchOptions::ipv6`].
    pub fn ipv6(mut self, ipv6: bool) -> Self {
        self.ipv6 = ipv6;
        self
    }

    /// Set [`SearchOptions::ipv6_scope`].
    pub fn ipv6_scope(mut self, scope: Ipv6Scope) -> Self {
        self.ipv6_scope = scope;
        self
    }

    /// Set [`SearchOptions::local_port`].
    pub fn local_port(mut self, port: LocalPort) -> Self {
        self.local_port = port;
        self
    }

    /// Set [`SearchOptions::interface`].
    pub fn interface(mut self, interface: Option<MulticastInterface>) -> Self {
        self.interface = interface;
        self
    }

    /// Set [`SearchOptions::destination`].
    pub fn destination(mut self, destination: Option<SocketAddr>) -> Self {
        self.destination = destination;
        self
    }

    /// Set [`SearchOptions::also_to`].
    pub fn also_to(mut self, also_to: Vec<SocketAddr>) -> Self {
        self.also_to = also_to;
        self
    }

    /// Set [`SearchOptions::every_interface`].
    pub fn every_interface(mut self, every: bool) -> Self {
        self.every_interface = every;
        self
    }

    /// Set [`SearchOptions::sends`].
    pub fn sends(mut self, sends: u8) -> Self {
        self.sends = sends;
        self
    }

    /// Set [`SearchOptions::leading`].
    pub fn leading(mut self, leading: usize) -> Self {
        self.leading = leading;
        self
    }

    /// Set [`SearchOptions::mx`].
    pub fn mx(mut self, mx: Option<u8>) -> Self {
        self.mx = mx;
        self
    }

    /// Set [`SearchOptions::user_agent`].
    pub fn user_agent(mut self, user_agent: Option<String>) -> Self {
        self.user_agent = user_agent;
        self
    }
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            targets: vec![SearchTarget::device("InternetGatewayDevice", 1)],
            timeout: Duration::from_millis(2000),
            ttl: 2,
            ipv6: false,
            ipv6_scope: Ipv6Scope::LinkLocal,
            local_port: LocalPort::Any,
            interface: None,
            destination: None,
            also_to: Vec::new(),
            every_interface: false,
            sends: 3,
            leading: 0,
            mx: None,
            user_agent: Some(default_user_agent()),
        }
    }
}
