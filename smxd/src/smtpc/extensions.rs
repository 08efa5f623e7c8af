//! The service extensions a server announces in its EHLO/LHLO reply
//! (RFC 5321 §4.1.1.1) that the client uses: PIPELINING (RFC 2920),
//! SIZE (RFC 1870), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531), DSN
//! (RFC 3461), ENHANCEDSTATUSCODES (RFC 2034) and STARTTLS (RFC 3207). A
//! HELO session has none.

/// What the server offered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extensions {
    /// PIPELINING.
    pub pipelining: bool,
    /// SIZE, with the server's limit (`Some(0)`: no fixed limit).
    pub size: Option<u64>,
    /// 8BITMIME.
    pub eightbitmime: bool,
    /// SMTPUTF8.
    pub smtputf8: bool,
    /// DSN.
    pub dsn: bool,
    /// ENHANCEDSTATUSCODES.
    pub enhanced_status: bool,
    /// STARTTLS (RFC 3207).
    pub starttls: bool,
}

impl Extensions {
    /// Parses the lines of an EHLO reply; the first line is the greeting
    /// (the server's name) and is skipped. Unknown keywords are ignored.
    pub fn parse(lines: &[String]) -> Extensions {
        let mut ext = Extensions::default();
        for line in lines.iter().skip(1) {
            let mut words = line.split_ascii_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            match keyword.to_ascii_uppercase().as_str() {
                "PIPELINING" => ext.pipelining = true,
                "SIZE" => {
                    ext.size = Some(words.next().and_then(|n| n.parse().ok()).unwrap_or(0));
                }
                "8BITMIME" => ext.eightbitmime = true,
                "SMTPUTF8" => ext.smtputf8 = true,
                "DSN" => ext.dsn = true,
                "ENHANCEDSTATUSCODES" => ext.enhanced_status = true,
                "STARTTLS" => ext.starttls = true,
                _ => {}
            }
        }
        ext
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_extensions_used() {
        let lines: Vec<String> = [
            "mx.example greets you",
            "pipelining",
            "SIZE 10240000",
            "8BITMIME",
            "SMTPUTF8",
            "DSN",
            "ENHANCEDSTATUSCODES",
            "STARTTLS",
            "",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let e = Extensions::parse(&lines);
        assert_eq!(
            e,
            Extensions {
                pipelining: true,
                size: Some(10_240_000),
                eightbitmime: true,
                smtputf8: true,
                dsn: true,
                enhanced_status: true,
                starttls: true,
            }
        );
        let e = Extensions::parse(&["x".to_string(), "SIZE".to_string()]);
        assert_eq!(e.size, Some(0));
        // The greeting line is not a keyword.
        let e = Extensions::parse(&["PIPELINING".to_string()]);
        assert!(!e.pipelining);
    }
}
