//! UPnP device and service descriptions: bytes in, a typed model out. No sockets.
//!
//! - [`xml`]: the gate every XML document passes before xmltree sees it (size, DOCTYPE,
//!   nesting and element caps), shared with the SOAP layer.
pub mod error;
pub mod xml;

pub use error::Error;
