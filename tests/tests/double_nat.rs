//! Behind a second NAT (`cargo xtask lab up --double-nat`): our router (miniupnpd, WAN
//! 192.168.1.10, private) behind the ISP box (a second miniupnpd: UPnP, NAT-PMP and PCP,
//! LAN 192.168.1.1, WAN 11.0.0.7), a STUN server on the ISP host. What a user sees there:
//! `add` maps on both, `delete` removes both, `check` tells the chain and the verdict; with
//! the box a plain NAT, the inner mapping is made and everything says another NAT is in
//! front. In the single-router lab these tests check nothing and pass, except the last,
//! which checks that nothing is looked for in front of a public address.

use std::net::UdpSocket;
use std::time::Duration;

use lab_tests::{Lab, one_document as json, upnp_cli as upnp};

/// Whether a datagram from the ISP host to the box's public address and `port` reaches
/// `socket` on the LAN host.
fn arrives_from_the_internet(lab: &Lab, socket: &UdpSocket, port: u16, payload: &str) -> bool {
    lab.udp_arrives_at(socket, lab.wan_addr, port, payload)
}

#[test]
fn add_maps_on_both_routers_and_delete_removes_both() {
    let lab = Lab::get();
    if !lab.double_nat {
        return;
    }
    let port = 7781u16;
    let socket = UdpSocket::bind(("0.0.0.0", port)).expect("bind the mapped port");
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(
        !arrives_from_the_internet(&lab, &socket, port, "before"),
        "nothing comes in unasked"
    );

    let out = upnp(&["--json", "--no-cache", "add", &port.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let document = json(&out);
    assert_eq!(document["external_ip"], lab.inner_wan_addr.to_string());
    assert_eq!(document["upstream"]["status"], "done", "{document}");
    assert_eq!(
        document["upstream"]["external_ip"],
        lab.wan_addr.to_string()
    );
    let outer = &document["upstream_mapping"];
    assert_eq!(outer["internal_client"], lab.inner_wan_addr.to_string());
    assert_eq!(outer["external_port"], port);
    assert_eq!(outer["internal_port"], port);
    assert_eq!(document["reachable_at"], format!("{}:{port}", lab.wan_addr));
    // Both NATs open: the Internet reaches the LAN host.
    assert!(arrives_from_the_internet(
        &lab,
        &socket,
        port,
        "through both"
    ));
    // Both rules are there.
    assert!(lab.nft_rules().contains(&format!("dport {port}")));
    assert!(lab.box_nft_rules().contains(&format!("dport {port}")));

    // check says so, and the server's answer from its other address came in.
    drop(socket);
    let stun = format!("{}:{}", lab.isp_addr, lab.stun_port);
    let port_arg = port.to_string();
    let out = upnp(&["--json", "--no-cache", "check", &port_arg, "--stun", &stun]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let document = json(&out);
    assert_eq!(document["stun"]["verdict"], "reachable", "{document}");
    assert_eq!(document["stun"]["inbound_proven"], true, "{document}");
    assert_eq!(document["upstream"]["status"], "done");
    assert_eq!(
        document["upstream_mapping"]["internal_client"],
        lab.inner_wan_addr.to_string()
    );

    let out = upnp(&["--json", "--no-cache", "delete", &port_arg]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(json(&out)["upstream"]["status"], "done");
    // Nothing of ours left on either router.
    assert!(!lab.nft_rules().contains(&format!("dport {port}")));
    assert!(!lab.box_nft_rules().contains(&format!("dport {port}")));
}

#[test]
fn behind_a_plain_nat_the_inner_mapping_is_made_and_everything_says_another_nat() {
    let lab = Lab::get();
    if !lab.double_nat {
        return;
    }
    let _plain = lab.box_plain();
    let port = "7782";
    let out = upnp(&["--json", "--no-cache", "add", port]);
    assert_eq!(out.status.code(), Some(6), "not reachable: {out:?}");
    let document = json(&out);
    assert_eq!(
        document["mapping"]["internal_client"],
        lab.host_addr.to_string()
    );
    assert_eq!(document["upstream"]["status"], "not-found", "{document}");
    let asked = vec![lab.box_addr.to_string(), "192.168.1.254".to_owned()];
    assert_eq!(document["upstream"]["asked"], serde_json::json!(asked));
    // The TTL-limited probe named the box (its ICMP answer came back through our router's
    // NAT), though nothing there maps.
    assert_eq!(
        document["upstream"]["hop"],
        lab.box_addr.to_string(),
        "{document}"
    );
    assert_eq!(document["reachable_at"], serde_json::Value::Null);
    assert!(
        lab.nft_rules().contains("dport 7782"),
        "the inner mapping is made"
    );

    let stun = format!("{}:{}", lab.isp_addr, lab.stun_port);
    let out = upnp(&["--json", "--no-cache", "check", port, "--stun", &stun]);
    assert_eq!(out.status.code(), Some(6), "{out:?}");
    let document = json(&out);
    assert_eq!(document["stun"]["verdict"], "another-nat", "{document}");
    let seen = document["stun"]["seen"].as_str().unwrap_or_default();
    assert!(
        seen.starts_with(&format!("{}:", lab.wan_addr)),
        "the server names the box's address: {document}"
    );
    assert_eq!(document["closed_in_front"], true);
    // The text says it too.
    let out = upnp(&["--no-cache", "add", port]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("no router in front answered"), "{text}");
    assert!(text.contains("not reachable from the Internet"), "{text}");

    let out = upnp(&["--json", "--no-cache", "delete", port]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(!lab.nft_rules().contains("dport 7782"));
}

#[test]
fn the_router_in_front_named_by_the_user_is_the_only_one_asked() {
    let lab = Lab::get();
    if !lab.double_nat {
        return;
    }
    // A wrong address: nothing there, and .1/.254 are not asked instead.
    let _plain_box = lab.box_plain();
    let out = upnp(&[
        "--json",
        "--no-cache",
        "add",
        "7783",
        "--upstream",
        "192.168.1.77",
    ]);
    assert_eq!(out.status.code(), Some(6), "{out:?}");
    let document = json(&out);
    assert_eq!(
        document["upstream"]["asked"],
        serde_json::json!(["192.168.1.77"])
    );
    let out = upnp(&["--json", "--no-cache", "delete", "7783", "--no-upstream"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(json(&out)["upstream"]["status"], "not-asked");
}

/// One NAT (the single-router lab): `check` says reachable and nothing is looked for in
/// front: no M-SEARCH, PCP request or TTL-limited probe leaves the router.
#[test]
fn with_one_nat_nothing_is_looked_for_in_front() {
    let lab = Lab::get();
    if lab.double_nat {
        return;
    }
    let forwarded = lab.count_forwarded_probes();
    let out = upnp(&["--json", "--no-cache", "add", "7784"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let document = json(&out);
    assert_eq!(document["upstream"]["status"], "not-asked", "{document}");
    assert_eq!(document["reachable_at"], format!("{}:7784", lab.wan_addr));
    let stun = format!("{}:{}", lab.isp_addr, lab.stun_port);
    let out = upnp(&["--json", "--no-cache", "check", "7784", "--stun", &stun]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(json(&out)["stun"]["verdict"], "reachable");
    let out = upnp(&["--json", "--no-cache", "delete", "7784"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        forwarded.dropped(),
        0,
        "no SSDP datagram forwarded beyond the router"
    );
}

/// The next JSON event of `upnp keep` whose kind is `kind` (in front when `in_front`),
/// within `limit`; every line read on the way goes to `seen`.
fn next_event(
    lines: &std::sync::mpsc::Receiver<String>,
    kind: &str,
    in_front: bool,
    limit: Duration,
    seen: &mut Vec<String>,
) -> serde_json::Value {
    let end = std::time::Instant::now() + limit;
    while let Some(left) = end.checked_duration_since(std::time::Instant::now()) {
        let Ok(line) = lines.recv_timeout(left) else {
            break;
        };
        seen.push(line.clone());
        let document: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
        let event = &document["event"];
        if event["kind"] == kind && (event["in_front"] == true) == in_front {
            return event.clone();
        }
    }
    panic!("no {kind} (in front: {in_front}) within {limit:?}; saw {seen:#?}");
}

#[test]
fn keep_holds_both_routers_across_a_restart_of_the_box_and_removes_both() {
    let lab = Lab::get();
    if !lab.double_nat {
        return;
    }
    let port = 7786u16;
    let upnp_bin = std::env::var("IGD_LAB_UPNP_BIN").expect("IGD_LAB_UPNP_BIN");
    let mut child = std::process::Command::new(upnp_bin)
        .args(["--json", "--no-cache", "keep", &port.to_string()])
        .args(["--check", "2", "--quiet-check", "2"])
        .env("XDG_CACHE_HOME", lab_tests::cache_home())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("upnp keep");
    let stdout = child.stdout.take().expect("its stdout");
    let (send, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let inner = next_event(&lines, "mapped", false, Duration::from_secs(10), &mut seen);
    assert_eq!(inner["external_ip"], lab.inner_wan_addr.to_string());
    let outer = next_event(&lines, "mapped", true, Duration::from_secs(10), &mut seen);
    assert_eq!(outer["internal_client"], lab.inner_wan_addr.to_string());
    assert_eq!(outer["external_ip"], lab.wan_addr.to_string());
    assert_eq!(outer["external_port"], port);
    let socket = UdpSocket::bind(("0.0.0.0", port)).expect("bind the kept port");
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(arrives_from_the_internet(&lab, &socket, port, "kept"));

    // The box reboots: its mapping is gone; the keeper finds it at its next check and maps
    // it again, and the Internet reaches the LAN host again.
    lab.restart_box();
    assert!(!lab.box_nft_rules().contains(&format!("dport {port}")));
    next_event(&lines, "remapped", true, Duration::from_secs(10), &mut seen);
    assert!(arrives_from_the_internet(&lab, &socket, port, "healed"));

    // SIGTERM: both removed, the box's first.
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().expect("upnp keep ends");
    assert!(status.success(), "{status}");
    let front_removed = next_event(&lines, "removed", true, Duration::from_secs(5), &mut seen);
    assert_eq!(front_removed["external_port"], port);
    next_event(&lines, "removed", false, Duration::from_secs(5), &mut seen);
    assert!(!lab.box_nft_rules().contains(&format!("dport {port}")));
    assert!(!lab.nft_rules().contains(&format!("dport {port}")));
}

#[test]
fn with_upnp_off_on_the_box_the_second_hop_is_mapped_through_pcp() {
    let lab = Lab::get();
    if !lab.double_nat {
        return;
    }
    let _no_upnp = lab.box_without_upnp();
    let port = 7787u16;
    let socket = UdpSocket::bind(("0.0.0.0", port)).expect("bind the mapped port");
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let port_arg = port.to_string();
    let out = upnp(&["--json", "--no-cache", "add", &port_arg]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let document = json(&out);
    assert_eq!(document["upstream"]["status"], "done", "{document}");
    assert_eq!(document["upstream"]["method"], "pcp", "{document}");
    assert_eq!(
        document["upstream_mapping"]["internal_client"],
        lab.inner_wan_addr.to_string()
    );
    assert_eq!(document["reachable_at"], format!("{}:{port}", lab.wan_addr));
    assert!(arrives_from_the_internet(
        &lab,
        &socket,
        port,
        "through PCP"
    ));
    assert!(lab.box_nft_rules().contains(&format!("dport {port}")));

    drop(socket);
    let stun = format!("{}:{}", lab.isp_addr, lab.stun_port);
    let out = upnp(&["--json", "--no-cache", "check", &port_arg, "--stun", &stun]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let document = json(&out);
    assert_eq!(document["stun"]["verdict"], "reachable", "{document}");
    assert_eq!(document["reachable_at"], format!("{}:{port}", lab.wan_addr));

    let out = upnp(&["--json", "--no-cache", "delete", &port_arg]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(json(&out)["upstream"]["status"], "done");
    assert!(!lab.box_nft_rules().contains(&format!("dport {port}")));
    assert!(!lab.nft_rules().contains(&format!("dport {port}")));
}

#[test]
fn a_tcp_port_is_mapped_through_both_and_checked() {
    let lab = Lab::get();
    if !lab.double_nat {
        return;
    }
    let port = 7788u16;
    let listener = std::net::TcpListener::bind(("0.0.0.0", port)).expect("listen");
    let port_arg = port.to_string();
    let out = upnp(&["--json", "--no-cache", "add", &port_arg, "--proto", "tcp"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(json(&out)["upstream_mapping"]["protocol"], "TCP");
    assert!(lab.tcp_arrives_at(&listener, lab.wan_addr, port, "both"));
    let out = upnp(&["--json", "--no-cache", "check", &port_arg, "--proto", "tcp"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let document = json(&out);
    assert_eq!(document["proto"], "TCP");
    assert_eq!(document["mapped"], true);
    assert_eq!(document["closed_in_front"], false, "{document}");
    assert_eq!(
        document["upstream_mapping"]["internal_client"],
        lab.inner_wan_addr.to_string()
    );
    let out = upnp(&[
        "--json",
        "--no-cache",
        "delete",
        &port_arg,
        "--proto",
        "tcp",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(!lab.box_nft_rules().contains(&format!("dport {port}")));
}
