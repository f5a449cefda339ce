//! `objectEncoding` decoders with Go's acceptance rules (`base64.StdEncoding.DecodeString`, `hex.DecodeString`).
//!
//! Errors carry an offset, never the offending byte: the input is secret material.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use super::ContentError;

/// Go's `base64.StdEncoding`: standard alphabet, padding required, non-zero trailing bits tolerated
/// (it is not `.Strict()`).
const GO_STD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// Go's `base64.StdEncoding.DecodeString`: `\r` and `\n` anywhere are ignored, anything else outside the
/// alphabet is an error. The error's offset is the position in `input` (Go reports the start of the broken
/// 4-character group in some cases; the offset is informational only).
pub(crate) fn go_std_base64_decode(input: &[u8]) -> Result<Vec<u8>, ContentError> {
    let has_newlines = input.iter().any(|&b| b == b'\r' || b == b'\n');
    let stripped: Vec<u8>;
    let data: &[u8] = if has_newlines {
        stripped = input
            .iter()
            .copied()
            .filter(|&b| b != b'\r' && b != b'\n')
            .collect();
        &stripped
    } else {
        input
    };
    GO_STD.decode(data).map_err(|err| {
        let at = match err {
            base64::DecodeError::InvalidByte(at, _) | base64::DecodeError::InvalidLastSymbol(at, _) => at,
            base64::DecodeError::InvalidLength(len) => len - len % 4,
            base64::DecodeError::InvalidPadding => data
                .iter()
                .position(|&b| b == b'=')
                .unwrap_or(data.len() - data.len() % 4),
        };
        ContentError::InvalidBase64 {
            offset: original_offset(input, at, has_newlines),
        }
    })
}

/// Map an offset in the newline-stripped input back to the original input.
fn original_offset(input: &[u8], stripped_at: usize, has_newlines: bool) -> usize {
    if !has_newlines {
        return stripped_at;
    }
    input
        .iter()
        .enumerate()
        .filter(|(_, b)| **b != b'\r' && **b != b'\n')
        .nth(stripped_at)
        .map_or(input.len(), |(i, _)| i)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Go's `hex.DecodeString`: upper or lower case digits, no separators. As in Go, an invalid character is
/// reported before an odd length when it comes first.
pub(crate) fn go_hex_decode(input: &[u8]) -> Result<Vec<u8>, ContentError> {
    let mut out = Vec::with_capacity(input.len() / 2);
    let mut pairs = input.chunks_exact(2);
    for (i, pair) in pairs.by_ref().enumerate() {
        let hi = hex_value(pair[0]).ok_or(ContentError::InvalidHex { offset: 2 * i })?;
        let lo = hex_value(pair[1]).ok_or(ContentError::InvalidHex { offset: 2 * i + 1 })?;
        out.push(hi << 4 | lo);
    }
    if let [last] = pairs.remainder() {
        if hex_value(*last).is_none() {
            return Err(ContentError::InvalidHex {
                offset: input.len() - 1,
            });
        }
        return Err(ContentError::OddLengthHex);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> Result<Vec<u8>, ContentError> {
        go_std_base64_decode(s.as_bytes())
    }

    #[test]
    fn base64_accepts_what_go_accepts() {
        assert_eq!(b64("").unwrap(), b"");
        assert_eq!(b64("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(b64("aGVs\r\nbG8=\n").unwrap(), b"hello");
        assert_eq!(b64("aGVsbG8h").unwrap(), b"hello!");
        // Non-zero trailing bits: Go's StdEncoding (not Strict) accepts them.
        assert_eq!(b64("aGVsbG9=").unwrap(), b"hello");
        assert_eq!(b64("+/+/").unwrap(), [0xfb, 0xff, 0xbf]);
    }

    #[test]
    fn base64_rejects_what_go_rejects() {
        assert_eq!(
            b64("aGVsbG8").unwrap_err().to_string(),
            "illegal base64 data at input byte 4"
        );
        assert_eq!(
            b64("aGVs bG8=").unwrap_err().to_string(),
            "illegal base64 data at input byte 4"
        );
        assert_eq!(
            b64("aGV\nzbG8*").unwrap_err().to_string(),
            "illegal base64 data at input byte 8"
        );
        assert!(b64("aGVsbG8==").is_err());
        assert!(b64("-_-_").is_err(), "URL alphabet is not the standard alphabet");
        assert!(b64("====").is_err());
        assert!(b64("a").is_err());
    }

    #[test]
    fn hex_decodes_both_cases() {
        assert_eq!(go_hex_decode(b"").unwrap(), b"");
        assert_eq!(go_hex_decode(b"00ffAbcD").unwrap(), [0x00, 0xff, 0xab, 0xcd]);
    }

    #[test]
    fn hex_errors_mirror_go_order() {
        let err = |s: &str| go_hex_decode(s.as_bytes()).unwrap_err().to_string();
        assert_eq!(err("abc"), "encoding/hex: odd length hex string");
        assert_eq!(err("zz"), "encoding/hex: invalid byte at input byte 0");
        assert_eq!(err("0z"), "encoding/hex: invalid byte at input byte 1");
        // Invalid character before the odd trailing digit is reported first, as Go does.
        assert_eq!(err("0g1"), "encoding/hex: invalid byte at input byte 1");
        assert_eq!(err("00g"), "encoding/hex: invalid byte at input byte 2");
        assert_eq!(err("0x00"), "encoding/hex: invalid byte at input byte 1");
    }
}
