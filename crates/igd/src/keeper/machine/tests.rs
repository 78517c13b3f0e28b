use std::time::{Duration, Instant};

use super::*;
use crate::keeper::{Event, LostReason};
use crate::pmp::Method;
use crate::testing::Lan;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn machine(via: Via) -> KeepMachine {
    let keep = Keep::new().udp(7777).check(secs(30)).via(via);
    let settings = DiscoverSettings::default();
    let limits = Limits::default();
    KeepMachine::new_upnp(
        keep,
        Find::default(),
        None,
        &settings,
        &limits,
        Nonce([7; 12]),
    )
    .unwrap()
}

fn events(updates: &mut Vec<Update>) -> Vec<Event> {
    updates
        .drain(..)
        .filter_map(|u| match u {
            Update::Event(e) => Some(e),
            Update::Status(_) => None,
        })
        .collect()
}

/// Drive `keeper` from `now` until `what` is among its events or `limit` has passed; the
/// time it came and every event so far.
fn until_event(
    lan: &mut Lan,
    keeper: &mut KeepMachine,
    mut now: Instant,
    limit: Duration,
    what: impl Fn(&Event) -> bool,
) -> (Instant, Vec<Event>) {
    let end = now + limit;
    let mut seen = Vec::new();
    let mut updates = Vec::new();
    while now <= end {
        let wake = lan.drive(keeper, now, &mut updates).unwrap_err();
        seen.extend(events(&mut updates));
        if seen.iter().any(&what) {
            return (now, seen);
        }
        now = wake.max(now + Duration::from_millis(1));
    }
    panic!("not within {limit:?}: {seen:#?}");
}

#[test]
fn an_auto_keeper_moves_to_pcp_when_upnp_stops_answering_and_says_so() {
    let t0 = Instant::now();
    let mut lan = Lan::new(t0);
    let mut keeper = machine(Via::Auto);
    let mapped = |e: &Event| matches!(e, Event::Mapped(_));
    let (_, first) = until_event(&mut lan, &mut keeper, t0, secs(1), mapped);
    match &first[..] {
        [Event::Mapped(held)] => {
            assert_eq!(held.method, Method::Upnp);
            assert_eq!(held.external_port, 7777);
        }
        other => panic!("{other:?}"),
    }
    assert!(lan.upnp.as_ref().unwrap().entries.contains_key(&7777));
    let status = keeper.status();
    assert_eq!(status.method, Some(Method::Upnp));
    assert_eq!(
        status.device.map(|d| d.description_url),
        Some(crate::testing::LOCATION.to_owned())
    );

    // UPnP switched off: the next check fails, and finding a way again finds PCP.
    lan.upnp = None;
    let check = t0 + secs(30);
    let via_pcp = |e: &Event| matches!(e, Event::Remapped(h) if h.method == Method::Pcp);
    let (at, seen) = until_event(&mut lan, &mut keeper, check, secs(10), via_pcp);
    assert!(at <= check + secs(5), "moved after {:?}", at - check);
    assert!(
        seen.iter().any(|e| matches!(
            e,
            Event::Lost {
                external_port: 7777,
                reason: LostReason::Gone,
                ..
            }
        )),
        "{seen:#?}"
    );
    let pcp = lan.pmp.as_ref().unwrap();
    assert_eq!(pcp.external_of(7777), Some(7777));
    let status = keeper.status();
    assert_eq!(status.method, Some(Method::Pcp));
    assert_eq!(status.device, None);

    // Stopped: what it made through PCP is removed.
    keeper.handle(Input::Stop, at);
    let mut updates = Vec::new();
    let done = lan.drive(&mut keeper, at, &mut updates);
    assert!(matches!(done, Ok(Ok(()))), "{done:?}");
    let last = events(&mut updates);
    assert!(
        matches!(last.last(), Some(Event::Stopped { left: 0 })),
        "{last:#?}"
    );
    assert_eq!(lan.pmp.as_ref().unwrap().external_of(7777), None);
    assert!(matches!(
        keeper.poll(at),
        Output::Done(Err(Error::Misuse(_)))
    ));
}

