#pragma once
// Qt-free declaration of the CLI's PDF report hook, so torch-side files can call it.

namespace hae::cli {

// Installs the Qt PDF writer into core's writeReport (builds with HAE_BUILD_GUI only; see
// pdf_report_qt.cpp). Safe to call more than once.
void installPdfReportWriter();

}  // namespace hae::cli
