use std::net::IpAddr;
use std::time::{Duration, Instant};

use pcp_natpmp::{Announcement, Nonce, PcpResult};

use super::*;
use crate::keeper::{Event, Keep, LostReason};
use crate::testing::{PmpRouter as Router, WAN, gateway_addr, us};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Run the keeper's steps against `router` at `now` until it waits; the wait's end, or
/// `None` when done.
fn drive(keeper: &mut PmpKeeper, router: &mut Router, now: Instant) -> Option<Instant> {
    for _ in 0..1000 {
        match keeper.step(now) {
            PmpStep::Open(gateway) => {
                assert!(gateway == Target::Default || gateway == Target::At(gateway_addr()));
                keeper.opened(Ok((us(), gateway_addr())), now);
            }
            PmpStep::FindWay => keeper.opened(Ok((us(), gateway_addr())), now),
            PmpStep::Send { request, deadline } => {
                assert!(deadline > now);
                let answer = router.answer(&request, now);
                keeper.answered(answer, now);
            }
            PmpStep::Wait(until) => return Some(until),
            PmpStep::Done => return None,
        }
    }
    panic!("the keeper never waits");
}

fn events(keeper: &mut PmpKeeper) -> Vec<Event> {
    std::iter::from_fn(|| keeper.next_event()).collect()
}

fn keeper(keep: Keep) -> PmpKeeper {
    PmpKeeper::new(
        keep,
        Way::Pcp { fallback: true },
        Target::Default,
        &Limits::default(),
        Nonce([7; 12]),
    )
}

fn keep() -> Keep {
    Keep::new().udp(7777).lease(secs(3600)).check(secs(30))
}

#[test]
fn a_port_is_mapped_through_pcp_and_removed_at_stop_with_its_own_nonce() {
    let t0 = Instant::now();
    let mut router = Router::new(t0);
    let mut keeper = keeper(keep());
    drive(&mut keeper, &mut router, t0);
    let mapped = events(&mut keeper);
    assert!(
        matches!(&mapped[..], [Event::Mapped(held)] if held.external_port == 7777
            && held.external_ip == Some(IpAddr::V4(WAN)) && held.lease == secs(3600)
            && held.internal_client == us().ip()),
        "{mapped:?}"
    );
    assert_eq!(keeper.method(), Method::Pcp);
    assert_eq!(
        keeper.status().gateway.as_deref(),
        Some("pcp 192.168.77.1:5351")
    );
    // The address probe left nothing behind.
    assert_eq!(router.mappings.len(), 1);
    keeper.stop(t0);
    assert_eq!(drive(&mut keeper, &mut router, t0), None);
    assert!(
        router.mappings.is_empty(),
        "removed with the nonce that made it"
    );
    let nonces = &router.nonces;
    assert!(nonces.len() == 2 && nonces.first() == nonces.last());
    assert!(matches!(
        &events(&mut keeper)[..],
        [
            Event::Removed {
                external_port: 7777,
                ..
            },
            Event::Stopped { left: 0 }
        ]
    ));
}

#[test]
fn each_port_has_its_own_nonce() {
    let t0 = Instant::now();
    let mut router = Router::new(t0);
    let mut keeper = keeper(keep().tcp(7777).udp(7778));
    drive(&mut keeper, &mut router, t0);
    assert_eq!(router.mappings.len(), 3);
    let mut nonces = router.nonces.clone();
    nonces.sort_by_key(|n| n.0);
    nonces.dedup();
    assert_eq!(nonces.len(), 3);
}

#[test]
fn a_permanent_lease_is_asked_as_a_day_and_renewed_at_half_of_it() {
    let t0 = Instant::now();
    let mut router = Router::new(t0);
    let mut keeper = keeper(keep().lease(Duration::ZERO).check(secs(100_000)));
    let wake = drive(&mut keeper, &mut router, t0).unwrap();
    assert_eq!(router.asked, [LONGEST_LIFETIME]);
    assert_eq!(wake, t0 + secs(u64::from(LONGEST_LIFETIME) / 2));
    drive(&mut keeper, &mut router, wake);
    assert_eq!(router.asked, [LONGEST_LIFETIME, LONGEST_LIFETIME]);
    assert!(matches!(
        &events(&mut keeper)[..],
        [Event::Mapped(_), Event::Renewed(_)]
    ));
}

#[test]
fn a_restart_seen_in_the_epoch_of_a_look_is_healed_with_events() {
    let t0 = Instant::now();
    let mut router = Router::new(t0);
    let mut keeper = keeper(keep());
    drive(&mut keeper, &mut router, t0);
    let _ = events(&mut keeper);
    // The router restarts at 100 s; at the check (120 s), its epoch says 20.
    router.restart(t0 + secs(100));
    let t120 = t0 + secs(120);
    drive(&mut keeper, &mut router, t0 + secs(30));
    drive(&mut keeper, &mut router, t0 + secs(60));
    drive(&mut keeper, &mut router, t0 + secs(90));
    let _ = events(&mut keeper);
    drive(&mut keeper, &mut router, t120);
    let healed = events(&mut keeper);
    assert!(
        matches!(&healed[..], [
            Event::Lost { external_port: 7777, reason: LostReason::Restarted, .. },
            Event::Remapped(held),
        ] if held.external_port == 7777),
        "{healed:?}"
    );
    assert_eq!(router.external_of(7777), Some(7777));
}

