//! IBDB records and their framing on disk.
//!
//! A file is the 8-byte magic `SMXIBDB1` followed by records:
//!
//! ```text
//!   | len: u32 LE | crc: u32 LE (CRC-32/IEEE of payload) | payload: len bytes, JSON |
//! ```
//!
//! JSON keeps the log readable with ordinary tools and lets the delivery
//! side add fields later (unknown fields are ignored, missing ones take
//! defaults). The length and the CRC make a torn write at the tail
//! detectable: recovery keeps every record before the first one that is
//! short, too long, fails its CRC or does not parse.

use serde::{Deserialize, Serialize};

use crate::queue::id::QueueId;

/// Magic at the start of every IBDB file (the `1` is the format version).
pub const MAGIC: &[u8; 8] = b"SMXIBDB1";
/// Bytes before the payload of a record.
pub const FRAME_HEADER: usize = 8;
/// Largest payload accepted; a larger length is taken as corruption.
pub const MAX_PAYLOAD: usize = 64 << 20;

/// What happened to one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RcptStatus {
    /// Not delivered yet.
    #[default]
    Pending,
    /// Delivered (final).
    Delivered,
    /// Failed permanently and bounced (final).
    Bounced,
    /// Failed temporarily; the delivery side moves it to DEFEDB.
    Deferred,
}

impl RcptStatus {
    /// Whether nothing more is to be done for the recipient.
    pub fn is_final(self) -> bool {
        matches!(self, RcptStatus::Delivered | RcptStatus::Bounced)
    }
}

/// One recipient of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    /// The address, as given in RCPT TO (without the angle brackets).
    pub address: String,
    /// ESMTP parameters of RCPT TO (NOTIFY=, ORCPT=), opaque here.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub params: String,
    /// Delivery status; `Pending` when the transaction is committed.
    #[serde(default)]
    pub status: RcptStatus,
}

impl Recipient {
    /// A pending recipient without parameters.
    pub fn new(address: impl Into<String>) -> Recipient {
        Recipient {
            address: address.into(),
            params: String::new(),
            status: RcptStatus::Pending,
        }
    }
}

/// The envelope of one accepted message: what the QMGR commits before the
/// SMTP server may answer `250`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// Queue id; also the name of the content file.
    pub id: QueueId,
    /// The reverse path, as given in MAIL FROM (empty for `<>`).
    pub sender: String,
    /// ESMTP parameters of MAIL FROM (RET=, ENVID=, SIZE=...), opaque here.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sender_params: String,
    /// Recipients in RCPT order; their index is what `RcptDone` refers to.
    pub recipients: Vec<Recipient>,
    /// Size of the content file in bytes.
    pub size: u64,
    /// Arrival time, microseconds since the epoch.
    pub received_at: u64,
}

/// One IBDB record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "rec", rename_all = "snake_case")]
pub enum Record {
    /// A transaction was accepted.
    TaOpen(Transaction),
    /// Recipient `index` of `id` reached `status`.
    RcptDone {
        /// The transaction.
        id: QueueId,
        /// Index into its recipients.
        index: u32,
        /// The new status.
        status: RcptStatus,
    },
    /// Nothing more is to be done for `id` (all recipients final, or the
    /// transaction moved to DEFEDB).
    TaDone {
        /// The transaction.
        id: QueueId,
    },
}

impl Record {
    /// The transaction the record is about.
    pub fn id(&self) -> QueueId {
        match self {
            Record::TaOpen(ta) => ta.id,
            Record::RcptDone { id, .. } | Record::TaDone { id } => *id,
        }
    }

    /// Appends the framed record to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        let payload = serde_json::to_vec(self)?;
        let len = u32::try_from(payload.len()).map_err(serde::ser::Error::custom)?;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&crc32(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
        Ok(())
    }
}

/// Result of decoding at one offset.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A record and the bytes it took.
    Record(Record, usize),
    /// No more bytes.
    End,
    /// The bytes from here on are no record (torn or corrupt tail).
    Bad(&'static str),
}

/// Decodes the record at the start of `buf`.
pub fn decode(buf: &[u8]) -> Decoded {
    match frame(buf) {
        Ok(None) => Decoded::End,
        Err(why) => Decoded::Bad(why),
        Ok(Some((payload, took))) => match serde_json::from_slice(payload) {
            Ok(rec) => Decoded::Record(rec, took),
            Err(_) => Decoded::Bad("payload does not parse"),
        },
    }
}

/// The checked payload of the frame at the start of `buf` and the bytes
/// the frame takes; `None` when `buf` is empty; why the bytes are no frame
/// (short, too long, CRC mismatch) otherwise. DEFEDB's log uses the same
/// framing.
pub fn frame(buf: &[u8]) -> Result<Option<(&[u8], usize)>, &'static str> {
    if buf.is_empty() {
        return Ok(None);
    }
    let (Some(len), Some(crc)) = (read_u32(buf, 0), read_u32(buf, 4)) else {
        return Err("short frame header");
    };
    let len = len as usize;
    if len > MAX_PAYLOAD {
        return Err("length too large");
    }
    let Some(payload) = buf.get(FRAME_HEADER..FRAME_HEADER + len) else {
        return Err("short payload");
    };
    if crc32(payload) != crc {
        return Err("CRC mismatch");
    }
    Ok(Some((payload, FRAME_HEADER + len)))
}

fn read_u32(buf: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = buf.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

/// CRC-32 (IEEE 802.3, the one of zlib and gzip), table driven.
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c = CRC_TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
    }
    !c
}

const CRC_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn crc_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn roundtrip_and_every_cut() {
        let rec = Record::RcptDone {
            id: QueueId::from_u64(42),
            index: 3,
            status: RcptStatus::Delivered,
        };
        let mut buf = Vec::new();
        rec.encode(&mut buf).unwrap();
        assert_eq!(decode(&buf), Decoded::Record(rec, buf.len()));
        for cut in 1..buf.len() {
            assert!(matches!(decode(&buf[..cut]), Decoded::Bad(_)), "cut {cut}");
        }
        let last = buf.len() - 2;
        buf[last] ^= 0x20;
        assert_eq!(decode(&buf), Decoded::Bad("CRC mismatch"));
    }
}
