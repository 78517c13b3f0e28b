use clap::Parser;

use super::*;

#[test]
fn global_options_are_taken_before_or_after_the_command() {
    for args in [
        ["upnp", "--json", "--timeout", "500", "add", "7777"],
        ["upnp", "add", "7777", "--json", "--timeout", "500"],
        ["upnp", "--json", "add", "--timeout", "500", "7777"],
    ] {
        let cli = Cli::try_parse_from(args).unwrap();
        assert!(cli.json, "{args:?}");
        assert_eq!(cli.timeout, 500, "{args:?}");
        assert!(matches!(cli.command, Command::Add { port: 7777, .. }));
    }
}

#[test]
fn a_usage_error_is_clap_s_exit_status_2() {
    let error = Cli::try_parse_from(["upnp", "add"]).unwrap_err();
    assert_eq!(error.exit_code(), 2);
}

#[test]
fn each_kind_of_failure_has_its_exit_status() {
    assert_eq!(exit_code(&Error::InvalidPort(70_000)), 2);
    assert_eq!(exit_code(&Error::NoGateway(Vec::new())), 3);
    assert_eq!(exit_code(&Error::NoPinholeService), 3);
    let refused = Error::NatPmpRefused(upnp_igd::pcp_natpmp::NatPmpResult::NotAuthorized);
    assert_eq!(exit_code(&refused), 4);
    let gateway = "192.168.77.1:5351".parse().unwrap();
    let timed_out = Error::Pmp(upnp_igd::pcp_natpmp::Error::TimedOut(gateway));
    assert_eq!(exit_code(&timed_out), 5);
    let neither = Error::Pmp(upnp_igd::pcp_natpmp::Error::PortUnreachable(gateway));
    assert_eq!(exit_code(&neither), 3);
    assert_eq!(exit_code(&Error::InvalidResponse("garbage")), 1);
}

#[test]
fn the_help_names_every_exit_status_and_no_contradictory_default() {
    let help = <Cli as clap::CommandFactory>::command()
        .render_long_help()
        .to_string();
    for status in [
        "0  done",
        "2  usage",
        "3  no gateway",
        "4  refused",
        "5  network",
    ] {
        assert!(help.contains(status), "{status}");
    }
    let mut command = <Cli as clap::CommandFactory>::command();
    let add = command
        .find_subcommand_mut("add")
        .unwrap()
        .render_long_help()
        .to_string();
    let internal = add
        .split("--internal")
        .nth(1)
        .and_then(|rest| rest.split("\n      --").next())
        .unwrap();
    assert!(internal.contains("the same as PORT"), "{internal}");
    assert!(!internal.contains("[default: 0]"), "{internal}");
}

#[test]
fn every_json_document_is_one_line_with_its_version_and_command() {
    let cli = Cli::try_parse_from(["upnp", "--json", "pinhole", "close", "3"]).unwrap();
    let line = document(&cli, serde_json::json!({ "closed": 3 }));
    assert!(!line.contains('\n'), "{line}");
    let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(parsed["version"], JSON_VERSION);
    assert_eq!(parsed["command"], "pinhole close");
    assert_eq!(parsed["closed"], 3);
    assert!(parsed.get("error").is_none());
}

#[test]
fn a_failure_in_json_is_an_error_document_with_its_exit_status() {
    let cli = Cli::try_parse_from(["upnp", "add", "7777", "--json"]).unwrap();
    let line = error_document(&cli, &Error::InvalidPort(70_000));
    let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(parsed["version"], JSON_VERSION);
    assert_eq!(parsed["command"], "add");
    assert_eq!(parsed["error"]["result"], "UPNP_RESULT_INVALID_PORT");
    assert_eq!(parsed["error"]["exit_code"], 2);
    assert!(
        parsed["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("70000")),
        "{line}"
    );
}

#[test]
fn a_keeper_event_is_a_document_naming_its_kind_and_method() {
    let cli = Cli::try_parse_from(["upnp", "--json", "keep", "7777"]).unwrap();
    let event = upnp_igd::keeper::Event::Stopped { left: 0 };
    let line = document(
        &cli,
        serde_json::json!({ "method": "pcp", "event": KeepEventOut::from(&event) }),
    );
    let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(parsed["command"], "keep");
    assert_eq!(parsed["method"], "pcp");
    assert_eq!(parsed["event"]["kind"], "stopped");
    assert_eq!(parsed["event"]["left"], 0);
}

#[test]
fn keep_takes_ports_with_and_without_their_protocol() {
    let cli = Cli::try_parse_from(["upnp", "keep", "7777/udp", "7777/TCP", "27015"]).unwrap();
    let Command::Keep { ports, proto, .. } = cli.command else {
        panic!("keep")
    };
    let with = |port, proto| upnp_cli::KeepPort { port, proto };
    assert_eq!(
        ports,
        [
            with(7777, Some(Proto::Udp)),
            with(7777, Some(Proto::Tcp)),
            with(27015, None)
        ]
    );
    assert!(
        matches!(proto, Proto::Udp),
        "a bare port keeps --proto's default"
    );
    for bad in ["0", "7777/sctp", "70000", "x/udp"] {
        let error = Cli::try_parse_from(["upnp", "keep", bad]).unwrap_err();
        assert_eq!(error.exit_code(), 2, "{bad}");
    }
}
