// libFuzzer target for the JSON run report reader (readRunReportJson), two ways:
// - text (any input not starting with a 0 byte): it must read or throw hae::Error. A report that
//   reads must be something the writers handle: it is written again as JSON (which must read back
//   field for field equal, summary included), CSV and trace, which run summarizeRun and every sum
//   and product the writers form;
// - telemetry (a 0 byte, then bytes that FuzzedDataProvider turns into a run: strings with quotes,
//   control characters and non-ASCII, extreme doubles and floats, NaN, counts up to the reader's
//   limits): the writer's JSON of any run within those limits must read back equal, so the reader
//   is the writer's exact inverse and not only its inverse on typical runs.
// A crash, a sanitizer report (overflow, out-of-range float conversion, out-of-bounds access),
// another exception type or a report that does not read back the same is a bug.
#include <fuzzer/FuzzedDataProvider.h>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

#include "hae/error.h"
#include "hae/report.h"
#include "hae/report_read.h"
#include "report_compare.h"

namespace {

void require(bool ok, const std::string& what) {
  if (ok) return;
  std::fprintf(stderr, "invariant broken: %s\n", what.c_str());
  std::abort();
}

// Text from bytes: ASCII as is (control characters, quotes and backslashes included), the rest
// as a few multi-byte characters, so it is valid UTF-8 (the writer replaces invalid sequences).
std::string text(FuzzedDataProvider& p, std::size_t max) {
  static const char* const kWide[] = {"\xC3\xA9", "\xE6\x9D\xB1", "\xF0\x9F\x99\x82",
                                      "\xEF\xBF\xBD", "\xE2\x96\x81"};
  std::string out;
  for (unsigned char c : p.ConsumeRandomLengthString(max))
    out += c < 0x80 ? std::string(1, static_cast<char>(c)) : kWide[c % 5];
  return out;
}

double anyDouble(FuzzedDataProvider& p) {
  switch (p.ConsumeIntegralInRange(0, 4)) {
    case 0:
      return p.ConsumeIntegralInRange(0, 1000) / 8.0;
    case 1:
      return std::numeric_limits<double>::quiet_NaN();
    case 2:
      return std::numeric_limits<double>::infinity();
    default: {
      const auto bits = p.ConsumeIntegral<std::uint64_t>();
      double d;
      std::memcpy(&d, &bits, sizeof d);
      return d;
    }
  }
}
// Times: not negative (the schema's minimum); NaN and infinity are written as null.
double ms(FuzzedDataProvider& p) {
  const double d = anyDouble(p);
  return d < 0 ? -d : d;
}
float anyFloat(FuzzedDataProvider& p) {
  const auto bits = p.ConsumeIntegral<std::uint32_t>();
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}
float finiteFloat(FuzzedDataProvider& p, bool non_negative) {
  float f = anyFloat(p);
  if (!std::isfinite(f)) f = 1.5f;
  return non_negative && f < 0 ? -f : f;
}

// What the reader gives back for a value the writer stores as null.
double canonical(double d) {
  return std::isfinite(d) ? d : std::numeric_limits<double>::quiet_NaN();
}
float canonical(float f) {
  return std::isfinite(f) ? f : std::numeric_limits<float>::quiet_NaN();
}

hae::Modality modality(FuzzedDataProvider& p) {
  return static_cast<hae::Modality>(p.ConsumeIntegralInRange(0, hae::kModalityCount - 1));
}

void roundTripTelemetry(FuzzedDataProvider& p) {
  constexpr int kSlots = 1 << 28;
  constexpr std::int64_t kBytes = std::int64_t{1} << 53;
  hae::RunInfo info;
  info.model_name = text(p, 16);
  info.model_path = text(p, 16);
  info.policy_name = text(p, 8);
  for (int k = p.ConsumeIntegralInRange(0, 3); k > 0; --k) info.knobs[text(p, 8)] = text(p, 8);
  info.prompt = text(p, 32);
  info.num_layers = p.ConsumeIntegralInRange(0, 6);
  info.kv_bytes_per_token =
      p.ConsumeBool() ? p.ConsumeIntegralInRange<std::int64_t>(0, std::int64_t{1} << 40) : 4096;
  info.device = text(p, 8);
  info.threads = p.ConsumeIntegralInRange(0, std::numeric_limits<int>::max());
  for (int i = p.ConsumeIntegralInRange(0, 2); i > 0; --i) {
    hae::ImageInfo im;
    im.path = text(p, 16);
    im.width = p.ConsumeIntegralInRange(0, std::numeric_limits<int>::max());
    im.height = p.ConsumeIntegralInRange(0, std::numeric_limits<int>::max());
    for (int g = p.ConsumeIntegralInRange(0, 3); g > 0; --g)
      im.grids.push_back({p.ConsumeIntegralInRange(0, 9),
                          p.ConsumeIntegralInRange(0, 9),
                          p.ConsumeIntegralInRange(0, 1 << 15),
                          p.ConsumeIntegralInRange(0, 1 << 15),
                          {finiteFloat(p, false), finiteFloat(p, false), finiteFloat(p, true),
                           finiteFloat(p, true)},
                          p.ConsumeBool()});
    info.images.push_back(im);
  }
  for (int i = p.ConsumeIntegralInRange(0, 40); i > 0; --i) {
    hae::TokenInfo t;
    t.position = p.ConsumeIntegralInRange(0, std::numeric_limits<int>::max());
    t.id = p.ConsumeIntegral<int>();
    t.modality = modality(p);
    t.text = text(p, 8);
    if (t.modality == hae::Modality::Visual) {
      t.image = p.ConsumeIntegralInRange(0, 3);
      t.crop = p.ConsumeIntegralInRange(0, 3);
      t.row = p.ConsumeIntegralInRange(0, 1 << 20);
      t.col = p.ConsumeIntegralInRange(0, 1 << 20);
      info.visual_tokens.push_back(static_cast<int>(info.tokens.size()));
    }
    info.tokens.push_back(t);
  }
  std::vector<hae::StepTelemetry> steps;
  const int layers = p.ConsumeIntegralInRange(0, 6);
  for (int s = p.ConsumeIntegralInRange(0, 8); s > 0; --s) {
    hae::StepTelemetry t;
    t.step = p.ConsumeBool() ? static_cast<int>(steps.size()) : p.ConsumeIntegralInRange(0, kSlots);
    t.token_id = p.ConsumeIntegralInRange(-1, std::numeric_limits<int>::max());
    t.token_text = text(p, 8);
    t.context_length = p.ConsumeIntegralInRange(0, kSlots);
    t.model_ms = ms(p);
    t.policy_ms = ms(p);
    for (int l = 0; l < layers; ++l) {
      hae::LayerStats ls;
      for (int& live : ls.live) live = p.ConsumeIntegralInRange(0, kSlots);
      ls.bin = p.ConsumeIntegralInRange(0, kSlots);
      ls.bytes = p.ConsumeIntegralInRange<std::int64_t>(0, kBytes / 8);
      ls.ms = ms(p);
      t.layers.push_back(ls);
      std::vector<hae::PatchState> states(info.visual_tokens.size());
      for (auto& st : states) st = static_cast<hae::PatchState>(p.ConsumeIntegralInRange(0, 2));
      t.patch_states.push_back(states);
      if (p.ConsumeBool()) {
        hae::LayerProbe probe;
        for (int m = 0; m < hae::kModalityCount; ++m) {
          probe.attn_variance[m] = anyDouble(p);
          probe.sparsity[m] = anyDouble(p);
        }
        probe.overlap_with_first = anyDouble(p);
        t.probes.push_back(probe);
      }
    }
    for (int e = p.ConsumeIntegralInRange(0, 4); e > 0; --e)
      t.events.push_back({static_cast<hae::EventKind>(p.ConsumeIntegralInRange(0, 3)), t.step,
                          p.ConsumeIntegralInRange(-1, 64), p.ConsumeIntegralInRange(-1, 64),
                          p.ConsumeIntegralInRange(0, std::numeric_limits<int>::max()), modality(p),
                          anyFloat(p)});
    steps.push_back(std::move(t));
  }
  const std::string answer = text(p, 32);
  // The reader refuses a cache size that overflows 64 bits times the run's tokens or slots.
  if (!steps.empty()) {
    std::int64_t slots = 0, product = 0;
    for (std::size_t l = 0; l < steps.back().layers.size(); ++l)
      slots += steps.back().liveSlots(static_cast<int>(l)) + steps.back().layers[l].bin;
    if (__builtin_mul_overflow(slots, info.kv_bytes_per_token, &product))
      info.kv_bytes_per_token = 0;
  }

  bool finite_times = true;
  for (const auto& t : steps)
    finite_times = finite_times && std::isfinite(t.model_ms) && std::isfinite(t.policy_ms);
  const hae::ReportSummary summary = hae::summarizeRun(info, steps);
  const std::string json = hae::reportJson(info, steps, answer);
  hae::RunReport r;
  try {
    r = hae::readRunReportJson(json, "written.json");
  } catch (const hae::Error& e) {
    require(false, std::string("the writer's report does not read: ") + e.what());
  }
  // What the reader gives back: non-finite numbers as NaN.
  for (auto& t : steps) {
    t.model_ms = canonical(t.model_ms);
    t.policy_ms = canonical(t.policy_ms);
    for (auto& l : t.layers) l.ms = canonical(l.ms);
    for (auto& e : t.events) e.score = canonical(e.score);
    for (auto& pr : t.probes) {
      for (int m = 0; m < hae::kModalityCount; ++m) {
        pr.attn_variance[m] = canonical(pr.attn_variance[m]);
        pr.sparsity[m] = canonical(pr.sparsity[m]);
      }
      pr.overlap_with_first = canonical(pr.overlap_with_first);
    }
  }
  const std::string info_diff = hae::test::firstDifference(info, r.info);
  require(info_diff.empty(), "read-back info differs at " + info_diff);
  const std::string steps_diff = hae::test::firstDifference(steps, r.steps);
  require(steps_diff.empty(), "read-back steps differ at " + steps_diff);
  require(r.answer == answer, "read-back answer differs");
  const std::string summary_diff = hae::test::firstDifference(summary, r.summary);
  require(!finite_times || summary_diff.empty(), "read-back summary differs at " + summary_diff);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 0 && data[0] == 0) {
    FuzzedDataProvider provider(data + 1, size - 1);
    roundTripTelemetry(provider);
    return 0;
  }
  const std::string text(reinterpret_cast<const char*>(data), size);
  hae::RunReport r;
  try {
    r = hae::readRunReportJson(text, "fuzz.json");
  } catch (const hae::Error&) {
    return 0;
  }
  const std::string again = hae::reportJson(r.info, r.steps, r.answer);
  hae::RunReport back;
  try {
    back = hae::readRunReportJson(again, "rewritten.json");
  } catch (const hae::Error& e) {
    require(false, std::string("the rewritten report does not read: ") + e.what());
  }
  const std::string info = hae::test::firstDifference(r.info, back.info);
  require(info.empty(), "rewritten info differs at " + info);
  const std::string steps = hae::test::firstDifference(r.steps, back.steps);
  require(steps.empty(), "rewritten steps differ at " + steps);
  require(r.answer == back.answer, "rewritten answer differs");
  const std::string summary = hae::test::firstDifference(r.summary, back.summary);
  require(summary.empty(), "rewritten summary differs at " + summary);
  bool unknown_times = false;  // then the file's null sums stand (see readRunReportJson)
  for (const auto& t : r.steps)
    unknown_times = unknown_times || std::isnan(t.model_ms) || std::isnan(t.policy_ms);
  const std::string recomputed =
      hae::test::firstDifference(r.summary, hae::summarizeRun(r.info, r.steps));
  require(unknown_times || recomputed.empty(), "summary is not summarizeRun's at " + recomputed);
  (void)hae::reportCsv(r.info, r.steps);
  (void)hae::reportTrace(r.info, r.steps);
  return 0;
}
