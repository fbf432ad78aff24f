//! Developer automation behind `cargo xtask`, as a library so that other commands (the
//! director demo, multi-namespace scenarios) can reuse the test VM.
#![forbid(unsafe_code)]

pub mod chaos;
pub mod fuzz;
pub mod sim;
pub mod vm;
