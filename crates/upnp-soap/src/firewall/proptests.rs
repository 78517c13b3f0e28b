use std::net::Ipv6Addr;

use proptest::prelude::*;

use super::tests::{add, response};
use super::*;
use crate::envelope::ActionRequest;

fn add_pinhole() -> impl Strategy<Value = AddPinhole> {
    (
        proptest::option::of(any::<u128>().prop_map(Ipv6Addr::from)),
        any::<u16>(),
        any::<u128>().prop_map(Ipv6Addr::from),
        1u16..,
        prop_oneof![Just(Protocol::Tcp), Just(Protocol::Udp)],
        1..=MAX_LEASE_TIME,
    )
        .prop_map(
            |(remote_host, remote_port, internal_client, internal_port, protocol, lease_time)| {
                AddPinhole {
                    remote_host,
                    remote_port,
                    internal_client,
                    internal_port,
                    protocol,
                    lease_time,
                }
            },
        )
}

proptest! {
    /// What we send reads back as what we meant.
    #[test]
    fn an_add_pinhole_request_round_trips(add in add_pinhole()) {
        let body = add.request(PINHOLE_SERVICE).encode().unwrap();
        let parsed = ActionRequest::parse(body.as_bytes()).unwrap();
        let argument = |name: &str| parsed.arguments.iter()
            .find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap();
        prop_assert_eq!(argument("InternalClient").parse::<Ipv6Addr>().unwrap(), add.internal_client);
        prop_assert_eq!(argument("InternalPort").parse::<u16>().unwrap(), add.internal_port);
        prop_assert_eq!(argument("LeaseTime").parse::<u32>().unwrap(), add.lease_time);
        let remote = argument("RemoteHost");
        prop_assert_eq!(remote.parse::<Ipv6Addr>().ok(), add.remote_host);
    }

    /// Any unique ID the gateway gives is read back.
    #[test]
    fn every_unique_id_is_read(id in any::<u16>()) {
        let body = response("AddPinhole", &[("UniqueID", &id.to_string())]);
        prop_assert_eq!(add().parse_reply(&body).unwrap(), id);
    }

    /// Whatever the gateway sends, reading it never panics.
    #[test]
    fn replies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = add().parse_reply(&body);
        let _ = GetFirewallStatus.parse_reply(&body);
        let _ = CheckPinholeWorking { unique_id: 1 }.parse_reply(&body);
    }
}
