use std::time::{Duration, Instant};

use super::*;
use crate::actions::{GetExternalIpAddress, GetStatusInfo};
use crate::error::Stage;
use crate::fault::ErrorCode;
use crate::http::test_server::{
    Script, TIMEOUT, answer, chunked, close_delimited, fixture, scenarios, serve,
};

const WANIP2: &str = "urn:schemas-upnp-org:service:WANIPConnection:2";
const AGENT: &str = "Linux/6.1 UPnP/1.1 igd-rs-test/1";

fn client() -> Client {
    Client::new(
        &Config::default()
            .connect_timeout(Duration::from_secs(1))
            .timeout(TIMEOUT)
            .user_agent(AGENT),
    )
}

#[test]
fn an_action_goes_on_the_wire_byte_for_byte_as_routers_expect() {
    let body = fixture("miniupnpd-2.3.1-v2-GetExternalIPAddress.xml");
    let (url, request) = serve(Script::Answer(answer("200 OK", &body)));
    let ip = client()
        .perform(&url, WANIP2, &GetExternalIpAddress)
        .unwrap();
    assert_eq!(ip, Some("11.0.0.7".parse().unwrap()));
    let envelope = GetExternalIpAddress.request(WANIP2).encode().unwrap();
    let expected = format!(
        "POST /ctl HTTP/1.1\r\n\
         Host: {}\r\n\
         User-Agent: {AGENT}\r\n\
         Content-Type: text/xml; charset=\"utf-8\"\r\n\
         SOAPAction: \"{WANIP2}#GetExternalIPAddress\"\r\n\
         Content-Length: {}\r\n\
         Connection: close\r\n\
         \r\n\
         {envelope}",
        url.authority(),
        envelope.len()
    );
    assert_eq!(
        String::from_utf8(request.recv().unwrap()).unwrap(),
        expected
    );
}

#[test]
fn a_description_fetch_goes_on_the_wire_byte_for_byte() {
    let (url, request) = serve(Script::Answer(answer("200 OK", b"<root/>")));
    let url = url.join("/rootDesc.xml?x=1").unwrap();
    assert_eq!(client().get_description(&url).unwrap(), b"<root/>");
    let expected = format!(
        "GET /rootDesc.xml?x=1 HTTP/1.1\r\nHost: {}\r\nUser-Agent: {AGENT}\r\n\
         Connection: close\r\n\r\n",
        url.authority()
    );
    assert_eq!(
        String::from_utf8(request.recv().unwrap()).unwrap(),
        expected
    );
}

#[test]
fn every_hostile_server_gets_its_typed_error_within_the_deadline() {
    let runs: Vec<_> = scenarios()
        .into_iter()
        .map(|scenario| {
            std::thread::spawn(move || {
                let (url, _) = serve(scenario.script.clone());
                let request = Request::get(&url, AGENT).unwrap();
                let started = Instant::now();
                let result = client().exchange(&request, scenario.limit);
                (scenario, result, started.elapsed())
            })
        })
        .collect();
    for run in runs {
        let (scenario, result, took) = run.join().unwrap();
        assert!((scenario.expect)(&result), "{}: {result:?}", scenario.name);
        assert!(
            took < TIMEOUT + Duration::from_secs(1),
            "{}: took {took:?}",
            scenario.name
        );
    }
}

#[test]
fn a_fault_is_a_fault_with_status_500_or_200() {
    let fault = fixture("miniupnpd-2.3.1-v2-fault-713-GetGenericPortMappingEntry-past-end.xml");
    for status in ["500 Internal Server Error", "200 OK"] {
        let (url, _) = serve(Script::Answer(answer(status, &fault)));
        match client().perform(&url, WANIP2, &GetStatusInfo) {
            Err(Error::Fault(f)) => {
                assert_eq!(f.code(), Some(ErrorCode::SpecifiedArrayIndexInvalid));
            }
            other => panic!("{status}: {other:?}"),
        }
    }
}

