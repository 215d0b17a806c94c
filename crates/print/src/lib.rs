//! Printed initial registration sheets (初期登録用 QR): A4 PDF pages with the holder's photo
//! and data, the registration QR code, the password, the expiry and short instructions, in
//! an embedded subset of a Japanese font. Pages are streamed to any writer.
#![forbid(unsafe_code)]

mod font;
mod pdf;
mod sheet;

pub use font::{SheetFont, DEFAULT_FONT_PATHS};
pub use sheet::{check_photo, SheetDocument, SheetDocumentSettings, SheetPage};

/// Why a sheet could not be printed.
#[derive(Debug, thiserror::Error)]
pub enum PrintError {
    #[error("{0}")]
    Font(String),
    #[error("the font has no glyph for {0:?} (U+{code:04X}); it cannot be printed", code = *.0 as u32)]
    MissingGlyph(char),
    #[error("the face photo cannot be printed: {0}")]
    Photo(String),
    #[error("the QR code cannot be made: {0}")]
    Qr(String),
    #[error("there are no pages to print")]
    Empty,
    #[error("writing the PDF failed: {0}")]
    Io(#[from] std::io::Error),
}
