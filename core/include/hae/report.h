#pragma once
// Profiling reports from a single run: JSON (versioned schema), CSV, Chrome trace-event JSON,
// self-contained HTML, and PDF (written with Qt, so delegated to a writer the Qt side installs).
// Torch-free and Qt-free: everything here works from the plain telemetry structs.
#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "hae/telemetry.h"

namespace hae {

enum class ReportFormat { Json, Csv, Trace, Html, Pdf };

// The format a path asks for by its ending (case-insensitive): .trace.json, .json, .csv, .html
// (or .htm), .pdf. Throws hae::Error naming the path for any other ending.
ReportFormat reportFormatFor(const std::string& path);
const char* reportFormatName(ReportFormat format);

// The JSON report's identity; bump the version whenever a field changes meaning or goes away.
inline constexpr const char* kRunReportSchema = "hae-studio/run-report";
// Version 2 (issue 16) adds the optional per-step shadow, regrets and attention; version 1 files
// (which have none of them) still read.
inline constexpr int kRunReportSchemaVersion = 2;
inline constexpr int kOldestRunReportSchemaVersion = 1;
// A run's recorded attention (StepTelemetry::attention) goes into the JSON report only while all
// its steps hold at most this many values together (about 40 MB of JSON); the shadow's
// visual_attention is always written.
inline constexpr std::size_t kMaxReportAttentionValues = std::size_t{1} << 22;

// Headline numbers shared by every format, so the JSON, HTML and PDF never disagree.
struct ReportSummary {
  int prompt_tokens = 0;
  int visual_tokens = 0;
  int generated_tokens = 0;  // decode steps recorded
  double prefill_ms = 0, prefill_model_ms = 0, prefill_policy_ms = 0;
  double decode_ms = 0, decode_model_ms = 0, decode_policy_ms = 0;  // all decode steps
  double decode_ms_per_token = 0;                                   // 0 when nothing was generated
  double policy_share = 0;  // policy ms / (model + policy ms), whole run
  std::int64_t peak_cache_bytes = 0, mean_cache_bytes = 0, final_cache_bytes = 0;
  // What a full cache would hold at the end: (prompt + generated tokens) x kv_bytes_per_token.
  // Unknown when the run did not report kv_bytes_per_token.
  std::optional<std::int64_t> full_cache_bytes;
  // What the slots held at the end (live + recycle bin, all layers) take at the model's bytes per
  // slot. Compared with the full cache instead of final_cache_bytes, which counts allocated
  // storage, headroom included, and so can exceed the full cache's token bytes.
  std::optional<std::int64_t> held_cache_bytes;
  std::optional<double> reduction_vs_full;  // 1 - held / full
};
ReportSummary summarizeRun(const RunInfo& info, const std::vector<StepTelemetry>& steps);

// Issue 16: the full-cache shadow's numbers over a run (steps with StepTelemetry::shadow), shared
// by `hae run`'s summary line and the HTML report. Missed mass is the mean over layers of one
// step's missed attention, then the mean over the measured steps; "text" is every modality but
// visual. nullopt when no step has a shadow.
struct ShadowSummary {
  int steps = 0;                  // steps measured (prefill included)
  double mean_kl = 0, worst_kl = 0;
  int worst_kl_step = 0;
  double top1_agreement = 0;      // share of measured steps whose argmaxes agree
  double mean_missed_visual = 0, mean_missed_text = 0;
  double worst_missed = 0;        // one layer's whole missed mass, worst over layers and steps
  double shadow_ms = 0;           // the shadow's own time, whole run
  int regretted_purges = 0, timely_restores = 0;
  // Free-running shadow: the first decode step whose token differs (-1: none measured).
  int first_divergence = -1;
};
std::optional<ShadowSummary> summarizeShadow(const std::vector<StepTelemetry>& steps);

// Each writer returns the whole file; reports are small (megabytes at most).
std::string reportJson(const RunInfo& info, const std::vector<StepTelemetry>& steps,
                       const std::string& answer);
std::string reportCsv(const RunInfo& info, const std::vector<StepTelemetry>& steps);
std::string reportTrace(const RunInfo& info, const std::vector<StepTelemetry>& steps);

struct HtmlReportOptions {
  // Layers whose overlay is shown at the final step; empty: first, middle and last.
  std::vector<int> overlay_layers;
  int overlay_max_width = 420;  // pixels of each overlay picture
};
std::string reportHtml(const RunInfo& info, const std::vector<StepTelemetry>& steps,
                       const std::string& answer, const HtmlReportOptions& options = {});

// The compact patch-state string of one layer: one character per visual token, 'k' kept,
// 'b' in the recycle bin, 'e' evicted.
std::string patchStateString(const std::vector<PatchState>& states);

// The overlay picture (kept / in bin / evicted patches on the prompt's images) as PNG bytes, for
// one layer at one step. Images that cannot be read are drawn as grey placeholders.
std::vector<std::uint8_t> overlayPng(const RunInfo& info, const StepTelemetry& step, int layer,
                                     int max_width);

// Writes through a temporary file in the same folder that is renamed over `path` only after
// `write` returned and the data reached the disk, so readers never see a half file under the final
// name. When `write` throws, or anything fails, the temporary file is removed and the error is
// rethrown (hae::Error naming `path` for I/O failures).
void writeFileAtomically(const std::string& path, const std::function<void(std::ostream&)>& write);
void writeFileAtomically(const std::string& path, const std::string& contents);
// For writers that need a file name (Qt's QPdfWriter): `write` receives the temporary path.
void writeFileAtomicallyVia(const std::string& path,
                            const std::function<void(const std::string& temp_path)>& write);

// PDF needs Qt, which core never links; a Qt-side module installs the writer (the CLI does when
// built with the GUI). The writer must write atomically and throw hae::Error on failure.
using PdfReportWriter =
    std::function<void(const std::string& path, const RunInfo& info,
                       const std::vector<StepTelemetry>& steps, const std::string& answer)>;
void setPdfReportWriter(PdfReportWriter writer);
bool hasPdfReportWriter();

// Throws what writeReport would throw up front for `path`: an unknown ending, a PDF with no PDF
// writer installed, a folder that does not exist. Lets the CLI fail before a long run.
void checkReportPath(const std::string& path);

// For a flag that names an output folder (`--out DIR`, created when missing): throws hae::Error
// "FLAG PATH: exists and is not a folder" when PATH, or the nearest part of it that exists, is a
// file, so a command refuses before any work instead of failing later with a filesystem error.
void checkOutputFolder(const std::string& flag, const std::string& path);
// For a flag that names an output file: throws hae::Error naming the flag and PATH when PATH is a
// folder or its folder does not exist.
void checkOutputFile(const std::string& flag, const std::string& path);

// Writes one report, the format chosen by the path's ending. Throws hae::Error naming the path
// for an unknown ending, an unwritable path, or a PDF when no PDF writer is installed.
void writeReport(const std::string& path, const RunInfo& info,
                 const std::vector<StepTelemetry>& steps, const std::string& answer);

}  // namespace hae
