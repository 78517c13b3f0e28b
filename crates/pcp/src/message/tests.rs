use std::net::{Ipv4Addr, Ipv6Addr};

use super::*;

fn us() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 168, 77, 10))
}

fn map_request() -> PcpRequest {
    PcpRequest::map(
        us(),
        Map::new(Nonce([1; 12]), Protocol::Udp, 7777, 7777),
        3600,
    )
}

#[test]
fn a_map_request_has_the_rfcs_layout() {
    let datagram = map_request().encode().unwrap();
    assert_eq!(datagram.len(), 60);
    assert_eq!(datagram.get(..4), Some(&[2, 1, 0, 0][..]));
    assert_eq!(datagram.get(4..8), Some(&3600u32.to_be_bytes()[..]));
    // The client address, IPv4-mapped.
    assert_eq!(
        datagram.get(8..24),
        Some(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 77, 10][..])
    );
    assert_eq!(datagram.get(24..36), Some(&[1; 12][..]));
    assert_eq!(datagram.get(36..40), Some(&[17, 0, 0, 0][..]));
    assert_eq!(datagram.get(40..44), Some(&[0x1e, 0x61, 0x1e, 0x61][..]));
    // Any IPv4 external address: ::ffff:0.0.0.0.
    assert_eq!(
        datagram.get(44..60),
        Some(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0][..])
    );
    assert_eq!(PcpRequest::parse(&datagram).unwrap(), map_request());
}

#[test]
fn an_announce_is_the_header_only() {
    let announce = PcpRequest::announce(us());
    let datagram = announce.encode().unwrap();
    assert_eq!(datagram.len(), 24);
    assert_eq!(datagram.get(..8), Some(&[2, 0, 0, 0, 0, 0, 0, 0][..]));
}

#[test]
fn options_are_padded_to_four_bytes_and_read_back() {
    let request = map_request()
        .option(PcpOption::PreferFailure)
        .option(PcpOption::ThirdParty(IpAddr::V4(Ipv4Addr::new(
            192, 168, 77, 20,
        ))))
        .option(PcpOption::Filter {
            prefix_length: 128,
            remote_port: 53,
            remote_address: IpAddr::V6(Ipv6Addr::LOCALHOST),
        })
        .option(PcpOption::Other {
            code: 200,
            data: vec![1, 2, 3],
        });
    let datagram = request.encode().unwrap();
    assert_eq!(datagram.len(), 60 + 4 + 20 + 24 + 8);
    assert_eq!(datagram.len() % 4, 0);
    assert_eq!(PcpRequest::parse(&datagram).unwrap(), request);
}

#[test]
fn a_last_option_without_its_padding_is_tolerated() {
    let request = map_request().option(PcpOption::Other {
        code: 200,
        data: vec![1, 2, 3],
    });
    let mut datagram = request.encode().unwrap();
    datagram.pop();
    assert_eq!(PcpRequest::parse(&datagram).unwrap(), request);
}

#[test]
fn malformed_options_get_typed_errors() {
    let mut datagram = map_request().encode().unwrap();
    // THIRD_PARTY with 4 bytes.
    datagram.extend([1, 0, 0, 4, 1, 2, 3, 4]);
    assert!(matches!(
        PcpRequest::parse(&datagram),
        Err(Error::MalformedOption { code: 1, .. })
    ));
    let mut datagram = map_request().encode().unwrap();
    // A length past the end.
    datagram.extend([200, 0, 0, 40, 1, 2, 3, 4]);
    assert!(matches!(
        PcpRequest::parse(&datagram),
        Err(Error::MalformedOption { code: 200, .. })
    ));
    let mut datagram = map_request().encode().unwrap();
    for _ in 0..=MAX_OPTIONS {
        datagram.extend([2, 0, 0, 0]);
    }
    assert!(matches!(
        PcpRequest::parse(&datagram),
        Err(Error::TooManyOptions(_))
    ));
    let too_many = (0..=MAX_OPTIONS).fold(map_request(), |r, _| r.option(PcpOption::PreferFailure));
    assert!(matches!(too_many.encode(), Err(Error::TooManyOptions(_))));
}

fn granted() -> PcpResponse {
    let mut map = Map::new(Nonce([1; 12]), Protocol::Udp, 7777, 7777);
    map.external_address = IpAddr::V4(Ipv4Addr::new(11, 0, 0, 7));
    PcpResponse {
        result: PcpResult::Success,
        lifetime: 3600,
        epoch: 1234,
        op: ResponseOp::Map(map),
        options: Vec::new(),
    }
}

