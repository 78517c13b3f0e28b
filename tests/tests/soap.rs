//! `upnp-soap` against miniupnpd: every typed action, its results, and its faults.

use lab_tests::Lab;
use upnp_desc::{DeviceDescription, Scpd};
use upnp_soap::actions::*;
use upnp_soap::blocking::Client;
use upnp_soap::http::Config;
use upnp_soap::{Error, ErrorCode, endpoint};
use url::Url;

/// The gateway's connection service: its type and resolved control URL.
struct Gateway {
    client: Client,
    service_type: String,
    control: Url,
    scpd: Scpd,
}

fn gateway(lab: &Lab) -> Gateway {
    let client = Client::new(&Config::default());
    let location = Url::parse(&lab.description_url()).unwrap();
    endpoint::check(&location, Some(lab.router_addr.into())).unwrap();
    let description =
        DeviceDescription::parse(&client.get_description(&location).unwrap()).unwrap();
    let gateway = description.gateway().unwrap();
    let connection = gateway.connection().unwrap();
    let control = description
        .resolve(
            connection.service.control_url.as_deref().unwrap(),
            &location,
        )
        .unwrap();
    assert!(!control.foreign_host);
    endpoint::check(&control.url, Some(lab.router_addr.into())).unwrap();
    let scpd_url = description
        .resolve(connection.service.scpd_url.as_deref().unwrap(), &location)
        .unwrap();
    let scpd = Scpd::parse(&client.get_description(&scpd_url.url).unwrap()).unwrap();
    Gateway {
        client,
        service_type: connection.service.service_type.clone(),
        control: control.url,
        scpd,
    }
}

impl Gateway {
    fn perform<A: Action>(&self, action: &A) -> Result<A::Output, Error> {
        self.client
            .perform(&self.control, &self.service_type, action)
    }
}

fn mapping(lab: &Lab, port: u16, protocol: Protocol, lease: u32) -> PortMapping {
    let mut mapping = PortMapping::new(protocol, port, lab.host_addr.to_string(), port);
    mapping.description = format!("igd-rs soap <{port}> & \"test\"");
    mapping.lease_duration = lease;
    mapping
}

fn fault_code<T: std::fmt::Debug>(result: Result<T, Error>) -> ErrorCode {
    match result {
        Err(Error::Fault(fault)) => fault.code().expect("a UPnP error code"),
        other => panic!("expected a fault, got {other:?}"),
    }
}

#[test]
fn status_address_and_type_of_the_connection() {
    let lab = Lab::get();
    let gw = gateway(&lab);
    assert_eq!(
        gw.service_type,
        format!(
            "urn:schemas-upnp-org:service:WANIPConnection:{}",
            lab.igd_version
        )
    );
    let ip = gw.perform(&GetExternalIpAddress).unwrap();
    assert_eq!(ip, Some(lab.wan_addr.into()));
    let status = gw.perform(&GetStatusInfo).unwrap();
    assert!(status.status.is_connected(), "{status:?}");
    assert_eq!(status.last_error.as_deref(), Some("ERROR_NONE"));
    let kind = gw.perform(&GetConnectionTypeInfo).unwrap();
    assert_eq!(kind.connection_type, "IP_Routed");
}

