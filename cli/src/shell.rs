//! Words for a POSIX shell, for the command lines bgjobs writes for others
//! to run (an adopted Bash call, a Codex hook, the teaching text).

/// One word for a POSIX shell: as is when it is plain, else single-quoted.
pub fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Like [`quote`], but always quoted: for a program path in a command that
/// a user reads (so that a later path with a space stays one word).
pub fn quote_always(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_what_the_shell_would_split_or_expand() {
        assert_eq!(quote("plain-word_1.0"), "plain-word_1.0");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's $HOME"), r"'it'\''s $HOME'");
        assert_eq!(quote("a\nb"), "'a\nb'");
        assert_eq!(quote_always("/usr/bin/bgjobs"), "'/usr/bin/bgjobs'");
    }
}
