//! Hostile and broken networks: LAN hosts and gateways that misbehave on purpose (the
//! servers of `lab_tests::hostile`, on the LAN host, beside the lab's real miniupnpd). Each
//! case asserts, for both drivers where the driver matters: the operation ends within its
//! documented deadline (plus a margin), the error is the typed one, no connection reached a
//! host it must not, and memory stays bounded.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use lab_tests::Lab;
use lab_tests::hostile::{
    Behaviour, Responder, Server, answer, entry, fault, peak_rss_kib, probe_answer,
};
use upnp_igd::{DiscoverOptions, Error, IgdStatus, Limits, MappingRequest};

/// What the scheduler and the lab may add to a deadline.
const MARGIN: Duration = Duration::from_millis(700);

fn options(timeout_ms: i64) -> DiscoverOptions {
    DiscoverOptions::default().timeout(timeout_ms)
}

fn short_limits() -> Limits {
    let mut limits = Limits::default();
    limits.probe = Duration::from_secs(1);
    limits.call = Duration::from_secs(1);
    limits.list = Duration::from_secs(1);
    limits
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A gateway played by our server: healthy probe answers with this external address, and
/// `other` for every other action.
fn gateway(
    lab: &Lab,
    name: &str,
    external: &'static str,
    other: impl Fn(&str) -> (u16, String) + Send + Sync + 'static,
) -> Server {
    Server::start(
        lab.host_addr,
        Behaviour::Gateway {
            friendly_name: name.to_owned(),
            handler: Arc::new(move |action| {
                probe_answer(action, external).unwrap_or_else(|| other(action))
            }),
        },
    )
}

fn upnp_cli(args: &[&str]) -> std::process::Output {
    let bin = std::env::var("IGD_LAB_UPNP_BIN")
        .unwrap_or_else(|_| format!("{}/../target/debug/upnp", env!("CARGO_MANIFEST_DIR")));
    // Discovery is what is under test here: never the gateway found last.
    Command::new(&bin)
        .arg("--no-cache")
        .args(args)
        .output()
        .unwrap()
}

// --- Operations bounded as a whole -------------------------------------------------------

#[test]
fn a_silent_host_answering_first_does_not_blind_discovery() {
    let lab = Lab::get();
    let silent = Server::start(lab.host_addr, Behaviour::Silent);
    let _responder = Responder::start(&lab, vec![silent.url("rootDesc.xml")], false);

    // find_gateway: the router is found while the silent host's probe hangs.
    let mut upnp = upnp_igd::blocking::Upnp::new();
    upnp.limits = short_limits();
    let started = Instant::now();
    let gateway = upnp
        .find_gateway(&options(2000))
        .expect("the router is found");
    assert_eq!(gateway.description_url, lab.description_url());
    assert!(started.elapsed() < Duration::from_millis(2000) + MARGIN);

    let mut upnp = upnp_igd::tokio::Upnp::new();
    upnp.limits = short_limits();
    let started = Instant::now();
    runtime().block_on(async {
        let gateway = upnp.find_gateway(&options(2000)).await.expect("found");
        assert_eq!(gateway.description_url, lab.description_url());
    });
    assert!(started.elapsed() < Duration::from_millis(2000) + MARGIN);

    // discover (Godot's): every device, within timeout + probe.
    let mut upnp = upnp_igd::blocking::Upnp::new();
    upnp.limits = short_limits();
    let started = Instant::now();
    upnp.discover(&options(1000)).unwrap();
    assert!(started.elapsed() < Duration::from_millis(2000) + MARGIN);
    let router = upnp
        .devices()
        .iter()
        .find(|d| d.description_url == lab.description_url())
        .expect("the router is among the devices");
    assert!(router.is_valid_gateway());
    let hung = upnp
        .devices()
        .iter()
        .find(|d| d.description_url == silent.url("rootDesc.xml"))
        .expect("the silent host is listed");
    assert_eq!(hung.igd_status, IgdStatus::HttpError, "{hung:?}");
    assert!(silent.connections() >= 1, "the silent host was probed too");

    let mut upnp = upnp_igd::tokio::Upnp::new();
    upnp.limits = short_limits();
    let started = Instant::now();
    runtime().block_on(async { upnp.discover(&options(1000)).await.unwrap() });
    assert!(started.elapsed() < Duration::from_millis(2000) + MARGIN);
    assert!(upnp.devices().iter().any(|d| d.is_valid_gateway()));
}

#[test]
fn a_flood_of_answers_from_one_host_does_not_hide_the_router() {
    let lab = Lab::get();
    let tarpit = Server::start(lab.host_addr, Behaviour::Silent);
    let flood: Vec<String> = (0..600).map(|i| tarpit.url(&format!("{i}.xml"))).collect();
    let before = peak_rss_kib();
    for round in 0..2 {
        let _responder = Responder::start(&lab, flood.clone(), true);
        let started = Instant::now();
        let found = if round == 0 {
            let mut upnp = upnp_igd::blocking::Upnp::new();
            upnp.limits = short_limits();
            upnp.find_gateway(&options(2000))
                .map(|g| g.description_url.clone())
        } else {
            let mut upnp = upnp_igd::tokio::Upnp::new();
            upnp.limits = short_limits();
            runtime().block_on(async {
                upnp.find_gateway(&options(2000))
                    .await
                    .map(|g| g.description_url.clone())
            })
        };
        assert_eq!(found.expect("the router is found"), lab.description_url());
        assert!(started.elapsed() < Duration::from_millis(3000) + MARGIN);
    }
    // One host gets a few probes, not 600.
    assert!(
        tarpit.connections() <= 2 * Limits::default().devices_per_host * 2,
        "{} connections to the flooding host",
        tarpit.connections()
    );
    let grown = peak_rss_kib().saturating_sub(before);
    assert!(grown < 32 * 1024, "peak memory grew by {grown} KiB");
}

#[test]
fn a_trickling_description_is_given_up_at_the_probe_deadline() {
    let lab = Lab::get();
    let tarpit = Server::start(lab.host_addr, Behaviour::Trickle(Duration::from_millis(50)));
    let mut upnp = upnp_igd::blocking::Upnp::new();
    upnp.limits = short_limits();
    let started = Instant::now();
    let device = upnp.device_at(&tarpit.url("rootDesc.xml"));
    assert!(started.elapsed() < Duration::from_secs(1) + MARGIN);
    assert_eq!(device.igd_status, IgdStatus::HttpError);
    assert!(
        device
            .status_detail
            .as_deref()
            .unwrap_or("")
            .contains("timed out"),
        "{device:?}"
    );

    let mut upnp = upnp_igd::tokio::Upnp::new();
    upnp.limits = short_limits();
    let started = Instant::now();
    let device = runtime().block_on(upnp.device_at(&tarpit.url("rootDesc.xml")));
    assert!(started.elapsed() < Duration::from_secs(1) + MARGIN);
    assert_eq!(device.igd_status, IgdStatus::HttpError);
}

#[test]
fn a_listing_that_never_ends_is_bounded_in_count_and_time() {
    let lab = Lab::get();
    let served = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&served);
    let server = gateway(&lab, "endless", "11.0.0.99", move |action| {
        endless_entry(action, counter.fetch_add(1, Ordering::Relaxed))
    });
    let mut upnp = upnp_igd::blocking::Upnp::new();
    upnp.limits = short_limits();
    upnp.limits.list = Duration::from_secs(20);
    upnp.limits.list_entries = 40;
    let device = upnp.device_at(&server.url("rootDesc.xml"));
    assert!(device.is_valid_gateway(), "{device:?}");
    let all = device.list_port_mappings().unwrap();
    assert_eq!(all.len(), 40);
    assert_eq!(served.load(Ordering::Relaxed), 40);

    // Slow answers: the listing's deadline ends it, with a typed timeout.
    let slow_count = Arc::new(AtomicUsize::new(0));
    let slow = gateway(&lab, "slow", "11.0.0.99", move |action| {
        thread::sleep(Duration::from_millis(300));
        endless_entry(action, slow_count.fetch_add(1, Ordering::Relaxed))
    });
    let mut upnp = upnp_igd::tokio::Upnp::new();
    upnp.limits = short_limits();
    let started = Instant::now();
    let outcome = runtime().block_on(async {
        let device = upnp.device_at(&slow.url("rootDesc.xml")).await;
        device.list_port_mappings().await
    });
    assert!(started.elapsed() < Duration::from_secs(1) + MARGIN);
    assert!(
        matches!(outcome, Err(Error::Soap(upnp_soap::Error::Timeout { .. }))),
        "{outcome:?}"
    );
}

