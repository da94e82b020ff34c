// `hae run`: answer a question about images under a policy, printing the answer and per-step
// timing (the CLI's main job).
#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include "cli_context.h"
#include "hae/error.h"
#include "hae/report.h"
#include "hae/session.h"
#ifdef HAE_CLI_HAS_QT
#include "pdf_report_qt.h"
#endif

namespace hae::cli {

namespace {

struct RunArgs {
  SessionOptions session;
  std::vector<std::string> images;
  std::string prompt;
  std::vector<std::string> sets;
  std::vector<std::string> reports;  // written after the run, format by ending
  bool timing = true;
};

void runRun(RunArgs& a) {
  a.session.knobs = parseSets(a.sets);
#ifdef HAE_CLI_HAS_QT
  installPdfReportWriter();
#endif
  // A mistyped report path should fail before minutes of decoding, not after.
  for (const auto& path : a.reports) checkReportPath(path);
  Session session(a.session);
  const StepTelemetry& pre = session.prefill(a.prompt, a.images);
  const RunInfo& run = session.runInfo();
  spdlog::info("model {} | policy {} | prompt {} tokens ({} visual) | prefill {:.1f} ms (policy {:.2f} ms) | "
               "cache {:.1f} KiB",
               run.model_name, run.policy_name, run.tokens.size(), run.visual_tokens.size(),
               pre.model_ms + pre.policy_ms, pre.policy_ms, pre.totalBytes() / 1024.0);
  double decode_ms = 0;
  int steps = 0;
  while (auto t = session.step()) {
    decode_ms += t->model_ms + t->policy_ms;
    ++steps;
    spdlog::debug("step {:3d} {:>12} {:7.2f} ms (policy {:.3f} ms) cache {:.1f} KiB", t->step,
                  fmt::format("'{}'", t->token_text), t->model_ms + t->policy_ms, t->policy_ms,
                  t->totalBytes() / 1024.0);
  }
  fmt::print("{}\n", session.answer());
  if (const auto sh = summarizeShadow(session.history())) {
    // Issue 16: what eviction cost against the full-cache shadow (the same weights, a second cache).
    const int diverged = session.firstDivergenceStep();
    fmt::print("shadow ({}): KL mean {:.4g}, worst {:.4g} (step {}) | top-1 agreement {:.1f} % | "
               "missed attention visual {:.4f}, text {:.4f} | first divergence {} | regretted "
               "purges {}, timely restores {} | shadow {:.1f} ms\n",
               a.session.shadow.mode, sh->mean_kl, sh->worst_kl, sh->worst_kl_step,
               100 * sh->top1_agreement, sh->mean_missed_visual, sh->mean_missed_text,
               a.session.shadow.mode == "free" ? (diverged >= 0 ? fmt::format("step {}", diverged) : "none")
                                               : "n/a (forced)",
               sh->regretted_purges, sh->timely_restores, sh->shadow_ms);
    if (a.session.shadow.mode == "free" && diverged >= 0)
      fmt::print("shadow answer: {}\n", session.shadowAnswer());
  }
  if (steps > 0)
    spdlog::info("decode: {} tokens, {:.2f} ms/token, final cache {:.1f} KiB", steps, decode_ms / steps,
                 session.history().back().totalBytes() / 1024.0);
  for (const auto& path : a.reports) {
    writeReport(path, session.runInfo(), session.history(), session.answer());
    spdlog::info("wrote {} report {}", reportFormatName(reportFormatFor(path)), path);
  }
}

}  // namespace

void addRunCommand(CLI::App& app, const GlobalOptions&) {
  auto args = std::make_shared<RunArgs>();
  auto* cmd = app.add_subcommand("run", "Answer a question about one or more images under an eviction policy");
  auto* model = cmd->add_option("--model", args->session.model_dir,
                                "Hugging Face model folder (default: the embedded demo model)")
                    ->check(CLI::ExistingDirectory);
  cmd->add_option("--random-init", args->session.random_init,
                  "config.json: build that architecture with seeded random weights (profiling)")
      ->check(CLI::ExistingFile)
      ->excludes(model);
  cmd->add_option("--image", args->images, "image file (repeat for several images)")->check(CLI::ExistingFile);
  cmd->add_option("--prompt", args->prompt, "the question; '<image>' places an image inside it")->required();
  cmd->add_option("--policy", args->session.policy, "eviction policy (see `hae policies`)");
  cmd->add_option("--set", args->sets, "policy knob NAME=VALUE (repeatable)");
  cmd->add_option("--report", args->reports,
                  "write a report after the run, format by ending: .json, .csv, .trace.json (Perfetto), "
                  ".html or .pdf (repeatable)");
  cmd->add_option("--max-new-tokens", args->session.max_new_tokens, "stop after N tokens")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--temperature", args->session.sampling.temperature, "0 = greedy")
      ->check(FiniteRange(0, 100));
  cmd->add_option("--top-p", args->session.sampling.top_p, "nucleus sampling mass")
      ->check(FiniteRange(0, 1));
  cmd->add_option("--seed", args->session.sampling.seed, "sampling (and random-init) seed");
  cmd->add_option("--dtype", args->session.dtype, "fp32, bf16 (or fp16 on CUDA)")
      ->check(CLI::IsMember({"fp32", "bf16", "fp16"}));
  cmd->add_option("--device", args->session.device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_option("--image-longest-edge", args->session.image_longest_edge,
                  "SmolVLM/Idefics3: resize each image's longest edge to N px before cutting it into the vision "
                  "tower's tiles (SmolVLM: 512 px tiles; default from preprocessor_config.json, 2048 = up to 4x4 "
                  "tiles + a global image; 512 = one tile)")
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--num-crops", args->session.image_num_crops,
                  "Phi-3.5-V: most 336 px crops per image in the HD transform (default: preprocessor_config.json, "
                  "else 4; the model card suggests 16 for a single image)")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--image-min-pixels", args->session.image_min_pixels,
                  "Qwen2-VL / Qwen2.5-VL: smart_resize's lower bound on an image's pixels (default: "
                  "preprocessor_config.json's min_pixels, 3136)")
      ->check(CLI::Range(784LL, 1LL << 30));
  cmd->add_option("--image-max-pixels", args->session.image_max_pixels,
                  "Qwen2-VL / Qwen2.5-VL: smart_resize's upper bound (default: max_pixels, 12845056 "
                  "for the real models; 200704 = 256 merged tokens of 28x28 px)")
      ->check(CLI::Range(784LL, 1LL << 30));
  cmd->add_option("--force-keep", args->session.overrides.force_keep,
                  "what-if edit: original token positions no eviction may drop (comma separated; "
                  "the report's override.keep)")
      ->delimiter(',');
  cmd->add_option("--force-evict", args->session.overrides.force_evict,
                  "what-if edit: original token positions dropped from every layer at the end of "
                  "prefill (comma separated; the report's override.evict)")
      ->delimiter(',');
  cmd->add_option("--shadow", args->session.shadow.mode,
                  "full-cache shadow over the same weights (a second KV cache): forced = fed the "
                  "policy run's tokens, free = decodes on its own; measures KL, top-1 agreement and "
                  "the attention the policy's cache missed at every step (printed after the answer, "
                  "and in the reports); default off")
      ->check(CLI::IsMember({"off", "forced", "free"}));
  cmd->add_option("--shadow-threshold", args->session.shadow.regret_threshold,
                  "HAE: full-model attention above which a purged token counts as regretted, and a "
                  "restored one as timely (default 0.01)")
      ->check(FiniteRange(0, 1));
  cmd->add_option("--shadow-window", args->session.shadow.restore_window,
                  "HAE: steps after a restore within which full-model attention makes it timely "
                  "(default 4)")
      ->check(CLI::Range(0, 1000000));
  cmd->callback([args] { runRun(*args); });
}

}  // namespace hae::cli