#[test]
fn a_map_response_round_trips() {
    let datagram = granted().encode().unwrap();
    assert_eq!(datagram.len(), 60);
    assert_eq!(datagram.get(..4), Some(&[2, 129, 0, 0][..]));
    assert_eq!(datagram.get(8..12), Some(&1234u32.to_be_bytes()[..]));
    assert_eq!(PcpResponse::parse(&datagram).unwrap(), granted());
    assert_eq!(
        Response::parse(&datagram).unwrap(),
        Response::Pcp(granted())
    );
}

#[test]
fn an_error_to_an_unread_request_is_the_header_only() {
    let mut datagram = vec![2, 129, 0, 1, 0, 0, 0, 30, 0, 0, 0, 5];
    datagram.extend([0; 12]);
    let response = PcpResponse::parse(&datagram).unwrap();
    assert_eq!(response.op, ResponseOp::Bare(1));
    assert_eq!(response.result, PcpResult::UnsupportedVersion);
    assert_eq!(response.encode().unwrap(), datagram);
    // A success must carry its body.
    datagram[3] = 0;
    assert!(matches!(
        PcpResponse::parse(&datagram),
        Err(Error::Truncated { .. })
    ));
}

#[test]
fn bad_datagrams_get_typed_errors() {
    let ok = granted().encode().unwrap();
    for len in 0..ok.len() {
        assert!(
            matches!(
                PcpResponse::parse(ok.get(..len).unwrap()),
                Err(Error::Truncated { .. })
            ),
            "{len}"
        );
    }
    let mut request = ok.clone();
    request[1] = 1;
    assert!(matches!(
        PcpResponse::parse(&request),
        Err(Error::UnexpectedDirection { .. })
    ));
    let mut peer = ok.clone();
    peer[1] = 130;
    assert!(matches!(
        PcpResponse::parse(&peer),
        Err(Error::UnknownOpcode {
            version: 2,
            opcode: 2
        })
    ));
    assert!(matches!(
        Response::parse(&[1, 128]),
        Err(Error::UnknownVersion(1))
    ));
    assert!(matches!(Response::parse(&[]), Err(Error::Truncated { .. })));
    let mut huge = ok;
    huge.resize(MAX_MESSAGE_SIZE + 1, 0);
    assert!(matches!(
        PcpResponse::parse(&huge),
        Err(Error::TooLarge { .. })
    ));
}

#[test]
fn result_codes_are_named_and_round_trip() {
    for code in 0..=255u8 {
        assert_eq!(PcpResult::from_code(code).code(), code);
    }
    assert_eq!(PcpResult::from_code(12), PcpResult::AddressMismatch);
    assert_eq!(PcpResult::NotAuthorized.to_string(), "NOT_AUTHORIZED (2)");
}

#[test]
fn a_nat_pmp_answer_to_a_pcp_request_reads_as_version_zero() {
    let response = Response::parse(&[0, 129, 0, 1, 0, 0, 0, 9]).unwrap();
    assert!(response.is_unsupported_version());
    assert_eq!(response.epoch(), 9);
    assert!(!Response::Pcp(granted()).is_unsupported_version());
}

fn capture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}.bin", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn miniupnpds_answers_decode_and_re_encode_byte_for_byte() {
    for name in [
        "miniupnpd-2.3.1-natpmp-external-address",
        "miniupnpd-2.3.1-natpmp-map-udp",
        "miniupnpd-2.3.1-natpmp-unmap-udp",
        "miniupnpd-2.3.1-pcp-announce",
        "miniupnpd-2.3.1-pcp-map-udp",
        "miniupnpd-2.3.1-pcp-unmap-udp",
    ] {
        let datagram = capture(name);
        let response = Response::parse(&datagram).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(response.encode().unwrap(), datagram, "{name}");
    }
    let Response::Pcp(map) = Response::parse(&capture("miniupnpd-2.3.1-pcp-map-udp")).unwrap()
    else {
        panic!("a PCP answer")
    };
    assert_eq!((map.result, map.lifetime), (PcpResult::Success, 120));
    let ResponseOp::Map(map) = map.op else {
        panic!("a MAP")
    };
    assert_eq!(map.external_address, IpAddr::V4(Ipv4Addr::new(11, 0, 0, 7)));
    assert_eq!(map.protocol, Protocol::Udp);
}
