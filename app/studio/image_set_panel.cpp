#include "image_set_panel.h"

#include <QFileInfo>
#include <QGridLayout>
#include <QImageReader>
#include <QListWidget>
#include <QPushButton>

namespace hae::studio {

namespace {
constexpr int kThumb = 56;
}

ImageSetPanel::ImageSetPanel(QWidget* parent) : QWidget(parent) {
  auto* layout = new QGridLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  list_ = new QListWidget(this);
  list_->setIconSize(QSize(kThumb, kThumb));
  list_->setSelectionMode(QAbstractItemView::SingleSelection);
  // Three rows show without scrolling; more images scroll inside the list, not the dock.
  list_->setFixedHeight(3 * (kThumb + 6) + 6);
  list_->setToolTip(tr("The prompt's images in order: image 1 fills the first <image> marker"));
  layout->addWidget(list_, 0, 0, 1, 4);
  add_ = new QPushButton(tr("Add..."), this);
  add_->setToolTip(tr("Add an image to the prompt (after the last one)"));
  remove_ = new QPushButton(tr("Remove"), this);
  up_ = new QPushButton(tr("Up"), this);
  up_->setToolTip(tr("Move the selected image one place earlier in the prompt"));
  down_ = new QPushButton(tr("Down"), this);
  down_->setToolTip(tr("Move the selected image one place later in the prompt"));
  // Four buttons in one row would each take the style's 80 px minimum and widen the Setup panel
  // past a 1280 px screen's share: as narrow as their text instead.
  for (QPushButton* b : {add_, remove_, up_, down_}) {
    b->setSizePolicy(QSizePolicy::Preferred, QSizePolicy::Fixed);
    b->setMinimumWidth(b->fontMetrics().horizontalAdvance(b->text()) + 18);
  }
  layout->addWidget(add_, 1, 0);
  layout->addWidget(remove_, 1, 1);
  layout->addWidget(up_, 1, 2);
  layout->addWidget(down_, 1, 3);

  connect(add_, &QPushButton::clicked, this, &ImageSetPanel::addRequested);
  connect(remove_, &QPushButton::clicked, this, [this] { removeImage(currentIndex()); });
  connect(up_, &QPushButton::clicked, this, [this] {
    const int i = currentIndex();
    moveImage(i, i - 1);
  });
  connect(down_, &QPushButton::clicked, this, [this] {
    const int i = currentIndex();
    moveImage(i, i + 1);
  });
  connect(list_, &QListWidget::currentRowChanged, this, &ImageSetPanel::updateButtons);
  updateButtons();
}

QImage ImageSetPanel::readImage(const QString& path, QString* error) {
  QImageReader reader(path);
  const QImage image = reader.read();
  if (image.isNull()) {
    if (error)
      *error = tr("%1\n\n%2")
                   .arg(path,
                        reader.errorString().isEmpty() ? tr("not an image") : reader.errorString());
    return {};
  }
  return image.convertToFormat(QImage::Format_RGB32);
}

bool ImageSetPanel::setImages(const QStringList& paths, QString* error) {
  QStringList absolute;
  std::vector<QImage> images;
  for (const QString& p : paths) {
    QImage image = readImage(p, error);
    if (image.isNull()) return false;
    absolute << QFileInfo(p).absoluteFilePath();
    images.push_back(std::move(image));
  }
  paths_ = absolute;
  images_ = std::move(images);
  rebuildList(0);
  emit imagesChanged();
  return true;
}

bool ImageSetPanel::addImage(const QString& path, QString* error) {
  QImage image = readImage(path, error);
  if (image.isNull()) return false;
  paths_ << QFileInfo(path).absoluteFilePath();
  images_.push_back(std::move(image));
  rebuildList(count() - 1);
  emit imagesChanged();
  return true;
}

void ImageSetPanel::removeImage(int index) {
  if (index < 0 || index >= count()) return;
  paths_.removeAt(index);
  images_.erase(images_.begin() + index);
  rebuildList(std::min(index, count() - 1));
  emit imagesChanged();
}

void ImageSetPanel::moveImage(int from, int to) {
  if (from < 0 || from >= count() || to < 0 || to >= count() || from == to) return;
  paths_.move(from, to);
  QImage moved = std::move(images_[from]);
  images_.erase(images_.begin() + from);
  images_.insert(images_.begin() + to, std::move(moved));
  rebuildList(to);
  emit imagesChanged();
}

void ImageSetPanel::clear() {
  if (paths_.isEmpty()) return;
  paths_.clear();
  images_.clear();
  rebuildList(-1);
  emit imagesChanged();
}

int ImageSetPanel::currentIndex() const {
  return list_->currentRow();
}

void ImageSetPanel::rebuildList(int select) {
  const QSignalBlocker block(list_);
  list_->clear();
  for (int i = 0; i < count(); ++i) {
    const QImage thumb =
        images_[i].scaled(kThumb, kThumb, Qt::KeepAspectRatio, Qt::SmoothTransformation);
    auto* item = new QListWidgetItem(QIcon(QPixmap::fromImage(thumb)),
                                     tr("%1. %2\n%3 x %4")
                                         .arg(i + 1)
                                         .arg(QFileInfo(paths_[i]).fileName())
                                         .arg(images_[i].width())
                                         .arg(images_[i].height()),
                                     list_);
    item->setToolTip(paths_[i]);
  }
  if (select >= 0 && select < count()) list_->setCurrentRow(select);
  updateButtons();
}

void ImageSetPanel::updateButtons() {
  const int i = currentIndex();
  remove_->setEnabled(i >= 0);
  up_->setEnabled(i > 0);
  down_->setEnabled(i >= 0 && i + 1 < count());
}

}  // namespace hae::studio
