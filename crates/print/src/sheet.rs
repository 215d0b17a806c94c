//! The A4 page of an initial registration sheet (初期登録用 QR).

use std::fmt::Write as _;
use std::io::Write;

use chrono::{DateTime, FixedOffset, Utc};
use qrcode::{Color, EcLevel, QrCode};

use crate::font::{FontUse, SheetFont};
use crate::pdf::{self, ObjId, PdfWriter};
use crate::PrintError;

/// What one page shows about one holder and their sheet.
pub struct SheetPage<'a> {
    pub sheet_id: i64,
    pub name_kanji: &'a str,
    pub name_kana: &'a str,
    pub registry_number: &'a str,
    pub username: &'a str,
    /// The qualification in Japanese, e.g. 薬剤師.
    pub qualification: &'a str,
    pub url: &'a str,
    pub password: &'a str,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The stored face photo (a baseline or progressive JPEG).
    pub photo_jpeg: &'a [u8],
}

/// What is the same on every page of a print run.
pub struct SheetDocumentSettings {
    /// The issuing certification authority, as printed at the foot of the page.
    pub issuer: String,
    /// Wrong passwords before the sheet locks.
    pub max_attempts: u32,
    /// Whom to contact (name, phone, address on one line), printed under 「こんなときは」.
    pub contact: Option<String>,
}

const A4: (f32, f32) = (595.28, 841.89);

fn mm(v: f32) -> f32 {
    v * 72.0 / 25.4
}

/// Japan Standard Time, in which expiries are printed.
fn jst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).unwrap_or_else(|| FixedOffset::east_opt(0).expect("UTC"))
}

/// Writes sheets one page at a time; memory stays the same whatever the number of pages
/// (apart from 8 bytes of cross-reference per object and one page reference per page).
pub struct SheetDocument<'f, W: Write> {
    pdf: PdfWriter<W>,
    font: FontUse<'f>,
    catalog: ObjId,
    pages: ObjId,
    font_id: ObjId,
    info: ObjId,
    instructions: ObjId,
    page_ids: Vec<ObjId>,
}

impl<'f, W: Write> SheetDocument<'f, W> {
    pub fn new(
        out: W,
        font: &'f SheetFont,
        settings: &SheetDocumentSettings,
    ) -> Result<Self, PrintError> {
        let mut pdf = PdfWriter::new(out)?;
        let catalog = pdf.reserve();
        let pages = pdf.reserve();
        let font_id = pdf.reserve();
        let info = pdf.reserve();
        let instructions = pdf.reserve();
        let mut font = FontUse::new(font)?;
        // The instructions are the same on every page: drawn once, as a form XObject.
        let mut ops = String::new();
        instructions_ops(&mut ops, &mut font, settings)?;
        let data = pdf::deflate(ops.as_bytes())?;
        pdf.stream(
            instructions,
            &format!(
                "/Type /XObject /Subtype /Form /BBox [0 0 {} {}] /Resources <</Font <</F1 {font_id}>>>> /Filter /FlateDecode",
                A4.0, A4.1
            ),
            &data,
        )?;
        let producer = pdf::text_string("hpki-second");
        let title = pdf::text_string("HPKI セカンド電子証明書 初期登録用 QR");
        pdf.object(
            info,
            format!("<</Producer {producer} /Title {title}>>").as_bytes(),
        )?;
        Ok(Self {
            pdf,
            font,
            catalog,
            pages,
            font_id,
            info,
            instructions,
            page_ids: Vec::new(),
        })
    }

    /// Adds one page.
    pub fn page(&mut self, page: &SheetPage<'_>) -> Result<(), PrintError> {
        let photo = jpeg_info(page.photo_jpeg)?;
        let mut ops = String::with_capacity(16 * 1024);
        page_ops(&mut ops, &mut self.font, page, photo)?;
        let image = self.pdf.reserve();
        let content = self.pdf.reserve();
        let page_id = self.pdf.reserve();
        let color = if photo.components == 1 {
            "/DeviceGray"
        } else {
            "/DeviceRGB"
        };
        self.pdf.stream(
            image,
            &format!(
                "/Type /XObject /Subtype /Image /Width {} /Height {} /ColorSpace {color} /BitsPerComponent 8 /Filter /DCTDecode",
                photo.width, photo.height
            ),
            page.photo_jpeg,
        )?;
        let data = pdf::deflate(ops.as_bytes())?;
        self.pdf.stream(content, "/Filter /FlateDecode", &data)?;
        self.pdf.object(
            page_id,
            format!(
                "<</Type /Page /Parent {} /MediaBox [0 0 {} {}] /Contents {content} \
                 /Resources <</Font <</F1 {}>> /XObject <</Photo {image} /Guide {}>>>>>>",
                self.pages, A4.0, A4.1, self.font_id, self.instructions
            )
            .as_bytes(),
        )?;
        self.page_ids.push(page_id);
        Ok(())
    }

