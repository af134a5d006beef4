//! Images on a terminal: inline graphics protocols, saved files and placeholders.

use std::{
    fs::{self, OpenOptions},
    io::{self, Write},
    path::{Path, PathBuf},
};

/// A terminal graphics protocol that shows an image inline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InlineProtocol {
    /// kitty's graphics protocol (PNG only).
    Kitty,
    /// iTerm2's inline images (`OSC 1337 File=`), for PNG, JPEG and GIF.
    Iterm,
}

impl InlineProtocol {
    /// The protocol the terminal advertises, when stdout is that terminal:
    /// `TERM=xterm-kitty` means kitty, `TERM_PROGRAM=iTerm.app` means iTerm2.
    pub(crate) fn detect(
        stdout_is_terminal: bool,
        term: Option<&str>,
        term_program: Option<&str>,
    ) -> Option<Self> {
        if !stdout_is_terminal {
            return None;
        }
        if term_program == Some("iTerm.app") {
            Some(Self::Iterm)
        } else if term == Some("xterm-kitty") {
            Some(Self::Kitty)
        } else {
            None
        }
    }

    /// Whether the protocol can show an image of this MIME type.
    pub(crate) fn supports(self, mime: &str) -> bool {
        match self {
            Self::Kitty => mime == "image/png",
            Self::Iterm => matches!(mime, "image/png" | "image/jpeg" | "image/gif"),
        }
    }

    /// The escape sequence that shows the image whose base64 is `data` (no whitespace)
    /// and whose decoded size is `bytes`, followed by a newline.
    pub(crate) fn escape(self, data: &str, bytes: usize) -> String {
        match self {
            Self::Kitty => kitty_escape(data),
            Self::Iterm => {
                format!("\x1b]1337;File=inline=1;size={bytes};preserveAspectRatio=1:{data}\x07\n")
            }
        }
    }
}

/// kitty wants the payload in chunks of at most 4096 base64 bytes: the first chunk
/// carries the keys (`a=T` transmit and show, `f=100` PNG), `m=1` says more follows.
fn kitty_escape(data: &str) -> String {
    const CHUNK: usize = 4096;
    let mut out = String::with_capacity(data.len() + data.len() / CHUNK * 16 + 32);
    let bytes = data.as_bytes();
    let n_chunks = bytes.len().div_ceil(CHUNK).max(1);
    for index in 0..n_chunks {
        let chunk =
            &bytes[(index * CHUNK).min(bytes.len())..((index + 1) * CHUNK).min(bytes.len())];
        let more = u8::from(index + 1 < n_chunks);
        out.push_str("\x1b_G");
        if index == 0 {
            out.push_str("a=T,f=100,");
        }
        out.push_str(&format!("m={more};"));
        // Base64 is ASCII, so any byte offset is a char boundary.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push_str("\x1b\\");
    }
    out.push('\n');
    out
}

/// What a terminal shows for an image it cannot draw: `[image/png 12.3 KiB]`.
pub(crate) fn placeholder(mime: &str, bytes: usize) -> String {
    format!("[{mime} {}]", human_size(bytes))
}

/// A byte count for people: `512 B`, `12.3 KiB`, `4.0 MiB`.
pub(crate) fn human_size(bytes: usize) -> String {
    const KIB: f64 = 1024.0;
    // Display only: precision loss above 2^53 bytes does not matter.
    let size = bytes as f64;
    if bytes < 1024 {
        format!("{bytes} B")
    } else if size < KIB * KIB {
        format!("{:.1} KiB", size / KIB)
    } else if size < KIB * KIB * KIB {
        format!("{:.1} MiB", size / (KIB * KIB))
    } else {
        format!("{:.1} GiB", size / (KIB * KIB * KIB))
    }
}

/// Writes images into a directory as `image-1.png`, `image-2.jpg`, ..., never
/// overwriting a file that is already there.
#[derive(Debug)]
pub(crate) struct ImageSaver {
    dir: PathBuf,
    next: u64,
}

impl ImageSaver {
    /// Saves into `dir`, which is created when the first image arrives.
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self { dir, next: 1 }
    }

    /// Saves one image: `data` is base64 for binary types and the document for SVG.
    /// Returns the path written.
    pub(crate) fn save(&mut self, mime: &str, data: &str) -> io::Result<PathBuf> {
        let contents = if mime == "image/svg+xml" {
            data.as_bytes().to_vec()
        } else {
            decode_base64(data).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{mime} data is not valid base64"),
                )
            })?
        };
        fs::create_dir_all(&self.dir)?;
        loop {
            let path = self
                .dir
                .join(format!("image-{}.{}", self.next, extension(mime)));
            self.next += 1;
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    file.write_all(&contents)?;
                    return Ok(path);
                }
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(err) => return Err(err),
            }
        }
    }

    /// The directory images go to.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The file extension for an image MIME type.
fn extension(mime: &str) -> &str {
    match mime {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/gif" => "gif",
        "image/svg+xml" => "svg",
        other => other
            .rsplit('/')
            .next()
            .filter(|ext| ext.chars().all(char::is_alphanumeric))
            .unwrap_or("bin"),
    }
}

/// Decodes standard base64, ignoring whitespace; padding is optional.
/// `None` when `data` holds anything else.
pub(crate) fn decode_base64(data: &str) -> Option<Vec<u8>> {
    fn sextet(byte: u8) -> Option<u32> {
        Some(u32::from(match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    }
    let digits: Vec<u8> = data
        .bytes()
        .filter(|byte| !byte.is_ascii_whitespace())
        .collect();
    let unpadded = digits
        .strip_suffix(b"==")
        .or_else(|| digits.strip_suffix(b"="))
        .unwrap_or(&digits);
    if unpadded.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(unpadded.len() / 4 * 3 + 2);
    for group in unpadded.chunks(4) {
        let mut word = 0u32;
        for (index, byte) in group.iter().enumerate() {
            word |= sextet(*byte)? << (18 - 6 * index);
        }
        // A group of n digits carries n - 1 whole bytes.
        for index in 0..group.len() - 1 {
            // Truncation to the addressed byte is the point.
            out.push((word >> (16 - 8 * index)) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests;
