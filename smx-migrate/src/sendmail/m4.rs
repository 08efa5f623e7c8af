//! Reading sendmail.mc without running m4 (seed 001, cf/README): m4
//! quoting `` `...' `` (nested), `dnl` to the end of the line, `#`
//! comments, and macro calls `NAME(arg, ...)` with their arguments
//! unquoted one level. Each call is one directive with its line.

/// One macro call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// Line of the macro name.
    pub line: usize,
    /// Macro name.
    pub name: String,
    /// Arguments, one level of quotes removed, leading blanks trimmed.
    pub args: Vec<String>,
}

/// Removes one level of m4 quotes.
pub fn unquote(s: &str) -> String {
    let s = s.trim();
    if let Some(inner) = s.strip_prefix('`').and_then(|r| r.strip_suffix('\'')) {
        return inner.to_string();
    }
    s.to_string()
}

/// The calls of an .mc or .m4 text.
pub fn calls(text: &str) -> Vec<Call> {
    let c: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch == '#' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '`' {
            let mut depth = 0;
            while i < c.len() {
                match c[i] {
                    '`' => depth += 1,
                    '\'' => {
                        depth -= 1;
                        if depth == 0 {
                            i += 1;
                            break;
                        }
                    }
                    '\n' => line += 1,
                    _ => {}
                }
                i += 1;
            }
        } else if ch.is_ascii_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            let name: String = c[start..i].iter().collect();
            if name == "dnl" {
                while i < c.len() && c[i] != '\n' {
                    i += 1;
                }
                if i < c.len() {
                    i += 1;
                    line += 1;
                }
                continue;
            }
            let at = line;
            let mut args = Vec::new();
            if i < c.len() && c[i] == '(' {
                i += 1;
                let mut depth = 0;
                let mut paren = 0;
                let mut cur = String::new();
                while i < c.len() {
                    let x = c[i];
                    if x == '\n' {
                        line += 1;
                    }
                    if depth > 0 {
                        if x == '`' {
                            depth += 1;
                        } else if x == '\'' {
                            depth -= 1;
                        }
                        cur.push(x);
                    } else if x == '`' {
                        depth += 1;
                        cur.push(x);
                    } else if x == '(' {
                        paren += 1;
                        cur.push(x);
                    } else if x == ')' && paren > 0 {
                        paren -= 1;
                        cur.push(x);
                    } else if x == ')' {
                        i += 1;
                        break;
                    } else if x == ',' && paren == 0 {
                        args.push(unquote(&cur));
                        cur.clear();
                    } else if x == 'd'
                        && c[i..].iter().take(3).collect::<String>() == "dnl"
                        && paren == 0
                    {
                        while i < c.len() && c[i] != '\n' {
                            i += 1;
                        }
                        continue;
                    } else {
                        cur.push(x);
                    }
                    i += 1;
                }
                args.push(unquote(&cur));
            }
            out.push(Call {
                line: at,
                name,
                args,
            });
        } else {
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_dnl_and_args() {
        let t = "divert(-1)dnl\n# FEATURE(`commented')\nFEATURE(`access_db', , `skip')dnl\n\
                 define(`confPRIVACY_FLAGS',dnl\n`needmailhelo,noexpn')dnl\nMAILER_DEFINITIONS\n\
                 define(`ALIAS_FILE', ``/etc/a, /etc/b'')\n";
        let c = calls(t);
        let names: Vec<&str> = c.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "divert",
                "FEATURE",
                "define",
                "MAILER_DEFINITIONS",
                "define"
            ]
        );
        assert_eq!(c[1].args, ["access_db", "", "skip"]);
        assert_eq!(c[1].line, 3);
        assert_eq!(c[2].args, ["confPRIVACY_FLAGS", "needmailhelo,noexpn"]);
        assert_eq!(c[3].line, 6);
        assert_eq!(c[4].args[1], "`/etc/a, /etc/b'");
    }
}