#[test]
fn an_auto_keeper_starts_through_pcp_and_moves_back_to_upnp() {
    let t0 = Instant::now();
    let mut lan = Lan::new(t0);
    let upnp = lan.upnp.take();
    let mut keeper = machine(Via::Auto);
    let via = |m: Method| move |e: &Event| matches!(e, Event::Mapped(h) | Event::Remapped(h) if h.method == m);
    let (at, _) = until_event(&mut lan, &mut keeper, t0, secs(5), via(Method::Pcp));
    // PCP stops answering, UPnP is back.
    lan.pmp = None;
    lan.upnp = upnp;
    let (_, seen) = until_event(
        &mut lan,
        &mut keeper,
        at + secs(30),
        secs(60),
        via(Method::Upnp),
    );
    assert!(
        seen.iter().any(|e| matches!(e, Event::Failed { .. })),
        "{seen:#?}"
    );
    assert!(lan.upnp.as_ref().unwrap().entries.contains_key(&7777));
}

#[test]
fn a_upnp_keeper_never_tries_another_way() {
    let t0 = Instant::now();
    let mut lan = Lan::new(t0);
    lan.upnp = None;
    let mut keeper = machine(Via::Upnp);
    let failed = |e: &Event| matches!(e, Event::Failed { .. });
    until_event(&mut lan, &mut keeper, t0, secs(5), failed);
    assert!(
        !lan.log.contains(&"open") && !lan.log.contains(&"exchange"),
        "{:?}",
        lan.log
    );
}

/// A NOTIFY ssdp:alive of the lab's router with this boot id.
fn alive(boot: u32) -> Input {
    let datagram = format!(
        "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=120\r\n\
         LOCATION: {}\r\nNT: upnp:rootdevice\r\nNTS: ssdp:alive\r\n\
         USN: uuid:3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b::upnp:rootdevice\r\nBOOTID.UPNP.ORG: {boot}\r\n\r\n",
        crate::testing::LOCATION
    );
    Input::Notified {
        from: std::net::SocketAddr::from(([192, 168, 77, 1], 1900)),
        datagram: datagram.into_bytes(),
    }
}

#[test]
fn a_restart_heard_is_healed_at_once_not_at_the_next_check() {
    let t0 = Instant::now();
    let mut lan = Lan::new(t0);
    let mut keeper = machine(Via::Upnp);
    let mapped = |e: &Event| matches!(e, Event::Mapped(_));
    until_event(&mut lan, &mut keeper, t0, secs(1), mapped);
    assert!(lan.log.contains(&"notifications"), "{:?}", lan.log);
    keeper.handle(alive(7), t0 + secs(1));
    // The router restarts: its mappings are gone, and it says so with a new boot id.
    lan.upnp.as_mut().unwrap().entries.clear();
    let heard = t0 + secs(5);
    keeper.handle(alive(8), heard);
    let back = |e: &Event| matches!(e, Event::Remapped(h) if h.external_port == 7777);
    let (at, seen) = until_event(&mut lan, &mut keeper, heard, secs(20), back);
    assert!(
        at < heard + secs(1),
        "healed {:?} after it was heard",
        at - heard
    );
    assert!(
        seen.iter().any(|e| matches!(
            e,
            Event::Lost {
                reason: LostReason::Restarted,
                ..
            }
        )),
        "{seen:#?}"
    );
    // A forged alive from another address, and a periodic one: nothing to do.
    let calls = lan.upnp.as_ref().unwrap().calls.len();
    let Input::Notified { datagram, .. } = alive(9) else {
        panic!()
    };
    let forged = Input::Notified {
        from: std::net::SocketAddr::from(([192, 168, 77, 66], 1900)),
        datagram,
    };
    keeper.handle(forged, at + secs(2));
    keeper.handle(alive(8), at + secs(3));
    let mut updates = Vec::new();
    let _ = lan.drive(&mut keeper, at + secs(3), &mut updates);
    assert_eq!(lan.upnp.as_ref().unwrap().calls.len(), calls, "no check");
}

/// The router's exchanges in the hour after the first mapping, with the defaults, a
/// gateway that advertises itself every `alive_every` (`None`: never).
fn calls_in_an_hour(alive_every: Option<Duration>) -> usize {
    let t0 = Instant::now();
    let mut lan = Lan::new(t0);
    let keep = Keep::new().udp(7777);
    let mut keeper = KeepMachine::new_upnp(
        keep,
        Find::default(),
        None,
        &DiscoverSettings::default(),
        &Limits::default(),
        Nonce([7; 12]),
    )
    .unwrap();
    let mapped = |e: &Event| matches!(e, Event::Mapped(_));
    let (start, _) = until_event(&mut lan, &mut keeper, t0, secs(1), mapped);
    let before = lan.upnp.as_ref().unwrap().calls.len();
    let end = start + secs(3600);
    let (mut now, mut next_alive) = (start, start);
    let mut updates = Vec::new();
    while now < end {
        if let Some(every) = alive_every.filter(|_| next_alive <= now) {
            keeper.handle(alive(7), now);
            next_alive = now + every;
        }
        let wake = lan.drive(&mut keeper, now, &mut updates).unwrap_err();
        let wake = match alive_every {
            Some(_) => wake.min(next_alive),
            None => wake,
        };
        now = wake.max(now + Duration::from_millis(1));
    }
    let failed = events(&mut updates)
        .into_iter()
        .filter(|e| !matches!(e, Event::Renewed(_)))
        .collect::<Vec<_>>();
    assert!(failed.is_empty(), "{failed:#?}");
    lan.upnp.as_ref().unwrap().calls.len() - before
}

