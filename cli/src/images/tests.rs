use crate::images::{ImageSaver, InlineProtocol, decode_base64, human_size, placeholder};

#[test]
fn detects_only_advertised_terminals() {
    let detect = InlineProtocol::detect;
    assert_eq!(
        detect(true, Some("xterm-kitty"), None),
        Some(InlineProtocol::Kitty)
    );
    assert_eq!(
        detect(true, Some("xterm-256color"), Some("iTerm.app")),
        Some(InlineProtocol::Iterm)
    );
    assert_eq!(
        detect(true, Some("xterm-256color"), Some("Apple_Terminal")),
        None
    );
    assert_eq!(detect(false, Some("xterm-kitty"), Some("iTerm.app")), None);
}

#[test]
fn protocols_support_their_formats() {
    assert!(InlineProtocol::Kitty.supports("image/png"));
    assert!(!InlineProtocol::Kitty.supports("image/jpeg"));
    assert!(InlineProtocol::Iterm.supports("image/jpeg"));
    assert!(!InlineProtocol::Iterm.supports("image/svg+xml"));
}

#[test]
fn escapes() {
    insta::assert_debug_snapshot!(InlineProtocol::Iterm.escape("iVBO", 3), @r#""\u{1b}]1337;File=inline=1;size=3;preserveAspectRatio=1:iVBO\u{7}\n""#);
    insta::assert_debug_snapshot!(InlineProtocol::Kitty.escape("iVBO", 3), @r#""\u{1b}_Ga=T,f=100,m=0;iVBO\u{1b}\\\n""#);
    let long = "A".repeat(4096 + 10);
    let escape = InlineProtocol::Kitty.escape(&long, 3080);
    let chunks: Vec<&str> = escape
        .trim_end()
        .split("\x1b\\")
        .filter(|chunk| !chunk.is_empty())
        .collect();
    assert_eq!(chunks.len(), 2);
    assert_eq!(
        chunks[0],
        format!("\x1b_Ga=T,f=100,m=1;{}", "A".repeat(4096))
    );
    assert_eq!(chunks[1], format!("\x1b_Gm=0;{}", "A".repeat(10)));
}

#[test]
fn sizes_and_placeholders() {
    insta::assert_snapshot!(
        [0, 1023, 1024, 12_595, 1 << 20, 5 << 30].map(human_size).join(" | "),
        @"0 B | 1023 B | 1.0 KiB | 12.3 KiB | 1.0 MiB | 5.0 GiB"
    );
    insta::assert_snapshot!(placeholder("image/png", 12_595), @"[image/png 12.3 KiB]");
}

#[test]
fn base64_round_trips() {
    assert_eq!(decode_base64("aGVsbG8=").as_deref(), Some(&b"hello"[..]));
    assert_eq!(decode_base64("aGVsbG8").as_deref(), Some(&b"hello"[..]));
    assert_eq!(decode_base64("aGVs\nbG8h").as_deref(), Some(&b"hello!"[..]));
    assert_eq!(decode_base64("").as_deref(), Some(&b""[..]));
    assert_eq!(decode_base64("+/8="), Some(vec![0xfb, 0xff]));
    assert_eq!(decode_base64("a"), None);
    assert_eq!(decode_base64("aGV*"), None);
}

#[test]
fn saver_numbers_files_and_never_overwrites() {
    let dir = std::env::temp_dir().join(format!("pyk-images-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir is writable");
    std::fs::write(dir.join("image-1.png"), b"keep").expect("temp dir is writable");
    let mut saver = ImageSaver::new(dir.clone());
    let png = saver.save("image/png", "aGVsbG8=").expect("saves");
    let svg = saver.save("image/svg+xml", "<svg/>").expect("saves");
    assert_eq!(png, dir.join("image-2.png"));
    assert_eq!(svg, dir.join("image-3.svg"));
    assert_eq!(
        std::fs::read(dir.join("image-1.png")).ok().as_deref(),
        Some(&b"keep"[..])
    );
    assert_eq!(std::fs::read(&png).ok().as_deref(), Some(&b"hello"[..]));
    assert_eq!(
        std::fs::read_to_string(&svg).ok().as_deref(),
        Some("<svg/>")
    );
    assert!(saver.save("image/png", "!!").is_err());
    let _ = std::fs::remove_dir_all(&dir);
}
