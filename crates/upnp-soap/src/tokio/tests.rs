use std::time::Duration;

use super::*;
use crate::actions::GetStatusInfo;
use crate::fault::ErrorCode;
use crate::http::test_server::{Script, answer, chunked, fixture, serve};

const WANIP2: &str = "urn:schemas-upnp-org:service:WANIPConnection:2";

fn client() -> Client {
    Client::new(&Config {
        timeout: Duration::from_millis(1500),
        ..Config::default()
    })
    .unwrap()
}

#[tokio::test]
async fn responses_faults_and_caps_as_in_the_blocking_client() {
    let body = fixture("miniupnpd-2.3.1-v2-GetStatusInfo.xml");
    let (url, request) = serve(Script::Answer(chunked(&body, 5)));
    let status = client()
        .perform(&url, WANIP2, &GetStatusInfo)
        .await
        .unwrap();
    assert!(status.status.is_connected());
    assert!(
        request
            .recv()
            .unwrap()
            .to_ascii_lowercase()
            .contains("soapaction: ")
    );

    let fault = fixture("miniupnpd-2.3.1-v2-fault-606-AddPortMapping-outside-allow.xml");
    let (url, _) = serve(Script::Answer(answer("500 Internal Server Error", &fault)));
    match client().perform(&url, WANIP2, &GetStatusInfo).await {
        Err(Error::Fault(f)) => assert_eq!(f.code(), Some(ErrorCode::ActionNotAuthorized)),
        other => panic!("{other:?}"),
    }

    let (url, _) = serve(Script::Answer(answer("404 Not Found", b"")));
    assert!(matches!(
        client().get_description(&url).await,
        Err(Error::Status { status: 404 })
    ));

    let big = vec![b' '; SOAP_BODY_LIMIT + 1];
    let (url, _) = serve(Script::Answer(chunked(&big, 1000)));
    assert!(matches!(
        client().perform(&url, WANIP2, &GetStatusInfo).await,
        Err(Error::BodyTooLarge { .. })
    ));

    let mut short = answer("200 OK", &body);
    short.truncate(short.len() - 10);
    let (url, _) = serve(Script::Answer(short));
    assert!(matches!(
        client().perform(&url, WANIP2, &GetStatusInfo).await,
        Err(Error::Transport(_) | Error::Truncated { .. })
    ));

    let (url, _) = serve(Script::AnswerAndHold(
        answer("200 OK", &body)[..60].to_vec(),
        Duration::from_secs(4),
    ));
    assert!(matches!(
        client().perform(&url, WANIP2, &GetStatusInfo).await,
        Err(Error::Timeout)
    ));
}
