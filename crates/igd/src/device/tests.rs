use upnp_soap::{ActionResponse, Reply};

use super::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn response(name: &str) -> Result<ActionResponse, upnp_soap::Error> {
    match Reply::parse(&fixture(name)).unwrap() {
        Reply::Response(r) => Ok(r),
        Reply::Fault(f) => Err(upnp_soap::Error::Fault(f)),
    }
}

fn external(ip: &str) -> Result<ActionResponse, upnp_soap::Error> {
    Ok(ActionResponse {
        service_type: None,
        action: "GetExternalIPAddress".into(),
        arguments: vec![("NewExternalIPAddress".into(), ip.into())],
    })
}

fn status(value: &str) -> Result<ActionResponse, upnp_soap::Error> {
    Ok(ActionResponse {
        service_type: None,
        action: "GetStatusInfo".into(),
        arguments: vec![("NewConnectionStatus".into(), value.into())],
    })
}

const LOCATION: &str = "http://192.168.77.1:5000/rootDesc.xml";

fn probe_of(location: &str) -> Probe {
    Probe::new(
        Device::new(
            location,
            "urn:schemas-upnp-org:device:InternetGatewayDevice:2",
        ),
        Some("192.168.77.1".parse().unwrap()),
    )
}

fn fetch(step: ProbeStep) -> Url {
    match step {
        ProbeStep::Fetch(url) => url,
        other => panic!("expected a fetch, got {other:?}"),
    }
}

fn call(step: ProbeStep) -> (Url, ActionRequest) {
    match step {
        ProbeStep::Call(url, request) => (url, request),
        other => panic!("expected a call, got {other:?}"),
    }
}

fn done(step: ProbeStep) -> Device {
    match step {
        ProbeStep::Done(device) => *device,
        other => panic!("expected the end, got {other:?}"),
    }
}

#[test]
fn miniupnpd_is_a_valid_gateway_with_its_own_control_url() {
    let mut probe = probe_of(LOCATION);
    assert_eq!(fetch(probe.start()).as_str(), LOCATION);
    let (url, request) = call(probe.fetched(Ok(fixture("miniupnpd-v2-rootDesc.xml"))));
    assert_eq!(url.as_str(), "http://192.168.77.1:5000/ctl/IPConn");
    assert_eq!(request.action, "GetStatusInfo");
    assert_eq!(
        request.service_type,
        "urn:schemas-upnp-org:service:WANIPConnection:2"
    );
    let (_, request) = call(probe.answered(response("miniupnpd-2.3.1-v2-GetStatusInfo.xml")));
    assert_eq!(request.action, "GetExternalIPAddress");
    let device = done(probe.answered(response("miniupnpd-2.3.1-v2-GetExternalIPAddress.xml")));
    assert_eq!(device.igd_status, IgdStatus::Ok);
    assert!(device.is_valid_gateway());
    assert_eq!(device.igd_version, Some(2));
    assert_eq!(device.external_address, Some("11.0.0.7".parse().unwrap()));
    assert_eq!(device.is_behind_nat(), Some(false));
    assert_eq!(device.status_detail, None);
    assert_eq!(device.friendly_name.as_deref(), Some("igd-rs lab router"));
    let firewall = device
        .ipv6_firewall
        .expect("miniupnpd's v2 offers pinholes");
    assert_eq!(firewall.control_url, "http://192.168.77.1:5000/ctl/IP6FCtl");
    assert_eq!(
        firewall.service_type,
        "urn:schemas-upnp-org:service:WANIPv6FirewallControl:1"
    );
}

#[test]
fn a_double_nat_gateway_is_valid_and_says_so() {
    for private in ["192.168.1.20", "10.1.2.3", "100.64.0.9", "172.16.0.1"] {
        let mut probe = probe_of(LOCATION);
        probe.start();
        call(probe.fetched(Ok(fixture("miniupnpd-v2-rootDesc.xml"))));
        call(probe.answered(status("Connected")));
        let device = done(probe.answered(external(private)));
        assert!(device.is_valid_gateway(), "{private}");
        assert_eq!(device.is_behind_nat(), Some(true));
        assert!(device.status_detail.unwrap().contains("not public"));
    }
}

