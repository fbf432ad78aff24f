//! One module per `ha` subcommand.

pub mod check;
pub mod simulate;
