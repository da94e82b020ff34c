// The decode kernels (text/gemv.h, text/decode_rows.h) and the stacked projections (text/llama.h)
// against double precision references, on shapes that reach every edge case of the kernels.
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "text/decode_rows.h"
#include "text/gemv.h"
#include "text/llama.h"
#include "text/rope.h"

namespace hae {
namespace {

// Each output within 1e-5 of the sum of its terms' sizes (float sums in any order stay within
// k * 2^-24 of that), plus one rounding of the output's dtype.
void expectRowsClose(const torch::Tensor& got, const torch::Tensor& w, const torch::Tensor& x,
                     const torch::Tensor& bias) {
  auto wd = w.to(torch::kFloat64), xd = x.to(torch::kFloat64);
  auto ref = torch::mm(xd, wd.t());
  if (bias.defined()) ref = ref + bias.to(torch::kFloat64);
  const auto size = torch::mm(xd.abs(), wd.abs().t());
  const double out_ulp = got.scalar_type() == torch::kBFloat16 ? 1.0 / 128 : 1.0 / (1 << 23);
  const auto allowed = size * 1e-5 + ref.abs() * out_ulp + 1e-30;
  const auto err = (got.to(torch::kFloat64) - ref).abs();
  EXPECT_TRUE((err <= allowed).all().item<bool>())
      << "worst excess " << (err - allowed).max().item<double>();
}

class RowProduct : public ::testing::TestWithParam<torch::ScalarType> {};

TEST_P(RowProduct, MatchesDoublePrecisionOnOddShapes) {
  torch::manual_seed(0);
  for (auto [out, k] :
       {std::pair{1, 1}, {3, 15}, {5, 17}, {7, 31}, {9, 33}, {67, 100}, {130, 1031}}) {
    auto w = torch::randn({out, k}).to(GetParam()), x = torch::randn({1, k}).to(GetParam());
    auto b = torch::randn({out}).to(GetParam());
    if (!rowProductSupported(w, x)) GTEST_SKIP() << "no AVX-512 on this CPU";
    expectRowsClose(rowProduct(w, {}, x), w, x, {});
    expectRowsClose(rowProduct(w, b, x), w, x, b);
    auto wide = torch::randn({out, k + 9}).to(GetParam());  // rows with a stride
    auto view = wide.narrow(1, 3, k);
    expectRowsClose(rowProduct(view, {}, x), view, x, {});
  }
}

// A build without OpenMP for the kernels runs at::parallel_for serially: decode then used one of
// the two cores, at 1.4-1.7x the time per token, and nothing else failed.
TEST(RowProductThreads, EveryThreadJoinsTheKernels) {
  const int threads = at::get_num_threads();
  at::set_num_threads(2);
  EXPECT_EQ(rowProductThreads(), 2);
  at::set_num_threads(threads);
}

TEST_P(RowProduct, SameResultAtAnyThreadCountAndRowStacking) {
  torch::manual_seed(1);
  auto w = torch::randn({4099, 517}).to(GetParam()), x = torch::randn({1, 517}).to(GetParam());
  if (!rowProductSupported(w, x)) GTEST_SKIP() << "no AVX-512 on this CPU";
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const auto one = rowProduct(w, {}, x);
  at::set_num_threads(2);
  const auto two = rowProduct(w, {}, x);
  at::set_num_threads(threads);
  // Exact: each row's sum runs the same instructions in the same order wherever it is computed.
  EXPECT_TRUE(torch::equal(one, two));
  const auto part = rowProduct(w.narrow(0, 1001, 37), {}, x);
  EXPECT_TRUE(torch::equal(part, one.narrow(1, 1001, 37)));
}

TEST_P(RowProduct, OneQueryAttentionMatchesSoftmaxReference) {
  torch::manual_seed(2);
  const int heads = 6, kv_heads = 2, d = 40, m = 37;
  auto q = torch::randn({heads, d}).to(GetParam());
  auto storage_k = torch::randn({kv_heads, m + 5, d}).to(GetParam());  // the cache's capacity
  auto storage_v = torch::randn({kv_heads, m + 5, d}).to(GetParam());
  auto keys = storage_k.narrow(1, 0, m), values = storage_v.narrow(1, 0, m);
  if (!oneQueryAttentionSupported(q, keys, values)) GTEST_SKIP() << "no AVX-512 on this CPU";
  const double scale = 1.0 / std::sqrt(double(d));
  auto scores = oneQueryScores(q, keys, scale);
  auto kd = keys.to(torch::kFloat64).repeat_interleave(heads / kv_heads, 0);
  auto vd = values.to(torch::kFloat64).repeat_interleave(heads / kv_heads, 0);
  auto ref_scores =
      torch::bmm(q.to(torch::kFloat64).unsqueeze(1), kd.transpose(1, 2)).squeeze(1) * scale;
  EXPECT_LT((scores.to(torch::kFloat64) - ref_scores).abs().max().item<double>(), 1e-4);
  auto probs = torch::softmax(scores, -1);
  auto out = mixValues(probs, values);
  auto ref = torch::bmm(probs.to(torch::kFloat64).unsqueeze(1), vd).squeeze(1);
  const double tol = GetParam() == torch::kBFloat16 ? 1e-2 : 1e-5;
  EXPECT_LT((out.to(torch::kFloat64) - ref).abs().max().item<double>(), tol);
  EXPECT_EQ(out.scalar_type(), GetParam());
}

INSTANTIATE_TEST_SUITE_P(Dtypes, RowProduct, ::testing::Values(torch::kFloat32, torch::kBFloat16));

TextConfig smallConfig() {
  TextConfig c;
  c.hidden_size = 48;
  c.intermediate_size = 80;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 12;
  c.num_hidden_layers = 1;
  c.vocab_size = 50;
  return c;
}

TEST(StackedRows, StackedProjectionsAliasTheirWeightsAndFollowInPlaceChanges) {
  torch::manual_seed(3);
  LlamaAttention attn(smallConfig());
  auto x = torch::randn({3, 48});
  torch::NoGradGuard no_grad;
  auto separate = torch::cat({attn->q_proj(x), attn->k_proj(x), attn->v_proj(x)}, -1);
  auto stacked = attn->qkv(x);
  EXPECT_TRUE(torch::allclose(stacked, separate, 1e-5, 1e-6));
  // The projections' weights are now rows of one matrix: one copy of the weights in memory.
  EXPECT_TRUE(attn->q_proj->weight.is_alias_of(attn->v_proj->weight));
  // An in-place change (loading a checkpoint, an optimiser step) reaches the stacked product.
  attn->k_proj->weight.mul_(2);
  auto after = attn->qkv(x);
  EXPECT_TRUE(torch::allclose(after.narrow(1, 48, 24), 2 * separate.narrow(1, 48, 24), 1e-5, 1e-6));
  // A replaced weight (Module::to, set_data) is noticed and the stack is built again.
  attn->v_proj->weight.set_data(torch::zeros_like(attn->v_proj->weight));
  EXPECT_EQ(attn->qkv(x).narrow(1, 72, 24).abs().max().item<float>(), 0.f);
}

TEST(StackedRows, WithGradientsEachProjectionRunsAlone) {
  LlamaMlp mlp(smallConfig());
  auto x = torch::randn({2, 48}, torch::requires_grad());
  mlp->forward(x).sum().backward();
  // Gradients reach each projection's own weight (a view of the stack), as for separate ones.
  ASSERT_TRUE(mlp->gate_proj->weight.grad().defined());
  ASSERT_TRUE(mlp->up_proj->weight.grad().defined());
  EXPECT_EQ(mlp->up_proj->weight.grad().sizes(), mlp->up_proj->weight.sizes());
  EXPECT_GT(mlp->up_proj->weight.grad().abs().sum().item<float>(), 0.f);
  EXPECT_TRUE(mlp->gate_proj->weight.is_alias_of(mlp->up_proj->weight));  // stacked when built
}

}  // namespace
}  // namespace hae