#[test]
fn a_continuous_epoch_is_not_a_restart() {
    let t0 = Instant::now();
    let mut router = Router::new(t0);
    let mut keeper = keeper(keep());
    drive(&mut keeper, &mut router, t0);
    let _ = events(&mut keeper);
    for n in 1..=4 {
        drive(&mut keeper, &mut router, t0 + secs(30 * n));
    }
    let quiet = events(&mut keeper);
    assert!(quiet.is_empty(), "{quiet:?}");
}

#[test]
fn an_announcement_of_a_restart_remaps_at_once() {
    let t0 = Instant::now();
    let mut router = Router::new(t0);
    let mut keeper = keeper(keep());
    drive(&mut keeper, &mut router, t0);
    let _ = events(&mut keeper);
    let t10 = t0 + secs(10);
    router.restart(t10);
    keeper.announced(Announcement::Pcp { epoch: 0 }, t10);
    // Before the check (30 s) is due: the mapping is made again now.
    drive(&mut keeper, &mut router, t10);
    assert!(matches!(
        &events(&mut keeper)[..],
        [
            Event::Lost {
                reason: LostReason::Restarted,
                ..
            },
            Event::Remapped(_)
        ]
    ));
    assert_eq!(router.external_of(7777), Some(7777));
}

#[test]
fn an_announcement_without_a_restart_starts_a_check_round() {
    let t0 = Instant::now();
    let mut router = Router::new(t0);
    let mut keeper = keeper(keep());
    drive(&mut keeper, &mut router, t0);
    let t10 = t0 + secs(10);
    keeper.announced(Announcement::Pcp { epoch: 10 }, t10);
    assert_eq!(keeper.step(t10), PmpStep::Open(Target::At(gateway_addr())));
}

#[test]
fn a_port_held_by_another_host_is_mapped_elsewhere_unless_exact() {
    let t0 = Instant::now();
    let mut router = Router::new(t0);
    router.others.push(7777);
    let mut keeper = keeper(keep());
    drive(&mut keeper, &mut router, t0);
    assert!(matches!(
        &events(&mut keeper)[..],
        [Event::Mapped(held)] if held.external_port == 7778
    ));

    let mut router = Router::new(t0);
    router.others.push(7777);
    let mut keeper = self::keeper(keep().exact(true));
    drive(&mut keeper, &mut router, t0);
    let failed = events(&mut keeper);
    assert!(
        matches!(
            &failed[..],
            [Event::Failed {
                error: Error::PcpRefused {
                    result: PcpResult::CannotProvideExternal,
                    ..
                },
                ..
            }]
        ),
        "{failed:?}"
    );
    assert!(router.mappings.is_empty());
}

#[test]
fn a_gateway_that_speaks_only_natpmp_is_spoken_to_in_natpmp() {
    let t0 = Instant::now();
    let mut router = Router::new(t0);
    router.pcp = false;
    let mut keeper = keeper(keep());
    drive(&mut keeper, &mut router, t0);
    assert_eq!(keeper.method(), Method::NatPmp);
    assert!(matches!(
        &events(&mut keeper)[..],
        [Event::Mapped(held)] if held.external_port == 7777 && held.external_ip == Some(IpAddr::V4(WAN))
    ));
    keeper.stop(t0);
    drive(&mut keeper, &mut router, t0);
    assert!(router.mappings.is_empty());
}

#[test]
fn a_silent_gateway_is_opened_again_with_backoff() {
    let t0 = Instant::now();
    let mut router = Router::new(t0);
    let mut keeper = keeper(keep());
    drive(&mut keeper, &mut router, t0);
    let _ = events(&mut keeper);
    router.silent = true;
    let t30 = t0 + secs(30);
    let retry = drive(&mut keeper, &mut router, t30).unwrap();
    assert!(matches!(&events(&mut keeper)[..], [Event::Failed { .. }]));
    assert_eq!(retry, t30 + secs(1));
    // Back: found again, the mapping looked at (renewed) at once, nothing lost.
    router.silent = false;
    drive(&mut keeper, &mut router, retry);
    let quiet = events(&mut keeper);
    assert!(quiet.is_empty(), "{quiet:?}");
    assert_eq!(router.external_of(7777), Some(7777));
}

#[test]
fn no_default_gateway_is_a_failure_retried_later() {
    let t0 = Instant::now();
    let mut keeper = keeper(keep());
    assert_eq!(keeper.step(t0), PmpStep::Open(Target::Default));
    keeper.opened(
        Err(Error::Pmp(pcp_natpmp::Error::NoGateway("no route".into()))),
        t0,
    );
    assert!(matches!(&events(&mut keeper)[..], [Event::Failed { .. }]));
    assert_eq!(keeper.step(t0), PmpStep::Wait(t0 + secs(1)));
}

#[test]
fn a_flood_of_announcements_is_acted_on_once_a_second() {
    let t0 = Instant::now();
    let mut router = Router::new(t0);
    let mut keeper = keeper(keep());
    drive(&mut keeper, &mut router, t0);
    let _ = events(&mut keeper);
    let t10 = t0 + secs(10);
    for _ in 0..1000 {
        keeper.announced(Announcement::Pcp { epoch: 0 }, t10);
        drive(&mut keeper, &mut router, t10);
    }
    let lost = events(&mut keeper)
        .iter()
        .filter(|e| matches!(e, Event::Lost { .. }))
        .count();
    assert_eq!(lost, 1);
}
