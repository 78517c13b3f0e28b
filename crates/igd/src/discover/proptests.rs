use std::net::SocketAddr;

use proptest::prelude::*;
use upnp_ssdp::SearchResponse;

use super::*;

/// What can happen to a discovery, at an offset in ms from its start.
#[derive(Clone, Debug)]
enum Event {
    /// An answer: host (last octet), LOCATION number, whether its ST passes the filter.
    Answer(u8, u16, bool),
    /// The probe started n-th (modulo those started) ends, valid and public or not.
    Probed(usize, bool),
    SearchEnded,
    Poll,
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        4 => (any::<u8>(), 0u16..64, any::<bool>()).prop_map(|(h, l, p)| Event::Answer(h % 8, l, p)),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(n, ok)| Event::Probed(n, ok)),
        1 => Just(Event::SearchEnded),
        3 => Just(Event::Poll),
    ]
}

fn goal() -> impl Strategy<Value = Goal> {
    prop_oneof![Just(Goal::Every), Just(Goal::FirstPublic)]
}

proptest! {
    /// Whatever the network does and when, a discovery never probes more at once than
    /// allowed, never holds more devices than allowed, and is over by its deadline.
    #[test]
    fn discovery_is_bounded(
        goal in goal(),
        events in prop::collection::vec((0u64..4000, event()), 0..200),
    ) {
        let t0 = Instant::now();
        let limits = Limits::default();
        let mut d = Discovery::new(goal, &DiscoverOptions::default(), &limits, t0).unwrap();
        let mut started: Vec<(usize, Device)> = Vec::new();
        let mut in_flight = 0usize;
        let mut events = events;
        events.sort_by_key(|(at, _)| *at);
        for (at, event) in events {
            let now = t0 + Duration::from_millis(at);
            match event {
                Event::Answer(host, location, passes) => {
                    let st = if passes {
                        "urn:schemas-upnp-org:device:InternetGatewayDevice:1"
                    } else {
                        "upnp:rootdevice"
                    };
                    let answer = upnp_ssdp::search::Response::new(
                        SocketAddr::from(([192, 168, 1, host], 1900)),
                        SearchResponse::new(
                            format!("http://192.168.1.{host}/{location}.xml"),
                            st.parse().unwrap(),
                        ),
                        now,
                    );
                    let _ = d.response(&answer, now);
                }
                Event::Probed(n, public) => {
                    if !started.is_empty() {
                        let (id, mut device) = started.remove(n % started.len());
                        if public {
                            device.igd_status = IgdStatus::Ok;
                            device.igd_control_url = "http://192.168.1.1/ctl".into();
                            device.igd_service_type = "urn:x".into();
                            device.external_address = "11.0.0.7".parse().ok();
                        }
                        d.probed(id, device);
                        in_flight = in_flight.saturating_sub(1);
                    }
                }
                Event::SearchEnded => d.search_ended(),
                Event::Poll => {}
            }
            loop {
                match d.poll(now) {
                    DiscoveryStep::Probe(task) => {
                        prop_assert!(task.deadline <= d.deadline());
                        started.push((task.id, task.probe.device().clone()));
                        in_flight += 1;
                        prop_assert!(in_flight <= limits.parallel_probes);
                    }
                    DiscoveryStep::Wait(until) => {
                        prop_assert!(until > now && until <= d.deadline());
                        break;
                    }
                    DiscoveryStep::Done(Ok(devices)) => {
                        prop_assert!(devices.len() <= limits.devices);
                        break;
                    }
                    DiscoveryStep::Done(Err(_)) => break,
                }
            }
        }
        // At the deadline, whatever is still out there, it is over.
        let over = d.poll(d.deadline());
        prop_assert!(matches!(over, DiscoveryStep::Done(_)), "{:?}", over);
    }
}
