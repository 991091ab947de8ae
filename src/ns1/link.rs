//! `Link` header handling for paginated NS1 listings, and endpoint URL
//! handling.

/// A parsed API endpoint such as `https://api.nsone.net/v1/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `http` or `https`, lower case.
    pub scheme: String,
    /// `host[:port]`.
    pub authority: String,
    /// Path prefix, always starting and ending with `/` (e.g. `/v1/`).
    pub base_path: String,
}

impl Endpoint {
    /// Parses an endpoint URL. The trailing slash is optional; a query or
    /// fragment is rejected.
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let url = url.trim();
        let (scheme, rest) = split_scheme(url)
            .ok_or_else(|| format!("endpoint {url:?} must start with http:// or https://"))?;
        if rest.contains(['?', '#']) {
            return Err(format!(
                "endpoint {url:?} must not contain a query or fragment"
            ));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(format!("endpoint {url:?} has no usable host"));
        }
        let mut base_path = path.to_string();
        if !base_path.ends_with('/') {
            base_path.push('/');
        }
        Ok(Endpoint {
            scheme,
            authority: authority.to_string(),
            base_path,
        })
    }

    /// `scheme://authority`.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.authority)
    }

    /// Full URL of `rel` (no leading slash) under the base path.
    pub fn url(&self, rel: &str) -> String {
        format!("{}{}{}", self.origin(), self.base_path, rel)
    }

    /// Rewrites a URL received from the server (a `Link` target) so that it
    /// uses this endpoint's scheme and authority, keeping its path and query
    /// verbatim (the cursor is opaque). Forcing the authority too means the
    /// API key is never sent to a host other than the configured endpoint.
    /// Relative references (`/v1/...` or `zones/...`) are resolved against
    /// the endpoint.
    pub fn rebase(&self, link: &str) -> String {
        let link = link.trim();
        if let Some((_, rest)) = split_scheme(link) {
            let path_and_query = match rest.find(['/', '?']) {
                Some(i) => &rest[i..],
                None => "/",
            };
            let path_and_query = if path_and_query.starts_with('?') {
                format!("/{path_and_query}")
            } else {
                path_and_query.to_string()
            };
            format!("{}{}", self.origin(), self.keep_prefix(&path_and_query))
        } else if let Some(rest) = link.strip_prefix("//") {
            // Network-path reference: drop the authority as well.
            let path_and_query = rest.find(['/', '?']).map_or("/", |i| &rest[i..]);
            format!("{}{}", self.origin(), self.keep_prefix(path_and_query))
        } else if link.starts_with('/') {
            format!("{}{}", self.origin(), self.keep_prefix(link))
        } else {
            self.url(link)
        }
    }

    /// An endpoint behind a path prefix (`https://gw.example/ns1/v1/`) gets
    /// `Link` URLs from the API behind it that start at the API's own root
    /// (`/v1/zones/…`): put the prefix back. A path already under the
    /// endpoint's base path is kept as it is.
    fn keep_prefix(&self, path_and_query: &str) -> String {
        if path_and_query.starts_with(&self.base_path) {
            return path_and_query.to_string();
        }
        // The API root: the last segment of the base path (`/v1/`).
        let trimmed = self.base_path.trim_end_matches('/');
        if let Some(i) = trimmed.rfind('/')
            && i > 0
        {
            let root = &self.base_path[i..]; // "/v1/"
            if let Some(rest) = path_and_query.strip_prefix(root) {
                return format!("{}{rest}", self.base_path);
            }
        }
        path_and_query.to_string()
    }

    /// The path-and-query part of a URL built by this endpoint, for logs and
    /// error messages.
    pub fn path_of<'a>(&self, url: &'a str) -> &'a str {
        match split_scheme(url) {
            Some((_, rest)) => {
                let start = url.len() - rest.len();
                match rest.find('/') {
                    Some(i) => &url[start + i..],
                    None => "/",
                }
            }
            None => url,
        }
    }
}

/// Splits `http://...`/`https://...` (case-insensitive) into the lower-case
/// scheme and the rest.
fn split_scheme(url: &str) -> Option<(String, &str)> {
    let i = url.find("://")?;
    let scheme = url[..i].to_ascii_lowercase();
    if scheme == "http" || scheme == "https" {
        Some((scheme, &url[i + 3..]))
    } else {
        None
    }
}

