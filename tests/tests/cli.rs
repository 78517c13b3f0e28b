//! The `upnp` CLI end to end against miniupnpd, in text and JSON.

use std::process::{Command, Output};

use lab_tests::Lab;

/// The `upnp` binary: `cargo xtask test` builds it and names it in IGD_LAB_UPNP_BIN.
fn upnp(args: &[&str]) -> Output {
    let bin = std::env::var("IGD_LAB_UPNP_BIN")
        .unwrap_or_else(|_| format!("{}/../target/debug/upnp", env!("CARGO_MANIFEST_DIR")));
    Command::new(&bin)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {bin} (build it with `cargo build -p upnp-cli`): {e}"))
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The one JSON document printed: one line, with its version and command.
fn json(out: &Output) -> serde_json::Value {
    let text = stdout(out);
    assert_eq!(text.lines().count(), 1, "one document per line: {text}");
    let document: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    assert_eq!(document["version"], 1, "{text}");
    assert!(document["command"].is_string(), "{text}");
    document
}

#[test]
fn discover_and_external_ip() {
    let lab = Lab::get();
    let out = upnp(&["discover"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.contains(&lab.description_url()), "{text}");
    assert!(text.contains("IGD_STATUS_OK (valid gateway)"), "{text}");
    assert!(text.contains("external:     11.0.0.7"), "{text}");

    let out = upnp(&["--json", "discover"]);
    let found = json(&out);
    assert_eq!(found["command"], "discover");
    let device = &found["devices"][0];
    assert_eq!(device["status"], "IGD_STATUS_OK");
    assert_eq!(device["valid_gateway"], true);
    assert_eq!(device["our_addr"], lab.host_addr.to_string());
    assert_eq!(device["igd_version"], lab.igd_version);

    let out = upnp(&["external-ip"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), format!("{}\n", lab.wan_addr));
    let out = upnp(&["--url", &lab.description_url(), "--json", "external-ip"]);
    let ip = json(&out);
    assert_eq!(ip["external_ip"], lab.wan_addr.to_string());
    assert_eq!(ip["method"], "upnp");

    // Discovery options: IPv6 through an interface by name, and IPv4 through one by address.
    let out = upnp(&[
        "--ipv6",
        "--interface",
        &lab.lan_if,
        "--timeout",
        "1500",
        "--json",
        "discover",
    ]);
    assert_eq!(
        json(&out)["devices"][0]["description_url"],
        lab.description_url6()
    );
    assert_eq!(
        json(&out)["devices"][0]["our_addr"],
        lab.host_addr6.to_string()
    );
    let out = upnp(&["--interface", &lab.host_addr.to_string(), "external-ip"]);
    assert_eq!(stdout(&out), format!("{}\n", lab.wan_addr));
}

#[test]
fn add_list_delete_in_text_and_json() {
    let lab = Lab::get();
    let out = upnp(&[
        "add", "7401", "--proto", "tcp", "--desc", "cli test", "--lease", "600",
    ]);
    assert!(out.status.success(), "{:?}", out);
    assert!(stdout(&out).starts_with("added TCP 7401 -> 192.168.77.10:7401 'cli test' lease"));
    let out = upnp(&["--json", "add", "7402", "--internal", "8402"]);
    let added = json(&out);
    assert_eq!(added["command"], "add");
    assert_eq!(added["method"], "upnp");
    assert_eq!(added["mapping"]["protocol"], "UDP");
    assert_eq!(added["mapping"]["internal_port"], 8402);
    assert_eq!(added["mapping"]["lease_dropped"], false);

    let out = upnp(&["list"]);
    let text = stdout(&out);
    assert!(
        text.contains("TCP 7401 -> 192.168.77.10:7401 'cli test'"),
        "{text}"
    );
    assert!(text.contains("UDP 7402 -> 192.168.77.10:8402"), "{text}");
    let listed = json(&upnp(&["--url", &lab.description_url(), "--json", "list"]));
    let ports: Vec<u64> = listed["mappings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["external_port"].as_u64().unwrap())
        .collect();
    assert!(ports.contains(&7401) && ports.contains(&7402), "{ports:?}");
    let upnpc = lab.upnpc(&["-u", &lab.description_url(), "-l"]);
    assert!(upnpc.contains("TCP  7401->192.168.77.10:7401"), "{upnpc}");

    assert!(upnp(&["delete", "7401", "--proto", "tcp"]).status.success());
    let out = upnp(&["--json", "delete", "7402"]);
    assert_eq!(json(&out)["deleted"]["port"], 7402);
    let text = stdout(&upnp(&["list"]));
    assert!(!text.contains("7401") && !text.contains("7402"), "{text}");
}

#[test]
fn errors_name_the_result_the_code_and_the_routers_text() {
    let lab = Lab::get();
    let out = upnp(&["add", "80", "--proto", "tcp"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("UPNP_RESULT_NOT_AUTHORIZED: UPnP error 606 ActionNotAuthorized, the router says \"Action not authorized\""),
        "{err}"
    );
    let out = upnp(&["--json", "add", "80"]);
    assert!(!out.status.success());
    let document = json(&out);
    let error = &document["error"];
    assert_eq!(error["exit_code"], 4);
    assert_eq!(Some(4), out.status.code());
    assert_eq!(error["result"], "UPNP_RESULT_NOT_AUTHORIZED");
    assert_eq!(error["result_code"], 1);
    assert_eq!(error["upnp_error_code"], 606);
    assert_eq!(error["router_text"], "Action not authorized");

    let out = upnp(&["--json", "add", "70000"]);
    assert_eq!(json(&out)["error"]["result"], "UPNP_RESULT_INVALID_PORT");
    let out = upnp(&[
        "--url",
        &format!("http://{}:{}/nothing.xml", lab.router_addr, lab.http_port),
        "external-ip",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("UPNP_RESULT_INVALID_GATEWAY"));
    // Usage errors are clap's (exit status 2).
    assert_eq!(
        upnp(&["add", "1", "--proto", "sctp"]).status.code(),
        Some(2)
    );
}
