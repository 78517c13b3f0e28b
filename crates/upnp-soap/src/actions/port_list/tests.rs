use super::*;
use crate::actions::Protocol;

#[test]
fn miniupnpd_listing_parses() {
    let listing = r#"<p:PortMappingList xmlns:p="urn:schemas-upnp-org:gw:WANIPConnection" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="urn:schemas-upnp-org:gw:WANIPConnection http://www.upnp.org/schemas/gw/WANIPConnection-v2.xsd"><p:PortMappingEntry><p:NewRemoteHost></p:NewRemoteHost><p:NewExternalPort>7777</p:NewExternalPort><p:NewProtocol>UDP</p:NewProtocol><p:NewInternalPort>7777</p:NewInternalPort><p:NewInternalClient>192.168.77.10</p:NewInternalClient><p:NewEnabled>1</p:NewEnabled><p:NewDescription>igd-rs capture</p:NewDescription><p:NewLeaseTime>604800</p:NewLeaseTime></p:PortMappingEntry></p:PortMappingList>"#;
    let mappings = parse(listing.as_bytes()).unwrap();
    assert_eq!(mappings.len(), 1);
    let m = &mappings[0];
    assert_eq!(
        (m.external_port, m.protocol, m.internal_port),
        (7777, Protocol::Udp, 7777)
    );
    assert_eq!(m.description, "igd-rs capture");
    assert_eq!(m.lease_duration, 604_800);
    assert_eq!(
        parse(encode(&mappings).unwrap().as_bytes()).unwrap(),
        mappings
    );
}

#[test]
fn unprefixed_listing_with_missing_optional_fields_parses() {
    let listing = b"<PortMappingList><PortMappingEntry><NewExternalPort>1</NewExternalPort>\
        <NewProtocol>tcp</NewProtocol><NewInternalPort>2</NewInternalPort>\
        <NewInternalClient>10.0.0.9</NewInternalClient></PortMappingEntry><Other/></PortMappingList>";
    let mappings = parse(listing).unwrap();
    assert_eq!(mappings.len(), 1);
    assert!(mappings[0].enabled);
    assert_eq!(mappings[0].lease_duration, 0);
}

#[test]
fn broken_listings_are_typed_errors() {
    assert!(matches!(
        parse(b"<List/>"),
        Err(Error::UnexpectedElement { .. })
    ));
    assert!(matches!(
        parse(b"<PortMappingList><PortMappingEntry><NewProtocol>UDP</NewProtocol></PortMappingEntry></PortMappingList>"),
        Err(Error::MissingArgument { name: "NewExternalPort", .. })
    ));
    assert!(matches!(
        parse(b"<PortMappingList><PortMapp"),
        Err(Error::Xml(_))
    ));
    assert!(matches!(
        parse(b""),
        Err(Error::Xml(upnp_desc::Error::Empty))
    ));
}
