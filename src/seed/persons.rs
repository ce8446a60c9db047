//! Persons and their PPKS categories.

use super::*;

/// A PPKS category, the ages it applies to, and its weight among children (< 18), adults and the elderly
/// (60+); the weights make poverty, uninhabitable housing, neglected elderly and disability dominate.
pub(super) struct CategoryWeight {
    pub(super) category: PpksCategory,
    pub(super) min_age: u32,
    pub(super) max_age: u32,
    pub(super) female_only: bool,
    pub(super) weights: [u32; 3],
}

/// A category that applies to both sexes.
pub(super) const fn cw(category: PpksCategory, min_age: u32, max_age: u32, weights: [u32; 3]) -> CategoryWeight {
    CategoryWeight { category, min_age, max_age, female_only: false, weights }
}

/// Every category with its ages and weights.
pub(super) const CATEGORY_WEIGHTS: &[CategoryWeight] = &[
    cw(PpksCategory::NeglectedToddler, 0, 4, [40, 0, 0]),
    cw(PpksCategory::NeglectedChild, 5, 17, [35, 0, 0]),
    cw(PpksCategory::ChildInConflictWithLaw, 12, 17, [8, 0, 0]),
    cw(PpksCategory::StreetChild, 6, 17, [12, 0, 0]),
    cw(PpksCategory::ChildWithDisability, 0, 17, [20, 0, 0]),
    cw(PpksCategory::ChildVictimOfViolence, 0, 17, [12, 0, 0]),
    cw(PpksCategory::ChildNeedingSpecialProtection, 0, 17, [10, 0, 0]),
    cw(PpksCategory::NeglectedElderly, 60, 130, [0, 0, 400]),
    cw(PpksCategory::PersonWithDisability, 18, 130, [0, 110, 70]),
    cw(PpksCategory::SexWorker, 18, 59, [0, 4, 0]),
    cw(PpksCategory::Homeless, 18, 130, [0, 14, 6]),
    cw(PpksCategory::Beggar, 18, 130, [0, 14, 10]),
    cw(PpksCategory::Scavenger, 18, 130, [0, 22, 6]),
    cw(PpksCategory::MinorityGroup, 0, 130, [1, 2, 1]),
    cw(PpksCategory::FormerPrisoner, 18, 130, [0, 12, 1]),
    cw(PpksCategory::PersonLivingWithHiv, 18, 130, [0, 8, 1]),
    cw(PpksCategory::SubstanceAbuseVictim, 15, 130, [2, 12, 0]),
    cw(PpksCategory::TraffickingVictim, 12, 59, [2, 3, 0]),
    cw(PpksCategory::ViolenceVictim, 18, 130, [0, 25, 5]),
    cw(PpksCategory::TroubledMigrantWorker, 18, 59, [0, 6, 0]),
    cw(PpksCategory::NaturalDisasterVictim, 0, 130, [6, 20, 12]),
    cw(PpksCategory::SocialDisasterVictim, 0, 130, [6, 25, 12]),
    CategoryWeight {
        category: PpksCategory::EconomicallyVulnerableWoman,
        min_age: 18,
        max_age: 59,
        female_only: true,
        weights: [0, 70, 0],
    },
    cw(PpksCategory::Poor, 0, 130, [25, 300, 150]),
    cw(PpksCategory::PsychosocialFamilyProblem, 0, 130, [5, 35, 5]),
    cw(PpksCategory::RemoteIndigenousCommunity, 0, 130, [0, 1, 0]),
    cw(PpksCategory::UninhabitableHouse, 0, 130, [10, 220, 130]),
];

/// A category that fits a person of `age` and `sex` and is not in `taken`, by weight.
pub(super) fn pick_category(rng: &mut Rng, age: u32, sex: Sex, taken: &[PpksCategory]) -> Option<PpksCategory> {
    let band = if age < 18 {
        0
    } else if age < 60 {
        1
    } else {
        2
    };
    let weight = |c: &CategoryWeight| {
        if age >= c.min_age
            && age <= c.max_age
            && (!c.female_only || sex == Sex::Female)
            && !taken.contains(&c.category)
        {
            c.weights[band]
        } else {
            0
        }
    };
    let total: u32 = CATEGORY_WEIGHTS.iter().map(weight).sum();
    if total == 0 {
        return None;
    }
    let mut roll = rng.u32(..total);
    for c in CATEGORY_WEIGHTS {
        let w = weight(c);
        if roll < w {
            return Some(c.category);
        }
        roll -= w;
    }
    None
}

