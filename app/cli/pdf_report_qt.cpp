// The CLI's PDF reports: Qt paints them, so this file includes Qt and never torch (Qt's `slots`
// macro breaks LibTorch headers). Built only with HAE_BUILD_GUI.
#include "pdf_report_qt.h"

#include <spdlog/spdlog.h>
#include <QApplication>
#include <cstdlib>

#include "hae/report.h"
#include "hae/widgets/report_pdf.h"

namespace hae::cli {

namespace {

// The plots are widgets, so a QApplication must exist; a headless CLI gets the offscreen
// platform unless a display is there. Created on first use only, so `hae run` without a PDF
// report never starts Qt. Deliberately never destroyed: tearing Qt down during static
// destruction, after other libraries' statics are gone, is a known source of exit-time crashes.
void ensureApplication() {
  if (QCoreApplication::instance()) return;
  // Qt's chatter on a headless box (no XDG_RUNTIME_DIR, missing fonts) is not the user's
  // problem: it goes to the debug log, so stderr keeps its one-line-per-failure contract.
  qInstallMessageHandler([](QtMsgType type, const QMessageLogContext&, const QString& message) {
    if (type == QtFatalMsg)
      spdlog::error("Qt: {}", message.toStdString());
    else
      spdlog::debug("Qt: {}", message.toStdString());
  });
  if (!std::getenv("DISPLAY") && !std::getenv("WAYLAND_DISPLAY") && !std::getenv("QT_QPA_PLATFORM"))
    qputenv("QT_QPA_PLATFORM", "offscreen");
  static int argc = 1;
  static char name[] = "hae";
  static char* argv[] = {name, nullptr};
  new QApplication(argc, argv);
}

}  // namespace

void installPdfReportWriter() {
  setPdfReportWriter([](const std::string& path, const RunInfo& info,
                        const std::vector<StepTelemetry>& steps, const std::string& answer) {
    ensureApplication();
    widgets::writePdfReport(path, info, steps, answer);
  });
}

}  // namespace hae::cli
