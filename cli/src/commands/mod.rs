//! One module per command, each with its clap arguments and a `run`.

pub mod history;
pub mod image_inspect;
pub mod images;
pub mod login;
pub mod pull;
pub mod rmi;
pub mod tag;
