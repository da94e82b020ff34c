#pragma once
// `hae bench`: a grid of policies x budgets x knob sweeps run over a dataset, one JSON line per
// (cell, case) appended as it goes, summaries as CSV / JSON / Markdown. Everything here is
// torch-free: the model is reached through the CaseRunner interface, which the CLI implements with
// a Session, so the grid, sharding, resume, metrics and summaries are tested without a model.
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hae/telemetry.h"

namespace hae::bench {

inline constexpr const char* kResultSchema = "hae-studio/bench-case";
inline constexpr const char* kSummarySchema = "hae-studio/bench-summary";
inline constexpr int kBenchSchemaVersion = 1;

// ---- Budgets -------------------------------------------------------------------------------
// A bench budget b in (0, 1] is the fraction of the full cache's prompt tokens a policy may keep,
// so one number gives every policy matched memory. budgetKnobs() is the one place that turns it
// into each policy's own knobs (the literature uses four incompatible conventions).
struct CaseShape {
  int prompt_tokens = 0;  // as the model sees the prompt (images expanded)
  int visual_tokens = 0;
};
// False for policies without a budget (full, mustdrop): they run once per knob setting.
bool policyTakesBudget(const std::string& policy);
// The knobs the budget sets for this policy (their names, for conflict checks).
std::vector<std::string> budgetKnobNames(const std::string& policy);
// One line per policy: how b maps onto its knobs (for --help, the README and summary.md).
std::string budgetConvention(const std::string& policy);
std::map<std::string, std::string> budgetKnobs(const std::string& policy, double budget,
                                               const CaseShape& shape);
// A token budget T ("64t"): the cache keeps as many prompt tokens as a visual pruner keeping T
// visual tokens, i.e. b = min(1, (prompt - visual + T) / prompt); so visual pruners keep exactly T
// visual tokens and KV policies the same number of prompt tokens. Throws for T < 1.
double budgetFromTokens(int tokens, const CaseShape& shape);
// The shape used to validate cells before anything runs (a demo-model prompt).
inline constexpr CaseShape kNominalShape{160, 144};

// ---- Grid ------------------------------------------------------------------------------------
// "[policy:]knob=value[,value...]": no policy means every policy of the block that has the knob.
struct KnobSetting {
  std::string policy;
  std::string knob;
  std::vector<std::string> values;
};
KnobSetting parseKnobSetting(const std::string& text, const std::string& flag);
std::vector<double> parseBudgets(const std::string& text);  // "0.59,0.5"; each in (0, 1]
// "0.5,64t": ratios in (0, 1] and token counts (an integer >= 1 followed by t).
struct BudgetList {
  std::vector<double> ratios;
  std::vector<int> tokens;
};
BudgetList parseBudgetList(const std::string& text);

// Whether the catalog gives `policy` the knob (throws for an unknown policy).
bool policyHasKnob(const std::string& policy, const std::string& knob);

// A block is a cartesian product: policies x budgets x sweeps, with `sets` fixed.
struct GridBlock {
  std::vector<std::string> policies;
  std::vector<double> budgets;  // empty (and no token_budgets): the policies' own defaults
  std::vector<KnobSetting> sets;
  std::vector<KnobSetting> sweeps;
  std::vector<int> token_budgets;  // "64t" budgets, after the ratios
};

struct Cell {
  int order = 0;    // position in the grid; summaries list cells in this order
  std::string key;  // "hae b=0.59 dap.r=0.001": unique, stable across runs and shards
  std::string policy;
  std::optional<double> budget;
  std::map<std::string, std::string> knobs;  // explicit knobs that differ from the defaults
  int budget_tokens = 0;                     // > 0: a token budget ("64t"), budget unset
};
// Expands the blocks, full first (the reference every case is compared with, added when missing),
// duplicates (same key) dropped. Every cell is validated against the policy catalog with the
// nominal shape; throws hae::Error naming the policy, knob or budget at fault.
std::vector<Cell> expandGrid(const std::vector<GridBlock>& blocks);
// "paper": full, HAE, H2O, SnapKV, PyramidKV, FastV, StreamingLLM at matched memory (budgets
// given, or 0.59), plus HAE's r sweep and bin-size sweep at the same budgets.
std::vector<GridBlock> presetGrid(const std::string& name, const std::vector<double>& budgets,
                                  const std::vector<int>& token_budgets = {});
std::vector<std::string> presetNames();
// The cell's knobs for one case: its explicit knobs plus what the budget maps to.
std::map<std::string, std::string> cellKnobs(const Cell& cell, const CaseShape& shape);

// ---- Cases -----------------------------------------------------------------------------------
enum class AnswerKind { Short, Long };
struct BenchCase {
  int index = 0;   // position in the dataset; the shard partition and ordering use it
  std::string id;  // "demo:17", "describe:3", "data:questions.jsonl:12"
  AnswerKind kind = AnswerKind::Short;
  std::string category;  // demo kind name ("colour_of_shape"), or the data file's "category"
  std::string question;
  std::string answer;
  std::vector<std::string> images;  // paths; demo cases get theirs from materializeImages
  std::optional<std::uint64_t> demo_seed;
  int demo_kind = -1;  // hae::demo::SampleKind for demo cases
  // How an answer is scored: exact match (demo, JSONL, open TSV questions), the option letter a
  // multiple-choice answer names (VLMEvalKit's can_infer), or yes / no (MME, POPE).
  enum class Scoring { Exact, Choice, YesNo } scoring = Scoring::Exact;
  std::map<std::string, std::string> choices;  // letter -> option text (Choice)
  // Encoded image files from a TSV (PNG, JPEG, ...), written by materializeImages.
  std::vector<std::string> image_data;
};
// The first `short_questions` short held-out questions and `descriptions` held-out descriptions
// (separate seed ranges), images not yet written.
std::vector<BenchCase> demoCases(int short_questions, int descriptions);
// A JSON-lines file of {"image": path or [paths], "question", "answer", optional "kind"
// ("short"|"long"; default: long when the answer has more than 3 words), "id", "category"}.
// Relative image paths are relative to the file's folder. Throws hae::Error naming file:line.
std::vector<BenchCase> loadJsonlCases(const std::string& path, int first_index);
// The same from a stream of JSON lines: `path` names it in messages and default ids, relative
// image paths are taken from `folder`, and `image_exists` (default: a regular file on disk) decides
// whether each image path is there.
std::vector<BenchCase> parseJsonlCases(
    std::istream& in, const std::string& path, const std::string& folder, int first_index,
    const std::function<bool(const std::string&)>& image_exists = {});
// A VLMEvalKit TSV (MMBench, MME, POPE, SEED-Bench, ...): a header row with index, image (base64;
// MMBench's short values name another row's index) or image_path, question, answer, optional
// A-Z options, hint and category. Multiple-choice rows get VLMEvalKit's prompt (Hint / Question /
// Options / "Please select the correct answer from the options above.") and letter scoring;
// yes / no answers yes / no scoring. Every row is decoded and checked as an image here, so a bad
// file fails (naming file:line and column) before anything runs or is written.
std::vector<BenchCase> loadTsvCases(const std::string& path, int first_index);
std::vector<BenchCase> parseTsvCases(std::istream& in, const std::string& path,
                                     const std::string& folder, int first_index);
// Standard base64 (whitespace ignored, padding required); nullopt when it is not base64.
std::optional<std::string> decodeBase64(const std::string& text);
// .jsonl or .tsv by the file name's ending.
std::vector<BenchCase> loadDataCases(const std::string& path, int first_index);
// Writes a demo case's images as PNG under `dir` (once; existing files are reused) and fills
// `images`. No-op for cases that already have image paths.
void materializeImages(BenchCase& c, const std::string& dir);

// ---- Sharding --------------------------------------------------------------------------------
// Shards partition the cases (round robin by index), each case with all its cells, so the full
// cache's reference for a case is computed once and in the same shard as every comparison.
struct Shard {
  int index = 1;  // 1-based
  int count = 1;
};
Shard parseShard(const std::string& text);  // "i/N", 1 <= i <= N
bool inShard(const BenchCase& c, const Shard& shard);

// ---- Metrics ---------------------------------------------------------------------------------
// The words of a normalised answer (hae::demo::normalizeAnswer, Whitespace split), pure
// punctuation dropped: the tokens token F1 counts.
std::vector<std::string> answerTokens(const std::string& text);
bool exactMatch(const std::string& predicted, const std::string& reference);
// VLMEvalKit's can_infer: the one option letter the answer names (punctuation .()[],:;!*#{}
// split off; a lone "A" in a longer answer is taken as an article), else the one option whose text
// it contains; "" when neither is unique.
std::string inferChoice(const std::string& predicted,
                        const std::map<std::string, std::string>& choices);
// VLMEvalKit's YOrN_Extraction: "yes" / "no" when the answer has one of the words only, else "".
std::string inferYesNo(const std::string& predicted);
// Whether `predicted` is right for the case under its scoring; agreement compares two outputs the
// same way (both naming the same option / yes-no, or exact match).
bool answerCorrect(const BenchCase& c, const std::string& predicted);
bool answersAgree(const BenchCase& c, const std::string& a, const std::string& b);
// SQuAD-style bag-of-tokens F1: both empty 1, one empty 0.
double tokenF1(const std::string& predicted, const std::string& reference);

// ---- One run's measurements ------------------------------------------------------------------
// With `hae bench --shadow`: the run against its teacher-forced full-cache shadow (issue 16).
struct ShadowMeasure {
  double mean_kl = 0, worst_kl = 0;  // KL(full || policy) of the next-token distributions, per step
  double top1_agreement = 0;         // share of steps whose two argmaxes agree
  // Missed attention mass (evicted + binned), mean over steps and layers: on visual tokens, and on
  // every other token (prompt text, separators, generated).
  double missed_visual = 0, missed_text = 0;
  // The first generated token (1-based) at which the full cache's greedy choice differs from the
  // policy's: where the two answers part. -1 when they never do.
  int first_divergence = -1;
  int regretted_purges = 0;  // HAE: purged tokens the full model wanted later
};
ShadowMeasure measureShadow(const std::vector<StepTelemetry>& steps);  // steps with a shadow

struct RunMeasure {
  std::string output;
  int prompt_tokens = 0, visual_tokens = 0, generated_tokens = 0;
  double prefill_ms = 0;               // model + policy, step 0
  double decode_ms = 0;                // all decode steps
  double decode_ms_per_token = 0;      // 0 when nothing was generated
  double model_ms = 0, policy_ms = 0;  // whole run
  // Bytes the cache's slots hold (live + recycle bin, all layers, at the model's bytes per token)
  // at each step; peak and mean over the run's steps.
  std::int64_t peak_bytes = 0, mean_bytes = 0;
  // Storage the cache had allocated, headroom included (as `hae run`'s report).
  std::int64_t peak_alloc_bytes = 0, mean_alloc_bytes = 0;
  std::map<std::string, std::string> settings;  // the policy's knobs as it ran (defaults included)
  std::optional<ShadowMeasure> shadow;          // when the steps carry a shadow
};
RunMeasure measureRun(const RunInfo& info, const std::vector<StepTelemetry>& steps,
                      const std::string& output);

// One JSON line of results.jsonl.
struct CaseResult {
  int cell_order = 0;
  std::string cell;
  std::string policy;
  std::optional<double> budget;
  int budget_tokens = 0;
  std::map<std::string, std::string> knobs;  // the cell's explicit knobs
  int case_index = 0;
  std::string case_id;
  AnswerKind kind = AnswerKind::Short;
  std::string category;
  std::string question, reference;
  RunMeasure run;
  std::string full_output;  // the full cache's answer on the same case
  bool em_ref = false, em_full = false;
  bool full_em_ref = false;  // the full cache's answer right (under the case's scoring)
  double f1_ref = 0, f1_full = 0;
  // The full cache's numbers on the same case, for reductions and speed-ups.
  std::int64_t full_peak_bytes = 0, full_mean_bytes = 0;
  double full_prefill_ms = 0, full_decode_ms_per_token = 0;
};
std::string resultLine(const CaseResult& r);  // one line of JSON, no newline
// Throws hae::Error naming `where` (file:line) and the field.
CaseResult parseResultLine(const std::string& line, const std::string& where);
// Reads OUT/results.jsonl. A last line without its newline is what an interrupted write leaves:
// with `repair` it is cut off the file (and the case runs again), otherwise it is an error.
std::vector<CaseResult> readResults(const std::string& path, bool repair);

// ---- Summaries -------------------------------------------------------------------------------
struct CellSummary {
  int order = 0;
  std::string cell, policy;
  std::optional<double> budget;
  int budget_tokens = 0;
  std::map<std::string, std::string> knobs;
  int cases = 0, short_cases = 0, long_cases = 0;
  double short_accuracy = 0;       // exact match vs the reference, short answers
  double full_short_accuracy = 0;  // the full cache on the same short cases
  double long_em_ref = 0, long_f1_ref = 0, long_em_full = 0, long_f1_full = 0;
  double agreement_full = 0;              // exact match with the full cache's output, all cases
  double peak_bytes = 0, mean_bytes = 0;  // means over cases
  double peak_reduction = 0;              // 1 - sum(peak) / sum(full peak) over the same cases
  double kv_reduction = 0;  // 1 - sum(mean) / sum(full mean): the headline memory number
  double prefill_ms = 0, decode_ms_per_token = 0;  // means over cases (decode: cases that decoded)
  double speedup = 0;                              // full decode ms/token / this cell's, same cases
  double prefill_speedup = 0;
  double long_speedup = 0;  // the same over long answers only (the description task's decoding)
  double policy_share = 0;  // policy ms / (model + policy ms), all cases together
  // Exact match vs the reference per category ("colour_of_shape", "describe", ...).
  std::map<std::string, double> category_accuracy;
  std::map<std::string, int> category_cases;
  // With --shadow (means over the cell's cases of ShadowMeasure; worst_kl is the cell's worst).
  int shadow_cases = 0;
  double mean_kl = 0, worst_kl = 0, top1_agreement = 0, missed_visual = 0, missed_text = 0;
  double first_divergence_median = 0;  // over the cases whose answer parts from the full cache's
  double diverged_share = 0;           // share of cases whose answer parts at all
  double regretted_purges = 0;         // per answer
};
// Sorted by (cell order, case index) first, so any split of the same records gives the same sums.
std::vector<CellSummary> summarize(std::vector<CaseResult> results);
std::string summaryCsv(const std::vector<CellSummary>& cells);
std::string summaryJson(const std::vector<CellSummary>& cells);
std::string summaryMarkdown(const std::vector<CellSummary>& cells);
// The bench's one quality number per cell for plots: short-answer accuracy where there are short
// cases, else the long answers' token F1 against the reference.
double cellQuality(const CellSummary& c);
// The cells on the Pareto front of quality (higher better) against x (lower better), by index.
enum class PlotAxis { MeanKvBytes, PrefillMs, DecodeMsPerToken };
std::vector<std::size_t> paretoFront(const std::vector<CellSummary>& cells, PlotAxis axis);
// A self-contained SVG: one circle per cell (class "cell", coloured by the policy's stage), the
// Pareto front as a polyline (class "pareto").
std::string tradeoffSvg(const std::vector<CellSummary>& cells, PlotAxis axis);
// summary.html: the table and the three plots inline, no external resources.
std::string summaryHtml(const std::vector<CellSummary>& cells);
// OUT/summary.csv, .json, .md, .html and OUT/tradeoff_{kv,prefill,decode}.svg, each atomically.
void writeSummaries(const std::string& out_dir, const std::vector<CaseResult>& results);
// Joins the results of several output folders (shards) into OUT (results.jsonl + summaries). A
// (cell, case) found twice is kept once; throws when two folders' run.json differ in a setting
// other than the shard (model, answer length, ...) or disagree on a case's reference.
std::vector<CaseResult> mergeRuns(const std::vector<std::string>& dirs, const std::string& out_dir);

// ---- Running ---------------------------------------------------------------------------------
class CaseRunner {
 public:
  virtual ~CaseRunner() = default;
  virtual RunMeasure run(const BenchCase& c, const std::string& policy,
                         const std::map<std::string, std::string>& knobs) = 0;
};

struct Progress {
  int done = 0, total = 0, skipped = 0;
  double elapsed_s = 0;
  std::string cell, case_id;
};
std::string progressLine(const Progress& p, int width);  // "[####....] 12/40 30% ... ETA 0:34"

struct BenchOptions {
  std::string out_dir;
  Shard shard;
  bool resume = false;
  // Written to OUT/run.json; a resumed run must match it (same model, answer length, ...).
  std::map<std::string, std::string> settings;
  std::function<void(const Progress&)> progress;  // after every (cell, case)
};
struct BenchStats {
  int ran = 0, skipped = 0;
  std::vector<CaseResult> results;  // everything in results.jsonl at the end
};
// OUT/run.json as a map (every value a string). Throws hae::Error naming the file when it is
// missing, malformed or not an object of strings.
std::map<std::string, std::string> readRunSettings(const std::string& path);
// Throws when OUT already holds results and resume is off, when a resumed OUT's run.json is gone
// or names another experiment, or when OUT is not a folder, so the CLI can refuse before loading
// a model. runBench checks it again.
void checkOutput(const BenchOptions& options);
// Runs every (cell, case) of the shard not yet in OUT/results.jsonl, full first on each case,
// appending one flushed line per pair; then writes the summaries.
BenchStats runBench(const std::vector<Cell>& cells, std::vector<BenchCase> cases,
                    CaseRunner& runner, const BenchOptions& options);

}  // namespace hae::bench
