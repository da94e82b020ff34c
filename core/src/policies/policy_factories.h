#pragma once
// One factory per policy file, so the registry needs no policy's class definition.
#include <memory>

#include "knob_set.h"

namespace hae {

class Policy;
std::unique_ptr<Policy> makeHaePolicy(const KnobSet& knobs);
std::unique_ptr<Policy> makeRandomPolicy(const KnobSet& knobs);
std::unique_ptr<Policy> makeStreamingPolicy(const KnobSet& knobs);
std::unique_ptr<Policy> makeH2oPolicy(const KnobSet& knobs);
std::unique_ptr<Policy> makeTovaPolicy(const KnobSet& knobs);
std::unique_ptr<Policy> makeSnapKvPolicy(const KnobSet& knobs, bool pyramid);
std::unique_ptr<Policy> makeAdaKvPolicy(const KnobSet& knobs);
std::unique_ptr<Policy> makeFastvPolicy(const KnobSet& knobs);
std::unique_ptr<Policy> makeMustDropPolicy(const KnobSet& knobs);
std::unique_ptr<Policy> makeUniformPolicy(const KnobSet& knobs);
std::unique_ptr<Policy> makeDivPrunePolicy(const KnobSet& knobs);
std::unique_ptr<Policy> makeFasterVlmPolicy(const KnobSet& knobs);
std::unique_ptr<Policy> makeVisionZipPolicy(const KnobSet& knobs);
std::unique_ptr<Policy> makeCdPrunerPolicy(const KnobSet& knobs);
std::unique_ptr<Policy> makeDartPolicy(const KnobSet& knobs);
std::unique_ptr<Policy> makePyramidDropPolicy(const KnobSet& knobs);
std::unique_ptr<Policy> makeSparseVlmPolicy(const KnobSet& knobs);

}  // namespace hae
