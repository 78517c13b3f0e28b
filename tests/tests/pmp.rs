//! NAT-PMP and PCP against miniupnpd: with UPnP off, every way still opens a port that
//! forwards; with UPnP on, PCP still works and auto keeps UPnP.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use lab_tests::Lab;
use upnp_igd::blocking::{Found, KeeperHandle, PmpClient, Upnp};
use upnp_igd::keeper::{Event, Keep, LostReason};
use upnp_igd::pmp::{Target, Way};
use upnp_igd::{DiscoverOptions, Limits, Method, Via};

fn upnp(args: &[&str]) -> Output {
    let bin = std::env::var("IGD_LAB_UPNP_BIN")
        .unwrap_or_else(|_| format!("{}/../target/debug/upnp", env!("CARGO_MANIFEST_DIR")));
    Command::new(&bin)
        .args(args)
        .env("XDG_CACHE_HOME", lab_tests::cache_home())
        .output()
        .unwrap_or_else(|e| panic!("run {bin}: {e}"))
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn forwards(lab: &Lab, port: u16) -> bool {
    lab.nft_rules().contains(&format!("dport {port} "))
}

/// Add, forward, read the address, delete: `via` must come out as `method`.
fn round_trip(lab: &Lab, via: &str, port: u16, method: &str) {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port)).unwrap();
    let p = port.to_string();
    let added = json(&upnp(&[
        "--json", "--via", via, "add", &p, "--proto", "udp",
    ]));
    assert_eq!(added["version"], 1, "{added}");
    assert_eq!(added["method"], method, "{added}");
    assert_eq!(added["mapping"]["external_port"], port);
    assert_eq!(
        added["mapping"]["internal_client"],
        lab.host_addr.to_string()
    );
    assert!(forwards(lab, port), "{}", lab.nft_rules());
    assert!(lab.udp_arrives(&socket, port, via));
    let ip = json(&upnp(&["--json", "--via", via, "external-ip"]));
    assert_eq!(ip["external_ip"], lab.wan_addr.to_string());
    assert_eq!(ip["method"], method);
    let deleted = json(&upnp(&["--json", "--via", via, "delete", &p]));
    assert_eq!(deleted["method"], method);
    assert!(!forwards(lab, port), "{}", lab.nft_rules());
}

#[test]
fn with_upnp_off_every_way_opens_a_port_that_forwards() {
    let lab = Lab::get();
    let _off = lab.without_upnp();
    round_trip(&lab, "auto", 7701, "pcp");
    round_trip(&lab, "pcp", 7702, "pcp");
    round_trip(&lab, "natpmp", 7703, "natpmp");
    // UPnP alone finds nothing.
    let out = upnp(&["--via", "upnp", "--timeout", "500", "external-ip"]);
    assert!(!out.status.success());
}

#[test]
fn with_upnp_on_pcp_still_works_and_auto_keeps_upnp() {
    let lab = Lab::get();
    round_trip(&lab, "pcp", 7704, "pcp");
    round_trip(&lab, "natpmp", 7705, "natpmp");
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 7706)).unwrap();
    let added = json(&upnp(&["--json", "add", "7706"]));
    assert_eq!(added["method"], "upnp");
    assert!(lab.udp_arrives(&socket, 7706, "auto"));
    json(&upnp(&["--json", "delete", "7706"]));
}

#[test]
fn the_library_says_which_way_it_found() {
    let lab = Lab::get();
    let options = DiscoverOptions::default();
    let mut upnp = Upnp::new();
    match upnp.find_way(&options, Via::Pcp, None).unwrap() {
        Found::Pmp(client) => {
            assert_eq!(client.method(), Method::Pcp);
            assert_eq!(client.gateway().ip(), IpAddr::V4(lab.router_addr));
        }
        Found::Upnp(_) => panic!("PCP was asked"),
    }
    match upnp.find_way(&options, Via::Auto, None).unwrap() {
        Found::Upnp(device) => assert!(device.is_valid_gateway()),
        Found::Pmp(_) => panic!("UPnP is preferred when it answers"),
    }
    let _off = lab.without_upnp();
    match upnp.find_way(&options, Via::Auto, None).unwrap() {
        Found::Pmp(mut client) => {
            let address = client.external_ip().unwrap();
            assert_eq!(address.address, IpAddr::V4(lab.wan_addr));
            assert_eq!(address.method, Method::Pcp);
        }
        Found::Upnp(_) => panic!("UPnP is off"),
    }
}

