use std::net::Ipv6Addr;
use std::time::Duration;

use upnp_soap::firewall::{CheckPinholeWorking, DeletePinhole, PINHOLE_SERVICE};
use upnp_soap::{ErrorCode, SoapFault};

use super::*;

fn ip(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

#[test]
fn only_global_unicast_addresses_get_a_pinhole() {
    for global in ["2001:db8:77::10", "2a00:1450::1", "3fff::1"] {
        assert!(is_global_unicast(ip(global)), "{global}");
    }
    for local in [
        "fe80::1",
        "fd77::10",
        "fc00::1",
        "::1",
        "::",
        "ff02::1",
        "::ffff:192.168.1.2",
        "4000::1",
    ] {
        assert!(!is_global_unicast(ip(local)), "{local}");
        let refused = PinholeRequest::new(Protocol::Udp, 7777).action(Some(ip(local)));
        assert!(
            matches!(refused, Err(Error::NotGlobal(a)) if a == ip(local)),
            "{local}"
        );
    }
}

#[test]
fn a_lease_is_one_second_to_one_day() {
    let request = |s| PinholeRequest::new(Protocol::Tcp, 7777).lease(Duration::from_secs(s));
    let ours = Some(ip("2001:db8:77::10"));
    assert_eq!(request(1).action(ours).unwrap().lease_time, 1);
    assert_eq!(request(86_400).action(ours).unwrap().lease_time, 86_400);
    for bad in [0, 86_401, u64::from(u32::MAX) + 1] {
        assert!(
            matches!(request(bad).action(ours), Err(Error::PinholeLease(s)) if s == bad),
            "{bad}"
        );
    }
}

#[test]
fn the_client_named_wins_over_ours_and_none_at_all_is_an_error() {
    let request = PinholeRequest::new(Protocol::Udp, 7777).client(ip("2001:db8::5"));
    let add = request.action(Some(ip("2001:db8::10"))).unwrap();
    assert_eq!(add.internal_client, ip("2001:db8::5"));
    let add = PinholeRequest::new(Protocol::Udp, 7777)
        .remote(ip("2001:db8:1::1"), 4000)
        .action(Some(ip("2001:db8::10")))
        .unwrap();
    assert_eq!(add.internal_client, ip("2001:db8::10"));
    assert_eq!(
        (add.remote_host, add.remote_port),
        (Some(ip("2001:db8:1::1")), 4000)
    );
    assert!(matches!(
        PinholeRequest::new(Protocol::Udp, 7777).action(None),
        Err(Error::NoGlobalAddress)
    ));
    assert!(matches!(
        PinholeRequest::new(Protocol::Udp, 0).action(Some(ip("2001:db8::10"))),
        Err(Error::InvalidPort(0))
    ));
    let pinhole = Pinhole::opened(&add, 3);
    assert_eq!(pinhole.unique_id, 3);
    assert_eq!(pinhole.lease, Duration::from_secs(3600));
}

#[test]
fn the_services_faults_are_named_its_way() {
    let mut delete = FirewallCall::new(DeletePinhole { unique_id: 4 }, PINHOLE_SERVICE);
    assert!(matches!(delete.start(), Next::Call(r) if r.action == "DeletePinhole"));
    let fault = SoapFault::new(ErrorCode::from(704), "NoSuchEntry");
    let done = delete.handle(Err(upnp_soap::Error::Fault(fault)));
    assert!(
        matches!(
            &done,
            Next::Done(Err(Error::FirewallRefused {
                error: FirewallError::NoSuchEntry,
                ..
            }))
        ),
        "{done:?}"
    );
    // A code of no meaning to this service stays a plain fault.
    let mut check = FirewallCall::new(CheckPinholeWorking { unique_id: 4 }, PINHOLE_SERVICE);
    check.start();
    let fault = SoapFault::new(ErrorCode::from(501), "Action Failed");
    assert!(matches!(
        check.handle(Err(upnp_soap::Error::Fault(fault))),
        Next::Done(Err(Error::Soap(upnp_soap::Error::Fault(_))))
    ));
    let error = refused(Error::Soap(upnp_soap::Error::Fault(SoapFault::new(
        ErrorCode::from(606),
        "",
    ))));
    assert_eq!(error.result(), crate::UpnpResult::NotAuthorized);
}
