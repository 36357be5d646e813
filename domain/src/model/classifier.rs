//! A linear classifier over hashed sparse features: one-vs-rest linear SVMs (L2
//! regularisation, squared hinge loss), trained by dual coordinate descent, the
//! algorithm of LIBLINEAR and so of scikit-learn's LinearSVC; classes train in
//! parallel, each from a fixed seed (the same labels give the same model).
//! Probabilities are a softmax over the SVMs' decision values with a temperature
//! fitted on out-of-fold decisions. Features are weighted by inverse document
//! frequency learnt from the training emails, so words every email has count for
//! little (TF-IDF, as in the usual baselines).
//!
//! Each class's SVM sees the features scaled by their naive Bayes log-count ratio for
//! that class (NBSVM, Wang & Manning 2012): a word seen mostly in one category starts
//! out loud for it, which is what a small category with few labels needs most. The
//! ratio folds into the stored weights, so scoring costs the same. Measured in
//! bench/scoring.py over 15 splits and 3 labellings: mean macro-F1 0.786 against
//! 0.754 for the plain SVM on the same features, with smoothing 3 and C 3 in the
//! middle of a plateau (smoothing 2 to 4 and C 2 to 4 all scored 0.780 to 0.787).

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::features::{BUCKETS, Sparse, bucket, terms_with_words, vectorize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Classifier {
    pub classes: Vec<String>,
    /// Per bucket, side by side so scoring reads one place per feature: its inverse
    /// document frequency, then its K class weights (`rows[bucket * (K + 1)]`).
    rows: Vec<f32>,
    bias: Vec<f32>,
    /// Logits are divided by this before the softmax (fitted on held-out data).
    pub temperature: f32,
}

#[derive(Debug, Clone, Copy)]
pub struct TrainOptions {
    /// The SVMs' cost of a margin violation (LinearSVC's `C`): higher fits the
    /// training emails more closely.
    pub c: f32,
    /// Additive smoothing of the naive Bayes log-count ratios that scale each class's
    /// features (0: a plain SVM on TF-IDF).
    pub nb_smoothing: f32,
    /// Passes over the training emails at most, per class.
    pub max_passes: usize,
    /// A class's training stops when no email's projected gradient is further than
    /// this from optimal (LIBLINEAR's stopping rule).
    pub tolerance: f32,
    /// Weigh each class's positives up so rare classes count as much as common ones.
    pub balanced: bool,
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            // Measured with the ratios (module documentation).
            c: 3.0,
            nb_smoothing: 3.0,
            max_passes: 50,
            tolerance: 0.1,
            // Measured on the mean of bench/scoring.py's 15 splits: +0.007 macro-F1
            // (+0.021 for a plain SVM).
            balanced: true,
            seed: 42,
        }
    }
}

