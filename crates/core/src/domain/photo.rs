//! Face photos: only JPEG or PNG, size-limited, decoded and re-encoded so that nothing of the
//! original file (metadata, trailing bytes, a disguised payload) is kept.

use std::io::Cursor;

use image::{ImageFormat, ImageReader, Limits};
use sha2::{Digest, Sha256};

/// How large an uploaded photo may be, and what is stored.
#[derive(Clone, Copy, Debug)]
pub struct PhotoLimits {
    /// Bytes of the uploaded file.
    pub max_bytes: usize,
    /// The longest side of the stored photo; larger photos are scaled down.
    pub stored_max_side: u32,
}

impl Default for PhotoLimits {
    fn default() -> Self {
        Self {
            max_bytes: 5 * 1024 * 1024,
            stored_max_side: 800,
        }
    }
}

/// The smallest photo that is still a usable face photo on a printed sheet.
const MIN_SIDE: u32 = 64;
/// Refuse to decode pictures larger than this (a decompression bomb is a small file).
const MAX_DECODED_SIDE: u32 = 10_000;
/// And more pixels than this: a phone's 24-megapixel photo decodes to about 72 MB, a
/// 10,000 × 10,000 PNG (a few hundred kilobytes) would take 300 MB or more.
const MAX_PIXELS: u64 = 24_000_000;

/// Why a photo was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PhotoError {
    #[error("the photo is {size} bytes; at most {max} bytes are accepted")]
    TooLarge { size: usize, max: usize },
    #[error("the photo file is empty")]
    Empty,
    #[error("the photo is not a JPEG or PNG image{}", detected.map(|d| format!(" (it looks like {d})")).unwrap_or_default())]
    NotJpegOrPng { detected: Option<&'static str> },
    #[error("the {format} photo cannot be decoded: {reason}")]
    Damaged {
        format: &'static str,
        reason: String,
    },
    #[error("the photo is {width}x{height} pixels; each side must be between {MIN_SIDE} and {MAX_DECODED_SIDE}")]
    BadDimensions { width: u32, height: u32 },
    #[error("the photo is {width}x{height} pixels; at most {MAX_PIXELS} pixels are accepted (a smaller photo is enough for the sheet)")]
    TooManyPixels { width: u32, height: u32 },
}

/// A face photo as stored: a freshly encoded JPEG.
#[derive(Clone, PartialEq, Eq)]
pub struct Photo {
    jpeg: Vec<u8>,
    width: u32,
    height: u32,
}

impl std::fmt::Debug for Photo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Photo({}x{}, {} bytes JPEG)",
            self.width,
            self.height,
            self.jpeg.len()
        )
    }
}

fn sniff(bytes: &[u8]) -> Option<&'static str> {
    const MAGIC: &[(&[u8], &str)] = &[
        (b"\x7fELF", "an ELF executable"),
        (b"MZ", "a Windows executable"),
        (b"%PDF", "a PDF document"),
        (b"PK\x03\x04", "a ZIP archive"),
        (b"GIF8", "a GIF image"),
        (b"#!", "a script"),
        (b"<", "an HTML or XML document"),
    ];
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        return Some("a HEIC/MP4 file");
    }
    if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        return Some("a WebP image");
    }
    MAGIC
        .iter()
        .find(|(m, _)| bytes.starts_with(m))
        .map(|(_, what)| *what)
}

