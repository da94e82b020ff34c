// Answer quality (exact match, token F1) and one run's costs, from the plain telemetry.
#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <sstream>
#include <string_view>

#include "hae/bench.h"
#include "hae/demo/vocabulary.h"
#include "hae/report.h"

namespace hae::bench {

std::vector<std::string> answerTokens(const std::string& text) {
  std::vector<std::string> out;
  for (auto& w : demo::demoWords(demo::normalizeAnswer(text))) {
    // "." between the description's objects is structure, not content: F1 counts words.
    const bool punctuation = std::all_of(w.begin(), w.end(), [](unsigned char ch) {
      return ch < 0x80 && !std::isalnum(ch) && ch != '_';
    });
    if (!punctuation) out.push_back(std::move(w));
  }
  return out;
}

bool exactMatch(const std::string& predicted, const std::string& reference) {
  return demo::answersMatch(predicted, reference);
}

std::string inferChoice(const std::string& predicted,
                        const std::map<std::string, std::string>& choices) {
  if (choices.empty()) return "";
  // can_infer_option: option letters as whole words once punctuation is split off.
  std::string mod = predicted;
  for (char& ch : mod)
    if (std::string_view(".()[],:;!*#{}").find(ch) != std::string_view::npos) ch = ' ';
  std::vector<std::string> splits;
  std::istringstream words(mod);
  for (std::string w; words >> w;) splits.push_back(w);
  auto has = [&splits](const std::string& w) {
    return std::find(splits.begin(), splits.end(), w) != splits.end();
  };
  std::vector<std::string> hits;
  for (const auto& [letter, text] : choices)
    if (has(letter)) hits.push_back(letter);
  if (hits.size() == 1) {
    // "A" in a longer answer is more likely the article than the option.
    if (has("A") && splits.size() > 3) return "";
    return hits[0];
  }
  if (!hits.empty()) return "";
  // can_infer_text: the one option whose text the answer contains (case-insensitive).
  auto lower = [](std::string t) {
    for (char& ch : t) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return t;
  };
  const std::string low = lower(predicted);
  std::vector<std::string> text_hits;
  for (const auto& [letter, text] : choices)
    if (!text.empty() && low.find(lower(text)) != std::string::npos) text_hits.push_back(letter);
  return text_hits.size() == 1 ? text_hits[0] : "";
}

std::string inferYesNo(const std::string& predicted) {
  std::string low;
  for (char ch : predicted)
    low += std::isalnum(static_cast<unsigned char>(ch))
               ? static_cast<char>(std::tolower(static_cast<unsigned char>(ch)))
               : ' ';
  std::set<std::string> words;
  std::istringstream in(low);
  for (std::string w; in >> w;) words.insert(w);
  const bool yes = words.count("yes") > 0, no = words.count("no") > 0;
  if (yes && !no) return "yes";
  if (no && !yes) return "no";
  return "";
}

namespace {

// The answer as the case's scoring reads it: an option letter, yes / no, or "" (not readable).
std::string readAnswer(const BenchCase& c, const std::string& text) {
  if (c.scoring == BenchCase::Scoring::Choice) return inferChoice(text, c.choices);
  return inferYesNo(text);
}

}  // namespace

bool answerCorrect(const BenchCase& c, const std::string& predicted) {
  if (c.scoring == BenchCase::Scoring::Exact) return exactMatch(predicted, c.answer);
  const std::string got = readAnswer(c, predicted);
  std::string want = c.answer;
  if (c.scoring == BenchCase::Scoring::YesNo) want = inferYesNo(c.answer);
  return !got.empty() && got == want;
}

bool answersAgree(const BenchCase& c, const std::string& a, const std::string& b) {
  // The same text always agrees (the full cache with itself), readable or not.
  if (exactMatch(a, b) || c.scoring == BenchCase::Scoring::Exact) return exactMatch(a, b);
  const std::string x = readAnswer(c, a);
  return !x.empty() && x == readAnswer(c, b);
}

double tokenF1(const std::string& predicted, const std::string& reference) {
  const auto p = answerTokens(predicted);
  const auto r = answerTokens(reference);
  if (p.empty() && r.empty()) return 1.0;
  if (p.empty() || r.empty()) return 0.0;
  std::map<std::string, int> counts;
  for (const auto& t : r) ++counts[t];
  int common = 0;
  for (const auto& t : p)
    if (auto it = counts.find(t); it != counts.end() && it->second > 0) {
      --it->second;
      ++common;
    }
  if (common == 0) return 0.0;
  const double precision = static_cast<double>(common) / static_cast<double>(p.size());
  const double recall = static_cast<double>(common) / static_cast<double>(r.size());
  return 2 * precision * recall / (precision + recall);
}

ShadowMeasure measureShadow(const std::vector<StepTelemetry>& steps) {
  ShadowMeasure m;
  int counted = 0, agree = 0, layer_steps = 0;
  double kl = 0;
  for (const StepTelemetry& st : steps) {
    if (!st.shadow) continue;
    const ShadowStep& sh = *st.shadow;
    ++counted;
    kl += sh.kl;
    m.worst_kl = std::max(m.worst_kl, sh.kl);
    agree += sh.top1_agree;
    // The distribution after step s picks token s + 1.
    if (!sh.top1_agree && m.first_divergence < 0) m.first_divergence = st.step + 1;
    for (const ShadowLayer& l : sh.layers) {
      ++layer_steps;
      for (int k = 0; k < kModalityCount; ++k) {
        const double missed = l.missed_evicted[k] + l.missed_binned[k];
        (k == static_cast<int>(Modality::Visual) ? m.missed_visual : m.missed_text) += missed;
      }
    }
    for (const RegretEvent& r : st.regrets) m.regretted_purges += r.kind == RegretKind::RegrettedPurge;
  }
  if (counted > 0) m.mean_kl = kl / counted, m.top1_agreement = static_cast<double>(agree) / counted;
  if (layer_steps > 0) m.missed_visual /= layer_steps, m.missed_text /= layer_steps;
  return m;
}

RunMeasure measureRun(const RunInfo& info, const std::vector<StepTelemetry>& steps,
                      const std::string& output) {
  RunMeasure m;
  for (const StepTelemetry& st : steps)
    if (st.shadow) {
      m.shadow = measureShadow(steps);
      break;
    }
  m.output = output;
  m.settings = info.knobs;
  const ReportSummary s = summarizeRun(info, steps);
  m.prompt_tokens = s.prompt_tokens;
  m.visual_tokens = s.visual_tokens;
  m.generated_tokens = s.generated_tokens;
  m.prefill_ms = s.prefill_ms;
  m.decode_ms = s.decode_ms;
  m.decode_ms_per_token = s.decode_ms_per_token;
  m.model_ms = s.prefill_model_ms + s.decode_model_ms;
  m.policy_ms = s.prefill_policy_ms + s.decode_policy_ms;
  m.peak_alloc_bytes = s.peak_cache_bytes;
  m.mean_alloc_bytes = s.mean_cache_bytes;
  // Held bytes count slots, not storage: allocation headroom differs between policies (and
  // compaction timing), which would blur the comparison the bench exists for.
  const double per_slot =
      info.num_layers > 0 ? static_cast<double>(info.kv_bytes_per_token) / info.num_layers : 0.0;
  double sum = 0;
  for (const StepTelemetry& st : steps) {
    std::int64_t slots = 0;
    for (const LayerStats& l : st.layers) {
      for (int k = 0; k < kModalityCount; ++k) slots += l.live[k];
      slots += l.bin;
    }
    std::int64_t bytes = static_cast<std::int64_t>(static_cast<double>(slots) * per_slot + 0.5);
    // Without a KV size the storage is the best number there is.
    if (per_slot == 0) bytes = st.totalBytes();
    m.peak_bytes = std::max(m.peak_bytes, bytes);
    sum += static_cast<double>(bytes);
  }
  if (!steps.empty())
    m.mean_bytes = static_cast<std::int64_t>(sum / static_cast<double>(steps.size()) + 0.5);
  return m;
}

}  // namespace hae::bench
