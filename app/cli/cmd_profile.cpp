// `hae profile`: prefill and decode speed of a model against this machine's limits, measured in one
// run (read bandwidth included, since machines differ by 2x).
#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli_context.h"
#include "hae/build_info.h"
#include "hae/profile.h"

namespace hae::cli {

namespace {

struct ProfileArgs {
  ProfileOptions options;
  std::vector<std::string> sets;
  std::string json_path;
};

nlohmann::json toJson(const ProfileResult& r) {
  return {{"model", r.model},
          {"dtype", r.dtype},
          {"threads", buildInfo().threads},
          {"prompt_tokens", r.prompt_tokens},
          {"visual_tokens", r.visual_tokens},
          {"images", r.images},
          {"prefill_s", r.prefill_s},
          {"vision_s", r.vision_s},
          {"decoder_gflop", r.decoder_gflop},
          {"decoder_gflops", r.decoder_gflops},
          {"decode_tokens", r.decode_tokens},
          {"decode_ms_mean", r.decode_ms_mean},
          {"decode_ms_best", r.decode_ms_best},
          {"decode_weight_bytes", r.weight_bytes_per_token},
          {"decode_kv_bytes_mean", r.kv_bytes_mean},
          {"read_gbps", r.read_gbps},
          {"read_gbps_samples", r.read_gbps_samples},
          {"bound_ms", r.boundMs()},
          {"ratio_to_bound", r.ratio()}};
}

void printResult(const ProfileResult& r) {
  fmt::print("model            {} ({}, {} threads)\n", r.model, r.dtype, buildInfo().threads);
  fmt::print("prompt           {} tokens ({} visual, {} image(s))\n", r.prompt_tokens,
             r.visual_tokens, r.images);
  fmt::print("prefill          {:.2f} s", r.prefill_s);
  if (r.images > 0) fmt::print(" (vision tower and projector {:.2f} s)", r.vision_s);
  fmt::print("\ndecoder prefill  {:.1f} GFLOP at {:.1f} GFLOP/s\n", r.decoder_gflop,
             r.decoder_gflops);
  fmt::print("decode           {:.2f} ms/token mean, {:.2f} best, over {} tokens\n",
             r.decode_ms_mean, r.decode_ms_best, r.decode_tokens);
  fmt::print("bytes per token  {:.1f} MB weights + {:.1f} MB cache (mean)\n",
             r.weight_bytes_per_token / 1e6, r.kv_bytes_mean / 1e6);
  const auto [low, high] =
      std::minmax_element(r.read_gbps_samples.begin(), r.read_gbps_samples.end());
  fmt::print("read bandwidth   {:.1f} GB/s (median of {} samples in this run, {:.1f}-{:.1f})\n",
             r.read_gbps, r.read_gbps_samples.size(), *low, *high);
  fmt::print("memory bound     {:.2f} ms/token; decode at {:.2f}x the bound\n", r.boundMs(),
             r.ratio());
}

void writeJson(const std::string& path, const nlohmann::json& j) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << j.dump(2) << '\n';
    if (!out) throw Error(fmt::format("--json {}: cannot write the file", path));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error(fmt::format("--json {}: cannot write the file", path));
  }
}

}  // namespace

void addProfileCommand(CLI::App& app, const GlobalOptions& global) {
  auto args = std::make_shared<ProfileArgs>();
  auto* cmd = app.add_subcommand(
      "profile",
      "Measure prefill GFLOP/s and decode ms/token of a model against this machine's memory "
      "bound (read bandwidth measured in the same run)");
  auto& o = args->options;
  auto* model = cmd->add_option("--model", o.session.model_dir,
                                "Hugging Face model folder (default: the embedded demo model)")
                    ->check(CLI::ExistingDirectory);
  cmd->add_option("--random-init", o.session.random_init,
                  "config.json: that architecture with seeded random weights (no download needed)")
      ->check(CLI::ExistingFile)
      ->excludes(model);
  cmd->add_option("--dtype", o.session.dtype, "fp32, bf16 (or fp16 on CUDA)")
      ->check(CLI::IsMember({"fp32", "bf16", "fp16"}));
  cmd->add_option("--device", o.session.device, "cpu or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_option("--prompt-tokens", o.prompt_tokens,
                  "text tokens of the prompt (random ids), after any image's tokens")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  cmd->add_option("--decode-tokens", o.decode_tokens, "tokens to decode (EOS does not stop them)")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  cmd->add_option("--image", o.images,
                  "include an image (repeatable): the vision path is timed too")
      ->check(CLI::ExistingFile);
  cmd->add_option("--image-longest-edge", o.session.image_longest_edge,
                  "SmolVLM/Idefics3 tiling, as for `hae run`")
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--num-crops", o.session.image_num_crops, "Phi-3.5-V crops, as for `hae run`")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--policy", o.session.policy, "eviction policy (default: full)");
  cmd->add_option("--set", args->sets, "policy knob NAME=VALUE (repeatable)");
  cmd->add_option("--seed", o.session.sampling.seed, "random-init seed");
  cmd->add_option("--json", args->json_path, "also write the figures to this JSON file");
  cmd->add_option("--op-trace", o.op_trace,
                  "write LibTorch's per-operator timeline of the prefill and decode to this file "
                  "(Chrome trace JSON: chrome://tracing or ui.perfetto.dev)");
  cmd->callback([args, &global] {
    args->options.session.knobs = parseSets(args->sets);
    args->options.threads = global.threads;
    const auto result = runProfile(
        args->options, [](const std::string& stage) { spdlog::info("profile: {}...", stage); });
    printResult(result);
    if (!args->json_path.empty()) writeJson(args->json_path, toJson(result));
  });
}

}  // namespace hae::cli