namespace hae {
namespace {

// The one-token steps (text/decode_rows.h) against the LibTorch expressions they replace: equal
// within one rounding of the dtype (bf16 rounds after every operator, so a different fp32 sum
// order can move a value by one bf16 step).
void expectWithinOneRounding(const torch::Tensor& got, const torch::Tensor& want) {
  ASSERT_EQ(got.sizes(), want.sizes());
  ASSERT_EQ(got.scalar_type(), want.scalar_type());
  const double step = got.scalar_type() == torch::kBFloat16 ? 1.0 / 128 : 1e-6;
  const auto g = got.to(torch::kFloat64), w = want.to(torch::kFloat64);
  const auto allowed = w.abs() * step + 1e-6;
  EXPECT_TRUE(((g - w).abs() <= allowed).all().item<bool>())
      << "worst excess " << ((g - w).abs() - allowed).max().item<double>();
}

class DecodeRows : public ::testing::TestWithParam<torch::ScalarType> {};

TEST_P(DecodeRows, RmsNormMatchesTransformersExpression) {
  torch::manual_seed(2);
  auto x = (torch::randn({1, 576}) * 3).to(GetParam()), w = torch::randn({576}).to(GetParam());
  ASSERT_TRUE(decodeRowSupported(x));
  auto h = x.to(torch::kFloat32);
  h = h * torch::rsqrt(h.pow(2).mean(-1, true) + 1e-5);
  expectWithinOneRounding(rmsNormRow(x, w, 1e-5), w * h.to(x.scalar_type()));
}

TEST_P(DecodeRows, RotationInPlaceMatchesApplyRotary) {
  torch::manual_seed(3);
  const int heads = 3, kv_heads = 1, d = 64;
  auto qkv = torch::randn({1, (heads + 2 * kv_heads) * d}).to(GetParam());
  RotaryEmbedding rope(d, 10000.0);
  auto [cos, sin] = rope.cosSin(torch::tensor({37}, torch::kInt64), GetParam());
  auto q = qkv.narrow(1, 0, heads * d).view({1, heads, d}).transpose(0, 1);
  auto k = qkv.narrow(1, heads * d, kv_heads * d).view({1, kv_heads, d}).transpose(0, 1);
  const auto want_q = applyRotary(q, cos, sin), want_k = applyRotary(k, cos, sin);
  const auto v_before = qkv.narrow(1, (heads + kv_heads) * d, kv_heads * d).clone();
  rotateHeadsInPlace(qkv, 0, heads, cos, sin);
  rotateHeadsInPlace(qkv, heads * d, kv_heads, cos, sin);
  expectWithinOneRounding(q.contiguous(), want_q.contiguous());
  expectWithinOneRounding(k.contiguous(), want_k.contiguous());
  EXPECT_TRUE(torch::equal(qkv.narrow(1, (heads + kv_heads) * d, kv_heads * d), v_before));
}

TEST_P(DecodeRows, SiluGateTimesUpMatchesLibTorch) {
  torch::manual_seed(4);
  auto gate_up = (torch::randn({1, 2 * 1536}) * 4).to(GetParam());
  const auto want = torch::silu(gate_up.narrow(1, 0, 1536)) * gate_up.narrow(1, 1536, 1536);
  expectWithinOneRounding(siluGateTimesUp(gate_up), want);
}

TEST(DecodeRowsSoftmax, MatchesLibTorchAndMasksToZero) {
  torch::manual_seed(5);
  auto scores = torch::randn({4, 300}) * 8;
  scores.index_put_({1, torch::indexing::Slice(10, 50)}, -std::numeric_limits<float>::infinity());
  const auto want = torch::softmax(scores, -1);
  softmaxRowsInPlace(scores);
  expectWithinOneRounding(scores, want);
  EXPECT_EQ(scores[1].narrow(0, 10, 40).abs().sum().item<float>(), 0.0f);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, DecodeRows, ::testing::Values(torch::kFloat32, torch::kBFloat16));

}  // namespace
}  // namespace hae
