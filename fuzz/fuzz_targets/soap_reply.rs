#![no_main]
//! SOAP responses and faults: any bytes parse or fail cleanly; what parses re-encodes to the
//! same values.

use libfuzzer_sys::fuzz_target;
use upnp_soap::Reply;

fuzz_target!(|data: &[u8]| {
    if let Ok(reply) = Reply::parse(data) {
        if let Ok(encoded) = reply.encode() {
            let again = Reply::parse(encoded.as_bytes()).expect("our own encoding parses");
            assert_eq!(again, reply);
        }
    }
});
