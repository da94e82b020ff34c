// Exports: one plot, the overlay, or the whole run's profiling report. Every save dialog opens in
// the folder the last one saved to.
#include <QFileDialog>
#include <QFileInfo>
#include <QStatusBar>

#include "hae/report.h"
#include "hae/widgets/live_plot.h"
#include "hae/widgets/patch_overlay_view.h"
#include "hae/widgets/run_history.h"
#include "main_window.h"
#include "studio_settings.h"

namespace hae::studio {

namespace {

// Appends the chosen filter's extension when the user typed a bare name.
QString withSuffix(QString path, const QString& filter) {
  if (!QFileInfo(path).suffix().isEmpty()) return path;
  const int open = filter.indexOf("(*"), close = filter.indexOf(')', open);
  if (open >= 0 && close > open) path += filter.mid(open + 2, close - open - 2);
  return path;
}

const QString kImageFilters =
    QObject::tr("PNG image (*.png);;SVG vector image (*.svg);;PDF document (*.pdf)");

}  // namespace

QString MainWindow::saveFileName(const QString& title, const QString& name, const QString& filters,
                                 QString* filter) {
  const QString folder = StudioSettings::lastFolder(kExportDialog);
  QString path = QFileDialog::getSaveFileName(
      this, title, folder.isEmpty() ? name : folder + '/' + name, filters, filter);
  if (path.isEmpty()) return {};
  path = withSuffix(path, *filter);
  StudioSettings::rememberFolder(kExportDialog, path);
  return path;
}

void MainWindow::exportPlot(widgets::LivePlot* plot, const QString& name) {
  QString filter;
  const QString path = saveFileName(tr("Export plot"), name + ".png", kImageFilters, &filter);
  if (path.isEmpty()) return;
  QString error;
  if (!plot->exportTo(path, &error))
    showError(tr("Export failed"), error);
  else
    statusBar()->showMessage(tr("Saved %1").arg(path), 4000);
}

void MainWindow::exportOverlay() {
  QString filter;
  const QString path = saveFileName(tr("Export overlay"), "overlay.png", kImageFilters, &filter);
  if (path.isEmpty()) return;
  QString error;
  if (!overlay_->exportTo(path, &error, overlay_->size() * 2))
    showError(tr("Export failed"), error);
  else
    statusBar()->showMessage(tr("Saved %1").arg(path), 4000);
}

void MainWindow::exportReportDialog() {
  QStringList filters = {tr("HTML report (*.html)"), tr("JSON report (*.json)"),
                         tr("CSV table (*.csv)"), tr("Chrome / Perfetto trace (*.trace.json)")};
  // The PDF writer lives on the Qt side and is installed only when the build has it.
  if (hasPdfReportWriter()) filters << tr("PDF report (*.pdf)");
  QString filter;
  const QString path =
      saveFileName(tr("Export the profiling report"), "report.html", filters.join(";;"), &filter);
  if (path.isEmpty()) return;
  QString error;
  if (!exportReport(path, &error))
    showError(tr("Export failed"), error);
  else
    statusBar()->showMessage(tr("Saved %1").arg(path), 4000);
}

bool MainWindow::exportReport(const QString& path, QString* error) {
  if (history_->empty()) {
    if (error) *error = tr("There is no run to report yet: press Run first.");
    return false;
  }
  std::vector<StepTelemetry> steps;
  steps.reserve(history_->stepCount());
  for (int i = 0; i < history_->stepCount(); ++i) steps.push_back(history_->step(i));
  try {
    writeReport(path.toStdString(), history_->info(), steps, answer_.toStdString());
    return true;
  } catch (const std::exception& e) {
    if (error) *error = QString::fromUtf8(e.what());
    return false;
  }
}

}  // namespace hae::studio