#[test]
fn a_host_that_speaks_neither_is_a_typed_error_at_once() {
    let lab = Lab::get();
    // The ISP host has nothing on UDP 5351: its "port unreachable" ends the exchange.
    let isp = lab.isp_addr.to_string();
    let out = upnp(&["--json", "--via", "pcp", "--gateway", &isp, "external-ip"]);
    assert!(!out.status.success());
    let error: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(error["error"]["exit_code"], 3, "{error}");
    let message = error["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("nothing answers NAT-PMP or PCP"),
        "{error}"
    );
}

#[test]
fn the_async_driver_maps_through_nat_pmp_too() {
    let lab = Lab::get();
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 7708)).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut upnp = upnp_igd::tokio::Upnp::new();
        let found = upnp
            .find_way(&DiscoverOptions::default(), Via::NatPmp, None)
            .await
            .unwrap();
        let upnp_igd::tokio::Found::Pmp(mut client) = found else {
            panic!("NAT-PMP was asked")
        };
        assert_eq!(client.local().ip(), IpAddr::V4(lab.host_addr));
        let nonce = client.derived_nonce(upnp_igd::keeper::Protocol::Udp, 7708);
        let mapping =
            upnp_igd::pmp::PmpMapping::new(upnp_igd::keeper::Protocol::Udp, 7708, 300, nonce);
        let granted = client.add(mapping).await.unwrap();
        assert_eq!(granted.method, Method::NatPmp);
        assert_eq!(granted.external_ip, Some(IpAddr::V4(lab.wan_addr)));
        assert!(lab.udp_arrives(&socket, granted.external_port, "async"));
        assert_eq!(client.delete(mapping).await.unwrap(), Method::NatPmp);
        assert!(!forwards(&lab, granted.external_port));
    });
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Events until one matches, at most `limit`; panics with what came instead.
fn wait_for(keeper: &KeeperHandle, limit: Duration, what: impl Fn(&Event) -> bool) -> Event {
    let end = Instant::now() + limit;
    let mut seen = Vec::new();
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        match keeper.events().recv_timeout(left) {
            Ok(event) if what(&event) => return event,
            Ok(event) => seen.push(event.to_string()),
            Err(_) => break,
        }
    }
    panic!("no such event within {limit:?}; saw {seen:#?}");
}

fn pcp() -> Way {
    Way::Pcp { fallback: true }
}

/// PCP's renewal succeeds whether or not the mapping survived (it makes it again), so a
/// `Lost` after a restart can only come from the epoch in the gateway's answers.
#[test]
fn the_pcp_keeper_heals_across_a_router_restart_seen_in_the_epoch() {
    let lab = Lab::get();
    let off = lab.without_upnp();
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 7709)).unwrap();
    let client = PmpClient::probe(Target::Default, pcp(), &Limits::default()).unwrap();
    assert_eq!(client.method(), Method::Pcp);
    let keep = Keep::new()
        .udp(7709)
        .check(secs(1))
        .retry(Duration::from_millis(200), secs(1));
    let keeper = client.keep(keep).unwrap();
    wait_for(&keeper, secs(10), |e| {
        matches!(e, Event::Mapped(held) if held.external_port == 7709
            && held.external_ip == Some(IpAddr::V4(lab.wan_addr)))
    });
    assert!(lab.udp_arrives(&socket, 7709, "kept"));
    // The router of `without_upnp` is seconds old: an epoch of 0 after its restart would be
    // within the RFC's 2 s of slack. Let it age first, as real routers have.
    std::thread::sleep(secs(4));
    off.restart_router();
    wait_for(&keeper, secs(15), |e| {
        matches!(
            e,
            Event::Lost {
                external_port: 7709,
                reason: LostReason::Gone | LostReason::Restarted,
                ..
            }
        )
    });
    wait_for(
        &keeper,
        secs(15),
        |e| matches!(e, Event::Remapped(held) if held.external_port == 7709),
    );
    assert!(lab.udp_arrives(&socket, 7709, "back"));
    let rest = keeper.stop();
    assert!(
        rest.iter().any(|e| matches!(
            e,
            Event::Removed {
                external_port: 7709,
                ..
            }
        )),
        "{rest:?}"
    );
    assert!(matches!(rest.last(), Some(Event::Stopped { left: 0 })));
    assert!(!forwards(&lab, 7709), "{}", lab.nft_rules());
}

