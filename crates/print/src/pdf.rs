//! A minimal streaming PDF object writer: objects go to the output as soon as they are
//! written; only their offsets (8 bytes each) are kept for the cross-reference table.

use std::io::{self, Write};

/// A PDF object number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjId(pub u32);

impl std::fmt::Display for ObjId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} 0 R", self.0)
    }
}

struct Counting<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

pub struct PdfWriter<W: Write> {
    out: Counting<W>,
    /// Offset of object `i + 1`; 0 while reserved but not yet written.
    offsets: Vec<u64>,
}

impl<W: Write> PdfWriter<W> {
    pub fn new(out: W) -> io::Result<Self> {
        let mut out = Counting {
            inner: out,
            written: 0,
        };
        // The binary comment tells transfer programs the file is not text.
        out.write_all(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")?;
        Ok(Self {
            out,
            offsets: Vec::new(),
        })
    }

    /// A number for an object that will be written later.
    pub fn reserve(&mut self) -> ObjId {
        self.offsets.push(0);
        ObjId(self.offsets.len() as u32)
    }

    /// Writes `id` with a dictionary or other direct body.
    pub fn object(&mut self, id: ObjId, body: &[u8]) -> io::Result<()> {
        self.start(id)?;
        self.out.write_all(body)?;
        self.out.write_all(b"\nendobj\n")
    }

    /// Writes `id` as a stream; `dict` is the dictionary's inner entries (without `<<`, `>>`
    /// and /Length).
    pub fn stream(&mut self, id: ObjId, dict: &str, data: &[u8]) -> io::Result<()> {
        self.start(id)?;
        write!(self.out, "<<{dict} /Length {}>>\nstream\n", data.len())?;
        self.out.write_all(data)?;
        self.out.write_all(b"\nendstream\nendobj\n")
    }

    fn start(&mut self, id: ObjId) -> io::Result<()> {
        let slot = self
            .offsets
            .get_mut(id.0 as usize - 1)
            .ok_or_else(|| io::Error::other(format!("object {} was never reserved", id.0)))?;
        *slot = self.out.written;
        writeln!(self.out, "{} 0 obj", id.0)
    }

    /// Writes the cross-reference table and trailer and hands back the output.
    pub fn finish(mut self, root: ObjId, info: ObjId) -> io::Result<W> {
        if let Some(i) = self.offsets.iter().position(|o| *o == 0) {
            return Err(io::Error::other(format!(
                "object {} was reserved but not written",
                i + 1
            )));
        }
        let xref = self.out.written;
        write!(self.out, "xref\n0 {}\n", self.offsets.len() + 1)?;
        self.out.write_all(b"0000000000 65535 f \n")?;
        for o in &self.offsets {
            writeln!(self.out, "{o:010} 00000 n ")?;
        }
        write!(
            self.out,
            "trailer\n<</Size {} /Root {root} /Info {info}>>\nstartxref\n{xref}\n%%EOF\n",
            self.offsets.len() + 1
        )?;
        self.out.flush()?;
        Ok(self.out.inner)
    }
}

/// A PDF text string: UTF-16BE with a byte order mark, as a hex string.
pub fn text_string(s: &str) -> String {
    let mut out = String::from("<FEFF");
    for unit in s.encode_utf16() {
        out.push_str(&format!("{unit:04X}"));
    }
    out.push('>');
    out
}

/// Deflate for content streams (fast level: the pages are small and many).
pub fn deflate(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data)?;
    e.finish()
}
