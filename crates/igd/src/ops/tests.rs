use std::time::{Duration, Instant};

use super::*;
use crate::discover::DiscoverSettings;
use crate::error::IgdStatus;
use crate::testing::{LOCATION, Lan, WAN, us};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn probed(lan: &mut Lan, now: Instant) -> Device {
    let mut probe = ProbeRun::at(LOCATION, &Limits::default(), now);
    let device = lan
        .drive(&mut probe, now, &mut Vec::new())
        .unwrap()
        .unwrap();
    assert!(matches!(
        probe.poll(now),
        Output::Done(Err(Error::Misuse(_)))
    ));
    device
}

#[test]
fn a_probe_ends_with_our_address_towards_the_device() {
    let t0 = Instant::now();
    let mut lan = Lan::new(t0);
    let device = probed(&mut lan, t0);
    assert_eq!(device.igd_status, IgdStatus::Ok, "{device:?}");
    assert_eq!(device.igd_our_addr, us().ip().to_string());
    assert_eq!(device.external_address, Some(WAN.into()));
    // The description, its status, its address, then our route to it (and to its firewall).
    assert_eq!(lan.log[..4], ["fetch", "call", "call", "route"]);
}

#[test]
fn a_probe_that_gets_no_answer_in_time_is_a_device_that_failed() {
    let t0 = Instant::now();
    let limits = Limits::default();
    let mut probe = ProbeRun::at(LOCATION, &limits, t0);
    let Output::Start(_, Io::Fetch { deadline, .. }) = probe.poll(t0) else {
        panic!("a fetch first");
    };
    assert_eq!(deadline, t0 + limits.probe);
    // Nothing comes back: at its deadline the probe ends, with why.
    assert_eq!(probe.poll(t0).wait(), Some(deadline));
    let Output::Done(Ok(device)) = probe.poll(deadline) else {
        panic!("over at its deadline");
    };
    assert_eq!(device.igd_status, IgdStatus::HttpError);
}

#[test]
fn godots_calls_run_on_a_probed_device() {
    let t0 = Instant::now();
    let mut lan = Lan::new(t0);
    let device = probed(&mut lan, t0);
    let limits = Limits::default();
    let mut address = external_address(&device, &limits, t0).unwrap();
    let ip = lan.drive(&mut address, t0, &mut Vec::new()).unwrap();
    assert_eq!(ip.unwrap(), std::net::IpAddr::V4(WAN));
    let request = MappingRequest::new(7777);
    let mut add = add_port_mapping(&device, &request, &limits, t0).unwrap();
    let granted = lan.drive(&mut add, t0, &mut Vec::new()).unwrap().unwrap();
    assert_eq!(granted.mapping.external_port, 7777);
    assert!(lan.upnp.as_ref().unwrap().entries.contains_key(&7777));
    let mut delete = delete_port_mapping(&device, 7777, "UDP", &limits, t0).unwrap();
    lan.drive(&mut delete, t0, &mut Vec::new())
        .unwrap()
        .unwrap();
    assert!(lan.upnp.as_ref().unwrap().entries.is_empty());
    // Refused before anything is sent.
    assert!(matches!(
        add_port_mapping(&device, &MappingRequest::new(70000), &limits, t0),
        Err(Error::InvalidPort(70000))
    ));
}

#[test]
fn a_call_whose_answer_never_comes_ends_at_its_deadline() {
    let t0 = Instant::now();
    let mut lan = Lan::new(t0);
    let device = probed(&mut lan, t0);
    let limits = Limits::default();
    let mut address = external_address(&device, &limits, t0).unwrap();
    assert!(matches!(
        address.poll(t0),
        Output::Start(_, Io::Call { .. })
    ));
    let end = t0 + limits.call;
    assert_eq!(address.poll(t0).wait(), Some(end));
    // A completion with another token changes nothing.
    address.handle(
        Input::Completed(Token::new(999), Completed::Routed(None)),
        t0,
    );
    assert_eq!(address.poll(t0).wait(), Some(end));
    let Output::Done(Err(Error::Soap(e))) = address.poll(end) else {
        panic!("a timeout");
    };
    assert!(matches!(e, upnp_soap::Error::Timeout { .. }), "{e}");
}