impl Photo {
    /// Checks and re-encodes an uploaded photo.
    pub fn from_upload(bytes: &[u8], limits: PhotoLimits) -> Result<Self, PhotoError> {
        if bytes.is_empty() {
            return Err(PhotoError::Empty);
        }
        if bytes.len() > limits.max_bytes {
            return Err(PhotoError::TooLarge {
                size: bytes.len(),
                max: limits.max_bytes,
            });
        }
        let format = match image::guess_format(bytes) {
            Ok(ImageFormat::Jpeg) => ImageFormat::Jpeg,
            Ok(ImageFormat::Png) => ImageFormat::Png,
            _ => {
                return Err(PhotoError::NotJpegOrPng {
                    detected: sniff(bytes),
                })
            }
        };
        let name = if format == ImageFormat::Jpeg {
            "JPEG"
        } else {
            "PNG"
        };
        let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
        let mut decode_limits = Limits::default();
        decode_limits.max_image_width = Some(MAX_DECODED_SIDE);
        decode_limits.max_image_height = Some(MAX_DECODED_SIDE);
        decode_limits.max_alloc = Some(MAX_PIXELS * 4 + 16 * 1024 * 1024);
        reader.limits(decode_limits.clone());
        let (width, height) = reader.into_dimensions().map_err(|e| PhotoError::Damaged {
            format: name,
            reason: e.to_string(),
        })?;
        if width < MIN_SIDE || height < MIN_SIDE {
            return Err(PhotoError::BadDimensions { width, height });
        }
        // Checked from the header, before anything is decoded.
        if u64::from(width) * u64::from(height) > MAX_PIXELS {
            return Err(PhotoError::TooManyPixels { width, height });
        }
        let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
        reader.limits(decode_limits);
        let decoded = reader.decode().map_err(|e| PhotoError::Damaged {
            format: name,
            reason: e.to_string(),
        })?;
        let max = limits.stored_max_side;
        let scaled = if decoded.width() > max || decoded.height() > max {
            decoded.resize(max, max, image::imageops::FilterType::Triangle)
        } else {
            decoded
        };
        let rgb = scaled.to_rgb8();
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 88)
            .encode_image(&rgb)
            .map_err(|e| PhotoError::Damaged {
                format: name,
                reason: e.to_string(),
            })?;
        Ok(Self {
            jpeg,
            width: rgb.width(),
            height: rgb.height(),
        })
    }

    /// A photo read back from storage (it was checked and re-encoded when stored).
    pub fn from_stored(jpeg: Vec<u8>, width: u32, height: u32) -> Self {
        Self {
            jpeg,
            width,
            height,
        }
    }

    pub fn jpeg(&self) -> &[u8] {
        &self.jpeg
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn sha256_hex(&self) -> String {
        hex::encode(Sha256::digest(&self.jpeg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let img =
            image::RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 128]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png)
            .expect("encode png");
        out.into_inner()
    }

    #[test]
    fn png_is_reencoded_as_jpeg_and_scaled() {
        let p = Photo::from_upload(&png(1600, 1200), PhotoLimits::default()).expect("valid");
        assert_eq!((p.width(), p.height()), (800, 600));
        assert!(p.jpeg().starts_with(&[0xFF, 0xD8, 0xFF]));
    }

    #[test]
    fn trailing_payload_is_not_kept() {
        let mut bytes = png(100, 100);
        bytes.extend_from_slice(b"\x7fELF secret payload");
        let p = Photo::from_upload(&bytes, PhotoLimits::default()).expect("decodes");
        assert!(!p.jpeg().windows(4).any(|w| w == b"\x7fELF"));
    }

    #[test]
    fn refusals_say_why() {
        let limits = PhotoLimits {
            max_bytes: 1000,
            stored_max_side: 800,
        };
        assert!(matches!(
            Photo::from_upload(&vec![0u8; 1001], limits),
            Err(PhotoError::TooLarge {
                size: 1001,
                max: 1000
            })
        ));
        let e =
            Photo::from_upload(b"\x7fELF\x02\x01\x01", PhotoLimits::default()).expect_err("elf");
        assert_eq!(
            e.to_string(),
            "the photo is not a JPEG or PNG image (it looks like an ELF executable)"
        );
        let mut broken = png(100, 100);
        broken.truncate(60);
        assert!(matches!(
            Photo::from_upload(&broken, PhotoLimits::default()),
            Err(PhotoError::Damaged { format: "PNG", .. })
        ));
        assert!(matches!(
            Photo::from_upload(&png(10, 200), PhotoLimits::default()),
            Err(PhotoError::BadDimensions {
                width: 10,
                height: 200
            })
        ));
    }

    /// A PNG that says it is `width` × `height` and carries almost nothing: what a
    /// decompression bomb's header looks like (a real one compresses to a few hundred KB).
    fn png_header_only(width: u32, height: u32) -> Vec<u8> {
        fn crc32(bytes: &[u8]) -> u32 {
            let mut crc = 0xFFFF_FFFFu32;
            for b in bytes {
                crc ^= u32::from(*b);
                for _ in 0..8 {
                    crc = if crc & 1 == 1 {
                        (crc >> 1) ^ 0xEDB8_8320
                    } else {
                        crc >> 1
                    };
                }
            }
            !crc
        }
        let chunk = |kind: &[u8], data: &[u8]| {
            let mut c = (data.len() as u32).to_be_bytes().to_vec();
            let mut body = kind.to_vec();
            body.extend_from_slice(data);
            c.extend_from_slice(&body);
            c.extend_from_slice(&crc32(&body).to_be_bytes());
            c
        };
        let mut ihdr = width.to_be_bytes().to_vec();
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(chunk(b"IHDR", &ihdr));
        png.extend(chunk(
            b"IDAT",
            &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
        ));
        png.extend(chunk(b"IEND", &[]));
        png
    }

    #[test]
    fn a_huge_picture_is_refused_from_its_header() {
        let e = Photo::from_upload(&png_header_only(10_000, 10_000), PhotoLimits::default())
            .expect_err("too many pixels");
        assert_eq!(
            e,
            PhotoError::TooManyPixels {
                width: 10_000,
                height: 10_000
            }
        );
        assert!(e.to_string().contains("at most 24000000 pixels"), "{e}");
    }
}