/// One to three categories for a person of `age` and `sex`; the first is the primary one.
pub(super) fn categories(rng: &mut Rng, age: u32, sex: Sex) -> Result<Vec<PpksCategory>, DbErr> {
    let mut chosen = Vec::with_capacity(3);
    let first = pick_category(rng, age, sex, &chosen)
        .ok_or_else(|| DbErr::Custom(format!("seed: no category fits age {age}")))?;
    chosen.push(first);
    if rng.u8(..100) < 40
        && let Some(second) = pick_category(rng, age, sex, &chosen)
    {
        chosen.push(second);
        if rng.u8(..100) < 30
            && let Some(third) = pick_category(rng, age, sex, &chosen)
        {
            chosen.push(third);
        }
    }
    Ok(chosen)
}

/// How a disability is described on the person's record, when the case is about one.
pub(super) fn disability(rng: &mut Rng, categories: &[PpksCategory], age: u32) -> Option<&'static str> {
    const KINDS: &[&str] = &[
        "Disabilitas fisik",
        "Disabilitas fisik (pengguna kursi roda)",
        "Disabilitas sensorik netra",
        "Disabilitas sensorik rungu wicara",
        "Disabilitas intelektual",
        "Disabilitas mental (psikososial)",
        "Disabilitas ganda",
    ];
    let disabled =
        categories.iter().any(|c| matches!(c, PpksCategory::PersonWithDisability | PpksCategory::ChildWithDisability));
    if disabled {
        Some(pick(rng, KINDS))
    } else if age >= 70 && rng.u8(..100) < 8 {
        Some("Disabilitas fisik (sulit berjalan)")
    } else {
        None
    }
}

/// The Indonesian name of a category, as a case summary would say it.
pub(super) fn category_label(category: PpksCategory) -> &'static str {
    match category {
        PpksCategory::NeglectedToddler => "Anak balita terlantar",
        PpksCategory::NeglectedChild => "Anak terlantar",
        PpksCategory::ChildInConflictWithLaw => "Anak berhadapan dengan hukum",
        PpksCategory::StreetChild => "Anak jalanan",
        PpksCategory::ChildWithDisability => "Anak dengan disabilitas",
        PpksCategory::ChildVictimOfViolence => "Anak korban tindak kekerasan",
        PpksCategory::ChildNeedingSpecialProtection => "Anak yang memerlukan perlindungan khusus",
        PpksCategory::NeglectedElderly => "Lanjut usia terlantar",
        PpksCategory::PersonWithDisability => "Penyandang disabilitas",
        PpksCategory::SexWorker => "Tuna susila",
        PpksCategory::Homeless => "Gelandangan",
        PpksCategory::Beggar => "Pengemis",
        PpksCategory::Scavenger => "Pemulung",
        PpksCategory::MinorityGroup => "Kelompok minoritas",
        PpksCategory::FormerPrisoner => "Bekas warga binaan lembaga pemasyarakatan",
        PpksCategory::PersonLivingWithHiv => "Orang dengan HIV/AIDS",
        PpksCategory::SubstanceAbuseVictim => "Korban penyalahgunaan NAPZA",
        PpksCategory::TraffickingVictim => "Korban perdagangan orang",
        PpksCategory::ViolenceVictim => "Korban tindak kekerasan",
        PpksCategory::TroubledMigrantWorker => "Pekerja migran bermasalah sosial",
        PpksCategory::NaturalDisasterVictim => "Korban bencana alam",
        PpksCategory::SocialDisasterVictim => "Korban bencana sosial",
        PpksCategory::EconomicallyVulnerableWoman => "Perempuan rawan sosial ekonomi",
        PpksCategory::Poor => "Fakir miskin",
        PpksCategory::PsychosocialFamilyProblem => "Keluarga bermasalah sosial psikologis",
        PpksCategory::RemoteIndigenousCommunity => "Komunitas adat terpencil",
        PpksCategory::UninhabitableHouse => "Rumah tidak layak huni",
    }
}