#[test]
fn discovery_ends_at_the_first_public_gateway_without_waiting_out_the_search() {
    let t0 = Instant::now();
    let mut lan = Lan::new(t0);
    let options = DiscoverOptions::default();
    let settings = DiscoverSettings::default();
    let mut discovery = DiscoveryRun::new(
        Goal::FirstPublic,
        &settings,
        &options,
        &Limits::default(),
        t0,
    )
    .unwrap();
    let devices = lan
        .drive(&mut discovery, t0, &mut Vec::new())
        .unwrap()
        .unwrap();
    assert_eq!(devices.len(), 1);
    assert!(devices[0].is_valid_gateway());
    assert_eq!(lan.log[..2], ["gateway", "search"]);
}

#[test]
fn discovery_ends_at_the_default_gateways_router_even_behind_another_nat() {
    let t0 = Instant::now();
    let options = DiscoverOptions::default();
    let settings = DiscoverSettings::default();
    let limits = Limits::default();
    let run = |lan: &mut Lan| {
        let mut discovery =
            DiscoveryRun::new(Goal::FirstPublic, &settings, &options, &limits, t0).unwrap();
        lan.drive(&mut discovery, t0, &mut Vec::new())
    };
    // Our router, at the default gateway's address, with a private external address: the
    // one our traffic goes through. Taken at once, not after the search's 2 s.
    let mut lan = Lan::new(t0);
    lan.upnp.as_mut().unwrap().external = "192.168.1.10".to_owned();
    lan.search_lingers = true;
    let devices = run(&mut lan).expect("over at once").unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].is_behind_nat(), Some(true));
    // The same router when the default gateway is unknown: it waits for a public one.
    let mut lan = Lan::new(t0);
    lan.upnp.as_mut().unwrap().external = "192.168.1.10".to_owned();
    lan.no_default_gateway = true;
    lan.search_lingers = true;
    assert!(run(&mut lan).is_err(), "waits out the search");
}

#[test]
fn a_router_deaf_to_multicast_is_found_by_unicast_to_the_default_gateway() {
    let t0 = Instant::now();
    let mut lan = Lan::new(t0);
    lan.multicast = false;
    let options = DiscoverOptions::default();
    let run = |lan: &mut Lan, settings: &DiscoverSettings| {
        let mut discovery = DiscoveryRun::new(
            Goal::FirstPublic,
            settings,
            &options,
            &Limits::default(),
            t0,
        )
        .unwrap();
        lan.drive(&mut discovery, t0, &mut Vec::new()).unwrap()
    };
    let devices = run(&mut lan, &DiscoverSettings::default()).unwrap();
    assert!(devices[0].is_valid_gateway());
    // A router named by the user: searched by unicast alone, no default gateway asked.
    let settings = DiscoverSettings {
        discover_gateway: Some("192.168.77.1".parse().unwrap()),
        ..DiscoverSettings::default()
    };
    lan.log.clear();
    let devices = run(&mut lan, &settings).unwrap();
    assert!(devices[0].is_valid_gateway());
    assert_eq!(lan.log[0], "search");
    assert!(!lan.log.contains(&"gateway"));
}

#[test]
fn finding_a_way_prefers_upnp_at_once_and_falls_back_to_pcp() {
    let t0 = Instant::now();
    let options = DiscoverOptions::default();
    let settings = DiscoverSettings::default();
    let limits = Limits::default();
    let find = |now| {
        FindWay::new(
            pmp::Via::Auto,
            Target::Default,
            &settings,
            &options,
            &limits,
            now,
        )
        .unwrap()
    };
    // UPnP answers: chosen without waiting for PCP, which says nothing here.
    let mut lan = Lan::new(t0);
    lan.pmp.as_mut().unwrap().silent = true;
    let way = lan
        .drive(&mut find(t0), t0, &mut Vec::new())
        .unwrap()
        .unwrap();
    assert!(
        matches!(way.found, Ok(pmp::Found::Upnp(0))),
        "{:?}",
        way.found
    );
    // UPnP off: PCP.
    let mut lan = Lan::new(t0);
    lan.upnp = None;
    let way = lan
        .drive(&mut find(t0), t0, &mut Vec::new())
        .unwrap()
        .unwrap();
    match way.found {
        Ok(pmp::Found::Pmp(opened)) => assert_eq!(opened.session.method(), Method::Pcp),
        other => panic!("{other:?}"),
    }
    // Neither: UPnP's error (the first way tried).
    let mut lan = Lan::new(t0);
    lan.upnp = None;
    lan.pmp = None;
    let way = lan
        .drive(&mut find(t0), t0, &mut Vec::new())
        .unwrap()
        .unwrap();
    assert!(
        matches!(way.found, Err(Error::NoDevices)),
        "{:?}",
        way.found
    );
}

