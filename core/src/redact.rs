//! What of a URL may be shown in logs, errors and `Debug` output.

/// The URL without its credentials and query: `https://user:pass@host/p?key=k` becomes
/// `https://***@host/p?…`. User info and query strings may carry secrets; scheme, host and
/// path say enough to find a misconfiguration.
pub(crate) fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    let (rest, cut) = match rest.find(['?', '#']) {
        Some(i) => (&rest[..i], true),
        None => (rest, false),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(i) => format!("***{}", &authority[i..]),
        None => authority.to_string(),
    };
    format!("{scheme}{authority}{path}{}", if cut { "?…" } else { "" })
}

/// `text` with every URL in it (`scheme://…` up to whitespace, a quote or `)`) passed through
/// [`redact_url`]: for messages of other libraries' errors, which may quote the URL they
/// were given.
pub(crate) fn redact_urls_in(text: &str) -> String {
    let is_scheme = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.');
    let is_end = |c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`' | ')');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let start = rest[..i]
            .char_indices()
            .rev()
            .take_while(|&(_, c)| is_scheme(c))
            .last()
            .map_or(i, |(j, _)| j);
        let end = rest[i..].find(is_end).map_or(rest.len(), |j| i + j);
        out.push_str(&rest[..start]);
        out.push_str(&redact_url(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::{redact_url, redact_urls_in};

    #[test]
    fn urls_inside_messages_are_redacted() {
        assert_eq!(
            redact_urls_in("error sending request for url (https://u:pw@hub/x?t=1): refused"),
            "error sending request for url (https://***@hub/x?…): refused"
        );
        assert_eq!(redact_urls_in("no url here"), "no url here");
        assert_eq!(
            redact_urls_in("a \"http://k@h/\" and ftp://h/p"),
            "a \"http://***@h/\" and ftp://h/p"
        );
    }

    #[test]
    fn credentials_and_queries_go() {
        for (url, shown) in [
            ("https://x/y?key=abc", "https://x/y?…"),
            ("https://user:pa55@host:8080/v1", "https://***@host:8080/v1"),
            ("https://user:p@ss@host/v1?k=1", "https://***@host/v1?…"),
            ("dynamodb://t?endpoint=http://a:b@h", "dynamodb://t?…"),
            ("sqlite:///var/db/x.db", "sqlite:///var/db/x.db"),
            ("u:secret@host/path", "***@host/path"),
            ("http://host/a@b", "http://host/a@b"),
            ("memory://", "memory://"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }
}
