use url::Url;

use super::*;
use crate::gateway::ConnectionKind;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn lab_location() -> Url {
    Url::parse("http://192.168.77.1:5000/rootDesc.xml").unwrap()
}

fn control(d: &DeviceDescription, from: &Url) -> ResolvedUrl {
    let gw = d.gateway().unwrap();
    let raw = gw
        .connection()
        .unwrap()
        .service
        .control_url
        .clone()
        .unwrap();
    d.resolve(&raw, from).unwrap()
}

#[test]
fn miniupnpd_igd_v2() {
    let d = DeviceDescription::parse(&fixture("miniupnpd-v2-rootDesc.xml")).unwrap();
    assert_eq!(d.spec_version, Some((1, 1)));
    assert_eq!(d.device.friendly_name.as_deref(), Some("igd-rs lab router"));
    assert_eq!(
        d.device.udn.as_deref(),
        Some("uuid:3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b")
    );
    let gw = d.gateway().unwrap();
    assert_eq!(gw.igd_version, 2);
    assert_eq!(gw.connections.len(), 1);
    let c = &gw.connections[0];
    assert_eq!((c.kind, c.version), (ConnectionKind::Ip, 2));
    assert!(c.device.is("WANConnectionDevice", 1));
    assert!(gw.common_interface.is_some());
    assert!(gw.ipv6_firewall.is_some());
    let url = control(&d, &lab_location());
    assert_eq!(url.url.as_str(), "http://192.168.77.1:5000/ctl/IPConn");
    assert!(!url.foreign_host);
}

#[test]
fn miniupnpd_igd_v1() {
    let d = DeviceDescription::parse(&fixture("miniupnpd-v1-rootDesc.xml")).unwrap();
    let gw = d.gateway().unwrap();
    assert_eq!(gw.igd_version, 1);
    let c = gw.connection().unwrap();
    assert_eq!((c.kind, c.version), (ConnectionKind::Ip, 1));
    assert_eq!(
        control(&d, &lab_location()).url.as_str(),
        "http://192.168.77.1:5000/ctl/IPConn"
    );
}

#[test]
fn ppp2_is_classified_by_type_not_by_url() {
    let d = DeviceDescription::parse(&fixture("quirk-ppp2-control-url-named-ip.xml")).unwrap();
    let c = d.gateway().unwrap().connections[0].clone();
    assert_eq!((c.kind, c.version), (ConnectionKind::Ppp, 2));
}

#[test]
fn prefixes_urlbase_and_a_service_outside_the_connection_device() {
    let d = DeviceDescription::parse(&fixture("quirk-prefixed-urlbase-service-outside-wcd.xml"))
        .unwrap();
    assert_eq!(d.url_base.as_deref(), Some("http://192.168.1.254:49152"));
    assert_eq!(
        d.device.device_type, "urn:schemas-upnp-org:device:InternetGatewayDevice:1",
        "values are trimmed"
    );
    let fetched = Url::parse("http://192.168.1.254:49152/desc.xml").unwrap();
    let url = control(&d, &fetched);
    assert_eq!(url.url.as_str(), "http://192.168.1.254:49152/ctl/ip");
    let gw = d.gateway().unwrap();
    assert!(gw.common_interface.is_some());
    assert!(gw.connection().unwrap().device.is("WANDevice", 1));
}

#[test]
fn two_connection_devices_in_document_order() {
    let d = DeviceDescription::parse(&fixture("quirk-two-wan-connection-devices.xml")).unwrap();
    let kinds: Vec<_> = d
        .gateway()
        .unwrap()
        .connections
        .iter()
        .map(|c| c.kind)
        .collect();
    assert_eq!(kinds, [ConnectionKind::Ppp, ConnectionKind::Ip]);
}

#[test]
fn tr064_connection_services_are_the_last_choice() {
    // Only the Broadband Forum's services (a DSL box): used, in document order.
    let d = DeviceDescription::parse(&fixture("quirk-tr064-dslforum-services-only.xml")).unwrap();
    let gw = d.gateway().unwrap();
    let types: Vec<_> = gw
        .connections
        .iter()
        .map(|c| c.service.service_type.as_str())
        .collect();
    assert_eq!(
        types,
        [
            "urn:dslforum-org:service:WANPPPConnection:1",
            "urn:dslforum-org:service:WANIPConnection:1"
        ]
    );
    assert_eq!(gw.connections[1].kind, ConnectionKind::Ip);
    // Beside the UPnP Forum's own: never chosen.
    let both = String::from_utf8(fixture("miniupnpd-v2-rootDesc.xml"))
        .unwrap()
        .replacen(
            "<serviceList>",
            "<serviceList><service><serviceType>urn:dslforum-org:service:WANIPConnection:1\
             </serviceType><serviceId>x</serviceId><controlURL>/tr064</controlURL>\
             <eventSubURL>/e</eventSubURL><SCPDURL>/s.xml</SCPDURL></service>",
            1,
        );
    let d = DeviceDescription::parse(both.as_bytes()).unwrap();
    assert!(
        d.gateway()
            .unwrap()
            .connections
            .iter()
            .all(|c| c.service.service_type.starts_with("urn:schemas-upnp-org:"))
    );
}

