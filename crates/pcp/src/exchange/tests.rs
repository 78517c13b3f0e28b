use std::net::Ipv6Addr;

use super::*;
use crate::message::{Map, Nonce};
use crate::protocol::Protocol;

fn gateway() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::new(192, 168, 77, 1), 5351))
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn us() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 168, 77, 10))
}

fn map() -> Map {
    Map::new(Nonce([9; 12]), Protocol::Udp, 7777, 7777)
}

fn pcp_map(now: Instant, deadline: Instant) -> Exchange {
    let request = Request::Pcp(PcpRequest::map(us(), map(), 3600));
    Exchange::new(request, gateway(), now, deadline).unwrap()
}

fn answer(map: Map) -> Vec<u8> {
    PcpResponse {
        result: crate::message::PcpResult::Success,
        lifetime: 3600,
        epoch: 7,
        op: ResponseOp::Map(map),
        options: Vec::new(),
    }
    .encode()
    .unwrap()
}

/// The instants at which `exchange` sends, polled every 10 ms from `t0` until it gives up.
fn sends(exchange: &mut Exchange, t0: Instant, until: Duration) -> Vec<u64> {
    let mut at = Vec::new();
    let mut t = t0;
    while t <= t0 + until {
        match exchange.poll(t) {
            Poll::Send(_) => at.push(t.duration_since(t0).as_millis() as u64),
            Poll::Wait(w) => t = w.max(t + ms(1)),
            Poll::TimedOut => break,
        }
    }
    at
}

#[test]
fn nat_pmp_sends_at_250_ms_doubling_nine_times_then_gives_up() {
    let t0 = Instant::now();
    let request = Request::NatPmp(NatPmpRequest::ExternalAddress);
    let mut exchange =
        Exchange::new(request, gateway(), t0, t0 + Duration::from_secs(600)).unwrap();
    let at = sends(&mut exchange, t0, Duration::from_secs(600));
    assert_eq!(at, [0, 250, 750, 1750, 3750, 7750, 15750, 31750, 63750]);
    assert_eq!(exchange.sends(), 9);
    // After the ninth wait (64 s), no answer: timed out.
    assert_eq!(exchange.poll(t0 + ms(63750 + 64_000)), Poll::TimedOut);
}

#[test]
fn pcp_sends_at_3_s_doubling_until_the_deadline() {
    let t0 = Instant::now();
    let mut exchange = pcp_map(t0, t0 + Duration::from_secs(30));
    let at = sends(&mut exchange, t0, Duration::from_secs(60));
    assert_eq!(at, [0, 3000, 9000, 21000]);
    assert_eq!(exchange.poll(t0 + Duration::from_secs(30)), Poll::TimedOut);
}

#[test]
fn a_wait_never_passes_the_deadline() {
    let t0 = Instant::now();
    let mut exchange = pcp_map(t0, t0 + ms(500));
    assert!(matches!(exchange.poll(t0), Poll::Send(_)));
    assert_eq!(exchange.poll(t0), Poll::Wait(t0 + ms(500)));
    assert_eq!(exchange.poll(t0 + ms(500)), Poll::TimedOut);
}

