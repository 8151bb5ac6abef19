//! onggi-runtime: OCI bundle to running container.
