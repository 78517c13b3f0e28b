//! Any datagram: decode; what decodes re-encodes to the same message.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(message) = ssdp::Message::parse(data) {
        if let Ok(encoded) = message.encode() {
            assert_eq!(ssdp::Message::parse(&encoded).ok(), Some(message));
        }
    }
});
