//! One module per command, each with its clap arguments and a `run`.

pub mod cp;
pub mod exec;
pub mod history;
pub mod image_inspect;
pub mod images;
pub mod inspect;
pub mod lifecycle;
pub mod login;
pub mod logs;
pub mod network;
pub mod port;
pub mod ps;
pub mod pull;
pub mod rmi;
pub mod run;
pub mod tag;
pub mod volume;
