// Checkpoint tensor names and shapes from a config alone. They mirror the module constructors in
// core/src/models and core/src/text (test_model_config checks them against every reference
// checkpoint's headers, so the two cannot drift apart unnoticed).
#include "hae/weight_manifest.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "hae/error.h"
#include "hae/qwen2vl_config.h"
#include "hae/safetensors.h"

namespace hae {

namespace {

using Shape = std::vector<std::int64_t>;

class ManifestBuilder {
 public:
  ManifestBuilder(std::vector<ExpectedTensor>& out, std::string name_prefix, std::string key_prefix)
      : out_(out), name_prefix_(std::move(name_prefix)), key_prefix_(std::move(key_prefix)) {}

  // `keys`: comma-separated config keys, each prefixed with this block's config section.
  void add(const std::string& name, Shape shape, const std::string& keys) {
    std::string named;
    std::stringstream in(keys);
    for (std::string key; std::getline(in, key, ',');)
      named += (named.empty() ? "" : ", ") + key_prefix_ + key;
    out_.push_back({name_prefix_ + name, std::move(shape), named});
  }
  void linear(const std::string& name, std::int64_t out, std::int64_t in, bool bias,
              const std::string& keys, const std::string& out_keys) {
    add(name + ".weight", {out, in}, keys);
    if (bias) add(name + ".bias", {out}, out_keys);
  }
  void layerNorm(const std::string& name, std::int64_t dim) {
    add(name + ".weight", {dim}, "hidden_size");
    add(name + ".bias", {dim}, "hidden_size");
  }

