use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use proptest::prelude::*;

use super::*;

fn datagram() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..600),
        (
            prop_oneof![Just("ssdp:alive"), Just("ssdp:byebye"), Just("ssdp:update")],
            proptest::option::of(0u32..4),
            proptest::option::of(prop_oneof![
                Just("http://192.168.77.1:5000/rootDesc.xml"),
                Just("http://192.168.77.1:5001/rootDesc.xml")
            ]),
            prop_oneof![Just("uuid:a"), Just("uuid:b"), Just("nonsense")],
        )
            .prop_map(|(nts, boot, location, usn)| {
                let mut text = format!(
                    "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nNT: upnp:rootdevice\r\n\
                     NTS: {nts}\r\nUSN: {usn}::upnp:rootdevice\r\n"
                );
                if let Some(location) = location {
                    text.push_str(&format!("LOCATION: {location}\r\n"));
                }
                if let Some(boot) = boot {
                    text.push_str(&format!(
                        "BOOTID.UPNP.ORG: {boot}\r\nNEXTBOOTID.UPNP.ORG: {}\r\n",
                        boot + 1
                    ));
                }
                text.push_str("\r\n");
                text.into_bytes()
            }),
    ]
}

fn source() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        Just(SocketAddr::from((Ipv4Addr::new(192, 168, 77, 1), 1900))),
        Just(SocketAddr::from((Ipv4Addr::new(192, 168, 77, 66), 1900))),
    ]
}

proptest! {
    /// Whatever is heard, in whatever order: no panic, at most one change handed out a
    /// second, and nothing from another address changes what is known.
    #[test]
    fn anything_heard_is_judged_within_the_rate(
        heard in proptest::collection::vec((source(), datagram(), 0u64..400), 0..200)
    ) {
        let gateway = IpAddr::V4(Ipv4Addr::new(192, 168, 77, 1));
        let mut watch = Watch::new(gateway, "http://192.168.77.1:5000/rootDesc.xml");
        let t0 = Instant::now();
        let mut now = t0;
        let mut out: Vec<Instant> = Vec::new();
        for (from, datagram, step) in heard {
            now += Duration::from_millis(step);
            let before = (
                watch.boot_id(),
                watch.location().to_owned(),
                watch.advertised_until(),
            );
            let judged = watch.handle(from, &datagram, now);
            if from.ip() != gateway {
                prop_assert!(matches!(judged, Err(Ignored::OtherSource(_))));
                let after = (
                    watch.boot_id(),
                    watch.location().to_owned(),
                    watch.advertised_until(),
                );
                prop_assert_eq!(after, before);
            }
            // An advertisement holds at most a day from when it is heard.
            if let Some(until) = watch.advertised_until() {
                prop_assert!(until <= now + MAX_MAX_AGE);
            }
            if judged.is_ok() {
                out.push(now);
            }
            if watch.poll(now).is_some() {
                out.push(now);
            }
        }
        for pair in out.windows(2) {
            prop_assert!(pair[1] - pair[0] >= MIN_INTERVAL, "{:?}", pair);
        }
    }
}
