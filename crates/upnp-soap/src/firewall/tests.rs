use std::net::Ipv6Addr;

use super::*;
use crate::fault::ErrorCode;

fn us() -> Ipv6Addr {
    "2001:db8:77::10".parse().unwrap()
}

/// A response of the service to `action` with these output arguments, as miniupnpd writes it.
pub(super) fn response(action: &str, arguments: &[(&str, &str)]) -> Vec<u8> {
    let arguments: String = arguments
        .iter()
        .map(|(n, v)| format!("<{n}>{v}</{n}>\r\n"))
        .collect();
    format!(
        "<?xml version=\"1.0\"?>\r\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body>\
         <u:{action}Response xmlns:u=\"{PINHOLE_SERVICE}\">\r\n{arguments}</u:{action}Response>\
         </s:Body></s:Envelope>\r\n"
    )
    .into_bytes()
}

fn fault(code: u32, description: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\"?>\r\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body><s:Fault>\
         <faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail>\
         <UPnPError xmlns=\"urn:schemas-upnp-org:control-1-0\"><errorCode>{code}</errorCode>\
         <errorDescription>{description}</errorDescription></UPnPError></detail></s:Fault>\
         </s:Body></s:Envelope>\r\n"
    )
    .into_bytes()
}

pub(super) fn add() -> AddPinhole {
    AddPinhole {
        remote_host: None,
        remote_port: 0,
        internal_client: us(),
        internal_port: 7777,
        protocol: Protocol::Tcp,
        lease_time: 600,
    }
}

fn names_and_values(action: &impl Action) -> Vec<(&'static str, String)> {
    action.arguments()
}

#[test]
fn add_pinhole_sends_the_arguments_in_declared_order_with_the_protocol_as_a_number() {
    let arguments = names_and_values(&add());
    let expected: Vec<(&str, String)> = vec![
        ("RemoteHost", String::new()),
        ("RemotePort", "0".into()),
        ("InternalClient", "2001:db8:77::10".into()),
        ("InternalPort", "7777".into()),
        ("Protocol", "6".into()),
        ("LeaseTime", "600".into()),
    ];
    assert_eq!(arguments, expected);
    let request = add().request(PINHOLE_SERVICE);
    assert_eq!(
        request.soap_action().unwrap(),
        format!("\"{PINHOLE_SERVICE}#AddPinhole\"")
    );
}

#[test]
fn update_and_the_id_actions_name_the_pinhole() {
    let update = UpdatePinhole {
        unique_id: 3,
        lease_time: 86_400,
    };
    assert_eq!(
        update.arguments(),
        [("UniqueID", "3".into()), ("NewLeaseTime", "86400".into())]
    );
    assert_eq!(
        DeletePinhole { unique_id: 65535 }.arguments(),
        [("UniqueID", "65535".to_owned())]
    );
    assert_eq!(
        GetPinholePackets { unique_id: 1 }
            .request(PINHOLE_SERVICE)
            .action,
        "GetPinholePackets"
    );
}

#[test]
fn outputs_are_read_and_typed() {
    assert_eq!(
        add()
            .parse_reply(&response("AddPinhole", &[("UniqueID", "12")]))
            .unwrap(),
        12
    );
    let status = GetFirewallStatus
        .parse_reply(&response(
            "GetFirewallStatus",
            &[("FirewallEnabled", "1"), ("InboundPinholeAllowed", "0")],
        ))
        .unwrap();
    assert_eq!(
        status,
        FirewallStatus {
            enabled: true,
            inbound_pinhole_allowed: false
        }
    );
    let packets = GetPinholePackets { unique_id: 1 }
        .parse_reply(&response(
            "GetPinholePackets",
            &[("PinholePackets", " 42 ")],
        ))
        .unwrap();
    assert_eq!(packets, 42);
    let working = CheckPinholeWorking { unique_id: 1 }
        .parse_reply(&response("CheckPinholeWorking", &[("IsWorking", "1")]))
        .unwrap();
    assert!(working);
    UpdatePinhole {
        unique_id: 1,
        lease_time: 60,
    }
    .parse_reply(&response("UpdatePinhole", &[]))
    .unwrap();
}

