//! The Japanese font of the printed sheet: loaded once, glyphs numbered as they are first
//! used, and at the end a subset of exactly those glyphs embedded as a CID-keyed TrueType font
//! with widths and a ToUnicode map (so the text can be searched and copied).

use std::io::Write;

use sha2::{Digest, Sha256};
use subsetter::GlyphRemapper;
use ttf_parser::Face;

use crate::pdf::{self, ObjId, PdfWriter};
use crate::PrintError;

/// Where Debian's packages put a Japanese TrueType font (fonts-ipaexfont-gothic).
pub const DEFAULT_FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf",
    "/usr/share/fonts/truetype/fonts-japanese-gothic.ttf",
];

/// A font file, checked once.
pub struct SheetFont {
    data: Vec<u8>,
    base_name: String,
}

impl SheetFont {
    /// Reads and checks a TrueType font; it must have Japanese glyphs.
    pub fn from_bytes(data: Vec<u8>, origin: &str) -> Result<Self, PrintError> {
        let face = Face::parse(&data, 0)
            .map_err(|e| PrintError::Font(format!("{origin} is not a usable font: {e}")))?;
        if face.tables().glyf.is_none() {
            return Err(PrintError::Font(format!(
                "{origin} has no TrueType outlines; use a .ttf font such as IPAexGothic"
            )));
        }
        for ch in ['あ', 'ア', '薬', '剤', 'A', '0'] {
            if face.glyph_index(ch).is_none() {
                return Err(PrintError::Font(format!(
                    "{origin} has no glyph for {ch:?}; a Japanese font such as IPAexGothic is needed"
                )));
            }
        }
        let base_name = face
            .names()
            .into_iter()
            .filter(|n| n.name_id == ttf_parser::name_id::POST_SCRIPT_NAME)
            .find_map(|n| n.to_string())
            .map(|n| {
                n.chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect()
            })
            .filter(|n: &String| !n.is_empty())
            .unwrap_or_else(|| "JapaneseFont".to_owned());
        Ok(Self { data, base_name })
    }

    /// Reads the font at `path`, or the first of [`DEFAULT_FONT_PATHS`] that exists.
    pub fn load(path: Option<&std::path::Path>) -> Result<Self, PrintError> {
        let path = match path {
            Some(p) => p.to_path_buf(),
            None => DEFAULT_FONT_PATHS
                .iter()
                .map(std::path::PathBuf::from)
                .find(|p| p.exists())
                .ok_or_else(|| {
                    PrintError::Font(format!(
                        "no Japanese font for printing sheets: install Debian's fonts-ipaexfont-gothic \
                         (looked at {}) or set [sheets] font to a .ttf file",
                        DEFAULT_FONT_PATHS.join(", ")
                    ))
                })?,
        };
        let data = std::fs::read(&path)
            .map_err(|e| PrintError::Font(format!("{} cannot be read: {e}", path.display())))?;
        Self::from_bytes(data, &path.display().to_string())
    }

    /// The first character of `text` that the font cannot draw, if any.
    pub fn missing_glyph(&self, text: &str) -> Option<char> {
        let face = Face::parse(&self.data, 0).ok()?;
        text.chars()
            .find(|c| !c.is_control() && face.glyph_index(*c).is_none())
    }
}

/// The glyphs used so far in one document.
pub struct FontUse<'a> {
    font: &'a SheetFont,
    face: Face<'a>,
    remapper: GlyphRemapper,
    /// Indexed by new glyph id: the advance width in 1/1000 em and the character it draws.
    used: Vec<(u16, char)>,
}

impl<'a> FontUse<'a> {
    pub fn new(font: &'a SheetFont) -> Result<Self, PrintError> {
        let face = Face::parse(&font.data, 0).map_err(|e| PrintError::Font(e.to_string()))?;
        let notdef = face.glyph_hor_advance(ttf_parser::GlyphId(0)).unwrap_or(0);
        let upem = f32::from(face.units_per_em());
        Ok(Self {
            font,
            face,
            remapper: GlyphRemapper::new(),
            used: vec![(scale(notdef, upem), '\u{FFFD}')],
        })
    }

    /// The text as a PDF hex string of glyph ids, and its width in em.
    pub fn encode(&mut self, text: &str) -> Result<(String, f32), PrintError> {
        let mut hex = String::with_capacity(2 + text.len() * 4);
        hex.push('<');
        let mut width = 0u32;
        for ch in text.chars() {
            let (gid, w) = self.glyph(ch)?;
            hex.push_str(&format!("{gid:04X}"));
            width += u32::from(w);
        }
        hex.push('>');
        Ok((hex, width as f32 / 1000.0))
    }

