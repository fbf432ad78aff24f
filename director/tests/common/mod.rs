pub mod runner;

pub use testkit::netns;
