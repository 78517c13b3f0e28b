//! Any datagram from the gateway's port: decode; what decodes re-encodes to the same message.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(response) = pcp_natpmp::Response::parse(data) {
        if let Ok(encoded) = response.encode() {
            assert_eq!(pcp_natpmp::Response::parse(&encoded).ok(), Some(response));
        }
    }
});
