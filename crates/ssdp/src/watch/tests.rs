use std::net::{Ipv4Addr, SocketAddr};

use super::*;

const LOCATION: &str = "http://192.168.77.1:5000/rootDesc.xml";

fn gateway() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::new(192, 168, 77, 1), 1900))
}

/// A NOTIFY as miniupnpd sends it.
fn notify(nts: &str, location: Option<&str>, uuid: &str, boot: Option<u32>) -> Vec<u8> {
    let mut text = format!(
        "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=120\r\n\
         NT: urn:schemas-upnp-org:device:InternetGatewayDevice:2\r\nNTS: {nts}\r\n\
         SERVER: Debian/12 UPnP/1.1 MiniUPnPd/2.3.1\r\n\
         USN: uuid:{uuid}::urn:schemas-upnp-org:device:InternetGatewayDevice:2\r\n"
    );
    if let Some(location) = location {
        text.push_str(&format!("LOCATION: {location}\r\n"));
    }
    if let Some(boot) = boot {
        text.push_str(&format!(
            "BOOTID.UPNP.ORG: {boot}\r\nCONFIGID.UPNP.ORG: 1337\r\n"
        ));
    }
    text.push_str("\r\n");
    text.into_bytes()
}

fn alive(boot: u32) -> Vec<u8> {
    notify("ssdp:alive", Some(LOCATION), "3d3cec3a", Some(boot))
}

