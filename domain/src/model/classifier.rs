//! Multinomial logistic regression over hashed sparse features, trained with
//! AdaGrad SGD, balanced class weights and a fixed seed (the same labels give the
//! same model), then calibrated by temperature scaling on held-out examples. Features
//! are weighted by inverse document frequency learnt from the training emails, so
//! words every email has count for little (TF-IDF, as in the usual baselines).

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::features::{BUCKETS, Sparse, bucket, terms_with_words, vectorize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Classifier {
    pub classes: Vec<String>,
    /// `weights[bucket * K + class]`.
    weights: Vec<f32>,
    bias: Vec<f32>,
    /// Logits are divided by this before the softmax (fitted on held-out data).
    pub temperature: f32,
    /// Inverse document frequency per bucket (empty: none, as format-1 artifacts).
    idf: Vec<f32>,
}

#[derive(Debug, Clone, Copy)]
pub struct TrainOptions {
    pub epochs: usize,
    pub learning_rate: f32,
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            epochs: 6,
            learning_rate: 0.4,
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
            weights: vec![0.0; BUCKETS * k],
            bias: vec![0.0; k],
            classes,
            temperature: 1.0,
            idf: Vec::new(),
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
        model.idf = df
            .iter()
            .map(|&d| ((1.0 + n) / (1.0 + d as f32)).ln() + 1.0)
            .collect();
        let weighted: Vec<(Sparse, usize)> =
            examples.iter().map(|(x, y)| (model.weigh(x), *y)).collect();
        let examples = &weighted[..];
        // Balanced class weights: a rare class counts as much as a common one.
        let mut counts = vec![0usize; k];
        examples.iter().for_each(|(_, y)| counts[*y] += 1);
        let class_weight: Vec<f32> = counts
            .iter()
            .map(|&c| {
                if c == 0 {
                    0.0
                } else {
                    examples.len() as f32 / (k as f32 * c as f32)
                }
            })
            .collect();

        let mut squared = vec![1e-6f32; BUCKETS * k];
        let mut bias_squared = vec![1e-6f32; k];
        let mut order: Vec<usize> = (0..examples.len()).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
        let mut probs = vec![0.0f32; k];
        let mut gradient = vec![0.0f32; k];
        let rate = options.learning_rate;
        for _ in 0..options.epochs {
            order.shuffle(&mut rng);
            for &i in &order {
                let (x, y) = &examples[i];
                model.probabilities_into(x, 1.0, &mut probs);
                let cw = class_weight[*y];
                for c in 0..k {
                    let g = cw * (probs[c] - if c == *y { 1.0 } else { 0.0 });
                    gradient[c] = g;
                    bias_squared[c] += g * g;
                    model.bias[c] -= rate * g / bias_squared[c].sqrt();
                }
                // Feature by feature, all classes at once: a feature's K weights sit
                // side by side, so this loop reads memory in order and vectorises.
                for &(f, v) in x {
                    let row = f as usize * k..f as usize * k + k;
                    let weights = &mut model.weights[row.clone()];
                    let squared = &mut squared[row];
                    for c in 0..k {
                        let gf = gradient[c] * v;
                        squared[c] += gf * gf;
                        weights[c] -= rate * gf / squared[c].sqrt();
                    }
                }
            }
        }
        model
    }

    /// `x` with IDF weights applied, L2-normalised again.
    fn weigh(&self, x: &Sparse) -> Sparse {
        if self.idf.is_empty() {
            return x.clone();
        }
        let mut v: Sparse = x
            .iter()
            .map(|&(f, value)| (f, value * self.idf[f as usize]))
            .collect();
        let norm = v.iter().map(|(_, x)| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|(_, x)| *x /= norm);
        }
        v
    }

    fn probabilities_into(&self, x: &Sparse, temperature: f32, out: &mut [f32]) {
        let k = self.classes.len();
        out.copy_from_slice(&self.bias[..k]);
        for &(f, v) in x {
            let row = &self.weights[f as usize * k..f as usize * k + k];
            for c in 0..k {
                out[c] += row[c] * v;
            }
        }
        let max = out.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for p in out.iter_mut() {
            *p = ((*p - max) / temperature).exp();
            sum += *p;
        }
        out.iter_mut().for_each(|p| *p /= sum);
    }

    /// Calibrated probabilities, one per class, summing to 1.
    pub fn probabilities(&self, x: &Sparse) -> Vec<f32> {
        let mut out = vec![0.0; self.classes.len()];
        self.probabilities_into(&self.weigh(x), self.temperature, &mut out);
        out
    }

    /// Chooses the temperature that makes held-out probabilities most honest
    /// (lowest negative log-likelihood).
    pub fn calibrate(&mut self, held_out: &[(Sparse, usize)]) {
        if held_out.is_empty() {
            return;
        }
        let mut best = (1.0f32, f32::INFINITY);
        for step in 0..60 {
            let t = 0.25 + step as f32 * 0.1;
            let loss = self.log_loss(held_out, t);
            if loss < best.1 {
                best = (t, loss);
            }
        }
        self.temperature = best.0;
    }

    /// Negative log-likelihood of the true classes at temperature `t` (lower is better).
    pub fn log_loss(&self, examples: &[(Sparse, usize)], t: f32) -> f32 {
        let mut probs = vec![0.0; self.classes.len()];
        examples
            .iter()
            .map(|(x, y)| {
                self.probabilities_into(&self.weigh(x), t, &mut probs);
                -probs[*y].max(1e-9).ln()
            })
            .sum()
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
        let k = self.classes.len();
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
            *by_word.entry(word).or_default() += self.weights[b as usize * k + class] * value(b);
        }
        let mut scored: Vec<(String, f32)> =
            by_word.into_iter().filter(|(_, s)| *s > 0.0).collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        scored.truncate(top);
        scored
    }
}

/// The stored artifact: a JSON header line (classes, temperature), then the biases
/// and weights as little-endian f32. About 10 MB for ten classes.
impl Classifier {
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = serde_json::json!({"format": 2, "classes": self.classes, "temperature": self.temperature, "idf": !self.idf.is_empty()});
        let mut out = header.to_string().into_bytes();
        out.push(b'\n');
        for v in self.bias.iter().chain(&self.weights).chain(&self.idf) {
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
        Ok(Classifier {
            bias: floats[..k].to_vec(),
            weights: floats[k..k + BUCKETS * k].to_vec(),
            idf: floats[k + BUCKETS * k..].to_vec(),
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
        assert_eq!(a.weights, b.weights);
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
        assert_eq!(back.weights, model.weights);
        assert_eq!(back.classes, model.classes);
        assert!(Classifier::from_bytes(b"{}\n123").is_err());
    }

    #[test]
    fn calibration_makes_held_out_probabilities_more_honest() {
        let (examples, classes) = corpus();
        let mut model = Classifier::train(&examples, classes, TrainOptions::default());
        let before = model.log_loss(&examples, 1.0);
        model.calibrate(&examples);
        assert_ne!(model.temperature, 1.0);
        assert!(model.log_loss(&examples, model.temperature) < before);
    }

    fn argmax(p: &[f32]) -> usize {
        p.iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i)
            .unwrap()
    }
}
