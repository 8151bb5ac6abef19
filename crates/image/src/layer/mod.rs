//! Layers: decompression and extraction of a layer tar into its own
//! snapshot directory, in the form overlayfs reads as a lower layer.

mod apply;
pub mod safe;
mod whiteout;

use std::io::{BufRead, BufReader, Read};

pub use apply::{apply_layer, ApplyOptions};
pub use whiteout::{OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX};

use crate::spec::{sniff_compression, Compression};

/// Wraps `reader` in the decompressor for `compression`. `None` sniffs the
/// magic bytes (for archives that do not say).
pub fn decompress<'a>(
    reader: impl Read + Send + 'a,
    compression: Option<Compression>,
) -> std::io::Result<Box<dyn Read + Send + 'a>> {
    let mut reader = BufReader::with_capacity(256 << 10, reader);
    let compression = match compression {
        Some(c) => c,
        None => sniff_compression(reader.fill_buf()?),
    };
    Ok(match compression {
        Compression::None => Box::new(reader),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(reader)?),
    })
}
