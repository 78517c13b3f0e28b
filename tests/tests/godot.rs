//! The `igd` facade against miniupnpd: Godot's example step by step, real forwarding from the
//! ISP side, cleanup, and every error Godot names.

use std::io::Read;
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::process::Command;
use std::time::Duration;

use lab_tests::Lab;
use upnp_igd::blocking::Upnp;
use upnp_igd::{DiscoverOptions, Error, IgdStatus, MappingRequest, UpnpResult};

#[test]
fn godots_example_forwards_real_traffic_and_cleans_up() {
    let lab = Lab::get();
    let mut upnp = Upnp::new();
    let found = upnp.discover(&DiscoverOptions::default()).unwrap();
    assert!(found >= 1);
    let gateway = upnp.get_gateway().unwrap();
    assert!(gateway.is_valid_gateway());
    assert_eq!(gateway.igd_status, IgdStatus::Ok);
    assert_eq!(gateway.description_url, lab.description_url());
    // The search target it answered (miniupnpd answers IGD:1 and IGD:2 searches alike).
    assert!(
        gateway
            .service_type
            .starts_with("urn:schemas-upnp-org:device:InternetGatewayDevice:"),
        "{}",
        gateway.service_type
    );
    assert_eq!(
        gateway.igd_control_url,
        format!("http://{}:{}/ctl/IPConn", lab.router_addr, lab.http_port)
    );
    assert_eq!(
        gateway.igd_service_type,
        format!(
            "urn:schemas-upnp-org:service:WANIPConnection:{}",
            lab.igd_version
        )
    );
    assert_eq!(gateway.igd_our_addr, lab.host_addr.to_string());
    assert_eq!(gateway.igd_version, Some(lab.igd_version));
    assert_eq!(gateway.is_behind_nat(), Some(false));
    assert_eq!(upnp.query_external_address().unwrap(), lab.wan_addr);

    // Before: nothing reaches the LAN host from the ISP side.
    let udp = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 7777)).unwrap();
    let tcp = TcpListener::bind((Ipv4Addr::UNSPECIFIED, 7777)).unwrap();
    assert!(!lab.udp_arrives(&udp, 7777, "before"));

    let udp_granted = upnp.add_port_mapping(&MappingRequest::new(7777)).unwrap();
    let tcp_granted = upnp
        .add_port_mapping(&MappingRequest::new(7777).proto("TCP").desc("igd-rs lab"))
        .unwrap();
    assert!(udp_granted.read_back && tcp_granted.read_back);
    assert_eq!(
        udp_granted.mapping.internal_client,
        lab.host_addr.to_string()
    );
    assert_eq!(tcp_granted.mapping.description, "igd-rs lab");
    // miniupnpd 2.3.1 turns a permanent request into a one-week lease; we report it. The
    // read-back gives what remains of it, a second less when a second boundary passed.
    let lease = udp_granted.mapping.lease_duration;
    assert!((604_790..=604_800).contains(&lease), "{lease}");

    let listed = lab.upnpc(&["-u", &lab.description_url(), "-l"]);
    assert!(listed.contains("UDP  7777->192.168.77.10:7777"), "{listed}");
    assert!(listed.contains("TCP  7777->192.168.77.10:7777"), "{listed}");
    assert!(lab.nft_rules().contains("dport 7777"));

    // The mappings really forward.
    assert!(
        lab.udp_arrives(&udp, 7777, "hello-udp"),
        "UDP did not arrive"
    );
    assert!(
        lab.tcp_arrives(&tcp, 7777, "hello-tcp"),
        "TCP did not arrive"
    );

    upnp.delete_port_mapping(7777, "UDP").unwrap();
    upnp.delete_port_mapping(7777, "TCP").unwrap();
    let listed = lab.upnpc(&["-u", &lab.description_url(), "-l"]);
    assert!(!listed.contains("7777->"), "{listed}");
    assert!(
        !lab.nft_rules().contains("dport 7777"),
        "{}",
        lab.nft_rules()
    );
    assert!(!lab.udp_arrives(&udp, 7777, "after"), "UDP still forwarded");
    assert!(!lab.tcp_arrives(&tcp, 7777, "after"), "TCP still forwarded");
}

