//! File formats that keep the publisher's encoded media as it arrived.

pub mod ogg;
pub mod webm;