#[test]
fn finding_a_way_waits_for_pcp_no_longer_than_for_upnp() {
    // Nothing answers: no UPnP device, a PCP gateway that says nothing. Every way ends by
    // the discovery's deadline (the search's timeout + Limits::probe), not PCP's own 10 s.
    let t0 = Instant::now();
    let (options, settings, limits) = (
        DiscoverOptions::default(),
        DiscoverSettings::default(),
        Limits::default(),
    );
    let mut find = FindWay::new(
        pmp::Via::Auto,
        Target::Default,
        &settings,
        &options,
        &limits,
        t0,
    )
    .unwrap();
    let mut lan = Lan::new(t0);
    lan.upnp = None;
    lan.pmp.as_mut().unwrap().hangs = true;
    let mut now = t0;
    let way = loop {
        match lan.drive(&mut find, now, &mut Vec::new()) {
            Ok(way) => break way.unwrap(),
            Err(until) => now = until,
        }
    };
    assert!(way.found.is_err(), "{:?}", way.found);
    let bound = Duration::from_millis(2000) + limits.probe;
    assert!(now <= t0 + bound, "ended {:?} after the start", now - t0);
    assert!(
        now >= t0 + Duration::from_millis(2000),
        "PCP had the search's time at least: {:?} {:?}",
        now - t0,
        way.found
    );
}

#[test]
fn a_client_never_opened_is_not_waited_for_past_its_deadline() {
    let t0 = Instant::now();
    let limits = Limits::default();
    let mut probe = PmpProbeRun::new(Target::Default, Way::Pcp { fallback: true }, &limits);
    assert!(matches!(
        probe.poll(t0),
        Output::Start(_, Io::OpenPmp { .. })
    ));
    let until = probe.poll(t0).wait().unwrap();
    // Polling later does not move it.
    assert_eq!(probe.poll(t0 + secs(1)).wait(), Some(until));
    assert!(matches!(
        probe.poll(until),
        Output::Done(Err(Error::Misuse(_)))
    ));
}

#[test]
fn an_ipv6_search_also_goes_to_the_ipv6_default_gateway_with_its_scope() {
    let t0 = Instant::now();
    let mut lan = Lan::new(t0);
    lan.multicast = false;
    let settings = DiscoverSettings {
        discover_ipv6: true,
        ..DiscoverSettings::default()
    };
    let mut discovery = DiscoveryRun::new(
        Goal::FirstPublic,
        &settings,
        &DiscoverOptions::default(),
        &Limits::default(),
        t0,
    )
    .unwrap();
    let devices = lan
        .drive(&mut discovery, t0, &mut Vec::new())
        .unwrap()
        .unwrap();
    assert_eq!(lan.log[..2], ["gateway6", "search"]);
    assert_eq!(
        devices.len(),
        1,
        "found by unicast to [fe80::1%2]:1900 alone"
    );
}

fn reach(lan: &mut Lan, t0: Instant) -> Result<ReachReport, crate::Error> {
    let mut run = ReachRun::new(
        "192.168.77.10:7777".parse().unwrap(),
        "11.0.0.1:3478".parse().unwrap(),
        "11.0.0.7:7777".parse().unwrap(),
        [[1; 12], [2; 12]],
        t0,
        t0 + DEFAULT_REACH_TIME,
    );
    let mut now = t0;
    loop {
        match lan.drive(&mut run, now, &mut Vec::new()) {
            Ok(value) => return value,
            Err(wake) => now = wake.max(now + Duration::from_millis(1)),
        }
    }
}

