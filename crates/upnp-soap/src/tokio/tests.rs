use std::time::{Duration, Instant};

use super::*;
use crate::actions::GetStatusInfo;
use crate::error::Stage;
use crate::fault::ErrorCode;
use crate::http::test_server::{Script, TIMEOUT, answer, chunked, fixture, scenarios, serve};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_server_gets_its_typed_error_within_the_deadline() {
    let runs: Vec<_> = scenarios()
        .into_iter()
        .map(|scenario| {
            tokio::spawn(async move {
                let (url, _) = serve(scenario.script.clone());
                let request = Request::get(&url, AGENT).unwrap();
                let started = Instant::now();
                let result = client().exchange(&request, scenario.limit).await;
                (scenario, result, started.elapsed())
            })
        })
        .collect();
    for run in runs {
        let (scenario, result, took) = run.await.unwrap();
        assert!((scenario.expect)(&result), "{}: {result:?}", scenario.name);
        assert!(
            took < TIMEOUT + Duration::from_secs(1),
            "{}: took {took:?}",
            scenario.name
        );
    }
}

#[tokio::test]
async fn the_same_bytes_go_on_the_wire_as_from_the_blocking_client() {
    let body = fixture("miniupnpd-2.3.1-v2-GetStatusInfo.xml");
    let (url, request) = serve(Script::Answer(chunked(&body, 5)));
    let status = client()
        .perform(&url, WANIP2, &GetStatusInfo)
        .await
        .unwrap();
    assert!(status.status.is_connected());
    let sent = Request::action(&url, AGENT, &GetStatusInfo.request(WANIP2)).unwrap();
    assert_eq!(request.recv().unwrap(), sent.encode());
    assert!(
        String::from_utf8(sent.encode().to_vec())
            .unwrap()
            .contains(&format!("\r\nSOAPAction: \"{WANIP2}#GetStatusInfo\"\r\n"))
    );
}

#[tokio::test]
async fn faults_statuses_and_refusals_as_in_the_blocking_client() {
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

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let url = Url::parse(&format!("http://{address}/")).unwrap();
    let error = client().get_description(&url).await.unwrap_err();
    assert!(
        matches!(error, Error::Io { stage: Stage::Connecting { to }, .. } if to == address),
        "{error:?}"
    );

    let (url, _) = serve(Script::Answer(answer("200 OK", b"<root/>")));
    let url = Url::parse(&format!("http://localhost:{}/d.xml", url.port().unwrap())).unwrap();
    assert_eq!(client().get_description(&url).await.unwrap(), b"<root/>");
}
