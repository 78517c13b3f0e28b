//! The transport protocol a mapping is for.

use std::fmt;

/// A transport protocol, by its IANA number (PCP carries the number; NAT-PMP knows UDP and
/// TCP only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Every protocol (PCP's 0): a MAP for all protocols at once.
    All,
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// Another protocol number (never 0, 6 or 17).
    Other(u8),
}

impl Protocol {
    /// The protocol with this IANA number.
    pub fn from_number(number: u8) -> Protocol {
        match number {
            0 => Protocol::All,
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            n => Protocol::Other(n),
        }
    }

    /// Its IANA number.
    pub fn number(self) -> u8 {
        match self {
            Protocol::All => 0,
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Other(n) => n,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protocol::All => f.write_str("all"),
            Protocol::Tcp => f.write_str("TCP"),
            Protocol::Udp => f.write_str("UDP"),
            Protocol::Other(n) => write!(f, "protocol {n}"),
        }
    }
}