#[test]
fn jitter_spreads_each_wait_within_ten_percent() {
    let t0 = Instant::now();
    let schedule = Schedule {
        initial: Duration::from_secs(1),
        max_interval: Duration::from_secs(1000),
        max_sends: Some(8),
    };
    let mut spread = Vec::new();
    for seed in 1..20u64 {
        let mut exchange = pcp_map(t0, t0 + Duration::from_secs(600))
            .schedule(schedule)
            .jitter(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let at = sends(&mut exchange, t0, Duration::from_secs(600));
        let first = *at.get(1).unwrap();
        assert!((900..=1110).contains(&first), "{first}");
        spread.push(first);
    }
    spread.sort_unstable();
    spread.dedup();
    assert!(spread.len() > 5, "{spread:?}");
}

#[test]
fn the_answer_must_come_from_the_gateway() {
    let t0 = Instant::now();
    let mut exchange = pcp_map(t0, t0 + ms(5000));
    let other = SocketAddr::from((Ipv4Addr::new(192, 168, 77, 66), 5351));
    assert!(matches!(
        exchange.receive(other, &answer(map())),
        Received::Ignored(Ignored::OtherSource(_))
    ));
    let other_port = SocketAddr::from((Ipv4Addr::new(192, 168, 77, 1), 5350));
    assert!(matches!(
        exchange.receive(other_port, &answer(map())),
        Received::Ignored(Ignored::OtherSource(_))
    ));
    // The gateway seen through a dual-stack socket is the gateway.
    let mapped = SocketAddr::from((Ipv4Addr::new(192, 168, 77, 1).to_ipv6_mapped(), 5351));
    assert!(matches!(
        exchange.receive(mapped, &answer(map())),
        Received::Answer(Response::Pcp(_))
    ));
    assert!(matches!(
        exchange.receive(gateway(), &answer(map())),
        Received::Ignored(Ignored::Finished)
    ));
    assert_eq!(exchange.poll(t0), Poll::TimedOut);
}

#[test]
fn another_nonce_or_mapping_or_opcode_is_not_the_answer() {
    let t0 = Instant::now();
    let mut exchange = pcp_map(t0, t0 + ms(5000));
    let mut forged = map();
    forged.nonce = Nonce([0; 12]);
    assert!(matches!(
        exchange.receive(gateway(), &answer(forged)),
        Received::Ignored(Ignored::WrongNonce)
    ));
    let mut tcp = map();
    tcp.protocol = Protocol::Tcp;
    assert!(matches!(
        exchange.receive(gateway(), &answer(tcp)),
        Received::Ignored(Ignored::OtherMapping)
    ));
    let announce = PcpResponse {
        result: crate::message::PcpResult::Success,
        lifetime: 0,
        epoch: 7,
        op: ResponseOp::Announce,
        options: Vec::new(),
    };
    assert!(matches!(
        exchange.receive(gateway(), &announce.encode().unwrap()),
        Received::Ignored(Ignored::OtherOpcode(0))
    ));
    let truncated = answer(map());
    assert!(matches!(
        exchange.receive(gateway(), truncated.get(..30).unwrap()),
        Received::Ignored(Ignored::Malformed(Error::Truncated { .. }))
    ));
    let external = [0, 128, 0, 0, 0, 0, 0, 1, 11, 0, 0, 7];
    assert!(matches!(
        exchange.receive(gateway(), &external),
        Received::Ignored(Ignored::OtherVersion)
    ));
    assert!(matches!(
        exchange.receive(gateway(), &answer(map())),
        Received::Answer(_)
    ));
}

#[test]
fn a_nat_pmp_only_gateway_answers_a_pcp_request_with_version_zero() {
    let t0 = Instant::now();
    let mut exchange = pcp_map(t0, t0 + ms(5000));
    match exchange.receive(gateway(), &[0, 129, 0, 1, 0, 0, 0, 3]) {
        Received::Answer(response) => assert!(response.is_unsupported_version()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn nat_pmp_answers_match_opcode_and_internal_port() {
    let t0 = Instant::now();
    let request = Request::NatPmp(NatPmpRequest::map(Protocol::Udp, 7777, 7777, 60));
    let mut exchange = Exchange::new(request, gateway(), t0, t0 + ms(5000)).unwrap();
    let reply = |protocol, internal_port| {
        NatPmpResponse::Map {
            protocol,
            result: NatPmpResult::Success,
            epoch: 1,
            internal_port,
            external_port: 7777,
            lifetime: 60,
        }
        .encode()
        .unwrap()
    };
    assert!(matches!(
        exchange.receive(gateway(), &reply(Protocol::Tcp, 7777)),
        Received::Ignored(Ignored::OtherOpcode(2))
    ));
    assert!(matches!(
        exchange.receive(gateway(), &reply(Protocol::Udp, 7778)),
        Received::Ignored(Ignored::OtherMapping)
    ));
    assert!(matches!(
        exchange.receive(gateway(), &reply(Protocol::Udp, 7777)),
        Received::Answer(Response::NatPmp(_))
    ));
}

#[test]
fn announcements_are_believed_from_the_gateway_only() {
    let from = SocketAddr::from((Ipv4Addr::new(192, 168, 77, 1), 5351));
    let natpmp = [0, 128, 0, 0, 0, 0, 0, 4, 11, 0, 0, 9];
    assert_eq!(
        Announcement::read(from, gateway().ip(), &natpmp).unwrap(),
        Announcement::NatPmp {
            epoch: 4,
            address: Ipv4Addr::new(11, 0, 0, 9)
        }
    );
    let stranger = SocketAddr::from((Ipv6Addr::LOCALHOST, 5351));
    assert!(matches!(
        Announcement::read(stranger, gateway().ip(), &natpmp),
        Err(Ignored::OtherSource(_))
    ));
    let announce = PcpResponse {
        result: crate::message::PcpResult::Success,
        lifetime: 0,
        epoch: 2,
        op: ResponseOp::Announce,
        options: Vec::new(),
    };
    let read = Announcement::read(from, gateway().ip(), &announce.encode().unwrap()).unwrap();
    assert_eq!(read, Announcement::Pcp { epoch: 2 });
    assert_eq!(read.epoch(), 2);
    assert!(matches!(
        Announcement::read(from, gateway().ip(), &answer(map())),
        Err(Ignored::OtherOpcode(1))
    ));
}

#[test]
fn a_gateway_that_answers_only_junk_is_told_apart_from_a_silent_one() {
    let t0 = Instant::now();
    // Silent: no answer in time.
    let mut silent = pcp_map(t0, t0 + ms(100));
    assert!(matches!(silent.timed_out(), Error::TimedOut(g) if g == gateway()));
    // An 8-byte reply (TP-Link Archer A7), then one about another mapping: both counted.
    let mut odd = pcp_map(t0, t0 + ms(100));
    assert!(matches!(
        odd.receive(gateway(), &[2, 0x81, 0, 0, 0, 0, 0, 0]),
        Received::Ignored(Ignored::Malformed(_))
    ));
    let other = Map::new(Nonce([1; 12]), Protocol::Udp, 7777, 7777);
    assert!(matches!(
        odd.receive(gateway(), &answer(other)),
        Received::Ignored(Ignored::WrongNonce)
    ));
    // Junk from another host is not the gateway's answering.
    let stranger = SocketAddr::from((Ipv4Addr::new(192, 168, 77, 99), 5351));
    odd.receive(stranger, &[0; 8]);
    match odd.timed_out() {
        Error::OddAnswers {
            gateway: g,
            count,
            last,
        } => {
            assert_eq!((g, count), (gateway(), 2));
            assert!(last.contains("nonce"), "{last}");
        }
        other => panic!("{other:?}"),
    }
}
