//! Printing sheets to a PDF file: the shared PDF sink (`hpki_web::sheet_pdf`) into a file that
//! appears only when the whole run succeeded.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use hpki_core::domain::{Holder, Photo};
use hpki_core::services::{IssuedSheet, PageProblem, SheetCheck, SheetSink};
use hpki_print::{SheetDocumentSettings, SheetFont};
pub use hpki_web::sheet_pdf::FontCheck;
use hpki_web::sheet_pdf::SheetPdf;

use crate::Failure;

/// The PDF being written: pages go to `<out>.partial`, renamed to `<out>` only when the whole
/// run succeeded, so a failed run never leaves a file that looks complete.
pub struct PdfSink<'f> {
    pdf: SheetPdf<'f, BufWriter<File>>,
    partial: PathBuf,
    out: PathBuf,
}

fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

impl<'f> PdfSink<'f> {
    pub fn create(
        out: &Path,
        font: &'f SheetFont,
        settings: &SheetDocumentSettings,
    ) -> Result<Self, Failure> {
        let partial = partial_path(out);
        // The pages carry the sheets' passwords: readable by the owner only, from the first byte.
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            options.mode(0o600);
            if partial.exists() {
                std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| format!("cannot restrict {}: {e}", partial.display()))?;
            }
        }
        let file: File = options
            .open(&partial)
            .map_err(|e| format!("cannot write {}: {e}", partial.display()))?;
        let pdf = SheetPdf::new(BufWriter::new(file), font, settings)?;
        Ok(Self {
            pdf,
            partial,
            out: out.to_path_buf(),
        })
    }

    /// Finishes the PDF and moves it into place.
    pub fn finish(self) -> Result<(), Failure> {
        let partial = self.partial.clone();
        let result = self
            .pdf
            .finish()
            .and_then(|w| {
                w.into_inner()
                    .map_err(|e| e.to_string())?
                    .sync_all()
                    .map_err(|e| e.to_string())
            })
            .and_then(|()| std::fs::rename(&partial, &self.out).map_err(|e| e.to_string()));
        if let Err(e) = result {
            let _ = std::fs::remove_file(&partial);
            return Err(format!("writing {}: {e}", self.out.display()).into());
        }
        Ok(())
    }

    /// Drops the unfinished file.
    pub fn abandon(self) {
        let partial = self.partial.clone();
        drop(self.pdf);
        let _ = std::fs::remove_file(partial);
    }
}

impl SheetCheck for PdfSink<'_> {
    fn check(&self, holder: &Holder, photo: Option<&Photo>) -> Result<(), PageProblem> {
        self.pdf.check(holder, photo)
    }
}

impl SheetSink for PdfSink<'_> {
    fn add(
        &mut self,
        holder: &Holder,
        photo: &Photo,
        sheet: &IssuedSheet,
    ) -> Result<(), PageProblem> {
        self.pdf.add(holder, photo, sheet)
    }
}
