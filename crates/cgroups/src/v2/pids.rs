//! v2 pids controller: the files are the same as on v1.

pub(crate) use crate::v1::pids::{apply, stats};
