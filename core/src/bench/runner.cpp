// The bench loop: case by case, the full cache first (every other cell is compared with it), one
// flushed JSON line per (cell, case), so an interrupted run loses at most the pair it was on.
#include <fmt/format.h>

#include <sys/file.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "hae/bench.h"
#include "hae/error.h"
#include "hae/report.h"

namespace hae::bench {

namespace fs = std::filesystem;

namespace {

std::string clock(double seconds) {
  const long s = static_cast<long>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

// A resumed run must be the same experiment: mixing answers from another model or answer length
// into one summary would be silently wrong.
void checkRunSettings(const fs::path& path, const std::map<std::string, std::string>& settings) {
  const std::map<std::string, std::string> before_all = readRunSettings(path.string());
  for (const auto& [k, v] : settings) {
    const auto it = before_all.find(k);
    const std::string before = it == before_all.end() ? "(unset)" : it->second;
    if (before != v)
      throw Error(fmt::format("--resume: {} was '{}' in {} but is '{}' now; use another --out", k,
                              before, path.string(), v));
  }
}

CaseResult makeResult(const Cell& cell, const BenchCase& c, RunMeasure m, const CaseResult* full) {
  CaseResult r;
  r.cell_order = cell.order;
  r.cell = cell.key;
  r.policy = cell.policy;
  r.budget = cell.budget;
  r.budget_tokens = cell.budget_tokens;
  r.knobs = cell.knobs;
  r.case_index = c.index;
  r.case_id = c.id;
  r.kind = c.kind;
  r.category = c.category;
  r.question = c.question;
  r.reference = c.answer;
  r.run = std::move(m);
  const RunMeasure& f = full ? full->run : r.run;  // the full cell is its own reference
  r.full_output = f.output;
  r.em_ref = answerCorrect(c, r.run.output);
  r.f1_ref = tokenF1(r.run.output, r.reference);
  r.em_full = answersAgree(c, r.run.output, r.full_output);
  r.full_em_ref = answerCorrect(c, r.full_output);
  r.f1_full = tokenF1(r.run.output, r.full_output);
  r.full_peak_bytes = f.peak_bytes;
  r.full_mean_bytes = f.mean_bytes;
  r.full_prefill_ms = f.prefill_ms;
  r.full_decode_ms_per_token = f.decode_ms_per_token;
  return r;
}

}  // namespace

std::string progressLine(const Progress& p, int width) {
  const double frac = p.total > 0 ? static_cast<double>(p.done) / p.total : 1.0;
  const int filled = static_cast<int>(frac * width + 1e-9);
  const int ran = p.done - p.skipped;
  std::string eta = "--:--";
  if (ran > 0) eta = clock(p.elapsed_s / ran * (p.total - p.done));
  return fmt::format("[{}{}] {}/{} {:3.0f}% | {} | {} | elapsed {} | ETA {}",
                     std::string(filled, '#'), std::string(width - filled, '.'), p.done, p.total,
                     100 * frac, p.cell, p.case_id, clock(p.elapsed_s), eta);
}

std::map<std::string, std::string> readRunSettings(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(fmt::format("{}: cannot read", path));
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: malformed ({})", path, e.what()));
  }
  if (!j.is_object()) throw Error(fmt::format("{}: expected a JSON object of settings", path));
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : j.items()) {
    if (!v.is_string()) throw Error(fmt::format("{}: setting '{}' is not a string", path, k));
    out[k] = v.get<std::string>();
  }
  return out;
}

void checkOutput(const BenchOptions& o) {
  if (o.out_dir.empty()) throw Error("--out: give an output folder");
  checkOutputFolder("--out", o.out_dir);
  const fs::path results_path = fs::path(o.out_dir) / "results.jsonl";
  const fs::path run_path = fs::path(o.out_dir) / "run.json";
  const bool has_results = fs::exists(results_path) && fs::file_size(results_path) > 0;
  if (has_results && !o.resume)
    throw Error(fmt::format(
        "{} already holds results; pass --resume to continue it, or choose another --out",
        results_path.string()));
  if (!o.resume || !has_results) return;
  // Without run.json nothing says which settings the results were run with; continuing would
  // mix another model's or another answer length's results into one summary.
  if (!fs::exists(run_path))
    throw Error(
        fmt::format("--resume: {} holds results but no run.json (the settings they were "
                    "run with), so this run cannot be checked against them; use another "
                    "--out",
                    o.out_dir));
  checkRunSettings(run_path, o.settings);
}