/// What the reporter wrote about the case.
pub(super) fn summary(rng: &mut Rng, primary: PpksCategory, age: u32, kelurahan: &str) -> String {
    let household = 2 + rng.u32(..6);
    let variant = rng.u8(..3);
    match (primary, variant) {
        (PpksCategory::Poor, 0) => {
            format!(
                "Keluarga {household} jiwa tanpa penghasilan tetap; kepala keluarga bekerja serabutan sebagai buruh harian."
            )
        }
        (PpksCategory::Poor, 1) => format!(
            "Pedagang kecil di pasar, penghasilan tidak menentu, menanggung {household} jiwa; belum menerima bantuan sosial."
        ),
        (PpksCategory::Poor, _) => {
            "Kepala keluarga sakit dan tidak bekerja, kebutuhan pangan sehari-hari dibantu tetangga.".into()
        }
        (PpksCategory::UninhabitableHouse, 0) => format!(
            "Rumah panggung kayu di bantaran sungai, atap bocor dan lantai ulin lapuk; dihuni {household} jiwa."
        ),
        (PpksCategory::UninhabitableHouse, 1) => {
            "Dinding papan bekas dan atap rumbia rusak, tidak ada jamban sehat; rumah miring ke arah sungai.".into()
        }
        (PpksCategory::UninhabitableHouse, _) => {
            format!("Rumah sewa sempit {household} jiwa, tiang rumah keropos dan sering terendam air pasang.")
        }
        (PpksCategory::NeglectedElderly, 0) => {
            format!("Lansia {age} tahun tinggal sendiri, tidak ada keluarga yang merawat.")
        }
        (PpksCategory::NeglectedElderly, 1) => {
            format!("Lansia {age} tahun sakit menahun, makan sehari-hari bergantung pada tetangga.")
        }
        (PpksCategory::NeglectedElderly, _) => {
            format!("Lansia {age} tahun ditinggal anak merantau, tidak mampu lagi bekerja.")
        }
        (PpksCategory::PersonWithDisability, 0) => {
            "Penyandang disabilitas fisik membutuhkan kursi roda dan pendampingan keluarga.".into()
        }
        (PpksCategory::PersonWithDisability, _) => {
            format!("Penyandang disabilitas usia {age} tahun, belum memiliki kartu disabilitas dan tidak bekerja.")
        }
        (PpksCategory::EconomicallyVulnerableWoman, _) => {
            format!("Ibu tunggal menanggung {household} anak usia sekolah, berjualan kue keliling.")
        }
        (PpksCategory::SocialDisasterVictim, _) => {
            "Rumah habis terbakar dalam kebakaran permukiman, keluarga mengungsi di rumah kerabat.".into()
        }
        (PpksCategory::NaturalDisasterVictim, _) => {
            "Rumah terendam banjir rob berhari-hari, perabot dan dokumen kependudukan rusak.".into()
        }
        _ => format!(
            "{} usia {age} tahun di Kelurahan {kelurahan}, membutuhkan asesmen dan pendampingan.",
            category_label(primary)
        ),
    }
}

/// A Banjarmasin address in `kelurahan`.
pub(super) fn address(rng: &mut Rng, kelurahan: &str) -> String {
    const GANG: &[&str] = &[
        "Hidayah",
        "Berkat",
        "Amal",
        "Mufakat",
        "Rukun",
        "Sepakat",
        "Keluarga",
        "Damai",
        "Kenanga",
        "Melati",
        "Mawar",
        "Sejahtera",
        "Al-Falah",
        "Nurul Iman",
        "Rahmat",
        "Subur",
        "Karya Bersama",
        "Pinang",
        "Rambai",
        "Kuini",
    ];
    let rt = 1 + rng.u32(..40);
    let number = 1 + rng.u32(..120);
    if rng.u8(..100) < 75 {
        format!("Jl. {kelurahan} Gg. {} RT {rt:03} No. {number}", pick(rng, GANG))
    } else {
        format!("Komp. {} Blok {} No. {number} RT {rt:03}, Kel. {kelurahan}", pick(rng, GANG), rng.uppercase())
    }
}

/// A 16-digit NIK: 63 71 (Kota Banjarmasin), the kecamatan, the birth date (day + 40 for women) and a
/// serial number, unique among the NIKs drawn so far (`used`): the database allows one registered person
/// per NIK. A drawn serial already taken moves on to the next free one, drawing nothing more, so the
/// random stream (and every other record of the demo data) stays as it was.
pub fn nik(rng: &mut Rng, used: &mut HashSet<u64>, district: &str, birth: NaiveDate, sex: Sex) -> String {
    let day = birth.day() + if sex == Sex::Female { 40 } else { 0 };
    let drawn = rng.u32(..9_999);
    let prefix = format!("6371{district}{day:02}{:02}{:02}", birth.month(), birth.year().rem_euclid(100));
    let number = |serial: u32| format!("{prefix}{serial:04}");
    for step in 0..9_999 {
        let candidate = number(1 + (drawn + step) % 9_999);
        if candidate.parse().is_ok_and(|value| used.insert(value)) {
            return candidate;
        }
    }
    number(1 + drawn)
}
