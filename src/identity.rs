//! Canonical identities: the one rule for when two usernames, or two email addresses, name the
//! same account. Every store write keeps the canonical form beside what was typed (which stays
//! for display), unique per instance; every lookup (sign-in, the sign-in throttle, password
//! reset, SCIM filters, the admin API, federation) compares canonical forms.
//!
//! **Usernames** follow RFC 8265's UsernameCaseMapped profile of the PRECIS IdentifierClass
//! (RFC 8264), in the order RFC 8264 section 7 gives:
//! 1. width mapping: full-width and half-width forms become their ordinary forms (`ａｌｉｃｅ`
//!    is `alice`);
//! 2. case mapping: Unicode `toLowerCase` (`ALICE` is `alice`);
//! 3. normalisation: NFC (`e` + U+0301 is `é`);
//! 4. the Bidi Rule of RFC 5893 for strings holding right-to-left characters;
//! 5. every code point must be valid in the IdentifierClass: letters and digits of any script
//!    (general categories Ll, Lu, Lo, Lm, Nd, Mn, Mc) and the printable ASCII characters.
//!    Refused: default-ignorable code points (zero-width spaces and joiners, bidi controls,
//!    variation selectors, fillers), controls, spaces, symbols and punctuation outside ASCII,
//!    compatibility characters (those NFKC would change: ligatures, circled, mathematical and
//!    superscript letters), unassigned code points, noncharacters, private use, old Hangul jamo.
//!
//! RFC 8265 normalises with NFC and refuses what NFKC would change, so a canonical username is
//! also NFKC-normal: no two canonical forms differ only by compatibility. Stricter than the RFC:
//! the zero-width joiners (CONTEXTJ) are refused outright; the CONTEXTO characters are allowed
//! only in the contexts RFC 5892 appendix A gives, with script blocks standing in for the
//! Script property. Not covered: look-alikes across scripts (Latin `a` and Cyrillic `а` are
//! both letters, so `alice` and `аlice` are two names).
//!
//! **Emails** are trimmed and the whole address lower-cased (then NFC). The local part is
//! case-sensitive in theory (RFC 5321), but no mail provider in use treats `Alice@` and
//! `alice@` as two mailboxes, and treating them as two accounts lets a second account claim a
//! mailbox someone already has (and confuses linking by verified email). Nothing else is
//! folded: dots and `+tags` mean different mailboxes at some providers. An address must have a
//! local part and a domain, at most 254 bytes, and no spaces, controls or invisible characters.

use unicode_bidi::BidiClass;
use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// The longest username accepted, in characters (as typed, after trimming).
pub const USERNAME_MAX_CHARS: usize = 128;
/// The longest email address accepted, in bytes (RFC 5321's path limit less the brackets).
pub const EMAIL_MAX_BYTES: usize = 254;

/// Why a username or email is refused; its `Display` is the message for the person who typed it
/// (the offending character is named by its code point, since it may be invisible).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Why {
    /// Nothing left after trimming.
    Empty,
    /// Longer than the limit.
    TooLong { max: usize, unit: &'static str },
    /// A code point the rule does not allow, at a 1-based character position of the input.
    Disallowed { code_point: char, position: usize, kind: &'static str },
    /// Right-to-left text that breaks the Bidi Rule (RFC 5893).
    Bidi,
    /// Not of the form `local@domain`.
    NotAnAddress,
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Why::Empty => f.write_str("must not be empty"),
            Why::TooLong { max, unit } => write!(f, "use at most {max} {unit}"),
            Why::Disallowed { code_point, position, kind } => write!(
                f,
                "the character U+{:04X} at position {position} is not allowed ({kind})",
                u32::from(*code_point)
            ),
            Why::Bidi => f.write_str(
                "mixes right-to-left and left-to-right text in a way that can display misleadingly \
                 (RFC 5893): start and end with a letter of the same direction",
            ),
            Why::NotAnAddress => f.write_str("not an email address (expected name@domain)"),
        }
    }
}

impl std::error::Error for Why {}

