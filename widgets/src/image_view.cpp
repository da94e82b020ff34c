#include "hae/widgets/image_view.h"

#include <QPainter>

namespace hae::widgets {

ImageView::ImageView(QWidget* parent) : QWidget(parent) {
  setMinimumSize(160, 160);
}

void ImageView::setImage(const QImage& image) {
  image_ = image;
  update();
}

QRectF ImageView::fitRect(QSizeF content, const QRectF& area) {
  if (content.isEmpty() || area.isEmpty()) return {};
  content.scale(area.size(), Qt::KeepAspectRatio);
  return {area.x() + (area.width() - content.width()) / 2.0,
          area.y() + (area.height() - content.height()) / 2.0, content.width(), content.height()};
}

QRectF ImageView::imageRect() const {
  if (image_.isNull()) return {};
  return fitRect(image_.size(), QRectF(rect()));
}

void ImageView::paintEvent(QPaintEvent*) {
  QPainter painter(this);
  painter.fillRect(rect(), palette().window());
  if (image_.isNull()) return;
  painter.setRenderHint(QPainter::SmoothPixmapTransform);
  painter.drawImage(imageRect(), image_);
}

}  // namespace hae::widgets
