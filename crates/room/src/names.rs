//! Display names: what every participant is shown of someone else.
//!
//! One rule wherever a name is set (the join page, a metadata update over
//! signalling, the room API, tokens and sign-in replies): at most
//! [`MAX_DISPLAY_NAME`] characters, and nothing that is not a visible part of
//! the name: control characters, line and paragraph separators, and the
//! bidirectional overrides and isolates, which can make a name read as
//! something else ("moderator" written backwards, or text after it flipped).
//! Joiners used in emoji and in some scripts (U+200C, U+200D) stay.
//!
//! Names a person types are [`check`]ed and refused with a reason; names
//! from a company's tokens or identity provider are [`clean`]ed, since the
//! person cannot fix them.

/// The longest display name, in characters.
pub const MAX_DISPLAY_NAME: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("a name is at most {MAX_DISPLAY_NAME} characters")]
    TooLong,
    #[error("a name may not contain the invisible character U+{0:04X}")]
    Invisible(u32),
}

fn invisible(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{061C}'                      // Arabic letter mark
            | '\u{200B}'                    // zero width space
            | '\u{200E}' | '\u{200F}'       // left-to-right and right-to-left marks
            | '\u{2028}' | '\u{2029}'       // line and paragraph separators
            | '\u{202A}'..='\u{202E}'       // embeddings and overrides
            | '\u{2060}'..='\u{2064}'       // word joiner, invisible operators
            | '\u{2066}'..='\u{2069}'       // isolates
            | '\u{FEFF}'                    // byte order mark
            | '\u{FFF9}'..='\u{FFFB}'       // interlinear annotations
        )
}

/// A typed name: `Ok` if it may be shown as it is (surrounding spaces aside).
pub fn check(name: &str) -> Result<(), NameError> {
    if let Some(c) = name.chars().find(|c| invisible(*c)) {
        return Err(NameError::Invisible(u32::from(c)));
    }
    if name.trim().chars().count() > MAX_DISPLAY_NAME {
        return Err(NameError::TooLong);
    }
    Ok(())
}

/// A name from a token or an identity provider, made showable: invisible
/// characters dropped, spaces trimmed, cut to [`MAX_DISPLAY_NAME`].
pub fn clean(name: &str) -> String {
    let visible: String = name.chars().filter(|c| !invisible(*c)).collect();
    visible.trim().chars().take(MAX_DISPLAY_NAME).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_read_as_something_else_are_refused_or_cleaned() {
        assert_eq!(check("Ada Lovelace"), Ok(()));
        assert_eq!(check("  Zoë 山田 👩‍💻 "), Ok(()), "joiners in emoji stay");
        assert_eq!(
            check("Eve\u{202E}rotaredom"),
            Err(NameError::Invisible(0x202E))
        );
        assert_eq!(
            check("Eve\n2026-12-04 INFO admin logged in"),
            Err(NameError::Invisible(0x0A))
        );
        assert_eq!(check("\u{1b}[31mred"), Err(NameError::Invisible(0x1B)));
        assert_eq!(check(&"x".repeat(65)), Err(NameError::TooLong));
        assert_eq!(clean(" Eve\u{2066}\u{202E}x\u{0}\u{2069} "), "Evex");
        assert_eq!(clean(&"y".repeat(100)).chars().count(), MAX_DISPLAY_NAME);
    }
}
