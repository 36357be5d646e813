//! How good a classifier is on labelled examples: accuracy, macro-F1, per-class
//! precision and recall, the confusion matrix, and expected calibration error.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub class: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
    /// How many labels of this class the model learnt from (0 where not recorded:
    /// models trained before it was, and figures of a comparison).
    #[serde(default)]
    pub labels: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub accuracy: f64,
    pub macro_f1: f64,
    pub per_class: Vec<ClassMetrics>,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
    /// Expected calibration error over 10 equal-width confidence bins.
    pub ece: f64,
}

/// `predictions` are (true class, predicted class, confidence of the prediction).
pub fn evaluate(classes: &[String], predictions: &[(usize, usize, f64)]) -> Evaluation {
    let k = classes.len();
    let mut confusion = vec![vec![0usize; k]; k];
    for &(t, p, _) in predictions {
        confusion[t][p] += 1;
    }
    let n = predictions.len().max(1) as f64;
    let correct: usize = (0..k).map(|c| confusion[c][c]).sum();
    let per_class: Vec<ClassMetrics> = (0..k)
        .map(|c| {
            let tp = confusion[c][c] as f64;
            let predicted: usize = (0..k).map(|t| confusion[t][c]).sum();
            let support: usize = confusion[c].iter().sum();
            let precision = if predicted == 0 {
                0.0
            } else {
                tp / predicted as f64
            };
            let recall = if support == 0 {
                0.0
            } else {
                tp / support as f64
            };
            let f1 = if precision + recall == 0.0 {
                0.0
            } else {
                2.0 * precision * recall / (precision + recall)
            };
            ClassMetrics {
                class: classes[c].clone(),
                precision,
                recall,
                f1,
                support,
                labels: 0,
            }
        })
        .collect();
    // Macro-F1 over the classes that occur, so an absent class does not count as 0.
    let present: Vec<&ClassMetrics> = per_class.iter().filter(|m| m.support > 0).collect();
    let macro_f1 = present.iter().map(|m| m.f1).sum::<f64>() / present.len().max(1) as f64;

    let mut bins = vec![(0usize, 0.0f64, 0.0f64); 10];
    for &(t, p, conf) in predictions {
        let b = ((conf * 10.0) as usize).min(9);
        bins[b].0 += 1;
        bins[b].1 += conf;
        bins[b].2 += if t == p { 1.0 } else { 0.0 };
    }
    let ece = expected_calibration_error(
        bins.iter()
            .map(|&(count, conf, hits)| (count as f64, conf, hits)),
    );
    Evaluation {
        accuracy: correct as f64 / n,
        macro_f1,
        per_class,
        confusion,
        ece,
    }
}

/// Expected calibration error over confidence bins, each given as (predictions, the
/// sum of their confidences, how many were right): the prediction-weighted mean gap
/// between confidence and accuracy. Also what the Analytics page's calibration uses.
pub fn expected_calibration_error(bins: impl IntoIterator<Item = (f64, f64, f64)>) -> f64 {
    let bins: Vec<(f64, f64, f64)> = bins.into_iter().filter(|b| b.0 > 0.0).collect();
    let total: f64 = bins.iter().map(|b| b.0).sum();
    bins.iter()
        .map(|&(count, conf, hits)| (count / total) * (conf / count - hits / count).abs())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_match_a_hand_computed_example() {
        let classes = vec!["a".to_string(), "b".to_string()];
        // true a: predicted a, a, b; true b: predicted b
        let e = evaluate(
            &classes,
            &[(0, 0, 0.9), (0, 0, 0.8), (0, 1, 0.6), (1, 1, 0.7)],
        );
        assert_eq!(e.confusion, vec![vec![2, 1], vec![0, 1]]);
        assert!((e.accuracy - 0.75).abs() < 1e-9);
        // a: p=1, r=2/3, f1=0.8; b: p=0.5, r=1, f1=2/3
        assert!((e.per_class[0].f1 - 0.8).abs() < 1e-9);
        assert!((e.per_class[1].f1 - 2.0 / 3.0).abs() < 1e-9);
        assert!((e.macro_f1 - (0.8 + 2.0 / 3.0) / 2.0).abs() < 1e-9);
        // bins: 0.9 hit, 0.8 hit, 0.6 miss, 0.7 hit → |.9-1|+|.8-1|+|.6-0|+|.7-1| over 4
        assert!((e.ece - (0.1 + 0.2 + 0.6 + 0.3) / 4.0).abs() < 1e-9);
    }
}
