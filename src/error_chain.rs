//! One way to print an error with its causes.

use std::error::Error as StdError;
use std::fmt;

/// Displays an error followed by each of its sources whose message it does not
/// already contain, separated by `: `.
///
/// rmcp and hyper-util show only the top error's `Display`, and their top-level
/// messages (`client error (Connect)`) say little without their sources.
///
/// ```
/// use tower_sigv4::ErrorChain;
///
/// let io = std::io::Error::new(std::io::ErrorKind::Other, "connection reset");
/// let outer = std::io::Error::new(std::io::ErrorKind::Other, io);
/// assert_eq!(ErrorChain(&outer).to_string(), "connection reset");
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
        f.write_str(&written)
    }
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
}
