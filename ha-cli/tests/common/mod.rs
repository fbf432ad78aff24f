pub mod netns;
pub mod runner;
