//! One module per `ha` subcommand.

pub mod simulate;
