//! The keeper changes its way: a port kept through UPnP stays open through PCP when the
//! router's UPnP is switched off (NAT-PMP and PCP still on), and the keeper carries on when
//! UPnP comes back; through `upnp keep` (the blocking driver) and the tokio driver.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use lab_tests::Lab;
use upnp_igd::keeper::upnp::Find;
use upnp_igd::keeper::{Event, Keep};
use upnp_igd::{Method, Via};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The keeper's check interval in these tests.
const CHECK: u64 = 2;

/// How long moving to another way may take: the check that finds UPnP gone, then finding a
/// way (the search's 2 s with nothing answering, the PCP probe at once) and mapping; two
/// check intervals and the search, plus a margin.
fn move_bound() -> Duration {
    secs(2 * CHECK + 2 + 3)
}

/// Whether a datagram from the ISP side reaches `socket` through `port`, tried until `limit`
/// (the router may still be busy restarting).
fn arrives_within(lab: &Lab, socket: &UdpSocket, port: u16, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if lab.udp_arrives(socket, port, "through") {
            return true;
        }
    }
    false
}

/// `upnp keep`'s JSON lines, read on a thread of their own (so that waiting can time out).
fn lines(child: &mut std::process::Child) -> mpsc::Receiver<serde_json::Value> {
    let out = BufReader::new(child.stdout.take().expect("stdout"));
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            let value = serde_json::from_str(&line).expect("a JSON line");
            if sender.send(value).is_err() {
                return;
            }
        }
    });
    receiver
}

/// The first line that matches within `limit`; panics with what came instead.
fn line_where(
    lines: &mpsc::Receiver<serde_json::Value>,
    limit: Duration,
    what: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let end = Instant::now() + limit;
    let mut seen = Vec::new();
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) if what(&line) => return line,
            Ok(line) => seen.push(line),
            Err(_) => break,
        }
    }
    panic!("no such line within {limit:?}; saw {seen:#?}");
}

fn held_via(line: &serde_json::Value, method: &str) -> bool {
    let kind = &line["event"]["kind"];
    line["method"] == method && (kind == "mapped" || kind == "remapped")
}

#[test]
fn upnp_keep_moves_to_pcp_when_upnp_is_off_and_carries_on_when_it_is_back() {
    let lab = Lab::get();
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 7750)).unwrap();
    let bin = std::env::var("IGD_LAB_UPNP_BIN").expect("IGD_LAB_UPNP_BIN");
    let check = CHECK.to_string();
    let mut child = Command::new(bin)
        .args(["--json", "--no-cache", "keep", "7750"])
        .args(["--check", &check, "--quiet-check", &check])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = lines(&mut child);
    let first = line_where(&lines, secs(15), |l| l["event"]["kind"] == "mapped");
    assert_eq!(first["method"], "upnp", "{first}");
    assert!(lab.udp_arrives(&socket, 7750, "upnp"));

    let off = lab.without_upnp();
    let moved = line_where(&lines, move_bound(), |l| held_via(l, "pcp"));
    let port = moved["event"]["external_port"].as_u64().unwrap() as u16;
    assert!(
        lab.udp_arrives(&socket, port, "pcp"),
        "{moved} {}",
        lab.nft_rules()
    );

    // UPnP back (the router restarts and forgets every mapping): the keeper carries on.
    drop(off);
    let again = line_where(&lines, move_bound(), |l| l["event"]["kind"] == "remapped");
    assert!(arrives_within(&lab, &socket, port, secs(5)), "{again}");

    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().unwrap().success());
    let removed = line_where(&lines, secs(10), |l| l["event"]["kind"] == "removed");
    assert_eq!(
        removed["event"]["external_port"],
        u64::from(port),
        "{removed}"
    );
    assert!(!lab.nft_rules().contains(&format!("dport {port} ")));
}

async fn event_where(
    keeper: &mut upnp_igd::tokio::KeeperHandle,
    limit: Duration,
    what: impl Fn(&Event) -> bool,
) -> Event {
    let end = tokio::time::Instant::now() + limit;
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout_at(end, keeper.next_event()).await {
            Ok(Some(event)) if what(&event) => return event,
            Ok(Some(event)) => seen.push(event.to_string()),
            _ => panic!("no such event within {limit:?}; saw {seen:#?}"),
        }
    }
}

fn held_by(event: &Event, method: Method) -> Option<&upnp_igd::keeper::Held> {
    match event {
        Event::Mapped(held) | Event::Remapped(held) if held.method == method => Some(held),
        _ => None,
    }
}

#[test]
fn the_tokio_keeper_moves_to_pcp_and_back_from_the_library() {
    let lab = Lab::get();
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 7751)).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let keep = Keep::new()
            .udp(7751)
            .check(secs(CHECK))
            .quiet_check(secs(CHECK))
            .via(Via::Auto);
        let mut keeper = upnp_igd::tokio::Upnp::new()
            .keep(keep, Find::default())
            .unwrap();
        let first = event_where(&mut keeper, secs(15), |e| matches!(e, Event::Mapped(_))).await;
        assert!(held_by(&first, Method::Upnp).is_some(), "{first:?}");
        assert_eq!(keeper.status().method, Some(Method::Upnp));
        assert!(lab.udp_arrives(&socket, 7751, "upnp"));

        let off = lab.without_upnp();
        let moved = event_where(&mut keeper, move_bound(), |e| {
            held_by(e, Method::Pcp).is_some()
        })
        .await;
        let port = held_by(&moved, Method::Pcp).unwrap().external_port;
        assert_eq!(keeper.status().method, Some(Method::Pcp));
        assert!(lab.udp_arrives(&socket, port, "pcp"));

        drop(off);
        event_where(&mut keeper, move_bound(), |e| {
            matches!(e, Event::Remapped(_))
        })
        .await;
        assert!(arrives_within(&lab, &socket, port, secs(5)));
        let rest = keeper.stop().await;
        assert!(
            matches!(rest.last(), Some(Event::Stopped { left: 0 })),
            "{rest:?}"
        );
        assert!(!lab.nft_rules().contains(&format!("dport {port} ")));
    });
}

/// `upnp-igd`'s example of a driver written outside the crate (std sockets, one I/O at a
/// time) drives the discovery and the external-address machines to the lab's router.
#[test]
fn a_driver_written_outside_the_crate_finds_the_gateway_and_its_address() {
    let lab = Lab::get();
    let bin = std::env::var("IGD_LAB_DRIVER_BIN").expect("IGD_LAB_DRIVER_BIN");
    let out = Command::new(bin).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.starts_with(&format!("{} via http://", lab.wan_addr)),
        "{said}"
    );
}
