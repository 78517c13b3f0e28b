use proptest::prelude::*;

use super::*;

/// A value as routers write them: no surrounding white space (decoding trims it), and
/// characters XML must escape.
fn value() -> impl Strategy<Value = String> {
    "[A-Za-z0-9<>&\"'é:/._-]([A-Za-z0-9 <>&\"'é:/._-]{0,30}[A-Za-z0-9<>&\"'é:/._-])?"
}

fn service() -> impl Strategy<Value = Service> {
    (
        value(),
        proptest::option::of(value()),
        proptest::option::of(value()),
        proptest::option::of(value()),
        proptest::option::of(value()),
    )
        .prop_map(
            |(service_type, service_id, scpd_url, control_url, event_sub_url)| Service {
                service_type,
                service_id,
                scpd_url,
                control_url,
                event_sub_url,
            },
        )
}

fn leaf_device() -> impl Strategy<Value = Device> {
    (
        value(),
        proptest::collection::vec(proptest::option::of(value()), 7),
        proptest::collection::vec(service(), 0..3),
    )
        .prop_map(|(device_type, f, services)| Device {
            device_type,
            friendly_name: f[0].clone(),
            manufacturer: f[1].clone(),
            model_name: f[2].clone(),
            model_number: f[3].clone(),
            serial_number: f[4].clone(),
            udn: f[5].clone(),
            presentation_url: f[6].clone(),
            services,
            devices: Vec::new(),
        })
}

fn device() -> impl Strategy<Value = Device> {
    leaf_device().prop_recursive(3, 16, 3, |inner| {
        (leaf_device(), proptest::collection::vec(inner, 0..3)).prop_map(|(mut d, devices)| {
            d.devices = devices;
            d
        })
    })
}

fn device_description() -> impl Strategy<Value = DeviceDescription> {
    (
        proptest::option::of((0u32..10, 0u32..10)),
        proptest::option::of(value()),
        device(),
    )
        .prop_map(|(spec_version, url_base, device)| DeviceDescription {
            spec_version,
            url_base,
            device,
        })
}

proptest! {
    #[test]
    fn device_description_round_trips(d in device_description()) {
        let xml = d.encode();
        prop_assert_eq!(DeviceDescription::parse(xml.as_bytes()).unwrap(), d);
    }

    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = DeviceDescription::parse(&bytes);
    }

    #[test]
    fn parse_never_panics_on_near_descriptions(
        parts in proptest::collection::vec(prop_oneof![
            Just("<root>"), Just("</root>"), Just("<device>"), Just("</device>"),
            Just("<deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>"),
            Just("<deviceList>"), Just("</deviceList>"), Just("<serviceList>"),
            Just("</serviceList>"), Just("<service>"), Just("</service>"),
            Just("<serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>"),
            Just("<controlURL>/c</controlURL>"), Just("<URLBase>http://a/</URLBase>"),
            Just("<!-- c -->"), Just("<![CDATA[x]]>"), Just("&amp;"), Just("<a:"), Just("x"),
        ], 0..40),
    ) {
        let doc = parts.concat();
        if let Ok(d) = DeviceDescription::parse(doc.as_bytes()) {
            let _ = d.gateway();
            let from = url::Url::parse("http://192.168.1.1/d.xml").unwrap();
            if let Ok(g) = d.gateway() {
                for c in &g.connections {
                    let _ = d.resolve(c.service.control_url.as_deref().unwrap_or(""), &from);
                }
            }
        }
    }
}
