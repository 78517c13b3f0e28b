//! The router in front of our gateway: where to look for it, and what happened there.
//!
//! Behind an ISP box in router mode (or a carrier's NAT), our gateway's external address is
//! private, and a mapping on it alone opens nothing: the box in front drops what comes in.
//! When the box is an IGD (or speaks PCP / NAT-PMP) it can be asked too: it is reachable
//! from the LAN through our gateway's NAT, and the requests reach it from our gateway's
//! external address, the address its mapping must point at (a box in secure mode accepts
//! that, as it comes from there). [`Upstream`] says where it is looked for: a handful of
//! addresses, each asked with a unicast M-SEARCH, never a scan. [`Beyond`] is what happened
//! there, beside the mapping on our gateway. No I/O here: the machines are
//! [`crate::ops::AddThroughRun`] and [`crate::ops::DeleteThroughRun`].
//!
//! ```
//! use std::net::IpAddr;
//! use upnp_igd::upstream::Upstream;
//!
//! let private: IpAddr = "192.168.1.10".parse()?;
//! // The usual addresses of an ISP box on that /24, tried in this order.
//! let asked: Vec<IpAddr> = vec!["192.168.1.1".parse()?, "192.168.1.254".parse()?];
//! assert_eq!(Upstream::WhenPrivate.candidates(private), asked);
//! // A public external address: one NAT, nothing in front to ask.
//! assert!(Upstream::WhenPrivate.candidates("11.0.0.7".parse()?).is_empty());
//! // The user knows where the box is.
//! let named: IpAddr = "10.0.0.138".parse()?;
//! assert_eq!(Upstream::At(named).candidates(private), vec![named]);
//! # Ok::<(), std::net::AddrParseError>(())
//! ```
//!
//! Mapping through both (this talks to the network, so it is not run here):
//!
//! ```no_run
//! use upnp_igd::blocking::Upnp;
//! use upnp_igd::upstream::{Beyond, Upstream};
//! use upnp_igd::{DiscoverOptions, MappingRequest};
//!
//! let mut upnp = Upnp::new();
//! let gateway = upnp.find_gateway(&DiscoverOptions::default())?;
//! let through = gateway.add_port_mapping_through(&MappingRequest::new(7777), Upstream::WhenPrivate)?;
//! match (&through.upstream, through.reachable_at()) {
//!     (_, Some(at)) => println!("peers reach us at {at}"),
//!     (Beyond::NotFound { asked, .. }, None) => println!("another NAT in front; asked {asked:?}"),
//!     (Beyond::Failed { router, error }, None) => println!("{} refused: {error}", router.name()),
//!     _ => println!("not reachable from the Internet"),
//! }
//! // Later: in front first, then here.
//! gateway.delete_port_mapping_through(7777, "UDP", Upstream::WhenPrivate)?;
//! # Ok::<(), upnp_igd::Error>(())
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::device::{Device, is_private_or_shared, is_public};
use crate::error::Error;
use crate::mapping::Granted;
use crate::pmp::{Method, PmpGranted};

/// Where to look for the router in front of our gateway.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Upstream {
    /// When our gateway's external address is private or shared (RFC 1918, RFC 6598's
    /// 100.64.0.0/10): at the usual addresses of a router on its /24, `.1` then `.254`
    /// (not our gateway's own). Nothing is sent when the address is public.
    #[default]
    WhenPrivate,
    /// At this address only, whatever our gateway's external address (for a gateway that
    /// reports a public address it learned with STUN while it sits behind another NAT).
    At(IpAddr),
    /// Never: our gateway only.
    Off,
}

