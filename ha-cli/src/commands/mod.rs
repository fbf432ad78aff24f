//! One module per `ha` subcommand.

pub mod check;
pub mod ipvs;
pub mod run;
pub mod simulate;
pub mod status;
pub mod status_render;
