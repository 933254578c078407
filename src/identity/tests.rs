//! Examples of the rule, and property tests over random strings (a SplitMix64 generator with
//! fixed seeds, as `rbac::test_rng`: every failure is reproducible, no dependency).

use unicode_normalization::UnicodeNormalization;

use super::*;

fn name(s: &str) -> String {
    canonical_username(s).unwrap_or_else(|why| panic!("{s:?} refused: {why}"))
}

fn refused(s: &str) -> Why {
    canonical_username(s).expect_err(&format!("{s:?} should be refused"))
}

#[test]
fn case_width_and_composition_variants_are_one_name() {
    for variant in ["alice", "ALICE", "Alice", " alice ", "\u{ff41}\u{ff4c}\u{ff49}\u{ff43}\u{ff45}", "ＡＬＩＣＥ"]
    {
        assert_eq!(name(variant), "alice", "{variant:?}");
    }
    // é precomposed, or e + COMBINING ACUTE ACCENT; KELVIN SIGN lower-cases to k.
    assert_eq!(name("alic\u{e9}"), name("alice\u{301}"));
    assert_eq!(name("\u{212a}im"), "kim");
    assert_eq!(name("Limited1"), name("limited1"));
    // Letters of other scripts, and the ASCII printables, are allowed.
    for ok in ["juliet@example.com", "o'brien", "fußball", "π", "ΣΑΣ", "日本語", "안녕", "ж-1", "l\u{b7}l"] {
        assert!(canonical_username(ok).is_ok(), "{ok:?}");
    }
    assert_eq!(name("ΣΑΣ"), "σας", "final sigma, as toLowerCase maps it");
    // Conjoining jamo are refused alone but compose (NFC) into a syllable, which is a letter.
    assert_eq!(name("\u{1100}\u{1161}"), "\u{ac00}");
}

