use std::net::Ipv4Addr;

use pcp_natpmp::{NatPmpResponse, PcpResponse};

use super::*;

fn us() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 168, 77, 10))
}

fn wan() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(11, 0, 0, 7))
}

fn mapping() -> PmpMapping {
    PmpMapping::new(Protocol::Udp, 7777, 3600, Nonce([3; 12]))
}

fn send<T: std::fmt::Debug>(next: PmpNext<T>) -> Request {
    match next {
        PmpNext::Send(request) => request,
        PmpNext::Done(result) => panic!("expected a request, got {result:?}"),
    }
}

fn done<T>(next: PmpNext<T>) -> Result<T, Error> {
    match next {
        PmpNext::Done(result) => result,
        PmpNext::Send(request) => panic!("expected the end, got {request:?}"),
    }
}

fn pcp_granted(request: &Request, port: u16) -> Response {
    let Request::Pcp(PcpRequest {
        op: pcp_natpmp::RequestOp::Map(map),
        lifetime,
        ..
    }) = request
    else {
        panic!("{request:?}")
    };
    let mut map = *map;
    map.external_port = port;
    map.external_address = wan();
    Response::Pcp(PcpResponse {
        result: PcpResult::Success,
        lifetime: *lifetime,
        epoch: 5,
        op: ResponseOp::Map(map),
        options: Vec::new(),
    })
}

fn version_zero() -> Response {
    Response::NatPmp(NatPmpResponse::Bare {
        opcode: 1,
        result: NatPmpResult::UnsupportedVersion,
        epoch: 1,
    })
}

#[test]
fn pcp_maps_with_the_nonce_and_reports_address_and_lifetime() {
    let mut add = PmpAdd::new(Way::Pcp { fallback: true }, us(), mapping());
    let request = send(add.start());
    let granted = done(add.handle(Ok(pcp_granted(&request, 7777)))).unwrap();
    assert_eq!(granted.method, Method::Pcp);
    assert_eq!(granted.external_port, 7777);
    assert_eq!(granted.external_ip, Some(wan()));
    assert_eq!(granted.lifetime, 3600);
}

#[test]
fn an_exact_port_is_asked_with_prefer_failure() {
    let mut add = PmpAdd::new(Way::Pcp { fallback: false }, us(), mapping().exact(true));
    let Request::Pcp(request) = send(add.start()) else {
        panic!()
    };
    assert_eq!(request.options, vec![pcp_natpmp::PcpOption::PreferFailure]);
}

#[test]
fn a_nat_pmp_only_gateway_gets_nat_pmp_then_its_address_is_asked() {
    let mut add = PmpAdd::new(Way::Pcp { fallback: true }, us(), mapping());
    send(add.start());
    let again = send(add.handle(Ok(version_zero())));
    assert_eq!(
        again,
        Request::NatPmp(NatPmpRequest::map(
            pcp_natpmp::Protocol::Udp,
            7777,
            7777,
            3600
        ))
    );
    let granted = Response::NatPmp(NatPmpResponse::Map {
        protocol: pcp_natpmp::Protocol::Udp,
        result: NatPmpResult::Success,
        epoch: 2,
        internal_port: 7777,
        external_port: 7778,
        lifetime: 3600,
    });
    assert_eq!(
        send(add.handle(Ok(granted))),
        Request::NatPmp(NatPmpRequest::ExternalAddress)
    );
    let address = Response::NatPmp(NatPmpResponse::ExternalAddress {
        result: NatPmpResult::Success,
        epoch: 2,
        address: Ipv4Addr::new(11, 0, 0, 7),
    });
    let granted = done(add.handle(Ok(address))).unwrap();
    assert_eq!(granted.method, Method::NatPmp);
    assert_eq!(
        (granted.external_port, granted.external_ip),
        (7778, Some(wan()))
    );
}

#[test]
fn pcp_demanded_of_a_nat_pmp_only_gateway_is_a_typed_error() {
    let mut add = PmpAdd::new(Way::Pcp { fallback: false }, us(), mapping());
    send(add.start());
    assert!(matches!(
        done(add.handle(Ok(version_zero()))),
        Err(Error::NotSpoken(Method::Pcp))
    ));
}

#[test]
fn nat_pmp_granting_another_port_than_demanded_gives_it_back() {
    let mut add = PmpAdd::new(Way::NatPmp, us(), mapping().exact(true));
    send(add.start());
    let granted = Response::NatPmp(NatPmpResponse::Map {
        protocol: pcp_natpmp::Protocol::Udp,
        result: NatPmpResult::Success,
        epoch: 2,
        internal_port: 7777,
        external_port: 7778,
        lifetime: 3600,
    });
    assert_eq!(
        send(add.handle(Ok(granted))),
        Request::NatPmp(NatPmpRequest::unmap(pcp_natpmp::Protocol::Udp, 7777))
    );
    let removed = Response::NatPmp(NatPmpResponse::Map {
        protocol: pcp_natpmp::Protocol::Udp,
        result: NatPmpResult::Success,
        epoch: 2,
        internal_port: 7777,
        external_port: 0,
        lifetime: 0,
    });
    assert!(matches!(
        done(add.handle(Ok(removed))),
        Err(Error::OtherPortGranted {
            asked: 7777,
            granted: 7778
        })
    ));
}

