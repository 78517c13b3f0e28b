#![no_main]
//! GetListOfPortMappings listings: any bytes parse or fail cleanly; what parses re-encodes to
//! the same mappings.

use libfuzzer_sys::fuzz_target;
use upnp_soap::port_list;

fuzz_target!(|data: &[u8]| {
    if let Ok(mappings) = port_list::parse(data) {
        let encoded = port_list::encode(&mappings).expect("parsed values encode");
        let again = port_list::parse(encoded.as_bytes()).expect("our own encoding parses");
        assert_eq!(again, mappings);
    }
});
