// `hae dump` on every tiny-qwen2vl / tiny-qwen25vl case, as a user runs it: the written logits,
// inputs_embeds, every hidden state, image_embeds and gen_logits within 1e-4 of the reference
// file, position_ids, rope_deltas, image_grid_thw and the 16 greedy tokens identical.
#include <cstdlib>

#include "reference.h"

namespace hae::test {
namespace {

struct DumpCase {
  std::string model, file;
};

class Qwen2VLDump : public ::testing::TestWithParam<DumpCase> {};

TEST_P(Qwen2VLDump, HaeDumpMatchesReference) {
  const DumpCase& c = GetParam();
  const std::string dir = dataPath("qwen2vl/" + c.model);
  TempDir out;
  const std::string dump = (out.path() / "dump.safetensors").string();
  const std::string command = std::string("'") + HAE_CLI + "' -q --threads 1 dump --model '" + dir +
                              "' --inputs '" + dir + "/" + c.file + "' --out '" + dump +
                              "' --greedy 16";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  const Reference got(dump), want(dir + "/" + c.file);
  std::vector<std::string> floats = {"logits", "inputs_embeds", "last_layer_output_prenorm",
                                     "image_embeds", "gen_logits"};
  for (int i = 0;; ++i) {
    const std::string name = "hidden_states." + std::to_string(i + 1);
    if (!want.has(name)) break;
    floats.push_back(name);
  }
  for (int i = 0;; ++i) {
    const std::string name = "vision_hidden_states." + std::to_string(i);
    if (!want.has(name)) break;
    floats.push_back(name);
  }
  for (const auto& name : floats) {
    ASSERT_TRUE(got.has(name)) << name;
    EXPECT_LT(maxAbsDiff(got[name], want[name]), 1e-4) << name;
  }
  for (const char* name :
       {"position_ids", "rope_deltas", "image_grid_thw", "gen_ids", "input_ids"}) {
    ASSERT_TRUE(got.has(name)) << name;
    EXPECT_TRUE(torch::equal(got[name], want[name])) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, Qwen2VLDump,
    ::testing::Values(DumpCase{"tiny-qwen2vl", "expected.safetensors"},
                      DumpCase{"tiny-qwen2vl", "expected_two_images.safetensors"},
                      DumpCase{"tiny-qwen2vl", "expected_long_text.safetensors"},
                      DumpCase{"tiny-qwen25vl", "expected.safetensors"},
                      DumpCase{"tiny-qwen25vl", "expected_two_images.safetensors"},
                      DumpCase{"tiny-qwen25vl", "expected_long_text.safetensors"}),
    [](const auto& info) {
      std::string name =
          info.param.model + "_" + info.param.file.substr(0, info.param.file.find('.'));
      for (char& ch : name)
        if (ch == '-') ch = '_';
      return name;
    });

}  // namespace
}  // namespace hae::test