#[test]
fn refusals_and_silence_are_typed() {
    let mut add = PmpAdd::new(Way::Pcp { fallback: true }, us(), mapping());
    send(add.start());
    let refused = Response::Pcp(PcpResponse {
        result: PcpResult::NotAuthorized,
        lifetime: 30,
        epoch: 1,
        op: ResponseOp::Bare(1),
        options: Vec::new(),
    });
    let e = done(add.handle(Ok(refused))).unwrap_err();
    assert!(matches!(
        e,
        Error::PcpRefused {
            result: PcpResult::NotAuthorized,
            lifetime: 30
        }
    ));
    assert_eq!(e.result(), crate::UpnpResult::NotAuthorized);
    let mut add = PmpAdd::new(Way::NatPmp, us(), mapping());
    send(add.start());
    let gateway = SocketAddr::from((Ipv4Addr::new(192, 168, 77, 1), 5351));
    let e = done(add.handle(Err(pcp_natpmp::Error::TimedOut(gateway)))).unwrap_err();
    assert_eq!(e.result(), crate::UpnpResult::SocketError);
}

#[test]
fn pcp_external_address_maps_our_client_port_then_removes_it() {
    let client = SocketAddr::from((Ipv4Addr::new(192, 168, 77, 10), 40000));
    let mut external = PmpExternal::new(Way::Pcp { fallback: true }, client, Nonce([4; 12]));
    let ask = send(external.start());
    let remove = send(external.handle(Ok(pcp_granted(&ask, 40000))));
    let Request::Pcp(remove) = remove else {
        panic!()
    };
    assert_eq!(remove.lifetime, 0);
    let address = done(external.handle(Err(pcp_natpmp::Error::TimedOut(client)))).unwrap();
    assert_eq!((address.method, address.address), (Method::Pcp, wan()));
}

#[test]
fn pcp_deletes_with_the_nonce_and_nat_pmp_without() {
    let mut delete = PmpDelete::new(Way::Pcp { fallback: true }, us(), mapping());
    let Request::Pcp(request) = send(delete.start()) else {
        panic!()
    };
    assert_eq!(request.lifetime, 0);
    assert!(matches!(request.op, pcp_natpmp::RequestOp::Map(m) if m.nonce == Nonce([3; 12])));
    let again = send(delete.handle(Ok(version_zero())));
    assert_eq!(
        again,
        Request::NatPmp(NatPmpRequest::unmap(pcp_natpmp::Protocol::Udp, 7777))
    );
}

#[test]
fn a_derived_nonce_is_the_same_for_the_same_mapping_only() {
    let a = derived_nonce(us(), Protocol::Udp, 7777);
    assert_eq!(a, derived_nonce(us(), Protocol::Udp, 7777));
    assert_ne!(a, derived_nonce(us(), Protocol::Tcp, 7777));
    assert_ne!(a, derived_nonce(us(), Protocol::Udp, 7778));
    assert_ne!(a, derived_nonce(wan(), Protocol::Udp, 7777));
}

#[test]
fn upnp_is_preferred_then_pcp_then_nat_pmp() {
    assert!(matches!(
        prefer(Some(Ok(1)), Some(Ok(Method::Pcp))),
        Ok(Found::Upnp(1))
    ));
    assert!(matches!(
        prefer::<u8, Method>(Some(Err(Error::NoDevices)), Some(Ok(Method::NatPmp))),
        Ok(Found::Pmp(Method::NatPmp))
    ));
    assert!(matches!(
        prefer::<u8, Method>(
            Some(Err(Error::NoDevices)),
            Some(Err(Error::NotSpoken(Method::Pcp)))
        ),
        Err(Error::NoDevices)
    ));
    assert!(matches!(
        prefer::<u8, Method>(None, Some(Err(Error::NotSpoken(Method::Pcp)))),
        Err(Error::NotSpoken(Method::Pcp))
    ));
    assert_eq!("NatPMP".parse::<Via>().unwrap(), Via::NatPmp);
    assert!("smoke".parse::<Via>().is_err());
}

#[test]
fn a_target_is_the_gateway_named_else_the_default_of_the_family_asked() {
    let named: IpAddr = "2001:db8:77::1".parse().unwrap();
    assert_eq!(
        Target::named_or_default(Some(named), false),
        Target::At(SocketAddr::new(named, 5351))
    );
    assert_eq!(Target::named_or_default(None, false), Target::Default);
    assert_eq!(Target::named_or_default(None, true), Target::DefaultV6);
    assert_eq!(Target::from(None), Target::Default);
}

/// NAT-PMP is IPv4 only: from an IPv6 address a version-0 answer is an error, not a reason
/// to speak NAT-PMP.
#[test]
fn over_ipv6_pcp_does_not_fall_back_to_nat_pmp() {
    let ours: SocketAddr = "[2001:db8:77::10]:40000".parse().unwrap();
    let session = Session::new(Way::Pcp { fallback: true }, ours);
    assert_eq!(session.way(), Way::Pcp { fallback: false });
    let mut add = session.add(mapping());
    let Request::Pcp(request) = send(add.start()) else {
        panic!("PCP first")
    };
    assert_eq!(request.client, ours.ip());
    assert!(matches!(
        done(add.handle(Ok(version_zero()))),
        Err(Error::NotSpoken(Method::Pcp))
    ));
    let v4 = Session::new(Way::Pcp { fallback: true }, SocketAddr::new(us(), 40000));
    assert_eq!(v4.way(), Way::Pcp { fallback: true });
}
