//! TensorBoard event files, written directly: a run's scalars (evaluations, episodes, training
//! metrics, gap diagnostics) as `Event` protocol buffers in TFRecord framing, the format
//! TensorBoard reads (and W&B imports through its TensorBoard integration). Only the few
//! protobuf fields a scalar needs are encoded, by hand: no code generation, no dependency.
//!
//! TFRecord: `u64 length (LE) | u32 masked CRC-32C of the length | data | u32 masked CRC-32C of
//! the data`. Event: `wall_time = 1 (double)`, `step = 2 (int64)`, `file_version = 3
//! (string)`, `summary = 5`; Summary: `value = 1 (repeated)`; Value: `tag = 1 (string)`,
//! `simple_value = 2 (float)`.

/// The file name: TensorBoard reads every file whose name contains `tfevents`. Fixed, so a
/// resume truncates and continues the same file.
pub const FILE: &str = "events.out.tfevents.acgap";

/// CRC-32C (Castagnoli), bit-reflected, as TFRecord uses it.
fn crc32c(data: &[u8]) -> u32 {
    const POLY: u32 = 0x82f6_3b78;
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn masked_crc(data: &[u8]) -> u32 {
    let c = crc32c(data);
    c.rotate_right(15).wrapping_add(0xa282_ead8)
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited field.
fn bytes_field(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    varint(out, (field << 3) | 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn event(wall_time: f64, step: i64, body: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut e = Vec::new();
    varint(&mut e, (1 << 3) | 1);
    e.extend_from_slice(&wall_time.to_le_bytes());
    varint(&mut e, 2 << 3);
    varint(&mut e, step as u64);
    body(&mut e);
    e
}

/// One TFRecord around `data`.
fn record(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc(data).to_le_bytes());
    out
}

/// The first record of every event file.
pub fn version(wall_time: f64) -> Vec<u8> {
    record(&event(wall_time, 0, |e| {
        bytes_field(e, 3, b"brain.Event:2")
    }))
}

/// Scalars at one step, as one event.
pub fn scalars(wall_time: f64, step: usize, values: &[(&str, f64)]) -> Vec<u8> {
    record(&event(wall_time, step as i64, |e| {
        let mut summary = Vec::new();
        for (tag, v) in values {
            let mut value = Vec::new();
            bytes_field(&mut value, 1, tag.as_bytes());
            varint(&mut value, (2 << 3) | 5);
            value.extend_from_slice(&(*v as f32).to_le_bytes());
            bytes_field(&mut summary, 1, &value);
        }
        bytes_field(e, 5, &summary);
    }))
}

/// Seconds since the Unix epoch.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_and_framing() {
        // The standard check value of CRC-32C.
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        let r = version(1.5);
        let len = u64::from_le_bytes(r[..8].try_into().unwrap()) as usize;
        assert_eq!(r.len(), 8 + 4 + len + 4);
        assert_eq!(&r[8..12], &masked_crc(&r[..8]).to_le_bytes());
        assert_eq!(&r[12 + len..], &masked_crc(&r[12..12 + len]).to_le_bytes());
        assert!(r.windows(13).any(|w| w == b"brain.Event:2"));
    }
}
