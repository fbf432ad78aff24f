//! The control socket's lines: a request as the server reads it, a reply as `ha status` reads
//! it. No panic; whatever parses serializes to one line that parses back to the same request
//! (replies, which hold floats and free JSON, to the same line: a fixed point).
//!
//! The input is the line; the server reads it into a `String`, so invalid UTF-8 never reaches
//! the parser (the connection fails before).

use director::control::{parse_reply, parse_request};

/// The target's body.
pub fn run(data: &[u8]) {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(request) = parse_request(line) {
        let text = serde_json::to_string(&request).expect("a request serializes");
        assert!(!text.contains('\n'), "one line: {text}");
        assert_eq!(
            parse_request(&text).expect("a serialized request parses"),
            request
        );
    }
    if let Ok(reply) = parse_reply(line) {
        let text = serde_json::to_string(&reply).expect("a reply serializes");
        assert!(!text.contains('\n'), "one line: {text}");
        let again = parse_reply(&text).expect("a serialized reply parses");
        assert_eq!(
            serde_json::to_string(&again).expect("a reply serializes"),
            text
        );
    }
}
