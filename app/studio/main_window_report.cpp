// File > Open run report: a JSON report (hae run --report x.json, or the studio's own export)
// replayed in the window with no model: the overlay, tokens, plots and the Step scrubber read it
// exactly as they read a live run, since all of them read the one RunHistory.
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QLineEdit>
#include <QStatusBar>

#include "compare_view.h"
#include "hae/error.h"
#include "hae/report_read.h"
#include "hae/widgets/patch_overlay_view.h"
#include "hae/widgets/run_history.h"
#include "image_set_panel.h"
#include "main_window.h"
#include "session_controller.h"
#include "studio_settings.h"

namespace hae::studio {

bool MainWindow::openRunReport(const QString& path) {
  RunReport report;
  try {
    report = readRunReportFile(path.toStdString());
  } catch (const std::exception& e) {
    showError(tr("Cannot open the run report"), QString::fromUtf8(e.what()));
    return false;
  }
  // A live run in progress would keep feeding the views: stop and forget it first.
  pendingTokens_ = -1;
  if (main_->hasRun() || main_->busy()) main_->reset();

  // The report's images where they still exist (the overlay draws a grey placeholder of the
  // recorded size for the others), and its question, so Run asks it again live.
  std::vector<QImage> pixels;
  QStringList found;
  for (const ImageInfo& image : report.info.images) {
    const QString file = QString::fromStdString(image.path);
    QImage pix = QFileInfo::exists(file) ? ImageSetPanel::readImage(file, nullptr) : QImage();
    if (!pix.isNull()) found << file;
    pixels.push_back(std::move(pix));
  }
  {
    const QSignalBlocker blockImages(imageSet_);
    const QSignalBlocker blockPrompt(prompt_);
    if (found.size() == static_cast<int>(report.info.images.size()))
      imageSet_->setImages(found);
    else
      imageSet_->clear();
    prompt_->setText(QString::fromStdString(report.info.prompt));
  }
  checkImageMarkers();

  replayPath_ = QFileInfo(path).absoluteFilePath();
  history_->reset(report.info);
  overlay_->setImages(pixels);
  compareView_->setImages(pixels);
  showPromptLength(report.info);
  for (StepTelemetry& s : report.steps)
    history_->appendStep(std::make_shared<const StepTelemetry>(std::move(s)));
  history_->setCursor(history_->stepCount() - 1);
  answer_ = QString::fromStdString(report.answer);
  setAnswerText(answer_.toHtmlEscaped());
  compareView_->setAnswerA(answer_);
  modelLabel_->setText(tr("%1\n(replaying %2; no model needed)")
                           .arg(modelText_.isEmpty() ? tr("(none loaded)") : modelText_,
                                QFileInfo(path).fileName()));
  setWindowTitle(tr("HAE Studio - %1").arg(QFileInfo(path).fileName()));
  StudioSettings::addRecent(kRecentReports, replayPath_);
  rebuildRecentMenus();
  statusBar()->showMessage(tr("Replaying %1: %2 steps, policy %3")
                               .arg(path)
                               .arg(history_->stepCount())
                               .arg(QString::fromStdString(report.info.policy_name)),
                           6000);
  flushViews();
  updateControls();
  return true;
}

void MainWindow::endReplay() {
  if (replayPath_.isEmpty()) return;
  replayPath_.clear();
  setWindowTitle(tr("HAE Studio"));
  if (!modelText_.isEmpty()) modelLabel_->setText(modelText_);
}

void MainWindow::openReportDialog() {
  const QString path = QFileDialog::getOpenFileName(this, tr("Open a run report"),
                                                    StudioSettings::lastFolder(kReportDialog),
                                                    tr("Run report (*.json)"));
  if (path.isEmpty()) return;
  StudioSettings::rememberFolder(kReportDialog, path);
  openRunReport(path);
}

}  // namespace hae::studio
