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
