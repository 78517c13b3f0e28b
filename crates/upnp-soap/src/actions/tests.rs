use std::net::IpAddr;

use super::*;
use crate::fault::ErrorCode;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn mapping(port: u16, protocol: Protocol) -> PortMapping {
    PortMapping {
        remote_host: String::new(),
        external_port: port,
        protocol,
        internal_port: port,
        internal_client: "192.168.77.10".into(),
        enabled: true,
        description: "igd-rs capture".into(),
        lease_duration: 604_800,
    }
}

#[test]
fn requests_carry_the_arguments_in_declared_order() {
    let request = AddPortMapping(mapping(7777, Protocol::Udp))
        .request("urn:schemas-upnp-org:service:WANIPConnection:1");
    assert_eq!(request.action, "AddPortMapping");
    let arguments: Vec<(&str, &str)> = request
        .arguments
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        arguments,
        [
            ("NewRemoteHost", ""),
            ("NewExternalPort", "7777"),
            ("NewProtocol", "UDP"),
            ("NewInternalPort", "7777"),
            ("NewInternalClient", "192.168.77.10"),
            ("NewEnabled", "1"),
            ("NewPortMappingDescription", "igd-rs capture"),
            ("NewLeaseDuration", "604800"),
        ]
    );
    let list = GetListOfPortMappings {
        start_port: 1,
        end_port: 65535,
        protocol: Protocol::Tcp,
        manage: false,
        number_of_ports: 0,
    }
    .arguments();
    assert_eq!(
        list.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        [
            "NewStartPort",
            "NewEndPort",
            "NewProtocol",
            "NewManage",
            "NewNumberOfPorts"
        ]
    );
}

#[test]
fn miniupnpd_outputs_are_typed() {
    let ip = GetExternalIpAddress
        .parse_reply(&fixture("miniupnpd-2.3.1-v2-GetExternalIPAddress.xml"))
        .unwrap();
    assert_eq!(ip, Some("11.0.0.7".parse::<IpAddr>().unwrap()));

    let status = GetStatusInfo
        .parse_reply(&fixture("miniupnpd-2.3.1-v2-GetStatusInfo.xml"))
        .unwrap();
    assert_eq!(status.status, ConnectionStatus::Connected);
    assert!(status.status.is_connected());
    assert_eq!(status.last_error.as_deref(), Some("ERROR_NONE"));
    assert_eq!(status.uptime, Some(17));

    let kind = GetConnectionTypeInfo
        .parse_reply(&fixture("miniupnpd-2.3.1-v2-GetConnectionTypeInfo.xml"))
        .unwrap();
    assert_eq!(kind.connection_type, "IP_Routed");
    assert_eq!(kind.possible_types, ["IP_Routed"]);

    AddPortMapping(mapping(7777, Protocol::Udp))
        .parse_reply(&fixture("miniupnpd-2.3.1-v2-AddPortMapping.xml"))
        .unwrap();
    let reserved = AddAnyPortMapping(mapping(7777, Protocol::Udp))
        .parse_reply(&fixture("miniupnpd-2.3.1-v2-AddAnyPortMapping.xml"))
        .unwrap();
    assert_eq!(reserved, 7777);

    let generic = GetGenericPortMappingEntry { index: 0 }
        .parse_reply(&fixture(
            "miniupnpd-2.3.1-v2-GetGenericPortMappingEntry.xml",
        ))
        .unwrap();
    assert_eq!(
        generic,
        PortMapping {
            description: "igd-rs & lease".into(),
            lease_duration: 3600,
            ..mapping(7778, Protocol::Tcp)
        }
    );

    let specific = GetSpecificPortMappingEntry {
        remote_host: String::new(),
        external_port: 7778,
        protocol: Protocol::Tcp,
    }
    .parse_reply(&fixture(
        "miniupnpd-2.3.1-v2-GetSpecificPortMappingEntry.xml",
    ))
    .unwrap();
    assert_eq!(specific.internal_client, "192.168.77.10");
    assert_eq!(specific.internal_port, 7778);
    assert_eq!(specific.external_port, 7778);

    let list = GetListOfPortMappings {
        start_port: 1,
        end_port: 65535,
        protocol: Protocol::Udp,
        manage: true,
        number_of_ports: 0,
    };
    assert_eq!(
        list.parse_reply(&fixture("miniupnpd-2.3.1-v2-GetListOfPortMappings.xml"))
            .unwrap(),
        [mapping(7777, Protocol::Udp)]
    );
    assert_eq!(
        list.parse_reply(&fixture(
            "miniupnpd-2.3.1-v2-GetListOfPortMappings-empty.xml"
        ))
        .unwrap(),
        []
    );
}