#[test]
fn a_gateway_heard_advertising_itself_is_asked_a_quarter_as_often_at_most() {
    let polled = calls_in_an_hour(None);
    let heard = calls_in_an_hour(Some(secs(30)));
    eprintln!("exchanges in an hour, one port, defaults: {polled} polled, {heard} heard");
    assert!(heard * 4 <= polled, "{heard} heard, {polled} polled");
    // Still checked: the quiet interval, and the renewals at half the lease.
    assert!(heard >= 12, "{heard}");
}

#[test]
fn a_gateway_that_falls_silent_is_checked_at_the_check_interval_again() {
    let t0 = Instant::now();
    let mut lan = Lan::new(t0);
    let mut keeper = machine(Via::Upnp);
    let mapped = |e: &Event| matches!(e, Event::Mapped(_));
    until_event(&mut lan, &mut keeper, t0, secs(1), mapped);
    keeper.handle(alive(7), t0 + secs(1));
    // The check due (30 s after the mapping) is made; its alive holds for 120 s: the next
    // one waits for then, not 30 s more.
    let mut updates = Vec::new();
    let mut now = t0 + secs(1);
    while now < t0 + secs(31) {
        let wake = lan.drive(&mut keeper, now, &mut updates).unwrap_err();
        now = wake.max(now + Duration::from_millis(1));
    }
    assert!(now >= t0 + secs(120), "{:?}", now - t0);
    // Nothing more is heard: past the 120 s, checks are 30 s apart again.
    let calls = lan.upnp.as_ref().unwrap().calls.len();
    while now < t0 + secs(240) {
        let wake = lan.drive(&mut keeper, now, &mut updates).unwrap_err();
        now = wake.max(now + Duration::from_millis(1));
    }
    let looked = lan.upnp.as_ref().unwrap().calls[calls..]
        .iter()
        .filter(|c| c.as_str() == "GetSpecificPortMappingEntry")
        .count();
    assert!((3..=4).contains(&looked), "{looked} lookups in 120 s");
}

#[test]
fn a_keeper_that_cannot_hear_says_so_once_and_keeps_checking() {
    let t0 = Instant::now();
    let mut lan = Lan::new(t0);
    lan.deaf = true;
    let mut keeper = machine(Via::Upnp);
    let mapped = |e: &Event| matches!(e, Event::Mapped(_));
    let (at, seen) = until_event(&mut lan, &mut keeper, t0, secs(1), mapped);
    let deaf = |e: &Event| matches!(e, Event::NotHearing { check, .. } if *check == secs(30));
    assert_eq!(seen.iter().filter(|e| deaf(e)).count(), 1, "{seen:#?}");
    // The router restarts unheard: found at the next check, and nothing said again.
    lan.upnp.as_mut().unwrap().entries.clear();
    let back = |e: &Event| matches!(e, Event::Remapped(_));
    let (healed, seen) = until_event(&mut lan, &mut keeper, at, secs(40), back);
    assert!(healed <= at + secs(31), "{:?}", healed - at);
    assert!(!seen.iter().any(deaf), "{seen:#?}");
}

/// A keeper that mapped its port and heard its gateway's alive, the log cleared: at t0 + 1 s.
fn mapped_and_heard() -> (Instant, Lan, KeepMachine) {
    let t0 = Instant::now();
    let mut lan = Lan::new(t0);
    let mut keeper = machine(Via::Upnp);
    let mapped = |e: &Event| matches!(e, Event::Mapped(_));
    until_event(&mut lan, &mut keeper, t0, secs(1), mapped);
    keeper.handle(alive(7), t0 + secs(1));
    lan.log.clear();
    (t0, lan, keeper)
}

