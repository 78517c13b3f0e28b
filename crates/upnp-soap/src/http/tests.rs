use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use url::Url;

use super::*;
use crate::actions::{Action, GetExternalIpAddress};
use crate::error::{Error, Framing, Stage};

const AGENT: &str = "Linux/6.1 UPnP/1.1 igd-rs-test/1";

fn decode(raw: &[u8], limit: usize) -> Result<Response, Error> {
    let mut decoder = ResponseDecoder::new(limit);
    decoder.push(raw)?;
    decoder.finish()
}

/// `raw` decoded as it arrives in pieces of `size` bytes (a body limit of 64).
fn decode_in_pieces(raw: &[u8], size: usize) -> Result<Response, Error> {
    let mut decoder = ResponseDecoder::new(64);
    for piece in raw.chunks(size) {
        if decoder.push(piece)? {
            break;
        }
    }
    decoder.finish()
}

fn url(text: &str) -> Url {
    Url::parse(text).unwrap()
}

#[test]
fn a_get_is_exactly_what_we_decide() {
    let request = Request::get(&url("http://192.168.1.1:5000/rootDesc.xml"), AGENT).unwrap();
    assert_eq!(
        request.encode(),
        format!(
            "GET /rootDesc.xml HTTP/1.1\r\nHost: 192.168.1.1:5000\r\nUser-Agent: {AGENT}\r\n\
             Connection: close\r\n\r\n"
        )
        .as_bytes()
    );
    assert_eq!(request.method(), Method::Get);
    assert_eq!(request.port(), 5000);
}

#[test]
fn hosts_are_written_as_browsers_and_miniupnpc_write_them() {
    for (url_text, host) in [
        ("http://192.168.1.1/d.xml", "192.168.1.1"),
        ("http://192.168.1.1:80/d.xml", "192.168.1.1"),
        ("http://[fd77::1]:5000/d.xml", "[fd77::1]:5000"),
        ("http://router.lan:49152/d.xml?a=b#frag", "router.lan:49152"),
    ] {
        let bytes = Request::get(&url(url_text), AGENT).unwrap().encode();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(
            text.contains(&format!("\r\nHost: {host}\r\n")),
            "{url_text}: {text}"
        );
        assert!(!text.contains("frag"), "{text}");
    }
}