    pub fn page_count(&self) -> usize {
        self.page_ids.len()
    }

    /// Writes the font subset and the page tree; hands back the output.
    pub fn finish(mut self) -> Result<W, PrintError> {
        if self.page_ids.is_empty() {
            return Err(PrintError::Empty);
        }
        self.font.write(&mut self.pdf, self.font_id)?;
        let mut kids = String::with_capacity(self.page_ids.len() * 12);
        for id in &self.page_ids {
            let _ = write!(kids, "{id} ");
        }
        self.pdf.object(
            self.pages,
            format!(
                "<</Type /Pages /Kids [{kids}] /Count {}>>",
                self.page_ids.len()
            )
            .as_bytes(),
        )?;
        self.pdf.object(
            self.catalog,
            format!("<</Type /Catalog /Pages {} /Lang (ja-JP)>>", self.pages).as_bytes(),
        )?;
        Ok(self.pdf.finish(self.catalog, self.info)?)
    }
}

/// Drawing operators on one content stream.
struct Canvas<'o, 'f, 'a> {
    ops: &'o mut String,
    font: &'f mut FontUse<'a>,
}

impl Canvas<'_, '_, '_> {
    /// Text at (x, y) in points; returns its width.
    fn text(&mut self, x: f32, y: f32, size: f32, s: &str) -> Result<f32, PrintError> {
        let (hex, em) = self.font.encode(s)?;
        let _ = writeln!(self.ops, "BT /F1 {size:.1} Tf {x:.2} {y:.2} Td {hex} Tj ET");
        Ok(em * size)
    }

    /// Text with extra space between characters (for the password).
    fn spaced(
        &mut self,
        x: f32,
        y: f32,
        size: f32,
        spacing: f32,
        s: &str,
    ) -> Result<(), PrintError> {
        let (hex, _) = self.font.encode(s)?;
        let _ = writeln!(
            self.ops,
            "BT /F1 {size:.1} Tf {spacing:.2} Tc {x:.2} {y:.2} Td {hex} Tj 0 Tc ET"
        );
        Ok(())
    }

    fn gray(&mut self, g: f32) {
        let _ = writeln!(self.ops, "{g:.2} g {g:.2} G");
    }

    fn line(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, width: f32) {
        let _ = writeln!(
            self.ops,
            "{width:.2} w {x1:.2} {y1:.2} m {x2:.2} {y2:.2} l S"
        );
    }

    fn frame(&mut self, x: f32, y: f32, w: f32, h: f32, width: f32) {
        let _ = writeln!(self.ops, "{width:.2} w {x:.2} {y:.2} {w:.2} {h:.2} re S");
    }

    /// Lines of `text` that fit `width` points at `size`, breaking between Japanese characters
    /// or at spaces (never inside a Latin word), and letting closing punctuation hang rather
    /// than start a line.
    fn wrap(&mut self, text: &str, size: f32, width: f32) -> Result<Vec<String>, PrintError> {
        const NO_LINE_START: &str = "、。，．）」』】ー・：！？";
        // Units that must stay together: a run of Latin letters and digits, or one character.
        let mut units: Vec<String> = Vec::new();
        for ch in text.chars() {
            let latin = ch.is_ascii_graphic();
            match units.last_mut() {
                Some(u) if latin && u.chars().all(|c| c.is_ascii_graphic()) => u.push(ch),
                _ => units.push(ch.to_string()),
            }
        }
        let mut lines = Vec::new();
        let mut line = String::new();
        let mut used = 0.0f32;
        for unit in units {
            let mut w = 0.0;
            for ch in unit.chars() {
                w += f32::from(self.font.advance(ch)?) / 1000.0 * size;
            }
            let hangs = unit.chars().all(|c| NO_LINE_START.contains(c));
            if used + w > width && !line.is_empty() && !hangs {
                // An opening bracket moves down with what it opens.
                let carried = match line.chars().last() {
                    Some(c) if "「（『【".contains(c) => {
                        line.pop();
                        Some(c)
                    }
                    _ => None,
                };
                lines.push(std::mem::take(&mut line).trim_end().to_owned());
                used = 0.0;
                if let Some(c) = carried {
                    line.push(c);
                    used = f32::from(self.font.advance(c)?) / 1000.0 * size;
                }
                if unit == " " {
                    continue;
                }
            }
            line.push_str(&unit);
            used += w;
        }
        if !line.is_empty() {
            lines.push(line);
        }
        Ok(lines)
    }

    /// A wrapped paragraph starting at `y`, with a hanging `bullet`; returns the next `y`.
    fn paragraph(
        &mut self,
        x: f32,
        y: f32,
        width: f32,
        size: f32,
        bullet: &str,
        text: &str,
    ) -> Result<f32, PrintError> {
        let indent = if bullet.is_empty() {
            0.0
        } else {
            self.text(x, y, size, bullet)?;
            size * 1.6
        };
        let mut y = y;
        for line in self.wrap(text, size, width - indent)? {
            self.text(x + indent, y, size, &line)?;
            y -= size * 1.55;
        }
        Ok(y)
    }
}

