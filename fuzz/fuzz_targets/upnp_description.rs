//! Any bytes as a device description: parse, select the gateway, resolve its URLs; what
//! parses re-encodes to the same description.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(description) = upnp_desc::DeviceDescription::parse(data) {
        let again = upnp_desc::DeviceDescription::parse(description.encode().as_bytes());
        assert_eq!(again.ok().as_ref(), Some(&description));
        if let Ok(gateway) = description.gateway() {
            let from = url::Url::parse("http://192.168.1.1:5000/rootDesc.xml").unwrap();
            for c in &gateway.connections {
                let _ = description.resolve(c.service.control_url.as_deref().unwrap_or(""), &from);
            }
        }
    }
});
