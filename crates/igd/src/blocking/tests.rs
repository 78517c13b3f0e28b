use super::*;
use crate::discover::DiscoverSettings;
use crate::error::IgdStatus;
use crate::error::UpnpResult;
use upnp_soap::http::Config;

fn device(url: &str, status: IgdStatus, external: Option<&str>) -> UpnpDevice {
    let client = Client::new(&Config::default());
    UpnpDevice::new(
        Device {
            igd_status: status,
            igd_control_url: format!("{url}/ctl"),
            igd_service_type: "urn:schemas-upnp-org:service:WANIPConnection:1".into(),
            igd_our_addr: "192.168.1.20".into(),
            external_address: external.map(|e| e.parse().unwrap()),
            ..Device::new(format!("{url}/desc.xml"), "")
        },
        client,
    )
}

#[test]
fn the_device_list_is_godots() {
    let mut upnp = Upnp::new();
    assert_eq!(upnp.settings, DiscoverSettings::default());
    assert_eq!(upnp.get_device_count(), 0);
    assert_eq!(
        upnp.get_gateway().unwrap_err().result(),
        UpnpResult::NoDevices
    );

    upnp.add_device(device("http://10.0.0.1", IgdStatus::Disconnected, None));
    upnp.add_device(device("http://10.0.0.2", IgdStatus::Ok, Some("10.9.9.9")));
    assert_eq!(upnp.get_device_count(), 2);
    assert_eq!(
        upnp.get_device(1).unwrap().description_url,
        "http://10.0.0.2/desc.xml"
    );
    assert!(upnp.get_device(2).is_none());
    // Behind another NAT, but valid: the gateway.
    assert_eq!(
        upnp.get_gateway().unwrap().description_url,
        "http://10.0.0.2/desc.xml"
    );

    // A public one replaces the first device: it becomes the gateway.
    upnp.set_device(
        0,
        device("http://10.0.0.3", IgdStatus::Ok, Some("11.0.0.7")),
    )
    .unwrap();
    assert_eq!(
        upnp.get_gateway().unwrap().description_url,
        "http://10.0.0.3/desc.xml"
    );
    let err = upnp
        .set_device(5, device("http://10.0.0.4", IgdStatus::Ok, None))
        .unwrap_err();
    assert_eq!(err.result(), UpnpResult::InvalidParam);

    let removed = upnp.remove_device(0).unwrap();
    assert_eq!(removed.description_url, "http://10.0.0.3/desc.xml");
    assert_eq!(
        upnp.remove_device(1).unwrap_err().result(),
        UpnpResult::InvalidParam
    );
    assert_eq!(upnp.get_device_count(), 1);

    upnp.clear_devices();
    assert_eq!(upnp.get_device_count(), 0);
}

#[test]
fn without_a_valid_gateway_every_call_says_why() {
    let mut upnp = Upnp::new();
    upnp.add_device(device("http://10.0.0.1", IgdStatus::Disconnected, None));
    upnp.add_device(device("http://10.0.0.2", IgdStatus::UnknownDevice, None));
    match upnp.get_gateway() {
        Err(Error::NoGateway(statuses)) => assert_eq!(
            statuses
                .iter()
                .map(|s| (s.description_url.as_str(), s.status))
                .collect::<Vec<_>>(),
            [
                ("http://10.0.0.1/desc.xml", IgdStatus::Disconnected),
                ("http://10.0.0.2/desc.xml", IgdStatus::UnknownDevice),
            ]
        ),
        other => panic!("{other:?}"),
    }
    let result = |e: Error| e.result();
    assert_eq!(
        result(upnp.query_external_address().unwrap_err()),
        UpnpResult::NoGateway
    );
    assert_eq!(
        result(
            upnp.add_port_mapping(&MappingRequest::new(7777))
                .unwrap_err()
        ),
        UpnpResult::NoGateway
    );
    assert_eq!(
        result(upnp.delete_port_mapping(7777, "UDP").unwrap_err()),
        UpnpResult::NoGateway
    );
    // The disconnected one is usable all the same: what find_gateway falls back to.
    let usable = upnp.usable_gateway().unwrap();
    assert_eq!(usable.description_url, "http://10.0.0.1/desc.xml");
    assert!(usable.is_usable() && !usable.is_valid_gateway());
    // On a device that is not usable: Godot's INVALID_GATEWAY, after argument validation.
    let device = upnp.get_device(1).unwrap();
    assert!(!device.is_valid_gateway() && !device.is_usable());
    assert_eq!(
        result(device.query_external_address().unwrap_err()),
        UpnpResult::InvalidGateway
    );
    assert_eq!(
        result(
            device
                .add_port_mapping(&MappingRequest::new(7777))
                .unwrap_err()
        ),
        UpnpResult::InvalidGateway
    );
    assert_eq!(
        result(
            device
                .add_port_mapping(&MappingRequest::new(0))
                .unwrap_err()
        ),
        UpnpResult::InvalidPort
    );
    assert_eq!(
        result(device.delete_port_mapping(7777, "SCTP").unwrap_err()),
        UpnpResult::InvalidProtocol
    );
    assert_eq!(
        result(device.delete_port_mapping(7777, "UDP").unwrap_err()),
        UpnpResult::InvalidGateway
    );
}

#[test]
fn discover_validates_before_searching() {
    let mut upnp = Upnp::new();
    let bad = |timeout, ttl| DiscoverOptions {
        timeout,
        ttl,
        ..DiscoverOptions::default()
    };
    assert_eq!(
        upnp.discover(&bad(-1, 2)).unwrap_err().result(),
        UpnpResult::InvalidParam
    );
    assert_eq!(
        upnp.discover(&bad(2000, -1)).unwrap_err().result(),
        UpnpResult::InvalidParam
    );
    assert_eq!(
        upnp.discover(&bad(2000, 256)).unwrap_err().result(),
        UpnpResult::InvalidParam
    );
    assert_eq!(DiscoverOptions::default().timeout, 2000);
    assert_eq!(DiscoverOptions::default().ttl, 2);
    assert_eq!(
        DiscoverOptions::default().device_filter,
        "InternetGatewayDevice"
    );
}

#[test]
fn an_error_listing_devices_is_bounded_and_escaped() {
    let mut upnp = Upnp::new();
    for i in 0..600 {
        upnp.add_device(device(
            &format!(
                "http://10.0.{}.{}\n\u{1b}[31madded UDP 7777",
                i / 256,
                i % 256
            ),
            IgdStatus::UnknownDevice,
            None,
        ));
    }
    let message = upnp.get_gateway().unwrap_err().to_string();
    assert!(message.len() < 4096, "{} bytes", message.len());
    assert!(message.contains("and 592 more"), "{message}");
    assert!(
        !message.contains('\n') && !message.contains('\u{1b}'),
        "{message}"
    );
}
