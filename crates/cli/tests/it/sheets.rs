//! Printed sheets from the command line, read back by poppler (pdftotext, pdftoppm, pdfinfo)
//! and zbar (zbarimg): what the operator hands out is what the service checks.

use std::path::Path;
use std::process::Command;

use crate::helpers::*;

fn tool(name: &str, args: &[&str]) -> String {
    let out = Command::new(name)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{name} is needed (Debian poppler-utils / zbar-tools): {e}"));
    assert!(
        out.status.success(),
        "{name} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn pages(pdf: &Path) -> usize {
    let info = tool("pdfinfo", &[pdf.to_str().expect("path")]);
    info.lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no page count: {info}"))
}

fn page_text(pdf: &Path, page: usize) -> String {
    let p = page.to_string();
    tool(
        "pdftotext",
        &["-f", &p, "-l", &p, pdf.to_str().expect("path"), "-"],
    )
    .chars()
    .filter(|c| !c.is_whitespace())
    .collect()
}

fn page_qr(pdf: &Path, page: usize, dir: &Path) -> String {
    let p = page.to_string();
    let png = dir.join(format!("qr-{page}"));
    tool(
        "pdftoppm",
        &[
            "-f",
            &p,
            "-l",
            &p,
            "-r",
            "150",
            "-png",
            "-singlefile",
            pdf.to_str().expect("path"),
            png.to_str().expect("path"),
        ],
    );
    tool(
        "zbarimg",
        &["--quiet", "--raw", &format!("{}.png", png.display())],
    )
    .trim_end()
    .to_owned()
}

fn audit_count(data: &Path, action: &str) -> usize {
    ok(data, &["audit", "export"])
        .matches(&format!("\"{action}\""))
        .count()
}

#[test]
fn a_printed_sheet_carries_the_holder_the_password_and_a_qr_code_of_the_url() {
    let dir = TempDir::new();
    let data = dir.data();
    ok(&data, &["init", "--public-url", "https://hpki.example.jp"]);
    let face = dir.path().join("face.png");
    std::fs::write(&face, png(300, 400)).expect("write");
    ok(
        &data,
        &[
            "holder",
            "add",
            "--registry-number",
            "999999",
            "--name-kanji",
            "薬剤 太郎",
            "--name-kana",
            "ヤクザイ タロウ",
            "--date-of-birth",
            "1980-04-01",
            "--qualification",
            "Pharmacist",
            "--photo",
            face.to_str().expect("path"),
        ],
    );
    let pdf = dir.path().join("sheet.pdf");
    let issued = json(&ok(
        &data,
        &[
            "sheet",
            "issue",
            "--holder",
            "999999",
            "--out",
            pdf.to_str().expect("path"),
            "--json",
        ],
    ));
    let url = issued["url"].as_str().expect("url");
    let password = issued["password"].as_str().expect("password");
    assert_eq!(pages(&pdf), 1);
    let text = page_text(&pdf, 1);
    for needle in [
        "薬剤太郎",
        "ヤクザイタロウ",
        "999999-jpa",
        "薬剤師",
        password,
        url,
        "登録の手順",
    ] {
        assert!(text.contains(needle), "the sheet lacks {needle:?}: {text}");
    }
    // The issuer defaults to the signing CA's organization.
    assert!(text.contains("発行：hpki-seconddemo"), "{text}");
    assert_eq!(page_qr(&pdf, 1, dir.path()), url);
    assert!(!dir.path().join("sheet.pdf.partial").exists());
}

#[test]
fn a_print_run_issues_for_every_pending_holder_or_for_none() {
    let dir = TempDir::new();
    let data = dir.data();
    ok(
        &data,
        &["init", "--public-url", "https://hpki.example.jp", "--no-ca"],
    );
    std::fs::write(dir.path().join("face.png"), png(240, 320)).expect("write");
    let csv = dir.path().join("holders.csv");
    std::fs::write(
        &csv,
        "registry_number,name_kanji,name_kana,date_of_birth,qualification,photo\n\
         100001,薬剤 一郎,ヤクザイ イチロウ,1970-01-01,Pharmacist,face.png\n\
         100002,調剤 花子,チョウザイ ハナコ,1971-02-02,Pharmacist,face.png\n\
         100003,医師 三郎,イシ サブロウ,1972-03-03,Medical Doctor,\n\
         100004,歯科 四郎,シカ シロウ,1973-04-04,Dentist,face.png\n",
    )
    .expect("csv");
    ok(&data, &["holder", "import", csv.to_str().expect("path")]);
    // 100004 already has a usable sheet: not pending.
    ok(&data, &["sheet", "issue", "--holder", "100004"]);
    let pdf = dir.path().join("run.pdf");
    let pdf_s = pdf.to_str().expect("path");

    // One holder has no photo: nothing is issued, no file is left.
    let issued_before = audit_count(&data, "sheet.issued");
    let (_, err) = fails(&data, &["sheet", "issue", "--all-pending", "--out", pdf_s]);
    assert!(err.contains("no sheet was issued"), "{err}");
    assert!(err.contains("100003-jpa has no face photo"), "{err}");
    assert!(err.contains("holder photo 100003-jpa"), "{err}");
    assert!(!pdf.exists() && !dir.path().join("run.pdf.partial").exists());
    assert_eq!(audit_count(&data, "sheet.issued"), issued_before);
    let (_, err) = fails(&data, &["sheet", "issue", "--all-pending"]);
    assert!(err.contains("--out"), "{err}");

    ok(
        &data,
        &[
            "holder",
            "photo",
            "100003",
            dir.path().join("face.png").to_str().expect("path"),
        ],
    );
    let run = json(&ok(
        &data,
        &["sheet", "issue", "--all-pending", "--out", pdf_s, "--json"],
    ));
    assert_eq!(run["printed"], 3);
    assert_eq!(pages(&pdf), 3);
    for (page, (number, kanji)) in [
        ("100001", "薬剤一郎"),
        ("100002", "調剤花子"),
        ("100003", "医師三郎"),
    ]
    .into_iter()
    .enumerate()
    {
        let text = page_text(&pdf, page + 1);
        assert!(
            text.contains(kanji) && text.contains(&format!("{number}-jpa")),
            "{text}"
        );
        let qr = page_qr(&pdf, page + 1, dir.path());
        assert!(
            qr.starts_with("https://hpki.example.jp/r/") && text.contains(&qr),
            "{qr}"
        );
    }
    assert!(page_text(&pdf, 3).contains("医師"));
    for (number, state) in [
        ("100001", "active"),
        ("100003", "active"),
        ("100004", "active"),
    ] {
        let shown = json(&ok(&data, &["sheet", "show", "--holder", number, "--json"]));
        let all = shown.as_array().expect("array");
        assert_eq!(all.len(), 1, "{number}: one sheet, none superseded");
        assert_eq!(all[0]["state"], state);
    }
    assert_eq!(audit_count(&data, "sheet.issued"), issued_before + 3);

    // Nothing pending any more: no file.
    let again = dir.path().join("again.pdf");
    let out = ok(
        &data,
        &[
            "sheet",
            "issue",
            "--all-pending",
            "--out",
            again.to_str().expect("path"),
        ],
    );
    assert!(out.contains("nothing was printed"), "{out}");
    assert!(!again.exists());
    let out = ok(&data, &["audit", "verify"]);
    assert!(out.contains("audit log intact"), "{out}");
}