#[test]
fn what_is_wrong_with_a_device_is_its_status() {
    // Not connected.
    let mut probe = probe_of(LOCATION);
    probe.start();
    call(probe.fetched(Ok(fixture("miniupnpd-v2-rootDesc.xml"))));
    let (_, request) = call(probe.answered(status("Disconnected")));
    assert_eq!(request.action, "GetExternalIPAddress");
    let device = done(probe.answered(external("11.0.0.7")));
    assert_eq!(device.igd_status, IgdStatus::Disconnected);
    assert!(!device.is_valid_gateway());
    // The description cannot be fetched, or is empty.
    let mut probe = probe_of(LOCATION);
    probe.start();
    let device = done(probe.fetched(Err(upnp_soap::Error::Status { status: 404 })));
    assert_eq!(device.igd_status, IgdStatus::HttpError);
    let mut probe = probe_of(LOCATION);
    probe.start();
    assert_eq!(
        done(probe.fetched(Ok(b"  \r\n".to_vec()))).igd_status,
        IgdStatus::HttpEmpty
    );
    // Not a gateway, or not XML.
    for body in [
        fixture("quirk-media-server-no-igd.xml"),
        b"<html>router login</html>".to_vec(),
    ] {
        let mut probe = probe_of(LOCATION);
        probe.start();
        assert_eq!(
            done(probe.fetched(Ok(body))).igd_status,
            IgdStatus::UnknownDevice
        );
    }
    // Control URLs on a foreign host or not http: refused.
    let mut probe = probe_of("http://192.168.1.1/desc.xml");
    probe.start();
    let device = done(probe.fetched(Ok(fixture("quirk-foreign-control-url.xml"))));
    assert_eq!(device.igd_status, IgdStatus::InvalidControl);
    // GetStatusInfo fails.
    let mut probe = probe_of(LOCATION);
    probe.start();
    call(probe.fetched(Ok(fixture("miniupnpd-v2-rootDesc.xml"))));
    let device = done(probe.answered(Err(timeout())));
    assert_eq!(device.igd_status, IgdStatus::InvalidControl);
    assert!(!device.is_usable());
    // A description URL we refuse to contact.
    for location in [
        "http://127.0.0.1:5000/rootDesc.xml",
        "http://[fe80::9]/d.xml",
        "not a url",
    ] {
        let mut probe = probe_of(location);
        assert_eq!(
            done(probe.start()).igd_status,
            IgdStatus::HttpError,
            "{location}"
        );
    }
}

#[test]
fn a_disconnected_first_connection_falls_over_to_the_next() {
    let mut probe = probe_of("http://192.168.1.1:80/desc.xml");
    probe.start();
    let (first, _) = call(probe.fetched(Ok(fixture("quirk-two-wan-connection-devices.xml"))));
    let (second, request) = call(probe.answered(status("Disconnected")));
    assert_ne!(first, second);
    assert_eq!(request.action, "GetStatusInfo");
    call(probe.answered(status("Up")));
    let device = done(probe.answered(external("203.0.113.7")));
    assert_eq!(device.igd_status, IgdStatus::Ok);
    assert_eq!(device.igd_control_url, second.as_str());
}

fn device(status: IgdStatus, external: Option<&str>) -> Device {
    Device {
        igd_status: status,
        igd_control_url: "http://192.168.1.1/ctl".into(),
        igd_service_type: "urn:schemas-upnp-org:service:WANIPConnection:1".into(),
        external_address: external.map(|e| e.parse().unwrap()),
        ..Device::new("http://192.168.1.1/d.xml", "")
    }
}

#[test]
fn the_best_gateway_is_public_then_behind_nat_then_the_rest() {
    let devices = [
        device(IgdStatus::Disconnected, Some("11.0.0.1")),
        device(IgdStatus::Ok, None),
        device(IgdStatus::Ok, Some("10.0.0.2")),
        device(IgdStatus::Ok, Some("198.51.100.20")),
        device(IgdStatus::Ok, Some("11.0.0.9")),
    ];
    // 198.51.100.0/24 is documentation space: not public.
    assert_eq!(devices[3].is_behind_nat(), Some(true));
    assert_eq!(best_gateway(&devices), Some(4));
    assert_eq!(best_gateway(&devices[..4]), Some(2));
    assert_eq!(best_gateway(&devices[..2]), Some(1));
    assert_eq!(best_gateway(&devices[..1]), None);
    assert_eq!(best_gateway(&[]), None);
}

