//! `upnp_ssdp::net::Searcher` against miniupnpd on the lab's LAN.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use lab_tests::Lab;
use upnp_ssdp::SearchTarget;
use upnp_ssdp::net::{LocalPort, MulticastInterface, Response, SearchOptions, Searcher};

fn igd(version: u32) -> SearchTarget {
    SearchTarget::device("InternetGatewayDevice", version)
}

fn search(options: &SearchOptions) -> Vec<Response> {
    Searcher::start(options)
        .expect("start search")
        .map(|r| r.expect("search I/O"))
        .collect()
}

fn options(timeout_ms: u64) -> SearchOptions {
    SearchOptions::default().timeout(Duration::from_millis(timeout_ms))
}

/// The one response from the router for `st`, checked against what the lab serves.
fn assert_router_answered(lab: &Lab, found: &[Response], st: &SearchTarget, ipv6: bool) {
    let from_router: Vec<_> = found
        .iter()
        .filter(|r| r.response.search_target == *st)
        .collect();
    assert_eq!(from_router.len(), 1, "one answer for {st}: {found:#?}");
    let r = from_router[0];
    let (router, url): (IpAddr, _) = if ipv6 {
        (lab.router_addr6.into(), lab.description_url6())
    } else {
        (lab.router_addr.into(), lab.description_url())
    };
    assert_eq!(r.response.location, url);
    let usn = r.response.usn.as_deref().unwrap_or_default();
    assert!(
        usn.starts_with("uuid:") && usn.ends_with(&format!("::{st}")),
        "{usn}"
    );
    // The root device answers with its own UUID; miniupnpd numbers its embedded devices'
    // UUIDs after it.
    let root_level = *st == SearchTarget::RootDevice
        || matches!(st, SearchTarget::Device(u) if u.name == "InternetGatewayDevice");
    if root_level {
        assert_eq!(usn, format!("uuid:{}::{st}", lab.uuid));
    }
    if ipv6 {
        // miniupnpd answers IPv6 searches from its link-local address.
        assert!(
            matches!(r.from, SocketAddr::V6(a) if a.ip().segments()[0] == 0xfe80 || *a.ip() == lab.router_addr6)
        );
    } else {
        assert_eq!(r.from.ip(), router);
    }
    assert!(r.response.max_age.is_some_and(|age| age > 0));
}

#[test]
fn finds_the_router_with_godots_defaults() {
    let lab = Lab::get();
    let found = search(&SearchOptions::default());
    assert_router_answered(&lab, &found, &igd(1), false);
}

#[test]
fn finds_the_router_with_each_local_port_mode() {
    let lab = Lab::get();
    for (port, expect) in [
        (LocalPort::Any, None),
        (LocalPort::Ssdp, Some(1900)),
        (LocalPort::Port(47123), Some(47123)),
    ] {
        let opts = options(1000).local_port(port);
        let searcher = Searcher::start(&opts).unwrap();
        let local = searcher.local_addr().unwrap().port();
        match expect {
            Some(p) => assert_eq!(local, p),
            None => assert_ne!(local, 0),
        }
        let found: Vec<_> = searcher.map(Result::unwrap).collect();
        assert_router_answered(&lab, &found, &igd(1), false);
    }
}

#[test]
fn finds_the_router_through_an_interface_named_or_addressed() {
    let lab = Lab::get();
    for interface in [
        MulticastInterface::Name(lab.lan_if.clone()),
        MulticastInterface::Addr(lab.host_addr.into()),
        lab.lan_if.parse().unwrap(),
    ] {
        let found = search(&options(1000).interface(Some(interface.clone())));
        assert_router_answered(&lab, &found, &igd(1), false);
    }
}

#[test]
fn finds_the_router_over_ipv6() {
    let lab = Lab::get();
    for interface in [
        MulticastInterface::Name(lab.lan_if.clone()),
        MulticastInterface::Addr(lab.host_addr6.into()),
    ] {
        let found = search(&options(1000).ipv6(true).interface(Some(interface)));
        assert_router_answered(&lab, &found, &igd(1), true);
    }
}

#[test]
fn several_targets_each_answered_with_the_st_asked() {
    let lab = Lab::get();
    let targets = vec![
        igd(1),
        SearchTarget::service("WANIPConnection", 1),
        SearchTarget::RootDevice,
    ];
    let found = search(&options(1000).targets(targets.clone()));
    for st in &targets {
        assert_router_answered(&lab, &found, st, false);
    }
}

/// miniupnpd answers a search for IGD:2 with `ST: ...InternetGatewayDevice:2` even when forced
/// to describe itself as IGD:1 (`-1`): the version in an SSDP answer proves nothing about the
/// description, which the layers above must read to learn the real version.
#[test]
fn igd_v2_search_is_answered_whatever_the_description_says() {
    let lab = Lab::get();
    let found = search(&options(1000).targets(vec![igd(2)]));
    assert!(lab.igd_version == 1 || lab.igd_version == 2);
    assert_router_answered(&lab, &found, &igd(2), false);
}

#[test]
fn stops_at_the_first_answer() {
    let lab = Lab::get();
    let mut searcher = Searcher::start(&options(2000)).unwrap();
    let deadline = searcher.deadline().unwrap();
    let first = searcher.next().expect("an answer").unwrap();
    assert!(first.received < deadline);
    assert_eq!(first.response.location, lab.description_url());
}

#[test]
fn an_unserved_target_yields_nothing_and_ends_at_the_deadline() {
    let _lab = Lab::get();
    let timeout = Duration::from_millis(800);
    let start = Instant::now();
    let found = search(
        &SearchOptions::default()
            .targets(vec![SearchTarget::device("NoSuchDevice", 1)])
            .timeout(timeout),
    );
    let elapsed = start.elapsed();
    assert!(found.is_empty(), "{found:#?}");
    assert!(elapsed >= timeout, "ended early: {elapsed:?}");
    // A functional bound, not a speed measurement: a search that waited for another round
    // or another timeout would take at least twice as long.
    assert!(elapsed < timeout * 2, "ended late: {elapsed:?}");
}

#[test]
fn agrees_with_upnpc() {
    let lab = Lab::get();
    let upnpc = lab.upnpc(&["-s"]);
    let desc = upnpc
        .lines()
        .find_map(|l| l.trim().strip_prefix("desc: "))
        .unwrap_or_else(|| panic!("upnpc found no device:\n{upnpc}"));
    let found = search(&options(1000));
    assert_eq!(found[0].response.location, desc);
}
