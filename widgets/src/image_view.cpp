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

QRectF ImageView::imageRect() const {
  if (image_.isNull()) return {};
  QSizeF size = image_.size();
  size.scale(QSizeF(width(), height()), Qt::KeepAspectRatio);
  return {(width() - size.width()) / 2.0, (height() - size.height()) / 2.0, size.width(),
          size.height()};
}

void ImageView::paintEvent(QPaintEvent*) {
  QPainter painter(this);
  painter.fillRect(rect(), palette().window());
  if (image_.isNull()) return;
  painter.setRenderHint(QPainter::SmoothPixmapTransform);
  painter.drawImage(imageRect(), image_);
}

}  // namespace hae::widgets