/// An exchange that timed out waiting for the answer.
fn timeout() -> upnp_soap::Error {
    upnp_soap::Error::Timeout {
        after: std::time::Duration::from_secs(10),
        stage: upnp_soap::Stage::ReadingHead,
    }
}

#[test]
fn a_location_on_another_host_than_the_responder_is_never_fetched() {
    for location in [
        "http://192.168.77.2:5000/rootDesc.xml",
        "http://192.168.77.1.nip.io:5000/rootDesc.xml",
        "http://11.0.0.1/admin",
    ] {
        let mut probe = probe_of(location);
        let device = done(probe.start());
        assert_eq!(device.igd_status, IgdStatus::HttpError, "{location}");
        let detail = device.status_detail.unwrap_or_default();
        assert!(detail.contains("answer"), "{location}: {detail}");
    }
    // The user's own URL (no responder) may name any host.
    let mut probe = Probe::new(Device::new("http://router.lan:5000/rootDesc.xml", ""), None);
    assert_eq!(
        fetch(probe.start()).as_str(),
        "http://router.lan:5000/rootDesc.xml"
    );
}

#[test]
fn a_public_connection_is_preferred_to_one_behind_another_nat() {
    let mut probe = probe_of("http://192.168.1.1:80/desc.xml");
    probe.start();
    let (first, _) = call(probe.fetched(Ok(fixture("quirk-two-wan-connection-devices.xml"))));
    call(probe.answered(status("Connected")));
    // The first connection is behind a CGNAT: the second is asked too.
    let (second, request) = call(probe.answered(external("100.64.3.4")));
    assert_eq!(request.action, "GetStatusInfo");
    assert_ne!(first, second);
    call(probe.answered(status("Connected")));
    let device = done(probe.answered(external("11.0.0.7")));
    assert_eq!(device.igd_status, IgdStatus::Ok);
    assert_eq!(device.igd_control_url, second.as_str());
    assert_eq!(device.external_address, Some("11.0.0.7".parse().unwrap()));
    assert_eq!(device.status_detail, None);

    // When the other one is not better (disconnected here), the first one is kept.
    let mut probe = probe_of("http://192.168.1.1:80/desc.xml");
    probe.start();
    let (first, _) = call(probe.fetched(Ok(fixture("quirk-two-wan-connection-devices.xml"))));
    call(probe.answered(status("Connected")));
    call(probe.answered(external("100.64.3.4")));
    let device = done(probe.answered(status("Disconnected")));
    assert_eq!(device.igd_status, IgdStatus::Ok);
    assert_eq!(device.igd_control_url, first.as_str());
    assert_eq!(device.is_behind_nat(), Some(true));
}

#[test]
fn a_description_with_hundreds_of_services_is_tried_a_few_times_at_most() {
    let service = |i: usize| {
        format!(
            "<service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>\
             <serviceId>urn:upnp-org:serviceId:WANIPConn{i}</serviceId>\
             <controlURL>/ctl/{i}</controlURL><eventSubURL>/evt</eventSubURL><SCPDURL>/scpd.xml</SCPDURL></service>"
        )
    };
    let services: String = (0..256).map(service).collect();
    let description = format!(
        "<?xml version=\"1.0\"?><root xmlns=\"urn:schemas-upnp-org:device-1-0\">\
         <specVersion><major>1</major><minor>0</minor></specVersion><device>\
         <deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>\
         <friendlyName>tarpit</friendlyName><UDN>uuid:1</UDN><deviceList><device>\
         <deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType><UDN>uuid:2</UDN>\
         <deviceList><device>\
         <deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType><UDN>uuid:3</UDN>\
         <serviceList>{services}</serviceList></device></deviceList></device></deviceList>\
         </device></root>"
    );
    let mut probe = probe_of("http://192.168.77.1:5000/rootDesc.xml");
    probe.start();
    let mut step = probe.fetched(Ok(description.into_bytes()));
    let mut calls = 0;
    while let ProbeStep::Call(..) = step {
        calls += 1;
        step = probe.answered(Err(timeout()));
    }
    let device = done(step);
    assert_eq!(calls, MAX_CONNECTIONS);
    assert_eq!(device.igd_status, IgdStatus::InvalidControl);
}

