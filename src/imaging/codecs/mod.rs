//! The in-house decoders for what dicom-pixeldata cannot decode: JPEG-LS, 12-bit JPEG and RLE
//! Lossless with 32-bit samples.

pub(crate) mod jpeg12; // pub(crate) for crate::fuzzing
#[doc(hidden)] // public for tests/corpus.rs, which compares decoded samples with twin files
pub mod jpegls;
pub(crate) mod rle; // pub(crate) for crate::fuzzing
