//! The simulated world: the same wire protocols as the real systems, served on 127.0.0.1.