fn stun_server(seen: &str, other: Option<&str>) -> crate::testing::StunServer {
    crate::testing::StunServer {
        seen: seen.parse().unwrap(),
        other: other.map(|o| o.parse().unwrap()),
        changes: true,
        garbage: false,
    }
}

#[test]
fn a_server_with_another_address_proves_inbound_reachability() {
    use crate::reach::Reachability;
    let t0 = Instant::now();
    let mut lan = Lan::new(t0);
    lan.stun = Some(stun_server("11.0.0.7:7777", Some("11.0.0.2:3479")));
    let report = reach(&mut lan, t0).unwrap();
    assert_eq!(
        report.reachability,
        Reachability::Reachable { inbound: true }
    );
    assert_eq!(lan.log, ["stun", "stun"]);
    // The answer from elsewhere does not come in: filtered in front of the mapping.
    lan.stun.as_mut().unwrap().changes = false;
    let report = reach(&mut lan, t0).unwrap();
    let seen = "11.0.0.7:7777".parse().unwrap();
    assert_eq!(report.reachability, Reachability::Filtered { seen });
    // One without another address: one request only.
    lan.log.clear();
    lan.stun = Some(stun_server("11.0.0.7:7777", None));
    reach(&mut lan, t0).unwrap();
    assert_eq!(lan.log, ["stun"]);
}

#[test]
fn a_second_nat_is_named_and_silence_is_unknown() {
    use crate::reach::Reachability;
    let t0 = Instant::now();
    let mut lan = Lan::new(t0);
    lan.stun = Some(stun_server("100.64.3.9:40001", None));
    let report = reach(&mut lan, t0).unwrap();
    let seen = "100.64.3.9:40001".parse().unwrap();
    assert_eq!(report.reachability, Reachability::AnotherNat { seen });
    lan.stun = None;
    assert_eq!(
        reach(&mut lan, t0).unwrap().reachability,
        Reachability::Unknown
    );
}

#[test]
fn garbage_from_the_server_makes_bounded_work() {
    let t0 = Instant::now();
    let mut lan = Lan::new(t0);
    let mut server = stun_server("11.0.0.7:7777", None);
    server.garbage = true;
    lan.stun = Some(server);
    let report = reach(&mut lan, t0).unwrap();
    assert_eq!(report.reachability, crate::reach::Reachability::Unknown);
    assert!(lan.log.len() <= 8, "{} transactions", lan.log.len());
}

/// Our gateway behind the router in front: its external address is private.
fn behind_a_box(t0: Instant, upstream: bool) -> (Lan, Device) {
    let mut lan = Lan::new(t0);
    lan.upnp.as_mut().unwrap().external = "192.168.1.10".to_owned();
    if upstream {
        let mut front = crate::testing::UpnpRouter::new();
        front.external = "11.0.0.7".to_owned();
        lan.upstream = Some(front);
    }
    let device = probed(&mut lan, t0);
    assert_eq!(device.is_behind_nat(), Some(true));
    lan.log.clear();
    (lan, device)
}

fn add_through(lan: &mut Lan, device: &Device, upstream: Upstream, t0: Instant) -> Through {
    let request = MappingRequest::new(7777);
    let mut add = AddThroughRun::new(device, &request, upstream, &Limits::default(), t0).unwrap();
    let through = lan.drive(&mut add, t0, &mut Vec::new()).unwrap().unwrap();
    assert!(matches!(add.poll(t0), Output::Done(Err(Error::Misuse(_)))));
    through
}

use crate::upstream::{Beyond, FrontGrant, Removed, Router, Through, Upstream};

/// Remove UDP 7777 from `device` and in front of it.
fn delete_through(lan: &mut Lan, device: &Device, t0: Instant) -> Removed {
    let limits = Limits::default();
    let mut delete =
        DeleteThroughRun::new(device, 7777, "UDP", Upstream::WhenPrivate, &limits, t0).unwrap();
    lan.drive(&mut delete, t0, &mut Vec::new())
        .unwrap()
        .unwrap()
}