/// An ssdp:alive of the lab's router at `location`.
fn alive_at(location: &str, from: [u8; 4]) -> Input {
    let datagram = format!(
        "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=120\r\n\
         LOCATION: {location}\r\nNT: upnp:rootdevice\r\nNTS: ssdp:alive\r\n\
         USN: uuid:3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b::upnp:rootdevice\r\nBOOTID.UPNP.ORG: 7\r\n\r\n"
    );
    Input::Notified {
        from: std::net::SocketAddr::from((from, 1900)),
        datagram: datagram.into_bytes(),
    }
}

#[test]
fn a_gateway_that_says_it_moved_is_probed_there_first() {
    let (t0, mut lan, mut keeper) = mapped_and_heard();
    // The router now serves its description on another port of the same address.
    let moved = "http://192.168.77.1:5001/rootDesc.xml";
    keeper.handle(alive_at(moved, [192, 168, 77, 1]), t0 + secs(2));
    let mut updates = Vec::new();
    let _ = lan.drive(&mut keeper, t0 + secs(2), &mut updates);
    assert_eq!(lan.log.first(), Some(&"fetch"), "{:?}", lan.log);
    assert!(!lan.log.contains(&"search"), "{:?}", lan.log);
    let status = keeper.status();
    let device = status.device.expect("a UPnP gateway in use");
    assert_eq!(device.description_url, moved);
    assert!(status.ports[0].held.is_some(), "still held");
}

#[test]
fn a_move_to_another_host_is_never_probed() {
    let (t0, mut lan, mut keeper) = mapped_and_heard();
    // From the router's address, a LOCATION elsewhere: a check of the router, nothing else.
    let elsewhere = "http://192.168.77.66:5000/rootDesc.xml";
    keeper.handle(alive_at(elsewhere, [192, 168, 77, 1]), t0 + secs(2));
    let mut updates = Vec::new();
    let _ = lan.drive(&mut keeper, t0 + secs(2), &mut updates);
    assert!(!lan.log.contains(&"fetch"), "{:?}", lan.log);
    assert!(lan.log.contains(&"call"), "checked: {:?}", lan.log);
}

/// A keeper of UDP 7777 through a gateway whose external address is private, a router in
/// front of it (at `crate::testing::UPSTREAM`) when `front`.
fn behind_a_box(front: bool) -> (Instant, Lan, KeepMachine) {
    let t0 = Instant::now();
    let mut lan = Lan::new(t0);
    lan.upnp.as_mut().unwrap().external = "192.168.1.10".to_owned();
    if front {
        lan.upstream = Some(crate::testing::UpnpRouter::new());
    }
    (t0, lan, machine(Via::Upnp))
}

fn in_front(e: &Event) -> Option<&Event> {
    match e {
        Event::InFront(e) => Some(e),
        _ => None,
    }
}

#[test]
fn behind_a_private_address_the_router_in_front_is_held_too_and_removed_first() {
    let (t0, mut lan, mut keeper) = behind_a_box(true);
    let mapped_in_front = |e: &Event| matches!(in_front(e), Some(Event::Mapped(_)));
    let (t1, seen) = until_event(&mut lan, &mut keeper, t0, secs(5), mapped_in_front);
    // Ours first, then in front: our gateway's external port to its external address.
    assert!(matches!(seen.first(), Some(Event::Mapped(_))), "{seen:#?}");
    let Some(Event::Mapped(held)) = seen.iter().find_map(in_front) else {
        panic!("{seen:#?}")
    };
    assert_eq!(held.internal_client.to_string(), "192.168.1.10");
    assert_eq!(held.external_port, 7777);
    let front = lan.upstream.as_ref().unwrap();
    assert_eq!(front.entries.get(&7777).unwrap().0, "192.168.1.10");
    // The keeper's state tells both: ours, and in front (what peers are given).
    let status = keeper.status();
    let held = status.ports[0].held.as_ref().unwrap();
    assert_eq!(held.external_ip, Some("192.168.1.10".parse().unwrap()));
    let front_status = status.in_front.expect("the front's state");
    let outer = front_status.ports[0].held.as_ref().unwrap();
    assert_eq!(outer.external_ip, Some("11.0.0.7".parse().unwrap()));
    assert_eq!(outer.internal_client.to_string(), "192.168.1.10");

    // The router in front reboots: its mapping is found gone at the next check and made
    // again, pointing at our gateway still.
    lan.upstream.as_mut().unwrap().entries.clear();
    let remapped = |e: &Event| matches!(in_front(e), Some(Event::Remapped(_)));
    let (t2, seen) = until_event(&mut lan, &mut keeper, t1, secs(60), remapped);
    assert!(t2 - t1 <= secs(31), "within a check: {:?}", t2 - t1);
    assert!(
        seen.iter()
            .any(|e| matches!(in_front(e), Some(Event::Lost { .. })))
    );
    assert_eq!(
        lan.upstream.as_ref().unwrap().entries.get(&7777).unwrap().0,
        "192.168.1.10"
    );

    // Stop: in front removed first, then ours.
    keeper.handle(Input::Stop, t2);
    let mut updates = Vec::new();
    let mut now = t2;
    let done = loop {
        match lan.drive(&mut keeper, now, &mut updates) {
            Ok(done) => break done,
            Err(wake) => now = wake.max(now + Duration::from_millis(1)),
        }
        assert!(now < t2 + secs(20), "stopped in time");
    };
    assert!(done.is_ok());
    let seen = events(&mut updates);
    let removed_front = seen
        .iter()
        .position(|e| matches!(in_front(e), Some(Event::Removed { .. })))
        .expect("removed in front");
    let removed_ours = seen
        .iter()
        .position(|e| matches!(e, Event::Removed { .. }))
        .expect("removed here");
    assert!(removed_front < removed_ours, "{seen:#?}");
    assert!(lan.upstream.as_ref().unwrap().entries.is_empty());
    assert!(lan.upnp.as_ref().unwrap().entries.is_empty());
}

