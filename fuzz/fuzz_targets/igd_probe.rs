#![no_main]
//! The device probe, driven through the machine contract: any description, then any SOAP
//! answers. It always ends, and a device it calls valid has a control URL and a service type.

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use upnp_igd::machine::{Completed, Input, Machine, Output, Io};
use upnp_igd::{Limits, ops};
use upnp_soap::Reply;

fuzz_target!(|data: &[u8]| {
    // The description, then the answer to every call, split at the first NUL.
    let (description, answer) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let now = Instant::now();
    let mut probe = ops::ProbeRun::at("http://192.168.1.1:5000/rootDesc.xml", &Limits::default(), now);
    for _ in 0..16 {
        let (token, io) = match probe.poll(now) {
            Output::Start(token, io) => (token, io),
            Output::Done(device) => {
                let device = device.expect("a probe ends with a device");
                if device.is_valid_gateway() {
                    assert!(!device.igd_control_url.is_empty());
                    assert!(!device.igd_service_type.is_empty());
                }
                return;
            }
            other => panic!("a probe answered at once never waits: {other:?}"),
        };
        let done = match io {
            Io::Fetch { .. } => Completed::Fetched(Ok(description.to_vec())),
            Io::Call { .. } => Completed::Called(match Reply::parse(answer) {
                Ok(Reply::Response(r)) => Ok(r),
                Ok(Reply::Fault(f)) => Err(upnp_soap::Error::Fault(f)),
                Err(e) => Err(e),
            }),
            Io::Route(_) => Completed::Routed("192.168.1.10".parse().ok()),
            other => panic!("a probe asks for no {other:?}"),
        };
        probe.handle(Input::Completed(token, done), now);
    }
    panic!("the probe did not end within 16 steps");
});
