use std::net::SocketAddr;

use super::*;

fn hex(text: &str) -> Vec<u8> {
    text.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// RFC 5769, 2.2: a Binding success (IPv4) with SOFTWARE, XOR-MAPPED-ADDRESS,
/// MESSAGE-INTEGRITY and FINGERPRINT.
const RFC5769_IPV4: &str = "01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
    80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20 00 20 00 08 00 01 a1 47 e1 12 a6 43
    00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7
    80 28 00 04 c0 7d 4c 96";

/// RFC 5769, 2.3: the same over IPv6.
const RFC5769_IPV6: &str = "01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
    80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20 00 20 00 14 00 02 a1 47
    01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9
    00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41
    80 28 00 04 c8 fb 0b 4c";

const RFC5769_TRANSACTION: [u8; 12] = [
    0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
];

#[test]
fn the_rfc_5769_answers_give_the_address_seen() {
    let request = BindingRequest::new(RFC5769_TRANSACTION);
    let v4 = request.answered(&hex(RFC5769_IPV4)).unwrap();
    assert_eq!(v4.mapped, addr("192.0.2.1:32853"));
    let v6 = request.answered(&hex(RFC5769_IPV6)).unwrap();
    assert_eq!(
        v6.mapped,
        addr("[2001:db8:1234:5678:11:2233:4455:6677]:32853")
    );
    // Another request's transaction: not ours.
    assert!(matches!(
        BindingRequest::new([1; 12]).answered(&hex(RFC5769_IPV4)),
        Err(Error::StunAnswer(_))
    ));
}

#[test]
fn a_request_is_twenty_bytes_and_a_change_request_asks_both() {
    let plain = BindingRequest::new([9; 12]).encode();
    assert_eq!(plain.len(), 20);
    assert_eq!(
        plain.get(..8),
        Some(&[0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42][..])
    );
    let change = BindingRequest::new([9; 12]).change_address(true);
    let bytes = change.encode();
    // CHANGE-REQUEST (0x0003), length 4, "change IP" and "change port" set.
    assert_eq!(bytes.get(20..28), Some(&[0, 3, 0, 4, 0, 0, 0, 6][..]));
    assert_eq!(BindingRequest::parse(&bytes).unwrap(), change);
}

#[test]
fn an_answer_round_trips_with_the_servers_other_address() {
    let answer = BindingAnswer {
        other_address: Some(addr("11.0.0.2:3479")),
        response_origin: Some(addr("11.0.0.1:3478")),
        ..BindingAnswer::new([4; 12], addr("11.0.0.7:7777"))
    };
    assert_eq!(BindingAnswer::parse(&answer.encode()).unwrap(), answer);
}

#[test]
fn refusals_and_garbage_are_typed() {
    // A Binding error response, 400 "Bad Request".
    let refused = hex("01 11 00 14 21 12 a4 42 01 01 01 01 01 01 01 01 01 01 01 01
         00 09 00 0f 00 00 04 00 42 61 64 20 52 65 71 75 65 73 74 00");
    match BindingAnswer::parse(&refused) {
        Err(Error::StunRefused { code, reason }) => {
            assert_eq!((code, reason.as_str()), (400, "Bad Request"));
        }
        other => panic!("{other:?}"),
    }
    let refused = Error::StunRefused {
        code: 400,
        reason: "Bad\x1b[2J".into(),
    };
    assert!(!refused.to_string().contains('\x1b'), "{refused}");
    for junk in [
        &b""[..],
        &[0; 20][..],
        &b"HTTP/1.1 200 OK\r\n\r\n"[..],
        &vec![0; MAX_ANSWER + 1][..],
    ] {
        assert!(
            matches!(BindingAnswer::parse(junk), Err(Error::StunAnswer(_))),
            "{junk:?}"
        );
    }
    // A success with no mapped address.
    let bare = hex("01 01 00 00 21 12 a4 42 01 01 01 01 01 01 01 01 01 01 01 01");
    assert!(matches!(
        BindingAnswer::parse(&bare),
        Err(Error::StunAnswer("no mapped address in the answer"))
    ));
    // A request is no answer.
    let request = BindingRequest::new([1; 12]).encode();
    assert!(BindingAnswer::parse(&request).is_err());
}

#[test]
fn the_verdict_compares_address_then_port() {
    let external = addr("11.0.0.7:7777");
    let judge =
        |seen: Option<&str>, inbound| Reachability::judge(external, seen.map(addr), inbound);
    assert_eq!(
        judge(Some("11.0.0.7:7777"), Some(true)),
        Reachability::Reachable { inbound: true }
    );
    assert_eq!(
        judge(Some("11.0.0.7:7777"), None),
        Reachability::Reachable { inbound: false }
    );
    assert_eq!(
        judge(Some("11.0.0.7:7777"), Some(false)),
        Reachability::Filtered {
            seen: addr("11.0.0.7:7777")
        }
    );
    assert_eq!(
        judge(Some("11.0.0.7:40000"), None),
        Reachability::OtherPort {
            seen: addr("11.0.0.7:40000")
        }
    );
    let seen = addr("100.64.3.9:7777");
    assert_eq!(
        judge(Some("100.64.3.9:7777"), None),
        Reachability::AnotherNat { seen }
    );
    assert_eq!(judge(None, None), Reachability::Unknown);
    assert_eq!(Reachability::AnotherNat { seen }.name(), "another-nat");
    assert!(
        Reachability::AnotherNat { seen }
            .to_string()
            .contains("100.64.3.9:7777")
    );
}
