//! Build.