/// The canonical form of a username (RFC 8265 UsernameCaseMapped, see the module's
/// documentation), or why it is refused. Leading and trailing white space is ignored.
pub fn canonical_username(typed: &str) -> Result<String, Why> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Err(Why::Empty);
    }
    if typed.chars().count() > USERNAME_MAX_CHARS {
        return Err(Why::TooLong { max: USERNAME_MAX_CHARS, unit: "characters" });
    }
    let canonical: String = typed.chars().map(width_map).collect::<String>().to_lowercase().nfc().collect();
    let chars: Vec<char> = canonical.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if let Err(kind) = identifier_class(c).and_then(|()| contextual(&chars, i)) {
            return Err(typed_culprit(typed, &chars).unwrap_or(Why::Disallowed {
                code_point: c,
                position: i + 1,
                kind,
            }));
        }
    }
    if !bidi_rule(&chars) {
        return Err(Why::Bidi);
    }
    Ok(canonical)
}

/// The canonical form of an email address (trimmed, lower-cased, NFC), or why it is refused.
pub fn canonical_email(typed: &str) -> Result<String, Why> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Err(Why::Empty);
    }
    if typed.len() > EMAIL_MAX_BYTES {
        return Err(Why::TooLong { max: EMAIL_MAX_BYTES, unit: "bytes" });
    }
    for (i, c) in typed.chars().enumerate() {
        let kind = if c.is_whitespace() {
            "a space"
        } else if c.is_control() {
            "a control character"
        } else if default_ignorable(c) || noncharacter(c) {
            "an invisible character"
        } else {
            continue;
        };
        return Err(Why::Disallowed { code_point: c, position: i + 1, kind });
    }
    match typed.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {}
        _ => return Err(Why::NotAnAddress),
    }
    Ok(typed.to_lowercase().nfc().collect())
}

/// The refusal named in what was typed, when one character refused on its own explains it (a
/// refusal is decided on the whole mapped string; this only makes the message point at the
/// character and position the person typed rather than at its lower-case, composed form).
fn typed_culprit(typed: &str, canonical: &[char]) -> Option<Why> {
    typed.chars().enumerate().find_map(|(i, c)| {
        let mapped: String = width_map(c).to_lowercase().nfc().collect();
        // Only a character still there once composed: conjoining jamo refused alone compose
        // into a valid syllable.
        let kind = mapped.chars().filter(|m| canonical.contains(m)).find_map(|m| identifier_class(m).err())?;
        Some(Why::Disallowed { code_point: c, position: i + 1, kind })
    })
}

/// RFC 8265's width mapping: a full-width or half-width form becomes its decomposition (its
/// compatibility decomposition is exactly that one character for every `<wide>`/`<narrow>`
/// form, which live in U+3000 and U+FF01..U+FFEE).
fn width_map(c: char) -> char {
    if c == '\u{3000}' || ('\u{ff01}'..='\u{ffee}').contains(&c) {
        let mut d = std::iter::once(c).nfkd();
        if let (Some(single), None) = (d.next(), d.next()) {
            return single;
        }
    }
    c
}

/// Whether `c` is valid in the PRECIS IdentifierClass (RFC 8264 section 9), in the order of
/// its derivation; `Err` says what kind of character it is. CONTEXTO characters pass here and
/// are checked by [`contextual`].
fn identifier_class(c: char) -> Result<(), &'static str> {
    const NOT_LETTER: &str =
        "a space, symbol or punctuation outside ASCII, or another character that is not a letter or digit";
    let cp = u32::from(c);
    // Exceptions (RFC 5892 section 2.6).
    match cp {
        0x00DF | 0x03C2 | 0x06FD | 0x06FE | 0x0F0B | 0x3007 => return Ok(()),
        0x00B7 | 0x0375 | 0x05F3 | 0x05F4 | 0x30FB | 0x0660..=0x0669 | 0x06F0..=0x06F9 => return Ok(()),
        0x0640 | 0x07FA | 0x302E | 0x302F | 0x3031..=0x3035 | 0x303B => return Err(NOT_LETTER),
        _ => {}
    }
    if noncharacter(c) {
        return Err("a noncharacter");
    }
    let category = c.general_category();
    if category == GeneralCategory::Unassigned {
        return Err("unassigned in Unicode");
    }
    if (0x21..=0x7E).contains(&cp) {
        return Ok(());
    }
    if cp == 0x200C || cp == 0x200D {
        return Err("a zero-width joiner: invisible");
    }
    if old_hangul_jamo(cp) {
        return Err("an old Hangul jamo: write the syllable");
    }
    if default_ignorable(c) {
        return Err("invisible: a zero-width, formatting or variation character");
    }
    if category == GeneralCategory::Control {
        return Err("a control character");
    }
    if std::iter::once(c).nfkc().ne(std::iter::once(c)) {
        return Err("a compatibility character: write the plain letter");
    }
    match category {
        GeneralCategory::LowercaseLetter
        | GeneralCategory::UppercaseLetter
        | GeneralCategory::OtherLetter
        | GeneralCategory::DecimalNumber
        | GeneralCategory::ModifierLetter
        | GeneralCategory::NonspacingMark
        | GeneralCategory::SpacingMark => Ok(()),
        _ => Err(NOT_LETTER),
    }
}