#[test]
fn foreign_hosts_are_flagged_and_https_refused() {
    let d = DeviceDescription::parse(&fixture("quirk-foreign-control-url.xml")).unwrap();
    let gw = d.gateway().unwrap();
    let from = Url::parse("http://192.168.1.1:80/desc.xml").unwrap();
    let first = gw.connections[0].service.control_url.as_deref().unwrap();
    let resolved = d.resolve(first, &from).unwrap();
    assert!(resolved.foreign_host);
    let second = gw.connections[1].service.control_url.as_deref().unwrap();
    assert!(matches!(d.resolve(second, &from), Err(Error::NotHttp(_))));
}

#[test]
fn no_igd_no_gateway() {
    let d = DeviceDescription::parse(&fixture("quirk-media-server-no-igd.xml")).unwrap();
    assert!(matches!(d.gateway(), Err(Error::NoGateway)));
    let only_wan_device = br#"<root><device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>
        <serviceList><service><serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType></service></serviceList>
        </device></root>"#;
    let d = DeviceDescription::parse(only_wan_device).unwrap();
    assert!(matches!(d.gateway(), Err(Error::NoConnectionService)));
}

#[test]
fn url_resolution() {
    let d = DeviceDescription::parse(&fixture("quirk-two-wan-connection-devices.xml")).unwrap();
    let from = Url::parse("http://10.0.0.1:1900/dir/desc.xml").unwrap();
    let r = |raw: &str| d.resolve(raw, &from).map(|u| u.url.to_string());
    assert_eq!(r("/ctl").unwrap(), "http://10.0.0.1:1900/ctl");
    assert_eq!(r("ctl").unwrap(), "http://10.0.0.1:1900/dir/ctl");
    assert_eq!(
        r("http://10.0.0.1:2000/x").unwrap(),
        "http://10.0.0.1:2000/x"
    );
    assert!(matches!(r("ftp://10.0.0.1/x"), Err(Error::NotHttp(_))));
    assert!(matches!(r("http://[::1"), Err(Error::InvalidUrl { .. })));
    // A URLBase that is not usable falls back to the URL the description came from.
    let mut bad_base = d.clone();
    bad_base.url_base = Some("not a url".into());
    assert_eq!(bad_base.base(&from), from);
    bad_base.url_base = Some("https://10.0.0.1/".into());
    assert_eq!(bad_base.base(&from), from);
}

#[test]
fn missing_and_malformed_are_typed() {
    let cases: &[(&[u8], &str)] = &[
        (b"<root></root>", "Missing"),
        (b"<root><device><friendlyName>x</friendlyName></device></root>", "Missing"),
        (b"<root><device><deviceType>t</deviceType><serviceList><service><controlURL>/c</controlURL></service></serviceList></device></root>", "Missing"),
        (b"<scpd/>", "UnexpectedRoot"),
        (b"<root><device>", "Malformed"),
        (b"", "Empty"),
    ];
    for (bytes, variant) in cases {
        let err = DeviceDescription::parse(bytes).unwrap_err();
        assert!(
            format!("{err:?}").starts_with(variant),
            "{}: expected {variant}, got {err:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    let Err(Error::Missing { path }) =
        DeviceDescription::parse(b"<root><device><deviceList><device/></deviceList><deviceType>t</deviceType></device></root>")
    else {
        panic!("expected Missing");
    };
    assert_eq!(path, "device/deviceList/device/deviceType");
}

#[test]
fn caps_on_devices_services_and_values() {
    let device = "<device><deviceType>t</deviceType></device>";
    let many_devices = format!(
        "<root><device><deviceType>t</deviceType><deviceList>{}</deviceList></device></root>",
        device.repeat(MAX_DEVICES)
    );
    assert!(matches!(
        DeviceDescription::parse(many_devices.as_bytes()),
        Err(Error::TooMany {
            what: "devices",
            ..
        })
    ));
    let service = "<service><serviceType>s</serviceType></service>";
    let many_services = format!(
        "<root><device><deviceType>t</deviceType><serviceList>{}</serviceList></device></root>",
        service.repeat(MAX_SERVICES + 1)
    );
    assert!(matches!(
        DeviceDescription::parse(many_services.as_bytes()),
        Err(Error::TooMany {
            what: "services",
            ..
        })
    ));
    let long = format!(
        "<root><device><deviceType>t</deviceType><friendlyName>{}</friendlyName></device></root>",
        "x".repeat(MAX_VALUE + 1)
    );
    assert!(matches!(
        DeviceDescription::parse(long.as_bytes()),
        Err(Error::ValueTooLong { .. })
    ));
}

#[test]
fn every_fixture_description_round_trips() {
    for name in [
        "miniupnpd-v1-rootDesc.xml",
        "miniupnpd-v2-rootDesc.xml",
        "quirk-ppp2-control-url-named-ip.xml",
        "quirk-prefixed-urlbase-service-outside-wcd.xml",
        "quirk-two-wan-connection-devices.xml",
        "quirk-foreign-control-url.xml",
        "quirk-media-server-no-igd.xml",
    ] {
        let d = DeviceDescription::parse(&fixture(name)).unwrap();
        assert_eq!(
            DeviceDescription::parse(d.encode().as_bytes()).unwrap(),
            d,
            "{name}"
        );
    }
}
