//! The clients against a gateway played on loopback.

use std::net::UdpSocket;
use std::thread;

use super::*;
use crate::exchange::{Request, Schedule};
use crate::natpmp::{NatPmpRequest, NatPmpResponse, NatPmpResult};

fn localhost() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}

fn external_address(epoch: u32) -> Vec<u8> {
    NatPmpResponse::ExternalAddress {
        result: NatPmpResult::Success,
        epoch,
        address: Ipv4Addr::new(11, 0, 0, 7),
    }
    .encode()
    .unwrap()
}

/// A gateway on loopback that ignores the first `drop` requests and answers the next.
fn gateway(drop: usize) -> (SocketAddr, thread::JoinHandle<usize>) {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = socket.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let mut buf = [0u8; 64];
        for seen in 0.. {
            let (len, from) = socket.recv_from(&mut buf).unwrap();
            assert_eq!(buf.get(..len), Some(&[0u8, 0][..]));
            if seen >= drop {
                socket.send_to(&external_address(5), from).unwrap();
                return seen + 1;
            }
        }
        unreachable!()
    });
    (addr, handle)
}

fn quick() -> Schedule {
    Schedule {
        initial: Duration::from_millis(20),
        max_interval: Duration::from_millis(100),
        max_sends: None,
    }
}

fn external(to: SocketAddr, within: Duration) -> Exchange {
    let now = Instant::now();
    let request = Request::NatPmp(NatPmpRequest::ExternalAddress);
    Exchange::new(request, to, now, now + within)
        .unwrap()
        .schedule(quick())
}

#[test]
fn the_client_sends_again_until_the_gateway_answers() {
    let (addr, handle) = gateway(2);
    let mut client = Client::connect(addr).unwrap();
    assert_eq!(client.local_address(), localhost());
    assert_eq!(client.gateway(), addr);
    let mut exchange = external(addr, Duration::from_secs(5));
    let response = client.run(&mut exchange).unwrap();
    assert_eq!(response.epoch(), 5);
    assert_eq!(handle.join().unwrap(), 3);
    assert_eq!(exchange.sends(), 3);
}

#[test]
fn a_gateway_that_does_not_answer_times_out_at_the_deadline() {
    let silent = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = silent.local_addr().unwrap();
    let mut client = Client::connect(addr).unwrap();
    let mut exchange = external(addr, Duration::from_millis(300));
    let start = Instant::now();
    assert!(matches!(
        client.run(&mut exchange),
        Err(Error::TimedOut(a)) if a == addr
    ));
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert!(exchange.sends() >= 3);
}

#[test]
fn a_port_nobody_listens_on_is_reported_at_once() {
    let closed = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let mut client = Client::connect(addr).unwrap();
    let mut exchange = external(addr, Duration::from_secs(30));
    assert!(matches!(
        client.run(&mut exchange),
        Err(Error::PortUnreachable(a)) if a == addr
    ));
    // Far fewer sends than 30 s of the schedule would make.
    assert!(exchange.sends() <= 3, "{}", exchange.sends());
}

#[test]
fn the_listener_hears_the_gateway_and_no_one_else() {
    let probe = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    // The "gateway" is this sender; announcements from another address are skipped.
    let mut stranger_listener =
        Listener::bind_port(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), port).unwrap();
    let sender = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    sender
        .send_to(&external_address(9), (Ipv4Addr::LOCALHOST, port))
        .unwrap();
    assert_eq!(
        stranger_listener
            .next_within(Duration::from_millis(200))
            .unwrap(),
        None
    );
    drop(stranger_listener);
    let mut listener = Listener::bind_port(localhost(), port).unwrap();
    sender
        .send_to(&[0, 1, 2], (Ipv4Addr::LOCALHOST, port))
        .unwrap();
    sender
        .send_to(&external_address(9), (Ipv4Addr::LOCALHOST, port))
        .unwrap();
    assert_eq!(
        listener.next_within(Duration::from_secs(5)).unwrap(),
        Some(Announcement::NatPmp {
            epoch: 9,
            address: Ipv4Addr::new(11, 0, 0, 7)
        })
    );
}

#[cfg(feature = "tokio")]
mod on_tokio {
    use std::net::{Ipv4Addr, UdpSocket};
    use std::time::Duration;

    use super::{external, gateway};
    use crate::error::Error;
    use crate::net::tokio::Client;

    #[tokio::test]
    async fn the_async_client_does_the_same() {
        let (addr, handle) = gateway(1);
        let mut client = Client::connect(addr).unwrap();
        let mut exchange = external(addr, Duration::from_secs(5));
        let response = client.run(&mut exchange).await.unwrap();
        assert_eq!(response.epoch(), 5);
        assert_eq!(handle.join().unwrap(), 2);

        let silent = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = silent.local_addr().unwrap();
        let mut client = Client::connect(addr).unwrap();
        let mut exchange = external(addr, Duration::from_millis(200));
        assert!(matches!(
            client.run(&mut exchange).await,
            Err(Error::TimedOut(_))
        ));
    }
}

/// Requests leave from the address asked (what a PCP request then names as its client),
/// not the one the system would pick.
#[test]
fn a_client_sends_from_the_address_it_is_given() {
    let gateway = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let to = gateway.local_addr().unwrap();
    let from = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let client = Client::connect_from(Some(from), to).unwrap();
    assert_eq!(client.local_address(), from);
    assert_eq!(Client::connect(to).unwrap().local_address(), localhost());
}

#[test]
fn the_default_route_on_the_preferred_interface_wins_else_the_first() {
    let a = Ipv4Addr::new(192, 168, 1, 1);
    let b = Ipv4Addr::new(10, 0, 0, 1);
    let routes = || [(3, a), (7, b)].into_iter();
    assert_eq!(preferred(routes(), &[7]), Some((7, b)));
    assert_eq!(preferred(routes(), &[3, 7]), Some((3, a)));
    assert_eq!(preferred(routes(), &[]), Some((3, a)));
    assert_eq!(preferred(routes(), &[9]), Some((3, a)));
    assert_eq!(preferred(std::iter::empty::<(u32, Ipv4Addr)>(), &[3]), None);
}
