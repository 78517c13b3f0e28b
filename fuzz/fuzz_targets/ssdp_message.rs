//! Any datagram: decode; what decodes re-encodes to the same message. And a watch of a
//! device fed the same bytes from the device's address never panics.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(message) = upnp_ssdp::Message::parse(data) {
        if let Ok(encoded) = message.encode() {
            assert_eq!(upnp_ssdp::Message::parse(&encoded).ok(), Some(message));
        }
    }
    let gateway = std::net::SocketAddr::from(([192, 168, 77, 1], 1900));
    let mut watch = upnp_ssdp::watch::Watch::new(gateway.ip(), "http://192.168.77.1:5000/d.xml");
    let now = std::time::Instant::now();
    let _ = watch.handle(gateway, data, now);
    let _ = watch.handle(gateway, data, now);
    let _ = watch.poll(now + upnp_ssdp::watch::MIN_INTERVAL);
});
