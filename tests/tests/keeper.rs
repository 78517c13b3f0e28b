//! The keeper against miniupnpd: a port that stays open across router restarts, external
//! address changes, conflicts and short leases, and nothing left behind at stop; through the
//! blocking driver, the tokio driver and `upnp keep`.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lab_tests::Lab;
use upnp_igd::blocking::{KeeperHandle, Upnp};
use upnp_igd::keeper::upnp::Find;
use upnp_igd::keeper::{Event, Keep, LostReason};
use upnp_igd::{DiscoverOptions, MappingRequest};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A keeper that checks every second (heard advertising itself or not) and retries
/// quickly, as tests want.
fn quick(keep: Keep) -> Keep {
    keep.check(secs(1))
        .quiet_check(secs(1))
        .retry(Duration::from_millis(200), secs(1))
}

/// A keeper of `keep` through the blocking driver, discovering its gateway.
fn start(keep: Keep) -> KeeperHandle {
    Upnp::new().keep(keep, Find::default()).unwrap()
}

/// The first mapping the keeper reports.
fn first_mapping(keeper: &KeeperHandle) -> upnp_igd::keeper::Held {
    match wait_for(keeper, secs(10), |e| matches!(e, Event::Mapped(_))) {
        Event::Mapped(held) => held,
        other => panic!("{other:?}"),
    }
}

/// Another program of this host maps `external` to its own `internal` port (upnpc).
fn other_program_maps(lab: &Lab, internal: u16, external: u16, proto: &str) {
    let (host, url) = (lab.host_addr.to_string(), lab.description_url());
    let (internal, external) = (internal.to_string(), external.to_string());
    lab.upnpc(&[
        "-u", &url, "-e", "other", "-a", &host, &internal, &external, proto,
    ]);
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

fn udp(port: u16) -> UdpSocket {
    UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port)).unwrap()
}

/// Mappings of the router that mention this external port, as `upnpc -l` lists them.
fn listed(lab: &Lab, port: u16) -> Vec<String> {
    lab.upnpc(&["-u", &lab.description_url(), "-l"])
        .lines()
        .filter(|line| line.contains(&format!("{port}->")))
        .map(str::to_owned)
        .collect()
}

fn no_rule_for(lab: &Lab, port: u16) -> bool {
    !lab.nft_rules().contains(&format!("dport {port} "))
}

#[test]
fn a_kept_port_forwards_and_stop_removes_it() {
    let lab = Lab::get();
    let socket = udp(7601);
    let keeper = start(quick(Keep::new().udp(7601)));
    let held = first_mapping(&keeper);
    assert_eq!(held.external_port, 7601);
    assert_eq!(held.external_ip, Some(IpAddr::V4(lab.wan_addr)));
    assert_eq!(held.internal_client, IpAddr::V4(lab.host_addr));
    assert!(held.confirmed);
    assert_eq!(keeper.status().ports[0].held, Some(held));
    assert!(lab.udp_arrives(&socket, 7601, "kept"));
    let rest = keeper.stop();
    assert!(
        rest.iter().any(|e| matches!(
            e,
            Event::Removed {
                external_port: 7601,
                ..
            }
        )),
        "{rest:?}"
    );
    assert!(matches!(rest.last(), Some(Event::Stopped { left: 0 })));
    assert!(listed(&lab, 7601).is_empty());
    assert!(no_rule_for(&lab, 7601));
}

#[test]
fn after_a_router_restart_the_mapping_is_back_and_forwards() {
    let lab = Lab::get();
    let socket = udp(7602);
    let keeper = start(quick(Keep::new().udp(7602)));
    first_mapping(&keeper);
    lab.restart_router();
    // Within one check interval (1 s) plus the backoff while the router was away.
    wait_for(&keeper, secs(15), |e| {
        matches!(
            e,
            Event::Lost {
                reason: LostReason::Gone | LostReason::Restarted,
                ..
            }
        ) || matches!(e, Event::Failed { .. })
    });
    wait_for(
        &keeper,
        secs(15),
        |e| matches!(e, Event::Remapped(held) if held.external_port == 7602),
    );
    assert!(lab.udp_arrives(&socket, 7602, "back"));
    drop(keeper);
    assert!(
        listed(&lab, 7602).is_empty(),
        "dropping the handle removes it"
    );
}

