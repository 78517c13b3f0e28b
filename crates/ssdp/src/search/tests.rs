use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use super::*;
use crate::message::{IPV4_MULTICAST, Message, SearchResponse};

fn request(timeout_ms: u64, targets: usize) -> SearchRequest {
    let targets = (1..=targets)
        .map(|v| SearchTarget::device("InternetGatewayDevice", v as u32))
        .collect();
    SearchRequest::new(targets, IPV4_MULTICAST, Duration::from_millis(timeout_ms))
}

fn from() -> SocketAddr {
    (Ipv4Addr::new(192, 168, 1, 1), 40000).into()
}

fn response(location: &str) -> Vec<u8> {
    let mut r = SearchResponse::new(location, SearchTarget::device("InternetGatewayDevice", 1));
    r.usn = Some("uuid:1::urn:schemas-upnp-org:device:InternetGatewayDevice:1".into());
    r.encode().unwrap()
}

/// Drain every datagram due at `now`.
fn due(search: &mut Search, now: Instant) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| search.poll_transmit(now).map(<[u8]>::to_vec)).collect()
}

#[test]
fn sends_each_target_in_rounds_over_the_first_half() {
    let t0 = Instant::now();
    let mut s = Search::new(&request(2000, 2), t0).unwrap();
    let first = due(&mut s, t0);
    assert_eq!(first.len(), 2, "one round: one datagram per target");
    assert!(String::from_utf8_lossy(&first[0]).contains("InternetGatewayDevice:1"));
    assert!(String::from_utf8_lossy(&first[1]).contains("InternetGatewayDevice:2"));
    assert!(due(&mut s, t0).is_empty(), "nothing more is due at once");
    let next = s.poll_timeout().unwrap();
    assert_eq!(next - t0, Duration::from_millis(1000) / 3);
    assert_eq!(due(&mut s, next).len(), 2);
    let third = s.poll_timeout().unwrap();
    assert_eq!(due(&mut s, third).len(), 2);
    // Three sends done: only the deadline is left.
    assert_eq!(s.poll_timeout(), s.deadline());
    assert_eq!(s.deadline(), Some(t0 + Duration::from_millis(2000)));
    assert!(due(&mut s, t0 + Duration::from_millis(1999)).is_empty());
}

fn targets_of(datagrams: &[Vec<u8>]) -> Vec<String> {
    datagrams
        .iter()
        .map(|d| match Message::parse(d) {
            Ok(Message::MSearch(m)) => m.search_target.to_string(),
            other => panic!("not an M-SEARCH: {other:?}"),
        })
        .collect()
}

#[test]
fn the_leading_targets_go_first_and_the_rest_join_while_nothing_answers() {
    let t0 = Instant::now();
    let mut request = request(2000, 3);
    request.leading = 1;
    let mut s = Search::new(&request, t0).unwrap();
    let igd = |v: u32| SearchTarget::device("InternetGatewayDevice", v).to_string();
    assert_eq!(targets_of(&due(&mut s, t0)), [igd(1)]);
    // Nothing answered: the second round asks for everything.
    let second = s.poll_timeout().unwrap();
    assert_eq!(targets_of(&due(&mut s, second)), [igd(1), igd(2), igd(3)]);
    // An answer: the third round resends the leading target only.
    assert!(
        s.handle(from(), &response("http://192.168.1.1/d.xml"), second)
            .is_ok()
    );
    let third = s.poll_timeout().unwrap();
    assert_eq!(targets_of(&due(&mut s, third)), [igd(1)]);
    assert_eq!(s.poll_timeout(), s.deadline());
}

#[test]
fn an_answer_to_the_first_round_keeps_every_resend_to_the_leading_targets() {
    let t0 = Instant::now();
    let mut request = request(2000, 4);
    request.leading = 2;
    let mut s = Search::new(&request, t0).unwrap();
    assert_eq!(due(&mut s, t0).len(), 2);
    assert!(
        s.handle(from(), &response("http://192.168.1.1/d.xml"), t0)
            .is_ok()
    );
    let mut sent = 2;
    while let Some(next) = s.poll_timeout().filter(|&t| Some(t) != s.deadline()) {
        sent += due(&mut s, next).len();
    }
    assert_eq!(
        sent,
        2 * 3,
        "three rounds of the two leading targets, no more"
    );
}

#[test]
fn leading_zero_or_beyond_the_targets_sends_every_target_in_every_round() {
    for leading in [0, 3, 100] {
        let t0 = Instant::now();
        let mut request = request(2000, 3);
        request.leading = leading;
        let mut s = Search::new(&request, t0).unwrap();
        assert_eq!(due(&mut s, t0).len(), 3, "leading {leading}");
        assert!(s.handle(from(), &response("http://a/"), t0).is_ok());
        let next = s.poll_timeout().unwrap();
        assert_eq!(due(&mut s, next).len(), 3, "leading {leading}");
    }
}

#[test]
fn mx_follows_the_timeout_within_uda_bounds() {
    assert_eq!(default_mx(Duration::ZERO), 1);
    assert_eq!(default_mx(Duration::from_millis(2000)), 1);
    assert_eq!(default_mx(Duration::from_secs(6)), 3);
    assert_eq!(default_mx(Duration::MAX), 5);
}

