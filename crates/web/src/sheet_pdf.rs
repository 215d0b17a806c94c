//! Sheets printed to PDF (the adapter between the sheet service and hpki-print), into any
//! writer: a file for `sheet issue --out` (the CLI wraps it), memory for the console's download.

use std::io::Write;

use hpki_core::domain::{Holder, Photo};
use hpki_core::services::{IssuedSheet, PageProblem, SheetCheck, SheetSink};
use hpki_print::{SheetDocument, SheetDocumentSettings, SheetFont, SheetPage};

/// What printing needs: the font and what every sheet says (the issuer, the attempts, whom to
/// contact). Loaded once when the server starts.
pub struct Printing {
    pub font: SheetFont,
    pub settings: SheetDocumentSettings,
}

/// A PDF being written to `W`.
pub struct SheetPdf<'f, W: Write> {
    doc: SheetDocument<'f, W>,
    font: &'f SheetFont,
}

impl<'f, W: Write> SheetPdf<'f, W> {
    pub fn new(
        out: W,
        font: &'f SheetFont,
        settings: &SheetDocumentSettings,
    ) -> Result<Self, String> {
        Ok(Self {
            doc: SheetDocument::new(out, font, settings).map_err(|e| e.to_string())?,
            font,
        })
    }

    /// Finishes the document; the writer back.
    pub fn finish(self) -> Result<W, String> {
        self.doc.finish().map_err(|e| e.to_string())
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

impl<W: Write + Send + Sync> SheetCheck for SheetPdf<'_, W> {
    fn check(&self, holder: &Holder, photo: Option<&Photo>) -> Result<(), PageProblem> {
        FontCheck(self.font).check(holder, photo)
    }
}

impl<W: Write + Send + Sync> SheetSink for SheetPdf<'_, W> {
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
