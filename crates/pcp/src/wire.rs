//! Reading and writing big-endian fields without indexing: every read is checked.

use std::net::{IpAddr, Ipv6Addr};

use crate::error::Error;

/// A cursor over a received datagram.
pub(crate) struct Reader<'a> {
    what: &'static str,
    bytes: &'a [u8],
    total: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(what: &'static str, bytes: &'a [u8]) -> Reader<'a> {
        Reader {
            what,
            bytes,
            total: bytes.len(),
        }
    }

    /// Bytes left.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len()
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if self.bytes.len() < n {
            let needed = self.total - self.bytes.len() + n;
            return Err(Error::truncated(self.what, needed, self.total));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Error> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    pub(crate) fn u16(&mut self) -> Result<u16, Error> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// A 128-bit address field: IPv4 as an IPv4-mapped IPv6 address (RFC 6887 §5).
    pub(crate) fn address(&mut self) -> Result<IpAddr, Error> {
        Ok(from_field(Ipv6Addr::from(self.array::<16>()?)))
    }
}

/// An address field as the address it stands for: `::ffff:a.b.c.d` is IPv4 `a.b.c.d`.
pub(crate) fn from_field(field: Ipv6Addr) -> IpAddr {
    match field.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(field),
    }
}

/// An address as a 128-bit field.
pub(crate) fn to_field(address: IpAddr) -> [u8; 16] {
    match address {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}
