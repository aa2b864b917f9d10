//! Virtual MFA devices: seeds, the `otpauth://` URI authenticator apps read, and its QR code.

use data_encoding::BASE32_NOPAD;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Seeds are 40 random bytes, 64 Base32 characters, as AWS issues them.
pub const SEED_BYTES: usize = 40;
/// "MFA devices in use by an IAM user" (not adjustable on AWS).
pub const MAX_DEVICES_PER_USER: u32 = 8;
/// Tags on one MFA device.
pub const MAX_TAGS_PER_DEVICE: usize = 50;

/// Shown as the issuer in authenticator apps; AWS uses the same words.
const ISSUER: &str = "Amazon Web Services";

/// Characters left bare in a URI component (RFC 3986 unreserved).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A fresh random seed.
pub fn generate_seed() -> [u8; SEED_BYTES] {
    let mut seed = [0u8; SEED_BYTES];
    getrandom::fill(&mut seed).expect("the OS random source is available");
    seed
}

/// The seed as authenticator apps take it (RFC 4648 Base32, no padding).
pub fn base32_seed(seed: &[u8]) -> String {
    BASE32_NOPAD.encode(seed)
}

/// The provisioning URI, in the form AWS's own QR codes carry:
/// `otpauth://totp/Amazon%20Web%20Services:{device}@{account}?secret=…&issuer=Amazon%20Web%20Services`.
pub fn otpauth_uri(device_name: &str, account_label: &str, seed: &[u8]) -> String {
    let issuer = utf8_percent_encode(ISSUER, COMPONENT);
    format!(
        "otpauth://totp/{issuer}:{}@{}?secret={}&issuer={issuer}",
        utf8_percent_encode(device_name, COMPONENT),
        utf8_percent_encode(account_label, COMPONENT),
        base32_seed(seed),
    )
}

/// A PNG image of the QR code for `text`: black modules on white, 4-module quiet zone,
/// `SCALE` pixels per module, 1-bit greyscale.
pub fn qr_png(text: &str) -> Vec<u8> {
    const SCALE: usize = 6;
    const QUIET: usize = 4;
    // fast_qr rather than the `qrcode` crate (~3.9 ms per code, mostly choosing the mask) or
    // `qrcodegen` (~0.9 ms): ~0.4 ms with the PNG, measured by benches/mfa.rs. The mask is still
    // the one with the lowest penalty, as ISO/IEC 18004 asks.
    let code = fast_qr::QRBuilder::new(text).ecl(fast_qr::ECL::M).build().expect("an otpauth URI fits in a QR code");
    let modules = code.size;
    let side = (modules + 2 * QUIET) * SCALE;
    let row_bytes = side.div_ceil(8);
    let mut pixels = vec![0xffu8; row_bytes * side];
    // One pixel row per module row, repeated SCALE times; the quiet zone stays white.
    for my in 0..modules {
        let first = (QUIET + my) * SCALE * row_bytes;
        let row = &mut pixels[first..first + row_bytes];
        for mx in (0..modules).filter(|&mx| code.data[my * modules + mx].value()) {
            for x in (QUIET + mx) * SCALE..(QUIET + mx + 1) * SCALE {
                row[x / 8] &= !(0x80 >> (x % 8));
            }
        }
        for copy in 1..SCALE {
            pixels.copy_within(first..first + row_bytes, first + copy * row_bytes);
        }
    }
    let mut png_bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png_bytes, side as u32, side as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::One);
        // fdeflate: a tenth of the default's time for a 1-bit image that compresses well anyway.
        encoder.set_compression(png::Compression::Fast);
        let mut writer = encoder.write_header().expect("writing to a Vec cannot fail");
        writer.write_image_data(&pixels).expect("writing to a Vec cannot fail");
    }
    png_bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_64_base32_characters() {
        let seed = generate_seed();
        let b32 = base32_seed(&seed);
        assert_eq!(b32.len(), 64);
        assert!(b32.bytes().all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)));
        assert_ne!(generate_seed(), seed);
    }

    #[test]
    fn spec_sample_seed_encoding() {
        let seed: Vec<u8> = (0u8..40).collect();
        assert_eq!(base32_seed(&seed), "AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYPSAIJCEMSCKJRH");
    }

    #[test]
    fn uri_matches_aws_form() {
        let seed: Vec<u8> = (0u8..40).collect();
        assert_eq!(
            otpauth_uri("alice", "123456789012", &seed),
            "otpauth://totp/Amazon%20Web%20Services:alice@123456789012?secret=\
             AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYPSAIJCEMSCKJRH\
             &issuer=Amazon%20Web%20Services"
        );
        assert!(otpauth_uri("a+b=c", "1", &seed).contains(":a%2Bb%3Dc@1?"));
    }

    #[test]
    fn qr_png_is_a_decodable_png_of_the_right_size() {
        let uri = otpauth_uri("alice", "123456789012", &generate_seed());
        let bytes = qr_png(&uri);
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let modules = fast_qr::QRBuilder::new(uri.as_str()).ecl(fast_qr::ECL::M).build().unwrap().size;
        assert_eq!(info.width as usize, (modules + 8) * 6);
        assert_eq!(info.width, info.height);
        // The top-left finder pattern's corner module is dark, the quiet zone light.
        let row_bytes = (info.width as usize).div_ceil(8);
        let pixel = |x: usize, y: usize| buf[y * row_bytes + x / 8] & (0x80 >> (x % 8)) != 0;
        assert!(pixel(0, 0), "quiet zone is white");
        assert!(!pixel(4 * 6, 4 * 6), "finder corner is black");
    }
}