#[test]
fn wait_runs_to_the_next_event() {
    let t0 = Instant::now();
    let mut s = Search::new(&request(2000, 1), t0).unwrap();
    // The first round is due now.
    assert_eq!(s.wait(t0), Duration::ZERO);
    due(&mut s, t0);
    let wait = s.wait(t0);
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_secs(2),
        "{wait:?}"
    );
    assert_eq!(Some(t0 + wait), s.poll_timeout());
    // Past the deadline: call in now.
    assert_eq!(s.wait(t0 + Duration::from_secs(3)), Duration::ZERO);
    // A search without a representable deadline still waits for its next send.
    let mut huge = Search::new(
        &SearchRequest::new(vec![SearchTarget::All], IPV4_MULTICAST, Duration::MAX),
        t0,
    )
    .unwrap();
    due(&mut huge, t0);
    assert_eq!(Some(t0 + huge.wait(t0)), huge.poll_timeout());
}

#[test]
fn zero_one_and_huge_timeouts_do_not_panic() {
    let t0 = Instant::now();
    let mut zero = Search::new(&request(0, 1), t0).unwrap();
    assert!(zero.is_finished(t0));
    assert!(due(&mut zero, t0).is_empty());
    assert!(matches!(
        zero.handle(from(), &response("http://a/"), t0),
        Err(Ignored::Late)
    ));

    let mut one = Search::new(&request(1, 1), t0).unwrap();
    assert_eq!(due(&mut one, t0).len(), 1);
    assert!(one.is_finished(t0 + Duration::from_millis(1)));

    let mut huge = Search::new(
        &SearchRequest::new(vec![SearchTarget::All], IPV4_MULTICAST, Duration::MAX),
        t0,
    )
    .unwrap();
    assert_eq!(huge.deadline(), None);
    assert!(!huge.is_finished(t0 + Duration::from_secs(1 << 40)));
    assert_eq!(due(&mut huge, t0).len(), 1);
    // The resend interval saturates too.
    assert!(huge.poll_timeout().is_some());
    assert!(huge.handle(from(), &response("http://a/"), t0).is_ok());
}

#[test]
fn duplicates_junk_and_non_responses_are_ignored() {
    let t0 = Instant::now();
    let mut s = Search::new(&request(2000, 1), t0).unwrap();
    let ok = s
        .handle(from(), &response("http://192.168.1.1/d.xml"), t0)
        .unwrap();
    assert_eq!(ok.from, from());
    assert_eq!(ok.received, t0);
    assert!(matches!(
        s.handle(from(), &response("http://192.168.1.1/d.xml"), t0),
        Err(Ignored::Duplicate)
    ));
    // Same LOCATION, another ST: a distinct response.
    let mut other = SearchResponse::parse(&response("http://192.168.1.1/d.xml")).unwrap();
    other.search_target = SearchTarget::RootDevice;
    assert!(s.handle(from(), &other.encode().unwrap(), t0).is_ok());
    // Our own M-SEARCH looped back, and a NOTIFY.
    let own = due(&mut s, t0).pop().unwrap();
    assert!(matches!(
        s.handle(from(), &own, t0),
        Err(Ignored::NotAResponse)
    ));
    assert!(matches!(
        s.handle(from(), b"\xff\x00junk", t0),
        Err(Ignored::Malformed(crate::Error::NotUtf8))
    ));
    let big = vec![b'a'; MAX_MESSAGE_SIZE + 1];
    assert!(matches!(s.handle(from(), &big, t0), Err(Ignored::TooLarge)));
    let late = t0 + Duration::from_millis(2000);
    assert!(matches!(
        s.handle(from(), &response("http://x/"), late),
        Err(Ignored::Late)
    ));
}

#[test]
fn distinct_responses_are_capped() {
    let t0 = Instant::now();
    let mut s = Search::new(&request(2000, 1), t0).unwrap();
    for i in 0..MAX_RESPONSES {
        // Many hosts, each within its own cap.
        let host = SocketAddr::from(([10, 0, (i / 256) as u8, (i % 256) as u8], 1900));
        assert!(
            s.handle(host, &response(&format!("http://a/{i}")), t0)
                .is_ok()
        );
    }
    let another = SocketAddr::from(([10, 9, 9, 9], 1900));
    assert!(matches!(
        s.handle(another, &response("http://a/one-more"), t0),
        Err(Ignored::TooMany)
    ));
}

#[test]
fn one_flooding_host_cannot_crowd_out_another() {
    let t0 = Instant::now();
    let mut s = Search::new(&request(2000, 1), t0).unwrap();
    let flooder = SocketAddr::from(([192, 168, 1, 66], 1900));
    let accepted = (0..600)
        .filter(|i| {
            s.handle(flooder, &response(&format!("http://192.168.1.66/{i}")), t0)
                .is_ok()
        })
        .count();
    assert_eq!(accepted, MAX_RESPONSES_PER_SOURCE);
    assert!(matches!(
        s.handle(flooder, &response("http://192.168.1.66/more"), t0),
        Err(Ignored::TooManyFromSource)
    ));
    // The router answers after the flood, from another address and port: it is heard.
    let router = SocketAddr::from(([192, 168, 1, 1], 40000));
    assert!(
        s.handle(
            router,
            &response("http://192.168.1.1:5000/rootDesc.xml"),
            t0
        )
        .is_ok()
    );
}

#[test]
fn no_datagram_moves_the_deadline() {
    let t0 = Instant::now();
    let mut s = Search::new(&request(500, 1), t0).unwrap();
    let deadline = s.deadline();
    for i in 0..1000u64 {
        let now = t0 + Duration::from_micros(i * 400);
        let _ = s.handle(from(), format!("junk {i}").as_bytes(), now);
        let _ = s.handle(from(), &response(&format!("http://a/{i}")), now);
        assert_eq!(s.deadline(), deadline);
    }
    assert!(s.is_finished(t0 + Duration::from_millis(500)));
}
