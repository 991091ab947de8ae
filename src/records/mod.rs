//! Record generation.
