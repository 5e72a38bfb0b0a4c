//! PLACEHOLDER — being written.
