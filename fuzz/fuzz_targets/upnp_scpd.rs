//! Any bytes as a service description; what parses re-encodes to the same SCPD.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(scpd) = upnp_desc::Scpd::parse(data) {
        let again = upnp_desc::Scpd::parse(scpd.encode().as_bytes());
        assert_eq!(again.ok().as_ref(), Some(&scpd));
    }
});
