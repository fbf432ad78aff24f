pub mod adverts;
pub mod ha;
pub mod lab;

pub use testkit::netns;
