pub mod adverts;
pub mod ecmp;
pub mod frr;
pub mod ha;
pub mod journal;
pub mod keepalived;
pub mod lab;

pub use testkit::netns;