#[test]
fn a_mapping_added_shows_in_upnpc_and_every_read_action_then_goes() {
    let lab = Lab::get();
    let gw = gateway(&lab);
    let ours = mapping(&lab, 7101, Protocol::Udp, 3600);
    gw.perform(&AddPortMapping(ours.clone())).unwrap();

    let listed = lab.upnpc(&["-u", &lab.description_url(), "-l"]);
    assert!(
        listed.contains("UDP  7101->192.168.77.10:7101"),
        "upnpc -l does not list our mapping:\n{listed}"
    );
    // upnpc prints the description as it came on the wire: miniupnpc does not decode XML
    // entities. We do (checked below with GetSpecificPortMappingEntry).
    assert!(
        listed.contains("'igd-rs soap &lt;7101&gt; &amp; &quot;test&quot;'"),
        "{listed}"
    );

    let specific = gw
        .perform(&GetSpecificPortMappingEntry {
            remote_host: String::new(),
            external_port: 7101,
            protocol: Protocol::Udp,
        })
        .unwrap();
    assert_eq!(specific.internal_client, ours.internal_client);
    assert_eq!(specific.description, ours.description);
    assert!(specific.lease_duration > 0 && specific.lease_duration <= 3600);

    // Walk the generic table to its end (fault 713) and find ours on the way.
    let mut found = None;
    for index in 0..=64u16 {
        match gw.perform(&GetGenericPortMappingEntry { index }) {
            Ok(entry) if entry.external_port == 7101 && entry.protocol == Protocol::Udp => {
                found = Some(entry)
            }
            Ok(_) => {}
            Err(e) => {
                assert_eq!(
                    fault_code::<()>(Err(e)),
                    ErrorCode::SpecifiedArrayIndexInvalid
                );
                break;
            }
        }
    }
    let found = found.expect("GetGenericPortMappingEntry lists our mapping");
    assert_eq!(found.internal_port, 7101);
    assert_eq!(found.description, ours.description);

    gw.perform(&DeletePortMapping {
        remote_host: String::new(),
        external_port: 7101,
        protocol: Protocol::Udp,
    })
    .unwrap();
    let code = fault_code(gw.perform(&GetSpecificPortMappingEntry {
        remote_host: String::new(),
        external_port: 7101,
        protocol: Protocol::Udp,
    }));
    assert_eq!(code, ErrorCode::NoSuchEntryInArray);
    // Deleting it again is not refused: miniupnpd 2.3.1 (nftables) answers a delete of nothing
    // with success, not the spec's 714. This is why the facade's delete looks first
    // (`upnp_igd::mapping::DeleteSequence`): it says "no such mapping" where the router would not.
    gw.perform(&DeletePortMapping {
        remote_host: String::new(),
        external_port: 7101,
        protocol: Protocol::Udp,
    })
    .unwrap();
    let listed = lab.upnpc(&["-u", &lab.description_url(), "-l"]);
    assert!(!listed.contains("7101->"), "{listed}");
}

#[test]
fn refusals_are_typed_faults() {
    let lab = Lab::get();
    let gw = gateway(&lab);
    // Port 80 is outside miniupnpd's allow rule (1024-65535).
    let code = fault_code(gw.perform(&AddPortMapping(mapping(&lab, 80, Protocol::Tcp, 0))));
    assert_eq!(code, ErrorCode::ActionNotAuthorized);
    // Another client's address, with secure_mode on.
    let mut other = mapping(&lab, 7102, Protocol::Tcp, 0);
    other.internal_client = "192.168.77.99".into();
    let code = fault_code(gw.perform(&AddPortMapping(other)));
    assert_eq!(code, ErrorCode::ConflictInMappingEntry);
    // An action the service does not have.
    let request = upnp_soap::ActionRequest::new(gw.service_type.clone(), "NoSuchAction");
    let code = fault_code(gw.client.call(&gw.control, &request));
    assert_eq!(code, ErrorCode::InvalidAction);
}

