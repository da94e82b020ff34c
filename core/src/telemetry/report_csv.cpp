// The CSV report: one row per step and layer, units in the column names, RFC 4180 quoting (CRLF
// line ends; a field with a comma, quote or line break is quoted and its quotes doubled). The run's
// settings stay out of the file: comment lines break most CSV readers, the JSON report has them.
#include <fmt/core.h>

#include "hae/report.h"
#include "tokenizer/unicode.h"

namespace hae {

namespace {

// Token pieces can end inside a UTF-8 character (byte-level BPE): readers expect UTF-8, so
// invalid sequences become U+FFFD, as in the JSON reports.
std::string field(const std::string& raw) {
  const std::string s = tok::isValidUtf8(raw) ? raw : tok::utf8Lossy(raw);
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + '"';
}

}  // namespace

std::string reportCsv(const RunInfo& /*info*/, const std::vector<StepTelemetry>& steps) {
  std::string out =
      "step,layer,token_id,token,context_length,live_prefix,live_visual,live_separator,live_text,"
      "live_generated,live_total,bin_slots,cache_bytes,layer_ms,step_model_ms,step_policy_ms";
  // Issue 16: with a shadow, its per-step divergence and per-layer missed attention (visual, and
  // every other modality as text); runs without one keep the columns above only.
  bool shadow = false;
  for (const auto& t : steps) shadow = shadow || t.shadow.has_value();
  out += shadow ? ",kl,top1_agree,missed_visual,missed_text\r\n" : "\r\n";
  for (const auto& t : steps) {
    for (std::size_t l = 0; l < t.layers.size(); ++l) {
      const auto& s = t.layers[l];
      int total = 0;
      for (int c : s.live) total += c;
      out +=
          fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\r\n", t.step, l, t.token_id,
                      field(t.token_text), t.context_length, s.live[0], s.live[1], s.live[2],
                      s.live[3], s.live[4], total, s.bin, s.bytes, s.ms, t.model_ms, t.policy_ms);
      if (shadow) {
        out.resize(out.size() - 2);  // before the CRLF
        if (t.shadow && l < t.shadow->layers.size()) {
          const ShadowLayer& m = t.shadow->layers[l];
          const int v = static_cast<int>(Modality::Visual);
          const double visual = double(m.missed_evicted[v]) + m.missed_binned[v];
          out += fmt::format(",{},{},{},{}\r\n", t.shadow->kl, t.shadow->top1_agree ? 1 : 0, visual,
                             m.missed() - visual);
        } else {
          out += ",,,,\r\n";
        }
      }
    }
  }
  return out;
}

}  // namespace hae
