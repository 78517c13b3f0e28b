//! Which of our addresses reaches a host: what a mapping forwards to (`igd_our_addr`).

use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};

use url::Url;

/// Where a PCP/NAT-PMP client is opened for `target`: the address to send from (`None`: the
/// system's choice) and the gateway's address and port. Towards an IPv6 gateway we send from
/// our global address (see [`crate::pmp::Target`]): the one the route to the gateway leaves
/// from when it is global, else [`global_ipv6`]; none is [`Error::NoGlobalAddress`]. NAT-PMP
/// over IPv6 is [`Error::NotSpoken`].
pub(crate) fn pmp_endpoints(
    target: crate::pmp::Target,
    way: crate::pmp::Way,
) -> Result<(Option<IpAddr>, SocketAddr), crate::Error> {
    use crate::pmp::{Method, Target, Way};
    let gateway = match target {
        Target::At(gateway) => gateway,
        // A host whose only default route is IPv6: that gateway, with its scope.
        Target::Default => match pcp_natpmp::net::default_gateway()? {
            v4 @ IpAddr::V4(_) => SocketAddr::new(v4, pcp_natpmp::SERVER_PORT),
            IpAddr::V6(_) => pcp_natpmp::net::default_gateway_v6()?,
        },
        Target::DefaultV6 => pcp_natpmp::net::default_gateway_v6()?,
    };
    if gateway.is_ipv4() {
        return Ok((None, gateway));
    }
    if way == Way::NatPmp {
        return Err(crate::Error::NotSpoken(Method::NatPmp));
    }
    let towards = UdpSocket::bind((std::net::Ipv6Addr::UNSPECIFIED, 0))
        .and_then(|socket| socket.connect(gateway).map(|()| socket))
        .and_then(|socket| socket.local_addr());
    let local = match towards.map(|addr| addr.ip()) {
        Ok(IpAddr::V6(v6)) if crate::pinhole::is_global_unicast(v6) => v6,
        _ => global_ipv6().ok_or(crate::Error::NoGlobalAddress)?,
    };
    Ok((Some(IpAddr::V6(local)), gateway))
}

/// What [`crate::machine::Io::Route`] gives back: our address towards `to`, or the IPv6
/// default gateway.
pub(crate) fn completed(to: &crate::machine::RouteTo) -> crate::machine::Completed {
    use crate::machine::{Completed, RouteTo};
    match to {
        RouteTo::Gateway6 => Completed::Gateway6(
            pcp_natpmp::net::default_gateway_v6()
                .ok()
                .and_then(|gateway| match gateway {
                    SocketAddr::V6(v6) => {
                        Some(std::net::SocketAddrV6::new(*v6.ip(), 0, 0, v6.scope_id()))
                    }
                    SocketAddr::V4(_) => None,
                }),
        ),
        to => Completed::Routed(ours(to)),
    }
}

/// Our address towards `to` (what [`crate::machine::Io::Route`] asks).
pub(crate) fn ours(to: &crate::machine::RouteTo) -> Option<IpAddr> {
    match to {
        crate::machine::RouteTo::Gateway6 => None,
        crate::machine::RouteTo::Hop { distance, deadline } => hop(*distance, *deadline),
        crate::machine::RouteTo::Host(url) => local_address_towards(url),
        crate::machine::RouteTo::Internet6 => global_ipv6().map(IpAddr::V6),
        crate::machine::RouteTo::Gateway => pcp_natpmp::net::default_gateway()
            .ok()
            .filter(IpAddr::is_ipv4),
    }
}

/// Whether finding our address towards `to` never waits (no name to resolve): an executor
/// answers it on the spot rather than on a thread of its own.
pub(crate) fn is_immediate(to: &crate::machine::RouteTo) -> bool {
    match to {
        crate::machine::RouteTo::Host(url) => !matches!(url.host(), Some(url::Host::Domain(_))),
        crate::machine::RouteTo::Internet6
        | crate::machine::RouteTo::Gateway
        | crate::machine::RouteTo::Gateway6 => true,
        // It waits for an answer.
        crate::machine::RouteTo::Hop { .. } => false,
    }
}

/// Where the TTL-limited probe is sent: TEST-NET-1 (RFC 5737, never routed on the
/// Internet), traceroute's first port. The datagram dies `distance` routers away.
const HOP_PROBE_TO: (std::net::Ipv4Addr, u16) = (std::net::Ipv4Addr::new(192, 0, 2, 1), 33434);

