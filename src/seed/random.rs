//! Time, ids and random helpers, and the names common in Banjarmasin.

use super::*;

/// The UTC instant `s` seconds after the Unix epoch.
pub(super) fn instant(s: i64) -> Result<DateTime<Utc>, DbErr> {
    DateTime::from_timestamp(s, 0).ok_or_else(|| DbErr::Custom(format!("seed instant out of range: {s}")))
}

/// An instant column value.
pub(super) fn at(s: i64) -> Result<Value, DbErr> {
    Ok(instant(s)?.into())
}

/// A nullable instant column value.
pub(super) fn at_opt(s: Option<i64>) -> Result<Value, DbErr> {
    Ok(s.map(instant).transpose()?.into())
}

/// The WITA calendar day (days since 1970-01-01) of an instant.
pub(super) fn local_day(s: i64) -> i64 {
    (s + WITA).div_euclid(DAY)
}

/// The instant 00:00 WITA starts the local day `day`.
pub(super) fn day_start(day: i64) -> i64 {
    day * DAY - WITA
}

/// The date of local day `day`.
pub(super) fn date(day: i64) -> Result<NaiveDate, DbErr> {
    i32::try_from(day)
        .ok()
        .and_then(NaiveDate::from_epoch_days)
        .ok_or_else(|| DbErr::Custom(format!("seed day out of range: {day}")))
}

/// The local day number of a date.
pub(super) fn day_of(date: NaiveDate) -> i64 {
    i64::from(date.to_epoch_days())
}

/// The local day number of a calendar date.
pub(super) fn ymd(year: i32, month: u32, day: u32) -> Result<i64, DbErr> {
    NaiveDate::from_ymd_opt(year, month, day)
        .map(day_of)
        .ok_or_else(|| DbErr::Custom(format!("seed date out of range: {year}-{month}-{day}")))
}

/// Monday = 0 ... Sunday = 6 of a local day (1970-01-01 was a Thursday).
pub(super) fn weekday(day: i64) -> i64 {
    (day + 3).rem_euclid(7)
}

/// Whole years between `birth` and `on`.
pub(super) fn age_on(birth: NaiveDate, on: NaiveDate) -> u32 {
    on.years_since(birth).unwrap_or(0)
}

/// A UUID v7 for a row created at instant `s`, its random bits from the seeded stream.
/// Seeds the stream of record keys apart from the main one (the bytes of "keys").
pub(super) const RECORD_KEY_STREAM: u64 = 0x6b65_7973;

/// A record key (see `service::perturbation`): uniform in `[0, 2^31)`, from the keys' own stream.
pub(super) fn record_key(keys: &mut Rng) -> Value {
    ((keys.u32(..) & 0x7fff_ffff) as i32).into()
}

pub(super) fn new_id(rng: &mut Rng, s: i64) -> Uuid {
    let mut bytes = [0u8; 10];
    rng.fill(&mut bytes);
    uuid::Builder::from_unix_timestamp_millis(s.max(0).unsigned_abs() * 1_000, &bytes).into_uuid()
}

/// One element of a constant, non-empty table.
pub(super) fn pick<T: Copy>(rng: &mut Rng, items: &[T]) -> T {
    items[rng.usize(..items.len())]
}

/// One element of a constant table of (item, weight) with a positive total weight.
pub(super) fn weighted<T: Copy>(rng: &mut Rng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, weight)| weight).sum();
    let mut roll = rng.u32(..total.max(1));
    for &(item, weight) in items {
        if roll < weight {
            return item;
        }
        roll -= weight;
    }
    items[items.len() - 1].0
}

/// A uniform duration (or offset) in `[low, high]` seconds.
pub(super) fn between(rng: &mut Rng, low: i64, high: i64) -> i64 {
    if high <= low { low } else { rng.i64(low..=high) }
}

/// A duration in `[low, high]` seconds skewed towards `low` (the larger `power`, the stronger).
pub(super) fn skewed(rng: &mut Rng, low: i64, high: i64, power: f64) -> i64 {
    low + ((high - low) as f64 * rng.f64().powf(power)) as i64
}

