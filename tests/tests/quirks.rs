//! Routers that bend the rules as real ones are reported to (the router of
//! `lab_tests::quirky`, serving a TP-Link-shaped or miniupnpd description on the LAN host):
//! each case through the CLI, its exit status and JSON asserted, and what the router's table
//! holds afterwards; the discovery cases through the tokio driver too, with miniupnpd's UPnP
//! switched off so that the quirky router is the only one.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use lab_tests::Lab;
use lab_tests::hostile::Responder;
use lab_tests::quirky::{PmpQuirk, PmpServer, Quirks, Router, Status};
use upnp_igd::{DiscoverOptions, IgdStatus};

const TPLINK: &str = "tplink-archer-igd1.xml";
const MINIUPNPD_V2: &str = "miniupnpd-v2-rootDesc.xml";

fn upnp(args: &[&str]) -> Output {
    let bin = std::env::var("IGD_LAB_UPNP_BIN")
        .unwrap_or_else(|_| format!("{}/../target/debug/upnp", env!("CARGO_MANIFEST_DIR")));
    Command::new(&bin)
        .arg("--no-cache")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {bin}: {e}"))
}

/// The one JSON document printed.
fn json(out: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(text.lines().count(), 1, "one document: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// `upnp --no-cache --json ARGS keep ...` running, until stopped.
struct Keeping {
    child: std::process::Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Keeping {
    fn start(args: &[&str]) -> Keeping {
        let mut child = Command::new(std::env::var("IGD_LAB_UPNP_BIN").unwrap())
            .args(["--no-cache", "--json"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Keeping { child, lines }
    }

    /// The next event printed.
    fn event(&mut self) -> serde_json::Value {
        let line = self.lines.next().expect("an event").unwrap();
        serde_json::from_str(&line).unwrap()
    }

    /// SIGTERM: it removes what it made and exits 0.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        assert!(self.child.wait().unwrap().success());
    }
}

fn host(lab: &Lab) -> String {
    lab.host_addr.to_string()
}

#[test]
fn a_router_that_says_disconnected_is_used_and_said_to_be() {
    let lab = Lab::get();
    let router = Router::start(
        lab.host_addr,
        TPLINK,
        Quirks {
            status: Status::Disconnected,
            ..Quirks::default()
        },
    );
    let url = router.url();
    let out = upnp(&["--json", "--url", &url, "add", "7777", "--lease", "600"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let document = json(&out);
    assert_eq!(document["gateway_status"], "IGD_STATUS_DISCONNECTED");
    assert_eq!(document["mapping"]["external_port"], 7777);
    assert!(
        stderr(&out).contains("no valid gateway; using"),
        "{}",
        stderr(&out)
    );
    assert_eq!(router.table().len(), 1);
    assert_eq!(router.table()[0].client, host(&lab));

    // Found by discovery (miniupnpd's UPnP off: the quirky router is the only one), through
    // the tokio driver: find_gateway falls back to it, Godot's get_gateway does not.
    let _off = lab.without_upnp();
    let _responder = Responder::start(&lab, vec![url.clone()], false);
    runtime().block_on(async {
        let mut upnp = upnp_igd::tokio::Upnp::new();
        let options = DiscoverOptions::default().timeout(1000);
        let gateway = upnp.find_gateway(&options).await.expect("usable").clone();
        assert_eq!(gateway.description_url, url);
        assert_eq!(gateway.igd_status, IgdStatus::Disconnected);
        assert!(gateway.is_usable() && !gateway.is_valid_gateway());
        assert!(
            upnp.get_gateway().is_err(),
            "Godot's get_gateway: valid only"
        );
        let granted = gateway
            .add_port_mapping(&upnp_igd::MappingRequest::new(7778).duration(600))
            .await
            .unwrap();
        assert_eq!(granted.mapping.external_port, 7778);
    });
    // The CLI by discovery: the same, and `keep` says it in its events.
    let out = upnp(&[
        "--json",
        "--via",
        "upnp",
        "--timeout",
        "1000",
        "external-ip",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["gateway_status"], "IGD_STATUS_DISCONNECTED");
    let mut keeping = Keeping::start(&["--url", &url, "keep", "7779"]);
    let event = keeping.event();
    assert_eq!(event["event"]["kind"], "mapped", "{event}");
    assert_eq!(
        event["event"]["gateway_status"], "IGD_STATUS_DISCONNECTED",
        "{event}"
    );
    keeping.stop();
    assert!(
        !router.table().iter().any(|e| e.external_port == 7779),
        "SIGTERM removes it"
    );
}

#[test]
fn a_router_whose_status_faults_is_used() {
    let lab = Lab::get();
    let router = Router::start(
        lab.host_addr,
        TPLINK,
        Quirks {
            status: Status::Fault,
            ..Quirks::default()
        },
    );
    let out = upnp(&["--json", "--url", &router.url(), "add", "7777"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["gateway_status"], "IGD_STATUS_INVALID_CONTROL");
    assert_eq!(router.table().len(), 1);
}

#[test]
fn a_refused_permanent_lease_is_mapped_for_a_week_and_said() {
    let lab = Lab::get();
    let router = Router::start(
        lab.host_addr,
        TPLINK,
        Quirks {
            permanent_refused: true,
            ..Quirks::default()
        },
    );
    // Godot's default: duration 0, permanent.
    let out = upnp(&["--json", "--url", &router.url(), "add", "7777"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mapping = &json(&out)["mapping"];
    assert_eq!(mapping["lease_limited"], true, "{mapping}");
    assert_eq!(mapping["lease_seconds"], 604_800, "{mapping}");
    let table = router.table();
    assert_eq!(table.len(), 1);
    assert_eq!(table[0].lease, 604_800, "no permanent mapping left behind");
    let out = upnp(&["--url", &router.url(), "add", "7780"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("refused a permanent mapping"), "{text}");
}

#[test]
fn a_mapping_recorded_to_another_port_is_removed_and_refused() {
    let lab = Lab::get();
    let router = Router::start(
        lab.host_addr,
        TPLINK,
        Quirks {
            rewrite_internal_port: true,
            ..Quirks::default()
        },
    );
    let out = upnp(&[
        "--json",
        "--url",
        &router.url(),
        "add",
        "7777",
        "--internal",
        "8000",
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let error = &json(&out)["error"];
    assert_eq!(
        error["result"], "UPNP_RESULT_INCONSISTENT_PARAMETERS",
        "{error}"
    );
    let message = error["message"].as_str().unwrap();
    assert!(message.contains(":7777 instead of"), "{message}");
    assert!(router.table().is_empty(), "the wrong mapping is removed");
    assert!(router.calls().contains(&"DeletePortMapping".to_owned()));
    // The same port inside and out: nothing to rewrite, it works.
    let out = upnp(&["--json", "--url", &router.url(), "add", "7777"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn a_718_for_our_own_mapping_is_not_a_conflict() {
    let lab = Lab::get();
    let router = Router::start(
        lab.host_addr,
        TPLINK,
        Quirks {
            declines_update: true,
            ..Quirks::default()
        },
    );
    for _ in 0..2 {
        let out = upnp(&["--json", "--url", &router.url(), "add", "7777"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(json(&out)["mapping"]["internal_client"], host(&lab));
    }
    assert_eq!(router.table().len(), 1);
}

#[test]
fn the_keeper_gets_a_port_in_the_range_an_igd2_router_allows() {
    let lab = Lab::get();
    let router = Router::start(
        lab.host_addr,
        MINIUPNPD_V2,
        Quirks {
            allowed: Some((40_000, 40_099)),
            ..Quirks::default()
        },
    );
    let started = Instant::now();
    let mut keeping = Keeping::start(&["--url", &router.url(), "keep", "7777"]);
    let event = keeping.event();
    assert_eq!(event["event"]["kind"], "mapped", "{event}");
    let port = event["event"]["external_port"].as_u64().unwrap();
    assert!((40_000..40_100).contains(&port), "{event}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "at once, no backoff"
    );
    let calls = router.calls();
    let first_any = calls.iter().position(|c| c == "AddAnyPortMapping");
    assert!(first_any.is_some(), "{calls:?}");
    assert_eq!(
        calls.iter().filter(|c| *c == "AddPortMapping").count(),
        1,
        "AddAnyPortMapping right after the one 606: {calls:?}"
    );
    keeping.stop();
    assert!(router.table().is_empty(), "SIGTERM removes it");
}

#[test]
fn a_fault_whose_text_is_not_utf8_keeps_its_code() {
    let lab = Lab::get();
    let router = Router::start(
        lab.host_addr,
        TPLINK,
        Quirks {
            add_fault: Some((718, b"Conflit d\xe9j\xe0 utilis\xe9".to_vec())),
            ..Quirks::default()
        },
    );
    let out = upnp(&["--json", "--url", &router.url(), "add", "7777"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let error = &json(&out)["error"];
    assert_eq!(error["upnp_error_code"], 718, "{error}");
    assert_eq!(
        error["result"], "UPNP_RESULT_CONFLICT_WITH_OTHER_MAPPING",
        "{error}"
    );
    let text = error["router_text"].as_str().unwrap();
    assert!(text.starts_with("Conflit d"), "{text}");
}

#[test]
fn a_router_deaf_to_multicast_is_found_by_unicast_to_the_default_gateway() {
    let lab = Lab::get();
    let deaf = lab.deaf_to_multicast();
    let out = upnp(&[
        "--json",
        "--via",
        "upnp",
        "--timeout",
        "1000",
        "external-ip",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["external_ip"], lab.wan_addr.to_string());
    assert!(deaf.dropped() > 0, "the multicast M-SEARCHes were dropped");
    runtime().block_on(async {
        let mut upnp = upnp_igd::tokio::Upnp::new();
        let options = DiscoverOptions::default().timeout(1000);
        let gateway = upnp.find_gateway(&options).await.expect("found by unicast");
        assert_eq!(gateway.description_url, lab.description_url());
        assert!(gateway.is_valid_gateway());
    });
    // A router named by the user: searched by unicast alone, no multicast at all.
    let before = deaf.dropped();
    let router = lab.router_addr.to_string();
    let out = upnp(&[
        "--json",
        "--via",
        "upnp",
        "--gateway",
        &router,
        "--timeout",
        "1000",
        "external-ip",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(deaf.dropped(), before, "no multicast M-SEARCH was sent");
    drop(deaf);
    // Multicast heard again: the same (the router answers both; one device).
    let mut upnp = upnp_igd::blocking::Upnp::new();
    upnp.discover(&DiscoverOptions::default().timeout(1000))
        .unwrap();
    assert_eq!(upnp.get_device_count(), 1);
}

#[test]
fn a_pcp_gateway_that_answers_junk_is_said_to_and_not_called_silent() {
    let lab = Lab::get();
    let server = PmpServer::start(lab.host_addr, PmpQuirk::Junk);
    let started = Instant::now();
    let out = upnp(&[
        "--json",
        "--via",
        "pcp",
        "--gateway",
        &host(&lab),
        "external-ip",
    ]);
    let took = started.elapsed();
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
    let error = &json(&out)["error"];
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("never with a valid answer"), "{message}");
    assert!(!message.contains("no answer"), "{message}");
    assert!(server.answered() > 0);
    assert!(took < Duration::from_secs(15), "{took:?}");
}

#[test]
fn a_nat_pmp_gateway_with_a_private_external_address_is_flagged() {
    let lab = Lab::get();
    let _server = PmpServer::start(
        lab.host_addr,
        PmpQuirk::NatPmpWithAddress("10.0.0.5".parse().unwrap()),
    );
    let gateway = host(&lab);
    let out = upnp(&[
        "--json",
        "--via",
        "natpmp",
        "--gateway",
        &gateway,
        "external-ip",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let document = json(&out);
    assert_eq!(document["external_ip"], "10.0.0.5");
    assert_eq!(document["behind_another_nat"], true);
    let out = upnp(&["--via", "natpmp", "--gateway", &gateway, "external-ip"]);
    assert!(
        stderr(&out).contains("another NAT is in front"),
        "{}",
        stderr(&out)
    );
    let out = upnp(&[
        "--json",
        "--via",
        "natpmp",
        "--gateway",
        &gateway,
        "add",
        "7777",
        "--lease",
        "60",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["mapping"]["behind_another_nat"], true);
    // Miniupnpd's public address: not flagged.
    let out = upnp(&["--json", "--via", "natpmp", "external-ip"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["behind_another_nat"], false);
}

#[test]
fn with_nothing_to_answer_auto_ends_within_the_search_and_its_probes() {
    let lab = Lab::get();
    let silent = lab.silent_router();
    let started = Instant::now();
    let out = upnp(&["-v", "--json", "--timeout", "2000", "external-ip"]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    // The bound: the search's timeout + Limits::probe (5 s), every way within it; + 1 s for
    // the process and the lab.
    assert!(took < Duration::from_secs(8), "{took:?}");
    let said = stderr(&out);
    assert!(
        said.contains("PCP and NAT-PMP at the default gateway meanwhile"),
        "{said}"
    );
    assert!(said.contains("all over within 7000 ms"), "{said}");
    assert!(silent.dropped() > 0);
}

#[test]
fn a_dsl_box_with_only_tr064_services_is_used() {
    let lab = Lab::get();
    let router = Router::start(
        lab.host_addr,
        "quirk-tr064-dslforum-services-only.xml",
        Quirks::default(),
    );
    let out = upnp(&["--json", "--url", &router.url(), "add", "7777"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(router.table().len(), 1);
    let services = router.services();
    assert!(
        services
            .iter()
            .all(|s| s.starts_with("urn:dslforum-org:service:WAN")),
        "{services:?}"
    );
}

#[test]
fn a_search_goes_out_of_every_interface_not_only_the_one_the_route_picks() {
    let lab = Lab::get();
    // The router hears multicast only, and the system sends multicast out of another interface.
    let deaf = lab.deaf_to_unicast();
    let _elsewhere = lab.multicast_route_elsewhere();
    let mut upnp = upnp_igd::blocking::Upnp::new();
    let gateway = upnp
        .find_gateway(&DiscoverOptions::default().timeout(1000))
        .expect("found out of the LAN interface")
        .clone();
    assert_eq!(gateway.description_url, lab.description_url());
    // The mapping still points at our address on the route to the router.
    assert_eq!(gateway.igd_our_addr, lab.host_addr.to_string());
    assert!(deaf.dropped() > 0, "the unicast copies were dropped");
    runtime().block_on(async {
        let mut upnp = upnp_igd::tokio::Upnp::new();
        let options = DiscoverOptions::default().timeout(1000);
        let gateway = upnp.find_gateway(&options).await.expect("found, async too");
        assert_eq!(gateway.description_url, lab.description_url());
    });
    // Named: that interface only (the other end of it hears nothing of the router).
    upnp.settings.discover_multicast_if = "igdmc0".into();
    assert!(
        upnp.find_gateway(&DiscoverOptions::default().timeout(1000))
            .is_err()
    );
}

#[test]
fn a_router_deaf_to_ipv6_multicast_is_found_by_unicast_to_the_ipv6_default_gateway() {
    let lab = Lab::get();
    let deaf = lab.deaf_to_multicast6();
    let out = upnp(&[
        "--json",
        "--ipv6",
        "--via",
        "upnp",
        "--timeout",
        "1000",
        "external-ip",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["external_ip"], lab.wan_addr.to_string());
    assert!(deaf.dropped() > 0, "the multicast M-SEARCHes were dropped");
    runtime().block_on(async {
        let mut upnp = upnp_igd::tokio::Upnp::new();
        upnp.settings.discover_ipv6 = true;
        let options = DiscoverOptions::default().timeout(1000);
        let gateway = upnp.find_gateway(&options).await.expect("found by unicast");
        assert_eq!(gateway.description_url, lab.description_url6());
    });
}

#[test]
fn an_ipv6_search_goes_out_of_every_interface_not_only_the_one_the_system_picks() {
    let lab = Lab::get();
    let deaf = lab.deaf_to_unicast6();
    let _elsewhere = lab.multicast_route_elsewhere();
    let mut upnp = upnp_igd::blocking::Upnp::new();
    upnp.settings.discover_ipv6 = true;
    let gateway = upnp
        .find_gateway(&DiscoverOptions::default().timeout(1000))
        .expect("found out of the LAN interface")
        .clone();
    assert_eq!(gateway.description_url, lab.description_url6());
    assert!(deaf.dropped() > 0, "the unicast copies were dropped");
}
