#pragma once
// The prompt's images, in order: a list of thumbnails with Add, Remove and reorder. The order is
// the order of the <image> markers in the question (or of the images before it when it has none).
#include <QImage>
#include <QStringList>
#include <QWidget>
#include <vector>

class QListWidget;
class QPushButton;

namespace hae::studio {

class ImageSetPanel : public QWidget {
  Q_OBJECT
 public:
  explicit ImageSetPanel(QWidget* parent = nullptr);

  // Replace the whole set / append one image. False, with the reason in *error and the set
  // unchanged, when a file is not a readable image.
  bool setImages(const QStringList& paths, QString* error = nullptr);
  bool addImage(const QString& path, QString* error = nullptr);
  void removeImage(int index);
  void moveImage(int from, int to);
  void clear();

  int count() const { return static_cast<int>(paths_.size()); }
  QStringList paths() const { return paths_; }
  const std::vector<QImage>& images() const { return images_; }
  int currentIndex() const;
  QListWidget* list() const { return list_; }
  QPushButton* addButton() const { return add_; }
  QPushButton* removeButton() const { return remove_; }

  // Reads one image as the window shows it (RGB32); a null image and the reason when it fails.
  static QImage readImage(const QString& path, QString* error);

 signals:
  void imagesChanged();
  void addRequested();  // the Add button: the window opens its file dialog

 private:
  void rebuildList(int select);
  void updateButtons();

  QStringList paths_;
  std::vector<QImage> images_;
  QListWidget* list_ = nullptr;
  QPushButton* add_ = nullptr;
  QPushButton* remove_ = nullptr;
  QPushButton* up_ = nullptr;
  QPushButton* down_ = nullptr;
};

}  // namespace hae::studio
