//! IPv6 pinholes against miniupnpd's WANIPv6FirewallControl: traffic from the ISP host's
//! IPv6 address to the LAN host's global address arrives only while a pinhole is open.
//! IPv6 is routed in the lab, not translated: the router's firewall is all that stands
//! between the ISP host and ours.

use std::net::{Ipv6Addr, TcpListener, UdpSocket};
use std::time::Duration;

use lab_tests::Lab;
use upnp_igd::blocking::{Upnp, UpnpDevice};
use upnp_igd::keeper::Protocol;
use upnp_igd::pinhole::PinholeRequest;
use upnp_igd::{DiscoverOptions, Error};
use upnp_soap::firewall::FirewallError;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The router found over IPv6 (its firewall service is then called over IPv6, from our
/// global address, as miniupnpd requires).
fn gateway6(lab: &Lab) -> UpnpDevice {
    let mut upnp = Upnp::new();
    upnp.settings.discover_ipv6 = true;
    upnp.settings.discover_multicast_if = lab.lan_if.clone();
    upnp.discover(&DiscoverOptions::default()).unwrap();
    upnp.get_gateway().unwrap().clone()
}

fn udp(port: u16) -> UdpSocket {
    UdpSocket::bind((Ipv6Addr::UNSPECIFIED, port)).unwrap()
}

fn tcp(port: u16) -> TcpListener {
    TcpListener::bind((Ipv6Addr::UNSPECIFIED, port)).unwrap()
}

/// IGDv1 has no IPv6 firewall service: the lab's v1 mode says so, typed.
fn v1_has_none(lab: &Lab, gateway: &UpnpDevice) -> bool {
    if lab.igd_version != 1 {
        return false;
    }
    let refused = gateway.open_pinhole(&PinholeRequest::new(Protocol::Udp, 7800));
    assert!(
        matches!(refused, Err(Error::NoPinholeService)),
        "{refused:?}"
    );
    true
}

#[test]
fn udp_and_tcp_arrive_only_while_the_pinhole_is_open() {
    let lab = Lab::get();
    let gateway = gateway6(&lab);
    if v1_has_none(&lab, &gateway) {
        return;
    }
    let (udp, tcp) = (udp(7801), tcp(7802));
    assert!(
        !lab.udp_arrives_at(&udp, lab.host_addr6, 7801, "before"),
        "no pinhole yet"
    );
    assert!(!lab.tcp_arrives_at(&tcp, lab.host_addr6, 7802, "before"));

    let status = gateway.firewall_status().unwrap();
    assert!(
        status.enabled && status.inbound_pinhole_allowed,
        "{status:?}"
    );
    let lease = secs(600);
    let udp_hole = gateway
        .open_pinhole(&PinholeRequest::new(Protocol::Udp, 7801).lease(lease))
        .unwrap();
    let tcp_hole = gateway
        .open_pinhole(&PinholeRequest::new(Protocol::Tcp, 7802).lease(lease))
        .unwrap();
    assert_eq!(udp_hole.internal_client, lab.host_addr6);
    assert_ne!(udp_hole.unique_id, tcp_hole.unique_id);
    assert!(lab.udp_arrives_at(&udp, lab.host_addr6, 7801, "through"));
    assert!(lab.tcp_arrives_at(&tcp, lab.host_addr6, 7802, "through"));

    gateway.renew_pinhole(&udp_hole).unwrap();
    // miniupnpd's nftables backend counts no packets for pinholes (its rules carry no
    // counter): the two answers must agree, whatever they are (709 reads as `false`).
    let packets = gateway.pinhole_packets(udp_hole.unique_id).unwrap();
    let working = gateway.pinhole_working(udp_hole.unique_id).unwrap();
    assert_eq!(working, packets > 0, "{packets} packets");

    gateway.close_pinhole(udp_hole.unique_id).unwrap();
    gateway.close_pinhole(tcp_hole.unique_id).unwrap();
    assert!(
        !lab.udp_arrives_at(&udp, lab.host_addr6, 7801, "after"),
        "closed"
    );
    assert!(!lab.tcp_arrives_at(&tcp, lab.host_addr6, 7802, "after"));
    // Closing it again is refused, typed: the spec says 704 NoSuchEntry; miniupnpd 2.3.1
    // (nftables) answers 402 Invalid Args.
    let again = gateway.close_pinhole(udp_hole.unique_id);
    assert!(
        matches!(
            again,
            Err(Error::FirewallRefused {
                error: FirewallError::NoSuchEntry,
                ..
            }) | Err(Error::Soap(upnp_soap::Error::Fault(_)))
        ),
        "{again:?}"
    );
}

#[test]
fn a_pinhole_closes_when_its_lease_ends() {
    let lab = Lab::get();
    let gateway = gateway6(&lab);
    if v1_has_none(&lab, &gateway) {
        return;
    }
    let socket = udp(7803);
    let hole = gateway
        .open_pinhole(&PinholeRequest::new(Protocol::Udp, 7803).lease(secs(2)))
        .unwrap();
    assert!(lab.udp_arrives_at(&socket, lab.host_addr6, 7803, "leased"));
    std::thread::sleep(secs(6));
    assert!(
        !lab.udp_arrives_at(&socket, lab.host_addr6, 7803, "expired"),
        "the lease ended"
    );
    let _ = gateway.close_pinhole(hole.unique_id);
}

#[test]
fn bad_requests_are_refused_before_anything_is_sent() {
    let lab = Lab::get();
    let gateway = gateway6(&lab);
    let request = PinholeRequest::new(Protocol::Udp, 7804);
    for local in ["fe80::10", "fd77::10", "::1"] {
        let refused = gateway.open_pinhole(&request.clone().client(local.parse().unwrap()));
        assert!(
            matches!(refused, Err(Error::NotGlobal(_))),
            "{local}: {refused:?}"
        );
    }
    for lease in [0, 86_401] {
        let refused = gateway.open_pinhole(&request.clone().lease(secs(lease)));
        assert!(matches!(refused, Err(Error::PinholeLease(l)) if l == lease));
    }
    let refused = gateway.open_pinhole(&PinholeRequest::new(Protocol::Tcp, 0));
    assert!(matches!(refused, Err(Error::InvalidPort(0))));
    if lab.igd_version == 2 {
        // Another host's address: the router refuses, typed.
        let other = gateway.open_pinhole(&request.client("2001:db8:77::99".parse().unwrap()));
        assert!(
            matches!(
                other,
                Err(Error::FirewallRefused {
                    error: FirewallError::ActionNotAuthorized,
                    ..
                })
            ),
            "{other:?}"
        );
    }
}

#[test]
fn the_async_driver_opens_and_closes_pinholes_too() {
    let lab = Lab::get();
    if lab.igd_version != 2 {
        return;
    }
    let socket = udp(7805);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut upnp = upnp_igd::tokio::Upnp::new();
        upnp.settings.discover_ipv6 = true;
        upnp.settings.discover_multicast_if = lab.lan_if.clone();
        upnp.discover(&DiscoverOptions::default()).await.unwrap();
        let gateway = upnp.get_gateway().unwrap();
        let hole = gateway
            .open_pinhole(&PinholeRequest::new(Protocol::Udp, 7805))
            .await
            .unwrap();
        assert!(lab.udp_arrives_at(&socket, lab.host_addr6, 7805, "async"));
        gateway.close_pinhole(hole.unique_id).await.unwrap();
    });
    assert!(!lab.udp_arrives_at(&socket, lab.host_addr6, 7805, "closed"));
}

