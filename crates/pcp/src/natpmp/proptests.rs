use proptest::prelude::*;

use super::*;

fn protocol() -> impl Strategy<Value = Protocol> {
    prop_oneof![Just(Protocol::Udp), Just(Protocol::Tcp)]
}

fn nat_pmp_result() -> impl Strategy<Value = NatPmpResult> {
    any::<u16>().prop_map(NatPmpResult::from_code)
}

fn nat_pmp_request() -> impl Strategy<Value = NatPmpRequest> {
    prop_oneof![
        Just(NatPmpRequest::ExternalAddress),
        (protocol(), any::<u16>(), any::<u16>(), any::<u32>())
            .prop_map(|(p, i, e, l)| NatPmpRequest::map(p, i, e, l)),
    ]
}

fn nat_pmp_response() -> impl Strategy<Value = NatPmpResponse> {
    prop_oneof![
        (nat_pmp_result(), any::<u32>(), any::<[u8; 4]>()).prop_map(|(result, epoch, a)| {
            NatPmpResponse::ExternalAddress {
                result,
                epoch,
                address: Ipv4Addr::from(a),
            }
        }),
        (
            protocol(),
            nat_pmp_result(),
            any::<u32>(),
            any::<u16>(),
            any::<u16>(),
            any::<u32>()
        )
            .prop_map(
                |(protocol, result, epoch, internal_port, external_port, lifetime)| {
                    NatPmpResponse::Map {
                        protocol,
                        result,
                        epoch,
                        internal_port,
                        external_port,
                        lifetime,
                    }
                }
            ),
        (0..128u8, nat_pmp_result(), any::<u32>())
            .prop_filter("a success carries its body", |(op, r, _)| *op > 2
                || !r.is_success())
            .prop_map(|(opcode, result, epoch)| NatPmpResponse::Bare {
                opcode,
                result,
                epoch
            }),
    ]
}

proptest! {
    #[test]
    fn requests_round_trip(request in nat_pmp_request()) {
        let datagram = request.encode().unwrap();
        prop_assert_eq!(NatPmpRequest::parse(&datagram).unwrap(), request);
    }

    #[test]
    fn responses_round_trip(response in nat_pmp_response()) {
        let datagram = response.encode().unwrap();
        prop_assert_eq!(NatPmpResponse::parse(&datagram).unwrap(), response);
    }

    #[test]
    fn any_datagram_decodes_or_errs_and_what_decodes_re_encodes(
        datagram in proptest::collection::vec(any::<u8>(), 0..40)
    ) {
        if let Ok(response) = NatPmpResponse::parse(&datagram) {
            let again = response.encode().unwrap();
            prop_assert_eq!(NatPmpResponse::parse(&again).unwrap(), response);
        }
        let _ = NatPmpRequest::parse(&datagram);
    }
}
