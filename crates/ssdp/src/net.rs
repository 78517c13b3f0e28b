//! The multicast I/O: a blocking searcher over a UDP socket (socket2).
//!
//! [`Searcher`] opens one socket, sends an M-SEARCH per target several times and yields
//! responses as they arrive, until one overall deadline. Stop iterating as soon as you have
//! what you need; dropping the searcher closes the socket.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use crate::error::Error;
use crate::message::{
    IPV4_MULTICAST, IPV6_LINK_LOCAL, IPV6_SITE_LOCAL, MAX_MESSAGE_SIZE, SSDP_PORT,
};
use crate::search::{Search, SearchRequest, default_mx};

pub use crate::options::{Ipv6Scope, LocalPort, MulticastInterface, SearchOptions};
pub use crate::search::Response;

#[cfg(test)]
mod tests;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod tokio;

/// A running search: an iterator of responses that ends at the deadline.
///
/// Each item is a response (first of its LOCATION, ST and USN) or an I/O error of the socket;
/// after an error the search goes on until the deadline.
#[derive(Debug)]
pub struct Searcher {
    socket: UdpSocket,
    destination: SocketAddr,
    also_to: Vec<SocketAddr>,
    /// The interfaces each multicast M-SEARCH goes out of (empty: the system's choice).
    via: Vec<Out>,
    state: Search,
    buf: Box<[u8]>,
}

impl Searcher {
    /// Open the socket and send the first round of M-SEARCHes.
    pub fn start(options: &SearchOptions) -> Result<Self, Error> {
        let (socket, destination, state) = prepare(options)?;
        let mut searcher = Searcher {
            socket,
            destination,
            also_to: also_to(options, destination),
            via: via(options),
            state,
            // One byte more than the cap, so that an oversized datagram shows as such.
            buf: vec![0; MAX_MESSAGE_SIZE + 1].into_boxed_slice(),
        };
        // The first round's failure (no route, no interface) is the caller's to know now.
        searcher.transmit(Instant::now())?;
        Ok(searcher)
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        self.socket.local_addr().map_err(Error::io("local address"))
    }

    /// Where the M-SEARCHes go.
    pub fn destination(&self) -> SocketAddr {
        self.destination
    }

    /// When the search ends (`None`: too far to represent).
    pub fn deadline(&self) -> Option<Instant> {
        self.state.deadline()
    }

    fn transmit(&mut self, now: Instant) -> Result<(), Error> {
        while let Some(datagram) = self.state.poll_transmit(now) {
            if self.via.is_empty() {
                self.socket
                    .send_to(datagram, self.destination)
                    .map_err(Error::io("send M-SEARCH"))?;
            } else {
                let socket = socket2::SockRef::from(&self.socket);
                send_via(socket, &self.via, datagram, self.destination)
                    .map_err(Error::io("send M-SEARCH"))?;
            }
            for to in &self.also_to {
                // A unicast copy that cannot be sent (no route there) is no reason to stop.
                let _ = self.socket.send_to(datagram, to);
            }
        }
        Ok(())
    }
}

impl Searcher {
    /// The next response, waiting at most `within`: `None` once the search is over,
    /// `Some(Ok(None))` when `within` passed without one (so that a driver can look at other
    /// work now and then), an I/O error of the socket otherwise.
    pub fn next_within(&mut self, within: Duration) -> Option<Result<Option<Response>, Error>> {
        let start = Instant::now();
        let until = start.checked_add(within).unwrap_or(start);
        loop {
            let now = Instant::now();
            if self.state.is_finished(now) {
                return None;
            }
            if let Err(e) = self.transmit(now) {
                return Some(Err(e));
            }
            let wait = self
                .state
                .wait(now)
                .min(until.saturating_duration_since(now));
            if wait.is_zero() {
                if now >= until {
                    return Some(Ok(None));
                }
                continue;
            }
            if let Err(e) = self.socket.set_read_timeout(Some(wait)) {
                return Some(Err(Error::io("set read timeout")(e)));
            }
            match self.socket.recv_from(&mut self.buf) {
                Ok((len, from)) => {
                    let datagram = self.buf.get(..len).unwrap_or_default();
                    if let Ok(response) = self.state.handle(from, datagram, Instant::now()) {
                        return Some(Ok(Some(response)));
                    }
                }
                Err(e) if is_transient(&e) => {}
                Err(e) => return Some(Err(Error::io("receive")(e))),
            }
        }
    }
}