impl Upstream {
    /// The addresses to ask, in order, given our gateway's external address: at most two,
    /// none of them `external` itself.
    pub fn candidates(&self, external: IpAddr) -> Vec<IpAddr> {
        match *self {
            Upstream::Off => Vec::new(),
            Upstream::At(ip) if ip == external => Vec::new(),
            Upstream::At(ip) => vec![ip],
            Upstream::WhenPrivate => match external {
                IpAddr::V4(v4) if is_private_or_shared(v4) => {
                    let [a, b, c, _] = v4.octets();
                    [1, 254]
                        .into_iter()
                        .map(|d| IpAddr::V4(Ipv4Addr::new(a, b, c, d)))
                        .filter(|ip| *ip != external)
                        .collect()
                }
                _ => Vec::new(),
            },
        }
    }
}

impl Upstream {
    /// [`Upstream::candidates`] with `hop`, the router found one hop beyond our gateway (a
    /// TTL-limited probe), asked first when it is a private or shared address other than
    /// ours: at most three.
    pub(crate) fn candidates_with_hop(&self, external: IpAddr, hop: Option<IpAddr>) -> Vec<IpAddr> {
        let mut asked = self.candidates(external);
        if let (Upstream::WhenPrivate, Some(IpAddr::V4(v4))) = (self, hop) {
            let usable = is_private_or_shared(v4) && hop != Some(external) && !asked.is_empty();
            if usable {
                asked.retain(|ip| Some(*ip) != hop);
                asked.insert(0, IpAddr::V4(v4));
            }
        }
        asked
    }

    /// Whether a TTL-limited probe is worth sending: looking at the usual addresses anyway.
    pub(crate) fn probes_hop(&self, external: IpAddr) -> bool {
        *self == Upstream::WhenPrivate && !self.candidates(external).is_empty()
    }
}

/// The router in front, as it was reached.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Router {
    /// An IGD: its device, probed (its `igd_our_addr` is our gateway's external address:
    /// what its mappings point at).
    Upnp(Box<Device>),
    /// UPnP off there, a PCP or NAT-PMP server at this address and port answered.
    Pmp {
        /// Its address and port.
        gateway: SocketAddr,
        /// What it speaks.
        method: Method,
    },
}

impl Router {
    /// Its external address, when known (a UPnP router's from its probe).
    pub fn external_address(&self) -> Option<IpAddr> {
        match self {
            Router::Upnp(device) => device.external_address,
            Router::Pmp { .. } => None,
        }
    }

    /// How it is named: its description URL, or `pcp://ADDRESS:PORT` /
    /// `nat-pmp://ADDRESS:PORT`.
    pub fn name(&self) -> String {
        match self {
            Router::Upnp(device) => device.description_url.clone(),
            Router::Pmp { gateway, method } => {
                let scheme = match method {
                    Method::NatPmp => "nat-pmp",
                    _ => "pcp",
                };
                format!("{scheme}://{gateway}")
            }
        }
    }

    /// The way it maps.
    pub fn method(&self) -> Method {
        match self {
            Router::Upnp(_) => Method::Upnp,
            Router::Pmp { method, .. } => *method,
        }
    }
}

/// What the router in front granted: a UPnP mapping, or a PCP / NAT-PMP one.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrontGrant {
    /// Through UPnP.
    Upnp(Granted),
    /// Through PCP or NAT-PMP.
    Pmp(PmpGranted),
}

impl FrontGrant {
    /// The external port granted there.
    pub fn external_port(&self) -> u16 {
        match self {
            FrontGrant::Upnp(granted) => granted.mapping.external_port,
            FrontGrant::Pmp(granted) => granted.external_port,
        }
    }

    /// The external address there, when the grant says it (PCP and NAT-PMP do).
    pub fn external_ip(&self) -> Option<IpAddr> {
        match self {
            FrontGrant::Upnp(_) => None,
            FrontGrant::Pmp(granted) => granted.external_ip,
        }
    }
}

