//! The journal's native protocol, read back: what ha's journald writer sends.
#![allow(dead_code)]

/// Parses a native-protocol entry (`KEY=value\n`, or `KEY\n<u64 LE length><value>\n`) into
/// (name, value) pairs, in order; panics on anything malformed.
pub fn parse_journal_entry(mut entry: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut fields = Vec::new();
    while !entry.is_empty() {
        let end = entry
            .iter()
            .position(|&b| b == b'\n' || b == b'=')
            .expect("a field name ends with = or a newline");
        let name = String::from_utf8(entry[..end].to_vec()).unwrap();
        assert!(
            !name.is_empty()
                && name.len() <= 64
                && !name.starts_with('_')
                && name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'),
            "journal field name {name:?}"
        );
        let rest = &entry[end + 1..];
        if entry[end] == b'=' {
            let newline = rest.iter().position(|&b| b == b'\n').expect("newline");
            fields.push((name, rest[..newline].to_vec()));
            entry = &rest[newline + 1..];
        } else {
            let len = u64::from_le_bytes(rest[..8].try_into().unwrap()) as usize;
            fields.push((name, rest[8..8 + len].to_vec()));
            assert_eq!(rest[8 + len], b'\n', "a binary field ends with a newline");
            entry = &rest[8 + len + 1..];
        }
    }
    fields
}
