//! A job's command line as a type that cannot be empty: a record whose
//! `command` is `[]` does not parse, so it is moved aside as corrupt like any
//! other unreadable record, and nothing downstream has to check again.

use serde::{Deserialize, Deserializer, Serialize};

/// A program and its arguments: at least one word.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct CommandLine(Vec<String>);

impl CommandLine {
    /// `words` as a command line, or `None` when there are none.
    pub fn new(words: Vec<String>) -> Option<Self> {
        (!words.is_empty()).then_some(Self(words))
    }

    /// The program to run.
    pub fn program(&self) -> &str {
        &self.0[0]
    }

    /// Its arguments.
    pub fn args(&self) -> &[String] {
        &self.0[1..]
    }
}

impl std::ops::Deref for CommandLine {
    type Target = [String];

    fn deref(&self) -> &[String] {
        &self.0
    }
}

impl<'de> Deserialize<'de> for CommandLine {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let words = Vec::<String>::deserialize(deserializer)?;
        Self::new(words).ok_or_else(|| serde::de::Error::custom("a command line with no program"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_command_line_does_not_parse() {
        assert!(serde_json::from_str::<CommandLine>("[]").is_err());
        let cmd: CommandLine = serde_json::from_str(r#"["make","-j2"]"#).unwrap();
        assert_eq!(
            (cmd.program(), cmd.args()),
            ("make", &["-j2".to_string()][..])
        );
        assert_eq!(serde_json::to_string(&cmd).unwrap(), r#"["make","-j2"]"#);
    }
}
