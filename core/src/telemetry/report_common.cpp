// What every report format shares: choosing the format, the summary numbers, atomic file writes
// and the dispatch in writeReport.
#include <fcntl.h>
#include <unistd.h>

#include <fmt/core.h>
#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "hae/error.h"
#include "hae/report.h"

namespace hae {

namespace {

bool endsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

PdfReportWriter& pdfWriterSlot() {
  static PdfReportWriter writer;
  return writer;
}

std::string errnoText() {
  return std::strerror(errno);
}

}  // namespace

ReportFormat reportFormatFor(const std::string& path) {
  std::string lower = std::filesystem::path(path).filename().string();
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  // .trace.json first: it also ends in .json.
  if (endsWith(lower, ".trace.json") && lower.size() > 11) return ReportFormat::Trace;
  if (endsWith(lower, ".json") && lower.size() > 5) return ReportFormat::Json;
  if (endsWith(lower, ".csv") && lower.size() > 4) return ReportFormat::Csv;
  if ((endsWith(lower, ".html") && lower.size() > 5) ||
      (endsWith(lower, ".htm") && lower.size() > 4))
    return ReportFormat::Html;
  if (endsWith(lower, ".pdf") && lower.size() > 4) return ReportFormat::Pdf;
  throw Error(
      fmt::format("{}: unknown report format (use .json, .csv, .trace.json, .html or .pdf)", path));
}

const char* reportFormatName(ReportFormat format) {
  switch (format) {
    case ReportFormat::Json:
      return "json";
    case ReportFormat::Csv:
      return "csv";
    case ReportFormat::Trace:
      return "trace";
    case ReportFormat::Html:
      return "html";
    case ReportFormat::Pdf:
      return "pdf";
  }
  return "?";
}

std::string patchStateString(const std::vector<PatchState>& states) {
  std::string s(states.size(), 'k');
  for (std::size_t i = 0; i < states.size(); ++i)
    s[i] = states[i] == PatchState::InBin ? 'b' : states[i] == PatchState::Evicted ? 'e' : 'k';
  return s;
}

ReportSummary summarizeRun(const RunInfo& info, const std::vector<StepTelemetry>& steps) {
  ReportSummary s;
  s.prompt_tokens = static_cast<int>(info.tokens.size());
  s.visual_tokens = static_cast<int>(info.visual_tokens.size());
  double all_model = 0, all_policy = 0;
  double bytes_sum = 0;
  for (const auto& t : steps) {
    const std::int64_t bytes = t.totalBytes();
    s.peak_cache_bytes = std::max(s.peak_cache_bytes, bytes);
    bytes_sum += static_cast<double>(bytes);
    all_model += t.model_ms;
    all_policy += t.policy_ms;
    if (t.step == 0) {
      s.prefill_model_ms += t.model_ms;
      s.prefill_policy_ms += t.policy_ms;
    } else {
      ++s.generated_tokens;
      s.decode_model_ms += t.model_ms;
      s.decode_policy_ms += t.policy_ms;
    }
  }
  s.prefill_ms = s.prefill_model_ms + s.prefill_policy_ms;
  s.decode_ms = s.decode_model_ms + s.decode_policy_ms;
  if (s.generated_tokens > 0) s.decode_ms_per_token = s.decode_ms / s.generated_tokens;
  if (all_model + all_policy > 0) s.policy_share = all_policy / (all_model + all_policy);
  if (!steps.empty()) {
    s.mean_cache_bytes =
        static_cast<std::int64_t>(bytes_sum / static_cast<double>(steps.size()) + 0.5);
    s.final_cache_bytes = steps.back().totalBytes();
  }
  if (info.kv_bytes_per_token > 0) {
    const std::int64_t full =
        static_cast<std::int64_t>(s.prompt_tokens + s.generated_tokens) * info.kv_bytes_per_token;
    s.full_cache_bytes = full;
    const int layers = info.num_layers > 0
                           ? info.num_layers
                           : (steps.empty() ? 0 : static_cast<int>(steps.back().layers.size()));
    if (layers > 0 && !steps.empty()) {
      std::int64_t slots = 0;
      for (std::size_t l = 0; l < steps.back().layers.size(); ++l)
        slots += steps.back().liveSlots(static_cast<int>(l)) + steps.back().layers[l].bin;
      const std::int64_t held = slots * info.kv_bytes_per_token / layers;
      s.held_cache_bytes = held;
      if (full > 0)
        s.reduction_vs_full = 1.0 - static_cast<double>(held) / static_cast<double>(full);
    }
  }
  return s;
}

void writeFileAtomicallyVia(const std::string& path,
                            const std::function<void(const std::string& temp_path)>& write) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  if (target.filename().empty()) throw Error(fmt::format("{}: not a file name", path));
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  // A hidden name in the same folder: rename() is atomic only within one file system, and a
  // dot-name keeps directory watchers and globbing scripts from picking up the half file.
  // mkstemp would create the file 0600; opening it ourselves with O_EXCL lets the umask decide,
  // as for any other file the user writes.
  static std::atomic<unsigned> counter{0};
  std::string temp;
  for (int attempt = 0;; ++attempt) {
    temp = (dir / fmt::format(".{}.{}-{}.tmp", target.filename().string(), ::getpid(), counter++))
               .string();
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) {
      ::close(fd);
      break;
    }
    if (errno != EEXIST || attempt > 100)
      throw Error(fmt::format("{}: cannot write here ({})", path, errnoText()));
  }
  auto discard = [&] {
    std::error_code ec;
    fs::remove(temp, ec);
  };
  try {
    write(temp);
    // Flush the data before the rename so a crash cannot leave an empty file under the final name.
    const int sync_fd = ::open(temp.c_str(), O_RDONLY);
    if (sync_fd >= 0) {
      ::fsync(sync_fd);
      ::close(sync_fd);
    }
    if (std::rename(temp.c_str(), path.c_str()) != 0)
      throw Error(fmt::format("{}: cannot replace the file ({})", path, errnoText()));
  } catch (...) {
    discard();
    throw;
  }
}

