//! Shared by the fuzz targets: the comparison lives in seal-format
//! (`sops::compare`), so the regression tests use the same one. The
//! template and PKCS#12 targets' checks live in `seal_template::fuzzing`.

pub use seal_format::sops::compare::{leaves, same_data};
