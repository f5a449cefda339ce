//! PEM exactly as Go's `encoding/pem` reads and writes it. Both upstream components scan PEM with
//! `pem.Decode` and re-emit blocks with `pem.EncodeToMemory` (the provider when it splits certificate-backed
//! secrets, the controller when it builds `kubernetes.io/tls` keys), so the bytes users see depend on Go's rules.
//!
//! Go's rules: text before, between and after blocks is skipped; malformed blocks are skipped (not errors);
//! `Key: Value` header lines directly after the `BEGIN` line are kept (`Proc-Type` written first, then sorted by
//! key); spaces, tabs, `\r` and `\n` inside the base64 body are ignored; output uses `\n` line endings and
//! 64-column base64.
//! Shared here so the manager and the provider read and write PEM identically.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

const PEM_START: &[u8] = b"\n-----BEGIN ";
const PEM_END: &[u8] = b"\n-----END ";
const PEM_END_OF_LINE: &[u8] = b"-----";
const PROC_TYPE: &[u8] = b"Proc-Type";

/// Go's `base64.StdEncoding`: standard alphabet, padding required, non-zero trailing bits tolerated.
const GO_STD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// One decoded PEM block.
pub struct Block<'a> {
    /// The label between `BEGIN ` and `-----`.
    pub label: &'a [u8],
    /// Header lines; a repeated key keeps its last value, like Go's map.
    pub headers: BTreeMap<&'a [u8], &'a [u8]>,
    /// The decoded body.
    pub bytes: Vec<u8>,
}

/// Go's `base64.StdEncoding.DecodeString` after `\r`/`\n` removal; `None` on any error.
fn go_std_base64_decode(input: &[u8]) -> Option<Vec<u8>> {
    let stripped: Vec<u8> = input
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    GO_STD.decode(stripped).ok()
}

/// Go's `getLine`: the first `\n`- or `\r\n`-terminated line without trailing spaces/tabs, and the rest after
/// the newline.
fn get_line(data: &[u8]) -> (&[u8], &[u8]) {
    let (mut end, rest_start) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (i, i + 1),
        None => (data.len(), data.len()),
    };
    if end > 0 && end < data.len() && data[end - 1] == b'\r' {
        end -= 1;
    }
    (trim_right_space_tab(&data[..end]), &data[rest_start..])
}

fn trim_right_space_tab(mut s: &[u8]) -> &[u8] {
    while let [head @ .., b' ' | b'\t'] = s {
        s = head;
    }
    s
}

fn trim_space(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &s[start..end.max(start)]
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Go's `pem.Decode`: the next block of `data` and the text after it, or `None` when no further block decodes
/// (Go then returns the whole of `data` as the rest).
pub fn decode(data: &[u8]) -> Option<(Block<'_>, &[u8])> {
    let mut rest = data;
    loop {
        if let Some(after) = rest.strip_prefix(&PEM_START[1..]) {
            rest = after;
        } else if let Some(i) = find(rest, PEM_START) {
            rest = &rest[i + PEM_START.len()..];
        } else {
            return None;
        }

        let (type_line, after_type) = get_line(rest);
        rest = after_type;
        let Some(label) = type_line.strip_suffix(PEM_END_OF_LINE) else {
            continue;
        };

        let mut headers = BTreeMap::new();
        loop {
            if rest.is_empty() {
                return None;
            }
            let (line, next) = get_line(rest);
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                break;
            };
            headers.insert(trim_space(&line[..colon]), trim_space(&line[colon + 1..]));
            rest = next;
        }

        let (end_index, end_trailer_index) = if headers.is_empty() && rest.starts_with(&PEM_END[1..]) {
            (0, PEM_END.len() - 1)
        } else {
            match find(rest, PEM_END) {
                Some(i) => (i, i + PEM_END.len()),
                // No END marker anywhere after this point: no later block can complete either.
                None => return None,
            }
        };

        // After "-----END " comes the same label and "-----", then only whitespace up to the end of the line.
        let end_trailer = &rest[end_trailer_index..];
        let end_trailer_len = label.len() + PEM_END_OF_LINE.len();
        if end_trailer.len() < end_trailer_len {
            continue;
        }
        let (trailer, rest_of_end_line) = end_trailer.split_at(end_trailer_len);
        if !trailer.starts_with(label) || !trailer.ends_with(PEM_END_OF_LINE) {
            continue;
        }
        if !get_line(rest_of_end_line).0.is_empty() {
            continue;
        }

        let body: Vec<u8> = rest[..end_index]
            .iter()
            .copied()
            .filter(|&b| b != b' ' && b != b'\t')
            .collect();
        let Some(bytes) = go_std_base64_decode(&body) else {
            continue;
        };

        // Skip past the END line (the -1 because an empty body may have matched without the leading newline).
        let (_, after) = get_line(&rest[end_index + PEM_END.len() - 1..]);
        return Some((
            Block {
                label,
                headers,
                bytes,
            },
            after,
        ));
    }
}

