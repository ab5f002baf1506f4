//! One module per command, each with its clap arguments and a `run`.

pub mod images;
pub mod pull;
