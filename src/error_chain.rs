//! One way to print an error with its causes.

use std::error::Error as StdError;
use std::fmt;

/// Displays an error followed by each of its sources whose message it does not
/// already contain, separated by `: `, on one line: a message that spans lines
/// (the AWS SDK lists each provider of an empty credential chain on a line of
/// its own) has them joined with `; `.
///
/// rmcp and hyper-util show only the top error's `Display`, and their top-level
/// messages (`client error (Connect)`) say little without their sources.
///
/// ```
/// # #[cfg(feature = "unstable")] {
/// use tower_sigv4::unstable::ErrorChain;
///
/// let io = std::io::Error::new(std::io::ErrorKind::Other, "connection reset");
/// let outer = std::io::Error::new(std::io::ErrorKind::Other, io);
/// assert_eq!(ErrorChain(&outer).to_string(), "connection reset");
/// # }
/// ```
#[derive(Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn StdError + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut written = self.0.to_string();
        let mut current = self.0.source();
        while let Some(source) = current {
            let message = source.to_string();
            if !written.contains(&message) {
                written.push_str(": ");
                written.push_str(&message);
            }
            current = source.source();
        }
        f.write_str(&one_line(&written))
    }
}

/// `text` with its lines trimmed and joined by `; ` (by a space after a line
/// that ends in `:`, which introduces the next).
fn one_line(text: &str) -> String {
    if !text.contains('\n') {
        return text.to_owned();
    }
    let mut joined = String::with_capacity(text.len());
    for line in text.lines().map(str::trim).filter(|line| !line.is_empty()) {
        if !joined.is_empty() {
            joined.push_str(if joined.ends_with(':') { " " } else { "; " });
        }
        joined.push_str(line);
    }
    joined
}

impl fmt::Debug for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapper(&'static str, Option<std::io::Error>);

    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl StdError for Wrapper {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            self.1.as_ref().map(|e| e as _)
        }
    }

    #[test]
    fn sources_are_appended_once() {
        let inner = std::io::Error::other("connection refused");
        let outer = Wrapper("client error (Connect)", Some(inner));
        assert_eq!(
            ErrorChain(&outer).to_string(),
            "client error (Connect): connection refused"
        );
        let repeated = Wrapper("connection refused", Some(std::io::Error::other("refused")));
        assert_eq!(ErrorChain(&repeated).to_string(), "connection refused");
    }

    #[test]
    fn a_message_on_several_lines_is_printed_on_one() {
        let chain = std::io::Error::other(
            "no credentials found in chain. Attempted:\n  Environment: environment variable not set\n  Profile: the credential provider was not enabled\n",
        );
        let outer = Wrapper("the credential provider was not enabled", Some(chain));
        assert_eq!(
            ErrorChain(&outer).to_string(),
            "the credential provider was not enabled: no credentials found in chain. Attempted: Environment: environment variable not set; Profile: the credential provider was not enabled"
        );
    }
}