#[test]
fn faults_come_through_typed_actions() {
    let result = GetGenericPortMappingEntry { index: 99 }.parse_reply(&fixture(
        "miniupnpd-2.3.1-v2-fault-713-GetGenericPortMappingEntry-past-end.xml",
    ));
    match result {
        Err(Error::Fault(fault)) => {
            assert_eq!(fault.code(), Some(ErrorCode::SpecifiedArrayIndexInvalid));
        }
        other => panic!("{other:?}"),
    }
}

fn response(action: &str, arguments: &[(&str, &str)]) -> ActionResponse {
    ActionResponse {
        service_type: None,
        action: action.to_owned(),
        arguments: arguments
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

#[test]
fn quirky_values_are_tolerated_and_bad_ones_typed() {
    // Empty external address: the gateway has none yet.
    let empty = response("GetExternalIPAddress", &[("NewExternalIPAddress", "")]);
    assert_eq!(GetExternalIpAddress.output(&empty).unwrap(), None);
    // Addresses no host can have: routers send 0.0.0.0 while the WAN link is down.
    for nobody in [
        "0.0.0.0",
        "::",
        "255.255.255.255",
        "239.255.255.250",
        "ff02::1",
    ] {
        let answer = response("GetExternalIPAddress", &[("NewExternalIPAddress", nobody)]);
        assert_eq!(
            GetExternalIpAddress.output(&answer).unwrap(),
            None,
            "{nobody}"
        );
    }
    let v6 = response(
        "GetExternalIPAddress",
        &[("NewExternalIPAddress", "2001:db8::7")],
    );
    assert!(GetExternalIpAddress.output(&v6).unwrap().unwrap().is_ipv6());
    let garbage = response(
        "GetExternalIPAddress",
        &[("NewExternalIPAddress", "eleven")],
    );
    assert!(matches!(
        GetExternalIpAddress.output(&garbage),
        Err(Error::InvalidArgument {
            name: "NewExternalIPAddress",
            ..
        })
    ));
    let missing = response("GetExternalIPAddress", &[]);
    assert!(matches!(
        GetExternalIpAddress.output(&missing),
        Err(Error::MissingArgument {
            name: "NewExternalIPAddress",
            ..
        })
    ));

    // "Up", lower case protocol, "true"/"false" booleans, no lease, arguments in any case.
    let up = response(
        "GetStatusInfo",
        &[("NewConnectionStatus", "Up"), ("NewUptime", "x")],
    );
    let status = GetStatusInfo.output(&up).unwrap();
    assert!(status.status.is_connected());
    assert_eq!(status.uptime, None);
    assert!(!ConnectionStatus::parse("Disconnected").is_connected());
    assert_eq!(
        ConnectionStatus::parse("connecting"),
        ConnectionStatus::Connecting
    );

    let entry = response(
        "GetGenericPortMappingEntry",
        &[
            ("NewExternalPort", "80"),
            ("newprotocol", "tcp"),
            ("NewInternalPort", " 8080 "),
            ("NewInternalClient", "10.0.0.2"),
            ("NewEnabled", "true"),
        ],
    );
    let entry = GetGenericPortMappingEntry { index: 0 }
        .output(&entry)
        .unwrap();
    assert_eq!(entry.protocol, Protocol::Tcp);
    assert_eq!(entry.internal_port, 8080);
    assert!(entry.enabled);
    assert_eq!(entry.lease_duration, 0);
    assert_eq!(entry.description, "");

    for (name, value) in [
        ("NewExternalPort", "65536"),
        ("NewProtocol", "SCTP"),
        ("NewEnabled", "maybe"),
    ] {
        let mut arguments = vec![
            ("NewExternalPort", "80"),
            ("NewProtocol", "TCP"),
            ("NewInternalPort", "80"),
            ("NewInternalClient", "10.0.0.2"),
            ("NewEnabled", "1"),
        ];
        for argument in &mut arguments {
            if argument.0 == name {
                argument.1 = value;
            }
        }
        let bad = response("GetGenericPortMappingEntry", &arguments);
        assert!(
            matches!(
                GetGenericPortMappingEntry { index: 0 }.output(&bad),
                Err(Error::InvalidArgument { name: n, .. }) if n == name
            ),
            "{name} = {value}"
        );
    }
}

#[test]
fn protocol_is_upper_case_on_the_wire() {
    assert_eq!(Protocol::Udp.to_string(), "UDP");
    assert_eq!(Protocol::Tcp.as_str(), "TCP");
    assert_eq!("udp".parse::<Protocol>().unwrap(), Protocol::Udp);
    assert!("".parse::<Protocol>().is_err());
}
