use std::net::IpAddr;
use std::time::{Duration, Instant};

use upnp_soap::{ErrorCode, SoapFault};

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn us() -> IpAddr {
    ip("192.168.77.10")
}

fn wan() -> IpAddr {
    ip("11.0.0.7")
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn gateway() -> Gateway {
    Gateway::new(Some(wan()), us()).name("http://192.168.77.1:5000/rootDesc.xml")
}

fn fault(code: ErrorCode) -> Error {
    Error::Soap(upnp_soap::Error::Fault(SoapFault::new(code, "")))
}

fn timeout() -> Error {
    Error::Soap(upnp_soap::Error::Timeout {
        after: secs(10),
        stage: upnp_soap::Stage::ReadingHead,
    })
}

fn granted(port: u16, lease: u64) -> Result<Grant, Error> {
    Ok(Grant {
        external_port: port,
        lease: secs(lease),
        confirmed: true,
    })
}

fn run(step: Step) -> Task {
    match step {
        Step::Run(task) => task,
        other => panic!("expected a task, got {other:?}"),
    }
}

fn map_task(step: Step) -> MapTask {
    match run(step) {
        Task::Map(map) => map,
        other => panic!("expected a map, got {other:?}"),
    }
}

fn events(keeper: &mut Keeper) -> Vec<Event> {
    std::iter::from_fn(|| keeper.next_event()).collect()
}

/// A keeper for UDP 7777 (lease 120 s, check 30 s) that has found its gateway and mapped
/// the port at `t0`.
fn mapped(keep: Keep, t0: Instant) -> Keeper {
    let mut keeper = Keeper::new(keep);
    assert_eq!(run(keeper.poll(t0)), Task::FindGateway);
    keeper.handle(Outcome::Gateway(Ok(gateway())), t0);
    let map = map_task(keeper.poll(t0));
    assert_eq!(
        (map.external_port, map.internal_port, map.internal_client),
        (7777, 7777, us())
    );
    keeper.handle(Outcome::Mapped(0, granted(7777, 120)), t0);
    keeper
}

/// A keeper that has found `gateway` at `t0`.
fn found(keep: Keep, gateway: Gateway, t0: Instant) -> Keeper {
    let mut keeper = Keeper::new(keep);
    assert_eq!(run(keeper.poll(t0)), Task::FindGateway);
    keeper.handle(Outcome::Gateway(Ok(gateway)), t0);
    keeper
}

fn keep() -> Keep {
    Keep::new().udp(7777).lease(secs(120)).check(secs(30))
}

#[test]
fn a_port_is_mapped_then_renewed_at_half_its_lease() {
    let t0 = Instant::now();
    let mut keeper = mapped(keep(), t0);
    let first = events(&mut keeper);
    assert!(
        matches!(&first[..], [Event::Mapped(held)] if held.external_port == 7777
        && held.external_ip == Some(wan()) && held.lease == secs(120))
    );
    // Nothing until the check (30 s) comes before the renewal (60 s).
    assert_eq!(keeper.poll(t0), Step::Wait(t0 + secs(30)));
    // The renewal is due at 60 s: the same port again, for us.
    let t60 = t0 + secs(60);
    let _ = keeper.poll(t60); // the check round first
    keeper.handle(Outcome::LocalAddress(Some(us())), t60);
    assert_eq!(run(keeper.poll(t60)), Task::ExternalIp);
    keeper.handle(Outcome::ExternalIp(Ok(wan())), t60);
    let renew = map_task(keeper.poll(t60));
    assert_eq!(renew.external_port, 7777);
    assert!(!renew.any_port);
    keeper.handle(Outcome::Mapped(0, granted(7777, 120)), t60);
    assert!(matches!(&events(&mut keeper)[..], [Event::Renewed(_)]));
}

#[test]
fn a_permanent_grant_is_still_checked_at_every_interval() {
    let t0 = Instant::now();
    let mut keeper = found(keep(), gateway(), t0);
    let _ = map_task(keeper.poll(t0));
    keeper.handle(Outcome::Mapped(0, granted(7777, 0)), t0);
    let t30 = t0 + secs(30);
    assert_eq!(keeper.poll(t0), Step::Wait(t30));
    assert_eq!(run(keeper.poll(t30)), Task::LocalAddress);
    keeper.handle(Outcome::LocalAddress(Some(us())), t30);
    assert_eq!(run(keeper.poll(t30)), Task::ExternalIp);
    keeper.handle(Outcome::ExternalIp(Ok(wan())), t30);
    let look = run(keeper.poll(t30));
    assert_eq!(
        look,
        Task::Look {
            slot: 0,
            protocol: Protocol::Udp,
            external_port: 7777
        }
    );
    let seen = Seen {
        internal_client: Some(us()),
        internal_port: 7777,
        lease: Duration::ZERO,
    };
    keeper.handle(Outcome::Looked(0, Ok(Some(seen))), t30);
    assert_eq!(keeper.poll(t30), Step::Wait(t30 + secs(30)));
}

/// Run a check round at `t`: our address `local`, the external address `external`; the
/// lookup is then due.
fn check_round(keeper: &mut Keeper, t: Instant, local: IpAddr, external: IpAddr) {
    assert_eq!(run(keeper.poll(t)), Task::LocalAddress);
    keeper.handle(Outcome::LocalAddress(Some(local)), t);
    assert_eq!(run(keeper.poll(t)), Task::ExternalIp);
    keeper.handle(Outcome::ExternalIp(Ok(external)), t);
}

/// A keeper of UDP 7777, mapped at `t0`, its events read, then through a check round at
/// `t0` + 30 s (our address `local`, the external one `external`); and that instant.
fn checked(local: IpAddr, external: IpAddr) -> (Keeper, Instant) {
    let t0 = Instant::now();
    let mut keeper = mapped(keep(), t0);
    events(&mut keeper);
    let t30 = t0 + secs(30);
    check_round(&mut keeper, t30, local, external);
    (keeper, t30)
}

#[test]
fn a_mapping_gone_after_a_reboot_is_added_again() {
    let (mut keeper, t30) = checked(us(), wan());
    assert!(matches!(run(keeper.poll(t30)), Task::Look { .. }));
    keeper.handle(
        Outcome::Looked(0, Err(fault(ErrorCode::NoSuchEntryInArray))),
        t30,
    );
    let again = map_task(keeper.poll(t30));
    assert_eq!(again.external_port, 7777);
    keeper.handle(Outcome::Mapped(0, granted(7777, 120)), t30);
    let seen = events(&mut keeper);
    assert!(
        matches!(&seen[..], [Event::Lost { reason: LostReason::Gone, external_port: 7777, .. }, Event::Remapped(h)] if h.external_port == 7777),
        "{seen:?}"
    );
}

#[test]
fn a_new_external_address_is_reported_once() {
    let (mut keeper, _) = checked(us(), ip("11.0.0.8"));
    let seen = events(&mut keeper);
    assert!(
        matches!(&seen[..], [Event::ExternalIpChanged { old: Some(old), new }] if *old == wan() && *new == ip("11.0.0.8")),
        "{seen:?}"
    );
    assert_eq!(keeper.status().external_ip, Some(ip("11.0.0.8")));
    let held = keeper.status().ports[0].held.clone().unwrap();
    assert_eq!(held.external_ip, Some(ip("11.0.0.8")));
}

#[test]
fn a_conflict_on_igd_v1_tries_the_next_ports_keeping_the_internal_one() {
    let t0 = Instant::now();
    let mut keeper = found(keep(), gateway(), t0);
    let taken = || Error::MappingTaken {
        internal_client: "192.168.77.20".into(),
        internal_port: 7777,
    };
    let first = map_task(keeper.poll(t0));
    keeper.handle(Outcome::Mapped(0, Err(taken())), t0);
    let second = map_task(keeper.poll(t0));
    assert_eq!((second.external_port, second.internal_port), (7778, 7777));
    assert!(!second.any_port && !first.any_port);
    keeper.handle(
        Outcome::Mapped(0, Err(fault(ErrorCode::ConflictInMappingEntry))),
        t0,
    );
    let third = map_task(keeper.poll(t0));
    assert_eq!(third.external_port, 7779);
    keeper.handle(Outcome::Mapped(0, granted(7779, 120)), t0);
    let seen = events(&mut keeper);
    assert!(
        matches!(&seen[..], [Event::Mapped(h)] if h.external_port == 7779 && h.port.external_port == 7777),
        "{seen:?}"
    );
    // Renewed on the port obtained, not the one first asked.
    assert_eq!(
        keeper.status().ports[0]
            .held
            .as_ref()
            .unwrap()
            .external_port,
        7779
    );
}

#[test]
fn a_conflict_on_igd_v2_lets_the_gateway_choose() {
    let t0 = Instant::now();
    let mut keeper = found(keep(), gateway().any_port(true), t0);
    let first = map_task(keeper.poll(t0));
    assert!(!first.any_port, "the exact port is asked first");
    keeper.handle(
        Outcome::Mapped(0, Err(fault(ErrorCode::ConflictInMappingEntry))),
        t0,
    );
    let any = map_task(keeper.poll(t0));
    assert!(any.any_port);
    assert_eq!(any.external_port, 7777);
    keeper.handle(Outcome::Mapped(0, granted(50123, 120)), t0);
    assert!(matches!(&events(&mut keeper)[..], [Event::Mapped(h)] if h.external_port == 50123));
}

#[test]
fn a_port_refused_with_606_on_igd_v2_lets_the_gateway_choose_too() {
    // A MAP-E line: only some external ports are allowed; the others are 606.
    let t0 = Instant::now();
    let mut keeper = found(keep(), gateway().any_port(true), t0);
    map_task(keeper.poll(t0));
    keeper.handle(
        Outcome::Mapped(0, Err(fault(ErrorCode::ActionNotAuthorized))),
        t0,
    );
    let any = map_task(keeper.poll(t0));
    assert!(any.any_port, "AddAnyPortMapping before other ports");
    keeper.handle(Outcome::Mapped(0, granted(40001, 120)), t0);
    assert!(matches!(&events(&mut keeper)[..], [Event::Mapped(h)] if h.external_port == 40001));
    // On IGDv1: the next ports.
    let mut keeper = found(keep(), gateway(), t0);
    map_task(keeper.poll(t0));
    keeper.handle(
        Outcome::Mapped(0, Err(fault(ErrorCode::ActionNotAuthorized))),
        t0,
    );
    let next = map_task(keeper.poll(t0));
    assert!(!next.any_port);
    assert_ne!(next.external_port, 7777);
}

#[test]
fn ports_tried_after_a_conflict_are_bounded_then_it_backs_off() {
    let t0 = Instant::now();
    let mut keeper = found(keep(), gateway(), t0);
    let mut tried = Vec::new();
    for _ in 0..=8 {
        let map = map_task(keeper.poll(t0));
        tried.push(map.external_port);
        keeper.handle(
            Outcome::Mapped(0, Err(fault(ErrorCode::ConflictInMappingEntry))),
            t0,
        );
    }
    assert_eq!(tried, (7777..=7785).collect::<Vec<u16>>());
    let seen = events(&mut keeper);
    assert!(
        matches!(&seen[..], [Event::Failed { port: Some(_), retry_in, .. }] if *retry_in == secs(1)),
        "{seen:?}"
    );
    assert_eq!(keeper.poll(t0), Step::Wait(t0 + secs(1)));
    // Then from the port asked for again.
    assert_eq!(map_task(keeper.poll(t0 + secs(1))).external_port, 7777);
}

#[test]
fn with_the_exact_port_demanded_a_conflict_is_reported_and_retried() {
    let t0 = Instant::now();
    let mut keeper = found(keep().exact(true), gateway().any_port(true), t0);
    let mut t = t0;
    for wait in [1, 2, 4] {
        let map = map_task(keeper.poll(t));
        assert_eq!(map.external_port, 7777);
        assert!(!map.any_port);
        keeper.handle(
            Outcome::Mapped(0, Err(fault(ErrorCode::ConflictInMappingEntry))),
            t,
        );
        assert!(
            matches!(&events(&mut keeper)[..], [Event::Failed { retry_in, .. }] if *retry_in == secs(wait))
        );
        assert_eq!(keeper.poll(t), Step::Wait(t + secs(wait)));
        t += secs(wait);
    }
}

#[test]
fn an_unreachable_gateway_is_found_again_with_backoff() {
    let (mut keeper, t30) = checked(us(), wan());
    let _look = run(keeper.poll(t30));
    keeper.handle(Outcome::Looked(0, Err(timeout())), t30);
    assert!(
        matches!(&events(&mut keeper)[..], [Event::Failed { retry_in, .. }] if *retry_in == secs(1))
    );
    assert_eq!(keeper.poll(t30), Step::Wait(t30 + secs(1)));
    let t31 = t30 + secs(1);
    assert_eq!(run(keeper.poll(t31)), Task::FindGateway);
    keeper.handle(Outcome::Gateway(Err(Error::NoDevices)), t31);
    assert!(
        matches!(&events(&mut keeper)[..], [Event::Failed { retry_in, .. }] if *retry_in == secs(2))
    );
    let t33 = t31 + secs(2);
    assert_eq!(run(keeper.poll(t33)), Task::FindGateway);
    // Found again on another URL: every mapping is looked at at once.
    keeper.handle(
        Outcome::Gateway(Ok(gateway().name("http://192.168.77.1:5001/x"))),
        t33,
    );
    assert!(matches!(run(keeper.poll(t33)), Task::Look { .. }));
    assert_eq!(
        keeper.status().ports[0]
            .held
            .as_ref()
            .unwrap()
            .external_port,
        7777
    );
}

#[test]
fn our_new_local_address_gets_the_mapping_and_the_old_one_is_removed() {
    let t0 = Instant::now();
    let mut keeper = mapped(keep(), t0);
    events(&mut keeper);
    let t30 = t0 + secs(30);
    let new = ip("192.168.77.11");
    check_round(&mut keeper, t30, new, wan());
    assert_eq!(
        run(keeper.poll(t30)),
        Task::Unmap {
            slot: 0,
            protocol: Protocol::Udp,
            external_port: 7777,
            internal_client: us(),
            internal_port: 7777
        }
    );
    keeper.handle(Outcome::Unmapped(0, Ok(())), t30);
    let map = map_task(keeper.poll(t30));
    assert_eq!((map.external_port, map.internal_client), (7777, new));
    keeper.handle(Outcome::Mapped(0, granted(7777, 120)), t30);
    let seen = events(&mut keeper);
    assert!(
        matches!(&seen[..], [Event::Lost { reason: LostReason::LocalAddressChanged { .. }, .. }, Event::Removed { .. }, Event::Remapped(h)] if h.internal_client == new),
        "{seen:?}"
    );
}

#[test]
fn stopping_removes_what_was_mapped_and_nothing_else() {
    let t0 = Instant::now();
    let mut keeper = found(keep().tcp(7000), gateway(), t0);
    let _ = map_task(keeper.poll(t0));
    keeper.handle(Outcome::Mapped(0, granted(7777, 120)), t0);
    // TCP 7000 is refused (not a conflict): never mapped.
    let _ = map_task(keeper.poll(t0));
    keeper.handle(
        Outcome::Mapped(1, Err(fault(ErrorCode::ActionNotAuthorized))),
        t0,
    );
    events(&mut keeper);
    keeper.stop(t0);
    assert_eq!(
        run(keeper.poll(t0)),
        Task::Unmap {
            slot: 0,
            protocol: Protocol::Udp,
            external_port: 7777,
            internal_client: us(),
            internal_port: 7777
        }
    );
    keeper.handle(Outcome::Unmapped(0, Ok(())), t0);
    assert_eq!(keeper.poll(t0), Step::Done);
    let seen = events(&mut keeper);
    assert!(
        matches!(
            &seen[..],
            [
                Event::Removed {
                    external_port: 7777,
                    ..
                },
                Event::Stopped { left: 0 }
            ]
        ),
        "{seen:?}"
    );
    assert!(keeper.status().ports.iter().all(|p| p.held.is_none()));
}

#[test]
fn an_add_that_timed_out_may_have_mapped_and_is_removed_at_stop() {
    let t0 = Instant::now();
    let mut keeper = found(keep(), gateway(), t0);
    let _ = map_task(keeper.poll(t0));
    keeper.handle(Outcome::Mapped(0, Err(timeout())), t0);
    keeper.stop(t0);
    assert!(matches!(
        run(keeper.poll(t0)),
        Task::Unmap {
            external_port: 7777,
            ..
        }
    ));
    // Another client has it now: not ours, not removed, nothing left behind of ours.
    keeper.handle(
        Outcome::Unmapped(
            0,
            Err(Error::MappingTaken {
                internal_client: "192.168.77.20".into(),
                internal_port: 7777,
            }),
        ),
        t0,
    );
    assert_eq!(keeper.poll(t0), Step::Done);
    assert!(matches!(
        events(&mut keeper).last(),
        Some(Event::Stopped { left: 0 })
    ));
}

#[test]
fn stopping_is_bounded_in_time() {
    let t0 = Instant::now();
    let mut keeper = found(keep().tcp(7000), gateway(), t0);
    for slot in 0..2 {
        let map = map_task(keeper.poll(t0));
        keeper.handle(Outcome::Mapped(slot, granted(map.external_port, 120)), t0);
    }
    keeper.stop(t0);
    assert_eq!(keeper.stop_deadline(), Some(t0 + secs(5)));
    let _ = run(keeper.poll(t0));
    let late = t0 + secs(6);
    keeper.handle(Outcome::Unmapped(0, Err(timeout())), late);
    assert_eq!(keeper.poll(late), Step::Done);
    assert!(matches!(
        events(&mut keeper).last(),
        Some(Event::Stopped { left: 2 })
    ));
}

#[test]
fn what_cannot_be_kept_is_refused_before_anything_is_sent() {
    assert!(matches!(
        Keep::new().validate(),
        Err(Error::InvalidParam(_))
    ));
    assert!(matches!(
        Keep::new().udp(0).validate(),
        Err(Error::InvalidPort(0))
    ));
    assert!(matches!(
        Keep::new().udp(7777).udp(7777).validate(),
        Err(Error::InvalidParam(_))
    ));
    assert!(Keep::new().udp(7777).tcp(7777).validate().is_ok());
    assert!(matches!(
        Keep::new().udp(1).check(Duration::ZERO).validate(),
        Err(Error::InvalidParam(_))
    ));
    assert!(matches!(
        Keep::new().udp(1).lease(secs(1 << 33)).validate(),
        Err(Error::InvalidDuration(_))
    ));
}

#[test]
fn events_read_as_one_line_each() {
    let held = Held {
        port: PortSpec {
            protocol: Protocol::Udp,
            internal_port: 7777,
            external_port: 7777,
        },
        external_port: 7778,
        external_ip: Some(wan()),
        internal_client: us(),
        lease: secs(3600),
        confirmed: true,
        method: crate::Method::Upnp,
        gateway_status: Some(crate::IgdStatus::Ok),
    };
    assert_eq!(
        Event::Remapped(held.clone()).to_string(),
        "remapped UDP 7777 as 11.0.0.7:7778 for 192.168.77.10:7777, lease 3600 s"
    );
    let disconnected = Held {
        gateway_status: Some(crate::IgdStatus::Disconnected),
        ..held
    };
    assert_eq!(
        Event::Mapped(disconnected).to_string(),
        "mapped UDP 7777 as 11.0.0.7:7778 for 192.168.77.10:7777, lease 3600 s \
         (the gateway's status is IGD_STATUS_DISCONNECTED: used all the same)"
    );
    let taken = Event::Lost {
        port: PortSpec {
            protocol: Protocol::Tcp,
            internal_port: 80,
            external_port: 8080,
        },
        external_port: 8080,
        reason: LostReason::Gone,
    };
    assert_eq!(
        taken.to_string(),
        "lost TCP 80 (external 8080): the gateway no longer has it"
    );
    let deaf = Event::NotHearing {
        error: Error::Discovery(upnp_ssdp::Error::Io {
            context: "bind",
            source: std::io::ErrorKind::AddrInUse.into(),
        }),
        check: secs(60),
    };
    let text = deaf.to_string();
    assert!(
        text.starts_with("not hearing the gateway's own news (")
            && text.ends_with("): checking it every 60 s"),
        "{text}"
    );
}

#[test]
fn ports_after_a_conflict_stay_in_range() {
    assert_eq!(nth_port(7777, 1), 7778);
    assert_eq!(nth_port(65535, 1), 1024);
    assert_eq!(nth_port(80, 1), 1025);
}

/// The lease granted after the read-back showed `shown` seconds left, the add having taken
/// `took` ms.
fn lease_reported(shown: u64, took: u64) -> Duration {
    let t0 = Instant::now();
    let mut keeper = found(keep(), gateway(), t0);
    let _ = map_task(keeper.poll(t0));
    let t1 = t0 + Duration::from_millis(took);
    keeper.handle(Outcome::Mapped(0, granted(7777, shown)), t1);
    match &events(&mut keeper)[..] {
        [Event::Mapped(held)] => held.lease,
        other => panic!("expected a mapping, got {other:?}"),
    }
}

#[test]
fn a_read_back_a_second_short_of_the_lease_asked_is_the_lease_asked() {
    // The router shows the lease left: 119 s a moment after granting 120 s.
    assert_eq!(lease_reported(119, 20), secs(120));
    assert_eq!(lease_reported(120, 20), secs(120));
    // An add that took 3 s may show 117 s left.
    assert_eq!(lease_reported(117, 3_000), secs(120));
}

#[test]
fn a_gateway_capping_the_lease_is_reported_as_it_shows() {
    assert_eq!(lease_reported(60, 20), secs(60));
    assert_eq!(lease_reported(117, 20), secs(117));
    assert_eq!(lease_reported(0, 20), secs(0));
}

fn our6() -> std::net::Ipv6Addr {
    "2001:db8:77::10".parse().unwrap()
}

/// A keeper of UDP 7777 and its pinhole (lease 600 s, check 30 s), mapped and opened at t0.
fn with_pinhole(t0: Instant) -> Keeper {
    let keep = keep().lease(secs(600)).pinholes(true);
    let mut keeper = found(keep, gateway().pinholes(Some(our6())), t0);
    let open = run(keeper.poll(t0));
    assert_eq!(
        open,
        Task::OpenPinhole {
            slot: 0,
            protocol: Protocol::Udp,
            internal_port: 7777,
            client: our6(),
            lease: secs(600),
        }
    );
    keeper.handle(Outcome::PinholeOpened(0, Ok(3)), t0);
    let _ = map_task(keeper.poll(t0));
    keeper.handle(Outcome::Mapped(0, granted(7777, 600)), t0);
    keeper
}

#[test]
fn a_pinhole_is_opened_beside_the_mapping_and_renewed_at_every_check() {
    let t0 = Instant::now();
    let mut keeper = with_pinhole(t0);
    let opened = events(&mut keeper);
    assert!(
        matches!(&opened[..], [Event::PinholeOpened(p), Event::Mapped(_)]
            if p.unique_id == 3 && p.client == our6() && p.lease == secs(600)),
        "{opened:?}"
    );
    assert_eq!(
        keeper.status().ports[0]
            .pinhole
            .as_ref()
            .map(|p| p.unique_id),
        Some(3)
    );
    // At the check (30 s), renewed silently: no event until half the lease.
    let t30 = t0 + secs(30);
    check_round(&mut keeper, t30, us(), wan());
    assert_eq!(
        run(keeper.poll(t30)),
        Task::RenewPinhole {
            slot: 0,
            unique_id: 3,
            lease: secs(600)
        }
    );
    keeper.handle(Outcome::PinholeRenewed(0, Ok(())), t30);
    assert!(events(&mut keeper).is_empty());
    let t300 = t0 + secs(300);
    check_round(&mut keeper, t300, us(), wan());
    assert!(matches!(
        run(keeper.poll(t300)),
        Task::RenewPinhole { unique_id: 3, .. }
    ));
    keeper.handle(Outcome::PinholeRenewed(0, Ok(())), t300);
    assert!(matches!(
        &events(&mut keeper)[..],
        [Event::PinholeRenewed(p)] if p.unique_id == 3
    ));
}

#[test]
fn a_pinhole_the_gateway_forgot_is_opened_again_and_stop_closes_it() {
    let t0 = Instant::now();
    let mut keeper = with_pinhole(t0);
    let _ = events(&mut keeper);
    let t30 = t0 + secs(30);
    check_round(&mut keeper, t30, us(), wan());
    assert!(matches!(run(keeper.poll(t30)), Task::RenewPinhole { .. }));
    // A restarted router: 704 (or miniupnpd's 402) to the renewal.
    let gone = SoapFault::new(ErrorCode::from(704), "NoSuchEntry");
    let refused = crate::pinhole::refused(Error::Soap(upnp_soap::Error::Fault(gone)));
    keeper.handle(Outcome::PinholeRenewed(0, Err(refused)), t30);
    assert!(matches!(
        &events(&mut keeper)[..],
        [Event::PinholeLost {
            unique_id: 3,
            reason: LostReason::Gone,
            ..
        }]
    ));
    assert!(matches!(run(keeper.poll(t30)), Task::OpenPinhole { .. }));
    keeper.handle(Outcome::PinholeOpened(0, Ok(5)), t30);
    assert!(matches!(
        &events(&mut keeper)[..],
        [Event::PinholeOpened(p)] if p.unique_id == 5
    ));
    keeper.stop(t30);
    assert!(matches!(run(keeper.poll(t30)), Task::Unmap { .. }));
    keeper.handle(Outcome::Unmapped(0, Ok(())), t30);
    assert_eq!(
        run(keeper.poll(t30)),
        Task::ClosePinhole {
            slot: 0,
            unique_id: 5
        }
    );
    keeper.handle(Outcome::PinholeClosed(0, Ok(())), t30);
    assert_eq!(keeper.poll(t30), Step::Done);
    let stopped = events(&mut keeper);
    assert!(
        matches!(
            &stopped[..],
            [
                Event::Removed { .. },
                Event::PinholeClosed { unique_id: 5, .. },
                Event::Stopped { left: 0 },
            ]
        ),
        "{stopped:?}"
    );
}

#[test]
fn a_refused_pinhole_is_retried_with_backoff_and_the_mapping_goes_on() {
    let t0 = Instant::now();
    let keep = keep().pinholes(true);
    let mut keeper = found(keep, gateway().pinholes(Some(our6())), t0);
    let _ = run(keeper.poll(t0));
    let full = SoapFault::new(ErrorCode::from(701), "PinholeSpaceExhausted");
    let refused = crate::pinhole::refused(Error::Soap(upnp_soap::Error::Fault(full)));
    keeper.handle(Outcome::PinholeOpened(0, Err(refused)), t0);
    assert!(matches!(
        &events(&mut keeper)[..],
        [Event::Failed { error: Error::FirewallRefused { .. }, retry_in, .. }] if *retry_in == secs(1)
    ));
    // The mapping is not held up by it.
    let _ = map_task(keeper.poll(t0));
    keeper.handle(Outcome::Mapped(0, granted(7777, 120)), t0);
    assert!(matches!(keeper.poll(t0), Step::Wait(at) if at == t0 + secs(1)));
    assert!(matches!(
        run(keeper.poll(t0 + secs(1))),
        Task::OpenPinhole { .. }
    ));
}

#[test]
fn a_gateway_without_pinholes_is_said_once_and_only_mappings_are_kept() {
    let t0 = Instant::now();
    let mut keeper = found(keep().pinholes(true), gateway(), t0);
    assert!(matches!(
        &events(&mut keeper)[..],
        [Event::Failed {
            error: Error::NoPinholeService,
            ..
        }]
    ));
    let _ = map_task(keeper.poll(t0));
}

#[test]
fn a_pinhole_opened_as_the_stop_begins_is_closed_too() {
    let t0 = Instant::now();
    let mut keeper = found(keep().pinholes(true), gateway().pinholes(Some(our6())), t0);
    assert!(matches!(run(keeper.poll(t0)), Task::OpenPinhole { .. }));
    keeper.stop(t0);
    keeper.handle(Outcome::PinholeOpened(0, Ok(9)), t0);
    assert_eq!(
        run(keeper.poll(t0)),
        Task::ClosePinhole {
            slot: 0,
            unique_id: 9
        }
    );
    keeper.handle(Outcome::PinholeClosed(0, Ok(())), t0);
    assert_eq!(keeper.poll(t0), Step::Done);
}

#[test]
fn a_gateway_heard_while_it_is_looked_for_is_looked_for_at_once() {
    let t0 = Instant::now();
    let mut keeper = found(keep(), gateway(), t0);
    map_task(keeper.poll(t0));
    // It stops answering: looked for again after a backoff.
    keeper.handle(Outcome::Mapped(0, Err(timeout())), t0);
    let Step::Wait(until) = keeper.poll(t0) else {
        panic!("a backoff")
    };
    assert!(until > t0);
    // It says it is back: looked for now.
    keeper.gateway_speaks(t0 + Duration::from_millis(10));
    assert!(matches!(
        run(keeper.poll(t0 + Duration::from_millis(10))),
        Task::FindGateway
    ));
}

#[test]
fn a_gateway_going_away_is_not_asked_until_it_speaks() {
    let t0 = Instant::now();
    let mut keeper = found(keep(), gateway(), t0);
    let map = map_task(keeper.poll(t0));
    keeper.handle(Outcome::Mapped(0, granted(map.external_port, 3600)), t0);
    events(&mut keeper);
    // A byebye: no check or renewal of it; looked for again after the backoff (a search:
    // an auto keeper may find another way).
    keeper.gateway_leaving(t0 + secs(1));
    let Step::Wait(until) = keeper.poll(t0 + secs(1)) else {
        panic!("nothing to do at once")
    };
    assert_eq!(until, t0 + secs(1) + keep().retry);
    assert!(
        events(&mut keeper).is_empty(),
        "still held, no failure told"
    );
    assert!(matches!(run(keeper.poll(until)), Task::FindGateway));
    // It speaks while being looked for: looked for at once.
    let mut keeper = found(keep(), gateway(), t0);
    let map = map_task(keeper.poll(t0));
    keeper.handle(Outcome::Mapped(0, granted(map.external_port, 3600)), t0);
    keeper.gateway_leaving(t0 + secs(1));
    keeper.gateway_speaks(t0 + Duration::from_millis(1100));
    assert!(matches!(
        run(keeper.poll(t0 + Duration::from_millis(1100))),
        Task::FindGateway
    ));
}
