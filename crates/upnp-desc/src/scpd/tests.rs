use proptest::prelude::*;

use super::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn miniupnpd_wanipconnection_v2_offers_the_igdv2_actions() {
    let s = Scpd::parse(&fixture("miniupnpd-v2-WANIPCn.xml")).unwrap();
    for action in [
        "AddPortMapping",
        "AddAnyPortMapping",
        "DeletePortMapping",
        "DeletePortMappingRange",
        "GetListOfPortMappings",
        "GetExternalIPAddress",
        "GetStatusInfo",
    ] {
        assert!(s.has_action(action), "{action}");
    }
    let add = s.action("AddPortMapping").unwrap();
    let names: Vec<_> = add.arguments.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "NewRemoteHost",
            "NewExternalPort",
            "NewProtocol",
            "NewInternalPort",
            "NewInternalClient",
            "NewEnabled",
            "NewPortMappingDescription",
            "NewLeaseDuration"
        ]
    );
    assert!(add.arguments.iter().all(|a| a.direction == Direction::In));
    let protocol = s.state_variable("PortMappingProtocol").unwrap();
    assert_eq!(protocol.data_type, "string");
    assert_eq!(protocol.allowed_values, ["TCP", "UDP"]);
    let lease = s.state_variable("PortMappingLeaseDuration").unwrap();
    assert_eq!(lease.data_type, "ui4");
    assert!(lease.allowed_range.is_some());
}

#[test]
fn miniupnpd_wanipconnection_v1_lacks_them() {
    let s = Scpd::parse(&fixture("miniupnpd-v1-WANIPCn.xml")).unwrap();
    assert!(s.has_action("AddPortMapping"));
    assert!(!s.has_action("AddAnyPortMapping"));
    assert!(!s.has_action("GetListOfPortMappings"));
    let out = &s.action("GetExternalIPAddress").unwrap().arguments[0];
    assert_eq!(out.direction, Direction::Out);
    assert_eq!(
        out.related_state_variable.as_deref(),
        Some("ExternalIPAddress")
    );
}

#[test]
fn every_scpd_fixture_round_trips() {
    for v in ["v1", "v2"] {
        for name in ["WANIPCn", "WANCfg", "L3F", "DP", "WANIP6FC"] {
            let file = format!("miniupnpd-{v}-{name}.xml");
            let s = Scpd::parse(&fixture(&file)).unwrap();
            assert_eq!(Scpd::parse(s.encode().as_bytes()).unwrap(), s, "{file}");
        }
    }
}

#[test]
fn typed_errors() {
    assert!(matches!(
        Scpd::parse(b"<root/>"),
        Err(Error::UnexpectedRoot {
            expected: "scpd",
            ..
        })
    ));
    assert!(matches!(
        Scpd::parse(b"<scpd><actionList><action/></actionList></scpd>"),
        Err(Error::Missing { path }) if path == "action/name"
    ));
    let bad_direction = b"<scpd><actionList><action><name>A</name><argumentList><argument><name>x</name><direction>sideways</direction></argument></argumentList></action></actionList></scpd>";
    assert!(matches!(
        Scpd::parse(bad_direction),
        Err(Error::Missing { .. })
    ));
    let many = format!(
        "<scpd><actionList>{}</actionList></scpd>",
        "<action><name>A</name></action>".repeat(MAX_ACTIONS + 1)
    );
    assert!(matches!(
        Scpd::parse(many.as_bytes()),
        Err(Error::TooMany {
            what: "actions",
            ..
        })
    ));
}

fn value() -> impl Strategy<Value = String> {
    "[A-Za-z0-9<>&é_-]([A-Za-z0-9 <>&é_-]{0,20}[A-Za-z0-9<>&é_-])?"
}

fn argument() -> impl Strategy<Value = Argument> {
    (value(), any::<bool>(), proptest::option::of(value())).prop_map(|(name, out, related)| {
        Argument {
            name,
            direction: if out { Direction::Out } else { Direction::In },
            related_state_variable: related,
        }
    })
}

fn action() -> impl Strategy<Value = Action> {
    (value(), proptest::collection::vec(argument(), 0..4))
        .prop_map(|(name, arguments)| Action { name, arguments })
}

fn allowed_range() -> impl Strategy<Value = AllowedRange> {
    (
        proptest::option::of(value()),
        proptest::option::of(value()),
        proptest::option::of(value()),
    )
        .prop_map(|(minimum, maximum, step)| AllowedRange {
            minimum,
            maximum,
            step,
        })
}

fn state_variable() -> impl Strategy<Value = StateVariable> {
    (
        value(),
        proptest::option::of(any::<bool>()),
        value(),
        proptest::option::of(value()),
        proptest::collection::vec(value(), 0..3),
        proptest::option::of(allowed_range()),
    )
        .prop_map(
            |(name, send_events, data_type, default_value, allowed_values, allowed_range)| {
                StateVariable {
                    name,
                    send_events,
                    data_type,
                    default_value,
                    allowed_values,
                    allowed_range,
                }
            },
        )
}

fn scpd() -> impl Strategy<Value = Scpd> {
    (
        proptest::option::of((0u32..10, 0u32..10)),
        proptest::collection::vec(action(), 0..4),
        proptest::collection::vec(state_variable(), 0..4),
    )
        .prop_map(|(spec_version, actions, state_variables)| Scpd {
            spec_version,
            actions,
            state_variables,
        })
}

proptest! {
    #[test]
    fn scpd_round_trips(s in scpd()) {
        prop_assert_eq!(Scpd::parse(s.encode().as_bytes()).unwrap(), s);
    }

    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = Scpd::parse(&bytes);
    }
}