    /// The width of `ch` in 1/1000 em (numbering its glyph if new).
    pub fn advance(&mut self, ch: char) -> Result<u16, PrintError> {
        Ok(self.glyph(ch)?.1)
    }

    fn glyph(&mut self, ch: char) -> Result<(u16, u16), PrintError> {
        let old = self
            .face
            .glyph_index(ch)
            .ok_or(PrintError::MissingGlyph(ch))?;
        let new = self.remapper.remap(old.0);
        let idx = usize::from(new);
        if idx == self.used.len() {
            let adv = self.face.glyph_hor_advance(old).unwrap_or(0);
            self.used
                .push((scale(adv, f32::from(self.face.units_per_em())), ch));
        }
        let w = self.used.get(idx).map_or(0, |u| u.0);
        Ok((new, w))
    }

    /// Writes the Type 0 font `font_id` with its subset, widths and ToUnicode map.
    pub fn write<W: Write>(self, pdf: &mut PdfWriter<W>, font_id: ObjId) -> Result<(), PrintError> {
        let subset = subsetter::subset(&self.font.data, 0, &self.remapper)
            .map_err(|e| PrintError::Font(format!("the font cannot be subset: {e:?}")))?;
        // A subset is named with a tag derived from its glyphs (ISO 32000 9.6.4).
        let digest = Sha256::digest(
            self.used
                .iter()
                .flat_map(|(_, c)| (*c as u32).to_be_bytes())
                .collect::<Vec<_>>(),
        );
        let tag: String = digest
            .iter()
            .take(6)
            .map(|b| char::from(b'A' + b % 26))
            .collect();
        let name = format!("{tag}+{}", self.font.base_name);
        let upem = f32::from(self.face.units_per_em());
        let bbox = self.face.global_bounding_box();
        let s = |v: i16| (f32::from(v) * 1000.0 / upem).round() as i32;

        let cid_font = pdf.reserve();
        let descriptor = pdf.reserve();
        let file = pdf.reserve();
        let to_unicode = pdf.reserve();
        pdf.object(
            font_id,
            format!(
                "<</Type /Font /Subtype /Type0 /BaseFont /{name} /Encoding /Identity-H \
                 /DescendantFonts [{cid_font}] /ToUnicode {to_unicode}>>"
            )
            .as_bytes(),
        )?;
        let widths: Vec<String> = self.used.iter().map(|(w, _)| w.to_string()).collect();
        pdf.object(
            cid_font,
            format!(
                "<</Type /Font /Subtype /CIDFontType2 /BaseFont /{name} \
                 /CIDSystemInfo <</Registry (Adobe) /Ordering (Identity) /Supplement 0>> \
                 /FontDescriptor {descriptor} /DW 1000 /W [0 [{}]] /CIDToGIDMap /Identity>>",
                widths.join(" ")
            )
            .as_bytes(),
        )?;
        pdf.object(
            descriptor,
            format!(
                "<</Type /FontDescriptor /FontName /{name} /Flags 4 /FontBBox [{} {} {} {}] \
                 /ItalicAngle 0 /Ascent {} /Descent {} /CapHeight {} /StemV 80 /FontFile2 {file}>>",
                s(bbox.x_min),
                s(bbox.y_min),
                s(bbox.x_max),
                s(bbox.y_max),
                s(self.face.ascender()),
                s(self.face.descender()),
                s(self.face.capital_height().unwrap_or(self.face.ascender())),
            )
            .as_bytes(),
        )?;
        let packed = pdf::deflate(&subset)?;
        pdf.stream(
            file,
            &format!("/Filter /FlateDecode /Length1 {}", subset.len()),
            &packed,
        )?;
        let cmap = to_unicode_cmap(&self.used);
        pdf.stream(to_unicode, "", cmap.as_bytes())?;
        Ok(())
    }
}

fn scale(advance: u16, upem: f32) -> u16 {
    (f32::from(advance) * 1000.0 / upem).round() as u16
}

fn to_unicode_cmap(used: &[(u16, char)]) -> String {
    let mut out = String::from(
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
         /CIDSystemInfo <</Registry (Adobe) /Ordering (UCS) /Supplement 0>> def\n\
         /CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n\
         1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n",
    );
    let entries: Vec<(usize, char)> = used
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, (_, c))| (i, *c))
        .collect();
    for chunk in entries.chunks(100) {
        out.push_str(&format!("{} beginbfchar\n", chunk.len()));
        for (gid, ch) in chunk {
            let mut utf16 = [0u16; 2];
            let units: String = ch
                .encode_utf16(&mut utf16)
                .iter()
                .map(|u| format!("{u:04X}"))
                .collect();
            out.push_str(&format!("<{gid:04X}> <{units}>\n"));
        }
        out.push_str("endbfchar\n");
    }
    out.push_str("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n");
    out
}
