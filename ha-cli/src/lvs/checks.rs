//! keepalived checker blocks → the health-check engine's configuration.