#[test]
fn errors_have_godots_results() {
    let lab = Lab::get();
    let mut upnp = Upnp::new();
    // Before discovery there is no gateway.
    assert_eq!(
        upnp.get_gateway().unwrap_err().result(),
        UpnpResult::NoDevices
    );
    upnp.discover(&DiscoverOptions::default()).unwrap();
    let gateway = upnp.get_gateway().unwrap();

    let result = |r: Result<upnp_igd::Granted, Error>| r.unwrap_err().result();
    assert_eq!(
        result(gateway.add_port_mapping(&MappingRequest::new(0))),
        UpnpResult::InvalidPort
    );
    assert_eq!(
        result(gateway.add_port_mapping(&MappingRequest::new(65536))),
        UpnpResult::InvalidPort
    );
    assert_eq!(
        result(gateway.add_port_mapping(&MappingRequest::new(7000).port_internal(-5))),
        UpnpResult::InvalidPort
    );
    assert_eq!(
        result(gateway.add_port_mapping(&MappingRequest::new(7000).proto("udp"))),
        UpnpResult::InvalidProtocol
    );
    assert_eq!(
        result(gateway.add_port_mapping(&MappingRequest::new(7000).duration(-1))),
        UpnpResult::InvalidDuration
    );
    // miniupnpd's allow rule covers 1024-65535 only.
    let err = gateway
        .add_port_mapping(&MappingRequest::new(80).proto("TCP"))
        .unwrap_err();
    assert_eq!(err.result(), UpnpResult::NotAuthorized);
    assert_eq!(
        err.fault().and_then(|f| f.code()).map(|c| c.code()),
        Some(606)
    );
    // Deleting: validation, and a mapping that does not exist (miniupnpd itself answers such a
    // delete with success; we look first and say so).
    assert_eq!(
        gateway.delete_port_mapping(0, "UDP").unwrap_err().result(),
        UpnpResult::InvalidPort
    );
    assert_eq!(
        gateway.delete_port_mapping(1, "tcp").unwrap_err().result(),
        UpnpResult::InvalidProtocol
    );
    let err = gateway.delete_port_mapping(7399, "UDP").unwrap_err();
    assert_eq!(err.result(), UpnpResult::NoSuchEntryInArray);
    assert_eq!(
        err.fault().and_then(|f| f.code()).map(|c| c.code()),
        Some(714)
    );
    // Discovery errors.
    let bad = |timeout, ttl| DiscoverOptions::default().timeout(timeout).ttl(ttl);
    assert_eq!(
        upnp.discover(&bad(-1, 2)).unwrap_err().result(),
        UpnpResult::InvalidParam
    );
    assert_eq!(
        upnp.discover(&bad(500, 256)).unwrap_err().result(),
        UpnpResult::InvalidParam
    );
    // A filter nothing matches: no devices, said as such.
    let none = DiscoverOptions::new(600, 2, "NoSuchDevice");
    assert_eq!(
        upnp.discover(&none).unwrap_err().result(),
        UpnpResult::NoDevices
    );
    assert_eq!(upnp.get_device_count(), 0);
    // Not a gateway: a device at a URL that serves no description.
    let stray = upnp.device_at(&format!(
        "http://{}:{}/nothing.xml",
        lab.router_addr, lab.http_port
    ));
    assert_eq!(stray.igd_status, IgdStatus::HttpError);
    assert_eq!(
        stray
            .add_port_mapping(&MappingRequest::new(7000))
            .unwrap_err()
            .result(),
        UpnpResult::InvalidGateway
    );
    upnp.add_device(stray);
    match upnp.get_gateway() {
        Err(Error::NoGateway(statuses)) => assert_eq!(statuses[0].status, IgdStatus::HttpError),
        other => panic!("{other:?}"),
    }
}

/// POST `action` from `client`'s own address (miniupnpd's secure mode only lets a host map
/// ports to itself); the HTTP status line.
fn post_from(lab: &Lab, client: Ipv4Addr, action: &impl upnp_soap::Action) -> String {
    use std::io::Write;
    let service = format!(
        "urn:schemas-upnp-org:service:WANIPConnection:{}",
        lab.igd_version
    );
    let request = action.request(&service);
    let body = request.encode().unwrap();
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&std::net::SocketAddr::from((client, 0)).into())
        .unwrap();
    socket
        .connect(&std::net::SocketAddr::from((lab.router_addr, lab.http_port)).into())
        .unwrap();
    let mut stream: std::net::TcpStream = socket.into();
    write!(
        stream,
        "POST /ctl/IPConn HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: text/xml; charset=\"utf-8\"\r\n\
         SOAPAction: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        lab.router_addr,
        lab.http_port,
        request.soap_action().unwrap(),
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let _ = stream.read_to_string(&mut answer);
    answer.lines().next().unwrap_or_default().to_owned()
}

