//! Any datagram from a STUN server: decode as the answer to our request; what decodes
//! re-encodes to the same answer.
#![no_main]

use upnp_igd::reach::{BindingAnswer, BindingRequest};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let request = BindingRequest::new([0x5a; 12]);
    if let Ok(answer) = request.answered(data) {
        assert_eq!(BindingAnswer::parse(&answer.encode()).ok(), Some(answer));
    }
    if let Ok(asked) = BindingRequest::parse(data) {
        assert_eq!(BindingRequest::parse(&asked.encode()).ok(), Some(asked));
    }
});
