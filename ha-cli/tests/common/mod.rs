pub mod lab;

pub use testkit::netns;
