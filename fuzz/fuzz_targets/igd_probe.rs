#![no_main]
//! The device probe: any description, then any SOAP answers. It always ends, and a device it
//! calls valid has a control URL and a service type.

use upnp_igd::Device;
use upnp_igd::device::{Probe, ProbeStep};
use libfuzzer_sys::fuzz_target;
use upnp_soap::Reply;

fuzz_target!(|data: &[u8]| {
    // The description, then the answer to every call, split at the first NUL.
    let (description, answer) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let device = Device::new("http://192.168.1.1:5000/rootDesc.xml", "");
    let mut probe = Probe::new(device, Some("192.168.1.1".parse().unwrap()));
    let mut step = probe.start();
    for _ in 0..8 {
        step = match step {
            ProbeStep::Fetch(_) => probe.fetched(Ok(description.to_vec())),
            ProbeStep::Call(_, _) => probe.answered(match Reply::parse(answer) {
                Ok(Reply::Response(r)) => Ok(r),
                Ok(Reply::Fault(f)) => Err(upnp_soap::Error::Fault(f)),
                Err(e) => Err(e),
            }),
            ProbeStep::Done(device) => {
                if device.is_valid_gateway() {
                    assert!(!device.igd_control_url.is_empty());
                    assert!(!device.igd_service_type.is_empty());
                }
                return;
            }
            // A step this target does not know (the enum is non-exhaustive): stop here.
            _ => return,
        };
    }
    panic!("the probe did not end within 8 steps");
});
