//! NAT-PMP and PCP against miniupnpd: with UPnP off, every way still opens a port that
//! forwards; with UPnP on, PCP still works and auto keeps UPnP.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::process::{Command, Output};

use igd::blocking::{Found, Upnp};
use igd::{DiscoverOptions, Method, Via};
use lab_tests::Lab;

fn upnp(args: &[&str]) -> Output {
    let bin = std::env::var("IGD_LAB_UPNP_BIN")
        .unwrap_or_else(|_| format!("{}/../target/debug/upnp", env!("CARGO_MANIFEST_DIR")));
    Command::new(&bin)
        .args(args)
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
    assert_eq!(added["method"], method, "{added}");
    assert_eq!(added["external_port"], port);
    assert_eq!(added["internal_client"], lab.host_addr.to_string());
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
        let mut upnp = igd::tokio::Upnp::new();
        let found = upnp
            .find_way(&DiscoverOptions::default(), Via::NatPmp, None)
            .await
            .unwrap();
        let igd::tokio::Found::Pmp(mut client) = found else {
            panic!("NAT-PMP was asked")
        };
        let nonce =
            igd::pmp::derived_nonce(IpAddr::V4(lab.host_addr), igd::keeper::Protocol::Udp, 7708);
        let mapping = igd::pmp::PmpMapping::new(igd::keeper::Protocol::Udp, 7708, 300, nonce);
        let granted = client.add(mapping).await.unwrap();
        assert_eq!(granted.method, Method::NatPmp);
        assert_eq!(granted.external_ip, Some(IpAddr::V4(lab.wan_addr)));
        assert!(lab.udp_arrives(&socket, granted.external_port, "async"));
        assert_eq!(client.delete(mapping).await.unwrap(), Method::NatPmp);
        assert!(!forwards(&lab, granted.external_port));
    });
}
