use std::net::IpAddr;

use proptest::prelude::*;

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn a_private_or_shared_address_is_looked_in_front_of_at_its_first_and_last_hosts() {
    let asked = Upstream::WhenPrivate.candidates(ip("192.168.1.10"));
    assert_eq!(asked, [ip("192.168.1.1"), ip("192.168.1.254")]);
    let asked = Upstream::WhenPrivate.candidates(ip("10.0.0.138"));
    assert_eq!(asked, [ip("10.0.0.1"), ip("10.0.0.254")]);
    // A carrier's NAT (RFC 6598).
    let asked = Upstream::WhenPrivate.candidates(ip("100.70.3.9"));
    assert_eq!(asked, [ip("100.70.3.1"), ip("100.70.3.254")]);
    // Never our gateway's own address.
    let asked = Upstream::WhenPrivate.candidates(ip("172.16.5.1"));
    assert_eq!(asked, [ip("172.16.5.254")]);
}

#[test]
fn a_public_address_or_off_asks_no_one() {
    for external in [
        "11.0.0.7",
        "100.128.0.1",
        "2001:db8::1",
        "169.254.1.1",
        "127.0.0.1",
    ] {
        assert!(
            Upstream::WhenPrivate.candidates(ip(external)).is_empty(),
            "{external}"
        );
    }
    assert!(Upstream::Off.candidates(ip("192.168.1.10")).is_empty());
}

#[test]
fn an_address_given_is_asked_alone_whatever_the_external_address() {
    let named = ip("192.168.178.1");
    assert_eq!(Upstream::At(named).candidates(ip("11.0.0.7")), [named]);
    assert_eq!(Upstream::At(named).candidates(ip("192.168.1.10")), [named]);
    assert!(Upstream::At(named).candidates(named).is_empty());
}

fn upstream() -> impl Strategy<Value = Upstream> {
    prop_oneof![
        Just(Upstream::WhenPrivate),
        Just(Upstream::Off),
        any::<IpAddr>().prop_map(Upstream::At),
    ]
}

#[test]
fn the_hop_beyond_is_asked_first_once_and_only_when_private() {
    let external = ip("192.168.1.10");
    let asked = Upstream::WhenPrivate.candidates_with_hop(external, Some(ip("192.168.1.1")));
    assert_eq!(asked, [ip("192.168.1.1"), ip("192.168.1.254")]);
    let asked = Upstream::WhenPrivate.candidates_with_hop(external, Some(ip("10.0.0.1")));
    assert_eq!(
        asked,
        [ip("10.0.0.1"), ip("192.168.1.1"), ip("192.168.1.254")]
    );
    // A public hop (a CGNAT-less ISP router) or our own address: not asked.
    let asked = Upstream::WhenPrivate.candidates_with_hop(external, Some(ip("11.0.0.1")));
    assert_eq!(asked, [ip("192.168.1.1"), ip("192.168.1.254")]);
    let asked = Upstream::WhenPrivate.candidates_with_hop(external, Some(external));
    assert_eq!(asked, [ip("192.168.1.1"), ip("192.168.1.254")]);
    // Public external address: nobody, hop or not; an address given: that one only.
    assert!(
        Upstream::WhenPrivate
            .candidates_with_hop(ip("11.0.0.7"), Some(ip("10.0.0.1")))
            .is_empty()
    );
    let named = Upstream::At(ip("10.1.1.1"));
    assert_eq!(
        named.candidates_with_hop(external, Some(ip("10.0.0.1"))),
        [ip("10.1.1.1")]
    );
}

proptest! {
    /// With the hop: at most three, never the external address.
    #[test]
    fn candidates_with_a_hop_are_few_and_never_the_external_address(
        upstream in upstream(),
        external in any::<IpAddr>(),
        hop in proptest::option::of(any::<IpAddr>()),
    ) {
        let asked = upstream.candidates_with_hop(external, hop);
        prop_assert!(asked.len() <= 3);
        prop_assert!(!asked.contains(&external));
        let mut unique = asked.clone();
        unique.dedup();
        prop_assert_eq!(unique.len(), asked.len());
    }

    /// Never a scan: at most two addresses, never our gateway's own, never a broadcast or
    /// network address of the /24 unless named.
    #[test]
    fn candidates_are_few_and_never_the_external_address(
        upstream in upstream(),
        external in any::<IpAddr>(),
    ) {
        let asked = upstream.candidates(external);
        prop_assert!(asked.len() <= 2);
        prop_assert!(!asked.contains(&external));
        if upstream == Upstream::WhenPrivate {
            for ip in &asked {
                let IpAddr::V4(v4) = ip else { panic!("IPv4 only") };
                prop_assert!(matches!(v4.octets()[3], 1 | 254));
            }
        }
    }
}