#[test]
fn igd2_actions() {
    let lab = Lab::get();
    let gw = gateway(&lab);
    let v2_actions = [
        "AddAnyPortMapping",
        "DeletePortMappingRange",
        "GetListOfPortMappings",
    ];
    if lab.igd_version == 1 {
        // The v1 service does not declare them (miniupnpd answers them all the same).
        for action in v2_actions {
            assert!(!gw.scpd.has_action(action), "{action}");
        }
        return;
    }
    for action in v2_actions {
        assert!(gw.scpd.has_action(action), "{action}");
    }
    let reserved = gw
        .perform(&AddAnyPortMapping(mapping(&lab, 7201, Protocol::Tcp, 600)))
        .unwrap();
    assert_eq!(reserved, 7201);
    gw.perform(&AddPortMapping(mapping(&lab, 7202, Protocol::Tcp, 600)))
        .unwrap();
    // Asking for a taken port through AddAnyPortMapping for another client would move it;
    // for ourselves miniupnpd updates it in place.
    let list = gw
        .perform(&GetListOfPortMappings {
            start_port: 7200,
            end_port: 7299,
            protocol: Protocol::Tcp,
            manage: false,
            number_of_ports: 0,
        })
        .unwrap();
    let mut ports: Vec<u16> = list.iter().map(|m| m.external_port).collect();
    ports.sort_unstable(); // miniupnpd lists the newest first
    assert_eq!(ports, [7201, 7202]);
    assert!(
        list.iter()
            .all(|m| m.internal_client == lab.host_addr.to_string())
    );

    gw.perform(&DeletePortMappingRange {
        start_port: 7200,
        end_port: 7299,
        protocol: Protocol::Tcp,
        manage: false,
    })
    .unwrap();
    let empty = gw
        .perform(&GetListOfPortMappings {
            start_port: 7200,
            end_port: 7299,
            protocol: Protocol::Tcp,
            manage: false,
            number_of_ports: 0,
        })
        .unwrap();
    assert!(empty.is_empty(), "{empty:?}");
    let code = fault_code(gw.perform(&DeletePortMappingRange {
        start_port: 7200,
        end_port: 7299,
        protocol: Protocol::Tcp,
        manage: false,
    }));
    assert_eq!(code, ErrorCode::PortMappingNotFound);
    let code = fault_code(gw.perform(&DeletePortMappingRange {
        start_port: 7299,
        end_port: 7200,
        protocol: Protocol::Tcp,
        manage: false,
    }));
    assert_eq!(code, ErrorCode::InconsistentParameters);
}

#[tokio::test(flavor = "current_thread")]
async fn the_async_client_talks_to_the_router_too() {
    let lab = Lab::get();
    let client = upnp_soap::tokio::Client::new(&Config::default());
    let location = Url::parse(&lab.description_url()).unwrap();
    let description =
        DeviceDescription::parse(&client.get_description(&location).await.unwrap()).unwrap();
    let gateway = description.gateway().unwrap();
    let service = &gateway.connection().unwrap().service;
    let control = description
        .resolve(service.control_url.as_deref().unwrap(), &location)
        .unwrap();
    let ip = client
        .perform(&control.url, &service.service_type, &GetExternalIpAddress)
        .await
        .unwrap();
    assert_eq!(ip, Some(lab.wan_addr.into()));
}

/// Routers match `SOAPAction` case-sensitively (a Linksys WRT120N answers `Soapaction` with
/// 501): what reaches the router, from both clients and from igd's facade, spells it so.
#[test]
fn requests_reach_the_router_with_soapaction_spelled_exactly_so() {
    let lab = Lab::get();
    let capture = lab.capture_http();
    let gw = gateway(&lab);
    gw.client
        .perform(&gw.control, &gw.service_type, &GetExternalIpAddress)
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(upnp_soap::tokio::Client::new(&Config::default()).perform(
            &gw.control,
            &gw.service_type,
            &GetStatusInfo,
        ))
        .unwrap();
    let device = upnp_igd::blocking::Upnp::new().device_at(&lab.description_url());
    assert!(device.is_valid_gateway());
    let text = capture.stop();

    let service = &gw.service_type;
    for action in ["GetExternalIPAddress", "GetStatusInfo"] {
        let header = format!("SOAPAction: \"{service}#{action}\"");
        assert!(
            text.contains(&header),
            "no {header} in the capture:\n{text}"
        );
    }
    let spelled: Vec<&str> = text
        .lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("soapaction:"))
        .collect();
    assert!(spelled.len() >= 4, "{spelled:?}");
    assert!(
        spelled.iter().all(|l| l.starts_with("SOAPAction: \"")),
        "{spelled:?}"
    );
    assert!(text.contains(&format!("Host: {}:{}", lab.router_addr, lab.http_port)));
    assert!(text.contains("GET /rootDesc.xml HTTP/1.1"));
}
