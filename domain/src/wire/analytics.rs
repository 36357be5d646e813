//! What the Analytics page shows, one type per view. Each view can also say itself as
//! a [`Table`]: the page prints it under its chart (for screen readers and exact
//! numbers) and the CSV export writes the same rows.

use serde::{Deserialize, Serialize};

/// Rows and columns, as a CSV file or an HTML table shows them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    fn new(columns: &[&str]) -> Table {
        Table {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: Vec::new(),
        }
    }
}

/// The analytics views, by the name the URL and the CSV file use.
pub const VIEWS: [&str; 8] = [
    "volume",
    "backlog",
    "time-to-label",
    "staff",
    "agreement",
    "confusion",
    "calibration",
    "suggestions",
];

/// The period a report covers: `[from, to)` in Unix milliseconds, counted in buckets
/// of `bucket_ms` (a day, or a week for long ranges) starting at `from`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    pub from: i64,
    pub to: i64,
    pub bucket_ms: i64,
}

impl Period {
    pub const DAY_MS: i64 = 86_400_000;

    /// How many buckets the period holds.
    pub fn buckets(&self) -> usize {
        ((self.to - self.from + self.bucket_ms - 1) / self.bucket_ms).max(0) as usize
    }

    /// The start of bucket `i`, in Unix milliseconds.
    pub fn bucket_start(&self, i: usize) -> i64 {
        self.from + i as i64 * self.bucket_ms
    }

    /// The UTC date a bucket starts on, `YYYY-MM-DD`.
    pub fn bucket_date(&self, i: usize) -> String {
        date(self.bucket_start(i))
    }
}

/// `YYYY-MM-DD` (UTC) of a Unix-millisecond time.
pub fn date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn fixed(v: Option<f64>, digits: usize) -> String {
    v.map(|v| format!("{v:.digits$}")).unwrap_or_default()
}

/// Emails received per bucket and category (the label's, else the prediction's;
/// `unscored` when neither).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Volume {
    pub period: Period,
    /// Categories in the order of the series, with their colours.
    pub categories: Vec<(String, String)>,
    /// `counts[category][bucket]`.
    pub counts: Vec<Vec<i64>>,
}

impl Volume {
    pub fn total(&self) -> i64 {
        self.counts.iter().flatten().sum()
    }

    pub fn table(&self) -> Table {
        let mut t = Table::new(&["date", "category", "emails"]);
        for b in 0..self.period.buckets() {
            for (c, (name, _)) in self.categories.iter().enumerate() {
                let n = self.counts[c][b];
                if n > 0 {
                    t.rows.push(vec![
                        self.period.bucket_date(b),
                        name.clone(),
                        n.to_string(),
                    ]);
                }
            }
        }
        t
    }
}

/// What waits for a first decision now (status `new`), however old.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Backlog {
    pub untriaged: i64,
    /// When the oldest untriaged email arrived.
    pub oldest_received_at: Option<i64>,
    /// How long it has waited, when the report was made.
    pub oldest_age_ms: Option<i64>,
    /// Untriaged emails by age: under an hour, under a day, under a week, older.
    pub by_age: [i64; 4],
    /// Untriaged emails by category (label, else prediction), largest first.
    pub by_category: Vec<(String, i64)>,
}

impl Backlog {
    pub const AGE_BANDS: [&'static str; 4] = [
        "under 1 hour",
        "1 to 24 hours",
        "1 to 7 days",
        "over 7 days",
    ];

    pub fn table(&self) -> Table {
        let mut t = Table::new(&["group", "value", "emails"]);
        t.rows.push(vec![
            "total".into(),
            "untriaged".into(),
            self.untriaged.to_string(),
        ]);
        for (band, n) in Self::AGE_BANDS.iter().zip(self.by_age) {
            t.rows
                .push(vec!["age".into(), band.to_string(), n.to_string()]);
        }
        for (category, n) in &self.by_category {
            t.rows
                .push(vec!["category".into(), category.clone(), n.to_string()]);
        }
        t
    }
}

