//! Searches against responders on loopback: unicast M-SEARCH to 127.0.0.1 or ::1, so no
//! packet leaves this machine and no multicast is sent.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::*;
use crate::message::{MSearch, SearchResponse, SearchTarget};

const IGD1: fn() -> SearchTarget = || SearchTarget::device("InternetGatewayDevice", 1);

fn options(responder: SocketAddr, timeout_ms: u64) -> SearchOptions {
    SearchOptions {
        targets: vec![IGD1()],
        timeout: Duration::from_millis(timeout_ms),
        destination: Some(responder),
        ..SearchOptions::default()
    }
}

fn response(location: &str, st: &SearchTarget) -> Vec<u8> {
    let mut r = SearchResponse::new(location, st.clone());
    r.usn = Some(format!("uuid:loopback::{st}"));
    r.encode().unwrap()
}

/// A responder that answers each M-SEARCH it gets with `reply(request, from)`, sent from
/// `answer_from` (a socket other than the one the request came to, as routers do).
fn responder<F>(ip: std::net::IpAddr, reply: F) -> (SocketAddr, thread::JoinHandle<Vec<MSearch>>)
where
    F: Fn(&MSearch, &UdpSocket, SocketAddr) + Send + 'static,
{
    let listen = UdpSocket::bind((ip, 0)).unwrap();
    let answer_from = UdpSocket::bind((ip, 0)).unwrap();
    listen
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let addr = listen.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = listen.recv_from(&mut buf) {
            let m = MSearch::parse(&buf[..n]).unwrap();
            reply(&m, &answer_from, from);
            got.push(m);
        }
        got
    });
    (addr, handle)
}

#[test]
fn finds_a_responder_that_answers_from_another_port() {
    let (addr, handle) = responder(Ipv4Addr::LOCALHOST.into(), |m, sock, to| {
        sock.send_to(
            &response("http://127.0.0.1:5000/d.xml", &m.search_target),
            to,
        )
        .unwrap();
    });
    let searcher = Searcher::start(&options(addr, 600)).unwrap();
    assert_eq!(searcher.destination(), addr);
    let found: Vec<_> = searcher.map(Result::unwrap).collect();
    // Three sends, three identical answers: one response.
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].response.location, "http://127.0.0.1:5000/d.xml");
    assert_eq!(found[0].response.search_target, IGD1());
    assert_ne!(found[0].from, addr, "the answer came from the other socket");
    assert_eq!(found[0].from.ip(), addr.ip());
    let requests = handle.join().unwrap();
    assert_eq!(requests.len(), 3, "each M-SEARCH is sent three times");
    assert_eq!(requests[0].mx, None, "a unicast search carries no MX");
    assert!(
        requests[0]
            .user_agent
            .as_deref()
            .unwrap()
            .contains("UPnP/2.0")
    );
}

#[test]
fn several_targets_and_ipv6_loopback() {
    let (addr, handle) = responder(Ipv6Addr::LOCALHOST.into(), |m, sock, to| {
        sock.send_to(&response("http://[::1]:5000/d.xml", &m.search_target), to)
            .unwrap();
    });
    let mut opts = options(addr, 500);
    opts.targets = vec![IGD1(), SearchTarget::RootDevice];
    opts.sends = 1;
    let searcher = Searcher::start(&opts).unwrap();
    assert!(searcher.local_addr().unwrap().is_ipv6());
    let mut sts: Vec<_> = searcher
        .map(|r| r.unwrap().response.search_target.to_string())
        .collect();
    sts.sort();
    assert_eq!(sts, ["upnp:rootdevice".to_string(), IGD1().to_string()]);
    assert_eq!(handle.join().unwrap().len(), 2);
}

#[test]
fn junk_is_skipped_and_cannot_extend_the_search() {
    let stop = Arc::new(AtomicBool::new(false));
    let sender_running = Arc::new(AtomicBool::new(true));
    let target = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    target
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let responder_addr = target.local_addr().unwrap();
    let flood = {
        let (stop, running) = (stop.clone(), sender_running.clone());
        thread::spawn(move || {
            let mut buf = [0u8; 2048];
            let (_, searcher) = target.recv_from(&mut buf).unwrap();
            let junk: Vec<Vec<u8>> = vec![
                b"\xff\xfe not utf-8".to_vec(),
                vec![b'x'; MAX_MESSAGE_SIZE + 100],
                b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n".to_vec(),
                b"HTTP/1.1 500 Oops\r\n\r\n".to_vec(),
                b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nNT: upnp:rootdevice\r\nNTS: ssdp:byebye\r\nUSN: u\r\n\r\n".to_vec(),
                response("http://127.0.0.1/good.xml", &IGD1()),
            ];
            // Keep sending for up to 10 s: far longer than the 300 ms search.
            let until = Instant::now() + Duration::from_secs(10);
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                for j in &junk {
                    let _ = target.send_to(j, searcher);
                    sent += 1;
                }
                thread::sleep(Duration::from_micros(200));
            }
            running.store(false, Ordering::Relaxed);
            sent
        })
    };
    let searcher = Searcher::start(&options(responder_addr, 300)).unwrap();
    let deadline = searcher.deadline().unwrap();
    let found: Vec<_> = searcher.map(Result::unwrap).collect();
    let ended = Instant::now();
    // The search ended while the flood was still going: the flood did not hold it open.
    assert!(sender_running.load(Ordering::Relaxed));
    stop.store(true, Ordering::Relaxed);
    let sent = flood.join().unwrap();
    assert!(ended >= deadline);
    assert!(sent > 6, "the flood did send");
    assert_eq!(
        found.len(),
        1,
        "only the one good response, once: {found:?}"
    );
    assert_eq!(found[0].response.location, "http://127.0.0.1/good.xml");
}