#[test]
fn a_port_held_by_another_client_is_left_alone() {
    let lab = Lab::get();
    // "Another client": a second address on the LAN host, mapping the port to itself.
    let other = Ipv4Addr::new(192, 168, 77, 11);
    let ip = |verb: &str| {
        Command::new("ip")
            .args(["addr", verb, "192.168.77.11/24", "dev", &lab.lan_if])
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap()
    };
    let _ = ip("del");
    assert!(ip("add").success());
    let mut mapping =
        upnp_soap::PortMapping::new(upnp_soap::Protocol::Udp, 7301, other.to_string(), 7301);
    mapping.description = "another client".into();
    let add = upnp_soap::actions::AddPortMapping(mapping);
    assert_eq!(post_from(&lab, other, &add), "HTTP/1.1 200 OK");

    let upnp = Upnp::new();
    let gateway = upnp.device_at(&lab.description_url());
    assert!(gateway.is_valid_gateway());
    let err = gateway
        .add_port_mapping(&MappingRequest::new(7301))
        .unwrap_err();
    assert_eq!(err.result(), UpnpResult::ConflictWithOtherMapping);
    assert!(
        matches!(err, Error::MappingTaken { ref internal_client, .. } if internal_client == "192.168.77.11")
    );
    let listed = lab.upnpc(&["-u", &lab.description_url(), "-l"]);
    assert!(listed.contains("UDP  7301->192.168.77.11:7301"), "{listed}");
    // Deleting it is refused too: the router keeps it.
    let err = gateway.delete_port_mapping(7301, "UDP").unwrap_err();
    assert_eq!(err.result(), UpnpResult::ConflictWithOtherMapping);
    let listed = lab.upnpc(&["-u", &lab.description_url(), "-l"]);
    assert!(listed.contains("UDP  7301->192.168.77.11:7301"), "{listed}");

    // The owner deletes it.
    let delete = upnp_soap::actions::DeletePortMapping {
        remote_host: String::new(),
        external_port: 7301,
        protocol: upnp_soap::Protocol::Udp,
    };
    assert_eq!(post_from(&lab, other, &delete), "HTTP/1.1 200 OK");
    let listed = lab.upnpc(&["-u", &lab.description_url(), "-l"]);
    assert!(!listed.contains("7301->"), "{listed}");
    assert!(ip("del").success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_driver_does_the_same() {
    let lab = Lab::get();
    let mut upnp = upnp_igd::tokio::Upnp::new();
    assert_eq!(upnp.discover(&DiscoverOptions::default()).await.unwrap(), 1);
    let gateway = upnp.get_gateway().unwrap();
    assert_eq!(gateway.igd_our_addr, lab.host_addr.to_string());
    assert_eq!(upnp.query_external_address().await.unwrap(), lab.wan_addr);
    let granted = upnp
        .add_port_mapping(&MappingRequest::new(7501).proto("TCP").duration(900))
        .await
        .unwrap();
    assert!(granted.read_back);
    assert!(granted.mapping.lease_duration > 0 && granted.mapping.lease_duration <= 900);
    let listed = upnp
        .get_gateway()
        .unwrap()
        .list_port_mappings()
        .await
        .unwrap();
    assert!(listed.iter().any(|m| m.external_port == 7501));
    upnp.delete_port_mapping(7501, "TCP").await.unwrap();
    let listed = lab.upnpc(&["-u", &lab.description_url(), "-l"]);
    assert!(!listed.contains("7501->"), "{listed}");

    // find_gateway stops at the first good gateway instead of waiting out the timeout.
    let start = std::time::Instant::now();
    let long = DiscoverOptions::default().timeout(10_000);
    assert!(upnp.find_gateway(&long).await.unwrap().is_valid_gateway());
    assert!(
        start.elapsed() < std::time::Duration::from_secs(9),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn discover_properties_ipv6_local_port_and_interface() {
    let lab = Lab::get();
    let mut upnp = Upnp::new();
    upnp.settings.discover_ipv6 = true;
    upnp.settings.discover_multicast_if = lab.lan_if.clone();
    upnp.discover(&DiscoverOptions::default()).unwrap();
    let gateway = upnp.get_gateway().unwrap();
    assert_eq!(gateway.description_url, lab.description_url6());
    // igd_our_addr is a full IPv6 address, the one that reaches the gateway.
    assert_eq!(gateway.igd_our_addr, lab.host_addr6.to_string());
    assert_eq!(upnp.query_external_address().unwrap(), lab.wan_addr);

    let mut upnp = Upnp::new();
    upnp.settings.discover_local_port = 1; // Godot: search from port 1900
    upnp.settings.discover_multicast_if = lab.host_addr.to_string();
    assert_eq!(upnp.discover(&DiscoverOptions::default()).unwrap(), 1);
    assert!(upnp.get_gateway().unwrap().is_valid_gateway());
    upnp.settings.discover_local_port = 70000;
    assert_eq!(
        upnp.discover(&DiscoverOptions::default())
            .unwrap_err()
            .result(),
        UpnpResult::InvalidParam
    );
}
