use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::error::Error;

/// A header name: an HTTP token, never a framing header's.
fn header_name() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9-]{0,15}".prop_filter("not a framing header", |n| {
        !n.eq_ignore_ascii_case("content-length") && !n.eq_ignore_ascii_case("transfer-encoding")
    })
}

/// A header value as httparse gives it back: visible characters and inner spaces, no
/// surrounding white space.
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    "[!-~]([ !-~]{0,30}[!-~])?".prop_map(String::into_bytes)
}

fn response() -> impl Strategy<Value = Response> {
    (
        0u8..=1,
        prop_oneof![Just(200u16), Just(500), 200u16..600],
        "[A-Za-z][A-Za-z ]{0,20}[A-Za-z]",
        prop::collection::vec((header_name(), header_value()), 0..8),
        prop::collection::vec(any::<u8>(), 0..2000),
    )
        .prop_filter("204 and 304 have no body", |(_, status, ..)| {
            *status != 204 && *status != 304
        })
        .prop_map(|(version, status, reason, headers, body)| Response {
            version,
            status,
            reason,
            headers,
            body: Bytes::from(body),
        })
}

/// Push `raw` in pieces of the sizes given (cycled), then finish.
fn decode_in_pieces(raw: &[u8], sizes: &[usize], limit: usize) -> Result<Response, Error> {
    let mut decoder = ResponseDecoder::new(limit);
    let mut rest = raw;
    let mut sizes = sizes.iter().cycle();
    while !rest.is_empty() {
        let size = sizes
            .next()
            .copied()
            .unwrap_or(rest.len())
            .clamp(1, rest.len());
        let (piece, tail) = rest.split_at(size);
        if decoder.push(piece)? {
            break;
        }
        rest = tail;
    }
    decoder.finish()
}

proptest! {
    #[test]
    fn responses_round_trip(response in response()) {
        prop_assert_eq!(decode_in_pieces(&response.encode(), &[usize::MAX], 4096)?, response);
    }

    #[test]
    fn any_split_decodes_the_same(
        response in response(),
        sizes in prop::collection::vec(1usize..50, 1..10),
        chunk in 1usize..300,
    ) {
        for raw in [response.encode(), response.encode_chunked(chunk)] {
            prop_assert_eq!(&decode_in_pieces(&raw, &sizes, 4096)?, &response);
        }
    }

    #[test]
    fn a_body_over_the_limit_is_refused_however_it_is_framed(
        response in response(),
        chunk in 1usize..300,
    ) {
        let limit = response.body.len().saturating_sub(1);
        prop_assume!(!response.body.is_empty());
        for raw in [response.encode(), response.encode_chunked(chunk)] {
            let refused = matches!(
                decode_in_pieces(&raw, &[7], limit),
                Err(Error::BodyTooLarge { .. })
            );
            prop_assert!(refused);
        }
    }

    #[test]
    fn any_bytes_never_panic_and_a_success_round_trips(
        raw in prop::collection::vec(any::<u8>(), 0..600),
        sizes in prop::collection::vec(1usize..40, 1..5),
    ) {
        if let Ok(response) = decode_in_pieces(&raw, &sizes, 4096) {
            prop_assert_eq!(decode_in_pieces(&response.encode(), &[usize::MAX], 4096)?, response);
        }
    }

    #[test]
    fn mangled_responses_never_panic(
        response in response(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        chunk in 1usize..300,
    ) {
        let mut raw = response.encode_chunked(chunk).to_vec();
        let i = at.index(raw.len());
        raw[i] = byte;
        let _ = decode_in_pieces(&raw, &[13], 4096);
        raw.truncate(i);
        let _ = decode_in_pieces(&raw, &[13], 4096);
    }
}