/// Entry `n` of a table that never ends (a gateway that never answers 713).
fn endless_entry(action: &str, n: usize) -> (u16, String) {
    assert_eq!(action, "GetGenericPortMappingEntry");
    let port = (1000 + n % 60000).to_string();
    answer(
        action,
        &[
            ("NewRemoteHost", ""),
            ("NewExternalPort", &port),
            ("NewProtocol", "UDP"),
            ("NewInternalPort", &port),
            ("NewInternalClient", "192.168.77.50"),
            ("NewEnabled", "1"),
            ("NewPortMappingDescription", "x"),
            ("NewLeaseDuration", "0"),
        ],
    )
}

// --- Lossy links ----------------------------------------------------------------------------

#[test]
fn lost_syns_are_sent_again_sooner_than_the_system_would() {
    let lab = Lab::get();
    let mut upnp = upnp_igd::blocking::Upnp::new();
    assert_eq!(upnp.discover(&DiscoverOptions::default()).unwrap(), 1);
    let saved = upnp.get_gateway().unwrap().device().clone();
    // The system alone would send the SYN again after 1 s, then 3 s: the third SYN would
    // leave 3 s after the first, past the 1.5 s a warm start allows. Our new attempts after
    // 250 ms and 750 ms make the third SYN leave in time.
    let loss = lab.drop_two_syns_in_three();
    let mut warm = upnp_igd::blocking::Upnp::new();
    let gateway = warm.revalidate(saved.clone());
    assert!(gateway.is_ok(), "{gateway:?}");
    assert_eq!(gateway.unwrap().external_address, Some(lab.wan_addr.into()));
    assert_eq!(loss.dropped(), 2);
    // The same through the async driver, and each exchange of an add and a delete.
    let mut warm = upnp_igd::tokio::Upnp::new();
    let granted = runtime().block_on(async {
        warm.revalidate(saved).await?;
        let gateway = warm.get_gateway()?;
        let granted = gateway
            .add_port_mapping(&MappingRequest::new(7411).proto("TCP"))
            .await?;
        gateway.delete_port_mapping(7411, "TCP").await?;
        Ok::<_, Error>(granted)
    });
    assert!(
        granted.as_ref().is_ok_and(|g| g.read_back),
        "{granted:?}, {} SYNs dropped",
        loss.dropped()
    );
    // revalidate 1 + look, add, read back 3 + look, delete 2: six exchanges, two SYNs
    // dropped for each.
    assert_eq!(loss.dropped(), 2 + 2 * 6);
}