#[test]
fn behind_a_private_address_the_same_port_is_mapped_in_front_to_our_gateway() {
    let t0 = Instant::now();
    let (mut lan, device) = behind_a_box(t0, true);
    let through = add_through(&mut lan, &device, Upstream::WhenPrivate, t0);
    assert_eq!(through.inner.mapping.external_port, 7777);
    assert_eq!(
        through.inner_external,
        Some("192.168.1.10".parse().unwrap())
    );
    let Beyond::Done {
        router: Router::Upnp(router),
        value: FrontGrant::Upnp(value),
    } = &through.upstream
    else {
        panic!("{through:?}")
    };
    assert_eq!(router.description_url, crate::testing::UPSTREAM_LOCATION);
    assert_eq!(router.igd_our_addr, "192.168.1.10");
    assert_eq!(value.mapping.external_port, 7777);
    // In front: 7777 to our gateway's external side, port 7777.
    let front = lan.upstream.as_ref().unwrap();
    assert_eq!(
        front.entries.get(&7777),
        Some(&("192.168.1.10".to_owned(), "7777".to_owned(), "0".to_owned()))
    );
    // Behind: 7777 to us.
    let ours = lan.upnp.as_ref().unwrap();
    assert_eq!(ours.entries.get(&7777).unwrap().0, us().ip().to_string());
    assert_eq!(
        through.reachable_at(),
        Some("11.0.0.7:7777".parse().unwrap())
    );
    // One search, by unicast only (the Lan's router would answer a multicast one).
    assert_eq!(lan.log.iter().filter(|k| **k == "search").count(), 1);
    assert!(!lan.log.contains(&"gateway"), "{:?}", lan.log);

    let removed = delete_through(&mut lan, &device, t0);
    assert!(
        matches!(removed.upstream, Beyond::Done { .. }),
        "{removed:?}"
    );
    assert!(lan.upstream.as_ref().unwrap().entries.is_empty());
    assert!(lan.upnp.as_ref().unwrap().entries.is_empty());
}

#[test]
fn nothing_in_front_leaves_the_inner_mapping_and_says_who_was_asked() {
    let t0 = Instant::now();
    let (mut lan, device) = behind_a_box(t0, false);
    let request = MappingRequest::new(7777);
    let limits = Limits::default();
    let mut add =
        AddThroughRun::new(&device, &request, Upstream::WhenPrivate, &limits, t0).unwrap();
    // The search waits for answers that never come: it ends by its own bound.
    let mut now = t0;
    let through = loop {
        match lan.drive(&mut add, now, &mut Vec::new()) {
            Ok(done) => break done.unwrap(),
            Err(until) => {
                assert!(until <= t0 + UPSTREAM_SEARCH + limits.probe + limits.call * 2);
                now = until;
            }
        }
    };
    let Beyond::NotFound { asked, why, .. } = &through.upstream else {
        panic!("{through:?}")
    };
    let expected: Vec<IpAddr> = vec![
        "192.168.1.1".parse().unwrap(),
        "192.168.1.254".parse().unwrap(),
    ];
    assert_eq!(asked, &expected);
    assert!(matches!(why, Error::NoDevices), "{why}");
    assert_eq!(lan.upnp.as_ref().unwrap().entries.len(), 1);
    assert_eq!(through.reachable_at(), None);
}

#[test]
fn a_public_address_or_upstream_off_sends_nothing_in_front() {
    let t0 = Instant::now();
    let mut lan = Lan::new(t0);
    let device = probed(&mut lan, t0);
    lan.log.clear();
    let through = add_through(&mut lan, &device, Upstream::WhenPrivate, t0);
    assert!(matches!(through.upstream, Beyond::NotAsked));
    assert_eq!(
        through.reachable_at(),
        Some("11.0.0.7:7777".parse().unwrap())
    );
    assert!(!lan.log.contains(&"search"));

    let (mut lan, device) = behind_a_box(t0, true);
    let through = add_through(&mut lan, &device, Upstream::Off, t0);
    assert!(matches!(through.upstream, Beyond::NotAsked));
    assert_eq!(
        lan.log,
        ["call", "call", "call"],
        "look, add, read back: nothing else"
    );
    assert!(lan.upstream.as_ref().unwrap().entries.is_empty());
}