fn upnp(args: &[String]) -> std::process::Output {
    let bin = std::env::var("IGD_LAB_UPNP_BIN")
        .unwrap_or_else(|_| format!("{}/../target/debug/upnp", env!("CARGO_MANIFEST_DIR")));
    std::process::Command::new(&bin)
        // The record of pinholes opened goes to a directory of this test's own.
        .env(
            "XDG_STATE_HOME",
            std::env::temp_dir().join("igd-lab-pinhole-cli"),
        )
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {bin}: {e}"))
}

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `upnp pinhole open|list|close|status`: JSON, the pinhole listed while open, the port
/// reachable only then.
#[test]
fn upnp_pinhole_opens_lists_and_closes() {
    let lab = Lab::get();
    let lan_if = lab.lan_if.clone();
    let with = |rest: &[&str]| -> Vec<String> {
        ["--json", "--interface", lan_if.as_str()]
            .iter()
            .chain(rest)
            .map(|s| (*s).to_owned())
            .collect()
    };
    if lab.igd_version != 2 {
        let out = upnp(&with(&["pinhole", "status"]));
        assert!(!out.status.success());
        return;
    }
    let socket = udp(7806);
    let status = json(&upnp(&with(&["pinhole", "status"])));
    assert_eq!(status["firewall_enabled"], true);
    let opened = json(&upnp(&with(&["pinhole", "open", "7806", "--lease", "600"])));
    assert_eq!(opened["command"], "pinhole open");
    let opened = &opened["pinhole"];
    assert_eq!(opened["internal_client"], lab.host_addr6.to_string());
    assert_eq!(opened["proto"], "UDP");
    assert!(lab.udp_arrives_at(&socket, lab.host_addr6, 7806, "cli"));
    let id = opened["unique_id"].as_u64().unwrap().to_string();
    let listed = json(&upnp(&with(&["pinhole", "list"])));
    assert!(
        listed["pinholes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["unique_id"] == opened["unique_id"]),
        "{listed}"
    );
    json(&upnp(&with(&["pinhole", "close", &id])));
    assert!(!lab.udp_arrives_at(&socket, lab.host_addr6, 7806, "closed"));
    let listed = json(&upnp(&with(&["pinhole", "list"])));
    assert!(
        !listed["pinholes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["unique_id"] == opened["unique_id"]),
        "{listed}"
    );
    // Out of range: refused before anything is sent, typed.
    let out = upnp(&with(&["pinhole", "open", "7806", "--lease", "0"]));
    assert!(!out.status.success());
}

/// Events until one matches, at most `limit`; panics with what came instead.
fn wait_for(
    keeper: &upnp_igd::blocking::KeeperHandle,
    limit: Duration,
    what: impl Fn(&upnp_igd::keeper::Event) -> bool,
) -> upnp_igd::keeper::Event {
    let end = std::time::Instant::now() + limit;
    let mut seen = Vec::new();
    while let Some(left) = end.checked_duration_since(std::time::Instant::now()) {
        match keeper.events().recv_timeout(left) {
            Ok(event) if what(&event) => return event,
            Ok(event) => seen.push(event.to_string()),
            Err(_) => break,
        }
    }
    panic!("no such event within {limit:?}; saw {seen:#?}");
}

/// The keeper holds the pinhole beside the mapping: open, back after a router restart
/// (the renewal at the next check is refused: opened again), closed at stop.
#[test]
fn the_keeper_holds_a_pinhole_across_a_router_restart_and_closes_it_at_stop() {
    use upnp_igd::keeper::{Event, Keep, upnp::Find};
    let lab = Lab::get();
    if lab.igd_version != 2 {
        return;
    }
    let socket = udp(7807);
    let mut upnp = Upnp::new();
    upnp.settings.discover_ipv6 = true;
    upnp.settings.discover_multicast_if = lab.lan_if.clone();
    let keep = Keep::new()
        .udp(7807)
        .pinholes(true)
        .check(secs(1))
        .quiet_check(secs(1))
        .retry(Duration::from_millis(200), secs(1));
    let keeper = upnp.keep(keep, Find::default()).unwrap();
    let opened = wait_for(&keeper, secs(10), |e| matches!(e, Event::PinholeOpened(_)));
    let Event::PinholeOpened(first) = opened else {
        unreachable!()
    };
    assert_eq!(first.client, lab.host_addr6);
    assert!(lab.udp_arrives_at(&socket, lab.host_addr6, 7807, "kept"));
    lab.restart_router();
    wait_for(&keeper, secs(15), |e| {
        matches!(e, Event::PinholeLost { .. })
    });
    wait_for(&keeper, secs(15), |e| matches!(e, Event::PinholeOpened(_)));
    assert!(lab.udp_arrives_at(&socket, lab.host_addr6, 7807, "back"));
    let rest = keeper.stop();
    assert!(
        rest.iter()
            .any(|e| matches!(e, Event::PinholeClosed { .. })),
        "{rest:?}"
    );
    assert!(
        matches!(rest.last(), Some(Event::Stopped { left: 0 })),
        "{rest:?}"
    );
    assert!(!lab.udp_arrives_at(&socket, lab.host_addr6, 7807, "stopped"));
}

/// PCP over IPv6, the other way to a pinhole: a MAP sent to the router's IPv6 address lets
/// the Internet in to our global address (no NAT: the external address granted is ours, the
/// external port the internal one), until it is removed. NAT-PMP, IPv4 only, is refused
/// typed before anything is sent. (miniupnpd makes these pinholes in both IGD modes.)
#[test]
fn pcp_over_ipv6_opens_a_pinhole_to_our_global_address() {
    use upnp_igd::blocking::PmpClient;
    use upnp_igd::pmp::{PmpMapping, Target, Way};
    use upnp_igd::{Limits, Method};
    let lab = Lab::get();
    let socket = udp(7808);
    assert!(!lab.udp_arrives_at(&socket, lab.host_addr6, 7808, "before"));
    let refused = PmpClient::new(Target::DefaultV6, Way::NatPmp, &Limits::default());
    assert!(
        matches!(refused, Err(Error::NotSpoken(Method::NatPmp))),
        "{refused:?}"
    );
    let mut client = PmpClient::probe(
        Target::DefaultV6,
        Way::Pcp { fallback: true },
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(client.method(), Method::Pcp);
    assert_eq!(client.local().ip(), lab.host_addr6);
    let mapping = PmpMapping::new(
        Protocol::Udp,
        7808,
        600,
        pcp_natpmp::Nonce::random().unwrap(),
    );
    let granted = client.add(mapping).unwrap();
    assert_eq!(granted.external_ip, Some(lab.host_addr6.into()));
    assert_eq!(granted.external_port, 7808);
    assert!(lab.udp_arrives_at(&socket, lab.host_addr6, 7808, "pcp pinhole"));
    assert_eq!(client.delete(mapping).unwrap(), Method::Pcp);
    assert!(!lab.udp_arrives_at(&socket, lab.host_addr6, 7808, "removed"));
}

/// The PCP keeper over IPv6 (async driver) holds a pinhole as it holds a mapping: mapped to
/// our global address, reachable, gone after the stop.
#[test]
fn the_pcp_keeper_holds_an_ipv6_pinhole_and_removes_it_at_stop() {
    use upnp_igd::keeper::{Event, Keep};
    use upnp_igd::pmp::{Target, Way};
    let lab = Lab::get();
    let socket = udp(7809);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let keep = Keep::new().udp(7809).lease(secs(600)).check(secs(1));
        let way = Way::Pcp { fallback: true };
        let mut keeper =
            upnp_igd::tokio::keep_pmp(keep, way, Target::DefaultV6, &upnp_igd::Limits::default())
                .unwrap();
        let mapped = tokio::time::timeout(secs(10), async {
            loop {
                match keeper.next_event().await {
                    Some(Event::Mapped(held)) => return held,
                    Some(_) => {}
                    None => panic!("the keeper ended"),
                }
            }
        })
        .await
        .expect("mapped within 10 s");
        assert_eq!(mapped.external_ip, Some(lab.host_addr6.into()));
        assert_eq!(mapped.external_port, 7809);
        assert!(lab.udp_arrives_at(&socket, lab.host_addr6, 7809, "kept"));
        let rest = keeper.stop().await;
        assert!(
            matches!(rest.last(), Some(Event::Stopped { left: 0 })),
            "{rest:?}"
        );
    });
    assert!(!lab.udp_arrives_at(&socket, lab.host_addr6, 7809, "stopped"));
}

/// `upnp keep` for IPv6 ports, both ways: `--pinholes` (UPnP's firewall service, beside the
/// IPv4 mapping) and `--ipv6 --via pcp` (PCP's MAP to the IPv6 gateway). JSON lines; SIGTERM
/// closes what was opened.
#[test]
fn upnp_keep_holds_ipv6_ports_both_ways_and_cleans_up_on_sigterm() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let lab = Lab::get();
    let bin = std::env::var("IGD_LAB_UPNP_BIN")
        .unwrap_or_else(|_| format!("{}/../target/debug/upnp", env!("CARGO_MANIFEST_DIR")));
    let keep = |args: &[&str], wanted: &str, port: u16| {
        let socket = udp(port);
        let mut child = Command::new(&bin)
            .args(["--json", "--interface", lab.lan_if.as_str()])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let event = loop {
            let line = lines.next().expect("a line").unwrap();
            let event: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(event["version"], 1, "{line}");
            assert_eq!(event["command"], "keep", "{line}");
            assert_ne!(event["event"]["kind"], "failed", "{line}");
            if event["event"]["kind"] == wanted {
                break event;
            }
        };
        assert!(lab.udp_arrives_at(&socket, lab.host_addr6, port, wanted));
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let status = child.wait().unwrap();
        assert!(status.success(), "{status}");
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        assert!(!lab.udp_arrives_at(&socket, lab.host_addr6, port, "after SIGTERM"));
        (event, rest)
    };
    let port = "7810";
    let (mapped, _) = keep(&["--ipv6", "--via", "pcp", "keep", port], "mapped", 7810);
    assert_eq!(mapped["method"], "pcp");
    assert_eq!(mapped["event"]["external_ip"], lab.host_addr6.to_string());
    if lab.igd_version != 2 {
        return;
    }
    let (opened, rest) = keep(&["keep", "--pinholes", "7811"], "pinhole-opened", 7811);
    assert_eq!(
        opened["event"]["internal_client"],
        lab.host_addr6.to_string(),
        "{opened}"
    );
    assert!(
        rest.iter().any(|l| l.contains("pinhole-closed")),
        "{rest:?}"
    );
}

