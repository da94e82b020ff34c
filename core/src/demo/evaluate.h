#pragma once
// Measures the demo model through the real inference path (Engine, full cache, greedy decoding)
// on held-out scenes, and writes its evaluation card.
#include <map>
#include <string>
#include <vector>

namespace hae::demo {

struct EvalOptions {
  std::string model_dir;  // empty: the embedded demo model
  int samples = 1000;     // the first N held-out samples
  bool attention =
      false;  // also measure layer-0 text-to-visual attention on the object asked about
  bool write_card = false;
  int max_new_tokens = 96;
};

struct KindScore {
  int correct = 0;
  int total = 0;
  double rate() const { return total ? static_cast<double>(correct) / total : 0; }
};

struct AttentionExample {
  std::string question;
  double object_share = 0;  // attention mass on the object's patches / all visual attention
  double area_share = 0;    // object's patches / all patches
};

struct EvalResult {
  std::string model_dir;
  std::map<std::string, KindScore> kinds;  // by kindName
  KindScore short_questions;               // every short kind together
  KindScore describe;                      // exact match of the whole description
  double seconds = 0;
  std::vector<std::string> failures;  // a few "question | expected | got" lines
  // Attention (when requested).
  int attention_questions = 0;
  double mean_object_share = 0, mean_area_share = 0, mean_ratio = 0;
  std::vector<AttentionExample> attention_examples;
};

EvalResult evaluateDemoModel(const EvalOptions& options);
void printEvaluation(const EvalResult& result);

}  // namespace hae::demo