#[test]
fn nobody_answers_and_the_search_ends_at_its_deadline() {
    // A bound socket that never answers.
    let silent = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let searcher = Searcher::start(&options(silent.local_addr().unwrap(), 200)).unwrap();
    let deadline = searcher.deadline().unwrap();
    assert_eq!(searcher.count(), 0);
    assert!(Instant::now() >= deadline);
}

#[test]
fn zero_and_huge_timeouts() {
    let silent = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = silent.local_addr().unwrap();
    let mut zero = Searcher::start(&options(addr, 0)).unwrap();
    assert!(zero.next().is_none());

    let mut huge = options(addr, 0);
    huge.timeout = Duration::MAX;
    let searcher = Searcher::start(&huge).unwrap();
    assert_eq!(searcher.deadline(), None);
    // Dropping a search that would never end is how a caller stops it.
    drop(searcher);
}

#[test]
fn unreachable_port_does_not_end_the_search() {
    // Nothing listens there: Linux may report the ICMP error on a later receive.
    let port = {
        let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        s.local_addr().unwrap()
    };
    let found: Vec<_> = Searcher::start(&options(port, 200)).unwrap().collect();
    assert!(
        found.is_empty(),
        "ICMP errors are not reported as search errors: {found:?}"
    );
}

#[test]
fn local_port_modes() {
    assert_eq!(LocalPort::from(0), LocalPort::Any);
    assert_eq!(LocalPort::from(1), LocalPort::Ssdp);
    assert_eq!(LocalPort::from(5555), LocalPort::Port(5555));
    // A fixed port is used as given.
    let free = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let silent = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let mut opts = options(silent.local_addr().unwrap(), 0);
    opts.local_port = LocalPort::Port(free);
    let searcher = Searcher::start(&opts).unwrap();
    assert_eq!(searcher.local_addr().unwrap().port(), free);
}

#[test]
fn interface_errors_are_typed() {
    let silent = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let mut opts = options(silent.local_addr().unwrap(), 0);
    opts.interface = Some("no-such-if0".parse().unwrap());
    assert!(matches!(
        Searcher::start(&opts),
        Err(Error::NoSuchInterface(name)) if name == "no-such-if0"
    ));
    opts.interface = Some(MulticastInterface::Name("lo".into()));
    assert!(Searcher::start(&opts).is_ok(), "lo has 127.0.0.1");
    opts.interface = Some(MulticastInterface::Addr(Ipv4Addr::LOCALHOST.into()));
    assert!(Searcher::start(&opts).is_ok());
    opts.targets.clear();
    assert!(matches!(Searcher::start(&opts), Err(Error::NoTargets)));
}

#[test]
fn multicast_interface_from_godot_strings() {
    assert_eq!(
        "192.168.1.2".parse::<MulticastInterface>().unwrap(),
        MulticastInterface::Addr([192, 168, 1, 2].into())
    );
    assert_eq!(
        "fe80::1".parse::<MulticastInterface>().unwrap(),
        MulticastInterface::Addr("fe80::1".parse().unwrap())
    );
    assert_eq!(
        "eth0".parse::<MulticastInterface>().unwrap(),
        MulticastInterface::Name("eth0".into())
    );
}

#[cfg(feature = "tokio")]
mod async_searcher {
    use std::net::Ipv4Addr;
    use std::time::Instant;

    use super::{options, responder, response};
    use crate::net::tokio::Searcher;

    #[tokio::test(flavor = "current_thread")]
    async fn the_async_searcher_finds_the_same_and_ends_at_the_deadline() {
        let (addr, handle) = responder(Ipv4Addr::LOCALHOST.into(), |m, sock, to| {
            sock.send_to(b"junk", to).unwrap();
            sock.send_to(
                &response("http://127.0.0.1:5000/d.xml", &m.search_target),
                to,
            )
            .unwrap();
        });
        let mut searcher = Searcher::start(&options(addr, 600)).await.unwrap();
        let deadline = searcher.deadline().unwrap();
        let mut found = Vec::new();
        while let Some(response) = searcher.next().await {
            found.push(response.unwrap());
        }
        assert!(Instant::now() >= deadline);
        // Three sends, three identical answers and junk: one response.
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].response.location, "http://127.0.0.1:5000/d.xml");
        assert_eq!(handle.join().unwrap().len(), 3);
    }
}