fn instructions_ops(
    ops: &mut String,
    font: &mut FontUse<'_>,
    settings: &SheetDocumentSettings,
) -> Result<(), PrintError> {
    let mut c = Canvas { ops, font };
    let (left, width) = (mm(18.0), mm(174.0));
    let n = settings.max_attempts;
    c.gray(0.0);
    c.text(left, mm(128.0), 12.0, "登録の手順")?;
    let steps = [
        "生体認証（指紋・顔認証）を設定済みのスマートフォンを用意します（iOS 14 以上または Android 7 以上）。".to_owned(),
        "カメラで上の QR コードを読み取ります。iPhone は Safari、Android は Chrome で開いてください。LINE などのアプリ内ブラウザやその他のブラウザでは登録できません。".to_owned(),
        format!("この用紙のパスワードを入力します。HPKI カードの暗証番号ではありません。{n} 回間違えるとこの QR コードは使えなくなります。"),
        "SignIn 画面で Username が上記のユーザー名になっていることを確かめ、「SignIn」をタップします。".to_owned(),
        "「Register」をタップし、生体認証を行います。ラベル登録画面では何も変えずに「OK」をタップします。".to_owned(),
        "「処理が完了しました」と表示されたら登録は完了です。もう一度 QR コードを読み取ると「Register」が「Sign In」に変わっています。".to_owned(),
    ];
    let mut y = mm(120.0);
    for (i, step) in steps.iter().enumerate() {
        y = c.paragraph(left, y, width, 9.5, &format!("{}.", i + 1), step)?;
        y -= 2.0;
    }
    y -= 6.0;
    c.text(left, y, 12.0, "こんなときは")?;
    y -= 16.0;
    let mut help = vec![
        format!("有効期限が切れた、またはパスワードを {n} 回間違えて使えなくなった：この用紙ではもう登録できません。認証局に新しい初期登録用 QR の発行を申し込んでください（セカンド電子証明書そのものは有効です）。"),
        "「Security Key Error」と表示された：端末に生体認証を登録してから、または Safari／Chrome で開き直してから、QR コードの読み取りからやり直してください。".to_owned(),
        "スマートフォンが対応していない：セカンド電子証明書は HPKI カードによる認証でご利用ください。".to_owned(),
        "登録したスマートフォンを紛失した：すぐに認証局にご連絡ください。認証局が端末の登録を削除するか、セカンド電子証明書を失効させます。新しい端末は新しい初期登録用 QR で登録します。".to_owned(),
    ];
    if let Some(contact) = &settings.contact {
        help.push(format!("お問い合わせ：{contact}"));
    }
    for h in &help {
        y = c.paragraph(left, y, width, 9.5, "・", h)?;
        y -= 2.0;
    }
    c.gray(0.35);
    c.text(left, mm(14.0), 8.0, &format!("発行：{}", settings.issuer))?;
    Ok(())
}