#[test]
fn an_action_post_spells_soapaction_as_the_device_architecture_does() {
    let service = "urn:schemas-upnp-org:service:WANIPConnection:1";
    let action = GetExternalIpAddress.request(service);
    let request = Request::action(&url("http://10.0.0.1:1780/ctl/IPConn"), AGENT, &action).unwrap();
    let body = action.encode().unwrap();
    assert_eq!(
        String::from_utf8(request.encode().to_vec()).unwrap(),
        format!(
            "POST /ctl/IPConn HTTP/1.1\r\nHost: 10.0.0.1:1780\r\nUser-Agent: {AGENT}\r\n\
             Content-Type: text/xml; charset=\"utf-8\"\r\n\
             SOAPAction: \"{service}#GetExternalIPAddress\"\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        )
    );
}

#[test]
fn requests_that_cannot_be_written_safely_are_refused() {
    assert!(matches!(
        Request::get(&url("https://10.0.0.1/"), AGENT),
        Err(Error::ForbiddenUrl {
            reason: "not http",
            ..
        })
    ));
    assert!(matches!(
        Request::get(&url("http://10.0.0.1/"), "agent\r\nX-Injected: 1"),
        Err(Error::InvalidName {
            what: "User-Agent",
            ..
        })
    ));
}

#[test]
fn responses_decode_by_each_framing() {
    let by_length = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\nhello";
    let response = decode(by_length, 64).unwrap();
    assert_eq!((response.status, &response.reason[..]), (200, "OK"));
    assert_eq!(response.body, &b"hello"[..]);
    assert_eq!(response.header("server"), Some(&b"x"[..]));
    assert_eq!(
        response.header("content-length"),
        None,
        "framing headers are consumed"
    );

    let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;ext=1\r\nhe\r\n3\r\nllo\r\n0\r\nX-Trailer: 1\r\n\r\n";
    assert_eq!(decode(chunked, 64).unwrap().body, &b"hello"[..]);

    let http10 = b"HTTP/1.0 200 OK\r\n\r\nhello";
    let response = decode(http10, 64).unwrap();
    assert_eq!((response.version, &response.body[..]), (0, &b"hello"[..]));

    // No reason phrase, bare LF line endings, a folded header: real routers' habits.
    let quirky = b"HTTP/1.1 200\nContent-Length: 2\nX-Long: a\n b\n\nok";
    let response = decode(quirky, 64).unwrap();
    assert_eq!((response.status, &response.body[..]), (200, &b"ok"[..]));

    // 204 and 304 have no body whatever they announce; neither has Content-Length: 0.
    for raw in [
        &b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"[..],
        &b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"[..],
    ] {
        let mut decoder = ResponseDecoder::new(64);
        assert!(
            decoder.push(raw).unwrap(),
            "complete without the connection's end"
        );
        assert!(decoder.finish().unwrap().body.is_empty());
    }
}

#[test]
fn a_complete_response_needs_no_close_and_ignores_what_follows() {
    let mut decoder = ResponseDecoder::new(64);
    assert!(
        !decoder
            .push(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel")
            .unwrap()
    );
    assert!(!decoder.is_complete());
    assert!(decoder.push(b"lo and more").unwrap());
    assert!(decoder.is_complete());
    assert!(decoder.push(b"garbage").unwrap());
    assert_eq!(decoder.finish().unwrap().body, &b"hello"[..]);
}

#[test]
fn equal_content_lengths_are_one() {
    let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\nContent-Length: 2\r\n\r\nok";
    assert_eq!(decode(raw, 64).unwrap().body, &b"ok"[..]);
    for bad in ["-1", "0x10", "", "1 2", "+5"] {
        let raw = format!("HTTP/1.1 200 OK\r\nContent-Length: {bad}\r\n\r\nok");
        assert!(
            matches!(
                decode(raw.as_bytes(), 64),
                Err(Error::Framing(Framing::InvalidContentLength))
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn a_truncated_response_says_how_far_it_got() {
    let stages = [
        (&b""[..], Stage::ReadingHead),
        (&b"HTTP/1.1 200 OK\r\nContent-"[..], Stage::ReadingHead),
        (
            &b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"[..],
            Stage::ReadingBody {
                received: 3,
                expected: Some(10),
            },
        ),
        (
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"[..],
            Stage::ReadingBody {
                received: 2,
                expected: None,
            },
        ),
    ];
    for (raw, stage) in stages {
        assert!(
            matches!(decode(raw, 64), Err(Error::Truncated { stage: s }) if s == stage),
            "{:?}",
            String::from_utf8_lossy(raw)
        );
    }
    // The last chunk seen, only the final CRLF missing: the body is whole.
    let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n";
    assert_eq!(decode(raw, 64).unwrap().body, &b"ok"[..]);
}

#[test]
fn a_trickled_head_is_not_parsed_again_for_each_byte_and_still_decodes() {
    let raw = Response::new(200, "OK", &b"<root/>"[..])
        .with_header("Server", b"miniupnpd")
        .encode();
    let mut decoder = ResponseDecoder::new(64);
    let mut complete = false;
    for byte in raw.iter() {
        complete = decoder.push(&[*byte]).unwrap();
    }
    assert!(complete);
    assert_eq!(decoder.finish().unwrap().body, &b"<root/>"[..]);
}

#[test]
fn a_large_push_is_taken_in_pieces_and_capped() {
    // 10 MB pushed at once: refused at the head limit, never buffered whole.
    let mut flood = b"HTTP/1.1 200 OK\r\n".to_vec();
    flood.extend(std::iter::repeat_n(b'a', 10_000_000));
    let mut decoder = ResponseDecoder::new(64);
    assert!(matches!(
        decoder.push(&flood),
        Err(Error::HeadTooLarge { limit: HEAD_LIMIT })
    ));
}

fn exchange(config: &Config, now: Instant) -> Exchange {
    let request = Request::get(&url("http://192.168.1.1:5000/d.xml"), AGENT).unwrap();
    Exchange::new(&request, 1024, config, now)
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

#[test]
fn a_connection_is_attempted_four_times_each_twice_as_long_within_the_deadline() {
    let config = Config::default();
    let start = Instant::now();
    let mut ex = exchange(&config, start);
    ex.resolved([addr("192.168.1.1:5000")]).unwrap();
    let gateway = addr("192.168.1.1:5000");
    let mut now = start;
    for wait in [250, 500, 1000] {
        let (to, within) = ex.poll_connect(now).unwrap();
        assert_eq!((to, within), (gateway, Duration::from_millis(wait)));
        ex.connect_failed(io::ErrorKind::TimedOut.into());
        assert_eq!(ex.stage(), Stage::Connecting { to: gateway });
        now += within;
    }
    // The last attempt waits the whole connect timeout...
    let (_, within) = ex.poll_connect(now).unwrap();
    assert_eq!(within, config.connect_timeout);
    ex.connect_failed(io::ErrorKind::ConnectionRefused.into());
    // ...and then no attempt is left: the last attempt's error.
    let error = ex.poll_connect(now).unwrap_err();
    assert!(
        matches!(&error, Error::Io { stage: Stage::Connecting { to }, source }
            if *to == gateway && source.kind() == io::ErrorKind::ConnectionRefused),
        "{error:?}"
    );
}

#[test]
fn an_attempt_gets_what_is_left_of_the_deadline_and_none_is_made_after_it() {
    let config = Config::default();
    let start = Instant::now();
    let mut ex = exchange(&config, start);
    ex.resolved([addr("192.168.1.1:5000")]).unwrap();
    ex.poll_connect(start).unwrap();
    ex.connect_failed(io::ErrorKind::TimedOut.into());
    // 9.9 s into a 10 s exchange: the next attempt gets what is left, not its 500 ms.
    let late = start + Duration::from_millis(9900);
    let (_, within) = ex.poll_connect(late).unwrap();
    assert_eq!(within, Duration::from_millis(100));
    ex.connect_failed(io::ErrorKind::TimedOut.into());
    // At the deadline, no attempt is made, whatever is left of the four.
    let error = ex.poll_connect(start + config.timeout).unwrap_err();
    assert!(
        matches!(error, Error::Timeout { after, .. } if after == config.timeout),
        "{error:?}"
    );
    // A connect timeout shorter than the first wait caps every attempt.
    let config = Config::default().connect_timeout(Duration::from_millis(100));
    let mut ex = exchange(&config, start);
    ex.resolved([addr("192.168.1.1:5000")]).unwrap();
    let (_, within) = ex.poll_connect(start).unwrap();
    assert_eq!(within, Duration::from_millis(100));
    // A zero retry turns the short attempts off rather than giving zero-length ones.
    let config = Config::default().connect_retry(Duration::ZERO);
    let mut ex = exchange(&config, start);
    ex.resolved([addr("192.168.1.1:5000")]).unwrap();
    let (_, within) = ex.poll_connect(start).unwrap();
    assert_eq!(within, config.connect_timeout);
}

#[test]
fn several_addresses_are_each_tried_once_and_at_most_four() {
    let now = Instant::now();
    let mut ex = exchange(&Config::default(), now);
    let many: Vec<SocketAddr> = (1..=6).map(|i| addr(&format!("10.0.0.{i}:80"))).collect();
    ex.resolved(many.clone()).unwrap();
    let mut tried = Vec::new();
    while let Ok((address, _)) = ex.poll_connect(now) {
        tried.push(address);
        ex.connect_failed(io::ErrorKind::ConnectionRefused.into());
    }
    assert_eq!(tried, many[..4]);
    assert!(matches!(
        exchange(&Config::default(), now).resolved([]),
        Err(Error::Io {
            stage: Stage::Resolving,
            ..
        })
    ));
}

#[test]
fn no_retry_once_a_byte_was_sent_and_no_time_after_the_deadline() {
    let config = Config::default();
    let start = Instant::now();
    let mut ex = exchange(&config, start);
    ex.resolved([addr("192.168.1.1:5000")]).unwrap();
    ex.poll_connect(start).unwrap();
    ex.connected();
    assert!(ex.to_send().starts_with(b"GET /d.xml HTTP/1.1\r\n"));
    ex.sent(3);
    assert_eq!(ex.stage(), Stage::Sending);
    let reset = ex.failed(io::ErrorKind::ConnectionReset.into());
    assert!(matches!(
        reset,
        Error::Io {
            stage: Stage::Sending,
            ..
        }
    ));
    let left = ex.to_send().len();
    ex.sent(left);
    assert!(ex.to_send().is_empty());
    assert!(
        !ex.received(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab")
            .unwrap()
    );
    let end = start + config.timeout;
    assert_eq!(
        ex.remaining(end).unwrap_err().to_string(),
        "timed out after 10 s while reading the body (2 of 4 bytes)"
    );
    assert!(ex.remaining(end - Duration::from_millis(1)).is_ok());
    // A socket timeout (set from `remaining`) is the same timeout.
    assert!(matches!(
        ex.failed(io::ErrorKind::WouldBlock.into()),
        Error::Timeout { .. }
    ));
}

fn capture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn miniupnpds_responses_decode_whole_and_byte_by_byte() {
    for (name, status, starts) in [
        ("miniupnpd-2.3.1-http-rootDesc.raw", 200, "<?xml"),
        (
            "miniupnpd-2.3.1-http-GetExternalIPAddress.raw",
            200,
            "<?xml",
        ),
        ("miniupnpd-2.3.1-http-fault-401.raw", 500, "<s:Envelope"),
        ("miniupnpd-2.3.1-http-404.raw", 404, "<HTML>"),
    ] {
        let raw = capture(name);
        let whole = decode(&raw, DESCRIPTION_BODY_LIMIT).unwrap();
        assert_eq!(whole.status, status, "{name}");
        assert!(whole.body.starts_with(starts.as_bytes()), "{name}");
        assert_eq!(
            whole.header("ext"),
            Some(&b""[..]),
            "{name}: an empty header is kept"
        );
        let mut decoder = ResponseDecoder::new(DESCRIPTION_BODY_LIMIT);
        let complete = raw.iter().any(|b| decoder.push(&[*b]).unwrap());
        assert!(
            complete,
            "{name}: complete by Content-Length, before the close"
        );
        assert_eq!(decoder.finish().unwrap(), whole, "{name}");
    }
}

#[test]
fn an_operations_deadline_shortens_an_exchange_but_never_lengthens_it() {
    let config = Config::default();
    let start = Instant::now();
    // The operation has 2 s left: the exchange gets 2 s, not its own 10.
    let ex = exchange(&config, start).until(Some(start + Duration::from_secs(2)), start);
    assert_eq!(ex.remaining(start).unwrap(), Duration::from_secs(2));
    let error = ex.remaining(start + Duration::from_secs(2)).unwrap_err();
    assert!(
        matches!(error, Error::Timeout { after, .. } if after == Duration::from_secs(2)),
        "{error:?}"
    );
    // A later operation deadline leaves the exchange's own.
    let ex = exchange(&config, start).until(Some(start + Duration::from_secs(60)), start);
    assert_eq!(ex.remaining(start).unwrap(), config.timeout);
    let ex = exchange(&config, start).until(None, start);
    assert_eq!(ex.remaining(start).unwrap(), config.timeout);
}

#[test]
fn a_status_outside_100_to_999_is_a_malformed_head_and_ours_are_three_digits() {
    for raw in [
        &b"HTTP/1.1 000 Zero\r\nContent-Length: 0\r\n\r\n"[..],
        &b"HTTP/1.1 099 Low\r\nContent-Length: 0\r\n\r\n"[..],
    ] {
        assert!(
            matches!(
                decode(raw, 64),
                Err(Error::Framing(Framing::MalformedHead(_)))
            ),
            "{:?}",
            String::from_utf8_lossy(raw)
        );
    }
    let response = decode(b"HTTP/1.1 999 Odd\r\nContent-Length: 2\r\n\r\nok", 64).unwrap();
    assert_eq!(response.status, 999);
    assert!(response.encode().starts_with(b"HTTP/1.1 999 Odd\r\n"));
    assert_eq!(decode(&response.encode(), 64).unwrap(), response);
}

#[test]
fn a_long_chunk_size_line_is_refused_however_it_arrives() {
    for (length, refused) in [(1024, false), (1025, true), (1500, true)] {
        let line = format!("2;{}", "x".repeat(length - 2));
        let raw = format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{line}\r\nok\r\n0\r\n\r\n"
        );
        let whole = decode(raw.as_bytes(), 64);
        for size in [1, 7, 64, 1500] {
            let pieces = decode_in_pieces(raw.as_bytes(), size);
            assert_eq!(
                format!("{pieces:?}"),
                format!("{whole:?}"),
                "line of {} bytes in pieces of {size}",
                line.len()
            );
        }
        assert_eq!(
            matches!(whole, Err(Error::Framing(Framing::ChunkLineTooLong(_)))),
            refused,
            "line of {} bytes",
            line.len()
        );
    }
}

#[test]
fn empty_lines_before_a_head_are_skipped_the_same_however_they_arrive() {
    // An interim response, empty lines, then no status line before the connection closes.
    let raw = b"HTTP/1.1 134\r\nSe: 1\r\n\r\n\r\n\r\nML>p";
    let whole = decode(raw, 64);
    assert!(matches!(whole, Err(Error::Truncated { .. })), "{whole:?}");
    for size in 1..raw.len() {
        let pieces = decode_in_pieces(raw, size);
        assert_eq!(
            format!("{pieces:?}"),
            format!("{whole:?}"),
            "pieces of {size}"
        );
    }
    // Empty lines then a response: read.
    let ok = decode(
        b"\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        64,
    )
    .unwrap();
    assert_eq!(ok.body, &b"ok"[..]);
}

#[test]
fn a_response_decoded_always_fits_when_written_again() {
    let head = |n: usize| {
        let mut raw = String::from("HTTP/1.0 200 OK\r\n");
        for i in 0..n {
            raw.push_str(&format!("X-{i}: v\r\n"));
        }
        raw.push_str("\r\nbody");
        raw
    };
    // 63 headers without framing: kept, and written again with Content-Length: 64.
    let response = decode(head(63).as_bytes(), 64).unwrap();
    assert_eq!(decode(&response.encode(), 64).unwrap(), response);
    // 64: no room left for the framing header; refused like a head with more.
    assert!(matches!(
        decode(head(64).as_bytes(), 64),
        Err(Error::Framing(Framing::MalformedHead(_)))
    ));
}
