//! The I/O: the default gateway, a blocking UDP client that runs an [`Exchange`] to the
//! gateway's port 5351, and a listener for the gateway's announcements on port 5350.
//!
//! Every wait is bounded by the exchange's deadline; nothing received extends it. The client's
//! socket is connected to the gateway, so the kernel drops datagrams from other hosts (the
//! exchange checks the source again) and an ICMP "port unreachable" (a router with neither
//! NAT-PMP nor PCP) ends the exchange at once with [`Error::PortUnreachable`].

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6, UdpSocket};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol as SocketProtocol, Socket, Type};

use crate::MAX_MESSAGE_SIZE;
use crate::error::Error;
use crate::exchange::{Announcement, Exchange, Poll, Received};
use crate::message::{ANNOUNCE_PORT, Response, SERVER_PORT};

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod tokio;

#[cfg(test)]
mod tests;

/// The all-hosts group NAT-PMP and PCP gateways announce to.
pub const ALL_HOSTS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 1);

/// The address of the default gateway (the IPv4 one when it has both), from the operating
/// system's routing table (through the `getifs` crate).
///
/// With several default routes (Wi-Fi and Ethernet, a VPN), the one on the interface the
/// system prefers for the Internet (its best default route's metric) wins, else the first
/// the table lists.
pub fn default_gateway() -> Result<IpAddr, Error> {
    match default_route_v4()? {
        Some((_, gateway)) => Ok(IpAddr::V4(gateway)),
        None => default_gateway_v6().map(|gateway| gateway.ip()),
    }
}

/// The IPv6 default gateway, as the address and port to send PCP to: port 5351, with the
/// interface it is reached on as the scope (routers announce themselves by their link-local
/// address). Over IPv6 there is no NAT: a PCP MAP there opens a pinhole in the gateway's
/// firewall to the address the request comes from (NAT-PMP is IPv4 only).
pub fn default_gateway_v6() -> Result<SocketAddr, Error> {
    let routes = getifs::route_ipv6_table_by_filter(|r| r.is_default() && r.gateway().is_some())
        .map_err(|e| Error::NoGateway(format!("the IPv6 routing table: {e}")))?;
    let best: Vec<u32> = getifs::best_local_ipv6_addrs()
        .map(|addrs| addrs.iter().map(|a| a.index()).collect())
        .unwrap_or_default();
    let routes = routes
        .iter()
        .filter_map(|r| Some((r.index(), r.gateway()?)));
    let (index, gateway) = preferred(routes, &best)
        .ok_or_else(|| Error::NoGateway("no IPv6 default route".to_owned()))?;
    let scope = match gateway.is_unicast_link_local() {
        true => index,
        false => 0,
    };
    Ok(SocketAddr::V6(SocketAddrV6::new(
        gateway,
        SERVER_PORT,
        0,
        scope,
    )))
}

/// The IPv4 default route's interface and gateway, if there is one.
fn default_route_v4() -> Result<Option<(u32, Ipv4Addr)>, Error> {
    let routes = getifs::route_ipv4_table_by_filter(|r| r.is_default() && r.gateway().is_some())
        .map_err(|e| Error::NoGateway(format!("the IPv4 routing table: {e}")))?;
    let best: Vec<u32> = getifs::best_local_ipv4_addrs()
        .map(|addrs| addrs.iter().map(|a| a.index()).collect())
        .unwrap_or_default();
    let routes = routes
        .iter()
        .filter_map(|r| Some((r.index(), r.gateway()?)));
    Ok(preferred(routes, &best))
}

/// Of default routes as (interface index, gateway), the first on an interface of `best`
/// (those of the system's best default route), else the first.
fn preferred<A>(routes: impl Iterator<Item = (u32, A)>, best: &[u32]) -> Option<(u32, A)> {
    let mut first = None;
    for (index, gateway) in routes {
        if best.contains(&index) {
            return Some((index, gateway));
        }
        if first.is_none() {
            first = Some((index, gateway));
        }
    }
    first
}

/// A UDP socket connected to a gateway's NAT-PMP/PCP port.
#[derive(Debug)]
pub struct Client {
    socket: UdpSocket,
    gateway: SocketAddr,
    local: SocketAddr,
    buf: Vec<u8>,
}

impl Client {
    /// A client of `gateway` on port 5351.
    pub fn new(gateway: IpAddr) -> Result<Client, Error> {
        Client::connect(SocketAddr::new(gateway, SERVER_PORT))
    }

    /// A client of a gateway at this address and port.
    pub fn connect(gateway: SocketAddr) -> Result<Client, Error> {
        Client::connect_from(None, gateway)
    }

    /// A client of a gateway at this address and port whose requests leave from `local`
    /// (the system's choice when `None`). A PCP request names its source as the client, so
    /// this says whom a mapping is for: over IPv6, our global address rather than the
    /// link-local one the system would use towards a link-local gateway.
    pub fn connect_from(local: Option<IpAddr>, gateway: SocketAddr) -> Result<Client, Error> {
        let socket = connected(local, gateway)?;
        let local = socket.local_addr().map_err(Error::io("local address"))?;
        Ok(Client {
            socket,
            gateway,
            local,
            buf: vec![0; MAX_MESSAGE_SIZE + 1],
        })
    }

