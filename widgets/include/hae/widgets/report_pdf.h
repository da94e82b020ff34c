#pragma once
// The run report as a PDF: the same content as the HTML report (settings, summary, the overlay at
// the first, middle and last layer at the final step, the cache / latency / recycle-bin plots, the
// generated text and a per-step table), painted with the studio's own views so the PDF shows what
// the window shows. Plots are vector (QCustomPlot::toPainter); the overlay is a bitmap.
#include <string>
#include <vector>

#include "hae/telemetry.h"

namespace hae::widgets {

// Writes atomically (temporary file, then rename) and returns the number of pages. Needs a
// QApplication (the plots are widgets; the offscreen platform is enough). Throws hae::Error
// naming the path when it cannot write.
int writePdfReport(const std::string& path, const RunInfo& info,
                   const std::vector<StepTelemetry>& steps, const std::string& answer);

}  // namespace hae::widgets
