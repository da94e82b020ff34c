// The embedded demo model: the committed checkpoint loads and answers held-out questions about as
// well as its evaluation card says; broken checkpoints and bad hyperparameters fail with clear
// messages; the trainer's batched forward is the inference path's math; a few training steps
// lower the loss.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <set>

#include "demo/evaluate.h"
#include "demo/train_data.h"
#include "demo/train_forward.h"
#include "demo/trainer.h"
#include "engine/engine.h"
#include "hae/demo/scene.h"
#include "hae/demo/vocabulary.h"
#include "hae/error.h"
#include "hae/session.h"
#include "models/llava.h"
#include "models/vlm_model.h"
#include "models/weights.h"

namespace hae::test {
namespace {

namespace fs = std::filesystem;

std::string committedModel() {
  return std::string(HAE_SOURCE_DIR) + "/resources/demo/model";
}

fs::path tempDir(const std::string& name) {
  const fs::path dir =
      fs::temp_directory_path() / ("hae_demo_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

fs::path copyModel(const std::string& name) {
  const fs::path dir = tempDir(name);
  for (const auto& e : fs::directory_iterator(committedModel()))
    if (e.is_regular_file()) fs::copy_file(e.path(), dir / e.path().filename());
  return dir;
}

std::string errorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// A small architecture for the fast tests: 56 px images (4 x 4 patches), one-block towers.
LlavaConfig tinyConfig() {
  LlavaConfig c = demo::demoModelConfig();
  c.vision.hidden_size = 32;
  c.vision.intermediate_size = 64;
  c.vision.num_hidden_layers = 2;
  c.vision.num_attention_heads = 2;
  c.vision.image_size = 56;
  c.image_seq_length = c.vision.numPatches();
  c.text.hidden_size = 32;
  c.text.intermediate_size = 64;
  c.text.num_hidden_layers = 2;
  c.text.num_attention_heads = 4;
  c.text.num_key_value_heads = 2;
  c.text.head_dim = 8;
  return c;
}

demo::TrainDataSource tinyData(const LlavaConfig& c) {
  ClipPreprocessConfig pre;
  pre.shortest_edge = pre.crop_width = pre.crop_height = c.vision.image_size;
  return demo::TrainDataSource(Tokenizer::fromJson(demo::demoTokenizerJson(), "demo"), pre,
                               c.vision.numPatches(), 7);
}

TEST(DemoModel, CommittedCheckpointMatchesItsCard) {
  std::ifstream f(fs::path(committedModel()) / "eval_card.json");
  ASSERT_TRUE(f) << "resources/demo/model/eval_card.json is missing";
  const auto card = nlohmann::json::parse(f);
  int correct = 0, total = 0;
  for (const auto& [kind, s] : card["per_kind"].items()) {
    correct += s["correct"].get<int>();
    total += s["total"].get<int>();
  }
  const double card_rate = static_cast<double>(correct) / total;

  demo::EvalOptions o;
  o.model_dir = committedModel();
  o.samples = 60;
  const demo::EvalResult r = demo::evaluateDemoModel(o);
  int got = 0, n = 0;
  for (const auto& [kind, s] : r.kinds) {
    got += s.correct;
    n += s.total;
  }
  ASSERT_EQ(n, 60);
  const double rate = static_cast<double>(got) / n;
  RecordProperty("sample_accuracy", std::to_string(rate));
  EXPECT_GE(rate, card_rate - 0.05) << "card says " << card_rate;
  EXPECT_GE(r.short_questions.rate(), card["short_question_accuracy"].get<double>() - 0.05);
}

// Runs the committed model on the first sample scene until it stops.
void answerAboutSceneOne(Session& s, const std::string& prompt) {
  s.prefill(prompt, {std::string(HAE_SOURCE_DIR) + "/resources/demo/samples/scene_1.png"});
  while (s.step()) {
  }
}

TEST(DemoModel, AnswersTheReadmeQuestion) {
  std::ifstream f(std::string(HAE_SOURCE_DIR) + "/resources/demo/samples/samples.json");
  const auto samples = nlohmann::json::parse(f);
  std::string circle;
  for (const auto& o : samples["samples"][0]["objects"])
    if (o["shape"] == "circle") circle = o["colour"];
  ASSERT_FALSE(circle.empty()) << "scene_1 has no circle";
  SessionOptions o;
  o.model_dir = committedModel();
  Session s(o);
  answerAboutSceneOne(s, "What color is the circle?");
  EXPECT_EQ(s.answer(), circle);
}

// The per-step token texts the studio streams join into the answer, and the prompt's into the
// question, spaces included (a word-level tokenizer decodes a lone token without the space before
// it).
TEST(DemoModel, StreamedTokenTextsJoinIntoTheAnswer) {
  SessionOptions o;
  o.model_dir = committedModel();
  Session s(o);
  answerAboutSceneOne(s, "describe the image.");
  std::string streamed;
  for (const StepTelemetry& t : s.history())
    if (t.step > 0) streamed += t.token_text;
  EXPECT_GT(std::count(streamed.begin(), streamed.end(), ' '), 3) << streamed;
  EXPECT_TRUE(s.answer().starts_with(streamed)) << streamed << " | " << s.answer();
  // The prompt's words keep their spaces too.
  std::string question;
  for (const TokenInfo& t : s.runInfo().tokens)
    if (t.modality == Modality::Text) question += t.text;
  EXPECT_NE(question.find("describe the image"), std::string::npos) << question;
}

TEST(DemoModel, TruncatedWeightsGiveAClearError) {
  const fs::path dir = copyModel("truncated");
  fs::resize_file(dir / "model.safetensors", fs::file_size(dir / "model.safetensors") / 2);
  const std::string msg = errorOf([&] { loadModel(dir.string(), {}); });
  EXPECT_NE(msg.find("model.safetensors"), std::string::npos) << msg;
  fs::remove_all(dir);
}

TEST(DemoModel, MismatchedConfigGivesAClearError) {
  const fs::path dir = copyModel("mismatched");
  std::ifstream in(dir / "config.json");
  auto config = nlohmann::json::parse(in);
  in.close();
  config["text_config"]["hidden_size"] = config["text_config"]["hidden_size"].get<int>() * 2;
  std::ofstream(dir / "config.json") << config.dump(2);
  const std::string msg = errorOf([&] { loadModel(dir.string(), {}); });
  EXPECT_NE(msg.find("shape"), std::string::npos) << msg;
  EXPECT_NE(msg.find("config.json implies"), std::string::npos) << msg;
  fs::remove_all(dir);
}

TEST(DemoTrainer, RefusesNonsenseHyperparameters) {
  auto refuse = [](auto edit, const std::string& option) {
    demo::TrainOptions o;
    edit(o);
    const std::string msg = errorOf([&] { demo::validateTrainOptions(o); });
    EXPECT_NE(msg.find(option), std::string::npos) << option << ": " << msg;
  };
  refuse([](demo::TrainOptions& o) { o.steps = 0; }, "--steps");
  refuse([](demo::TrainOptions& o) { o.batch = 0; }, "--batch");
  refuse([](demo::TrainOptions& o) { o.lr = 0; }, "--lr");
  refuse([](demo::TrainOptions& o) { o.lr = 2; }, "--lr");
  refuse([](demo::TrainOptions& o) { o.lr = std::nan(""); }, "--lr");
  refuse([](demo::TrainOptions& o) { o.warmup = o.steps + 1; }, "--warmup");
  refuse([](demo::TrainOptions& o) { o.clip = 0; }, "--clip");
  refuse([](demo::TrainOptions& o) { o.weight_decay = -1; }, "--weight-decay");
  refuse([](demo::TrainOptions& o) { o.vision_steps = o.steps; }, "--vision-steps");
  refuse([](demo::TrainOptions& o) { o.vision_batch = 0; }, "--vision-batch");
  refuse([](demo::TrainOptions& o) { o.retrieval_weight = -1; }, "--retrieval-weight");
  refuse([](demo::TrainOptions& o) { o.readout_weight = 1e9; }, "--readout-weight");
  EXPECT_NO_THROW(demo::validateTrainOptions(demo::TrainOptions{}));
}

// Each branch of a packed training group must see exactly what inference sees: the packed loss
// equals the mean, over the same target tokens, of the loss the engine's prefill gives each
// prompt + answer on its own.
TEST(DemoTrainer, PackedForwardEqualsInferencePath) {
  torch::manual_seed(3);
  const LlavaConfig c = tinyConfig();
  const fs::path dir = tempDir("parity");
  {
    demo::TrainOptions o;
    o.out_dir = dir.string();
    o.steps = 1;
    o.warmup = 0;
    o.vision_steps = 0;
    o.batch = 1;
    o.progress = false;
    demo::trainDemoModel(o, c);
  }
  auto model = loadModel(dir.string(), {});
  auto& llava = dynamic_cast<LlavaModel&>(*model);
  // Weights at a scale where every output depends on its context (a fresh init predicts nearly
  // the same distribution everywhere, which would hide a wrong mask or position).
  randomizeModuleWeights(*llava.net(), 11, {});
  const auto data = tinyData(c);
  std::vector<demo::TrainGroup> groups = {data.group(0), data.group(1)};
  const demo::TrainBatch batch = demo::makeTrainBatch(groups, c.vision.image_size, 0);
  torch::NoGradGuard no_grad;
  const double packed = demo::trainLoss(llava.net(), c, batch).item<double>();

  std::shared_ptr<VlmModel> shared = std::move(model);
  double sum = 0;
  int count = 0;
  std::vector<double> losses;
  for (const auto& g : groups) {
    std::vector<at::Tensor> px;
    for (const auto& img : g.images)
      px.push_back(torch::from_blob(const_cast<float*>(img.data()),
                                    {3, c.vision.image_size, c.vision.image_size})
                       .clone());
    for (const auto& br : g.branches) {
      std::vector<std::int64_t> ids(g.prefix.begin(), g.prefix.end());
      ids.insert(ids.end(), br.prompt.begin(), br.prompt.end());
      ids.insert(ids.end(), br.target.begin(), br.target.end() - 1);
      Engine engine(shared, makePolicy("full", {}));
      ForwardCapture cap;
      cap.enabled = true;
      engine.prefill(shared->planFromIds(ids, torch::stack(px)), &cap);
      const auto logits = cap.logits[0];
      const auto first = static_cast<std::int64_t>(ids.size() - br.target.size() + 1) - 1;
      for (std::size_t t = 0; t < br.target.size(); ++t) {
        const auto row = logits[first + static_cast<std::int64_t>(t)];
        losses.push_back((torch::logsumexp(row, 0) - row[br.target[t]]).item<double>());
        sum += losses.back();
        ++count;
      }
    }
  }
  EXPECT_NEAR(packed, sum / count, 1e-4 * std::max(1.0, std::abs(packed)));
  const auto [lo, hi] = std::minmax_element(losses.begin(), losses.end());
  EXPECT_GT(*hi - *lo, 0.5) << "per-token losses barely differ: the comparison would be blind";
  fs::remove_all(dir);
}

// The retrieval supervision of a description: every token after a sentence's opening "a" points
// at the patches of that sentence's object, in reading order; the openings point nowhere.
TEST(DemoTrainer, DescriptionTokensPointAtTheObjectTheyName) {
  const LlavaConfig c = demo::demoModelConfig();
  const auto data = tinyData(c);
  const int stop = demo::demoTokenId("."), a = demo::demoTokenId("a");
  int checked = 0;
  for (std::uint64_t index = 0; index < 6; ++index) {
    const demo::TrainGroup g = data.group(index);
    for (const auto& br : g.branches) {
      if (std::count(br.target.begin(), br.target.end(), stop) == 0) continue;
      ASSERT_EQ(br.target_focus.size(), br.target.size());
      std::vector<std::vector<int>> named;  // the patch set of each sentence, in order
      bool opening = true;
      for (std::size_t t = 0; t < br.target.size(); ++t) {
        ASSERT_EQ(br.target_attributes.size(), br.target.size());
        const bool readsColour = br.target_attributes[t][0] != demo::kNoAttribute;
        if (opening) {
          if (br.target[t] == a) EXPECT_TRUE(br.target_focus[t].empty());
          EXPECT_FALSE(readsColour);
        } else {
          ASSERT_FALSE(br.target_focus[t].empty()) << "token " << t;
          EXPECT_TRUE(readsColour);
          // The sentence's colour word is the colour the readout is taught.
          if (br.target[t - 1] == a && t + 1 < br.target.size()) {
            const std::string colour = demo::demoVocabulary()[static_cast<std::size_t>(br.target[t + 1])];
            EXPECT_EQ(colour, demo::colourName(static_cast<demo::Colour>(br.target_attributes[t][0])));
          }
          if (named.empty() || br.target[t - 1] == a) named.push_back(br.target_focus[t]);
          EXPECT_EQ(br.target_focus[t], named.back());
        }
        opening = br.target[t] == stop;
      }
      // Different sentences name different objects.
      for (std::size_t i = 1; i < named.size(); ++i) EXPECT_NE(named[i], named[i - 1]);
      ++checked;
    }
  }
  EXPECT_GE(checked, 4);
}

// A comparison's answer reads out the winner alone (and its readout learns the winner's colour and
// shape); a count reads one anchor cell (the cell under the centre) per object counted and no
// single object's attributes; the other short answers read the objects asked about.
TEST(DemoTrainer, AnswerTokensPointAtWhatTheAnswerReads) {
  const LlavaConfig c = demo::demoModelConfig();
  const auto data = tinyData(c);
  const std::vector<std::string> numbers = {"zero", "one", "two", "three", "four", "five", "six"};
  int compared = 0, counted = 0;
  for (std::uint64_t index = 0; index < 8; ++index) {
    for (const auto& br : data.group(index).branches) {
      if (br.kind == demo::SampleKind::Describe || br.kind == demo::SampleKind::Change) continue;
      ASSERT_EQ(br.target_focus.size(), br.target.size());
      const std::set<int> asked(br.focus.begin(), br.focus.end());
      const std::vector<int>& read = br.target_focus.front();
      for (const auto& f : br.target_focus) EXPECT_EQ(f, read);
      ASSERT_EQ(br.target_attributes.size(), br.target.size());
      const auto [colour, shape] = br.target_attributes.front();
      if (br.kind == demo::SampleKind::FurtherLeft || br.kind == demo::SampleKind::FurtherUp) {
        // The readout learns the winner, the object the answer names.
        const std::string named = demo::demoVocabulary()[static_cast<std::size_t>(br.target[0])] +
                                  " " +
                                  demo::demoVocabulary()[static_cast<std::size_t>(br.target[1])];
        ASSERT_NE(colour, demo::kNoAttribute);
        EXPECT_EQ(named, std::string(demo::colourName(static_cast<demo::Colour>(colour))) + " " +
                             std::string(demo::shapeName(static_cast<demo::Shape>(shape))));
        EXPECT_FALSE(read.empty());
        EXPECT_LT(read.size(), asked.size()) << "a comparison reads one of its two objects";
        for (int cell : read) EXPECT_TRUE(asked.count(cell)) << "reads outside the two objects";
        ++compared;
      } else if (br.kind == demo::SampleKind::CountColour ||
                 br.kind == demo::SampleKind::CountShape) {
        const auto word = std::find(numbers.begin(), numbers.end(),
                                    demo::demoVocabulary()[static_cast<std::size_t>(br.target[0])]);
        ASSERT_NE(word, numbers.end());
        EXPECT_EQ(static_cast<long>(read.size()), word - numbers.begin());
        EXPECT_EQ(colour, demo::kNoAttribute) << "a count reads no single object";
        ++counted;
      } else {
        EXPECT_EQ(std::set<int>(read.begin(), read.end()), asked);
      }
    }
  }
  EXPECT_GE(compared, 4);
  EXPECT_GE(counted, 8);
}

// The probe's anchor head marks one cell per object; its rank head numbers the objects in reading
// order.
TEST(DemoTrainer, PatchLabelsMarkAnchorsAndReadingOrder) {
  const LlavaConfig c = demo::demoModelConfig();
  const auto data = tinyData(c);
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    const demo::Scene scene = demo::generateScene(seed);
    const auto labels = data.patchLabels(scene);
    ASSERT_EQ(labels.size(), 144u * demo::kPatchLabelHeads);
    auto label = [&](int cell, int head) {
      return labels[static_cast<std::size_t>(cell * demo::kPatchLabelHeads + head)];
    };
    int anchors = 0;
    for (int cell = 0; cell < 144; ++cell) anchors += label(cell, 4) == 1;
    EXPECT_EQ(anchors, static_cast<int>(scene.objects.size())) << "seed " << seed;
    const std::vector<int> order = demo::readingOrder(scene);
    for (std::size_t rank = 0; rank < order.size(); ++rank)
      for (int cell : scene.objects[static_cast<std::size_t>(order[rank])].patches)
        EXPECT_EQ(label(cell, 5), static_cast<std::int64_t>(rank + 1)) << "seed " << seed;
  }
}

// The vision stage's loss reaches the tower (and the probe) and nothing of the decoder.
TEST(DemoTrainer, VisionStageTrainsTheTowerOnly) {
  const LlavaConfig c = demo::demoModelConfig();
  const auto data = tinyData(c);
  const demo::TrainBatch batch = demo::makeTrainBatch({data.group(0), data.group(1)},
                                                      c.vision.image_size, 0);
  ASSERT_TRUE(batch.patch_labels.defined());
  torch::manual_seed(5);
  LlavaNet net(c);
  demo::PatchProbe probe(c.vision.hidden_size);
  const auto loss = demo::visionLoss(net, c, batch, probe);
  EXPECT_GT(loss.item<double>(), 0.5);  // untrained: far from the labels
  loss.backward();
  for (auto& p : net->vision_tower->named_parameters(true))
    if (p.key().find("post_layernorm") == std::string::npos &&
        p.key().find("layers.3.") == std::string::npos)  // not on the path to layer -2
      EXPECT_TRUE(p.value().grad().defined()) << p.key();
  for (auto& p : net->language_model->parameters()) EXPECT_FALSE(p.grad().defined());
  for (auto& p : net->multi_modal_projector->parameters()) EXPECT_FALSE(p.grad().defined());
  EXPECT_TRUE(probe->head->weight.grad().defined());
}

TEST(DemoTrainer, AFewStepsLowerTheLossAndResume) {
  const LlavaConfig c = tinyConfig();
  const fs::path dir = tempDir("smoke");
  demo::TrainOptions o;
  o.out_dir = dir.string();
  o.steps = 30;
  o.warmup = 5;
  o.vision_steps = 0;  // the tiny grid is not the scene's: no patch labels
  o.batch = 2;
  o.lr = 3e-3;
  o.checkpoint_every = 10;
  o.progress = false;
  demo::trainDemoModel(o, c);
  std::ifstream f(dir / "train_state.json");
  const auto state = nlohmann::json::parse(f);
  const auto& curve = state["loss_curve"];
  ASSERT_GE(curve.size(), 3u);
  EXPECT_LT(curve.back()[1].get<double>(), curve.front()[1].get<double>());
  // The written folder loads through the runtime.
  EXPECT_NO_THROW(loadModel(dir.string(), {}));
  // Resuming past the end continues from the saved step.
  o.steps = 32;
  o.resume = true;
  const auto report = demo::trainDemoModel(o, c);
  EXPECT_EQ(report.steps, 32);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace hae::test
