//! Keeping secrets out of a bug report (pure): values of secret-looking
//! keys in JSON, and bearer tokens and `token=...`-style values in log
//! lines, become `[redacted]`.

use serde_json::Value;

pub const REDACTED: &str = "[redacted]";

/// Parts of key names whose values are credentials or point at them.
const SECRET_KEY_PARTS: [&str; 7] = [
    "token",
    "password",
    "passwd",
    "secret",
    "kubeconfig",
    "credential",
    "key-data",
];

/// Whether the value of `key` must not leave the node.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_KEY_PARTS.iter().any(|part| key.contains(part))
}

/// Replaces the value of every secret key, at any depth, with `[redacted]`.
pub fn redact_json(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if is_secret_key(key) {
                    *value = Value::String(REDACTED.into());
                } else {
                    redact_json(value);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_json),
        _ => {}
    }
}

/// Every line of `text` scrubbed.
pub fn scrub_text(text: &str) -> String {
    text.split_inclusive('\n').map(scrub_line).collect()
}

/// `line` with the credential after `Bearer`/`Basic` and the value of
/// every secret key (`token=x`, `password: x`, `"token":"x"`) redacted.
pub fn scrub_line(line: &str) -> String {
    let bytes = line.as_bytes();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < bytes.len() {
        if !is_word(bytes[i]) {
            // Copy up to the next word: words are ASCII, so this slices at
            // a character boundary even in a line with other scripts.
            let next = (i..bytes.len())
                .find(|&j| is_word(bytes[j]))
                .unwrap_or(bytes.len());
            out.push_str(&line[i..next]);
            i = next;
            continue;
        }
        let end = (i..bytes.len())
            .find(|&j| !is_word(bytes[j]))
            .unwrap_or(bytes.len());
        let word = &line[i..end];
        let value = if word.eq_ignore_ascii_case("bearer") || word.eq_ignore_ascii_case("basic") {
            after_scheme(bytes, end)
        } else if is_secret_key(word) {
            after_separator(bytes, end)
        } else {
            None
        };
        match value {
            Some((start, stop)) => {
                out.push_str(&line[i..start]);
                out.push_str(REDACTED);
                i = stop;
            }
            None => {
                out.push_str(word);
                i = end;
            }
        }
    }
    out
}

/// Letters, digits, `_` and `-`: what a key or an auth scheme is made of.
fn is_word(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-'
}

/// Ends a value: whitespace, quotes and the separators of query strings,
/// JSON and key lists.
fn ends_value(byte: u8) -> bool {
    byte.is_ascii_whitespace() || b"\"',;&}])".contains(&byte)
}

/// The credential after an auth scheme at `at`: one or more spaces, then
/// a non-empty value.
fn after_scheme(bytes: &[u8], at: usize) -> Option<(usize, usize)> {
    let start = skip(bytes, at, |b| b == b' ');
    (start > at).then_some(())?;
    value_at(bytes, start)
}

/// The value after a key at `at`: an optional closing quote, `=` or `:`,
/// optional spaces and an optional opening quote, then a non-empty value.
fn after_separator(bytes: &[u8], at: usize) -> Option<(usize, usize)> {
    let at = skip(bytes, at, |b| b == b'"' || b == b'\'');
    let at = skip(bytes, at, |b| b == b' ');
    if !matches!(bytes.get(at), Some(b'=' | b':')) {
        return None;
    }
    let at = skip(bytes, at + 1, |b| b == b' ');
    let start = skip(bytes, at, |b| b == b'"' || b == b'\'');
    value_at(bytes, start)
}

fn value_at(bytes: &[u8], start: usize) -> Option<(usize, usize)> {
    let stop = skip(bytes, start, |b| !ends_value(b));
    (stop > start).then_some((start, stop))
}

fn skip(bytes: &[u8], from: usize, mut while_: impl FnMut(u8) -> bool) -> usize {
    (from..bytes.len())
        .find(|&j| !while_(bytes[j]))
        .unwrap_or(bytes.len())
}

/// The last `count` lines of `text` (all of it when it has fewer).
pub fn tail_lines(text: &str, count: usize) -> &str {
    let body = text.strip_suffix('\n').unwrap_or(text);
    match body.rmatch_indices('\n').nth(count.saturating_sub(1)) {
        Some((newline, _)) if count > 0 => &text[newline + 1..],
        Some(_) => "",
        None if count == 0 => "",
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn bearer_and_basic_credentials_are_redacted() {
        assert_eq!(
            scrub_line("GET /api Authorization: Bearer abc.def-ghi ok\n"),
            "GET /api Authorization: Bearer [redacted] ok\n"
        );
        assert_eq!(
            scrub_line("authorization=\"basic dXNlcjpw\""),
            "authorization=\"basic [redacted]\""
        );
        assert_eq!(scrub_line("a Bearer"), "a Bearer", "nothing follows");
    }

    #[test]
    fn values_of_secret_keys_are_redacted_in_every_style() {
        for (line, scrubbed) in [
            (
                "url=https://x/?token=abc&x=1",
                "url=https://x/?token=[redacted]&x=1",
            ),
            (
                "password: hunter2 user: bob",
                "password: [redacted] user: bob",
            ),
            (
                r#"{"token":"abc","node":"n1"}"#,
                r#"{"token":"[redacted]","node":"n1"}"#,
            ),
            (
                r#""kubeconfig": "/secret/path""#,
                r#""kubeconfig": "[redacted]""#,
            ),
            ("client-key-data: LS0tLS1C", "client-key-data: [redacted]"),
            (
                "service-account-token=eyJh.x.y,",
                "service-account-token=[redacted],",
            ),
        ] {
            assert_eq!(scrub_line(line), scrubbed, "{line}");
        }
    }

    #[test]
    fn other_text_is_left_alone() {
        for line in [
            "token count 5 at 12:30:01 — ünïcode stays",
            "ADD 10.244.1.2/24 via weft1234",
            "tokens: ",
            "",
        ] {
            assert_eq!(scrub_line(line), line);
        }
        assert_eq!(scrub_text("a\ntoken=x\nb"), "a\ntoken=[redacted]\nb");
    }

    #[test]
    fn json_secrets_are_redacted_at_any_depth() {
        let mut conf = json!({
            "name": "weft",
            "plugins": [{"type": "weft", "kubeconfig": "/secret/path", "auth": {"Token": 7}}],
            "logFile": "/var/log/weft.log",
        });
        redact_json(&mut conf);
        assert_eq!(
            conf,
            json!({
                "name": "weft",
                "plugins": [{"type": "weft", "kubeconfig": "[redacted]", "auth": {"Token": "[redacted]"}}],
                "logFile": "/var/log/weft.log",
            })
        );
    }

    #[test]
    fn tails_keep_the_last_lines() {
        assert_eq!(tail_lines("a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(tail_lines("a\nb\nc", 2), "b\nc");
        assert_eq!(tail_lines("a\nb\n", 5), "a\nb\n");
        assert_eq!(tail_lines("a\nb\n", 0), "");
        assert_eq!(tail_lines("", 3), "");
    }
}
