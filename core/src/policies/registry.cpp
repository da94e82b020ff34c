// Creation by name: validate the knobs against the catalog first, then build the policy.
#include <fmt/format.h>

#include "full_policy.h"
#include "hae/error.h"
#include "policy.h"
#include "policy_factories.h"

namespace hae {

std::unique_ptr<Policy> makePolicy(const std::string& name,
                                   const std::map<std::string, std::string>& knobs) {
  const KnobSet set = validateKnobs(name, knobs);
  if (name == "full") return std::make_unique<FullPolicy>();
  if (name == "hae") return makeHaePolicy(set);
  if (name == "random") return makeRandomPolicy(set);
  if (name == "streaming") return makeStreamingPolicy(set);
  if (name == "h2o") return makeH2oPolicy(set);
  if (name == "tova") return makeTovaPolicy(set);
  if (name == "snapkv") return makeSnapKvPolicy(set, false);
  if (name == "pyramidkv") return makeSnapKvPolicy(set, true);
  if (name == "adakv") return makeAdaKvPolicy(set);
  if (name == "fastv") return makeFastvPolicy(set);
  if (name == "mustdrop") return makeMustDropPolicy(set);
  if (name == "uniform") return makeUniformPolicy(set);
  if (name == "divprune") return makeDivPrunePolicy(set);
  if (name == "fastervlm") return makeFasterVlmPolicy(set);
  if (name == "visionzip") return makeVisionZipPolicy(set);
  if (name == "cdpruner") return makeCdPrunerPolicy(set);
  if (name == "dart") return makeDartPolicy(set);
  if (name == "pyramiddrop") return makePyramidDropPolicy(set);
  if (name == "sparsevlm") return makeSparseVlmPolicy(set);
  throw Error(fmt::format("policy '{}' is in the catalog but has no implementation", name));
}

}  // namespace hae