#[test]
fn other_statuses_are_http_errors_and_redirects_are_not_followed() {
    let elsewhere = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    elsewhere.set_nonblocking(true).unwrap();
    let location = format!(
        "302 Found\r\nLocation: http://{}/",
        elsewhere.local_addr().unwrap()
    );
    for (status, code) in [
        ("500 Internal Server Error", 500),
        ("404 Not Found", 404),
        (location.as_str(), 302),
        ("401 Unauthorized", 401),
    ] {
        let (url, _) = serve(Script::Answer(answer(status, b"<html>no</html>")));
        match client().perform(&url, WANIP2, &GetStatusInfo) {
            Err(Error::Status { status }) => assert_eq!(status, code),
            other => panic!("{status}: {other:?}"),
        }
    }
    // Nobody connected to the redirect's target.
    assert!(elsewhere.accept().is_err());
}

#[test]
fn chunked_and_close_delimited_bodies_are_read() {
    let body = fixture("miniupnpd-2.3.1-v2-GetStatusInfo.xml");
    for raw in [
        chunked(&body, 7),
        chunked(&body, 4096),
        close_delimited(&body),
    ] {
        let (url, _) = serve(Script::Answer(raw));
        let status = client().perform(&url, WANIP2, &GetStatusInfo).unwrap();
        assert!(status.status.is_connected());
    }
}

#[test]
fn oversized_bodies_are_refused_by_kind() {
    let big = vec![b' '; SOAP_BODY_LIMIT + 1];
    let (url, _) = serve(Script::Answer(chunked(&big, 1000)));
    assert!(matches!(
        client().perform(&url, WANIP2, &GetStatusInfo),
        Err(Error::BodyTooLarge {
            limit: SOAP_BODY_LIMIT
        })
    ));
    // A description may be larger than a SOAP body, but not past its own cap.
    let (url, _) = serve(Script::Answer(answer("200 OK", &big)));
    assert_eq!(client().get_description(&url).unwrap().len(), big.len());
    let huge = vec![b' '; DESCRIPTION_BODY_LIMIT + 1];
    let (url, _) = serve(Script::Answer(chunked(&huge, 8192)));
    assert!(matches!(
        client().get_description(&url),
        Err(Error::BodyTooLarge {
            limit: DESCRIPTION_BODY_LIMIT
        })
    ));
}

#[test]
fn errors_say_what_happened_where() {
    // Refused: the OS's words and the address.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let url = Url::parse(&format!("http://{address}/")).unwrap();
    let error = client().get_description(&url).unwrap_err();
    assert!(
        matches!(error, Error::Io { stage: Stage::Connecting { to }, .. } if to == address),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.to_lowercase().contains("connection refused")
            && text.ends_with(&format!("while connecting to {address}")),
        "{text}"
    );

    // Stalled in the body: how long, and how far it got.
    let mut raw = answer("200 OK", &[b'x'; 2345]);
    raw.truncate(raw.len() - 2345 + 97);
    let (url, _) = serve(Script::AnswerAndHold(raw, Duration::from_secs(4)));
    let error = client().get_description(&url).unwrap_err();
    assert_eq!(
        error.to_string(),
        "timed out after 1.5 s while reading the body (97 of 2345 bytes)"
    );
}

#[test]
fn a_host_name_is_resolved_within_the_deadline() {
    let (url, request) = serve(Script::Answer(answer("200 OK", b"<root/>")));
    let url = Url::parse(&format!("http://localhost:{}/d.xml", url.port().unwrap())).unwrap();
    assert_eq!(client().get_description(&url).unwrap(), b"<root/>");
    let request = String::from_utf8(request.recv().unwrap()).unwrap();
    assert!(
        request.contains(&format!("\r\nHost: {}\r\n", url.authority())),
        "{request}"
    );
}

#[test]
fn only_plain_http_urls_are_fetched() {
    let url = Url::parse("https://127.0.0.1:1/").unwrap();
    assert!(matches!(
        client().get_description(&url),
        Err(Error::ForbiddenUrl {
            reason: "not http",
            ..
        })
    ));
}

/// reqwest's blocking client panicked here; ours owns no runtime.
#[tokio::test]
async fn the_blocking_client_works_inside_a_tokio_runtime() {
    let body = fixture("miniupnpd-2.3.1-v2-GetStatusInfo.xml");
    let (url, _) = serve(Script::Answer(answer("200 OK", &body)));
    let status = client().perform(&url, WANIP2, &GetStatusInfo).unwrap();
    assert!(status.status.is_connected());
}