void writeFileAtomically(const std::string& path, const std::function<void(std::ostream&)>& write) {
  writeFileAtomicallyVia(path, [&](const std::string& temp) {
    std::FILE* f = std::fopen(temp.c_str(), "wb");
    if (!f) throw Error(fmt::format("{}: cannot write here ({})", path, errnoText()));
    std::ostringstream out;
    try {
      write(out);
    } catch (...) {
      std::fclose(f);
      throw;
    }
    const std::string data = std::move(out).str();
    const bool ok = std::fwrite(data.data(), 1, data.size(), f) == data.size();
    if (std::fclose(f) != 0 || !ok)
      throw Error(fmt::format("{}: write failed ({})", path, errnoText()));
  });
}

void writeFileAtomically(const std::string& path, const std::string& contents) {
  writeFileAtomically(path, [&](std::ostream& out) { out << contents; });
}

void setPdfReportWriter(PdfReportWriter writer) {
  pdfWriterSlot() = std::move(writer);
}

bool hasPdfReportWriter() {
  return static_cast<bool>(pdfWriterSlot());
}

namespace {

Error noPdfWriter(const std::string& path) {
  return Error(
      fmt::format("{}: PDF reports are drawn with Qt and this build has no Qt "
                  "(reconfigure with -DHAE_BUILD_GUI=ON), or write .html instead",
                  path));
}

}  // namespace

void checkReportPath(const std::string& path) {
  if (reportFormatFor(path) == ReportFormat::Pdf && !hasPdfReportWriter()) throw noPdfWriter(path);
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty() && !std::filesystem::is_directory(parent, ec))
    throw Error(fmt::format("{}: cannot write here (no folder {})", path, parent.string()));
}

void checkOutputFolder(const std::string& flag, const std::string& path) {
  namespace fs = std::filesystem;
  if (path.empty()) throw Error(fmt::format("{}: give an output folder", flag));
  std::error_code ec;
  // The nearest part that exists decides: create_directories fails below a file.
  for (fs::path p = fs::path(path).lexically_normal(); !p.empty(); p = p.parent_path()) {
    const fs::file_status status = fs::status(p, ec);
    if (!fs::exists(status)) {
      if (p == p.parent_path()) break;
      continue;
    }
    if (fs::is_directory(status)) return;
    if (p == fs::path(path).lexically_normal())
      throw Error(fmt::format("{} {}: exists and is not a folder", flag, path));
    throw Error(fmt::format("{} {}: {} is not a folder", flag, path, p.string()));
  }
}

void checkOutputFile(const std::string& flag, const std::string& path) {
  namespace fs = std::filesystem;
  if (path.empty()) throw Error(fmt::format("{}: give an output file", flag));
  std::error_code ec;
  if (fs::is_directory(path, ec))
    throw Error(fmt::format("{} {}: is a folder; give a file name", flag, path));
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty() && !fs::is_directory(parent, ec))
    throw Error(fmt::format("{} {}: no folder {}", flag, path, parent.string()));
}

void writeReport(const std::string& path, const RunInfo& info,
                 const std::vector<StepTelemetry>& steps, const std::string& answer) {
  switch (reportFormatFor(path)) {
    case ReportFormat::Json:
      return writeFileAtomically(path, reportJson(info, steps, answer));
    case ReportFormat::Csv:
      return writeFileAtomically(path, reportCsv(info, steps));
    case ReportFormat::Trace:
      return writeFileAtomically(path, reportTrace(info, steps));
    case ReportFormat::Html:
      return writeFileAtomically(path, reportHtml(info, steps, answer));
    case ReportFormat::Pdf:
      if (!hasPdfReportWriter()) throw noPdfWriter(path);
      return pdfWriterSlot()(path, info, steps, answer);
  }
}

}  // namespace hae