/// From arrival to the first staff label, for the emails received in the period that
/// have one. Percentiles are nearest-rank.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimeToLabel {
    pub labelled: i64,
    pub median_ms: Option<i64>,
    pub p90_ms: Option<i64>,
    /// Median per bucket of arrival (`None` where nothing was labelled).
    pub median_by_bucket: Vec<Option<i64>>,
    pub period: Period,
}

impl TimeToLabel {
    pub fn table(&self) -> Table {
        let mut t = Table::new(&["date", "median_minutes"]);
        let minutes = |ms: Option<i64>| fixed(ms.map(|ms| ms as f64 / 60_000.0), 1);
        t.rows.push(vec!["all".into(), minutes(self.median_ms)]);
        for (b, m) in self.median_by_bucket.iter().enumerate() {
            if m.is_some() {
                t.rows.push(vec![self.period.bucket_date(b), minutes(*m)]);
            }
        }
        t
    }
}

/// One person's labels in the period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StaffRow {
    pub user: String,
    pub labels: i64,
    pub corrections: i64,
    /// Median seconds spent on an email before deciding.
    pub median_seconds: Option<f64>,
}

impl StaffRow {
    pub fn correction_rate(&self) -> Option<f64> {
        ratio(self.corrections, self.labels)
    }
}

/// Staff throughput: labels per person, and labels per bucket for the whole team.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Staff {
    pub period: Period,
    pub people: Vec<StaffRow>,
    pub labels_by_bucket: Vec<i64>,
}

impl Staff {
    pub fn table(&self) -> Table {
        let mut t = Table::new(&[
            "user",
            "labels",
            "corrections",
            "correction_rate",
            "median_seconds",
        ]);
        for p in &self.people {
            t.rows.push(vec![
                p.user.clone(),
                p.labels.to_string(),
                p.corrections.to_string(),
                fixed(p.correction_rate(), 4),
                fixed(p.median_seconds, 1),
            ]);
        }
        t
    }
}

/// How often staff labels agreed with the prediction they answered.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Agreed {
    pub labels: i64,
    pub agreed: i64,
}

impl Agreed {
    pub fn rate(&self) -> Option<f64> {
        ratio(self.agreed, self.labels)
    }

    pub fn add(&mut self, agreed: bool) {
        self.labels += 1;
        self.agreed += i64::from(agreed);
    }
}

/// The model as staff labels judge it: agreement over time, by model version and by
/// category (the staff label's), and the confusion matrix.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    pub period: Period,
    pub overall: Agreed,
    pub by_bucket: Vec<Agreed>,
    pub by_model: Vec<(String, Agreed)>,
    pub by_category: Vec<(String, Agreed)>,
    /// Category names of the matrix, in order.
    pub classes: Vec<String>,
    /// `confusion[staff label][prediction]`.
    pub confusion: Vec<Vec<i64>>,
}

impl Agreement {
    pub fn table(&self) -> Table {
        let mut t = Table::new(&["group", "key", "labels", "agreed", "rate"]);
        let mut push = |group: &str, key: String, a: &Agreed| {
            t.rows.push(vec![
                group.into(),
                key,
                a.labels.to_string(),
                a.agreed.to_string(),
                fixed(a.rate(), 4),
            ])
        };
        push("overall", "all".into(), &self.overall);
        for (b, a) in self.by_bucket.iter().enumerate() {
            if a.labels > 0 {
                push("date", self.period.bucket_date(b), a);
            }
        }
        for (model, a) in &self.by_model {
            push("model", model.clone(), a);
        }
        for (category, a) in &self.by_category {
            push("category", category.clone(), a);
        }
        t
    }

    /// The confusion matrix, one row per non-empty cell.
    pub fn confusion_table(&self) -> Table {
        let mut t = Table::new(&["staff_label", "predicted", "labels"]);
        for (i, label) in self.classes.iter().enumerate() {
            for (j, predicted) in self.classes.iter().enumerate() {
                let n = self.confusion[i][j];
                if n > 0 {
                    t.rows
                        .push(vec![label.clone(), predicted.clone(), n.to_string()]);
                }
            }
        }
        t
    }
}