/// With checks an hour apart, only the router's announcement (224.0.0.1:5350, sent when it
/// starts) can tell the keeper of the restart in time.
#[test]
fn the_routers_announcement_of_its_restart_remaps_at_once() {
    let lab = Lab::get();
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 7711)).unwrap();
    let keep = Keep::new().udp(7711).check(secs(3600));
    let keeper =
        upnp_igd::blocking::keep_pmp(keep, pcp(), Target::Default, &Limits::default()).unwrap();
    wait_for(&keeper, secs(10), |e| matches!(e, Event::Mapped(_)));
    // Let the router age past the epoch rule's slack (a younger one's restart is within it).
    std::thread::sleep(secs(4));
    lab.restart_router();
    wait_for(&keeper, secs(10), |e| {
        matches!(
            e,
            Event::Lost {
                reason: LostReason::Gone | LostReason::Restarted,
                ..
            }
        )
    });
    wait_for(&keeper, secs(10), |e| matches!(e, Event::Remapped(_)));
    assert!(lab.udp_arrives(&socket, 7711, "announced"));
    keeper.stop();
    assert!(!forwards(&lab, 7711));
}

#[test]
fn the_async_keeper_keeps_through_nat_pmp() {
    let lab = Lab::get();
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 7712)).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let keep = Keep::new().udp(7712).check(secs(1));
        let mut keeper =
            upnp_igd::tokio::keep_pmp(keep, Way::NatPmp, Target::Default, &Limits::default())
                .unwrap();
        let event = keeper.next_event().await.unwrap();
        assert!(
            matches!(&event, Event::Mapped(held) if held.external_port == 7712),
            "{event:?}"
        );
        assert!(lab.udp_arrives(&socket, 7712, "async keeper"));
        let rest = keeper.stop().await;
        assert!(
            matches!(rest.last(), Some(Event::Stopped { left: 0 })),
            "{rest:?}"
        );
    });
    assert!(!forwards(&lab, 7712));
}

/// `upnp keep --via natpmp`: JSON lines naming the method; SIGTERM removes the mapping.
#[test]
fn upnp_keep_via_natpmp_names_the_method_and_cleans_up_on_sigterm() {
    let lab = Lab::get();
    let bin = std::env::var("IGD_LAB_UPNP_BIN")
        .unwrap_or_else(|_| format!("{}/../target/debug/upnp", env!("CARGO_MANIFEST_DIR")));
    let mut child = Command::new(bin)
        .args(["--json", "--via", "natpmp", "keep", "7713", "--check", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next().expect("a line").unwrap();
    let event: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["command"], "keep", "{line}");
    assert_eq!(event["event"]["kind"], "mapped", "{line}");
    assert_eq!(event["method"], "natpmp", "{line}");
    assert_eq!(event["event"]["external_ip"], lab.wan_addr.to_string());
    assert!(forwards(&lab, 7713));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().unwrap().success());
    let rest: Vec<serde_json::Value> = lines
        .map_while(Result::ok)
        .map(|l| serde_json::from_str(&l).unwrap())
        .collect();
    assert!(
        rest.iter().any(|e| e["event"]["kind"] == "removed"),
        "{rest:?}"
    );
    assert!(!forwards(&lab, 7713), "{}", lab.nft_rules());
}