/// The gateway a full probe of miniupnpd finds, as a program would save it.
fn found_before() -> Device {
    let mut probe = probe_of(LOCATION);
    fetch(probe.start());
    call(probe.fetched(Ok(fixture("miniupnpd-v2-rootDesc.xml"))));
    call(probe.answered(response("miniupnpd-2.3.1-v2-GetStatusInfo.xml")));
    let mut device = done(probe.answered(response("miniupnpd-2.3.1-v2-GetExternalIPAddress.xml")));
    device.igd_our_addr = "192.168.77.10".into();
    device
}

#[test]
fn a_saved_gateway_is_valid_again_after_one_exchange() {
    let saved = found_before();
    let mut probe = Probe::revalidate(saved.clone());
    let (url, request) = call(probe.start());
    assert_eq!(url.as_str(), saved.igd_control_url);
    assert_eq!(request.action, "GetExternalIPAddress");
    assert_eq!(request.service_type, saved.igd_service_type);
    let device = done(probe.answered(external("11.0.0.9")));
    assert!(device.is_valid_gateway());
    assert_eq!(device.external_address, Some("11.0.0.9".parse().unwrap()));
    assert_eq!(device.friendly_name, saved.friendly_name);
    assert_eq!(device.ipv6_firewall, saved.ipv6_firewall);
    // What the driver fills in is not taken from the file.
    assert_eq!(device.igd_our_addr, "");
}

#[test]
fn a_saved_gateway_that_does_not_answer_with_an_address_is_not_valid() {
    for answer in [external(""), Err(timeout()), status("Connected")] {
        let mut probe = Probe::revalidate(found_before());
        call(probe.start());
        let device = done(probe.answered(answer));
        assert!(!device.is_valid_gateway(), "{device:?}");
        assert!(device.status_detail.is_some());
    }
}

#[test]
fn a_tampered_save_is_refused_before_anything_is_sent() {
    type Tamper = fn(&mut Device);
    let cases: [(&str, Tamper); 6] = [
        ("control URL on another host", |d| {
            d.igd_control_url = "http://192.168.77.99:5000/ctl/IPConn".into();
        }),
        ("control URL on another port", |d| {
            d.igd_control_url = "http://192.168.77.1:22/ctl/IPConn".into();
        }),
        ("loopback description", |d| {
            d.description_url = "http://127.0.0.1:5000/rootDesc.xml".into();
            d.igd_control_url = "http://127.0.0.1:5000/ctl/IPConn".into();
        }),
        ("not http", |d| {
            d.description_url = "file:///etc/passwd".into();
        }),
        ("not a connection service", |d| {
            d.igd_service_type = "urn:schemas-upnp-org:service:Layer3Forwarding:1".into();
        }),
        ("garbage", |d| {
            d.igd_control_url = "\u{202e}not a url".into()
        }),
    ];
    for (case, tamper) in cases {
        let mut saved = found_before();
        tamper(&mut saved);
        let device = done(Probe::revalidate(saved).start());
        assert!(!device.is_valid_gateway(), "{case}");
    }
    // A firewall service elsewhere is dropped; the gateway itself stays usable.
    let mut saved = found_before();
    if let Some(firewall) = saved.ipv6_firewall.as_mut() {
        firewall.control_url = "http://10.9.9.9/ctl/IP6FCtl".into();
    }
    let mut probe = Probe::revalidate(saved);
    call(probe.start());
    let device = done(probe.answered(external("11.0.0.7")));
    assert!(device.is_valid_gateway());
    assert_eq!(device.ipv6_firewall, None);
}