#[test]
fn nothing_in_front_is_said_once_and_looked_for_again_later() {
    let (t0, mut lan, mut keeper) = behind_a_box(false);
    let nothing = |e: &Event| matches!(e, Event::NothingInFront { .. });
    let (t1, seen) = until_event(&mut lan, &mut keeper, t0, secs(10), nothing);
    assert_eq!(seen.iter().filter(|e| nothing(e)).count(), 1);
    let Some(Event::NothingInFront { asked, .. }) = seen.iter().find(|e| nothing(e)) else {
        unreachable!()
    };
    assert_eq!(asked.len(), 2);
    // The box gets UPnP: it is found at the next look (quiet_check later), not before.
    lan.upstream = Some(crate::testing::UpnpRouter::new());
    let mapped_in_front = |e: &Event| matches!(in_front(e), Some(Event::Mapped(_)));
    let (t2, _) = until_event(&mut lan, &mut keeper, t1, secs(400), mapped_in_front);
    assert!(t2 - t1 >= secs(299), "{:?}", t2 - t1);
}

#[test]
fn a_public_address_asks_no_one_in_front() {
    let t0 = Instant::now();
    let mut lan = Lan::new(t0);
    lan.upstream = Some(crate::testing::UpnpRouter::new());
    let mut keeper = machine(Via::Upnp);
    let mapped = |e: &Event| matches!(e, Event::Mapped(_));
    until_event(&mut lan, &mut keeper, t0, secs(1), mapped);
    lan.log.clear();
    let mut updates = Vec::new();
    let mut now = t0;
    while now < t0 + secs(100) {
        let wake = lan.drive(&mut keeper, now, &mut updates).unwrap_err();
        now = wake.max(now + Duration::from_millis(1));
    }
    assert!(!lan.log.contains(&"search"), "{:?}", lan.log);
    assert!(lan.upstream.as_ref().unwrap().entries.is_empty());
}

#[test]
fn a_new_external_address_moves_the_mapping_in_front_to_it() {
    let (t0, mut lan, mut keeper) = behind_a_box(true);
    let mapped_in_front = |e: &Event| matches!(in_front(e), Some(Event::Mapped(_)));
    let (t1, _) = until_event(&mut lan, &mut keeper, t0, secs(5), mapped_in_front);
    // The box gives our gateway another address: what is held in front points at the old
    // one. It is removed there and made again for the new one.
    lan.upnp.as_mut().unwrap().external = "192.168.1.11".to_owned();
    let (_, seen) = until_event(
        &mut lan,
        &mut keeper,
        t1,
        secs(60),
        |e| matches!(in_front(e), Some(Event::Mapped(held)) if held.internal_client.to_string() == "192.168.1.11"),
    );
    assert!(
        seen.iter()
            .any(|e| matches!(in_front(e), Some(Event::Removed { .. }))),
        "{seen:#?}"
    );
    let front = lan.upstream.as_ref().unwrap();
    assert_eq!(front.entries.get(&7777).unwrap().0, "192.168.1.11");
    assert_eq!(front.entries.len(), 1);
}
