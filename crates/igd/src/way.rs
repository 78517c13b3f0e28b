//! Which way to map: the vocabulary shared by the ways and the errors that name them. No I/O.
//! Its types are re-exported by [`crate::pmp`], which says what each way is and why
//! [`Via::Auto`] prefers UPnP, then PCP, then NAT-PMP.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// Which way a call takes to the gateway.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Via {
    /// Probe every way at once; prefer UPnP, then PCP, then NAT-PMP (see the module docs).
    #[default]
    Auto,
    /// UPnP IGD only.
    Upnp,
    /// PCP only (RFC 6887).
    Pcp,
    /// NAT-PMP only (RFC 6886).
    NatPmp,
}

impl Via {
    /// Whether UPnP is tried.
    pub(crate) fn upnp(self) -> bool {
        matches!(self, Via::Auto | Via::Upnp)
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Via::Auto => "auto",
            Via::Upnp => "upnp",
            Via::Pcp => "pcp",
            Via::NatPmp => "natpmp",
        })
    }
}

/// The way that granted a mapping or gave an address.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// UPnP IGD.
    Upnp,
    /// PCP.
    Pcp,
    /// NAT-PMP.
    NatPmp,
}

impl fmt::Display for Method {
    /// `upnp`, `pcp` or `natpmp`: what the CLI prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Method::Upnp => "upnp",
            Method::Pcp => "pcp",
            Method::NatPmp => "natpmp",
        })
    }
}

/// The PCP or NAT-PMP way, and whether PCP may fall back to NAT-PMP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Way {
    /// PCP; with `fallback`, NAT-PMP when the gateway answers in version 0.
    Pcp {
        /// Fall back to NAT-PMP.
        fallback: bool,
    },
    /// NAT-PMP.
    NatPmp,
}

impl Way {
    /// The way for `via` (`None` for UPnP only).
    pub(crate) fn of(via: Via) -> Option<Way> {
        match via {
            Via::Auto => Some(Way::Pcp { fallback: true }),
            Via::Pcp => Some(Way::Pcp { fallback: false }),
            Via::NatPmp => Some(Way::NatPmp),
            Via::Upnp => None,
        }
    }
}

/// Where a PCP/NAT-PMP client is opened.
///
/// **IPv6.** Over IPv6 there is no NAT: a PCP MAP sent to the gateway's IPv6 address opens a
/// pinhole in its firewall to our global IPv6 address (the grant's external address is that
/// address, the external port the internal one). The client then sends from our global
/// address (a PCP request names its source as the mapping's client; towards a link-local
/// gateway the system would pick our link-local one). NAT-PMP is IPv4 only, so an IPv6
/// client speaks PCP without falling back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Target {
    /// The default gateway (the IPv4 one; the IPv6 one on a host without an IPv4 route).
    #[default]
    Default,
    /// The IPv6 default gateway (reached on its interface when it is link-local): PCP for
    /// IPv6 pinholes.
    DefaultV6,
    /// The gateway at this address and port.
    At(SocketAddr),
}

impl Target {
    /// The gateway at `address`, on PCP's port 5351.
    pub(crate) fn gateway(address: IpAddr) -> Target {
        Target::At(SocketAddr::new(address, pcp_natpmp::SERVER_PORT))
    }

    /// The gateway named, or the default one (the IPv6 one with `ipv6`).
    pub fn named_or_default(gateway: Option<IpAddr>, ipv6: bool) -> Target {
        match (gateway, ipv6) {
            (Some(address), _) => Target::gateway(address),
            (None, false) => Target::Default,
            (None, true) => Target::DefaultV6,
        }
    }
}

impl From<Option<IpAddr>> for Target {
    /// The gateway named, else the default gateway.
    fn from(gateway: Option<IpAddr>) -> Target {
        Target::named_or_default(gateway, false)
    }
}
