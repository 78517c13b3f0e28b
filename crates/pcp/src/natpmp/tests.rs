use super::*;

#[test]
fn requests_have_the_rfcs_layout() {
    assert_eq!(NatPmpRequest::ExternalAddress.encode().unwrap(), [0, 0]);
    let map = NatPmpRequest::map(Protocol::Tcp, 7777, 8888, 3600);
    assert_eq!(
        map.encode().unwrap(),
        [0, 2, 0, 0, 0x1e, 0x61, 0x22, 0xb8, 0, 0, 0x0e, 0x10]
    );
    assert_eq!(NatPmpRequest::parse(&map.encode().unwrap()).unwrap(), map);
    let unmap = NatPmpRequest::unmap(Protocol::Udp, 7777);
    assert_eq!(
        unmap.encode().unwrap(),
        [0, 1, 0, 0, 0x1e, 0x61, 0, 0, 0, 0, 0, 0]
    );
}

#[test]
fn nat_pmp_maps_udp_and_tcp_only() {
    let all = NatPmpRequest::map(Protocol::All, 1, 1, 1);
    assert!(matches!(all.encode(), Err(Error::Unencodable { .. })));
    let sctp = NatPmpRequest::map(Protocol::Other(132), 1, 1, 1);
    assert!(matches!(sctp.encode(), Err(Error::Unencodable { .. })));
}

#[test]
fn an_external_address_response_decodes() {
    let datagram = [0, 128, 0, 0, 0, 0, 0, 42, 11, 0, 0, 7];
    let response = NatPmpResponse::parse(&datagram).unwrap();
    assert_eq!(
        response,
        NatPmpResponse::ExternalAddress {
            result: NatPmpResult::Success,
            epoch: 42,
            address: Ipv4Addr::new(11, 0, 0, 7),
        }
    );
    assert_eq!(response.encode().unwrap(), datagram);
}

#[test]
fn a_map_response_decodes_and_extra_bytes_are_ignored() {
    let datagram = [
        0, 129, 0, 0, 0, 0, 1, 0, 0x1e, 0x61, 0x1e, 0x62, 0, 0, 0x0e, 0x10, 0xff, 0xff,
    ];
    let response = NatPmpResponse::parse(&datagram).unwrap();
    assert_eq!(
        response,
        NatPmpResponse::Map {
            protocol: Protocol::Udp,
            result: NatPmpResult::Success,
            epoch: 256,
            internal_port: 7777,
            external_port: 7778,
            lifetime: 3600,
        }
    );
}

#[test]
fn an_error_may_come_with_the_header_only() {
    // What a NAT-PMP gateway answers to a PCP request: version 0, "unsupported version".
    let datagram = [0, 129, 0, 1, 0, 0, 0, 9];
    let response = NatPmpResponse::parse(&datagram).unwrap();
    assert_eq!(
        response,
        NatPmpResponse::Bare {
            opcode: 1,
            result: NatPmpResult::UnsupportedVersion,
            epoch: 9,
        }
    );
    assert_eq!(response.encode().unwrap(), datagram);
    // A success must carry its body.
    assert!(matches!(
        NatPmpResponse::parse(&[0, 128, 0, 0, 0, 0, 0, 9]),
        Err(Error::Truncated { needed: 12, .. })
    ));
}

#[test]
fn bad_datagrams_get_typed_errors() {
    assert!(matches!(
        NatPmpResponse::parse(&[]),
        Err(Error::Truncated { .. })
    ));
    assert!(matches!(
        NatPmpResponse::parse(&[0, 128, 0]),
        Err(Error::Truncated { .. })
    ));
    assert!(matches!(
        NatPmpResponse::parse(&[2, 128]),
        Err(Error::UnknownVersion(2))
    ));
    assert!(matches!(
        NatPmpResponse::parse(&[0, 1, 0, 0, 0, 0, 0, 0]),
        Err(Error::UnexpectedDirection { .. })
    ));
    assert!(matches!(
        NatPmpRequest::parse(&[0, 9]),
        Err(Error::UnknownOpcode {
            version: 0,
            opcode: 9
        })
    ));
    assert!(matches!(
        NatPmpResponse::parse(&[0; 1101]),
        Err(Error::TooLarge { size: 1101, .. })
    ));
}

#[test]
fn result_codes_are_named_and_round_trip() {
    for code in 0..=8u16 {
        assert_eq!(NatPmpResult::from_code(code).code(), code);
    }
    assert_eq!(NatPmpResult::from_code(2), NatPmpResult::NotAuthorized);
    assert_eq!(
        NatPmpResult::NotAuthorized.to_string(),
        "not authorized or refused (2)"
    );
    assert_eq!(NatPmpResult::Other(77).to_string(), "NAT-PMP result 77");
}