#[test]
fn short_leases_are_renewed_before_they_end_with_no_gap() {
    let lab = Lab::get();
    let keeper = start(quick(Keep::new().udp(7603).lease(secs(4))).check(secs(60)));
    first_mapping(&keeper);
    // Three lease periods: the rule is there at every look.
    let end = Instant::now() + secs(12);
    let mut looks = 0;
    while Instant::now() < end {
        assert!(!no_rule_for(&lab, 7603), "a gap after {looks} looks");
        looks += 1;
        std::thread::sleep(Duration::from_millis(250));
    }
    let mut renewed = 0;
    while let Ok(event) = keeper.events().try_recv() {
        if matches!(event, Event::Renewed(_)) {
            renewed += 1;
        }
    }
    assert!(renewed >= 4, "{renewed} renewals in 12 s of 4 s leases");
    keeper.stop();
    assert!(no_rule_for(&lab, 7603));
}

#[test]
fn a_port_held_by_another_program_moves_the_keeper_elsewhere() {
    let lab = Lab::get();
    // Another program of this host holds 7604 for its own port 7699.
    other_program_maps(&lab, 7699, 7604, "UDP");
    assert_eq!(listed(&lab, 7604).len(), 1);
    let socket = udp(7604);
    let keeper = start(quick(Keep::new().udp(7604)));
    let held = first_mapping(&keeper);
    assert_ne!(
        held.external_port, 7604,
        "the other program's mapping was taken"
    );
    if lab.igd_version == 1 {
        assert_eq!(held.external_port, 7605, "IGDv1: the next port");
    }
    assert!(lab.udp_arrives(&socket, held.external_port, "moved"));
    keeper.stop();
    // The other program's mapping is untouched; ours is gone.
    let other = listed(&lab, 7604);
    assert!(other.len() == 1 && other[0].contains(":7699"), "{other:?}");
    assert!(listed(&lab, held.external_port).is_empty());
    lab.upnpc(&["-u", &lab.description_url(), "-d", "7604", "UDP"]);
}

#[test]
fn with_the_exact_port_demanded_a_conflict_is_reported_and_retried() {
    let lab = Lab::get();
    other_program_maps(&lab, 7698, 7606, "UDP");
    let keeper = start(quick(Keep::new().udp(7606).exact(true)));
    for _ in 0..2 {
        wait_for(
            &keeper,
            secs(10),
            |e| matches!(e, Event::Failed { port: Some(p), .. } if p.external_port == 7606),
        );
    }
    assert!(keeper.status().ports[0].held.is_none());
    // The other program lets go: the keeper gets the port.
    lab.upnpc(&["-u", &lab.description_url(), "-d", "7606", "UDP"]);
    let held = first_mapping(&keeper);
    assert_eq!(held.external_port, 7606);
    keeper.stop();
    assert!(listed(&lab, 7606).is_empty());
}

#[test]
fn a_new_external_address_is_reported_and_the_port_forwards_on_it() {
    let lab = Lab::get();
    let socket = udp(7607);
    let keeper = start(quick(Keep::new().udp(7607)));
    first_mapping(&keeper);
    let new = Ipv4Addr::new(11, 0, 0, 9);
    {
        let _renumbered = lab.renumber_wan(new);
        let changed = wait_for(&keeper, secs(10), |e| {
            matches!(e, Event::ExternalIpChanged { .. })
        });
        assert!(
            matches!(changed, Event::ExternalIpChanged { old: Some(old), new: n }
                if old == IpAddr::V4(lab.wan_addr) && n == IpAddr::V4(new)),
            "{changed:?}"
        );
        assert_eq!(keeper.status().external_ip, Some(IpAddr::V4(new)));
        assert!(lab.udp_arrives_at(&socket, new, 7607, "renumbered"));
    }
    wait_for(
        &keeper,
        secs(10),
        |e| matches!(e, Event::ExternalIpChanged { new, .. } if *new == IpAddr::V4(lab.wan_addr)),
    );
    keeper.stop();
}