/// An Indonesian mobile number.
pub(super) fn phone(rng: &mut Rng) -> String {
    const PREFIXES: &[&str] = &["0811", "0812", "0813", "0821", "0822", "0852", "0853", "0857", "0878", "0896"];
    let prefix = pick(rng, PREFIXES);
    let digits = if rng.bool() { 8 } else { 7 };
    let mut number = String::with_capacity(12);
    number.push_str(prefix);
    for _ in 0..digits {
        number.push(rng.digit(10));
    }
    number
}

// Given names and family names common in Banjarmasin, by sex.

pub(super) const MALE_FIRST: &[&str] = &[
    "Muhammad",
    "Ahmad",
    "Akhmad",
    "Abdul",
    "Rahmat",
    "Fauzi",
    "Syahrani",
    "Gusti",
    "Anang",
    "Jailani",
    "Hamdan",
    "Arsyad",
    "Husin",
    "Mahmud",
    "Rusdi",
    "Taufik",
    "Zainal",
    "Irwan",
    "Haris",
    "Rizki",
    "Fahmi",
    "Hairil",
    "Hasan",
    "Iberahim",
    "Yusran",
    "Norhalis",
    "Bahrani",
    "Saipul",
    "Rudiansyah",
    "Hendra",
    "Mursyid",
    "Syamsul",
    "Khairul",
    "Aspihani",
    "Murjani",
    "Sarkani",
    "Wahyudi",
    "Junaidi",
    "Hasbi",
    "Nordin",
    "Masransyah",
    "Jumberi",
];
pub(super) const MALE_LAST: &[&str] = &[
    "Noor",
    "Rahman",
    "Hidayat",
    "Saputra",
    "Hasan",
    "Anshari",
    "Arsyad",
    "Fadillah",
    "Ramadhan",
    "Effendi",
    "Rusdiansyah",
    "Hidayatullah",
    "Maulana",
    "Rahmadi",
    "Kurniawan",
    "Ridwan",
    "Fauzan",
    "Iskandar",
    "Syahputra",
    "Hakim",
    "Rasyid",
    "Yamani",
    "Baseri",
    "Jamhuri",
    "Rifani",
    "Norsyahid",
    "Kifli",
    "Firdaus",
];
pub(super) const FEMALE_FIRST: &[&str] = &[
    "Siti",
    "Nor",
    "Aluh",
    "Galuh",
    "Rahmah",
    "Fatimah",
    "Masitah",
    "Hayati",
    "Mariani",
    "Salasiah",
    "Rusmini",
    "Norhayati",
    "Nurul",
    "Rabiatul",
    "Hamidah",
    "Jamilah",
    "Saudah",
    "Aisyah",
    "Halimah",
    "Aminah",
    "Khairunnisa",
    "Noorliani",
    "Sri",
    "Dewi",
    "Fitriani",
    "Raudah",
    "Zubaidah",
    "Syarifah",
    "Mahmudah",
    "Yuliani",
    "Norlatifah",
    "Rusdiana",
    "Naimah",
    "Mardiana",
    "Herlina",
    "Masliani",
];
pub(super) const FEMALE_LAST: &[&str] = &[
    "Noor",
    "Rahmah",
    "Hayati",
    "Wahyuni",
    "Sari",
    "Lestari",
    "Aulia",
    "Fitria",
    "Maulida",
    "Rahmawati",
    "Aini",
    "Hasanah",
    "Mardiyah",
    "Jannah",
    "Fadhilah",
    "Zahra",
    "Annisa",
    "Ramadhani",
    "Safitri",
    "Yanti",
    "Rusida",
    "Norjanah",
];

/// A Banjar name for a person of sex `sex`.
pub(super) fn full_name(rng: &mut Rng, sex: Sex) -> String {
    let (first, last) = match sex {
        Sex::Male => (MALE_FIRST, MALE_LAST),
        Sex::Female => (FEMALE_FIRST, FEMALE_LAST),
    };
    let a = pick(rng, first);
    let mut b = pick(rng, last);
    if a == b {
        b = pick(rng, last);
    }
    match rng.u8(..100) {
        0..=7 => a.to_owned(),
        8..=84 => format!("{a} {b}"),
        _ => {
            let mut c = pick(rng, last);
            if c == b || c == a {
                c = pick(rng, first);
            }
            format!("{a} {c} {b}")
        }
    }
}