fn byebye(boot: u32) -> Vec<u8> {
    notify("ssdp:byebye", None, "3d3cec3a", Some(boot))
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn a_new_boot_id_is_a_restart_and_a_periodic_alive_is_nothing() {
    let t0 = Instant::now();
    let mut watch = Watch::new(gateway().ip(), LOCATION);
    assert!(matches!(
        watch.handle(gateway(), &alive(7), t0),
        Err(Ignored::Unchanged)
    ));
    assert_eq!(watch.boot_id(), Some(7));
    assert!(matches!(
        watch.handle(gateway(), &alive(7), t0 + secs(30)),
        Err(Ignored::Unchanged)
    ));
    assert_eq!(
        watch.handle(gateway(), &alive(8), t0 + secs(60)).ok(),
        Some(Heard::Restarted { boot_id: Some(8) })
    );
}

#[test]
fn byebye_then_alive_is_leaving_then_restarted_even_within_a_second() {
    // A restart: 13 byebyes, then 26 alives with a new boot id, all within milliseconds.
    let t0 = Instant::now();
    let mut watch = Watch::new(gateway().ip(), LOCATION);
    watch.handle(gateway(), &alive(7), t0).unwrap_err();
    assert_eq!(
        watch.handle(gateway(), &byebye(7), t0 + secs(10)).ok(),
        Some(Heard::Leaving)
    );
    for _ in 0..12 {
        assert!(matches!(
            watch.handle(gateway(), &byebye(7), t0 + secs(10)),
            Err(Ignored::Unchanged)
        ));
    }
    let back = t0 + secs(10) + Duration::from_millis(300);
    assert!(matches!(
        watch.handle(gateway(), &alive(8), back),
        Err(Ignored::TooSoon)
    ));
    for _ in 0..25 {
        watch.handle(gateway(), &alive(8), back).unwrap_err();
    }
    // Not lost: handed out when the second is over, once.
    assert_eq!(watch.poll(back), None);
    assert_eq!(watch.poll_timeout(), Some(t0 + secs(11)));
    assert_eq!(
        watch.poll(t0 + secs(11)),
        Some(Heard::Restarted { boot_id: Some(8) })
    );
    assert_eq!(watch.poll(t0 + secs(12)), None);
    assert_eq!(watch.poll_timeout(), None);
}

#[test]
fn only_the_devices_own_address_and_identity_count() {
    let t0 = Instant::now();
    let mut watch = Watch::new(gateway().ip(), LOCATION);
    watch.handle(gateway(), &alive(7), t0).unwrap_err();
    // A forged alive with a new boot id from another LAN host: ignored.
    let forger = SocketAddr::from((Ipv4Addr::new(192, 168, 77, 66), 1900));
    assert!(matches!(
        watch.handle(forger, &alive(99), t0 + secs(5)),
        Err(Ignored::OtherSource(ip)) if ip == forger.ip()
    ));
    // Another device of the same host (a media server): ignored.
    let other = notify(
        "ssdp:alive",
        Some("http://192.168.77.1:8200/dms.xml"),
        "feedbeef",
        Some(1),
    );
    assert!(matches!(
        watch.handle(gateway(), &other, t0 + secs(5)),
        Err(Ignored::OtherDevice)
    ));
    let other_bye = notify("ssdp:byebye", None, "feedbeef", Some(1));
    assert!(matches!(
        watch.handle(gateway(), &other_bye, t0 + secs(5)),
        Err(Ignored::OtherDevice)
    ));
    // Junk, and what is not a NOTIFY.
    assert!(matches!(
        watch.handle(gateway(), b"\xff\xfe junk", t0 + secs(5)),
        Err(Ignored::Malformed(_))
    ));
    let search = b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: ssdp:all\r\n\r\n";
    assert!(matches!(
        watch.handle(gateway(), search, t0 + secs(5)),
        Err(Ignored::NotNotify)
    ));
    assert_eq!(
        watch.boot_id(),
        Some(7),
        "nothing of that changed what is known"
    );
}

#[test]
fn a_new_location_of_the_same_device_is_a_move() {
    let t0 = Instant::now();
    let mut watch = Watch::new(gateway().ip(), LOCATION);
    watch.handle(gateway(), &alive(7), t0).unwrap_err();
    let moved = notify(
        "ssdp:alive",
        Some("http://192.168.77.1:5001/rootDesc.xml"),
        "3d3cec3a",
        Some(7),
    );
    assert_eq!(
        watch.handle(gateway(), &moved, t0 + secs(5)).ok(),
        Some(Heard::Moved {
            location: "http://192.168.77.1:5001/rootDesc.xml".into()
        })
    );
    assert_eq!(watch.location(), "http://192.168.77.1:5001/rootDesc.xml");
    // Its next alive at the new place is nothing new.
    assert!(matches!(
        watch.handle(gateway(), &moved, t0 + secs(10)),
        Err(Ignored::Unchanged)
    ));
}

#[test]
fn a_flood_makes_at_most_one_change_a_second() {
    let t0 = Instant::now();
    let mut watch = Watch::new(gateway().ip(), LOCATION);
    watch.handle(gateway(), &alive(1), t0).unwrap_err();
    let mut out = 0;
    // 10 000 alives, each a new boot id, over 5 seconds.
    for i in 0..10_000u32 {
        let now = t0 + Duration::from_micros(u64::from(i) * 500);
        if watch.handle(gateway(), &alive(i + 2), now).is_ok() {
            out += 1;
        }
        if watch.poll(now).is_some() {
            out += 1;
        }
    }
    assert!(out <= 6, "{out} changes handed out in 5 s");
}

#[test]
fn a_restart_is_heard_even_before_the_device_was_heard_once() {
    // A keeper that has just started: it knows the LOCATION, not the UUID or the boot id.
    let t0 = Instant::now();
    let mut watch = Watch::new(gateway().ip(), LOCATION);
    assert_eq!(
        watch.handle(gateway(), &byebye(7), t0).ok(),
        Some(Heard::Leaving)
    );
    assert!(matches!(
        watch.handle(gateway(), &alive(8), t0 + Duration::from_millis(100)),
        Err(Ignored::TooSoon)
    ));
    assert_eq!(
        watch.poll(t0 + secs(1)),
        Some(Heard::Restarted { boot_id: Some(8) })
    );
    // Once learnt, another device's byebye from the same host is not its own.
    let other_bye = notify("ssdp:byebye", None, "feedbeef", Some(1));
    assert!(matches!(
        watch.handle(gateway(), &other_bye, t0 + secs(5)),
        Err(Ignored::OtherDevice)
    ));
}

#[test]
fn an_alive_holds_for_its_max_age_and_a_byebye_ends_it() {
    let t0 = Instant::now();
    let mut watch = Watch::new(gateway().ip(), LOCATION);
    assert_eq!(watch.advertised_until(), None);
    // Another host's alive says nothing of the device.
    let other = SocketAddr::from((Ipv4Addr::new(192, 168, 77, 66), 1900));
    let _ = watch.handle(other, &alive(7), t0);
    assert_eq!(watch.advertised_until(), None);
    let _ = watch.handle(gateway(), &alive(7), t0);
    assert_eq!(watch.advertised_until(), Some(t0 + secs(120)));
    // A periodic alive (unchanged) extends it; so does one heard too soon after a change.
    let _ = watch.handle(gateway(), &alive(7), t0 + secs(30));
    assert_eq!(watch.advertised_until(), Some(t0 + secs(150)));
    let _ = watch.handle(gateway(), &byebye(7), t0 + secs(40));
    assert_eq!(watch.advertised_until(), None);
    let _ = watch.handle(gateway(), &alive(8), t0 + secs(40));
    assert_eq!(watch.advertised_until(), Some(t0 + secs(160)));
}

#[test]
fn a_max_age_is_taken_within_bounds() {
    let t0 = Instant::now();
    let with_age = |age: &str| {
        String::from_utf8(alive(7))
            .unwrap()
            .replace("max-age=120", age)
            .into_bytes()
    };
    let cases = [
        ("max-age=1", MIN_MAX_AGE),
        ("max-age=4294967295", MAX_MAX_AGE),
        ("no-cache", DEFAULT_MAX_AGE),
    ];
    for (age, held) in cases {
        let mut watch = Watch::new(gateway().ip(), LOCATION);
        let _ = watch.handle(gateway(), &with_age(age), t0);
        assert_eq!(watch.advertised_until(), Some(t0 + held), "{age}");
    }
}

#[test]
fn a_uuid_known_from_the_description_lets_a_move_count_before_any_alive() {
    let t0 = Instant::now();
    let moved = "http://192.168.77.1:5001/rootDesc.xml";
    let alive_at = |uuid: &str| notify("ssdp:alive", Some(moved), uuid, Some(7));
    // Not known: another LOCATION of an unknown UUID is another device.
    let mut watch = Watch::new(gateway().ip(), LOCATION);
    assert!(matches!(
        watch.handle(gateway(), &alive_at("3d3cec3a"), t0),
        Err(Ignored::OtherDevice)
    ));
    // Known from the description (any case): a move.
    let mut watch = Watch::new(gateway().ip(), LOCATION).with_uuid("UUID:3D3CEC3A");
    assert_eq!(
        watch.handle(gateway(), &alive_at("3d3cec3a"), t0).ok(),
        Some(Heard::Moved {
            location: moved.to_owned()
        })
    );
    let mut watch = Watch::new(gateway().ip(), LOCATION).with_uuid("uuid:ffff");
    assert!(watch.handle(gateway(), &alive_at("3d3cec3a"), t0).is_err());
}

#[test]
fn a_boot_id_known_from_the_search_makes_the_first_alive_with_another_a_restart() {
    let t0 = Instant::now();
    let mut watch = Watch::new(gateway().ip(), LOCATION).with_boot_id(7);
    assert!(matches!(
        watch.handle(gateway(), &alive(7), t0),
        Err(Ignored::Unchanged)
    ));
    let mut watch = Watch::new(gateway().ip(), LOCATION).with_boot_id(7);
    assert_eq!(
        watch.handle(gateway(), &alive(8), t0).ok(),
        Some(Heard::Restarted { boot_id: Some(8) })
    );
}
