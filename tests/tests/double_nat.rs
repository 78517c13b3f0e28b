//! Behind a second NAT (`cargo xtask lab up --double-nat`): our router (miniupnpd, WAN
//! 192.168.1.10, public address found with STUN) behind a plain NAT (the ISP box, 11.0.0.7)
//! and a STUN server on the ISP host. What a user sees there, and what `check` says. In the
//! single-router lab these tests check nothing and pass.

use lab_tests::{Lab, one_document as json, upnp_cli as upnp};

/// miniupnpd behind a NAT that filters (nftables' masquerade) learns the public address
/// from STUN, says it, and refuses every mapping ("does not support port forwarding"): the
/// address looks public, the port is not reachable, and `check` says so.
#[test]
fn behind_a_filtering_second_nat_the_router_refuses_and_check_says_not_reachable() {
    let lab = Lab::get();
    if !lab.double_nat {
        return;
    }
    let out = upnp(&["--json", "--no-cache", "external-ip"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(json(&out)["external_ip"], lab.wan_addr.to_string());
    let out = upnp(&["--json", "--no-cache", "add", "7793"]);
    assert_eq!(out.status.code(), Some(4), "refused: {out:?}");
    let stun = format!("{}:{}", lab.isp_addr, lab.stun_port);
    let out = upnp(&["--json", "--no-cache", "check", "7793", "--stun", &stun]);
    assert_eq!(out.status.code(), Some(6), "{out:?}");
    let document = json(&out);
    assert_eq!(document["mapped"], false, "{document}");
    let seen = document["stun"]["seen"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        seen.starts_with(&format!("{}:", lab.wan_addr)),
        "the server sees the box's address: {document}"
    );
    assert_eq!(document["stun"]["inbound_proven"], false, "{document}");
    // Not our router's WAN address: that one is private, behind the box.
    assert!(!seen.starts_with(&lab.inner_wan_addr.to_string()));
}