/// A keeper that found its router over IPv6 hears the router's IPv6 notifications: a
/// restart is healed (its pinhole opened again) within two seconds with the default check
/// interval.
#[test]
fn a_router_found_over_ipv6_is_heard_restarting() {
    use upnp_igd::keeper::{Event, Keep, upnp::Find};
    let lab = Lab::get();
    if lab.igd_version != 2 {
        return;
    }
    let socket = udp(7812);
    let mut upnp = Upnp::new();
    upnp.settings.discover_ipv6 = true;
    upnp.settings.discover_multicast_if = lab.lan_if.clone();
    let keeper = upnp
        .keep(Keep::new().udp(7812).pinholes(true), Find::default())
        .unwrap();
    wait_for(&keeper, secs(10), |e| matches!(e, Event::PinholeOpened(_)));
    std::thread::sleep(Duration::from_millis(300));
    lab.restart_router();
    let answering = std::time::Instant::now();
    wait_for(&keeper, secs(10), |e| matches!(e, Event::PinholeOpened(_)));
    let healed = answering.elapsed();
    assert!(
        healed < secs(2),
        "healed {healed:?} after the router answered"
    );
    assert!(lab.udp_arrives_at(&socket, lab.host_addr6, 7812, "back"));
    drop(keeper);
}