impl Classifier {
    /// Trains on `(features, class index)` pairs.
    pub fn train(
        examples: &[(Sparse, usize)],
        classes: Vec<String>,
        options: TrainOptions,
    ) -> Classifier {
        let k = classes.len().max(1);
        let mut model = Classifier {
            rows: vec![1.0; BUCKETS * (k + 1)],
            bias: vec![0.0; k],
            classes,
            temperature: 1.0,
        };
        if examples.is_empty() {
            return model;
        }
        // Smoothed IDF, as scikit-learn's TfidfVectorizer: ln((1 + n) / (1 + df)) + 1.
        let mut df = vec![0u32; BUCKETS];
        for (x, _) in examples {
            for &(f, _) in x {
                df[f as usize] += 1;
            }
        }
        let n = examples.len() as f32;
        for (f, &d) in df.iter().enumerate() {
            model.rows[f * (k + 1)] = ((1.0 + n) / (1.0 + d as f32)).ln() + 1.0;
        }
        let weighted: Vec<(Sparse, usize)> =
            examples.iter().map(|(x, y)| (model.weigh(x), *y)).collect();
        let mut counts = vec![0usize; k];
        weighted.iter().for_each(|(_, y)| counts[*y] += 1);

        // One binary SVM per class, spread over the cores.
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(k);
        let trained: Vec<(usize, Vec<f32>, f32)> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    let (weighted, counts) = (&weighted, &counts);
                    scope.spawn(move || {
                        (t..k)
                            .step_by(threads)
                            .map(|class| {
                                let positive_weight = if options.balanced && counts[class] > 0 {
                                    (n / (k as f32 * counts[class] as f32)).max(1.0)
                                } else {
                                    1.0
                                };
                                train_class(weighted, class, options.c * positive_weight, &options)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().expect("a training thread panicked"))
                .collect()
        });
        for (class, w, b) in trained {
            model.bias[class] = b;
            for (f, v) in w.into_iter().enumerate() {
                model.rows[f * (k + 1) + 1 + class] = v;
            }
        }
        model
    }

    /// How Triage trains the model it ships: every example trains it, and its
    /// temperature is chosen on out-of-fold decisions, so no label is kept out only to
    /// calibrate. `fold[i]` is example i's fold (by thread, so a reply is never scored
    /// by a model that learnt its thread); each fold is scored by a model fitted on the
    /// others, the temperature that makes those scores most honest is chosen, then one
    /// model is fitted on everything and keeps it. Costs `folds + 1` fits.
    pub fn train_cross_fitted(
        examples: &[(Sparse, usize)],
        fold: &[usize],
        classes: Vec<String>,
        options: TrainOptions,
    ) -> Classifier {
        let mut model = Classifier::train(examples, classes.clone(), options);
        model.temperature = Classifier::out_of_fold_temperature(examples, fold, &classes, options);
        model
    }

    /// The temperature chosen on out-of-fold decisions (see [`Self::train_cross_fitted`]);
    /// 1 when there are fewer than two folds.
    pub fn out_of_fold_temperature(
        examples: &[(Sparse, usize)],
        fold: &[usize],
        classes: &[String],
        options: TrainOptions,
    ) -> f32 {
        let mut folds: Vec<usize> = fold.to_vec();
        folds.sort_unstable();
        folds.dedup();
        if folds.len() < 2 {
            return 1.0;
        }
        // Decision values of every example, each from the model that did not see it.
        // Those fits only choose one number, so they stop sooner: on
        // bench/scoring.py's first split the temperature chosen was the same.
        let rough = TrainOptions {
            tolerance: 1.0,
            max_passes: 10,
            ..options
        };
        let mut decisions: Vec<(Vec<f32>, usize)> = Vec::with_capacity(examples.len());
        for &f in &folds {
            let (rest, held): (Vec<_>, Vec<_>) =
                examples.iter().zip(fold).partition(|(_, fold)| **fold != f);
            let rest: Vec<(Sparse, usize)> = rest.into_iter().map(|(e, _)| e.clone()).collect();
            let fitted = Classifier::train(&rest, classes.to_vec(), rough);
            decisions.extend(held.into_iter().map(|((x, y), _)| (fitted.logits(x), *y)));
        }
        best_temperature(&decisions)
    }

    fn idf(&self, f: u32) -> f32 {
        self.rows[f as usize * (self.classes.len() + 1)]
    }

    /// The K class weights of bucket `f`.
    fn weights(&self, f: u32) -> &[f32] {
        let k = self.classes.len();
        let start = f as usize * (k + 1) + 1;
        &self.rows[start..start + k]
    }

    /// `x` with IDF weights applied, L2-normalised again.
    fn weigh(&self, x: &Sparse) -> Sparse {
        let mut v: Sparse = x
            .iter()
            .map(|&(f, value)| (f, value * self.idf(f)))
            .collect();
        let norm = v.iter().map(|(_, x)| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|(_, x)| *x /= norm);
        }
        v
    }

    /// Calibrated probabilities, one per class, summing to 1.
    pub fn probabilities(&self, x: &Sparse) -> Vec<f32> {
        let mut out = self.logits(x);
        softmax(&mut out, self.temperature);
        out
    }

    /// The classes' decision values for `x` (before the temperature and softmax).
    fn logits(&self, x: &Sparse) -> Vec<f32> {
        // `weigh` and the dot products in one, without a weighted copy of `x`,
        // reading each feature's row once: this is the scoring hot path.
        let k = self.classes.len();
        let mut out = self.bias.clone();
        let mut norm = 0.0f32;
        for &(f, v) in x {
            let row = &self.rows[f as usize * (k + 1)..(f as usize + 1) * (k + 1)];
            let value = v * row[0];
            norm += value * value;
            for (o, w) in out.iter_mut().zip(&row[1..]) {
                *o += w * value;
            }
        }
        // Logits are linear in x, so the bias-free part scales by 1 / norm afterwards.
        let scale = if norm > 0.0 { 1.0 / norm.sqrt() } else { 0.0 };
        for (o, b) in out.iter_mut().zip(&self.bias) {
            *o = b + (*o - b) * scale;
        }
        out
    }