impl Iterator for Searcher {
    type Item = Result<Response, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.next_within(Duration::from_secs(3600))? {
                Ok(Some(response)) => return Some(Ok(response)),
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// A socket that hears what devices multicast to the SSDP group (`NOTIFY`), on one
/// interface: what a [`crate::watch::Watch`] judges. The SSDP port is shared with the
/// system's other SSDP sockets (address reuse); where another program holds it exclusively
/// (Windows' SSDP service), opening fails and a caller falls back to asking the device now
/// and then.
#[derive(Debug)]
pub struct Listener {
    socket: UdpSocket,
    buf: Box<[u8]>,
    from: Option<IpAddr>,
}

impl Listener {
    /// Hear the SSDP group on the interface holding `interface`: 239.255.255.250:1900 for
    /// an IPv4 address; for an IPv6 one, port 1900 of FF02::C, FF05::C and FF0E::C (at least
    /// one joined: devices such as miniupnpd send the link-local group from their link-local
    /// address, the others from their LOCATION's).
    pub fn open(interface: IpAddr) -> Result<Listener, Error> {
        Listener::open_on(interface, SSDP_PORT)
    }

    /// The same on another port (tests send to it by unicast, so that nothing is
    /// multicast).
    pub fn open_on(interface: IpAddr, port: u16) -> Result<Listener, Error> {
        let domain = match interface {
            IpAddr::V4(_) => Domain::IPV4,
            IpAddr::V6(_) => Domain::IPV6,
        };
        let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))
            .map_err(Error::io("open socket"))?;
        share_port(&socket)?;
        match interface {
            IpAddr::V4(on) => {
                let bind = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port);
                socket.bind(&bind.into()).map_err(Error::io("bind"))?;
                let group = Ipv4Addr::new(239, 255, 255, 250);
                socket
                    .join_multicast_v4(&group, &on)
                    .map_err(Error::io("join the SSDP group"))?;
            }
            IpAddr::V6(on) => {
                let index = interface_index(&MulticastInterface::Addr(on.into()))?;
                socket
                    .set_only_v6(true)
                    .map_err(Error::io("set IPV6_V6ONLY"))?;
                let bind = SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port);
                socket.bind(&bind.into()).map_err(Error::io("bind"))?;
                // Devices notify the link-local group from their link-local address, and the
                // site-local (and global) ones from the address of their LOCATION.
                let mut joined = Err(io::ErrorKind::AddrNotAvailable.into());
                for scope in [0xff02, 0xff05, 0xff0e] {
                    let group = Ipv6Addr::new(scope, 0, 0, 0, 0, 0, 0, 0xc);
                    let join = socket.join_multicast_v6(&group, index);
                    if joined.is_err() {
                        joined = join;
                    }
                }
                joined.map_err(Error::io("join the SSDP group"))?;
            }
        }
        Ok(Listener {
            socket: socket.into(),
            buf: vec![0; MAX_MESSAGE_SIZE + 1].into_boxed_slice(),
            from: None,
        })
    }

    /// Hand over only what comes from `source` (the device watched); the rest is dropped.
    pub fn only_from(mut self, source: IpAddr) -> Listener {
        self.from = Some(source);
        self
    }

    /// The address it is bound to.
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        self.socket.local_addr().map_err(Error::io("local address"))
    }

    #[cfg(feature = "tokio")]
    pub(crate) fn into_parts(self) -> (UdpSocket, Option<IpAddr>) {
        (self.socket, self.from)
    }

    /// The next datagram heard within `within` (at most [`MAX_MESSAGE_SIZE`] + 1 bytes:
    /// a larger one shows as too large to the judge), or `None` when none came.
    pub fn recv_within(&mut self, within: Duration) -> Result<Option<(SocketAddr, &[u8])>, Error> {
        let within = within.max(Duration::from_millis(1));
        self.socket
            .set_read_timeout(Some(within))
            .map_err(Error::io("set read timeout"))?;
        match self.socket.recv_from(&mut self.buf) {
            Ok((_, from)) if self.from.is_some_and(|only| only != from.ip()) => Ok(None),
            Ok((len, from)) => Ok(Some((from, self.buf.get(..len).unwrap_or_default()))),
            Err(e) if is_transient(&e) => Ok(None),
            Err(e) => Err(Error::io("receive")(e)),
        }
    }
}