// --- Report the truth ----------------------------------------------------------------------

#[test]
fn a_read_back_showing_another_client_is_an_error_and_the_mapping_is_removed() {
    let lab = Lab::get();
    let lookups = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&lookups);
    let server = gateway(&lab, "liar", "11.0.0.99", move |action| match action {
        "GetSpecificPortMappingEntry" if seen.fetch_add(1, Ordering::Relaxed) == 0 => {
            fault(714, "NoSuchEntryInArray")
        }
        "GetSpecificPortMappingEntry" => entry("192.168.77.99", 7777),
        "AddPortMapping" => answer(action, &[]),
        _ => fault(401, "Invalid Action"),
    });
    let upnp = upnp_igd::blocking::Upnp::new();
    let device = upnp.device_at(&server.url("rootDesc.xml"));
    let err = device
        .add_port_mapping(&MappingRequest::new(7777))
        .unwrap_err();
    // The look showed no mapping: the one read back, to another client, was recorded by the
    // router for our add. Not a success: removed (this router refuses, 401), and both named.
    assert!(
        matches!(err, Error::MappingRewritten { ref internal_client, ref asked_client, .. }
            if internal_client == "192.168.77.99" && asked_client == "192.168.77.10"),
        "{err:?}"
    );
    assert_eq!(err.result(), upnp_igd::UpnpResult::InconsistentParameters);
    lookups.store(0, Ordering::Relaxed);
    let upnp = upnp_igd::tokio::Upnp::new();
    let err = runtime().block_on(async {
        let device = upnp.device_at(&server.url("rootDesc.xml")).await;
        device.add_port_mapping(&MappingRequest::new(7777)).await
    });
    assert!(
        matches!(err, Err(Error::MappingRewritten { .. })),
        "{err:?}"
    );
}