#[cfg(feature = "serde")]
#[test]
fn a_device_written_and_read_back_is_the_same_and_revalidates() {
    let saved = found_before();
    let text = serde_json::to_string(&saved).unwrap();
    let read: Device = serde_json::from_str(&text).unwrap();
    assert_eq!(read, saved);
    let mut probe = Probe::revalidate(read);
    assert_eq!(call(probe.start()).0.as_str(), saved.igd_control_url);
    // A file with fields missing or of the wrong type does not read.
    assert!(serde_json::from_str::<Device>(r#"{"description_url": 7}"#).is_err());
}

#[test]
fn a_gateway_that_says_disconnected_or_faults_its_status_is_usable_when_nothing_is_valid() {
    let fault = || {
        Err(upnp_soap::Error::Fault(upnp_soap::SoapFault::new(
            upnp_soap::ErrorCode::from(501),
            "Action Failed",
        )))
    };
    // Disconnected (TP-Link Archer C54): usable, with the address it gives.
    let mut probe = probe_of(LOCATION);
    probe.start();
    call(probe.fetched(Ok(fixture("miniupnpd-v2-rootDesc.xml"))));
    let (url, request) = call(probe.answered(status("Disconnected")));
    assert_eq!(url.as_str(), "http://192.168.77.1:5000/ctl/IPConn");
    assert_eq!(request.action, "GetExternalIPAddress");
    let device = done(probe.answered(external("11.0.0.7")));
    assert_eq!(
        (
            device.igd_status,
            device.is_usable(),
            device.is_valid_gateway()
        ),
        (IgdStatus::Disconnected, true, false)
    );
    assert_eq!(device.external_address, Some("11.0.0.7".parse().unwrap()));
    assert_eq!(
        device.igd_control_url,
        "http://192.168.77.1:5000/ctl/IPConn"
    );
    let detail = device.status_detail.clone().unwrap();
    assert!(detail.contains("Disconnected"), "{detail}");
    assert!(detail.contains("used when no gateway is valid"), "{detail}");
    // GetStatusInfo faults: status unknown, usable; the address faults too: still usable.
    let mut probe = probe_of(LOCATION);
    probe.start();
    call(probe.fetched(Ok(fixture("miniupnpd-v2-rootDesc.xml"))));
    call(probe.answered(fault()));
    let device = done(probe.answered(fault()));
    assert_eq!(device.igd_status, IgdStatus::InvalidControl);
    assert!(device.is_usable());
    assert_eq!(device.external_address, None);
    // The address asked times out: nothing there to use.
    let mut probe = probe_of(LOCATION);
    probe.start();
    call(probe.fetched(Ok(fixture("miniupnpd-v2-rootDesc.xml"))));
    call(probe.answered(status("Disconnected")));
    let device = done(probe.answered(Err(timeout())));
    assert!(!device.is_usable());
    assert!(device.igd_control_url.is_empty());
    // Ranked as miniupnpc does: valid first, then not connected, then status unknown.
    let mut connected = device.clone();
    connected.igd_control_url = "http://192.168.77.1:5000/ctl/IPConn".into();
    connected.igd_service_type = "urn:schemas-upnp-org:service:WANIPConnection:2".into();
    let with = |status| Device {
        igd_status: status,
        ..connected.clone()
    };
    let unknown = with(IgdStatus::InvalidControl);
    let down = with(IgdStatus::Disconnected);
    let valid = with(IgdStatus::Ok);
    let broken = with(IgdStatus::UnknownDevice);
    assert_eq!(best_usable([&broken, &unknown, &down]), Some(2));
    assert_eq!(best_usable([&unknown, &down, &valid]), Some(2));
    assert_eq!(best_usable([&unknown, &broken]), Some(0));
    assert_eq!(best_usable([&broken]), None);
    assert_eq!(best_gateway([&unknown, &down]), None);
}

#[test]
fn a_saved_gateway_that_was_only_usable_is_searched_for_again() {
    let mut saved = Device::new(LOCATION, "");
    saved.igd_control_url = "http://192.168.77.1:5000/ctl/IPConn".into();
    saved.igd_service_type = "urn:schemas-upnp-org:service:WANIPConnection:2".into();
    saved.igd_status = IgdStatus::Disconnected;
    let mut probe = Probe::revalidate(saved);
    let device = done(probe.start());
    assert!(!device.is_usable());
    assert!(device.status_detail.unwrap().contains("search again"));
}
