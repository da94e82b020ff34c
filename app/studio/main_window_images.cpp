// The prompt's images: one or several (each gets its own overlay grid), the <image> markers in
// the question, the bundled samples and generated scenes, and drag and drop.
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QLineEdit>
#include <QMimeData>
#include <QRandomGenerator>

#include "compare_view.h"
#include "hae/widgets/patch_overlay_view.h"
#include "image_set_panel.h"
#include "main_window.h"
#include "session_controller.h"
#include "studio_settings.h"

namespace hae::studio {

namespace {

const QString kImageFilter =
    QObject::tr("Images (*.png *.jpg *.jpeg *.bmp *.webp *.tif *.tiff *.ppm)");
const QString kMarker = QStringLiteral("<image>");

}  // namespace

QStringList MainWindow::imagePaths() const {
  return imageSet_->paths();
}

QString MainWindow::imagePath() const {
  return imageSet_->paths().value(0);
}

bool MainWindow::setImage(const QString& path) {
  return setImages(QStringList{path});
}

bool MainWindow::setImages(const QStringList& paths) {
  QString error;
  if (!imageSet_->setImages(paths, &error)) {
    showError(tr("Cannot open the image"), error);
    return false;
  }
  for (const QString& p : paths) StudioSettings::addRecent(kRecentImages, p);
  rebuildRecentMenus();
  return true;
}

bool MainWindow::addImage(const QString& path) {
  QString error;
  if (!imageSet_->addImage(path, &error)) {
    showError(tr("Cannot open the image"), error);
    return false;
  }
  StudioSettings::addRecent(kRecentImages, path);
  rebuildRecentMenus();
  return true;
}

void MainWindow::removeImage(int index) {
  imageSet_->removeImage(index);
}

void MainWindow::moveImage(int from, int to) {
  imageSet_->moveImage(from, to);
}

void MainWindow::imagesChanged() {
  // Other images make another prompt: the run shown belongs to the old one.
  if (main_->hasRun() || main_->busy()) main_->reset();
  endReplay();
  showPreview();
  checkImageMarkers();
  updateControls();
}

void MainWindow::setPrompt(const QString& prompt) {
  prompt_->setText(prompt);
}

QString MainWindow::prompt() const {
  return prompt_->text();
}

void MainWindow::insertImageMarker() {
  prompt_->insert(kMarker);
  prompt_->setFocus();
}

void MainWindow::checkImageMarkers() {
  // The engine refuses a question whose markers do not match the images; say so before the run.
  const int markers = static_cast<int>(prompt_->text().count(kMarker));
  const int images = imageSet_->count();
  const bool bad = markers > 0 && markers != images;
  markerLabel_->setText(bad ? tr("%1 <image> marker(s), %2 image(s)").arg(markers).arg(images)
                            : QString());
  markerLabel_->setVisible(bad);
}

void MainWindow::useSample(const SampleImage& sample, int question) {
  if (!setImages(sample.paths.isEmpty() ? QStringList{sample.path} : sample.paths)) return;
  if (question >= 0 && question < sample.questions.size()) setPrompt(sample.questions[question]);
}

void MainWindow::selectSample(int index) {
  const auto& list = samples_.samples();
  if (index < 0 || index >= static_cast<int>(list.size())) return;
  useSample(list[index], 0);
}

void MainWindow::newRandomScene() {
  try {
    useSample(samples_.randomScene(QRandomGenerator::global()->generate64()), 0);
  } catch (const std::exception& e) {
    showError(tr("Cannot make a random scene"), QString::fromUtf8(e.what()));
  }
}

void MainWindow::twoImageSample() {
  try {
    // A fixed held-out scene first (the README's picture), then fresh ones.
    const quint64 seed =
        changeSamples_++ == 0 ? 0 : QRandomGenerator::global()->bounded(1u << 20) + 1;
    useSample(samples_.changeScene(seed), 0);
  } catch (const std::exception& e) {
    showError(tr("Cannot make the two-image sample"), QString::fromUtf8(e.what()));
  }
}

void MainWindow::openImageDialog() {
  const QString path = QFileDialog::getOpenFileName(
      this, tr("Open an image"),
      StudioSettings::lastFolder(kImageDialog, QFileInfo(imagePath()).path()), kImageFilter);
  if (path.isEmpty()) return;
  StudioSettings::rememberFolder(kImageDialog, path);
  setImage(path);
}

void MainWindow::addImageDialog() {
  const QStringList paths = QFileDialog::getOpenFileNames(
      this, tr("Add images to the prompt"),
      StudioSettings::lastFolder(kImageDialog, QFileInfo(imagePath()).path()), kImageFilter);
  if (paths.isEmpty()) return;
  StudioSettings::rememberFolder(kImageDialog, paths.front());
  for (const QString& p : paths)
    if (!addImage(p)) break;
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
  const QMimeData* mime = event->mimeData();
  if (mime->hasUrls() && !mime->urls().isEmpty() && mime->urls().front().isLocalFile())
    event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event) {
  const QString path = event->mimeData()->urls().front().toLocalFile();
  // A folder is a model checkpoint; a .json file a run report; several files the prompt's images;
  // one image replaces them (Ctrl held: it is added).
  if (QFileInfo(path).isDir()) {
    loadModel(path);
  } else if (path.endsWith(QStringLiteral(".json"), Qt::CaseInsensitive)) {
    openRunReport(path);
  } else if (event->mimeData()->urls().size() > 1) {
    QStringList paths;
    for (const QUrl& u : event->mimeData()->urls())
      if (u.isLocalFile()) paths << u.toLocalFile();
    setImages(paths);
  } else if (event->modifiers() & Qt::ControlModifier) {
    addImage(path);
  } else {
    setImage(path);
  }
  event->acceptProposedAction();
}

}  // namespace hae::studio
