//! Byte strings read as Go reads them: UTF-8 where valid, one byte as U+FFFD where not.

/// The rune at the start of `b` (None when `b` is empty) and its width; an invalid byte is U+FFFD of width 1.
pub(crate) fn decode(b: &[u8]) -> Option<(char, usize)> {
    let first = *b.first()?;
    let width = match first {
        0x00..=0x7f => 1,
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return Some(('\u{fffd}', 1)),
    };
    match b.get(..width).and_then(|s| std::str::from_utf8(s).ok()) {
        Some(s) => s.chars().next().map(|c| (c, width)),
        None => Some(('\u{fffd}', 1)),
    }
}

/// The rune ending `b` and its width, as Go's `utf8.DecodeLastRune`.
pub(crate) fn decode_last(b: &[u8]) -> Option<(char, usize)> {
    if b.is_empty() {
        return None;
    }
    let start = b.len().saturating_sub(4);
    for i in start..b.len() {
        if let Some((c, w)) = decode(&b[i..])
            && i + w == b.len()
            && (w > 1 || c != '\u{fffd}' || b[i] < 0x80)
        {
            return Some((c, w));
        }
    }
    Some(('\u{fffd}', 1))
}

/// The runes of `b` with their widths.
pub(crate) fn runes(b: &[u8]) -> impl Iterator<Item = (char, usize)> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        let (c, w) = decode(&b[i..])?;
        i += w;
        Some((c, w))
    })
}

pub(crate) fn push_char(out: &mut Vec<u8>, c: char) {
    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
}

/// Go's `unicode.IsPrint` for the characters a quoted string keeps as they are.
fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let u = c as u32;
    !(u == 0xad
        || (0x200b..=0x200f).contains(&u)
        || (0x202a..=0x202e).contains(&u)
        || (0x2060..=0x206f).contains(&u)
        || u == 0xfeff
        || u == 0x061c
        || (0x0600..=0x0605).contains(&u)
        || u == 0x06dd
        || u == 0x070f
        || u == 0x08e2
        || u == 0x180e
        || u == 0x110bd
        || u == 0x110cd
        || (0x1bca0..=0x1bca3).contains(&u)
        || (0x1d173..=0x1d17a).contains(&u)
        || (0xe0000..=0xe007f).contains(&u)
        || (0xe000..=0xf8ff).contains(&u)
        || (0xfff9..=0xfffb).contains(&u)
        || u >= 0xf0000)
}

/// Go's `strconv.Quote`.
pub(crate) fn go_quote(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len() + 2);
    out.push(b'"');
    let mut i = 0;
    while let Some((c, w)) = decode(&b[i..]) {
        if w == 1 && c == '\u{fffd}' {
            out.extend_from_slice(format!("\\x{:02x}", b[i]).as_bytes());
        } else if c == '"' || c == '\\' {
            out.push(b'\\');
            out.push(c as u8);
        } else if is_print(c) {
            push_char(&mut out, c);
        } else {
            let esc = match c {
                '\x07' => "\\a".to_owned(),
                '\x08' => "\\b".to_owned(),
                '\x0c' => "\\f".to_owned(),
                '\n' => "\\n".to_owned(),
                '\r' => "\\r".to_owned(),
                '\t' => "\\t".to_owned(),
                '\x0b' => "\\v".to_owned(),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => format!("\\x{:02x}", c as u32),
                c if (c as u32) < 0x10000 => format!("\\u{:04x}", c as u32),
                c => format!("\\U{:08x}", c as u32),
            };
            out.extend_from_slice(esc.as_bytes());
        }
        i += w;
    }
    out.push(b'"');
    out
}

/// Go's `unicode.ToUpper`/`ToLower` (simple case mapping: one rune for one rune).
pub(crate) fn map_case(b: &[u8], upper: bool) -> Vec<u8> {
    if b.is_ascii() {
        return if upper {
            b.to_ascii_uppercase()
        } else {
            b.to_ascii_lowercase()
        };
    }
    let mut out = Vec::with_capacity(b.len());
    for (c, _) in runes(b) {
        let mut m: Vec<char> = if upper {
            c.to_uppercase().collect()
        } else {
            c.to_lowercase().collect()
        };
        if !upper && c == '\u{130}' {
            m = vec!['i'];
        }
        push_char(&mut out, if m.len() == 1 { m[0] } else { c });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_is_go_strconv_quote() {
        assert_eq!(
            go_quote(b"a\"b\\c\n\x01\xff\x7f"),
            br#""a\"b\\c\n\x01\xff\x7f""#.to_vec()
        );
        assert_eq!(
            go_quote("é\u{a0}😀".as_bytes()),
            "\"é\\u00a0😀\"".as_bytes().to_vec()
        );
    }

    #[test]
    fn decoding_treats_invalid_bytes_as_one_replacement_each() {
        let got: Vec<(char, usize)> = runes(b"a\xe2\x82").collect();
        assert_eq!(got, vec![('a', 1), ('\u{fffd}', 1), ('\u{fffd}', 1)]);
        assert_eq!(decode_last("aé".as_bytes()), Some(('é', 2)));
        assert_eq!(decode_last(b"a\xa9"), Some(('\u{fffd}', 1)));
        assert_eq!(map_case("straße".as_bytes(), true), "STRAßE".as_bytes().to_vec());
    }
}