/// All blocks of `data` in order (Go's `for { block, rest = pem.Decode(rest) }` loop), and the bytes left
/// after the last decoded block (the whole input when no block decodes).
pub fn decode_all(mut data: &[u8]) -> (Vec<Block<'_>>, &[u8]) {
    let mut blocks = Vec::new();
    while let Some((block, rest)) = decode(data) {
        blocks.push(block);
        data = rest;
    }
    (blocks, data)
}

/// Go's `pem.EncodeToMemory` for a block without headers.
pub fn encode(label: &[u8], bytes: &[u8]) -> Vec<u8> {
    encode_with_headers(label, &BTreeMap::new(), bytes)
}

/// Go's `pem.EncodeToMemory`: `Proc-Type` first, the other headers sorted by key, a blank line after the
/// headers, 64-column base64, `\n` line endings, no body line at all for an empty body.
pub fn encode_with_headers(label: &[u8], headers: &BTreeMap<&[u8], &[u8]>, bytes: &[u8]) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = Vec::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    out.extend_from_slice(&PEM_START[1..]);
    out.extend_from_slice(label);
    out.extend_from_slice(b"-----\n");
    if !headers.is_empty() {
        let write_header = |out: &mut Vec<u8>, k: &[u8], v: &[u8]| {
            out.extend_from_slice(k);
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.push(b'\n');
        };
        if let Some(v) = headers.get(PROC_TYPE) {
            write_header(&mut out, PROC_TYPE, v);
        }
        for (k, v) in headers.iter().filter(|(k, _)| **k != PROC_TYPE) {
            write_header(&mut out, k, v);
        }
        out.push(b'\n');
    }
    for line in b64.as_bytes().chunks(64) {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.extend_from_slice(&PEM_END[1..]);
    out.extend_from_slice(label);
    out.extend_from_slice(b"-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(data: &str) -> Vec<String> {
        decode_all(data.as_bytes())
            .0
            .iter()
            .map(|b| String::from_utf8_lossy(b.label).into_owned())
            .collect()
    }

    #[test]
    fn encode_matches_go_layout() {
        assert_eq!(
            encode(b"EMPTY", b""),
            b"-----BEGIN EMPTY-----\n-----END EMPTY-----\n"
        );
        let one = String::from_utf8(encode(b"X", &[0u8; 48])).unwrap();
        assert_eq!(
            one,
            format!("-----BEGIN X-----\n{}\n-----END X-----\n", "A".repeat(64))
        );
        let two = String::from_utf8(encode(b"X", &[0u8; 49])).unwrap();
        assert_eq!(
            two,
            format!("-----BEGIN X-----\n{}\nAA==\n-----END X-----\n", "A".repeat(64))
        );
    }

    #[test]
    fn encode_matches_pem_crate_with_lf() {
        let data: Vec<u8> = (0u8..=255).cycle().take(1000).collect();
        let ours = encode(b"CERTIFICATE", &data);
        let theirs = pem::encode_config(
            &pem::Pem::new("CERTIFICATE", data),
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        );
        assert_eq!(String::from_utf8(ours).unwrap(), theirs);
    }

    #[test]
    fn encode_writes_proc_type_first_then_sorted_headers() {
        let mut headers = BTreeMap::new();
        headers.insert(&b"DEK-Info"[..], &b"AES-128-CBC,00"[..]);
        headers.insert(&b"Proc-Type"[..], &b"4,ENCRYPTED"[..]);
        headers.insert(&b"Comment"[..], &b"x"[..]);
        let text = String::from_utf8(encode_with_headers(b"RSA PRIVATE KEY", &headers, b"\x01\x02")).unwrap();
        assert_eq!(
            text,
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nComment: x\nDEK-Info: AES-128-CBC,00\n\nAQI=\n-----END RSA PRIVATE KEY-----\n"
        );
    }

    #[test]
    fn decode_skips_surrounding_text_and_handles_crlf() {
        let text = "Bag Attributes\r\n    localKeyID: 01\r\n-----BEGIN A-----\r\nAQI=\r\n-----END A-----\r\nsubject=CN x\r\n-----BEGIN B-----\r\nAw==\r\n-----END B-----\r\ntrailing";
        let (blocks, rest) = decode_all(text.as_bytes());
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].label, b"A");
        assert_eq!(blocks[0].bytes, [1, 2]);
        assert_eq!(blocks[1].label, b"B");
        assert_eq!(blocks[1].bytes, [3]);
        assert_eq!(rest, b"trailing");
    }

    #[test]
    fn decode_skips_malformed_blocks() {
        let text = concat!(
            "-----BEGIN BAD-----\n!!!!\n-----END BAD-----\n",
            "-----BEGIN ONE-----\nAQI=\n-----END TWO-----\n",
            "-----BEGIN JUNK-----\nAQI=\n-----END JUNK----- x\n",
            "-----BEGIN GOOD-----\nAQI=\n-----END GOOD-----\n",
        );
        assert_eq!(labels(text), ["GOOD"]);
    }

    #[test]
    fn leftover_is_the_whole_input_without_pem() {
        let (blocks, rest) = decode_all(b"\x30\x03\x02\x01\x03");
        assert!(blocks.is_empty());
        assert_eq!(rest, b"\x30\x03\x02\x01\x03");
    }

    #[test]
    fn decode_round_trips_encode() {
        let data: Vec<u8> = (0u8..200).collect();
        let pem = encode(b"PRIVATE KEY", &data);
        let (block, rest) = decode(&pem).unwrap();
        assert_eq!(block.label, b"PRIVATE KEY");
        assert!(block.headers.is_empty());
        assert_eq!(block.bytes, data);
        assert!(rest.is_empty());
    }

    #[test]
    fn decode_reads_headers() {
        let text = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info:  AES-128-CBC,AB \n\nAQI=\n-----END RSA PRIVATE KEY-----\n";
        let (block, _) = decode(text.as_bytes()).unwrap();
        assert_eq!(block.headers.get(&b"Proc-Type"[..]), Some(&&b"4,ENCRYPTED"[..]));
        assert_eq!(block.headers.get(&b"DEK-Info"[..]), Some(&&b"AES-128-CBC,AB"[..]));
        assert_eq!(block.bytes, [1, 2]);
    }

    #[test]
    fn decode_accepts_empty_body_and_missing_final_newline() {
        assert_eq!(labels("-----BEGIN E-----\n-----END E-----"), ["E"]);
        let (block, _) = decode(b"-----BEGIN E-----\n-----END E-----").unwrap();
        assert!(block.bytes.is_empty());
    }

    #[test]
    fn decode_requires_begin_at_line_start() {
        assert!(labels("x-----BEGIN A-----\nAQI=\n-----END A-----\n").is_empty());
        assert_eq!(labels("x\n-----BEGIN A-----\nAQI=\n-----END A-----\n"), ["A"]);
    }

    #[test]
    fn decode_ignores_spaces_tabs_in_body() {
        let (block, _) = decode(b"-----BEGIN A-----\n AQ I=\t\n-----END A-----\n").unwrap();
        assert_eq!(block.bytes, [1, 2]);
    }

    #[test]
    fn decode_of_nothing_is_none() {
        assert!(decode(b"").is_none());
        assert!(decode(b"no pem here").is_none());
        assert!(decode(b"-----BEGIN A-----\nAQI=\n").is_none());
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = decode_all(&data);
        }

        #[test]
        fn encode_then_decode_round_trips(
            label in "[A-Z0-9 ]{0,20}",
            headers in proptest::collection::btree_map("[A-Za-z-]{1,10}", "[ -~]{0,20}", 0..4),
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        ) {
            let headers: BTreeMap<&[u8], &[u8]> =
                headers.iter().map(|(k, v)| (k.as_bytes(), trim_space(v.as_bytes()))).collect();
            let pem = encode_with_headers(label.as_bytes(), &headers, &bytes);
            let (block, rest) = decode(&pem).unwrap();
            proptest::prop_assert_eq!(block.label, label.as_bytes());
            proptest::prop_assert_eq!(block.headers, headers);
            proptest::prop_assert_eq!(block.bytes, bytes);
            proptest::prop_assert!(rest.is_empty());
        }
    }
}