fn page_ops(
    ops: &mut String,
    font: &mut FontUse<'_>,
    page: &SheetPage<'_>,
    photo: JpegInfo,
) -> Result<(), PrintError> {
    let mut c = Canvas { ops, font };
    let left = mm(18.0);
    let right = A4.0 - mm(18.0);
    c.ops.push_str("q /Guide Do Q\n");

    // Heading.
    c.gray(0.0);
    c.text(
        left,
        mm(272.0),
        17.0,
        "HPKI セカンド電子証明書 初期登録用 QR",
    )?;
    c.gray(0.3);
    c.text(
        left,
        mm(265.0),
        9.0,
        "この用紙にはご本人だけが使うパスワードが記載されています。他の人に見せたり渡したりしないでください。",
    )?;
    c.line(left, mm(261.0), right, mm(261.0), 0.8);

    // Photo, fitted into a 30 x 40 mm frame.
    let (fx, fy, fw, fh) = (left, mm(214.0), mm(30.0), mm(40.0));
    let scale = (fw / photo.width as f32).min(fh / photo.height as f32);
    let (pw, ph) = (photo.width as f32 * scale, photo.height as f32 * scale);
    let (px, py) = (fx + (fw - pw) / 2.0, fy + (fh - ph) / 2.0);
    let _ = writeln!(
        c.ops,
        "q {pw:.2} 0 0 {ph:.2} {px:.2} {py:.2} cm /Photo Do Q"
    );
    c.gray(0.6);
    c.frame(fx, fy, fw, fh, 0.5);

    // Holder data.
    let (lx, vx) = (mm(55.0), mm(90.0));
    let rows: [(&str, &str, f32, f32); 5] = [
        ("氏名", page.name_kanji, 18.0, 247.0),
        ("フリガナ", page.name_kana, 11.0, 239.0),
        ("名簿登録番号", page.registry_number, 12.0, 231.0),
        ("ユーザー名", page.username, 12.0, 223.0),
        ("資格", page.qualification, 12.0, 215.0),
    ];
    for (label, value, size, y) in rows {
        c.gray(0.35);
        c.text(lx, mm(y), 9.0, label)?;
        c.gray(0.0);
        c.text(vx, mm(y), size, value)?;
    }
    c.gray(0.6);
    c.line(left, mm(207.0), right, mm(207.0), 0.5);

    // The QR code, 50 mm square, dark modules as rectangles (crisp at any resolution).
    let code = QrCode::with_error_correction_level(page.url.as_bytes(), EcLevel::M)
        .map_err(|e| PrintError::Qr(e.to_string()))?;
    let n = code.width();
    let side = mm(50.0);
    let module = side / n as f32;
    let (qx, qy) = (left + mm(2.0), mm(150.0));
    c.gray(0.0);
    let colors = code.to_colors();
    for row in 0..n {
        let y = qy + side - (row + 1) as f32 * module;
        let mut col = 0;
        while col < n {
            if colors[row * n + col] == Color::Dark {
                let start = col;
                while col < n && colors[row * n + col] == Color::Dark {
                    col += 1;
                }
                let _ = writeln!(
                    c.ops,
                    "{:.3} {y:.3} {:.3} {module:.3} re",
                    qx + start as f32 * module,
                    (col - start) as f32 * module
                );
            } else {
                col += 1;
            }
        }
    }
    c.ops.push_str("f\n");
    c.gray(0.35);
    // Above the code: below it, it would sit in the middle of the address's two lines.
    c.text(left + mm(2.0), mm(202.0), 8.0, "登録用 QR コード")?;

    // Password and expiry beside the code.
    let bx = mm(82.0);
    c.gray(0.35);
    c.text(
        bx,
        mm(196.0),
        10.0,
        "パスワード（QR コードを読み取った後に入力）",
    )?;
    c.gray(0.0);
    c.frame(bx, mm(180.0), mm(100.0), mm(13.0), 1.0);
    c.spaced(bx + mm(5.0), mm(183.5), 20.0, 3.0, page.password)?;
    c.gray(0.35);
    c.text(bx, mm(171.0), 10.0, "有効期限")?;
    c.gray(0.0);
    let expiry = page.expires_at.with_timezone(&jst());
    c.text(
        bx,
        mm(164.0),
        13.0,
        &format!("{} まで（日本時間）", expiry.format("%Y年%m月%d日 %H:%M")),
    )?;
    c.gray(0.35);
    c.text(
        bx,
        mm(156.0),
        8.0,
        "登録用 URL（QR コードが読み取れない場合、ブラウザに入力）",
    )?;
    c.gray(0.0);
    // Printed to be typed: the address on one line, the token below it in groups of four, as
    // large as the space beside the QR code allows (the groups are drawn apart, not spaced:
    // copying the text gives the address without blanks).
    let width = mm(100.0);
    let (head, token) = match page.url.rfind('/') {
        Some(i) if page.url.len() - i > 16 => page.url.split_at(i + 1),
        _ => (page.url, ""),
    };
    let (_, head_em) = c.font.encode(head)?;
    c.text(bx, mm(150.0), (width / head_em.max(1.0)).min(11.0), head)?;
    if !token.is_empty() {
        let groups: Vec<&str> = token
            .as_bytes()
            .chunks(4)
            .filter_map(|g| std::str::from_utf8(g).ok())
            .collect();
        let gap = mm(2.5);
        let (_, token_em) = c.font.encode(token)?;
        let size = ((width - gap * groups.len() as f32) / token_em.max(1.0)).min(13.0);
        let mut x = bx;
        for g in groups {
            let (_, em) = c.font.encode(g)?;
            c.text(x, mm(143.5), size, g)?;
            x += em * size + gap;
        }
    }
    c.gray(0.6);
    c.line(left, mm(137.0), right, mm(137.0), 0.5);

    // Foot: which sheet this is, so an operator can find it.
    c.gray(0.35);
    let issued = page.issued_at.with_timezone(&jst());
    let foot = format!(
        "シート番号 {}　発行日 {}",
        page.sheet_id,
        issued.format("%Y年%m月%d日")
    );
    let (_, em) = c.font.encode(&foot)?;
    c.text(right - em * 8.0, mm(14.0), 8.0, &foot)?;
    Ok(())
}

