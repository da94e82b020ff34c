#pragma once
// Reading a JSON run report back (the inverse of reportJson), so the studio can reopen a saved
// run. Torch-free and Qt-free like the writers.
#include <string>
#include <vector>

#include "hae/report.h"
#include "hae/telemetry.h"

namespace hae {

// What reportJson was given, plus the summary the file states (checked against summarizeRun of
// the steps; where a step's time was not finite the file's null sums cannot be recomputed and
// stand as written, NaN).
struct RunReport {
  RunInfo info;
  std::vector<StepTelemetry> steps;
  std::string answer;
  ReportSummary summary;
};

// Parses a report written by reportJson (schema "hae-studio/run-report", version
// kRunReportSchemaVersion). Every field is checked against resources/schemas/run-report.schema.json
// and against the others (layer indices, visual token indices, one patch-state character per
// visual token, cache_bytes = the layers' sum, timings and summary = summarizeRun of the steps);
// anything else throws hae::Error naming `path` and the field's JSON path, e.g.
// "run.json: steps[3].layers[1].bin: expected an integer, got string". A report from another
// schema version is refused with the version it has.
//
// What the writer does not store comes back as the defaults: a policy event's step is the step it
// is listed under; image / crop / row / col of a non-visual token are -1. Numbers the writer
// stored as null (not finite) come back as NaN. Token pieces that were not valid UTF-8 come back
// with U+FFFD where the writer replaced them.
//
// Counts beyond what any real run reaches are refused (byte counts above 2^53, live or bin slot
// counts above 2^28, kv_bytes_per_token above 2^40), so every value read back can be summed and
// multiplied by summarizeRun and the writers without overflowing.
RunReport readRunReportJson(const std::string& text, const std::string& path);

// Reads the file at `path` (refusing files over 1 GiB) and parses it with readRunReportJson.
RunReport readRunReportFile(const std::string& path);

}  // namespace hae