    /// The words of this email that pushed it most toward `class`, strongest first
    /// (each word's subject, character and bigram features added up).
    pub fn explain(
        &self,
        subject: &str,
        body: &str,
        class: usize,
        top: usize,
    ) -> Vec<(String, f32)> {
        let x = self.weigh(&vectorize(subject, body));
        let value = |b: u32| {
            x.binary_search_by_key(&b, |(f, _)| *f)
                .map(|i| x[i].1)
                .unwrap_or(0.0)
        };
        let mut seen = std::collections::HashSet::new();
        let mut by_word: std::collections::HashMap<String, f32> = std::collections::HashMap::new();
        for (term, word) in terms_with_words(subject, body) {
            if !seen.insert(term.clone()) {
                continue;
            }
            let b = bucket(&term);
            *by_word.entry(word).or_default() += self.weights(b)[class] * value(b);
        }
        let mut scored: Vec<(String, f32)> =
            by_word.into_iter().filter(|(_, s)| *s > 0.0).collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        scored.truncate(top);
        scored
    }
}

/// The temperature whose softmax gives `(decision values, true class)` the lowest
/// negative log-likelihood. SVM decision values are small (about ±1), so the grid
/// reaches low temperatures: 0.01 to 10, evenly in log space.
fn best_temperature(decisions: &[(Vec<f32>, usize)]) -> f32 {
    let mut best = (1.0f32, f32::INFINITY);
    for step in 0..=90 {
        let t = 0.01 * 10f32.powf(step as f32 / 30.0);
        let loss = log_loss(decisions, t);
        if loss < best.1 {
            best = (t, loss);
        }
    }
    best.0
}

fn log_loss(decisions: &[(Vec<f32>, usize)], t: f32) -> f32 {
    let mut probs = Vec::new();
    decisions
        .iter()
        .map(|(logits, y)| {
            probs.clone_from(logits);
            softmax(&mut probs, t);
            -probs[*y].max(1e-9).ln()
        })
        .sum()
}

/// Turns logits into probabilities, in place.
fn softmax(logits: &mut [f32], temperature: f32) {
    let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for p in logits.iter_mut() {
        *p = ((*p - max) / temperature).exp();
        sum += *p;
    }
    logits.iter_mut().for_each(|p| *p /= sum);
}

/// One class's weights and bias: its SVM trained on the features scaled by their
/// naive Bayes log-count ratios, the ratios folded into the weights.
fn train_class(
    examples: &[(Sparse, usize)],
    class: usize,
    c_positive: f32,
    options: &TrainOptions,
) -> (usize, Vec<f32>, f32) {
    if options.nb_smoothing <= 0.0 {
        let (w, b) = train_binary(examples, class, c_positive, options.c, options);
        return (class, w, b);
    }
    let ratios = nb_ratios(examples, class, options.nb_smoothing);
    let scaled: Vec<(Sparse, usize)> = examples
        .iter()
        .map(|(x, y)| {
            let x = x
                .iter()
                .map(|&(f, v)| (f, v * ratios[f as usize]))
                .collect();
            (x, *y)
        })
        .collect();
    let (w, b) = train_binary(&scaled, class, c_positive, options.c, options);
    let w = w.iter().zip(&ratios).map(|(w, r)| w * r).collect();
    (class, w, b)
}

/// Per bucket, the log of how much likelier the feature is present in an email of
/// `class` than in one of the others, smoothed by adding `smoothing` to every count;
/// 0 for buckets no training email has (nothing is known of them).
fn nb_ratios(examples: &[(Sparse, usize)], class: usize, smoothing: f32) -> Vec<f32> {
    let mut inside = vec![0.0f32; BUCKETS];
    let mut outside = vec![0.0f32; BUCKETS];
    for (x, y) in examples {
        let counts = if *y == class {
            &mut inside
        } else {
            &mut outside
        };
        for &(f, _) in x {
            counts[f as usize] += 1.0;
        }
    }
    let seen = inside
        .iter()
        .zip(&outside)
        .filter(|(a, b)| **a + **b > 0.0)
        .count() as f32;
    let total_inside = inside.iter().sum::<f32>() + smoothing * seen;
    let total_outside = outside.iter().sum::<f32>() + smoothing * seen;
    inside
        .iter()
        .zip(&outside)
        .map(|(&a, &b)| {
            if a + b > 0.0 {
                ((a + smoothing) / total_inside).ln() - ((b + smoothing) / total_outside).ln()
            } else {
                0.0
            }
        })
        .collect()
}

