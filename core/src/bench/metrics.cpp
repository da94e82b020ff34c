// Answer quality (exact match, token F1) and one run's costs, from the plain telemetry.
#include <algorithm>
#include <cctype>
#include <map>

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

RunMeasure measureRun(const RunInfo& info, const std::vector<StepTelemetry>& steps,
                      const std::string& output) {
  RunMeasure m;
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
