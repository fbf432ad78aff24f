pub mod adverts;
pub mod ha;
pub mod journal;
pub mod lab;

pub use testkit::netns;
pub mod keepalived;
