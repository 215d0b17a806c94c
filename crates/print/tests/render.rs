//! The printed sheet, read back by tools no one here wrote: poppler's pdftotext and pdftoppm,
//! zbar's zbarimg and qpdf-free structure checks by pdfinfo/pdffonts.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{TimeZone, Utc};
use hpki_print::{
    check_photo, PrintError, SheetDocument, SheetDocumentSettings, SheetFont, SheetPage,
};

fn tool(name: &str, args: &[&str]) -> String {
    let out = Command::new(name).args(args).output().unwrap_or_else(|e| {
        panic!("{name} is needed for this test (Debian poppler-utils / zbar-tools): {e}")
    });
    assert!(
        out.status.success(),
        "{name} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// A face-like test photo: a skin-coloured oval on a blue background.
fn photo(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        let (cx, cy) = (width as f32 / 2.0, height as f32 * 0.45);
        let dx = (x as f32 - cx) / (width as f32 * 0.3);
        let dy = (y as f32 - cy) / (height as f32 * 0.35);
        if dx * dx + dy * dy < 1.0 {
            image::Rgb([236, 200, 170])
        } else if y as f32 > height as f32 * 0.8 {
            image::Rgb([40, 40, 60])
        } else {
            image::Rgb([170, 200, 230])
        }
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 88)
        .encode_image(&img)
        .expect("encode");
    jpeg
}

fn font() -> SheetFont {
    SheetFont::load(None)
        .expect("a Japanese font (Debian fonts-ipaexfont-gothic) must be installed")
}

struct Holder {
    kanji: &'static str,
    kana: &'static str,
    number: &'static str,
    password: &'static str,
    token: &'static str,
}

const HOLDERS: &[Holder] = &[
    Holder {
        kanji: "薬剤 太郎",
        kana: "ヤクザイ タロウ",
        number: "999999",
        password: "Kx7mWq3rTz9P",
        token: "0123456789abcdef0123456789abcdef",
    },
    Holder {
        kanji: "髙橋 﨑子",
        kana: "タカハシ ヨシコ",
        number: "123456",
        password: "HpR4dN6vYc2M",
        token: "fedcba9876543210fedcba9876543210",
    },
];

fn write_sheets(dir: &Path) -> PathBuf {
    let font = font();
    let path = dir.join("sheets.pdf");
    let file = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
    let settings = SheetDocumentSettings {
        issuer: "日本薬剤師会認証局（試験）".into(),
        max_attempts: 5,
        contact: Some("日本薬剤師会 認証局　03-1234-5678".into()),
    };
    let mut doc = SheetDocument::new(file, &font, &settings).expect("document");
    let jpeg = photo(300, 400);
    for (i, h) in HOLDERS.iter().enumerate() {
        let url = format!("https://hpki.example.jp/r/{}", h.token);
        let username = format!("{}-jpa", h.number);
        doc.page(&SheetPage {
            sheet_id: 41 + i as i64,
            name_kanji: h.kanji,
            name_kana: h.kana,
            registry_number: h.number,
            username: &username,
            qualification: "薬剤師",
            url: &url,
            password: h.password,
            issued_at: Utc
                .with_ymd_and_hms(2026, 11, 27, 1, 0, 0)
                .single()
                .expect("date"),
            expires_at: Utc
                .with_ymd_and_hms(2027, 2, 25, 14, 59, 0)
                .single()
                .expect("date"),
            photo_jpeg: &jpeg,
        })
        .expect("page");
    }
    doc.finish().expect("finish");
    path
}

#[test]
fn sheet_text_is_extractable_and_the_qr_code_decodes_to_the_url() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pdf = write_sheets(dir.path());
    let pdf_s = pdf.to_str().expect("path");

    let info = tool("pdfinfo", &[pdf_s]);
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("pdfinfo has no {name}: {info}"))
    };
    assert_eq!(field("Pages:"), "2");
    assert_eq!(field("Page size:"), "595.28 x 841.89 pts (A4)");

    // One embedded subset font, Type 0 / CID TrueType, Identity-H.
    let fonts = tool("pdffonts", &[pdf_s]);
    let rows: Vec<&str> = fonts.lines().skip(2).collect();
    assert_eq!(rows.len(), 1, "{fonts}");
    assert!(rows[0].contains("+IPAexGothic"), "{fonts}");
    assert!(rows[0].contains("CID TrueType"), "{fonts}");
    assert!(rows[0].contains("Identity-H"), "{fonts}");
    let cols: Vec<&str> = rows[0].split_whitespace().collect();
    // emb sub uni: yes yes yes
    assert_eq!(
        &cols[cols.len() - 5..cols.len() - 2],
        ["yes", "yes", "yes"],
        "{fonts}"
    );

    for (i, h) in HOLDERS.iter().enumerate() {
        let page = (i + 1).to_string();
        let text = tool(
            "pdftotext",
            &["-f", &page, "-l", &page, "-layout", pdf_s, "-"],
        );
        let squeezed: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        for needle in [
            h.kanji,
            h.kana,
            h.number,
            &format!("{}-jpa", h.number),
            "薬剤師",
            "2027年02月25日 23:59 まで（日本時間）",
            "日本薬剤師会認証局（試験）",
            "登録の手順",
            "処理が完了しました",
            "5 回間違えると",
            "認証局に新しい初期登録用 QR の発行を申し込んでください",
            "お問い合わせ：日本薬剤師会 認証局　03-1234-5678",
            &format!("https://hpki.example.jp/r/{}", h.token),
            h.password,
        ] {
            // Lines wrap and the password is letter-spaced: compare without white space.
            let n: String = needle.chars().filter(|c| !c.is_whitespace()).collect();
            assert!(
                squeezed.contains(&n),
                "page {page} lacks {needle:?}:\n{text}"
            );
        }
        assert!(text.contains("有効期限"), "{text}");

        let png = dir.path().join(format!("page-{page}"));
        tool(
            "pdftoppm",
            &[
                "-f",
                &page,
                "-l",
                &page,
                "-r",
                "150",
                "-png",
                "-singlefile",
                pdf_s,
                png.to_str().expect("path"),
            ],
        );
        let decoded = tool(
            "zbarimg",
            &["--quiet", "--raw", &format!("{}.png", png.display())],
        );
        assert_eq!(
            decoded.trim_end(),
            format!("https://hpki.example.jp/r/{}", h.token),
            "the QR code on page {page}"
        );
    }
    if let Ok(out) = std::env::var("HPKI_SHEET_PNG_OUT") {
        std::fs::copy(dir.path().join("page-1.png"), out).expect("copy the demo page");
    }
}

