//! `lab-notify FROM COUNT INTERVAL_MS`: multicast COUNT SSDP datagrams to 239.255.255.250:1900
//! out of the interface holding FROM (and from that address), INTERVAL_MS apart; the
//! datagram is read from stdin, `{n}` in it replaced by 1, 2, ... (a new boot id each). The
//! lab suite runs it on the LAN host (a forgery from another LAN address) or in the router's
//! namespace (`ip netns exec`: a flood from the router's own address); nothing it sends
//! leaves the lab's namespaces.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [from, count, interval] = args.as_slice() else {
        eprintln!("usage: lab-notify FROM COUNT INTERVAL_MS < datagram");
        std::process::exit(2);
    };
    let from: Ipv4Addr = from.parse().expect("FROM: an IPv4 address");
    let count: u32 = count.parse().expect("COUNT");
    let interval = Duration::from_millis(interval.parse().expect("INTERVAL_MS"));
    let mut template = String::new();
    std::io::stdin()
        .read_to_string(&mut template)
        .expect("the datagram on stdin");
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).expect("socket");
    socket
        .bind(&SocketAddr::from((from, 0)).into())
        .expect("bind");
    socket.set_multicast_if_v4(&from).expect("IP_MULTICAST_IF");
    socket.set_multicast_ttl_v4(2).expect("IP_MULTICAST_TTL");
    let group = SocketAddr::from((Ipv4Addr::new(239, 255, 255, 250), 1900));
    for n in 1..=count {
        let datagram = template.replace("{n}", &n.to_string());
        socket
            .send_to(datagram.as_bytes(), &group.into())
            .expect("send");
        std::thread::sleep(interval);
    }
}
