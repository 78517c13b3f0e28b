use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::message::IPV4_MULTICAST;

/// A request: 1 to 8 targets, any number leading, 0 to 5 rounds, up to 5 s.
fn search_request() -> impl Strategy<Value = SearchRequest> {
    (1usize..=8, 0usize..=10, 0u8..=5, 0u64..=5000).prop_map(|(targets, leading, sends, ms)| {
        let targets = (1..=targets)
            .map(|v| SearchTarget::device("InternetGatewayDevice", v as u32))
            .collect();
        let mut request = SearchRequest::new(targets, IPV4_MULTICAST, Duration::from_millis(ms));
        request.leading = leading;
        request.sends = sends;
        request
    })
}

/// What happens at each step: time passes, and perhaps a device answers.
fn events() -> impl Strategy<Value = Vec<(u16, bool)>> {
    proptest::collection::vec((0u16..=700, any::<bool>()), 0..40)
}

proptest! {
    /// However answers fall, a search never sends more than a round of every target per
    /// round, its first round is the leading targets, and nothing is sent after the deadline.
    #[test]
    fn sends_are_bounded_and_the_first_round_leads(request in search_request(), events in events()) {
        let t0 = Instant::now();
        let mut search = Search::new(&request, t0).unwrap();
        let targets = request.targets.len();
        let leading = match request.leading {
            0 => targets,
            n => n.min(targets),
        };
        let mut first = 0;
        while search.poll_transmit(t0).is_some() {
            first += 1;
        }
        if request.timeout.is_zero() {
            prop_assert_eq!(first, 0);
        } else {
            prop_assert_eq!(first, leading);
        }
        let mut sent = first;
        let mut now = t0;
        let from: SocketAddr = (Ipv4Addr::new(192, 168, 1, 1), 1900).into();
        for (n, (step, answer)) in events.into_iter().enumerate() {
            now += Duration::from_millis(u64::from(step));
            if answer {
                let mut response =
                    SearchResponse::new(format!("http://192.168.1.1/{n}.xml"), SearchTarget::RootDevice);
                response.usn = Some(format!("uuid:{n}"));
                let _ = search.handle(from, &response.encode().unwrap(), now);
            }
            while search.poll_transmit(now).is_some() {
                prop_assert!(!search.is_finished(now));
                sent += 1;
            }
        }
        prop_assert!(sent <= targets * usize::from(request.sends.max(1)), "{} sent", sent);
    }
}
