//! Harness for the end-to-end tests: a private state root and workspace per
//! test, and the real `bgjobs` binary run as a separate process.