 private:
  std::vector<ExpectedTensor>& out_;
  std::string name_prefix_, key_prefix_;
};

// CLIPVisionTransformer (LLaVA, Phi-3.5-V) or SigLIP's (Idefics3) under `prefix`.
void visionTower(std::vector<ExpectedTensor>& out, const std::string& prefix,
                 const VisionConfig& v, const std::string& key_prefix, bool siglip) {
  ManifestBuilder b(out, prefix, key_prefix);
  const std::int64_t d = v.hidden_size, i = v.intermediate_size;
  const std::int64_t patches = std::int64_t(v.gridSize()) * v.gridSize();
  b.add("embeddings.patch_embedding.weight", {d, v.num_channels, v.patch_size, v.patch_size},
        "hidden_size,num_channels,patch_size");
  if (siglip) {
    b.add("embeddings.patch_embedding.bias", {d}, "hidden_size");
    b.add("embeddings.position_embedding.weight", {patches, d}, "image_size,patch_size,hidden_size");
  } else {
    b.add("embeddings.class_embedding", {d}, "hidden_size");
    b.add("embeddings.position_embedding.weight", {patches + 1, d},
          "image_size,patch_size,hidden_size");
    b.layerNorm("pre_layrnorm", d);
  }
  for (int l = 0; l < v.num_hidden_layers; ++l) {
    const std::string layer = fmt::format("encoder.layers.{}.", l);
    for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"})
      b.linear(layer + "self_attn." + proj, d, d, true, "hidden_size", "hidden_size");
    b.layerNorm(layer + "layer_norm1", d);
    b.linear(layer + "mlp.fc1", i, d, true, "intermediate_size,hidden_size", "intermediate_size");
    b.linear(layer + "mlp.fc2", d, i, true, "hidden_size,intermediate_size", "hidden_size");
    b.layerNorm(layer + "layer_norm2", d);
  }
  b.layerNorm("post_layernorm", d);
}

// LlamaModel under `prefix` (embed_tokens, layers, norm). `fused`: Phi-3's qkv_proj and
// gate_up_proj, which the loader splits into the Llama modules' parts.
void llamaModel(std::vector<ExpectedTensor>& out, const std::string& prefix, const TextConfig& t,
                const std::string& key_prefix, bool fused) {
  ManifestBuilder b(out, prefix, key_prefix);
  const std::int64_t h = t.hidden_size, mlp = t.intermediate_size;
  const std::int64_t q = std::int64_t(t.num_attention_heads) * t.head_dim;
  const std::int64_t kv = std::int64_t(t.num_key_value_heads) * t.head_dim;
  const std::string qkeys = "num_attention_heads,head_dim,hidden_size";
  const std::string kvkeys = "num_key_value_heads,head_dim,hidden_size";
  b.add("embed_tokens.weight", {t.vocab_size, h}, "vocab_size,hidden_size");
  for (int l = 0; l < t.num_hidden_layers; ++l) {
    const std::string layer = fmt::format("layers.{}.", l);
    const bool ab = t.attention_bias, mb = t.mlp_bias;
    if (fused) {
      b.add(layer + "self_attn.qkv_proj.weight", {q + 2 * kv, h},
            "num_attention_heads,num_key_value_heads,head_dim,hidden_size");
      b.add(layer + "mlp.gate_up_proj.weight", {2 * mlp, h}, "intermediate_size,hidden_size");
    } else {
      b.add(layer + "self_attn.q_proj.weight", {q, h}, qkeys);
      b.add(layer + "self_attn.k_proj.weight", {kv, h}, kvkeys);
      b.add(layer + "self_attn.v_proj.weight", {kv, h}, kvkeys);
      b.add(layer + "mlp.gate_proj.weight", {mlp, h}, "intermediate_size,hidden_size");
      b.add(layer + "mlp.up_proj.weight", {mlp, h}, "intermediate_size,hidden_size");
    }
    if (ab) {
      b.add(layer + "self_attn.q_proj.bias", {q}, "num_attention_heads,head_dim");
      b.add(layer + "self_attn.k_proj.bias", {kv}, "num_key_value_heads,head_dim");
      b.add(layer + "self_attn.v_proj.bias", {kv}, "num_key_value_heads,head_dim");
    }
    b.linear(layer + "self_attn.o_proj", h, q, ab, "hidden_size,num_attention_heads,head_dim",
             "hidden_size");
    if (mb) {
      b.add(layer + "mlp.gate_proj.bias", {mlp}, "intermediate_size");
      b.add(layer + "mlp.up_proj.bias", {mlp}, "intermediate_size");
    }
    b.linear(layer + "mlp.down_proj", h, mlp, mb, "hidden_size,intermediate_size", "hidden_size");
    b.add(layer + "input_layernorm.weight", {h}, "hidden_size");
    b.add(layer + "post_attention_layernorm.weight", {h}, "hidden_size");
  }
  b.add("norm.weight", {h}, "hidden_size");
}

void lmHead(std::vector<ExpectedTensor>& out, const std::string& name, const TextConfig& t,
            const std::string& key_prefix) {
  ManifestBuilder(out, "", key_prefix)
      .add(name, {t.vocab_size, t.hidden_size}, "vocab_size,hidden_size");
}

std::string shapeText(const Shape& s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

bool isFloat(DType d) {
  return d == DType::F32 || d == DType::F16 || d == DType::BF16 || d == DType::F64;
}

std::string gigabytes(double bytes) { return fmt::format("{:.2f} GB", bytes / 1e9); }

// A cgroup v2 (or v1) memory limit on this process, if one is set.
std::optional<std::uint64_t> cgroupLimit() {
  for (const char* path : {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    std::ifstream in(path);
    std::string text;
    if (in >> text && text != "max") {
      try {
        return std::stoull(text);
      } catch (const std::exception&) {
      }
    }
  }
  return std::nullopt;
}

}  // namespace

std::vector<ExpectedTensor> llavaManifest(const LlavaConfig& c) {
  std::vector<ExpectedTensor> out;
  visionTower(out, "vision_tower.vision_model.", c.vision, "vision_config.", false);
  const std::int64_t in = std::int64_t(c.vision.hidden_size) * c.vision_feature_layers.size();
  const std::int64_t h = c.text.hidden_size;
  ManifestBuilder projector(out, "multi_modal_projector.", "");
  projector.linear("linear_1", h, in, c.multimodal_projector_bias,
                   "text_config.hidden_size,vision_config.hidden_size,vision_feature_layer",
                   "text_config.hidden_size");
  projector.linear("linear_2", h, h, c.multimodal_projector_bias, "text_config.hidden_size",
                   "text_config.hidden_size");
  llamaModel(out, "language_model.model.", c.text, "text_config.", false);
  if (!c.text.tie_word_embeddings) lmHead(out, "language_model.lm_head.weight", c.text, "text_config.");
  return out;
}

std::vector<ExpectedTensor> phi3Manifest(const Phi3Config& c) {
  std::vector<ExpectedTensor> out;
  llamaModel(out, "model.", c.text, "", true);
  if (!c.text.tie_word_embeddings) lmHead(out, "lm_head.weight", c.text, "");
  if (c.has_vision) {
    const std::string prefix = "model.vision_embed_tokens.";
    visionTower(out, prefix + "img_processor.vision_model.", c.vision, "img_processor.vision_config.",
                false);
    const std::int64_t wide = 4 * std::int64_t(c.image_dim_out), h = c.text.hidden_size;
    ManifestBuilder b(out, prefix, "");
    b.add("glb_GN", {1, 1, wide}, "img_processor.image_dim_out");
    b.add("sub_GN", {1, 1, 1, wide}, "img_processor.image_dim_out");
    b.linear("img_projection.0", h, wide, true, "hidden_size,img_processor.image_dim_out",
             "hidden_size");
    b.linear("img_projection.2", h, h, true, "hidden_size", "hidden_size");
  }
  return out;
}

std::vector<ExpectedTensor> idefics3Manifest(const Idefics3Config& c) {
  std::vector<ExpectedTensor> out;
  visionTower(out, "model.vision_model.", c.vision, "vision_config.", true);
  const std::int64_t in = std::int64_t(c.vision.hidden_size) * c.scale_factor * c.scale_factor;
  ManifestBuilder(out, "model.connector.modality_projection.", "")
      .add("proj.weight", {c.text.hidden_size, in},
           "text_config.hidden_size,vision_config.hidden_size,scale_factor");
  llamaModel(out, "model.text_model.", c.text, "text_config.", false);
  if (!c.tiedEmbeddings()) lmHead(out, "lm_head.weight", c.text, "text_config.");
  return out;
}

std::vector<ExpectedTensor> qwen2vlManifest(const Qwen2VLConfig& c) {
  std::vector<ExpectedTensor> out;
  const Qwen2VLVisionConfig& v = c.vision;
  const std::int64_t d = v.width, mlp = v.intermediate_size, merged = d * v.mergeUnit();
  const std::string width = v.qwen25 ? "hidden_size" : "embed_dim";
  const std::string inner = v.qwen25 ? "intermediate_size" : "embed_dim,mlp_ratio";
  ManifestBuilder b(out, "visual.", "vision_config.");
  b.add("patch_embed.proj.weight", {d, v.in_channels, v.temporal_patch_size, v.patch_size, v.patch_size},
        width + ",in_channels,temporal_patch_size,patch_size");
  for (int l = 0; l < v.depth; ++l) {
    const std::string block = fmt::format("blocks.{}.", l);
    for (const char* norm : {"norm1", "norm2"}) {
      b.add(block + norm + ".weight", {d}, width);
      if (!v.qwen25) b.add(block + norm + ".bias", {d}, width);
    }
    b.linear(block + "attn.qkv", 3 * d, d, true, width, width);
    b.linear(block + "attn.proj", d, d, true, width, width);
    if (v.qwen25) {
      b.linear(block + "mlp.gate_proj", mlp, d, true, inner + "," + width, inner);
      b.linear(block + "mlp.up_proj", mlp, d, true, inner + "," + width, inner);
      b.linear(block + "mlp.down_proj", d, mlp, true, width + "," + inner, width);
    } else {
      b.linear(block + "mlp.fc1", mlp, d, true, inner, inner);
      b.linear(block + "mlp.fc2", d, mlp, true, inner, width);
    }
  }
  b.add("merger.ln_q.weight", {d}, width);
  if (!v.qwen25) b.add("merger.ln_q.bias", {d}, width);
  b.linear("merger.mlp.0", merged, merged, true, width + ",spatial_merge_size", width);
  const std::string out_key = v.qwen25 ? "out_hidden_size" : "hidden_size";
  b.linear("merger.mlp.2", v.out_hidden_size, merged, true, out_key + "," + width, out_key);
  // The Qwen2 decoder: Llama's tensors plus q/k/v biases (o_proj has none).
  TextConfig t = c.text;
  t.attention_bias = false;
  llamaModel(out, "model.", t, "", false);
  ManifestBuilder q(out, "model.", "");
  const std::int64_t qd = std::int64_t(t.num_attention_heads) * t.head_dim;
  const std::int64_t kvd = std::int64_t(t.num_key_value_heads) * t.head_dim;
  for (int l = 0; l < t.num_hidden_layers; ++l) {
    const std::string layer = fmt::format("layers.{}.self_attn.", l);
    q.add(layer + "q_proj.bias", {qd}, "num_attention_heads,hidden_size");
    q.add(layer + "k_proj.bias", {kvd}, "num_key_value_heads,hidden_size,num_attention_heads");
    q.add(layer + "v_proj.bias", {kvd}, "num_key_value_heads,hidden_size,num_attention_heads");
  }
  if (!t.tie_word_embeddings) lmHead(out, "lm_head.weight", t, "");
  return out;
}

void checkCheckpointAgainstConfig(const std::vector<ExpectedTensor>& expected,
                                  const SafetensorsArchive& archive, const std::string& config_file) {
  int bad = 0;
  std::string first;
  for (const auto& e : expected) {
    const TensorView* view = archive.find(e.name);
    std::string problem;
    if (!view)
      problem = fmt::format("{}: tensor '{}' is missing; {} implies shape {} ({})",
                            archive.source(), e.name, config_file, shapeText(e.shape), e.keys);
    else if (view->shape != e.shape)
      problem = fmt::format("{}: tensor '{}' has shape {}, but {} implies {} ({})", view->file,
                            e.name, shapeText(view->shape), config_file, shapeText(e.shape), e.keys);
    else if (!isFloat(view->dtype))
      problem = fmt::format("{}: tensor '{}' has dtype {}, expected a float type", view->file,
                            e.name, dtypeName(view->dtype));
    if (problem.empty()) continue;
    if (bad++ == 0) first = problem;
  }
  if (bad == 0) return;
  std::string more = bad > 1 ? fmt::format(" (and {} more tensors that do not match)", bad - 1) : "";
  throw Error(first + more + "; keys absent from config.json take transformers' defaults");
}

std::optional<std::uint64_t> availableMemoryBytes() {
  std::optional<std::uint64_t> available;
  std::ifstream in("/proc/meminfo");
  for (std::string key; in >> key;) {
    std::uint64_t kib = 0;
    in >> kib;
    if (key == "MemAvailable:") {
      available = kib * 1024;
      break;
    }
    in.ignore(256, '\n');
  }
  if (auto limit = cgroupLimit(); limit && (!available || *limit < *available)) available = limit;
  return available;
}

void checkModelFitsMemory(const std::vector<ExpectedTensor>& expected, int bytes_per_element,
                          const std::string& dtype_name, const std::string& what) {
  // In double: a hostile config's products overflow int64 long before they stop being refused.
  double weights = 0, largest = 0;
  const ExpectedTensor* biggest = nullptr;
  for (const auto& e : expected) {
    double n = bytes_per_element;
    for (auto d : e.shape) n *= static_cast<double>(d);
    weights += n;
    if (n > largest) largest = n, biggest = &e;
  }
  // The KV cache, activations and logits of a prompt: a fifth of the weights is generous for the
  // demo and real checkpoints alike, and the 64 MB floor covers tiny models' fixed costs.
  const double working = 0.2 * weights + 64e6;
  const auto available = availableMemoryBytes();
  if (!available || weights + working <= static_cast<double>(*available)) return;
  throw Error(fmt::format(
      "{}: the model needs {} of weights at {} plus about {} to run, but this machine has {} "
      "available; the largest tensor is '{}' {} ({})",
      what, gigabytes(weights), dtype_name, gigabytes(working), gigabytes(double(*available)),
      biggest->name, shapeText(biggest->shape), biggest->keys));
}

}  // namespace hae
