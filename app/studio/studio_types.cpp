#include "studio_types.h"

namespace hae::studio {

void registerStudioMetaTypes() {
  qRegisterMetaType<RunId>("hae::studio::RunId");
  qRegisterMetaType<StepPtr>("hae::studio::StepPtr");
  qRegisterMetaType<StepList>("hae::studio::StepList");
  qRegisterMetaType<RunInfoPtr>("hae::studio::RunInfoPtr");
  qRegisterMetaType<StopReason>("hae::studio::StopReason");
}

}  // namespace hae::studio