#[test]
fn unicast_copies_reach_a_device_the_destination_does_not() {
    // The "group" is a socket that never answers; the device answers only what is sent to
    // it (a router that ignores multicast, found at the default gateway's address).
    let silent = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let (device, handle) = responder(Ipv4Addr::LOCALHOST.into(), |m, sock, to| {
        sock.send_to(
            &response("http://127.0.0.1:5000/d.xml", &m.search_target),
            to,
        )
        .unwrap();
    });
    let v6: SocketAddr = (Ipv6Addr::LOCALHOST, 1900).into();
    let mut options = options(silent.local_addr().unwrap(), 600);
    // The other family is left out, duplicates are sent once, and at most four are kept.
    options.also_to = vec![device, device, v6];
    let found: Vec<_> = Searcher::start(&options)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].response.location, "http://127.0.0.1:5000/d.xml");
    assert_eq!(handle.join().unwrap().len(), 3, "one copy per round");
    let many: Vec<SocketAddr> = (1..=9).map(|p| (Ipv4Addr::LOCALHOST, p).into()).collect();
    let kept = also_to(
        &SearchOptions::default().also_to(many),
        (Ipv4Addr::LOCALHOST, 1900).into(),
    );
    assert_eq!(kept.len(), crate::options::MAX_ALSO_TO);
}

#[test]
fn every_interface_is_listed_only_for_a_multicast_search_with_none_named() {
    let every = SearchOptions::default().every_interface(true);
    let loopback = interfaces()
        .unwrap_or_default()
        .into_iter()
        .filter(|i| i.is_loopback())
        .filter_map(|i| i.index)
        .collect::<Vec<_>>();
    for out in via(&every) {
        let Out::V4(ip) = out else {
            panic!("an IPv6 interface for an IPv4 search: {out:?}")
        };
        assert!(!ip.is_loopback() && !ip.is_link_local(), "{ip}");
    }
    for out in via(&every.clone().ipv6(true)) {
        let Out::V6(index) = out else {
            panic!("an IPv4 interface for an IPv6 search: {out:?}")
        };
        assert!(!loopback.contains(&index), "{index}");
    }
    assert!(via(&every).len() <= crate::options::MAX_INTERFACES);
    let unicast = every
        .clone()
        .destination(Some((Ipv4Addr::LOCALHOST, 1900).into()));
    assert!(via(&unicast).is_empty());
    let named = every
        .clone()
        .interface(Some(MulticastInterface::Addr(Ipv4Addr::LOCALHOST.into())));
    assert!(via(&named).is_empty());
    assert!(via(&SearchOptions::default()).is_empty(), "off by default");
}

#[test]
fn a_listener_hears_datagrams_and_says_when_none_came() {
    // Bound on a port of its own, sent to by unicast on loopback: nothing is multicast.
    let mut listener = match Listener::open_on(Ipv4Addr::LOCALHOST.into(), 0) {
        Ok(listener) => listener,
        // Loopback without multicast (some containers): the join is what failed, typed.
        Err(Error::Io { context, .. }) => {
            assert_eq!(context, "join the SSDP group");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let port = listener.local_addr().unwrap().port();
    assert!(
        listener
            .recv_within(Duration::from_millis(50))
            .unwrap()
            .is_none()
    );
    let device = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    device
        .send_to(b"NOTIFY * HTTP/1.1\r\n\r\n", (Ipv4Addr::LOCALHOST, port))
        .unwrap();
    let (from, datagram) = listener
        .recv_within(Duration::from_secs(2))
        .unwrap()
        .expect("heard");
    assert_eq!(from, device.local_addr().unwrap());
    assert!(datagram.starts_with(b"NOTIFY"));
}

#[test]
fn an_ipv6_listener_hears_datagrams_on_the_interface_of_its_address() {
    let mut listener = match Listener::open_on(Ipv6Addr::LOCALHOST.into(), 0) {
        Ok(listener) => listener,
        // No IPv6 on loopback, or no multicast there (some containers): typed.
        Err(Error::Io { context, .. }) => {
            assert!(
                ["open socket", "bind", "join the SSDP group"].contains(&context),
                "{context}"
            );
            return;
        }
        Err(Error::NoSuchInterface(_)) => return,
        Err(e) => panic!("{e}"),
    };
    let port = listener.local_addr().unwrap().port();
    let device = UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)).unwrap();
    device
        .send_to(b"NOTIFY * HTTP/1.1\r\n\r\n", (Ipv6Addr::LOCALHOST, port))
        .unwrap();
    let (from, _) = listener
        .recv_within(Duration::from_secs(2))
        .unwrap()
        .expect("heard");
    assert_eq!(from, device.local_addr().unwrap());
}

#[test]
fn a_listener_on_an_address_no_interface_holds_is_refused() {
    let nowhere: IpAddr = "2001:db8::4242".parse().unwrap();
    assert!(matches!(
        Listener::open_on(nowhere, 0),
        Err(Error::NoSuchInterface(_))
    ));
}
