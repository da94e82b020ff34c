#include "hae/telemetry.h"

namespace hae {

const char* modalityName(Modality m) {
  switch (m) {
    case Modality::Prefix: return "prefix";
    case Modality::Visual: return "visual";
    case Modality::Separator: return "separator";
    case Modality::Text: return "text";
    case Modality::Generated: return "generated";
  }
  return "?";
}

const char* eventKindName(EventKind k) {
  switch (k) {
    case EventKind::Evict: return "evict";
    case EventKind::Demote: return "demote";
    case EventKind::Restore: return "restore";
    case EventKind::Purge: return "purge";
  }
  return "?";
}

std::int64_t StepTelemetry::totalBytes() const {
  std::int64_t total = 0;
  for (const auto& l : layers) total += l.bytes;
  return total;
}

int StepTelemetry::liveSlots(int layer) const {
  int n = 0;
  for (int c : layers.at(layer).live) n += c;
  return n;
}

const char* regretKindName(RegretKind k) {
  return k == RegretKind::RegrettedPurge ? "regretted_purge" : "timely_restore";
}

double ShadowLayer::missed() const {
  double total = 0;
  for (int m = 0; m < kModalityCount; ++m) total += missed_evicted[m] + missed_binned[m];
  return total;
}

}  // namespace hae
