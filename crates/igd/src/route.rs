//! Which of our addresses reaches a host: what a mapping forwards to (`igd_our_addr`).

use std::net::{IpAddr, SocketAddr, UdpSocket};

use url::Url;

/// Our address on the route to `url`'s host (no packet is sent): a UDP socket connected there (nothing is sent)
/// tells which local address the system would use.
pub fn local_address_towards(url: &Url) -> Option<IpAddr> {
    let port = url.port_or_known_default().unwrap_or(80);
    let remote: SocketAddr = match url.host()? {
        url::Host::Ipv4(v4) => (v4, port).into(),
        url::Host::Ipv6(v6) => (v6, port).into(),
        url::Host::Domain(_) => return None,
    };
    let bind: SocketAddr = match remote {
        SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(bind).ok()?;
    socket.connect(remote).ok()?;
    Some(socket.local_addr().ok()?.ip())
}