/// One class against the rest: an L2-regularised, squared-hinge linear SVM by dual
/// coordinate descent (Hsieh et al. 2008, LIBLINEAR's solver 1, without shrinking).
/// The bias is a weight on a constant feature of 1, regularised like the others, as
/// in LIBLINEAR. `c_positive` and `c_negative` are the costs of the two sides.
fn train_binary(
    examples: &[(Sparse, usize)],
    class: usize,
    c_positive: f32,
    c_negative: f32,
    options: &TrainOptions,
) -> (Vec<f32>, f32) {
    let mut w = vec![0.0f32; BUCKETS];
    let mut bias = 0.0f32;
    let mut alpha = vec![0.0f32; examples.len()];
    let sign: Vec<f32> = examples
        .iter()
        .map(|(_, y)| if *y == class { 1.0 } else { -1.0 })
        .collect();
    // Squared hinge: the dual's diagonal gains 1 / (2C); there is no upper bound.
    let diagonal: Vec<f32> = sign
        .iter()
        .map(|s| 0.5 / if *s > 0.0 { c_positive } else { c_negative })
        .collect();
    let q: Vec<f32> = examples
        .iter()
        .zip(&diagonal)
        .map(|((x, _), d)| x.iter().map(|(_, v)| v * v).sum::<f32>() + 1.0 + d)
        .collect();
    // Shrinking, as LIBLINEAR: an example at alpha 0 whose gradient is above the
    // largest projected gradient of the previous pass is very likely to stay at 0, so
    // it leaves the active set; when the active set has converged, every example is
    // checked once more before stopping. Most emails are far from the margin, so
    // fewer are visited (10 to 20 % fewer on bench/scoring.py's corpus).
    let n = examples.len();
    let mut active: Vec<usize> = (0..n).collect();
    let mut active_size = n;
    let mut shrink_above = f32::INFINITY;
    let mut rng =
        ChaCha8Rng::seed_from_u64(options.seed ^ (class as u64).wrapping_mul(0x9e37_79b9));
    for _ in 0..options.max_passes {
        active[..active_size].shuffle(&mut rng);
        let (mut max_gradient, mut min_gradient) = (f32::NEG_INFINITY, f32::INFINITY);
        let mut s = 0;
        while s < active_size {
            let i = active[s];
            let (x, _) = &examples[i];
            let y = sign[i];
            let margin: f32 = x.iter().map(|&(f, v)| w[f as usize] * v).sum::<f32>() + bias;
            let gradient = y * margin - 1.0 + diagonal[i] * alpha[i];
            let projected = if alpha[i] == 0.0 {
                if gradient > shrink_above {
                    active_size -= 1;
                    active.swap(s, active_size);
                    continue;
                }
                gradient.min(0.0)
            } else {
                gradient
            };
            max_gradient = max_gradient.max(projected);
            min_gradient = min_gradient.min(projected);
            if projected.abs() > 1e-12 {
                let old = alpha[i];
                alpha[i] = (old - gradient / q[i]).max(0.0);
                let step = (alpha[i] - old) * y;
                for &(f, v) in x {
                    w[f as usize] += step * v;
                }
                bias += step;
            }
            s += 1;
        }
        if max_gradient - min_gradient <= options.tolerance {
            if active_size == n {
                break;
            }
            active_size = n;
            shrink_above = f32::INFINITY;
            continue;
        }
        shrink_above = if max_gradient <= 0.0 {
            f32::INFINITY
        } else {
            max_gradient
        };
    }
    (w, bias)
}

