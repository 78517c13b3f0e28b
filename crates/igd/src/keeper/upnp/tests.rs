use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::*;
use crate::error::IgdStatus;
use crate::keeper::{Event, Keep, Update};

use crate::testing::{UpnpRouter as Router, WANIP2};

fn gateway() -> Device {
    Device {
        igd_status: IgdStatus::Ok,
        igd_control_url: "http://192.168.77.1:5000/ctl/IPConn".into(),
        igd_service_type: WANIP2.into(),
        igd_our_addr: "192.168.77.10".into(),
        external_address: Some("11.0.0.7".parse().unwrap()),
        ..Device::new("http://192.168.77.1:5000/rootDesc.xml", "")
    }
}

fn machine(keep: Keep) -> UpnpKeeper {
    UpnpKeeper::new(
        keep,
        Find::Url("http://192.168.77.1:5000/rootDesc.xml".into()),
        &Limits::default(),
    )
}

/// Drive `machine` against `router` at `now` until it waits or is done: what it waits for.
/// A search or probe finds [`gateway`]; the route to it is from 192.168.77.10.
fn drive(machine: &mut UpnpKeeper, router: &mut Router, now: Instant) -> UpnpStep {
    for _ in 0..100 {
        match machine.step(now) {
            UpnpStep::Call { request, .. } => {
                let answer = router.answer(&request);
                machine.answered(answer, now);
            }
            UpnpStep::Probe(_) | UpnpStep::Search(_) | UpnpStep::FindWay => {
                router.calls.push("find".to_owned());
                machine.found(Ok(gateway()), now);
            }
            UpnpStep::Route(_) => machine.routed(Some("192.168.77.10".parse().unwrap()), now),
            step @ (UpnpStep::Wait(_) | UpnpStep::Done) => return step,
        }
    }
    panic!("the machine never waits");
}

fn keep() -> Keep {
    Keep::new()
        .udp(7777)
        .lease(Duration::from_secs(120))
        .check(Duration::from_secs(30))
}

#[test]
fn a_port_is_looked_up_added_and_read_back_then_removed_at_stop() {
    let t0 = Instant::now();
    let mut router = Router::new();
    let mut machine = machine(keep());
    assert!(matches!(
        drive(&mut machine, &mut router, t0),
        UpnpStep::Wait(_)
    ));
    let entry = (
        "192.168.77.10".to_owned(),
        "7777".to_owned(),
        "120".to_owned(),
    );
    assert_eq!(router.entries.get(&7777), Some(&entry));
    let calls: Vec<&str> = router.calls.iter().map(String::as_str).collect();
    assert_eq!(calls.first(), Some(&"find"));
    assert!(calls.contains(&"AddPortMapping"), "{calls:?}");
    let add = calls.iter().position(|c| *c == "AddPortMapping").unwrap();
    // Looked up before (never clobber) and read back after.
    assert_eq!(calls.get(add - 1), Some(&"GetSpecificPortMappingEntry"));
    assert_eq!(calls.get(add + 1), Some(&"GetSpecificPortMappingEntry"));
    let held = machine.status().ports[0].held.clone().expect("held");
    assert_eq!(held.external_port, 7777);
    machine.stop(t0);
    assert_eq!(drive(&mut machine, &mut router, t0), UpnpStep::Done);
    assert!(router.entries.is_empty());
}

#[test]
fn a_gateway_already_found_is_used_without_searching() {
    let t0 = Instant::now();
    let mut router = Router::new();
    let mut machine = machine(keep()).with_gateway(gateway());
    drive(&mut machine, &mut router, t0);
    assert!(
        !router.calls.iter().any(|c| c == "find"),
        "{:?}",
        router.calls
    );
    assert!(router.entries.contains_key(&7777));
    assert_eq!(
        machine.device().map(|d| d.igd_our_addr.as_str()),
        Some("192.168.77.10")
    );
}

#[test]
fn another_clients_mapping_of_the_port_is_never_replaced() {
    let t0 = Instant::now();
    let mut router = Router::new();
    let theirs = (
        "192.168.77.99".to_owned(),
        "7777".to_owned(),
        "0".to_owned(),
    );
    router.entries.insert(7777, theirs.clone());
    let mut machine = machine(keep());
    drive(&mut machine, &mut router, t0);
    assert_eq!(router.entries.get(&7777), Some(&theirs));
    // IGDv2: the gateway is asked for any port instead, or the next one is tried.
    let held = machine.status().ports[0]
        .held
        .clone()
        .expect("mapped elsewhere");
    assert_ne!(held.external_port, 7777);
    machine.stop(t0);
    drive(&mut machine, &mut router, t0);
    assert_eq!(router.entries.get(&7777), Some(&theirs));
    assert_eq!(router.entries.len(), 1);
}

/// The state a handle reads is published before the events that announce it: a reader
/// woken by "external address changed" reads the new address.
#[test]
fn the_state_is_published_before_the_events_that_announce_it() {
    let t0 = Instant::now();
    let mut router = Router::new();
    let mut machine = machine(keep());
    drive(&mut machine, &mut router, t0);
    let mut status = machine.status();
    while let Some(update) = machine.keeper_mut().update() {
        if let Update::Status(now) = update {
            status = *now;
        }
    }
    router.external = "11.0.0.9".to_owned();
    let t1 = t0 + Duration::from_secs(31);
    drive(&mut machine, &mut router, t1);
    let mut seen = Vec::new();
    while let Some(update) = machine.keeper_mut().update() {
        match update {
            Update::Status(now) => status = *now,
            Update::Event(Event::ExternalIpChanged { new, .. }) => {
                seen.push((new, status.external_ip));
            }
            Update::Event(_) => {}
        }
    }
    let new: IpAddr = "11.0.0.9".parse().unwrap();
    assert_eq!(seen, vec![(new, Some(new))]);
}
