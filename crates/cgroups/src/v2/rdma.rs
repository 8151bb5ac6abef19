//! v2 rdma controller: the files are the same as on v1.

pub(crate) use crate::v1::rdma::{apply, stats};