async fn next_event(keeper: &mut upnp_igd::tokio::KeeperHandle) -> Event {
    let event = tokio::time::timeout(secs(15), keeper.next_event()).await;
    event.ok().flatten().expect("an event in time")
}

#[test]
fn the_tokio_keeper_heals_and_cleans_up_too() {
    let lab = Lab::get();
    let socket = udp(7608);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut keeper = upnp_igd::tokio::Upnp::new()
            .keep(quick(Keep::new().udp(7608)), Find::default())
            .unwrap();
        assert!(matches!(next_event(&mut keeper).await, Event::Mapped(_)));
        lab.restart_router();
        loop {
            match next_event(&mut keeper).await {
                Event::Remapped(held) => {
                    assert_eq!(held.external_port, 7608);
                    break;
                }
                Event::Lost { .. } | Event::Failed { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(lab.udp_arrives(&socket, 7608, "tokio"));
        let rest = keeper.stop().await;
        assert!(
            matches!(rest.last(), Some(Event::Stopped { left: 0 })),
            "{rest:?}"
        );
    });
    assert!(listed(&lab, 7608).is_empty());
}

/// `upnp keep` in the foreground: JSON lines, and SIGTERM removes its mappings (only its
/// own) and exits 0.
#[test]
fn upnp_keep_prints_json_lines_and_cleans_up_on_sigterm() {
    let lab = Lab::get();
    other_program_maps(&lab, 7697, 7697, "TCP");
    let upnp = std::env::var("IGD_LAB_UPNP_BIN").expect("IGD_LAB_UPNP_BIN");
    let mut child = Command::new(upnp)
        .args([
            "--json",
            "keep",
            "7609",
            "7610",
            "--proto",
            "tcp",
            "--check",
            "1",
            "--quiet-check",
            "1",
        ])
        .env("XDG_CACHE_HOME", lab_tests::cache_home())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut mapped = Vec::new();
    while mapped.len() < 2 {
        let line = lines.next().expect("a line").unwrap();
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(event["method"], "upnp", "{line}");
        let event = &event["event"];
        assert_eq!(event["kind"], "mapped", "{line}");
        assert_eq!(event["proto"], "TCP");
        assert_eq!(event["external_ip"], lab.wan_addr.to_string());
        assert_eq!(event["lease_seconds"], 3600);
        mapped.push(event["external_port"].as_u64().unwrap());
    }
    mapped.sort_unstable();
    assert_eq!(mapped, [7609, 7610]);
    assert_eq!(listed(&lab, 7609).len(), 1);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let rest: Vec<serde_json::Value> = lines
        .map_while(Result::ok)
        .map(|l| serde_json::from_str(&l).unwrap())
        .collect();
    let removed = rest
        .iter()
        .filter(|e| e["event"]["kind"] == "removed")
        .count();
    assert_eq!(removed, 2, "{rest:?}");
    assert!(listed(&lab, 7609).is_empty() && listed(&lab, 7610).is_empty());
    assert!(no_rule_for(&lab, 7609) && no_rule_for(&lab, 7610));
    assert_eq!(
        listed(&lab, 7697).len(),
        1,
        "another client's mapping is untouched"
    );
    lab.upnpc(&["-u", &lab.description_url(), "-d", "7697", "TCP"]);
}

#[test]
fn a_thousand_add_delete_cycles_leave_no_stray_rule() {
    let lab = Lab::get();
    let mut upnp = Upnp::new();
    upnp.discover(&DiscoverOptions::default()).unwrap();
    let gateway = upnp.get_gateway().unwrap();
    let before = lab.nft_rules();
    for i in 0..1000u16 {
        let port = 7620 + (i % 10);
        gateway
            .add_port_mapping(&MappingRequest::new(i64::from(port)))
            .unwrap();
        gateway.delete_port_mapping(i64::from(port), "UDP").unwrap();
    }
    assert_eq!(lab.nft_rules(), before);
    assert!((7620..7630).all(|port| listed(&lab, port).is_empty()));
}

#[test]
fn one_keep_holds_a_port_over_udp_and_tcp() {
    let lab = Lab::get();
    let upnp = std::env::var("IGD_LAB_UPNP_BIN").expect("IGD_LAB_UPNP_BIN");
    let mut child = Command::new(upnp)
        .args(["--json", "keep", "7611/udp", "7611/tcp", "7612"])
        .env("XDG_CACHE_HOME", lab_tests::cache_home())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut mapped = Vec::new();
    while mapped.len() < 3 {
        let line = lines.next().expect("a line").unwrap();
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(event["event"]["kind"], "mapped", "{line}");
        let proto = event["event"]["proto"].as_str().unwrap().to_owned();
        mapped.push((event["event"]["external_port"].as_u64().unwrap(), proto));
    }
    mapped.sort_unstable();
    assert_eq!(
        mapped,
        [
            (7611, "TCP".to_owned()),
            (7611, "UDP".to_owned()),
            (7612, "UDP".to_owned())
        ]
    );
    assert_eq!(listed(&lab, 7611).len(), 2, "both protocols of the port");
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().unwrap().success());
    assert!(listed(&lab, 7611).is_empty() && listed(&lab, 7612).is_empty());
}