/// The configured socket, where to send, and the sans-I/O search: what every driver starts
/// from.
pub(crate) fn prepare(options: &SearchOptions) -> Result<(UdpSocket, SocketAddr, Search), Error> {
    if options.targets.is_empty() {
        return Err(Error::NoTargets);
    }
    let socket = open_socket(options)?;
    let destination = destination(options)?;
    let mut request = SearchRequest::new(options.targets.clone(), host(options), options.timeout);
    request.sends = options.sends;
    request.leading = options.leading;
    request.user_agent.clone_from(&options.user_agent);
    request.mx = if options.destination.is_some() && options.mx.is_none() {
        None
    } else {
        Some(options.mx.unwrap_or_else(|| default_mx(options.timeout)))
    };
    let state = Search::new(&request, Instant::now())?;
    Ok((socket, destination, state))
}

/// An interface a multicast search goes out of: by its IPv4 address, or (IPv6) its index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Out {
    V4(Ipv4Addr),
    V6(u32),
}

/// The interfaces a multicast search goes out of when it goes out of every one
/// ([`SearchOptions::every_interface`]): up, not loopback, not point-to-point, with an IPv4
/// address that is not link-local (IPv4), or with an IPv6 address (IPv6: a link-local one
/// is enough for the link-local group), each once, at most
/// [`crate::options::MAX_INTERFACES`]. Empty (the system's choice) for a unicast search, a
/// named interface, or when they cannot be listed.
pub(crate) fn via(options: &SearchOptions) -> Vec<Out> {
    if !options.every_interface || options.interface.is_some() || options.destination.is_some() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for interface in interfaces().unwrap_or_default() {
        let usable = interface.is_oper_up() && !interface.is_loopback() && !interface.is_p2p();
        let to = match (interface.ip(), options.ipv6) {
            (IpAddr::V4(ip), false) if !ip.is_link_local() => Out::V4(ip),
            (IpAddr::V6(_), true) => match interface.index {
                Some(index) => Out::V6(index),
                None => continue,
            },
            _ => continue,
        };
        if usable && !out.contains(&to) {
            out.push(to);
        }
    }
    out.truncate(crate::options::MAX_INTERFACES);
    out
}

/// Send `datagram` to the group out of each interface of `via`; an error only when it went
/// out of none.
pub(crate) fn send_via(
    socket: socket2::SockRef<'_>,
    via: &[Out],
    datagram: &[u8],
    group: SocketAddr,
) -> io::Result<()> {
    let mut last = None;
    let mut sent = false;
    for interface in via {
        let set = match interface {
            Out::V4(ip) => socket.set_multicast_if_v4(ip),
            Out::V6(index) => socket.set_multicast_if_v6(*index),
        };
        let outcome = set.and_then(|()| socket.send_to(datagram, &group.into()));
        match outcome {
            Ok(_) => sent = true,
            Err(e) => last = Some(e),
        }
    }
    match (sent, last) {
        (false, Some(e)) => Err(e),
        _ => Ok(()),
    }
}

/// The unicast copies' destinations: at most [`crate::options::MAX_ALSO_TO`], of the
/// search's address family, not the destination itself, each once.
pub(crate) fn also_to(options: &SearchOptions, destination: SocketAddr) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = Vec::new();
    for to in &options.also_to {
        if to.is_ipv4() == destination.is_ipv4() && *to != destination && !out.contains(to) {
            out.push(*to);
        }
    }
    out.truncate(crate::options::MAX_ALSO_TO);
    out
}

pub(crate) fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    ) ||
    // ICMP errors of an earlier datagram (port unreachable of a unicast search) surface on
    // the next receive; they do not end a search.
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset
    )
}

fn host(options: &SearchOptions) -> SocketAddr {
    match (options.destination, options.ipv6, options.ipv6_scope) {
        (Some(d), _, _) => d,
        (None, false, _) => IPV4_MULTICAST,
        (None, true, Ipv6Scope::LinkLocal) => IPV6_LINK_LOCAL,
        (None, true, Ipv6Scope::SiteLocal) => IPV6_SITE_LOCAL,
    }
}

