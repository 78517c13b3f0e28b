use std::net::SocketAddr;

use upnp_ssdp::SearchResponse;

use super::*;

const IGD2: &str = "urn:schemas-upnp-org:device:InternetGatewayDevice:2";

fn answer(from: &str, location: &str, st: &str) -> upnp_ssdp::search::Response {
    upnp_ssdp::search::Response::new(
        from.parse::<SocketAddr>().unwrap(),
        SearchResponse::new(location, st.parse().unwrap()),
        Instant::now(),
    )
}

fn probe_task(step: DiscoveryStep) -> Box<ProbeTask> {
    match step {
        DiscoveryStep::Probe(task) => task,
        other => panic!("expected a probe, got {other:?}"),
    }
}

fn wait(step: DiscoveryStep) -> Instant {
    match step {
        DiscoveryStep::Wait(until) => until,
        other => panic!("expected a wait, got {other:?}"),
    }
}

fn done(step: DiscoveryStep) -> Result<Vec<Device>, Error> {
    match step {
        DiscoveryStep::Done(result) => result,
        other => panic!("expected the end, got {other:?}"),
    }
}

fn gateway(task: &ProbeTask, external: &str) -> Device {
    let mut device = task.probe.device().clone();
    device.igd_status = IgdStatus::Ok;
    device.igd_control_url = "http://192.168.1.1:5000/ctl".into();
    device.igd_service_type = "urn:schemas-upnp-org:service:WANIPConnection:2".into();
    device.external_address = external.parse().ok();
    device
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn a_silent_device_does_not_hold_up_the_router() {
    let t0 = Instant::now();
    let limits = Limits::default();
    let options = DiscoverOptions::default();
    let mut d = Discovery::new(Goal::FirstPublic, &options, &limits, t0).unwrap();
    assert_eq!(d.deadline(), t0 + ms(2000) + limits.probe);
    assert!(wait(d.poll(t0)) <= t0 + ms(2000));
    // The silent host answers first; its probe starts at once.
    d.response(
        &answer("192.168.1.66:1900", "http://192.168.1.66:80/d.xml", IGD2),
        t0,
    )
    .unwrap();
    let silent = probe_task(d.poll(t0));
    assert_eq!(silent.deadline, t0 + limits.probe);
    assert!(wait(d.poll(t0)) <= t0 + ms(2000));
    // The router answers 50 ms later: probed alongside, not after.
    let t1 = t0 + ms(50);
    d.response(
        &answer(
            "192.168.1.1:1900",
            "http://192.168.1.1:5000/rootDesc.xml",
            IGD2,
        ),
        t1,
    )
    .unwrap();
    let router = probe_task(d.poll(t1));
    assert_ne!(router.id, silent.id);
    d.probed(router.id, gateway(&router, "11.0.0.7"));
    // A public gateway: find_gateway is over, the silent probe is dropped.
    let devices = done(d.poll(t1 + ms(5))).unwrap();
    assert_eq!(devices.len(), 2);
    assert!(devices.iter().any(Device::is_valid_gateway));
}

#[test]
fn every_device_is_probed_and_the_search_waited_out_for_discover() {
    let t0 = Instant::now();
    let limits = Limits::default();
    let mut d = Discovery::new(Goal::Every, &DiscoverOptions::default(), &limits, t0).unwrap();
    d.response(
        &answer(
            "192.168.1.1:1900",
            "http://192.168.1.1:5000/rootDesc.xml",
            IGD2,
        ),
        t0,
    )
    .unwrap();
    let router = probe_task(d.poll(t0));
    d.probed(router.id, gateway(&router, "11.0.0.7"));
    // Godot's discover waits for the whole timeout.
    assert_eq!(wait(d.poll(t0 + ms(10))), t0 + ms(2000));
    let devices = done(d.poll(t0 + ms(2000))).unwrap();
    assert_eq!(devices.len(), 1);
    assert!(devices[0].is_valid_gateway());
}

#[test]
fn the_deadline_ends_probes_that_never_finish() {
    let t0 = Instant::now();
    let limits = Limits::default();
    let mut d = Discovery::new(Goal::Every, &DiscoverOptions::default(), &limits, t0).unwrap();
    d.response(
        &answer("192.168.1.66:1900", "http://192.168.1.66/d.xml", IGD2),
        t0,
    )
    .unwrap();
    let task = probe_task(d.poll(t0));
    assert_eq!(wait(d.poll(t0 + ms(2000))), task.deadline);
    let devices = done(d.poll(task.deadline)).unwrap();
    assert_eq!(devices[0].igd_status, IgdStatus::HttpError);
    assert!(
        devices[0]
            .status_detail
            .as_deref()
            .unwrap()
            .contains("did not end")
    );
    // A probe that comes back after it was given up changes nothing.
    d.probed(task.id, gateway(&task, "11.0.0.7"));
    let devices = done(d.poll(task.deadline + ms(1))).unwrap();
    assert!(!devices[0].is_valid_gateway());
}

#[test]
fn nothing_answered_is_no_devices_and_a_failed_socket_says_so() {
    let t0 = Instant::now();
    let limits = Limits::default();
    let mut d = Discovery::new(Goal::Every, &DiscoverOptions::default(), &limits, t0).unwrap();
    assert!(matches!(done(d.poll(t0 + ms(2000))), Err(Error::NoDevices)));
    let mut d = Discovery::new(Goal::Every, &DiscoverOptions::default(), &limits, t0).unwrap();
    d.search_failed(upnp_ssdp::Error::NoTargets);
    assert!(matches!(done(d.poll(t0)), Err(Error::Discovery(_))));
}

#[test]
fn answers_are_filtered_deduplicated_and_capped_per_host_and_in_all() {
    let t0 = Instant::now();
    let limits = Limits::default();
    let mut d = Discovery::new(Goal::Every, &DiscoverOptions::default(), &limits, t0).unwrap();
    assert_eq!(
        d.response(
            &answer(
                "192.168.1.5:1900",
                "http://192.168.1.5/d.xml",
                "upnp:rootdevice"
            ),
            t0
        ),
        Err(Skipped::Filtered)
    );
    let flooder = "192.168.1.66:1900";
    let taken = (0..600)
        .filter(|i| {
            d.response(
                &answer(flooder, &format!("http://192.168.1.66/{i}.xml"), IGD2),
                t0,
            )
            .is_ok()
        })
        .count();
    assert_eq!(taken, limits.devices_per_host);
    assert_eq!(
        d.response(&answer(flooder, "http://192.168.1.66/0.xml", IGD2), t0),
        Err(Skipped::Known)
    );
    // The router is still heard, and probed first among what is queued: its host has
    // nothing in flight.
    d.response(
        &answer(
            "192.168.1.1:1900",
            "http://192.168.1.1:5000/rootDesc.xml",
            IGD2,
        ),
        t0,
    )
    .unwrap();
    let first = probe_task(d.poll(t0));
    assert!(
        first
            .probe
            .device()
            .description_url
            .contains("192.168.1.66")
    );
    let second = probe_task(d.poll(t0));
    assert!(
        second
            .probe
            .device()
            .description_url
            .contains("192.168.1.1:5000")
    );
    // Many hosts: at most `devices` in all.
    for i in 0..100u8 {
        let _ = d.response(
            &answer(
                &format!("10.0.0.{i}:1900"),
                &format!("http://10.0.0.{i}/d.xml"),
                IGD2,
            ),
            t0,
        );
    }
    let mut probes = 2;
    while let DiscoveryStep::Probe(_) = d.poll(t0) {
        probes += 1;
    }
    assert_eq!(probes, limits.parallel_probes);
    let devices = done(d.poll(d.deadline())).unwrap();
    assert_eq!(devices.len(), limits.devices);
    // After the search, answers are late.
    assert_eq!(
        d.response(
            &answer("192.168.1.2:1900", "http://192.168.1.2/d.xml", IGD2),
            t0 + ms(2000)
        ),
        Err(Skipped::Late)
    );
}