/// One confidence band of the reliability chart.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    /// The band is `[lower, lower + 0.1)` (the last one includes 1.0).
    pub lower: f64,
    pub count: i64,
    pub mean_confidence: Option<f64>,
    /// How often staff agreed with predictions in this band.
    pub accuracy: Option<f64>,
}

/// Confidence against correctness on staff labels: a calibrated model's 80 %
/// predictions are right 80 % of the time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub bins: Vec<CalibrationBin>,
    /// Expected calibration error: the count-weighted mean gap between confidence and
    /// accuracy over the bins.
    pub ece: Option<f64>,
}

impl Calibration {
    pub fn table(&self) -> Table {
        let mut t = Table::new(&[
            "confidence_from",
            "confidence_to",
            "labels",
            "mean_confidence",
            "accuracy",
        ]);
        for b in &self.bins {
            t.rows.push(vec![
                format!("{:.1}", b.lower),
                format!("{:.1}", b.lower + 0.1),
                b.count.to_string(),
                fixed(b.mean_confidence, 4),
                fixed(b.accuracy, 4),
            ]);
        }
        t
    }
}

/// Replies marked sent in the period: which suggestion they came from and how much
/// agents changed it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Suggestions {
    pub replies: i64,
    /// template, similar, generated, none — with how many replies, the median edit
    /// distance, and how many were sent unchanged.
    pub by_kind: Vec<SuggestionKindUse>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SuggestionKindUse {
    pub kind: super::SuggestionKind,
    pub replies: i64,
    pub median_edit_distance: Option<i64>,
    pub unedited: i64,
}

impl Suggestions {
    /// Replies that started from a suggestion, of all replies.
    pub fn use_rate(&self) -> Option<f64> {
        let used: i64 = self
            .by_kind
            .iter()
            .filter(|k| k.kind != super::SuggestionKind::Unassisted)
            .map(|k| k.replies)
            .sum();
        ratio(used, self.replies)
    }

    pub fn table(&self) -> Table {
        let mut t = Table::new(&["suggestion", "replies", "median_edit_distance", "unedited"]);
        for k in &self.by_kind {
            t.rows.push(vec![
                k.kind.to_string(),
                k.replies.to_string(),
                k.median_edit_distance
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
                k.unedited.to_string(),
            ]);
        }
        t
    }
}

/// The rolling agreement of the active model with staff labels, against the level a
/// supervisor set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    pub model: Option<String>,
    /// Alert below this agreement rate.
    pub threshold: f64,
    /// Over the most recent this-many staff labels that answered the active model.
    pub window: i64,
    pub overall: Agreed,
    /// Categories (the staff label's) whose own rate is below the threshold, with
    /// enough labels to judge.
    pub low_categories: Vec<(String, Agreed)>,
    pub alert: bool,
}

/// The whole Analytics page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnalyticsReport {
    pub period: Period,
    pub volume: Volume,
    pub backlog: Backlog,
    pub time_to_label: TimeToLabel,
    pub staff: Staff,
    pub agreement: Agreement,
    pub calibration: Calibration,
    pub suggestions: Suggestions,
    pub drift: Drift,
}

/// What an auto-accept threshold would do for one category.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThresholdOption {
    pub threshold: f64,
    /// Of the active model's predictions of this category at or above the threshold
    /// that staff judged, the share they agreed with.
    pub precision: Option<f64>,
    pub judged: i64,
    /// Current predictions of this category at or above the threshold.
    pub covered: i64,
}

/// A category's auto-accept setting, with what each threshold would give.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AutoAcceptCategory {
    pub category: String,
    pub color: String,
    /// The threshold in force; `None`: never auto-accepted.
    pub threshold: Option<f64>,
    /// Emails whose current prediction is this category.
    pub predicted: i64,
    pub options: Vec<ThresholdOption>,
}
