use crate::error::Result;
use std::path::Path;
pub(crate) fn freeze(d: &Path) -> Result<()> {
    Err(super::todo(d))
}
pub(crate) fn thaw(d: &Path) -> Result<()> {
    Err(super::todo(d))
}
pub(crate) fn is_frozen(d: &Path) -> Result<bool> {
    Err(super::todo(d))
}