/// The CONTEXTO rules of RFC 5892 appendix A for the characters [`identifier_class`] lets
/// through; the Script property is approximated by the script's blocks.
fn contextual(chars: &[char], i: usize) -> Result<(), &'static str> {
    let before = i.checked_sub(1).map(|j| chars[j]);
    let after = chars.get(i + 1).copied();
    let ok = match u32::from(chars[i]) {
        // MIDDLE DOT: between two `l` (Catalan).
        0x00B7 => before == Some('l') && after == Some('l'),
        // GREEK LOWER NUMERAL SIGN: followed by Greek.
        0x0375 => after.is_some_and(greek),
        // HEBREW GERESH and GERSHAYIM: preceded by Hebrew.
        0x05F3 | 0x05F4 => before.is_some_and(hebrew),
        // KATAKANA MIDDLE DOT: in a string with Hiragana, Katakana or Han.
        0x30FB => chars.iter().any(|&c| c != '\u{30fb}' && japanese(c)),
        // ARABIC-INDIC DIGITS: not mixed with the extended ones, and the reverse.
        0x0660..=0x0669 => !chars.iter().any(|&c| ('\u{06f0}'..='\u{06f9}').contains(&c)),
        0x06F0..=0x06F9 => !chars.iter().any(|&c| ('\u{0660}'..='\u{0669}').contains(&c)),
        _ => true,
    };
    if ok { Ok(()) } else { Err("allowed only in the context RFC 5892 gives it") }
}

fn greek(c: char) -> bool {
    matches!(u32::from(c), 0x0370..=0x03FF | 0x1F00..=0x1FFF) && c != '\u{0375}'
}

fn hebrew(c: char) -> bool {
    matches!(u32::from(c), 0x0591..=0x05F2 | 0xFB1D..=0xFB4F)
}

fn japanese(c: char) -> bool {
    matches!(u32::from(c), 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3FFFF)
}

/// The Bidi Rule (RFC 5893 section 2), applied as RFC 8265 says: to strings that hold a
/// right-to-left character.
fn bidi_rule(chars: &[char]) -> bool {
    use BidiClass::{AL, AN, BN, CS, EN, ES, ET, NSM, ON, R};
    let classes: Vec<BidiClass> = chars.iter().map(|&c| unicode_bidi::bidi_class(c)).collect();
    if !classes.iter().any(|c| matches!(c, R | AL | AN)) {
        return true;
    }
    let last = classes.iter().rev().find(|c| **c != NSM);
    match classes.first() {
        Some(R | AL) => {
            classes.iter().all(|c| matches!(c, R | AL | AN | EN | ES | CS | ET | ON | BN | NSM))
                && matches!(last, Some(R | AL | EN | AN))
                && !(classes.contains(&EN) && classes.contains(&AN))
        }
        // A string that starts left-to-right may not hold right-to-left characters.
        _ => false,
    }
}

/// Default_Ignorable_Code_Point (Unicode DerivedCoreProperties).
fn default_ignorable(c: char) -> bool {
    matches!(
        u32::from(c),
        0x00AD
            | 0x034F
            | 0x061C
            | 0x115F..=0x1160
            | 0x17B4..=0x17B5
            | 0x180B..=0x180F
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x206F
            | 0x3164
            | 0xFE00..=0xFE0F
            | 0xFEFF
            | 0xFFA0
            | 0xFFF0..=0xFFF8
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0000..=0xE0FFF
    )
}

/// Noncharacter_Code_Point: U+FDD0..U+FDEF and the last two code points of every plane.
fn noncharacter(c: char) -> bool {
    let cp = u32::from(c);
    (0xFDD0..=0xFDEF).contains(&cp) || cp & 0xFFFE == 0xFFFE
}

/// Hangul_Syllable_Type L, V or T: the conjoining jamo, refused as RFC 8264's OldHangulJamo.
fn old_hangul_jamo(cp: u32) -> bool {
    matches!(cp, 0x1100..=0x11FF | 0xA960..=0xA97C | 0xD7B0..=0xD7C6 | 0xD7CB..=0xD7FB)
}

#[cfg(test)]
mod tests;