/// Finds the target of the first `rel="next"` link among all `Link` header
/// values (RFC 8288 syntax: comma-separated `<uri>; param=value` entries,
/// `rel` may hold several space-separated relation types, quoted or not).
pub fn parse_next_link<S: AsRef<str>>(values: &[S]) -> Option<String> {
    for value in values {
        for (uri, params) in parse_link_value(value.as_ref()) {
            let is_next = params.iter().any(|(name, val)| {
                name.eq_ignore_ascii_case("rel")
                    && val
                        .split_ascii_whitespace()
                        .any(|r| r.eq_ignore_ascii_case("next"))
            });
            if is_next {
                return Some(uri);
            }
        }
    }
    None
}

/// Parses one `Link` header value into `(uri, params)` entries. Malformed
/// entries are skipped.
fn parse_link_value(s: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        // Seek to the next '<'.
        while i < b.len() && b[i] != b'<' {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let Some(close) = s[i + 1..].find('>') else {
            break;
        };
        let uri = s[i + 1..i + 1 + close].trim().to_string();
        i = i + 1 + close + 1;
        // Parameters until an unquoted ',' or end.
        let mut params = Vec::new();
        loop {
            while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
                i += 1;
            }
            if i >= b.len() {
                break;
            }
            if b[i] == b',' {
                i += 1;
                break;
            }
            if b[i] != b';' {
                // Garbage: skip to the next comma.
                while i < b.len() && b[i] != b',' {
                    i += 1;
                }
                continue;
            }
            i += 1;
            while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
                i += 1;
            }
            let name_start = i;
            while i < b.len() && !matches!(b[i], b'=' | b';' | b',' | b' ' | b'\t') {
                i += 1;
            }
            let name = s[name_start..i].to_string();
            while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
                i += 1;
            }
            let mut value = String::new();
            if i < b.len() && b[i] == b'=' {
                i += 1;
                while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
                    i += 1;
                }
                if i < b.len() && b[i] == b'"' {
                    i += 1;
                    while i < b.len() && b[i] != b'"' {
                        if b[i] == b'\\' && i + 1 < b.len() {
                            i += 1;
                        }
                        // Push whole UTF-8 characters.
                        let ch = s[i..].chars().next().unwrap_or('\u{fffd}');
                        value.push(ch);
                        i += ch.len_utf8();
                    }
                    i += 1; // closing quote
                } else {
                    let start = i;
                    while i < b.len() && !matches!(b[i], b';' | b',' | b' ' | b'\t') {
                        i += 1;
                    }
                    value = s[start..i].to_string();
                }
            }
            if !name.is_empty() {
                params.push((name, value));
            }
        }
        if !uri.is_empty() {
            out.push((uri, params));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_parsing() {
        let e = Endpoint::parse("https://api.nsone.net/v1/").unwrap();
        assert_eq!(e.scheme, "https");
        assert_eq!(e.authority, "api.nsone.net");
        assert_eq!(e.base_path, "/v1/");
        let e2 = Endpoint::parse("https://api.nsone.net/v1").unwrap();
        assert_eq!(e, e2);
        let e3 = Endpoint::parse("HTTP://127.0.0.1:8080").unwrap();
        assert_eq!(e3.scheme, "http");
        assert_eq!(e3.base_path, "/");
        assert_eq!(e3.url("zones/x"), "http://127.0.0.1:8080/zones/x");
        assert!(Endpoint::parse("ftp://x/").is_err());
        assert!(Endpoint::parse("api.nsone.net/v1/").is_err());
        assert!(Endpoint::parse("https:///v1/").is_err());
        assert!(Endpoint::parse("https://h/v1/?a=b").is_err());
        assert!(Endpoint::parse("https://user:pw@h/v1/").is_err());
    }

    #[test]
    fn next_link_simple() {
        let v =
            [r#"<https://api.nsone.net/v1/zones/example.com?after=abc&limit=2500>; rel="next""#];
        assert_eq!(
            parse_next_link(&v).as_deref(),
            Some("https://api.nsone.net/v1/zones/example.com?after=abc&limit=2500")
        );
    }

    #[test]
    fn next_link_among_others_and_unquoted() {
        let v =
            [r#"<https://h/v1/zones?page=1>; rel="prev", <https://h/v1/zones?page=3>; rel=next"#];
        assert_eq!(
            parse_next_link(&v).as_deref(),
            Some("https://h/v1/zones?page=3")
        );
        // Separate header values.
        let v2 = [
            r#"<https://h/a>; rel="first""#,
            r#"<https://h/b>;rel="NEXT""#,
        ];
        assert_eq!(parse_next_link(&v2).as_deref(), Some("https://h/b"));
        // Multiple relation types.
        let v3 = [r#"<https://h/c>; title="a, b; c"; rel="last next""#];
        assert_eq!(parse_next_link(&v3).as_deref(), Some("https://h/c"));
    }

    #[test]
    fn no_next_link() {
        let empty: [&str; 0] = [];
        assert_eq!(parse_next_link(&empty), None);
        assert_eq!(parse_next_link(&[r#"<https://h/a>; rel="prev""#]), None);
        assert_eq!(parse_next_link(&["garbage"]), None);
        assert_eq!(parse_next_link(&["<https://h/a"]), None);
        assert_eq!(parse_next_link(&[r#"<https://h/a>"#]), None);
    }

    #[test]
    fn comma_inside_uri_is_kept() {
        let v = [r#"<https://h/z?after=a,b>; rel="next""#];
        assert_eq!(
            parse_next_link(&v).as_deref(),
            Some("https://h/z?after=a,b")
        );
    }

    #[test]
    fn rebase_forces_endpoint_scheme_and_host() {
        let e = Endpoint::parse("https://api.nsone.net/v1/").unwrap();
        assert_eq!(
            e.rebase("http://api.nsone.net/v1/zones/z?after=X&limit=2"),
            "https://api.nsone.net/v1/zones/z?after=X&limit=2"
        );
        assert_eq!(
            e.rebase("https://evil.example/v1/zones/z?after=X"),
            "https://api.nsone.net/v1/zones/z?after=X"
        );
        assert_eq!(
            e.rebase("/v1/zones/z?after=X"),
            "https://api.nsone.net/v1/zones/z?after=X"
        );
        assert_eq!(
            e.rebase("zones/z?after=X"),
            "https://api.nsone.net/v1/zones/z?after=X"
        );
        assert_eq!(
            e.rebase("//other/v1/zones/z?after=X"),
            "https://api.nsone.net/v1/zones/z?after=X"
        );
        let local = Endpoint::parse("http://127.0.0.1:9/v1/").unwrap();
        assert_eq!(
            local.rebase("https://127.0.0.1:9/v1/zones/z?after=1"),
            "http://127.0.0.1:9/v1/zones/z?after=1"
        );
    }

    #[test]
    fn rebase_keeps_the_endpoint_path_prefix() {
        let e = Endpoint::parse("https://gw.example/ns1/v1/").unwrap();
        assert_eq!(
            e.rebase("https://api.nsone.net/v1/zones/z?after=X&limit=2"),
            "https://gw.example/ns1/v1/zones/z?after=X&limit=2"
        );
        assert_eq!(
            e.rebase("https://gw.example/ns1/v1/zones/z?after=X"),
            "https://gw.example/ns1/v1/zones/z?after=X"
        );
        assert_eq!(
            e.rebase("/v1/zones/z?after=X"),
            "https://gw.example/ns1/v1/zones/z?after=X"
        );
        assert_eq!(
            e.rebase("zones/z?after=X"),
            "https://gw.example/ns1/v1/zones/z?after=X"
        );
        // HTTPS in upper case is https.
        let u = Endpoint::parse("HTTPS://API.nsone.net/v1/").unwrap();
        assert_eq!(u.scheme, "https");
    }

    #[test]
    fn path_of_strips_origin() {
        let e = Endpoint::parse("https://api.nsone.net/v1/").unwrap();
        assert_eq!(
            e.path_of("https://api.nsone.net/v1/zones/z?after=1"),
            "/v1/zones/z?after=1"
        );
        assert_eq!(e.path_of("https://api.nsone.net"), "/");
    }
}