/// A rogue "gateway" (our own server on the LAN host, named with `--gateway`): before each
/// real answer it sends a truncated datagram, an answer to another opcode and a MAP answer
/// with another nonce; with `honest` false, only those. The client must ignore all three:
/// with the real answer it maps, without it the call ends with a typed timeout at its
/// deadline. Nothing panics either way.
fn rogue_gateway(lab: &Lab, honest: bool) -> std::thread::JoinHandle<usize> {
    let server = UdpSocket::bind((lab.host_addr, pcp_natpmp::SERVER_PORT)).unwrap();
    server
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    std::thread::spawn(move || {
        let mut answered = 0;
        let mut buf = [0u8; 1100];
        let end = Instant::now() + secs(4);
        while Instant::now() < end && answered < 2 {
            let Ok((n, from)) = server.recv_from(&mut buf) else {
                continue;
            };
            let Ok(request) = pcp_natpmp::PcpRequest::parse(&buf[..n]) else {
                continue;
            };
            let answer_with = |result, op| {
                pcp_natpmp::Response::Pcp(pcp_natpmp::PcpResponse {
                    result,
                    lifetime: request.lifetime,
                    epoch: 1000,
                    op,
                    options: Vec::new(),
                })
                .encode()
                .unwrap()
            };
            let answer = |op| answer_with(pcp_natpmp::PcpResult::Success, op);
            let _ = server.send_to(&[2, 0x81, 0], from);
            let other = answer_with(
                pcp_natpmp::PcpResult::UnsupportedOpcode,
                pcp_natpmp::ResponseOp::Bare(9),
            );
            let _ = server.send_to(&other, from);
            let right = match request.op {
                pcp_natpmp::RequestOp::Announce => pcp_natpmp::ResponseOp::Announce,
                pcp_natpmp::RequestOp::Map(map) => {
                    let mut forged = map;
                    forged.nonce = pcp_natpmp::Nonce([0xee; 12]);
                    forged.external_address = IpAddr::V4(Ipv4Addr::new(11, 0, 0, 66));
                    let _ = server.send_to(&answer(pcp_natpmp::ResponseOp::Map(forged)), from);
                    let mut granted = map;
                    granted.external_address = IpAddr::V4(Ipv4Addr::new(11, 0, 0, 99));
                    pcp_natpmp::ResponseOp::Map(granted)
                }
            };
            if honest || matches!(right, pcp_natpmp::ResponseOp::Announce) {
                let _ = server.send_to(&answer(right), from);
                answered += 1;
            }
        }
        answered
    })
}

#[test]
fn garbage_before_the_answer_is_ignored_and_garbage_alone_is_said_to_be() {
    let lab = Lab::get();
    let gateway = Some(IpAddr::V4(lab.host_addr));
    let nonce = pcp_natpmp::Nonce([1; 12]);
    let mapping = upnp_igd::pmp::PmpMapping::new(upnp_igd::keeper::Protocol::Udp, 7714, 600, nonce);

    let serving = rogue_gateway(&lab, true);
    let mut client = PmpClient::probe(gateway.into(), pcp(), &Limits::default()).unwrap();
    assert_eq!(client.method(), Method::Pcp);
    let granted = client.add(mapping).unwrap();
    assert_eq!(
        granted.external_ip,
        Some(IpAddr::V4(Ipv4Addr::new(11, 0, 0, 99)))
    );
    assert_eq!(granted.external_port, 7714);
    assert_eq!(serving.join().unwrap(), 2);

    let serving = rogue_gateway(&lab, false);
    let mut limits = Limits::default();
    limits.call = secs(2);
    let mut client = PmpClient::probe(gateway.into(), pcp(), &limits).unwrap();
    let start = Instant::now();
    let error = client.add(mapping).unwrap_err();
    // Answered, never validly: said so, not "no answer".
    assert!(
        matches!(
            error,
            upnp_igd::Error::Pmp(pcp_natpmp::Error::OddAnswers { count, .. }) if count > 0
        ),
        "{error:?}"
    );
    assert!(start.elapsed() < secs(2) + Duration::from_millis(700));
    assert_eq!(serving.join().unwrap(), 1, "only the probe was answered");
}