#[test]
fn a_refusal_in_front_is_data_and_the_inner_mapping_stays() {
    let t0 = Instant::now();
    let (mut lan, device) = behind_a_box(t0, true);
    // Another client holds 7777 in front.
    let taken = ("192.168.1.99".to_owned(), "7777".to_owned(), "0".to_owned());
    lan.upstream
        .as_mut()
        .unwrap()
        .entries
        .insert(7777, taken.clone());
    let through = add_through(&mut lan, &device, Upstream::WhenPrivate, t0);
    let Beyond::Failed { error, .. } = &through.upstream else {
        panic!("{through:?}")
    };
    assert!(matches!(error, Error::MappingTaken { .. }), "{error}");
    // Never clobbered; ours is made.
    assert_eq!(
        lan.upstream.as_ref().unwrap().entries.get(&7777),
        Some(&taken)
    );
    assert_eq!(lan.upnp.as_ref().unwrap().entries.len(), 1);
    // Deleting leaves the other client's mapping in front alone.
    let removed = delete_through(&mut lan, &device, t0);
    assert!(
        matches!(removed.upstream, Beyond::Failed { .. }),
        "{removed:?}"
    );
    assert_eq!(
        lan.upstream.as_ref().unwrap().entries.get(&7777),
        Some(&taken)
    );
    assert!(lan.upnp.as_ref().unwrap().entries.is_empty());
}

#[test]
fn with_upnp_off_in_front_the_same_port_is_mapped_there_through_pcp_and_removed() {
    let t0 = Instant::now();
    let (mut lan, device) = behind_a_box(t0, false);
    lan.upstream_pmp = Some(crate::testing::PmpRouter::new(t0));
    let through = add_through(&mut lan, &device, Upstream::WhenPrivate, t0);
    let Beyond::Done {
        router: Router::Pmp { gateway, method },
        value: FrontGrant::Pmp(granted),
    } = &through.upstream
    else {
        panic!("{through:?}")
    };
    assert_eq!(gateway.ip(), IpAddr::from(crate::testing::UPSTREAM));
    assert_eq!(*method, crate::pmp::Method::Pcp);
    assert_eq!(granted.internal_port, 7777);
    assert_eq!(granted.external_port, 7777);
    let front = lan.upstream_pmp.as_ref().unwrap();
    assert_eq!(front.external_of(7777), Some(7777));
    assert_eq!(through.reachable_at().map(|a| a.port()), Some(7777));

    let removed = delete_through(&mut lan, &device, t0);
    assert!(
        matches!(removed.upstream, Beyond::Done { .. }),
        "{removed:?}"
    );
    assert_eq!(lan.upstream_pmp.as_ref().unwrap().external_of(7777), None);
    assert!(lan.upnp.as_ref().unwrap().entries.is_empty());
}

#[test]
fn the_router_found_one_hop_beyond_is_asked_first_and_named_when_nothing_answers() {
    let t0 = Instant::now();
    let (mut lan, device) = behind_a_box(t0, false);
    lan.upnp.as_mut().unwrap().external = "10.9.0.20".to_owned();
    let device = Device {
        external_address: Some("10.9.0.20".parse().unwrap()),
        ..device
    };
    lan.hop = Some("10.9.0.77".parse().unwrap());
    let limits = Limits::default();
    let request = MappingRequest::new(7777);
    let mut add =
        AddThroughRun::new(&device, &request, Upstream::WhenPrivate, &limits, t0).unwrap();
    let mut now = t0;
    let through = loop {
        match lan.drive(&mut add, now, &mut Vec::new()) {
            Ok(done) => break done.unwrap(),
            Err(until) => now = until,
        }
    };
    let Beyond::NotFound { asked, hop, .. } = &through.upstream else {
        panic!("{through:?}")
    };
    let expected: Vec<IpAddr> = ["10.9.0.77", "10.9.0.1", "10.9.0.254"]
        .iter()
        .map(|ip| ip.parse().unwrap())
        .collect();
    assert_eq!(asked, &expected);
    assert_eq!(*hop, Some("10.9.0.77".parse().unwrap()));
    // The probe before the search.
    let hop_at = lan.log.iter().position(|k| *k == "hop").unwrap();
    let search_at = lan.log.iter().position(|k| *k == "search").unwrap();
    assert!(hop_at < search_at, "{:?}", lan.log);
}
