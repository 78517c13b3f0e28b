//! Any datagram: decode; what decodes re-encodes to the same message.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(message) = upnp_ssdp::Message::parse(data) {
        if let Ok(encoded) = message.encode() {
            assert_eq!(upnp_ssdp::Message::parse(&encoded).ok(), Some(message));
        }
    }
});