    /// The gateway's address and port.
    pub fn gateway(&self) -> SocketAddr {
        self.gateway
    }

    /// Our address on the route to the gateway: what a PCP request names as its client.
    pub fn local_address(&self) -> IpAddr {
        self.local.ip()
    }

    /// Our address and port: where the requests leave from.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Run `exchange` to its answer or its deadline.
    pub fn run(&mut self, exchange: &mut Exchange) -> Result<Response, Error> {
        loop {
            let now = Instant::now();
            let wait = match exchange.poll(now) {
                Poll::Send(datagram) => {
                    match self.socket.send(datagram) {
                        Ok(_) => {}
                        Err(e) => return Err(send_error(e, self.gateway)),
                    }
                    continue;
                }
                Poll::Wait(until) => until.saturating_duration_since(now),
                Poll::TimedOut => return Err(exchange.timed_out()),
            };
            if wait.is_zero() {
                continue;
            }
            self.socket
                .set_read_timeout(Some(wait))
                .map_err(Error::io("set read timeout"))?;
            match self.socket.recv_from(&mut self.buf) {
                Ok((len, from)) => {
                    let datagram = self.buf.get(..len).unwrap_or_default();
                    if let Received::Answer(response) = exchange.receive(from, datagram) {
                        return Ok(response);
                    }
                }
                Err(e) if is_transient(&e) => {}
                Err(e) => return Err(send_error(e, self.gateway)),
            }
        }
    }
}

/// A UDP socket connected to `gateway`, from an ephemeral port of `local` (any address of
/// the gateway's family when `None`).
pub(crate) fn connected(local: Option<IpAddr>, gateway: SocketAddr) -> Result<UdpSocket, Error> {
    let any: IpAddr = match gateway {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = UdpSocket::bind((local.unwrap_or(any), 0)).map_err(Error::io("bind"))?;
    socket.connect(gateway).map_err(Error::io("connect"))?;
    Ok(socket)
}

/// ICMP port unreachable surfaces as "connection refused" on a connected socket.
pub(crate) fn send_error(e: io::Error, gateway: SocketAddr) -> Error {
    if e.kind() == io::ErrorKind::ConnectionRefused {
        Error::PortUnreachable(gateway)
    } else {
        Error::io("exchange with the gateway")(e)
    }
}

pub(crate) fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// A socket on the announcement port (5350), in the all-hosts group: what a gateway
/// multicasts when its address changes or it restarts. Only `gateway` is believed.
#[derive(Debug)]
pub struct Listener {
    socket: UdpSocket,
    gateway: IpAddr,
    buf: Vec<u8>,
}

impl Listener {
    /// Listen on 0.0.0.0:5350 (shared with other programs that do the same).
    pub fn bind(gateway: IpAddr) -> Result<Listener, Error> {
        Listener::bind_port(gateway, ANNOUNCE_PORT)
    }

    /// Listen on another port (tests).
    pub fn bind_port(gateway: IpAddr, port: u16) -> Result<Listener, Error> {
        Ok(Listener {
            socket: announcement_socket(port)?,
            gateway,
            buf: vec![0; MAX_MESSAGE_SIZE + 1],
        })
    }

    /// The gateway whose announcements are believed.
    pub fn gateway(&self) -> IpAddr {
        self.gateway
    }

    /// The next announcement from the gateway within `within`; `None` when none came.
    /// Datagrams from other hosts, and anything that is not an announcement, are skipped.
    pub fn next_within(&mut self, within: Duration) -> Result<Option<Announcement>, Error> {
        let start = Instant::now();
        let until = start.checked_add(within).unwrap_or(start);
        loop {
            let wait = until.saturating_duration_since(Instant::now());
            if wait.is_zero() {
                return Ok(None);
            }
            self.socket
                .set_read_timeout(Some(wait))
                .map_err(Error::io("set read timeout"))?;
            match self.socket.recv_from(&mut self.buf) {
                Ok((len, from)) => {
                    let datagram = self.buf.get(..len).unwrap_or_default();
                    if let Ok(announcement) = Announcement::read(from, self.gateway, datagram) {
                        return Ok(Some(announcement));
                    }
                }
                Err(e) if is_transient(&e) => {}
                Err(e) => return Err(Error::io("receive an announcement")(e)),
            }
        }
    }
}

/// 0.0.0.0:`port`, address reuse on, the all-hosts group joined (where the platform lets
/// us; the kernel delivers that group to every host anyway).
pub(crate) fn announcement_socket(port: u16) -> Result<UdpSocket, Error> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(SocketProtocol::UDP))
        .map_err(Error::io("open the announcement socket"))?;
    socket
        .set_reuse_address(true)
        .map_err(Error::io("reuse the announcement port"))?;
    #[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
    socket
        .set_reuse_port(true)
        .map_err(Error::io("reuse the announcement port"))?;
    let bind: SocketAddr = (Ipv4Addr::UNSPECIFIED, port).into();
    socket
        .bind(&bind.into())
        .map_err(Error::io("bind the announcement port"))?;
    let _ = socket.join_multicast_v4(&ALL_HOSTS, &Ipv4Addr::UNSPECIFIED);
    Ok(socket.into())
}