#[test]
fn invisible_and_other_disallowed_code_points_are_refused_by_position() {
    assert!(matches!(refused("ali\u{200b}ce"), Why::Disallowed { code_point: '\u{200b}', position: 4, .. }));
    let message = refused("ali\u{200b}ce").to_string();
    assert!(message.contains("U+200B at position 4"), "{message}");
    for (bad, cp) in [
        ("bob smith", ' '),
        ("bob\u{a0}smith", '\u{a0}'),
        ("a\u{200d}b", '\u{200d}'),
        ("\u{feff}bob", '\u{feff}'),
        ("bob\u{202e}", '\u{202e}'),
        ("bob\u{fe0f}", '\u{fe0f}'),
        ("\u{fb01}le", '\u{fb01}'),
        ("\u{24b6}lice", '\u{24b6}'),
        ("\u{1d41a}lice", '\u{1d41a}'),
        ("x\u{b2}", '\u{b2}'),
        ("bob\u{1}", '\u{1}'),
        ("bob\u{e000}", '\u{e000}'),
        ("bob\u{fdd0}", '\u{fdd0}'),
        ("ali\u{2022}ce", '\u{2022}'),
        ("smile\u{1f600}", '\u{1f600}'),
        ("\u{1100}bc", '\u{1100}'),
        ("\u{1c5}", '\u{1c5}'),
        ("a\u{b7}b", '\u{b7}'),
    ] {
        match refused(bad) {
            Why::Disallowed { code_point, .. } => assert_eq!(code_point, cp, "{bad:?}"),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    assert_eq!(refused(""), Why::Empty);
    assert_eq!(refused("   "), Why::Empty);
    assert!(matches!(refused(&"a".repeat(USERNAME_MAX_CHARS + 1)), Why::TooLong { .. }));
    assert!(canonical_username(&"a".repeat(USERNAME_MAX_CHARS)).is_ok());
}

#[test]
fn right_to_left_names_follow_the_bidi_rule() {
    assert!(canonical_username("שלום").is_ok());
    assert!(canonical_username("שלום1").is_ok(), "ends with a European digit");
    assert!(canonical_username("مرحبا").is_ok());
    assert_eq!(refused("abcש"), Why::Bidi, "left-to-right start holding right-to-left");
    assert_eq!(refused("1ש"), Why::Bidi, "starts with a digit");
    assert_eq!(refused("ש\u{661}1"), Why::Bidi, "Arabic-Indic and European digits mixed");
}

#[test]
fn emails_compare_case_insensitively_and_refuse_what_is_not_an_address() {
    assert_eq!(canonical_email(" Alice@Example.COM ").unwrap(), "alice@example.com");
    assert_eq!(canonical_email("alice+tag@example.com").unwrap(), "alice+tag@example.com", "tags kept");
    assert_eq!(canonical_email("a.lice@example.com").unwrap(), "a.lice@example.com", "dots kept");
    for bad in ["", "alice", "@example.com", "alice@", "al ice@example.com", "ali\u{200b}ce@example.com", "a\u{7}@b"] {
        assert!(canonical_email(bad).is_err(), "{bad:?}");
    }
    assert!(canonical_email(&format!("{}@example.com", "a".repeat(250))).is_err());
}

/// SplitMix64, as in `rbac::test_rng`.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// A character from the places where the rule has work to do, or any code point.
    fn char(&mut self) -> char {
        const TRICKY: &[char] = &[
            'a',
            'l',
            'i',
            'c',
            'e',
            'A',
            'L',
            'I',
            'Z',
            '1',
            '@',
            '.',
            '-',
            '_',
            ' ',
            '\u{ff41}',
            '\u{ff21}',
            '\u{ff11}',
            '\u{3000}',
            '\u{ff76}',
            '\u{ff9e}',
            '\u{301}',
            '\u{308}',
            '\u{e9}',
            '\u{c9}',
            '\u{130}',
            '\u{131}',
            '\u{df}',
            '\u{1e9e}',
            '\u{3a3}',
            '\u{3c2}',
            '\u{212a}',
            '\u{2126}',
            '\u{212b}',
            '\u{fb01}',
            '\u{1c5}',
            '\u{200b}',
            '\u{200c}',
            '\u{200d}',
            '\u{feff}',
            '\u{202e}',
            '\u{fe0f}',
            '\u{ad}',
            '\u{b7}',
            '\u{375}',
            '\u{3b1}',
            '\u{5d0}',
            '\u{5f3}',
            '\u{627}',
            '\u{661}',
            '\u{6f1}',
            '\u{30fb}',
            '\u{30ab}',
            '\u{3099}',
            '\u{1100}',
            '\u{1161}',
            '\u{ac00}',
            '\u{4e00}',
            '\u{1d41a}',
            '\u{24b6}',
            '\u{b2}',
            '\u{1f600}',
            '\u{e000}',
            '\u{fdd0}',
            '\u{ffff}',
            '\u{10ffff}',
            '\u{7f}',
            '\u{0}',
            '\u{430}',
        ];
        match self.below(4) {
            0 => loop {
                if let Some(c) = char::from_u32((self.next_u64() % 0x11_0000) as u32) {
                    break c;
                }
            },
            1 => char::from_u32(0x20 + self.below(0x2000) as u32).unwrap_or('a'),
            _ => TRICKY[self.below(TRICKY.len())],
        }
    }

    fn string(&mut self) -> String {
        (0..1 + self.below(8)).map(|_| self.char()).collect()
    }
}

const CASES: usize = 200_000;

#[test]
fn property_canonical_usernames_are_fixed_points_and_refusals_do_not_panic() {
    let mut rng = Rng(0x7e55_e7a0);
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..CASES {
        let typed = rng.string();
        match canonical_username(&typed) {
            Ok(c) => {
                accepted += 1;
                assert_eq!(canonical_username(&c).as_ref(), Ok(&c), "not idempotent for {typed:?}");
                // A canonical form is already lower-case, NFC and NFKC: two different canonical
                // forms stay different under case folding and compatibility normalisation.
                assert_eq!(c.to_lowercase(), c, "{typed:?}");
                assert_eq!(c.nfkc().collect::<String>(), c, "{typed:?}");
                assert_eq!(c.nfc().collect::<String>(), c, "{typed:?}");
                assert!(!c.chars().any(default_ignorable), "{typed:?}");
                // The same name typed decomposed, or in upper case where that round-trips, is the
                // same account.
                assert_eq!(canonical_username(&typed.nfd().collect::<String>()).as_ref(), Ok(&c), "{typed:?}");
                let upper = c.to_uppercase();
                if upper.to_lowercase() == c {
                    assert_eq!(canonical_username(&upper).as_ref(), Ok(&c), "{typed:?}");
                }
            }
            Err(why) => {
                refused += 1;
                assert!(!why.to_string().is_empty());
            }
        }
    }
    assert!(accepted > CASES / 20 && refused > CASES / 20, "accepted {accepted}, refused {refused}");
}

#[test]
fn property_an_invisible_character_anywhere_is_refused() {
    let mut rng = Rng(0x1dea_0001);
    let invisible = ['\u{200b}', '\u{200c}', '\u{200d}', '\u{2060}', '\u{feff}', '\u{ad}', '\u{fe0f}', '\u{e0041}'];
    for _ in 0..CASES / 10 {
        let base: String = (0..1 + rng.below(8)).map(|_| char::from(b'a' + rng.below(26) as u8)).collect();
        let at = rng.below(base.len() + 1);
        let mut typed = base.clone();
        typed.insert(at, invisible[rng.below(invisible.len())]);
        assert!(canonical_username(&typed).is_err(), "{typed:?} accepted");
        // And full-width, upper-case spellings of the same letters are the same name.
        let wide: String = base.chars().map(|c| char::from_u32(u32::from(c) - 0x20 + 0xfee0).unwrap()).collect();
        assert_eq!(name(&wide), base);
    }
}

#[test]
fn property_canonical_emails_are_fixed_points() {
    let mut rng = Rng(0xe4a1_1000);
    for _ in 0..CASES / 4 {
        let typed = format!("{}@{}", rng.string(), rng.string());
        if let Ok(c) = canonical_email(&typed) {
            assert_eq!(canonical_email(&c).as_ref(), Ok(&c), "{typed:?}");
            assert_eq!(c.to_lowercase(), c, "{typed:?}");
            assert_eq!(canonical_email(&typed.to_ascii_uppercase()).as_ref(), Ok(&c), "{typed:?}");
        }
    }
}