/// Checks that a face photo can be printed (a gray or colour JPEG with a frame header),
/// without writing anything.
pub fn check_photo(jpeg: &[u8]) -> Result<(), PrintError> {
    jpeg_info(jpeg).map(|_| ())
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct JpegInfo {
    width: u32,
    height: u32,
    components: u8,
}

/// Reads a JPEG's frame header; anything else is a broken photo.
pub(crate) fn jpeg_info(data: &[u8]) -> Result<JpegInfo, PrintError> {
    let broken = |why: &str| PrintError::Photo(why.to_owned());
    if data.len() < 4 || data[0] != 0xFF || data[1] != 0xD8 {
        return Err(broken("it is not a JPEG file"));
    }
    if !data.ends_with(&[0xFF, 0xD9]) {
        return Err(broken("the JPEG file is cut short"));
    }
    let mut i = 2;
    while i + 4 <= data.len() {
        if data[i] != 0xFF {
            return Err(broken("the JPEG markers are damaged"));
        }
        let marker = data[i + 1];
        if marker == 0xFF {
            i += 1;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([data[i + 2], data[i + 3]]));
        // Start-of-frame markers, except DHT (C4), JPG (C8) and DAC (CC).
        if (0xC0..=0xCF).contains(&marker) && ![0xC4, 0xC8, 0xCC].contains(&marker) {
            let f = data
                .get(i + 4..i + 10)
                .ok_or_else(|| broken("the JPEG frame header is cut short"))?;
            let height = u32::from(u16::from_be_bytes([f[1], f[2]]));
            let width = u32::from(u16::from_be_bytes([f[3], f[4]]));
            let components = f[5];
            if width == 0 || height == 0 || !(components == 1 || components == 3) {
                return Err(broken(
                    "the JPEG frame header is not a gray or colour picture",
                ));
            }
            return Ok(JpegInfo {
                width,
                height,
                components,
            });
        }
        if marker == 0xDA || len < 2 {
            break;
        }
        i += 2 + len;
    }
    Err(broken("the JPEG file has no frame header"))
}
