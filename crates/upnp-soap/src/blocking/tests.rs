use std::time::Duration;

use super::*;
use crate::actions::{GetExternalIpAddress, GetStatusInfo};
use crate::fault::ErrorCode;
use crate::http::test_server::{Script, answer, chunked, close_delimited, fixture, serve};

const WANIP2: &str = "urn:schemas-upnp-org:service:WANIPConnection:2";

fn client() -> Client {
    Client::new(&Config {
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_millis(1500),
        ..Config::default()
    })
    .unwrap()
}

#[test]
fn an_action_is_posted_as_routers_expect_and_its_answer_typed() {
    let body = fixture("miniupnpd-2.3.1-v2-GetExternalIPAddress.xml");
    let (url, request) = serve(Script::Answer(answer("200 OK", &body)));
    let ip = client()
        .perform(&url, WANIP2, &GetExternalIpAddress)
        .unwrap();
    assert_eq!(ip, Some("11.0.0.7".parse().unwrap()));
    let request = request.recv().unwrap();
    assert!(request.starts_with("POST /ctl HTTP/1.1\r\n"), "{request}");
    let lower = request.to_ascii_lowercase();
    assert!(lower.contains(&format!(
        "soapaction: \"{}#getexternalipaddress\"\r\n",
        WANIP2.to_ascii_lowercase()
    )));
    assert!(lower.contains("content-type: text/xml; charset=\"utf-8\"\r\n"));
    assert!(lower.contains("connection: close\r\n"));
    assert!(lower.contains("user-agent: "));
    assert!(request.contains("<u:GetExternalIPAddress xmlns:u=\""));
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
    for (status, code) in [
        ("500 Internal Server Error", 500),
        ("404 Not Found", 404),
        ("302 Found\r\nLocation: http://127.0.0.1:1/elsewhere", 302),
        ("401 Unauthorized", 401),
    ] {
        let (url, _) = serve(Script::Answer(answer(status, b"<html>no</html>")));
        match client().perform(&url, WANIP2, &GetStatusInfo) {
            Err(Error::Status { status }) => assert_eq!(status, code),
            other => panic!("{status}: {other:?}"),
        }
    }
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
fn a_body_shorter_than_its_length_is_an_error_never_parsed() {
    let body = fixture("miniupnpd-2.3.1-v2-GetStatusInfo.xml");
    let mut raw = answer("200 OK", &body);
    raw.truncate(raw.len() - 40);
    let (url, _) = serve(Script::Answer(raw));
    let result = client().perform(&url, WANIP2, &GetStatusInfo);
    assert!(
        matches!(result, Err(Error::Transport(_) | Error::Truncated { .. })),
        "{result:?}"
    );
}

#[test]
fn oversized_bodies_are_refused() {
    let big = vec![b' '; SOAP_BODY_LIMIT + 1];
    // Announced by Content-Length: refused before reading.
    let (url, _) = serve(Script::Answer(answer("200 OK", &big)));
    assert!(matches!(
        client().perform(&url, WANIP2, &GetStatusInfo),
        Err(Error::BodyTooLarge {
            limit: SOAP_BODY_LIMIT
        })
    ));
    // Chunked, with no length announced: refused when the cap is crossed.
    let (url, _) = serve(Script::Answer(chunked(&big, 1000)));
    assert!(matches!(
        client().perform(&url, WANIP2, &GetStatusInfo),
        Err(Error::BodyTooLarge { .. })
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
fn a_stalled_body_times_out() {
    // Headers and part of the body, then nothing: the whole-exchange timeout ends it.
    let body = fixture("miniupnpd-2.3.1-v2-GetStatusInfo.xml");
    let mut raw = answer("200 OK", &body);
    raw.truncate(raw.len() - 40);
    let (url, _) = serve(Script::AnswerAndHold(raw, Duration::from_secs(4)));
    let result = client().perform(&url, WANIP2, &GetStatusInfo);
    assert!(matches!(result, Err(Error::Timeout)), "{result:?}");
}

#[test]
fn a_refused_connection_is_a_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    drop(listener);
    let result = client().get_description(&url);
    assert!(matches!(result, Err(Error::Transport(_))), "{result:?}");
}
