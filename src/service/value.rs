//! Validated input values shared by every command: text with a length limit and without control
//! characters, days and instants in a sane range, NIKs and phone numbers. Each check names the input
//! field it refuses (`BAD_USER_INPUT`), so that no malformed value reaches the database (PostgreSQL
//! refuses NUL in text, which would otherwise surface as an internal error). No database access here.

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use crate::error::{AppError, AppResult};

/// Longest name (of a person, volunteer, programme, award, course) accepted.
pub const MAX_NAME: usize = 200;
/// Longest address or disability description accepted.
pub const MAX_ADDRESS: usize = 500;
/// Longest note or reason accepted.
pub const MAX_NOTE: usize = 2000;
/// Longest summary or description accepted.
pub const MAX_SUMMARY: usize = 4000;
/// Longest code (programme code, kelurahan code, organisation code, key prefix) accepted.
pub const MAX_CODE: usize = 50;
/// Longest API key name accepted.
pub const MAX_KEY_NAME: usize = 100;
/// The years a date may lie in.
pub const YEARS: std::ops::RangeInclusive<i32> = 1900..=2100;

/// Whether text may span lines (notes, summaries) or not (names, codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    One,
    Many,
}

/// Refuses control characters: NUL and the like everywhere; newline, carriage return and tab only in
/// multi-line text.
fn check_characters(text: &str, field: &str, lines: Lines) -> AppResult<()> {
    let allowed = |c: char| lines == Lines::Many && matches!(c, '\n' | '\r' | '\t');
    match text.chars().find(|c| c.is_control() && !allowed(*c)) {
        None => Ok(()),
        Some('\0') => Err(AppError::bad_input(field, "must not contain NUL characters")),
        Some(_) if lines == Lines::One => {
            Err(AppError::bad_input(field, "must be one line without control characters"))
        }
        Some(_) => Err(AppError::bad_input(field, "must not contain control characters other than newlines and tabs")),
    }
}

/// Required text: trimmed, not empty, at most `max` characters, no control characters.
pub fn text(value: &str, field: &str, max: usize, lines: Lines) -> AppResult<String> {
    check_characters(value, field, lines)?;
    let value = value.trim();
    if value.is_empty() {
        return Err(AppError::bad_input(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(AppError::bad_input(field, format!("at most {max} characters")));
    }
    Ok(value.to_owned())
}

/// Optional text: as [`text`], with an absent or blank value as `None`.
pub fn optional_text(value: Option<&str>, field: &str, max: usize, lines: Lines) -> AppResult<Option<String>> {
    match value {
        Some(value) if !value.trim().is_empty() => text(value, field, max, lines).map(Some),
        Some(value) => check_characters(value, field, lines).map(|()| None),
        None => Ok(None),
    }
}

/// A code (kelurahan, organisation, programme): one line, at most [`MAX_CODE`] characters.
pub fn code(value: &str, field: &str) -> AppResult<String> {
    text(value, field, MAX_CODE, Lines::One)
}

/// A day within [`YEARS`].
pub fn day(value: NaiveDate, field: &str) -> AppResult<NaiveDate> {
    if YEARS.contains(&value.year()) {
        Ok(value)
    } else {
        Err(AppError::bad_input(field, format!("a date from {} to {}", YEARS.start(), YEARS.end())))
    }
}

/// A day within [`YEARS`] that is not after `today`.
pub fn past_day(value: NaiveDate, today: NaiveDate, field: &str) -> AppResult<NaiveDate> {
    let value = day(value, field)?;
    if value > today { Err(AppError::bad_input(field, "must not be in the future")) } else { Ok(value) }
}

/// An instant within [`YEARS`].
pub fn instant(value: DateTime<Utc>, field: &str) -> AppResult<DateTime<Utc>> {
    day(value.date_naive(), field).map(|_| value)
}

/// An instant within [`YEARS`] that is not after `now`.
pub fn past_instant(value: DateTime<Utc>, now: DateTime<Utc>, field: &str) -> AppResult<DateTime<Utc>> {
    let value = instant(value, field)?;
    if value > now { Err(AppError::bad_input(field, "must not be in the future")) } else { Ok(value) }
}

/// A year of birth from 1900 to this year.
pub fn birth_year(year: i32, today: NaiveDate, field: &str) -> AppResult<i32> {
    if (*YEARS.start()..=today.year()).contains(&year) {
        Ok(year)
    } else {
        Err(AppError::bad_input(field, format!("a year from {} to {}", YEARS.start(), today.year())))
    }
}

/// A 16-digit NIK (national id), or `None` for an absent or blank one.
pub fn nik(value: Option<&str>, field: &str) -> AppResult<Option<String>> {
    match value.map(str::trim).filter(|n| !n.is_empty()) {
        Some(nik) if nik.len() == 16 && nik.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(nik.to_owned())),
        Some(_) => Err(AppError::bad_input(field, "a NIK is exactly 16 digits")),
        None => Ok(None),
    }
}

/// A phone number of at most 20 digits, spaces, `+` and `-`, or `None` for an absent or blank one.
pub fn phone(value: Option<&str>, field: &str) -> AppResult<Option<String>> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else { return Ok(None) };
    if value.len() > 20 || !value.bytes().all(|b| b.is_ascii_digit() || b == b'+' || b == b' ' || b == b'-') {
        return Err(AppError::bad_input(field, "a phone number has at most 20 digits, spaces, `+` and `-`"));
    }
    Ok(Some(value.to_owned()))
}