#[test]
fn a_router_restart_is_heard_and_healed_within_two_seconds() {
    let lab = Lab::get();
    let socket = udp(7613);
    // The default check interval (60 s): only hearing the router can heal it this fast.
    let keeper = start(Keep::new().udp(7613));
    first_mapping(&keeper);
    // A restart: miniupnpd says byebye, then alive with a new boot id.
    std::thread::sleep(Duration::from_millis(300));
    lab.restart_router();
    let answering = Instant::now();
    wait_for(
        &keeper,
        secs(10),
        |e| matches!(e, Event::Remapped(held) if held.external_port == 7613),
    );
    let healed = answering.elapsed();
    assert!(
        healed < secs(2),
        "healed {healed:?} after the router answered again"
    );
    assert!(lab.udp_arrives(&socket, 7613, "heard"));
    // The same through the tokio driver.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut keeper = upnp_igd::tokio::Upnp::new()
            .keep(Keep::new().udp(7614), Find::default())
            .unwrap();
        loop {
            if let Some(Event::Mapped(_)) = keeper.next_event().await {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        lab.restart_router();
        let answering = Instant::now();
        loop {
            match tokio::time::timeout(secs(10), keeper.next_event()).await {
                Ok(Some(Event::Remapped(held))) if held.external_port == 7614 => break,
                Ok(Some(_)) => {}
                other => panic!("{other:?}"),
            }
        }
        assert!(answering.elapsed() < secs(2), "{:?}", answering.elapsed());
        keeper.stop().await;
    });
    drop(keeper);
    assert!(listed(&lab, 7613).is_empty() && listed(&lab, 7614).is_empty());
}

#[test]
fn a_router_going_away_is_not_asked_until_it_is_back() {
    let lab = Lab::get();
    // A check every second: a keeper that did not hear the byebye would ask every second.
    let keeper = start(Keep::new().udp(7615).check(secs(1)).quiet_check(secs(1)));
    first_mapping(&keeper);
    std::thread::sleep(Duration::from_millis(300));
    let asked = lab.count_refused();
    // miniupnpd says byebye, then 4 s with no router, then alive with a new boot id.
    lab.restart_router_after(secs(4));
    let answering = Instant::now();
    let while_gone = asked.dropped();
    assert!(
        while_gone <= 1,
        "{while_gone} connections tried while the router was gone"
    );
    wait_for(
        &keeper,
        secs(10),
        |e| matches!(e, Event::Remapped(held) if held.external_port == 7615),
    );
    assert!(answering.elapsed() < secs(2), "{:?}", answering.elapsed());
    drop(keeper);
    assert!(listed(&lab, 7615).is_empty());
}

/// The `lab-notify` program (multicasts SSDP datagrams; see its source).
const NOTIFY: &str = env!("CARGO_BIN_EXE_lab-notify");