#[test]
fn a_broken_photo_or_a_character_without_a_glyph_is_refused_before_writing() {
    let font = font();
    let jpeg = photo(120, 160);
    check_photo(&jpeg).expect("a good photo");
    assert_eq!(font.missing_glyph("薬剤 太郎 ヤクザイ タロウ 薬剤師"), None);
    let err = check_photo(&jpeg[..jpeg.len() / 2]).expect_err("cut photo");
    assert!(matches!(err, PrintError::Photo(_)), "{err}");
    let err = check_photo(b"\x89PNG\r\n\x1a\n0000").expect_err("png");
    assert!(err.to_string().contains("not a JPEG"), "{err}");
    // A private-use character no font has.
    assert_eq!(font.missing_glyph("薬剤 \u{F8FF}"), Some('\u{F8FF}'));
    // Writing such a page fails before anything of it is written.
    let mut doc = SheetDocument::new(
        Vec::new(),
        &font,
        &SheetDocumentSettings {
            issuer: "x".into(),
            max_attempts: 5,
            contact: None,
        },
    )
    .expect("document");
    let page = SheetPage {
        sheet_id: 1,
        name_kanji: "薬剤 \u{F8FF}",
        name_kana: "ヤクザイ タロウ",
        registry_number: "999999",
        username: "999999-jpa",
        qualification: "薬剤師",
        url: "https://hpki.example.jp/r/0123456789abcdef0123456789abcdef",
        password: "Kx7mWq3rTz9P",
        issued_at: Utc::now(),
        expires_at: Utc::now(),
        photo_jpeg: &jpeg,
    };
    assert!(matches!(
        doc.page(&page),
        Err(PrintError::MissingGlyph('\u{F8FF}'))
    ));
    assert_eq!(doc.page_count(), 0);
    // An empty document is not a document.
    let doc = SheetDocument::new(
        Vec::new(),
        &font,
        &SheetDocumentSettings {
            issuer: "x".into(),
            max_attempts: 5,
            contact: None,
        },
    )
    .expect("document");
    assert!(matches!(doc.finish(), Err(PrintError::Empty)));
}