#[test]
fn an_unspecified_external_address_is_no_address() {
    let lab = Lab::get();
    let server = gateway(&lab, "zero", "0.0.0.0", |_| fault(401, "Invalid Action"));
    let upnp = upnp_igd::blocking::Upnp::new();
    let device = upnp.device_at(&server.url("rootDesc.xml"));
    assert_eq!(device.external_address, None);
    assert!(matches!(
        device.query_external_address(),
        Err(Error::InvalidResponse(_))
    ));
    let out = upnp_cli(&["--url", &server.url("rootDesc.xml"), "external-ip"]);
    assert!(!out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("0.0.0.0"));
}

#[test]
fn text_from_the_network_never_reaches_the_terminal_raw() {
    let lab = Lab::get();
    // A name and a fault description that try to forge lines of our output.
    let server = gateway(
        &lab,
        "Router&#10;added UDP 7777 -&gt; 1.2.3.4:7777\u{202e}\u{9b}31m",
        "11.0.0.99",
        |action| match action {
            "GetSpecificPortMappingEntry" => fault(714, "none"),
            _ => fault(718, "refused&#10;added UDP 7777 -&gt; you"),
        },
    );
    let url = server.url("rootDesc.xml");
    for args in [
        vec!["--url", url.as_str(), "discover"],
        vec!["--url", url.as_str(), "add", "7777"],
    ] {
        let out = upnp_cli(&args);
        for stream in [&out.stdout, &out.stderr] {
            let text = String::from_utf8_lossy(stream);
            assert!(
                !text.lines().any(|l| l.starts_with("added")),
                "a forged line: {text}"
            );
            assert!(
                !text.contains('\u{202e}') && !text.contains('\u{9b}'),
                "raw control: {text:?}"
            );
        }
    }
}

// --- Talk only to who answered ---------------------------------------------------------------

#[test]
fn a_location_naming_another_host_is_never_contacted() {
    let lab = Lab::get();
    // A healthy-looking gateway on loopback: nothing from the LAN may steer us there.
    let target = Server::start(
        std::net::Ipv4Addr::LOCALHOST,
        Behaviour::Gateway {
            friendly_name: "admin".into(),
            handler: Arc::new(|action| {
                probe_answer(action, "11.0.0.99").unwrap_or_else(|| fault(401, "x"))
            }),
        },
    );
    let port = target.addr.port();
    let _responder = Responder::start(
        &lab,
        vec![
            format!("http://127.0.0.1:{port}/rootDesc.xml"),
            format!("http://localhost:{port}/rootDesc.xml"),
            format!("http://{}:{port}/rootDesc.xml", lab.router_addr),
        ],
        false,
    );
    let mut upnp = upnp_igd::blocking::Upnp::new();
    upnp.limits = short_limits();
    upnp.discover(&options(1000)).unwrap();
    let mut upnp6 = upnp_igd::tokio::Upnp::new();
    upnp6.limits = short_limits();
    runtime().block_on(async { upnp6.discover(&options(1000)).await.unwrap() });
    assert_eq!(
        target.connections(),
        0,
        "a host that did not answer was contacted"
    );
    for devices in [upnp.devices().len(), upnp6.devices().len()] {
        assert!(devices >= 2);
    }
    let refused = upnp
        .devices()
        .iter()
        .find(|d| d.description_url.contains("127.0.0.1"))
        .expect("listed, with why");
    assert_eq!(refused.igd_status, IgdStatus::HttpError);
    assert!(upnp.get_gateway().is_ok());

    // `-v` tells why, on stderr.
    let out = upnp_cli(&["-v", "--timeout", "1000", "discover"]);
    assert!(out.status.success());
    let told = String::from_utf8_lossy(&out.stderr);
    assert!(told.contains("probe started"), "{told}");
    assert!(
        told.lines().any(|l| l.contains("probe done")
            && l.contains("127.0.0.1")
            && l.contains("IGD_STATUS_HTTP_ERROR")),
        "{told}"
    );
    assert_eq!(target.connections(), 0);
}

#[test]
fn a_url_the_user_gave_that_fails_says_why() {
    let lab = Lab::get();
    let closed = std::net::TcpListener::bind((lab.host_addr, 0)).unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let out = upnp_cli(&[
        "--url",
        &format!("http://{}:{port}/rootDesc.xml", lab.host_addr),
        "external-ip",
    ]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("IGD_STATUS_HTTP_ERROR"), "{text}");
    assert!(text.to_lowercase().contains("refused"), "{text}");
}
