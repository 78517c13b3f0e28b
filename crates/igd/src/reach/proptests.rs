use std::net::{IpAddr, SocketAddr};

use proptest::prelude::*;

use super::*;

fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    (any::<IpAddr>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::new(ip, port))
}

fn binding_request() -> impl Strategy<Value = BindingRequest> {
    (any::<[u8; 12]>(), any::<bool>())
        .prop_map(|(transaction, change)| BindingRequest::new(transaction).change_address(change))
}

fn binding_answer() -> impl Strategy<Value = BindingAnswer> {
    (
        any::<[u8; 12]>(),
        socket_addr(),
        proptest::option::of(socket_addr()),
        proptest::option::of(socket_addr()),
    )
        .prop_map(
            |(transaction, mapped, other_address, response_origin)| BindingAnswer {
                transaction,
                mapped,
                other_address,
                response_origin,
            },
        )
}

proptest! {
    #[test]
    fn requests_round_trip(request in binding_request()) {
        prop_assert_eq!(BindingRequest::parse(&request.encode()).unwrap(), request);
    }

    #[test]
    fn answers_round_trip(answer in binding_answer()) {
        prop_assert_eq!(BindingAnswer::parse(&answer.encode()).unwrap(), answer);
    }

    /// Anything received: an answer or a typed error, never a panic; what parses encodes
    /// to what parses the same.
    #[test]
    fn anything_received_is_judged(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(answer) = BindingAnswer::parse(&bytes) {
            prop_assert_eq!(BindingAnswer::parse(&answer.encode()).unwrap(), answer);
        }
        let _ = BindingRequest::parse(&bytes);
    }

    /// A STUN header then arbitrary attributes: the decoder's deeper paths.
    #[test]
    fn arbitrary_attributes_are_judged(
        class in prop_oneof![Just(0x0101u16), Just(0x0111), Just(0x0001)],
        body in proptest::collection::vec(any::<u8>(), 0..120),
    ) {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&class.to_be_bytes());
        bytes.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
        bytes.extend_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
        bytes.extend_from_slice(&[5; 12]);
        bytes.extend_from_slice(&body);
        let _ = BindingRequest::new([5; 12]).answered(&bytes);
    }
}
