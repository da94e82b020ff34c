#pragma once
#include <QImage>
#include <QWidget>

namespace hae::widgets {

// Shows an image scaled to fit, aspect ratio kept. Overlays draw in image coordinates through
// imageRect(), which maps the image onto the widget.
class ImageView : public QWidget {
  Q_OBJECT
 public:
  explicit ImageView(QWidget* parent = nullptr);
  void setImage(const QImage& image);
  const QImage& image() const { return image_; }
  QRectF imageRect() const;  // where the image is drawn, in widget coordinates
  // `content` scaled to fit `area` with its aspect ratio kept, centred.
  static QRectF fitRect(QSizeF content, const QRectF& area);
  QSize sizeHint() const override { return {480, 480}; }

 protected:
  void paintEvent(QPaintEvent* event) override;

 private:
  QImage image_;
};

}  // namespace hae::widgets