/// What happened in front of our gateway, beside what was done on it.
#[non_exhaustive]
#[derive(Debug)]
pub enum Beyond<T> {
    /// Nothing was looked for: our gateway's external address is public (one NAT), or
    /// [`Upstream::Off`].
    NotAsked,
    /// Our gateway's external address could not be had, so where to look was not known.
    NoAddress(Error),
    /// Looked for and not found: another NAT that we cannot map through (or a router in
    /// front with UPnP off). `why`: no device answered ([`Error::NoDevices`]), or those that
    /// did are no valid gateway ([`Error::NoGateway`]).
    NotFound {
        /// The addresses asked (unicast M-SEARCH to their port 1900, then PCP / NAT-PMP).
        asked: Vec<IpAddr>,
        /// The router found one hop beyond our gateway by a TTL-limited probe (asked first),
        /// when it answered.
        hop: Option<IpAddr>,
        /// Why nothing could be used.
        why: Error,
    },
    /// The router in front did it.
    Done {
        /// The router in front.
        router: Router,
        /// What it gave.
        value: T,
    },
    /// The router in front was found and refused (or failed to answer).
    Failed {
        /// The router in front.
        router: Router,
        /// Why.
        error: Error,
    },
}

impl<T> Beyond<T> {
    /// The router in front, when one was found.
    pub fn router(&self) -> Option<&Router> {
        match self {
            Beyond::Done { router, .. } | Beyond::Failed { router, .. } => Some(router),
            _ => None,
        }
    }

    /// What it gave, when it did.
    pub fn value(&self) -> Option<&T> {
        match self {
            Beyond::Done { value, .. } => Some(value),
            _ => None,
        }
    }
}

impl Beyond<()> {
    /// What a search in front found, a UPnP router made into `T` (a device handle of a
    /// driver; `None` for a PCP or NAT-PMP one); a search that failed is
    /// [`Beyond::NoAddress`].
    #[cfg(any(feature = "blocking", feature = "tokio"))]
    pub(crate) fn found<T>(
        found: Result<Beyond<()>, Error>,
        make: impl FnOnce(Device) -> T,
    ) -> Beyond<Option<T>> {
        match found {
            Ok(Beyond::Done { router, .. }) => {
                let value = match &router {
                    Router::Upnp(device) => Some(make((**device).clone())),
                    Router::Pmp { .. } => None,
                };
                Beyond::Done { router, value }
            }
            Ok(Beyond::NotAsked) => Beyond::NotAsked,
            Ok(Beyond::NoAddress(e)) | Err(e) => Beyond::NoAddress(e),
            Ok(Beyond::NotFound { asked, hop, why }) => Beyond::NotFound { asked, hop, why },
            Ok(Beyond::Failed { router, error }) => Beyond::Failed { router, error },
        }
    }
}

/// A mapping made through our gateway and, when there is one, the router in front of it:
/// what [`crate::ops::AddThroughRun`] gives.
#[non_exhaustive]
#[derive(Debug)]
pub struct Through {
    /// The mapping on our gateway.
    pub inner: Granted,
    /// Our gateway's external address, when it was had.
    pub inner_external: Option<IpAddr>,
    /// The mapping on the router in front: its external port forwards to our gateway's
    /// external address and the port our gateway granted.
    pub upstream: Beyond<FrontGrant>,
}

impl Through {
    /// Where peers reach us: the router in front's external address and port when it
    /// mapped, else our gateway's (reachable only if its address is public).
    pub fn reachable_at(&self) -> Option<std::net::SocketAddr> {
        match &self.upstream {
            Beyond::Done { router, value } => value
                .external_ip()
                .or(router.external_address())
                .map(|ip| (ip, value.external_port()).into()),
            _ => self
                .inner_external
                .filter(|ip| is_public(*ip))
                .map(|ip| (ip, self.inner.mapping.external_port).into()),
        }
    }
}

/// A mapping removed from the router in front (when there is one) and then from our
/// gateway: what [`crate::ops::DeleteThroughRun`] gives.
#[non_exhaustive]
#[derive(Debug)]
pub struct Removed {
    /// What happened in front (removed first).
    pub upstream: Beyond<()>,
}

#[cfg(test)]
mod tests;
