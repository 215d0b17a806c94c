//! Printing sheets to a PDF file: the adapter between the sheet service and hpki-print.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use hpki_core::domain::{Holder, Photo};
use hpki_core::services::{IssuedSheet, PageProblem, SheetCheck, SheetSink};
use hpki_print::{SheetDocument, SheetDocumentSettings, SheetFont, SheetPage};

use crate::Failure;

/// The PDF being written: pages go to `<out>.partial`, renamed to `<out>` only when the whole
/// run succeeded, so a failed run never leaves a file that looks complete.
pub struct PdfSink<'f> {
    doc: SheetDocument<'f, BufWriter<File>>,
    font: &'f SheetFont,
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
        let doc =
            SheetDocument::new(BufWriter::new(file), font, settings).map_err(|e| e.to_string())?;
        Ok(Self {
            doc,
            font,
            partial,
            out: out.to_path_buf(),
        })
    }

    /// Finishes the PDF and moves it into place.
    pub fn finish(self) -> Result<(), Failure> {
        let partial = self.partial.clone();
        let result = self
            .doc
            .finish()
            .map_err(|e| e.to_string())
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
        drop(self.doc);
        let _ = std::fs::remove_file(partial);
    }
}

/// The printer's failure as the sheet service's page problem.
fn page_problem(e: hpki_print::PrintError) -> PageProblem {
    match e {
        hpki_print::PrintError::MissingGlyph(ch) => PageProblem::MissingGlyph(ch),
        hpki_print::PrintError::Photo(why) => PageProblem::Photo(why),
        other => PageProblem::Output(other.to_string()),
    }
}

/// What a sheet printed with this font can show: every character of the names and the
/// qualification, and the photo.
pub struct FontCheck<'f>(pub &'f SheetFont);

impl SheetCheck for FontCheck<'_> {
    fn check(&self, holder: &Holder, photo: Option<&Photo>) -> Result<(), PageProblem> {
        for text in [
            holder.name_kanji.written().as_str(),
            holder.name_kana.as_str(),
            holder.qualification.name_ja(),
        ] {
            if let Some(ch) = self.0.missing_glyph(text) {
                return Err(PageProblem::MissingGlyph(ch));
            }
        }
        if let Some(p) = photo {
            hpki_print::check_photo(p.jpeg()).map_err(page_problem)?;
        }
        Ok(())
    }
}

impl SheetCheck for PdfSink<'_> {
    fn check(&self, holder: &Holder, photo: Option<&Photo>) -> Result<(), PageProblem> {
        FontCheck(self.font).check(holder, photo)
    }
}

impl SheetSink for PdfSink<'_> {
    fn add(
        &mut self,
        holder: &Holder,
        photo: &Photo,
        sheet: &IssuedSheet,
    ) -> Result<(), PageProblem> {
        let username = holder.username.to_string();
        let name_kanji = holder.name_kanji.written();
        self.doc
            .page(&SheetPage {
                sheet_id: sheet.sheet_id,
                name_kanji: &name_kanji,
                name_kana: holder.name_kana.as_str(),
                registry_number: holder.username.registry_number().as_str(),
                username: &username,
                qualification: holder.qualification.name_ja(),
                url: &sheet.url,
                password: &sheet.password,
                issued_at: sheet.issued_at,
                expires_at: sheet.expires_at,
                photo_jpeg: photo.jpeg(),
            })
            .map_err(page_problem)
    }
}