/// The stored artifact: a JSON header line (classes, temperature), then the biases
/// and weights as little-endian f32. About 10 MB for ten classes.
impl Classifier {
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = serde_json::json!({"format": 2, "classes": self.classes, "temperature": self.temperature, "idf": true});
        let mut out = header.to_string().into_bytes();
        out.push(b'\n');
        let weights = (0..BUCKETS as u32).flat_map(|f| self.weights(f).iter().copied());
        let idf = (0..BUCKETS as u32).map(|f| self.idf(f));
        for v in self.bias.iter().copied().chain(weights).chain(idf) {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Classifier, String> {
        let newline = bytes.iter().position(|b| *b == b'\n').ok_or("no header")?;
        let header: serde_json::Value =
            serde_json::from_slice(&bytes[..newline]).map_err(|e| e.to_string())?;
        let classes: Vec<String> =
            serde_json::from_value(header["classes"].clone()).map_err(|e| e.to_string())?;
        let temperature = header["temperature"].as_f64().ok_or("no temperature")? as f32;
        let k = classes.len();
        let floats: Vec<f32> = bytes[newline + 1..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        // Format-1 artifacts have no IDF: every bucket weighs 1.
        let idf = if header["idf"].as_bool().unwrap_or(false) {
            BUCKETS
        } else {
            0
        };
        if floats.len() != k + BUCKETS * k + idf {
            return Err(format!(
                "expected {} numbers, found {}",
                k + BUCKETS * k + idf,
                floats.len()
            ));
        }
        let (bias, rest) = floats.split_at(k);
        let (weights, idfs) = rest.split_at(BUCKETS * k);
        let mut rows = Vec::with_capacity(BUCKETS * (k + 1));
        for f in 0..BUCKETS {
            rows.push(idfs.get(f).copied().unwrap_or(1.0));
            rows.extend_from_slice(&weights[f * k..f * k + k]);
        }
        Ok(Classifier {
            bias: bias.to_vec(),
            rows,
            classes,
            temperature,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus() -> (Vec<(Sparse, usize)>, Vec<String>) {
        let classes = vec![
            "refund".to_string(),
            "quote".to_string(),
            "praise".to_string(),
        ];
        let texts = [
            (
                "Refund please",
                "I returned the chairs, where is my refund",
                0,
            ),
            ("money back", "Please refund the damaged printer", 0),
            (
                "refund status",
                "Still waiting for the refund of my return",
                0,
            ),
            (
                "Quote request",
                "Please send a price quote for 200 boxes",
                1,
            ),
            (
                "pricing",
                "What is your price for pallet jacks in bulk, need a quote",
                1,
            ),
            (
                "RFQ",
                "Request for quotation: shelving units, volume pricing",
                1,
            ),
            ("Thank you", "Great service, thank you so much team", 2),
            ("Kudos", "The delivery was fast, thanks, great job", 2),
            ("thanks", "Thank you for the quick help, great support", 2),
        ];
        (
            texts
                .iter()
                .map(|(s, b, y)| (vectorize(s, b), *y))
                .collect(),
            classes,
        )
    }

    #[test]
    fn it_learns_a_small_corpus_and_gives_honest_probabilities() {
        let (examples, classes) = corpus();
        let model = Classifier::train(&examples, classes, TrainOptions::default());
        let p = model.probabilities(&vectorize(
            "refund",
            "when do I get my refund for the return",
        ));
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        assert_eq!(argmax(&p), 0, "{p:?}");
        assert_eq!(
            argmax(&model.probabilities(&vectorize("", "can you quote a price for 50 boxes"))),
            1
        );
        assert_eq!(
            argmax(&model.probabilities(&vectorize("", "thank you, great help"))),
            2
        );
    }

    #[test]
    fn the_same_labels_and_seed_give_the_same_model() {
        let (examples, classes) = corpus();
        let a = Classifier::train(&examples, classes.clone(), TrainOptions::default());
        let b = Classifier::train(&examples, classes, TrainOptions::default());
        assert_eq!(a.rows, b.rows);
    }

    #[test]
    fn explanations_name_the_words_that_decided() {
        let (examples, classes) = corpus();
        let model = Classifier::train(&examples, classes, TrainOptions::default());
        let why = model.explain("Refund", "where is my refund", 0, 3);
        assert_eq!(why[0].0, "refund", "{why:?}");
    }

    #[test]
    fn a_stored_model_reads_back_the_same() {
        let (examples, classes) = corpus();
        let model = Classifier::train(&examples, classes, TrainOptions::default());
        let back = Classifier::from_bytes(&model.to_bytes()).unwrap();
        assert_eq!(back.rows, model.rows);
        assert_eq!(back.classes, model.classes);
        assert!(Classifier::from_bytes(b"{}\n123").is_err());
    }

    #[test]
    fn calibration_makes_held_out_probabilities_more_honest() {
        let (examples, classes) = corpus();
        let model = Classifier::train(&examples, classes, TrainOptions::default());
        let decisions: Vec<(Vec<f32>, usize)> = examples
            .iter()
            .map(|(x, y)| (model.logits(x), *y))
            .collect();
        let before = log_loss(&decisions, 1.0);
        let temperature = best_temperature(&decisions);
        assert_ne!(temperature, 1.0);
        assert!(log_loss(&decisions, temperature) < before);
    }

    fn argmax(p: &[f32]) -> usize {
        p.iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i)
            .unwrap()
    }
}