#[test]
fn a_notification_forged_by_another_lan_host_is_ignored() {
    let lab = Lab::get();
    let keeper = start(Keep::new().udp(7616));
    first_mapping(&keeper);
    let connections = lab.count_connections();
    // The router's byebye then alive with a new boot id, but from the LAN host's address:
    // heeded, they would make the keeper look for its gateway again.
    let byebye = lab.router_notify("ssdp:byebye", "4000000");
    let alive = lab.router_notify("ssdp:alive", "4000001");
    lab.notify(NOTIFY, false, &byebye, 1, Duration::from_millis(100));
    lab.notify(NOTIFY, false, &alive, 1, Duration::from_millis(100));
    std::thread::sleep(secs(2));
    assert_eq!(connections.dropped(), 0, "the forgery made the keeper ask");
    // The same from the router's own address is a restart: looked for again at once.
    lab.notify(NOTIFY, true, &byebye, 1, Duration::from_millis(100));
    lab.notify(NOTIFY, true, &alive, 1, Duration::from_millis(100));
    std::thread::sleep(secs(2));
    assert!(
        connections.dropped() >= 1,
        "the router's own alive is heard"
    );
    drop(keeper);
    assert!(listed(&lab, 7616).is_empty());
}

#[test]
fn a_flood_from_the_gateways_address_makes_at_most_one_check_a_second() {
    let lab = Lab::get();
    let keeper = start(Keep::new().udp(7617));
    first_mapping(&keeper);
    let connections = lab.count_connections();
    // 300 alives 10 ms apart (3 s and more), each with a new boot id: each one a restart.
    let flood = lab.router_notify("ssdp:alive", "{n}");
    let began = Instant::now();
    lab.notify(NOTIFY, true, &flood, 300, Duration::from_millis(10));
    std::thread::sleep(secs(1));
    let seconds = began.elapsed().as_secs() + 1;
    let made = connections.dropped();
    // A check is two exchanges (the external address, the mapping's lookup).
    assert!(
        (2..=2 * seconds).contains(&made),
        "{made} connections in {seconds} s of flood"
    );
    drop(keeper);
    assert!(listed(&lab, 7617).is_empty());
}

#[test]
fn a_router_that_announces_nothing_is_healed_at_the_next_check() {
    let lab = Lab::get();
    let socket = udp(7618);
    let blocked = lab.notifications_blocked();
    let keeper = start(Keep::new().udp(7618).check(secs(3)));
    first_mapping(&keeper);
    std::thread::sleep(Duration::from_millis(300));
    lab.restart_router();
    let answering = Instant::now();
    wait_for(
        &keeper,
        secs(10),
        |e| matches!(e, Event::Remapped(held) if held.external_port == 7618),
    );
    // Within the check interval (not the quiet one: nothing was heard), not at once.
    assert!(
        answering.elapsed() < secs(3) + secs(1),
        "{:?}",
        answering.elapsed()
    );
    assert!(
        blocked.dropped() > 0,
        "the router's notifications were dropped"
    );
    assert!(lab.udp_arrives(&socket, 7618, "polled"));
    drop(keeper);
    assert!(listed(&lab, 7618).is_empty());
}

#[test]
fn a_router_back_at_another_port_is_probed_there_and_healed_at_once() {
    let lab = Lab::get();
    let socket = udp(7619);
    let keeper = start(Keep::new().udp(7619));
    first_mapping(&keeper);
    std::thread::sleep(Duration::from_millis(300));
    let searches = lab.count_searches();
    // A restart that comes back on another HTTP port: its alive names the new LOCATION.
    let moved = lab.router_moved();
    let answering = Instant::now();
    wait_for(
        &keeper,
        secs(10),
        |e| matches!(e, Event::Remapped(held) if held.external_port == 7619),
    );
    let healed = answering.elapsed();
    assert!(healed < secs(2), "healed {healed:?} after it answered");
    assert_eq!(
        searches.dropped(),
        0,
        "found where it said, without a search"
    );
    assert!(lab.udp_arrives(&socket, 7619, "moved"));
    let status = keeper.status();
    let device = status.device.expect("the gateway in use");
    assert!(
        device
            .description_url
            .contains(&format!(":{}/", lab.http_port + 1)),
        "{}",
        device.description_url
    );
    drop(keeper);
    drop(moved);
    assert!(listed(&lab, 7619).is_empty());
}