BenchStats runBench(const std::vector<Cell>& cells, std::vector<BenchCase> cases,
                    CaseRunner& runner, const BenchOptions& o) {
  if (cells.empty() || cells.front().policy != "full" || cells.front().budget)
    throw Error("bench grid must start with the full cache (expandGrid puts it first)");
  checkOutput(o);
  const fs::path out(o.out_dir);
  fs::create_directories(out);
  const fs::path results_path = out / "results.jsonl";
  const fs::path run_path = out / "run.json";

  std::vector<BenchCase> mine;
  for (auto& c : cases)
    if (inShard(c, o.shard)) mine.push_back(std::move(c));

  std::FILE* file = std::fopen(results_path.string().c_str(), "ab");
  if (!file) throw Error(fmt::format("{}: cannot write", results_path.string()));
  // Two runs appending to one folder would run every pair twice; the lock goes with the process.
  // Only a lock held elsewhere stops the run (file systems without locks just go unguarded).
  if (::flock(fileno(file), LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
    std::fclose(file);
    throw Error(fmt::format("{}: another hae bench is writing this folder", results_path.string()));
  }
  BenchStats stats;
  std::vector<CaseResult> results;
  try {
    writeFileAtomically(run_path.string(), nlohmann::json(o.settings).dump(2) + "\n");
    results = readResults(results_path.string(), o.resume);
  } catch (...) {
    std::fclose(file);
    throw;
  }
  std::set<std::pair<std::string, std::string>> done;
  std::map<std::string, std::size_t> full_of;  // case id -> index of its full-cache result
  for (std::size_t i = 0; i < results.size(); ++i) {
    done.emplace(results[i].cell, results[i].case_id);
    if (results[i].cell == cells.front().key) full_of[results[i].case_id] = i;
  }

  auto append = [&](const CaseResult& r) {
    const std::string line = resultLine(r) + "\n";
    // Flushed per line: what a killed run did stays on disk, and --resume skips it.
    if (std::fwrite(line.data(), 1, line.size(), file) != line.size() || std::fflush(file) != 0) {
      throw Error(fmt::format("{}: write failed", results_path.string()));
    }
    results.push_back(r);
  };

  Progress p;
  p.total = static_cast<int>(cells.size() * mine.size());
  const auto start = std::chrono::steady_clock::now();
  auto tick = [&](const Cell& cell, const BenchCase& c, bool skipped) {
    ++p.done;
    if (skipped)
      ++p.skipped, ++stats.skipped;
    else
      ++stats.ran;
    p.cell = cell.key;
    p.case_id = c.id;
    p.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (o.progress) o.progress(p);
  };
  const fs::path image_dir = out / "images";
  try {
    for (BenchCase& c : mine) {
      const Cell& full_cell = cells.front();
      auto need = [&](const Cell& cell) { return !done.count({cell.key, c.id}); };
      bool any = false;
      for (const Cell& cell : cells) any = any || need(cell);
      if (!any) {
        for (const Cell& cell : cells) tick(cell, c, true);
        continue;
      }
      materializeImages(c, image_dir.string());
      if (need(full_cell)) {
        append(makeResult(full_cell, c, runner.run(c, "full", {}), nullptr));
        full_of[c.id] = results.size() - 1;
        done.emplace(full_cell.key, c.id);
        tick(full_cell, c, false);
      } else {
        tick(full_cell, c, true);
      }
      const CaseResult full = results[full_of.at(c.id)];
      const CaseShape shape{full.run.prompt_tokens, full.run.visual_tokens};
      for (std::size_t i = 1; i < cells.size(); ++i) {
        const Cell& cell = cells[i];
        if (!need(cell)) {
          tick(cell, c, true);
          continue;
        }
        RunMeasure m;
        try {
          m = runner.run(c, cell.policy, cellKnobs(cell, shape));
        } catch (const std::exception& e) {
          // LibTorch errors arrive as std::exception; name where they happened either way.
          throw Error(fmt::format("cell '{}', case {}: {}", cell.key, c.id, e.what()));
        }
        append(makeResult(cell, c, std::move(m), &full));
        done.emplace(cell.key, c.id);
        tick(cell, c, false);
      }
    }
  } catch (...) {
    std::fclose(file);
    throw;
  }
  std::fclose(file);
  writeSummaries(o.out_dir, results);
  stats.results = std::move(results);
  return stats;
}

}  // namespace hae::bench