fn destination(options: &SearchOptions) -> Result<SocketAddr, Error> {
    let mut dest = host(options);
    // A link-local group needs the interface as scope when one was chosen.
    if let (SocketAddr::V6(v6), None) = (&mut dest, options.destination) {
        if let Some(interface) = &options.interface {
            v6.set_scope_id(interface_index(interface)?);
        }
    }
    Ok(dest)
}

fn open_socket(options: &SearchOptions) -> Result<UdpSocket, Error> {
    let ipv6 = match options.destination {
        Some(d) => d.is_ipv6(),
        None => options.ipv6,
    };
    let domain = if ipv6 { Domain::IPV6 } else { Domain::IPV4 };
    let socket =
        Socket::new(domain, Type::DGRAM, Some(Protocol::UDP)).map_err(Error::io("open socket"))?;
    let port = options.local_port.number();
    if port == SSDP_PORT {
        share_port(&socket)?;
    }
    let bind: SocketAddr = if ipv6 {
        socket
            .set_only_v6(true)
            .map_err(Error::io("set IPV6_V6ONLY"))?;
        socket
            .set_multicast_hops_v6(options.ttl)
            .map_err(Error::io("set IPV6_MULTICAST_HOPS"))?;
        if let Some(interface) = &options.interface {
            socket
                .set_multicast_if_v6(interface_index(interface)?)
                .map_err(Error::io("set IPV6_MULTICAST_IF"))?;
        }
        SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port)
    } else {
        socket
            .set_multicast_ttl_v4(options.ttl)
            .map_err(Error::io("set IP_MULTICAST_TTL"))?;
        if let Some(interface) = &options.interface {
            socket
                .set_multicast_if_v4(&interface_ipv4(interface)?)
                .map_err(Error::io("set IP_MULTICAST_IF"))?;
        }
        SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port)
    };
    if options.destination.is_some() {
        socket.set_ttl_v4(options.ttl).ok();
    }
    socket.bind(&bind.into()).map_err(Error::io("bind"))?;
    Ok(socket.into())
}

/// Share the socket's port with the system's other SSDP sockets (address and port reuse).
fn share_port(socket: &Socket) -> Result<(), Error> {
    socket
        .set_reuse_address(true)
        .map_err(Error::io("set SO_REUSEADDR"))?;
    #[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
    socket
        .set_reuse_port(true)
        .map_err(Error::io("set SO_REUSEPORT"))?;
    Ok(())
}

fn interfaces() -> Result<Vec<if_addrs::Interface>, Error> {
    if_addrs::get_if_addrs().map_err(Error::io("list network interfaces"))
}

fn matches(iface: &if_addrs::Interface, wanted: &MulticastInterface) -> bool {
    match wanted {
        MulticastInterface::Addr(a) => iface.ip() == *a,
        MulticastInterface::Name(n) => iface.name == *n,
        MulticastInterface::Index(i) => iface.index == Some(*i),
    }
}

/// The IPv4 address of an interface, for `IP_MULTICAST_IF`.
fn interface_ipv4(wanted: &MulticastInterface) -> Result<Ipv4Addr, Error> {
    if let MulticastInterface::Addr(IpAddr::V4(a)) = wanted {
        return Ok(*a);
    }
    let all = interfaces()?;
    // The interface itself (by name or index, or the one holding an IPv6 address given)...
    let name = all
        .iter()
        .find(|i| matches(i, wanted))
        .map(|i| i.name.clone())
        .ok_or_else(|| Error::NoSuchInterface(wanted.to_string()))?;
    // ... then its first IPv4 address.
    all.iter()
        .filter(|i| i.name == name)
        .find_map(|i| match i.ip() {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        })
        .ok_or(Error::NoInterfaceAddress {
            interface: wanted.to_string(),
            family: "IPv4",
        })
}

/// The index of an interface, for `IPV6_MULTICAST_IF` and scope ids.
fn interface_index(wanted: &MulticastInterface) -> Result<u32, Error> {
    if let MulticastInterface::Index(i) = wanted {
        return Ok(*i);
    }
    interfaces()?
        .iter()
        .find(|i| matches(i, wanted))
        .and_then(|i| i.index)
        .ok_or_else(|| Error::NoSuchInterface(wanted.to_string()))
}