#[test]
fn a_missing_or_garbled_output_is_a_typed_error() {
    let missing = add().parse_reply(&response("AddPinhole", &[]));
    assert!(
        matches!(
            missing,
            Err(Error::MissingArgument {
                name: "UniqueID",
                ..
            })
        ),
        "{missing:?}"
    );
    for bad in ["65536", "-1", "twelve", ""] {
        let garbled = add().parse_reply(&response("AddPinhole", &[("UniqueID", bad)]));
        assert!(
            matches!(
                garbled,
                Err(Error::InvalidArgument {
                    name: "UniqueID",
                    ..
                })
            ),
            "{bad}: {garbled:?}"
        );
    }
    let status = GetFirewallStatus.parse_reply(&response(
        "GetFirewallStatus",
        &[("FirewallEnabled", "maybe"), ("InboundPinholeAllowed", "1")],
    ));
    assert!(matches!(status, Err(Error::InvalidArgument { .. })));
}

#[test]
fn faults_are_named_as_this_service_means_them() {
    let reply = DeletePinhole { unique_id: 9 }.parse_reply(&fault(704, "NoSuchEntry"));
    let Err(Error::Fault(fault)) = reply else {
        panic!("{reply:?}")
    };
    // The connection services' 704 is another error; this service's is NoSuchEntry.
    assert_eq!(fault.code(), Some(ErrorCode::ConnectionSetupFailed));
    assert_eq!(FirewallError::of(&fault), Some(FirewallError::NoSuchEntry));
    assert_eq!(FirewallError::NoSuchEntry.to_string(), "NoSuchEntry (704)");
    for code in [606, 701, 702, 703, 704, 705, 706, 707, 708, 709] {
        let error = FirewallError::from_code(code).unwrap();
        assert_eq!(error.code(), code);
    }
    assert_eq!(FirewallError::from_code(718), None);
    assert_eq!(FirewallError::from_code(402), None);
}

fn capture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/data/miniupnpd-2.3.1-v2-{name}.xml",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn fault_of<T: std::fmt::Debug>(reply: Result<T, Error>) -> crate::fault::SoapFault {
    match reply {
        Err(Error::Fault(fault)) => fault,
        other => panic!("a fault, not {other:?}"),
    }
}

/// Answers of the lab's miniupnpd 2.3.1 (IGDv2, nftables), captured with curl from the LAN
/// host's global address: the pinhole 1 opened, renewed, asked about and closed.
#[test]
fn a_real_routers_answers_are_read() {
    let status = GetFirewallStatus
        .parse_reply(&capture("GetFirewallStatus"))
        .unwrap();
    assert!(status.enabled && status.inbound_pinhole_allowed);
    assert_eq!(add().parse_reply(&capture("AddPinhole")).unwrap(), 1);
    let update = UpdatePinhole {
        unique_id: 1,
        lease_time: 900,
    };
    update.parse_reply(&capture("UpdatePinhole")).unwrap();
    let packets = GetPinholePackets { unique_id: 1 };
    assert_eq!(
        packets.parse_reply(&capture("GetPinholePackets")).unwrap(),
        0
    );
    DeletePinhole { unique_id: 1 }
        .parse_reply(&capture("DeletePinhole"))
        .unwrap();
}

/// The same router's refusals, each named as this service means it where it has a name:
/// no counter on its rules (709), another host's address (606); a closed or unknown
/// pinhole and a zero lease are 402 there, not the 704 the service defines.
#[test]
fn a_real_routers_refusals_are_typed() {
    let check = CheckPinholeWorking { unique_id: 1 };
    let fault = fault_of(check.parse_reply(&capture("fault-709-CheckPinholeWorking")));
    assert_eq!(
        FirewallError::of(&fault),
        Some(FirewallError::NoTrafficReceived)
    );
    let fault = fault_of(add().parse_reply(&capture("fault-606-AddPinhole-other-client")));
    assert_eq!(
        FirewallError::of(&fault),
        Some(FirewallError::ActionNotAuthorized)
    );
    for name in [
        "fault-402-DeletePinhole-closed",
        "fault-402-UpdatePinhole-absent",
        "fault-402-AddPinhole-lease-0",
    ] {
        let fault = fault_of(DeletePinhole { unique_id: 1 }.parse_reply(&capture(name)));
        assert_eq!(fault.code(), Some(ErrorCode::InvalidArgs), "{name}");
        assert_eq!(FirewallError::of(&fault), None, "{name}");
    }
    let fault = fault_of(add().parse_reply(&capture("fault-501-GetOutboundPinholeTimeout")));
    assert_eq!(fault.code(), Some(ErrorCode::ActionFailed));
}
