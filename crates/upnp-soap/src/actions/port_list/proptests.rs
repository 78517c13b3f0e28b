use proptest::prelude::*;

use super::*;
use crate::actions::Protocol;

fn text() -> impl Strategy<Value = String> {
    "[ -~é✓]{0,24}".prop_map(|s| s.trim().to_owned())
}

fn port_mapping() -> impl Strategy<Value = PortMapping> {
    (
        (
            text(),
            any::<u16>(),
            prop_oneof![Just(Protocol::Tcp), Just(Protocol::Udp)],
        ),
        (
            any::<u16>(),
            "[0-9.]{1,15}",
            any::<bool>(),
            text(),
            any::<u32>(),
        ),
    )
        .prop_map(
            |(
                (remote_host, external_port, protocol),
                (internal_port, client, enabled, description, lease_duration),
            )| {
                PortMapping {
                    remote_host,
                    external_port,
                    protocol,
                    internal_port,
                    internal_client: client,
                    enabled,
                    description,
                    lease_duration,
                }
            },
        )
}

proptest! {
    #[test]
    fn listings_round_trip(mappings in prop::collection::vec(port_mapping(), 0..20)) {
        let listing = encode(&mappings).unwrap();
        prop_assert_eq!(parse(listing.as_bytes()).unwrap(), mappings);
    }

    #[test]
    fn any_bytes_parse_or_fail_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(&bytes);
    }
}
