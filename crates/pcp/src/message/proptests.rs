use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;

fn ip_addr() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        // Not IPv4-mapped: those read back as IPv4.
        any::<[u8; 16]>()
            .prop_map(|a| IpAddr::V6(Ipv6Addr::from(a)))
            .prop_filter("IPv4-mapped", |a| match a {
                IpAddr::V6(v6) => v6.to_ipv4_mapped().is_none(),
                IpAddr::V4(_) => true,
            }),
    ]
}

fn protocol() -> impl Strategy<Value = Protocol> {
    any::<u8>().prop_map(Protocol::from_number)
}

fn map() -> impl Strategy<Value = Map> {
    (
        any::<[u8; 12]>(),
        protocol(),
        any::<u16>(),
        any::<u16>(),
        ip_addr(),
    )
        .prop_map(
            |(nonce, protocol, internal_port, external_port, external_address)| Map {
                nonce: Nonce(nonce),
                protocol,
                internal_port,
                external_port,
                external_address,
            },
        )
}

fn pcp_option() -> impl Strategy<Value = PcpOption> {
    prop_oneof![
        ip_addr().prop_map(PcpOption::ThirdParty),
        Just(PcpOption::PreferFailure),
        (any::<u8>(), any::<u16>(), ip_addr()).prop_map(|(p, port, a)| PcpOption::Filter {
            prefix_length: p,
            remote_port: port,
            remote_address: a,
        }),
        (4..=255u8, proptest::collection::vec(any::<u8>(), 0..24))
            .prop_map(|(code, data)| PcpOption::Other { code, data }),
    ]
}

fn options() -> impl Strategy<Value = Vec<PcpOption>> {
    proptest::collection::vec(pcp_option(), 0..4)
}

fn pcp_request() -> impl Strategy<Value = PcpRequest> {
    let op = prop_oneof![Just(RequestOp::Announce), map().prop_map(RequestOp::Map)];
    (any::<u32>(), ip_addr(), op, options()).prop_map(|(lifetime, client, op, options)| {
        PcpRequest {
            lifetime,
            client,
            op,
            options,
        }
    })
}

fn pcp_result() -> impl Strategy<Value = PcpResult> {
    any::<u8>().prop_map(PcpResult::from_code)
}

fn pcp_response() -> impl Strategy<Value = PcpResponse> {
    let body = prop_oneof![
        (Just(ResponseOp::Announce), options()),
        (map().prop_map(ResponseOp::Map), options()),
        ((1..128u8).prop_map(ResponseOp::Bare), Just(Vec::new())),
    ];
    (pcp_result(), any::<u32>(), any::<u32>(), body)
        .prop_filter("a success carries its body", |(result, _, _, (op, _))| {
            !(matches!(op, ResponseOp::Bare(_)) && result.is_success())
        })
        .prop_map(|(result, lifetime, epoch, (op, options))| PcpResponse {
            result,
            lifetime,
            epoch,
            op,
            options,
        })
}

proptest! {
    #[test]
    fn requests_round_trip(request in pcp_request()) {
        let datagram = request.encode().unwrap();
        prop_assert_eq!(datagram.len() % 4, 0);
        prop_assert_eq!(PcpRequest::parse(&datagram).unwrap(), request);
    }

    #[test]
    fn responses_round_trip(response in pcp_response()) {
        let datagram = response.encode().unwrap();
        prop_assert_eq!(PcpResponse::parse(&datagram).unwrap(), response.clone());
        prop_assert_eq!(Response::parse(&datagram).unwrap(), Response::Pcp(response));
    }

    #[test]
    fn any_datagram_decodes_or_errs_and_what_decodes_re_encodes(
        datagram in proptest::collection::vec(any::<u8>(), 0..120)
    ) {
        if let Ok(response) = Response::parse(&datagram) {
            let again = response.encode().unwrap();
            prop_assert_eq!(Response::parse(&again).unwrap(), response);
        }
        if let Ok(request) = PcpRequest::parse(&datagram) {
            let again = request.encode().unwrap();
            prop_assert_eq!(PcpRequest::parse(&again).unwrap(), request);
        }
    }

    #[test]
    fn a_valid_response_with_any_bytes_changed_never_panics(
        response in pcp_response(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
    ) {
        let mut datagram = response.encode().unwrap();
        for (at, byte) in edits {
            let len = datagram.len();
            if let Some(b) = datagram.get_mut(at % len) {
                *b = byte;
            }
        }
        if let Ok(decoded) = Response::parse(&datagram) {
            let again = decoded.encode().unwrap();
            prop_assert_eq!(Response::parse(&again).unwrap(), decoded);
        }
    }
}