/// The router `distance` hops away towards the IPv4 Internet, by `deadline`: the source of
/// the ICMP time exceeded that a datagram sent with that TTL brings back, read from Linux's
/// error queue. `None` when nothing came in time (or another error did).
#[cfg(target_os = "linux")]
pub(crate) fn hop(distance: u8, deadline: std::time::Instant) -> Option<IpAddr> {
    use nix::sys::socket::{
        ControlMessageOwned, MsgFlags, SockaddrIn, recvmsg, setsockopt, sockopt,
    };
    use std::os::fd::AsRawFd;
    let socket = UdpSocket::bind((std::net::Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    socket.set_ttl(u32::from(distance.max(1))).ok()?;
    setsockopt(&socket, sockopt::Ipv4RecvErr, &true).ok()?;
    socket.connect(HOP_PROBE_TO).ok()?;
    socket.send(b"igd-rs: which router is in front?").ok()?;
    let mut buf = [0u8; 64];
    // At most a few wake-ups: an error arrives once, anything else is dropped.
    for _ in 0..8 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return None;
        }
        socket.set_read_timeout(Some(left)).ok()?;
        match socket.recv(&mut buf) {
            // A datagram (nothing should answer from TEST-NET): not what is awaited.
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None;
            }
            // An error is queued: read who sent it.
            Err(_) => {}
        }
        let mut cmsg = nix::cmsg_space!(nix::libc::sock_extended_err, nix::libc::sockaddr_in);
        let mut data = [0u8; 64];
        let mut iov = [std::io::IoSliceMut::new(&mut data)];
        let flags = MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT;
        let Ok(message) =
            recvmsg::<SockaddrIn>(socket.as_raw_fd(), &mut iov, Some(&mut cmsg), flags)
        else {
            continue;
        };
        let Ok(cmsgs) = message.cmsgs() else {
            continue;
        };
        for cmsg in cmsgs {
            if let ControlMessageOwned::Ipv4RecvErr(err, Some(from)) = cmsg {
                // ICMP time exceeded (type 11) from the router where the datagram died.
                if err.ee_origin == nix::libc::SO_EE_ORIGIN_ICMP && err.ee_type == 11 {
                    let ip = std::net::Ipv4Addr::from(u32::from_be(from.sin_addr.s_addr));
                    return Some(IpAddr::V4(ip));
                }
            }
        }
    }
    None
}

/// Elsewhere the platform does not say who answered: nothing is sent.
#[cfg(not(target_os = "linux"))]
pub(crate) fn hop(_distance: u8, _deadline: std::time::Instant) -> Option<IpAddr> {
    None
}

/// Our address on the route to `url`'s host: a UDP socket connected there (no packet is sent)
/// tells which local address the system would use. A host name is resolved first (the
/// system's resolver; a LAN name such as `router.lan`).
pub(crate) fn local_address_towards(url: &Url) -> Option<IpAddr> {
    let port = url.port_or_known_default().unwrap_or(80);
    let remote: SocketAddr = match url.host()? {
        url::Host::Ipv4(v4) => (v4, port).into(),
        url::Host::Ipv6(v6) => (v6, port).into(),
        url::Host::Domain(name) => (name, port).to_socket_addrs().ok()?.next()?,
    };
    let bind: SocketAddr = match remote {
        SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(bind).ok()?;
    socket.connect(remote).ok()?;
    Some(socket.local_addr().ok()?.ip())
}

/// Our global IPv6 address: the source address the system would use towards the Internet
/// (a UDP socket connected to a global address; no packet is sent), if it is global unicast.
/// Where the system prefers temporary (privacy) addresses, this is one of them, and a pinhole
/// to it lasts as long as the address does.
pub(crate) fn global_ipv6() -> Option<std::net::Ipv6Addr> {
    let socket = UdpSocket::bind((std::net::Ipv6Addr::UNSPECIFIED, 0)).ok()?;
    // Any global address does; nothing is sent to it.
    let somewhere: std::net::Ipv6Addr =
        std::net::Ipv6Addr::new(0x2001, 0x4860, 0, 0, 0, 0, 0, 0x8888);
    socket.connect((somewhere, 53)).ok()?;
    match socket.local_addr().ok()?.ip() {
        IpAddr::V6(v6) if crate::pinhole::is_global_unicast(v6) => Some(v6),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_reached_from_loopback() {
        let ours = |u: &str| local_address_towards(&Url::parse(u).unwrap());
        assert_eq!(
            ours("http://127.0.0.1:5000/ctl"),
            Some("127.0.0.1".parse().unwrap())
        );
        assert_eq!(ours("http://[::1]:5000/ctl"), Some("::1".parse().unwrap()));
        assert!(ours("http://localhost:5000/ctl").is_some_and(|ip| ip.is_loopback()));
    }
}
