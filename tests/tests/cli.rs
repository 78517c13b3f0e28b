//! The `upnp` CLI end to end against miniupnpd, in text and JSON.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

use lab_tests::Lab;

/// The `upnp` binary: `cargo xtask test` builds it and names it in IGD_LAB_UPNP_BIN.
fn upnp(args: &[&str]) -> Output {
    let bin = std::env::var("IGD_LAB_UPNP_BIN")
        .unwrap_or_else(|_| format!("{}/../target/debug/upnp", env!("CARGO_MANIFEST_DIR")));
    Command::new(&bin)
        .args(args)
        .env("XDG_CACHE_HOME", lab_tests::cache_home())
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

/// M-SEARCHes the router has logged so far, once its log has settled (it may reach the
/// file a little after the datagram: read until three reads 200 ms apart agree, 3 s at most).
fn searches_logged() -> usize {
    let log = std::env::var("IGD_LAB_LOG").expect("IGD_LAB_LOG");
    // Earlier tests leave bytes that are not UTF-8 in it (the router logs what it was sent).
    let count = || {
        String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default())
            .lines()
            .filter(|l| l.contains("M-SEARCH"))
            .count()
    };
    let mut last = count();
    let mut same = 0;
    for _ in 0..15 {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let now = count();
        same = if now == last { same + 1 } else { 0 };
        last = now;
        if same == 2 {
            break;
        }
    }
    last
}

/// Warm start: the gateway found by one command is checked by the next with one exchange
/// and no search (`keep` included); a stale or tampered cache is checked, forgotten and searched past;
/// `--no-cache` searches.
#[test]
fn the_next_command_reuses_the_gateway_found_and_searches_when_it_fails() {
    let lab = Lab::get();
    let home = std::env::temp_dir().join(format!("upnp-warm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    let file = home.join("upnp").join("gateway.json");
    let run = |args: &[&str]| {
        let bin = std::env::var("IGD_LAB_UPNP_BIN").expect("IGD_LAB_UPNP_BIN");
        let out = Command::new(bin)
            .args(args)
            .env("XDG_CACHE_HOME", &home)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        assert_eq!(stdout(&out), format!("{}\n", lab.wan_addr));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let before = searches_logged();
    let cold = run(&["-v", "external-ip"]);
    assert!(!cold.contains("no search"), "{cold}");
    let after_cold = searches_logged();
    assert!(after_cold > before, "the cold run searches");
    let saved = std::fs::read_to_string(&file).expect("the gateway is cached");
    assert!(saved.contains(&lab.description_url()), "{saved}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "owner-only: {mode:o}");
    }

    let warm = run(&["-v", "external-ip"]);
    assert!(
        warm.contains("the gateway found last answers: no search"),
        "{warm}"
    );
    assert_eq!(
        searches_logged(),
        after_cold,
        "the warm run sends no M-SEARCH"
    );

    // `keep` starts from it too: the port is mapped, no M-SEARCH is sent, and SIGTERM removes it.
    let bin = std::env::var("IGD_LAB_UPNP_BIN").expect("IGD_LAB_UPNP_BIN");
    let log = home.join("keep.log");
    let mut child = Command::new(bin)
        .args(["-v", "--json", "keep", "7388", "--proto", "tcp"])
        .env("XDG_CACHE_HOME", &home)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next().expect("a line").unwrap();
    let event: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["method"], "upnp", "{line}");
    assert_eq!(event["event"]["kind"], "mapped", "{line}");
    assert_eq!(event["event"]["external_port"], 7388, "{line}");
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().unwrap().success());
    let removed = lines
        .map_while(Result::ok)
        .any(|l| l.contains("\"removed\""));
    assert!(removed, "SIGTERM removes the mapping");
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(
        said.contains("the gateway found last answers: no search"),
        "{said}"
    );
    assert_eq!(
        searches_logged(),
        after_cold,
        "the kept port needs no M-SEARCH"
    );

    // Stale (the router moved to another port) and tampered (a control URL on another
    // host): each is checked, forgotten, and the search finds the router.
    let stale_port = saved.replace(&format!(":{}/", lab.http_port), ":5999/");
    let other_host = saved.replace(
        &format!("{}:{}/ctl", lab.router_addr, lab.http_port),
        &format!("{}:{}/ctl", lab.isp_addr, lab.http_port),
    );
    assert_ne!(stale_port, saved);
    assert_ne!(other_host, saved);
    for bad in [stale_port, other_host, "{\"version\":1,".to_owned()] {
        std::fs::write(&file, &bad).unwrap();
        let searched = run(&["-v", "external-ip"]);
        assert!(!searched.contains("no search"), "{searched}");
        let rewritten = std::fs::read_to_string(&file).unwrap();
        assert_eq!(rewritten, saved, "the gateway found is cached again");
    }
    let searches = searches_logged();
    let uncached = run(&["-v", "--no-cache", "external-ip"]);
    assert!(!uncached.contains("found last"), "{uncached}");
    assert!(searches_logged() > searches, "--no-cache searches");
    let _ = std::fs::remove_dir_all(&home);
}
