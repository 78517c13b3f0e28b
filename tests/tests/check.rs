//! `upnp check` against miniupnpd and a real STUN server (coturn on the ISP host, on two
//! addresses: RFC 5780): reachable through a mapping, proven from outside; not reachable
//! without one.

use lab_tests::{Lab, one_document as json, upnp_cli as upnp};

#[test]
fn a_mapped_port_is_reachable_and_proven_from_the_servers_other_address() {
    let lab = Lab::get();
    let stun = format!("{}:{}", lab.isp_addr, lab.stun_port);
    let added = upnp(&["add", "7790"]);
    assert!(added.status.success(), "{added:?}");
    let out = upnp(&["--json", "check", "7790", "--stun", &stun]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let document = json(&out);
    assert_eq!(document["command"], "check");
    assert_eq!(document["external_ip"], lab.wan_addr.to_string());
    assert_eq!(
        document["mapping"]["internal_client"],
        lab.host_addr.to_string()
    );
    assert_eq!(document["mapped"], true);
    let check = &document["stun"];
    assert_eq!(check["verdict"], "reachable", "{document}");
    assert_eq!(check["seen"], format!("{}:7790", lab.wan_addr));
    assert_eq!(
        check["other_address"],
        format!("{}:{}", lab.isp_addr2, lab.stun_port + 1)
    );
    assert_eq!(check["inbound_proven"], true, "{document}");
    // Without the mapping: the server still sees our address (the NAT keeps the port), but
    // its answer from the other address no longer comes in, and the gateway shows none.
    assert!(upnp(&["delete", "7790"]).status.success());
    let out = upnp(&["--json", "check", "7790", "--stun", &stun]);
    assert_eq!(out.status.code(), Some(6), "{out:?}");
    let document = json(&out);
    assert_eq!(document["mapped"], false, "{document}");
    assert_eq!(document["stun"]["inbound_proven"], false, "{document}");
    // In text: the verdict in words.
    assert!(upnp(&["add", "7790"]).status.success());
    let out = upnp(&["check", "7790", "--stun", &lab.isp_addr.to_string()]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("says: reachable"), "{text}");
    assert!(upnp(&["delete", "7790"]).status.success());
}

#[test]
fn without_a_stun_server_nothing_but_the_router_is_asked() {
    let lab = Lab::get();
    let out = upnp(&["--json", "check", "7791"]);
    assert_eq!(out.status.code(), Some(6), "no mapping: {out:?}");
    let document = json(&out);
    assert!(document["stun"].is_null(), "{document}");
    assert_eq!(document["external_ip"], lab.wan_addr.to_string());
}

#[test]
fn a_silent_server_is_unknown_within_the_bound() {
    let lab = Lab::get();
    // A port on the ISP host where nothing listens: no STUN answer.
    let silent = format!("{}:3999", lab.isp_addr);
    assert!(upnp(&["add", "7792"]).status.success());
    let started = std::time::Instant::now();
    let out = upnp(&["--json", "check", "7792", "--stun", &silent]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    assert_eq!(json(&out)["stun"]["verdict"], "unknown");
    // Finding the router (the cache: one exchange) + 5 s, with a margin.
    assert!(took < std::time::Duration::from_secs(7), "{took:?}");
    assert!(upnp(&["delete", "7792"]).status.success());
}
