#include "hae/widgets/report_pdf.h"

#include <QAbstractTextDocumentLayout>
#include <QPdfWriter>
#include <QTextDocument>
#include <algorithm>
#include <cmath>
#include <memory>

#include "hae/error.h"
#include "hae/report.h"
#include "hae/widgets/bin_activity_plot.h"
#include "hae/widgets/cache_size_plot.h"
#include "hae/widgets/latency_plot.h"
#include "hae/widgets/patch_overlay_view.h"
#include "hae/widgets/run_history.h"

namespace hae::widgets {

namespace {

constexpr int kDpi = 96;  // painter units are screen pixels, so the widgets lay out as on screen

QString bytesText(double b) {
  if (b >= 1024.0 * 1024 * 1024)
    return QStringLiteral("%1 GiB").arg(b / (1024.0 * 1024 * 1024), 0, 'f', 2);
  if (b >= 1024.0 * 1024) return QStringLiteral("%1 MiB").arg(b / (1024.0 * 1024), 0, 'f', 2);
  if (b >= 1024.0) return QStringLiteral("%1 KiB").arg(b / 1024.0, 0, 'f', 1);
  return QStringLiteral("%1 B").arg(b, 0, 'f', 0);
}

// Top-to-bottom flow over pages: each block asks for its height and starts a new page when the
// current one has no room left.
class PageFlow {
 public:
  PageFlow(QPdfWriter& writer, QCPPainter& painter) : writer_(writer), painter_(painter) {
    const QRect r = writer.pageLayout().paintRectPixels(kDpi);
    area_ = QRectF(0, 0, r.width(), r.height());
    y_ = area_.top();
    footer();
  }
  double width() const { return area_.width(); }
  double left() const { return area_.left(); }
  double y() const { return y_; }
  double room() const { return area_.bottom() - kFooter - y_; }
  int pages() const { return pages_; }
  QCPPainter& painter() { return painter_; }

  // Reserves `h` at the current position (a new page when it does not fit) and returns its top.
  double take(double h) {
    if (h > room() && y_ > area_.top()) newPage();
    const double top = y_;
    y_ += h;
    return top;
  }
  void space(double h) { y_ = std::min(y_ + h, area_.bottom()); }
  void newPage() {
    writer_.newPage();
    ++pages_;
    y_ = area_.top();
    footer();
  }

  // `keep_with`: room the block after the heading needs, so a heading never ends a page alone.
  void heading(const QString& text, int point_size = 13, double keep_with = 60) {
    QFont f = painter_.font();
    f.setPointSize(point_size);
    f.setBold(true);
    const double h = QFontMetricsF(f).height();
    if (room() < h + 14 + keep_with && y_ > area_.top()) newPage();
    const double top = take(h + 14) + 10;
    painter_.save();
    painter_.setFont(f);
    painter_.drawText(QRectF(left(), top, width(), h), Qt::AlignLeft | Qt::AlignVCenter, text);
    painter_.restore();
  }

  // Plain text that may run over several pages, cut at line boundaries.
  void text(const QString& text, const QFont& font) {
    QTextDocument doc;
    doc.setDocumentMargin(0);
    doc.documentLayout()->setPaintDevice(&writer_);  // measure with the PDF's metrics
    doc.setDefaultFont(font);
    doc.setPlainText(text);
    doc.setTextWidth(width());
    const double total = doc.size().height();
    const double line = QFontMetricsF(font, &writer_).lineSpacing();
    double offset = 0;
    while (offset < total - 0.5) {
      if (room() < line * 2) newPage();
      double slice = std::min(room(), total - offset);
      if (slice < total - offset) slice = std::max(line, std::floor(slice / line) * line);
      painter_.save();
      painter_.translate(left(), y_ - offset);
      doc.drawContents(&painter_, QRectF(0, offset, width(), slice));
      painter_.restore();
      y_ += slice;
      offset += slice;
    }
  }

 private:
  static constexpr double kFooter = 22;
  void footer() {
    painter_.save();
    QFont f = painter_.font();
    f.setPointSize(8);
    painter_.setFont(f);
    painter_.setPen(QColor(110, 110, 110));
    painter_.drawText(QRectF(area_.left(), area_.bottom() - 14, area_.width(), 14), Qt::AlignRight,
                      QStringLiteral("HAE Studio run report - page %1").arg(pages_));
    painter_.restore();
  }

  QPdfWriter& writer_;
  QCPPainter& painter_;
  QRectF area_;
  double y_ = 0;
  int pages_ = 1;
};

void keyValues(PageFlow& flow, const std::vector<std::pair<QString, QString>>& rows,
               const QFont& font) {
  QCPPainter& p = flow.painter();
  const QFontMetricsF fm(font);
  const double key_w = 200;
  p.save();
  p.setFont(font);
  for (const auto& [key, value] : rows) {
    const QRectF bound =
        fm.boundingRect(QRectF(0, 0, flow.width() - key_w, 10000), Qt::TextWordWrap, value);
    const double h = std::max(fm.lineSpacing(), bound.height()) + 2;
    const double top = flow.take(h);
    p.setPen(QColor(90, 98, 112));
    p.drawText(QRectF(flow.left(), top, key_w, h), Qt::AlignLeft | Qt::AlignTop,
               fm.elidedText(key, Qt::ElideMiddle, key_w - 8));
    p.setPen(Qt::black);
    p.drawText(QRectF(flow.left() + key_w, top, flow.width() - key_w, h),
               Qt::AlignLeft | Qt::AlignTop | Qt::TextWordWrap, value);
  }
  p.restore();
}

void plot(PageFlow& flow, LivePlot& plot, double height) {
  const QSize size(static_cast<int>(flow.width()), static_cast<int>(height));
  plot.resize(size);
  plot.flush();
  const double top = flow.take(height + 8);
  QCPPainter& p = flow.painter();
  p.save();
  p.translate(flow.left(), top);
  p.setClipRect(QRectF(0, 0, size.width(), size.height()));
  plot.toPainter(&p, size.width(), size.height());
  p.restore();
}

std::vector<int> overlayLayers(int layers) {
  std::vector<int> out;
  if (layers > 0) out = {0, (layers - 1) / 2, layers - 1};
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace

int writePdfReport(const std::string& path, const RunInfo& info,
                   const std::vector<StepTelemetry>& steps, const std::string& answer) {
  RunHistory history;
  history.reset(info);
  for (const auto& t : steps) history.appendStep(std::make_shared<const StepTelemetry>(t));
  const ReportSummary s = summarizeRun(info, steps);
  int pages = 0;

  writeFileAtomicallyVia(path, [&](const std::string& temp) {
    QPdfWriter writer(QString::fromStdString(temp));
    writer.setResolution(kDpi);
    writer.setPageSize(QPageSize(QPageSize::A4));
    writer.setPageMargins(QMarginsF(14, 14, 14, 14), QPageLayout::Millimeter);
    writer.setTitle(QStringLiteral("HAE Studio run report: %1 / %2")
                        .arg(QString::fromStdString(info.model_name),
                             QString::fromStdString(info.policy_name)));
    writer.setCreator(QStringLiteral("HAE Studio"));
    QCPPainter painter;
    if (!painter.begin(&writer)) throw Error(path + ": cannot write the PDF");
    // QCustomPlot draws cosmetic pens and cached pixmaps for screens; a PDF wants real vectors.
    painter.setMode(QCPPainter::pmVectorized);
    painter.setMode(QCPPainter::pmNoCaching);
    painter.setRenderHint(QPainter::Antialiasing);
    QFont body = painter.font();
    body.setPointSize(9);
    painter.setFont(body);
    PageFlow flow(writer, painter);

    flow.heading(QStringLiteral("HAE Studio run report"), 17);
    keyValues(flow,
              {{QStringLiteral("model"), QString::fromStdString(info.model_name)},
               {QStringLiteral("policy"), QString::fromStdString(info.policy_name)},
               {QStringLiteral("device"), QStringLiteral("%1, %2 threads")
                                              .arg(QString::fromStdString(info.device))
                                              .arg(info.threads)}},
              body);

    flow.heading(QStringLiteral("Summary"));
    std::vector<std::pair<QString, QString>> summary = {
        {QStringLiteral("prefill"), QStringLiteral("%1 ms (model %2 ms, policy %3 ms)")
                                        .arg(s.prefill_ms, 0, 'f', 2)
                                        .arg(s.prefill_model_ms, 0, 'f', 2)
                                        .arg(s.prefill_policy_ms, 0, 'f', 2)},
        {QStringLiteral("decode per token"),
         s.generated_tokens ? QStringLiteral("%1 ms").arg(s.decode_ms_per_token, 0, 'f', 2)
                            : QStringLiteral("-")},
        {QStringLiteral("policy share"),
         QStringLiteral("%1 % of compute").arg(100 * s.policy_share, 0, 'f', 1)},
        {QStringLiteral("cache peak / mean / final"),
         QStringLiteral("%1 / %2 / %3")
             .arg(bytesText(static_cast<double>(s.peak_cache_bytes)),
                  bytesText(static_cast<double>(s.mean_cache_bytes)),
                  bytesText(static_cast<double>(s.final_cache_bytes)))},
        {QStringLiteral("tokens"), QStringLiteral("%1 prompt (%2 visual), %3 generated")
                                       .arg(s.prompt_tokens)
                                       .arg(s.visual_tokens)
                                       .arg(s.generated_tokens)}};
    if (s.full_cache_bytes)
      summary.push_back({QStringLiteral("full cache (final)"),
                         bytesText(static_cast<double>(*s.full_cache_bytes))});
    if (s.held_cache_bytes)
      summary.push_back({QStringLiteral("slots held (final)"),
                         bytesText(static_cast<double>(*s.held_cache_bytes))});
    if (s.reduction_vs_full)
      summary.push_back({QStringLiteral("KV reduction vs full"),
                         QStringLiteral("%1 %").arg(100 * *s.reduction_vs_full, 0, 'f', 1)});
    keyValues(flow, summary, body);

    if (!steps.empty() && !info.visual_tokens.empty()) {
      const double gap = 10;
      const double w = (flow.width() - gap * 2) / 3;
      const double h = w * 0.8;
      flow.heading(
          QStringLiteral("Visual patches at the final step (step %1)").arg(steps.back().step), 13,
          h + 4);
      PatchOverlayView overlay(&history);
      const auto layers = overlayLayers(history.numLayers());
      const double top = flow.take(h + 4);
      for (std::size_t i = 0; i < layers.size(); ++i) {
        overlay.setLayer(layers[i]);
        // Laid out at 1.6 times the size and scaled down, so the view's header and legend fit
        // into a third of the page width.
        const QImage img =
            overlay.exportImage(QSize(static_cast<int>(w * 1.6), static_cast<int>(h * 1.6)), 2.0);
        painter.drawImage(QRectF(flow.left() + i * (w + gap), top, w, h), img);
      }
    }

    constexpr double kCacheH = 330, kLatencyH = 240, kBinH = 240;
    flow.heading(QStringLiteral("Cache, latency and recycle bin"), 13,
                 kCacheH + kLatencyH + kBinH + 24);
    {
      CacheSizePlot cache(&history);
      plot(flow, cache, kCacheH);
      LatencyPlot latency(&history);
      plot(flow, latency, kLatencyH);
      BinActivityPlot bin(&history);
      plot(flow, bin, kBinH);
    }

    flow.heading(QStringLiteral("Generated text"));
    QFont answer_font = body;
    answer_font.setPointSize(10);
    flow.text(QString::fromStdString(answer), answer_font);

    flow.heading(QStringLiteral("Settings"));
    std::vector<std::pair<QString, QString>> settings = {
        {QStringLiteral("model folder"), QString::fromStdString(info.model_path)},
        {QStringLiteral("layers"), QString::number(history.numLayers())},
        {QStringLiteral("KV bytes per token"),
         bytesText(static_cast<double>(info.kv_bytes_per_token))}};
    for (const auto& [k, v] : info.knobs)
      settings.push_back(
          {QStringLiteral("knob %1").arg(QString::fromStdString(k)), QString::fromStdString(v)});
    settings.push_back({QStringLiteral("prompt"), QString::fromStdString(info.prompt)});
    for (std::size_t i = 0; i < info.images.size(); ++i)
      settings.push_back(
          {QStringLiteral("image %1").arg(i), QStringLiteral("%1 (%2x%3 px)")
                                                  .arg(QString::fromStdString(info.images[i].path))
                                                  .arg(info.images[i].width)
                                                  .arg(info.images[i].height)});
    keyValues(flow, settings, body);

    flow.heading(QStringLiteral("Steps"));
    QString table = QStringLiteral("%1 %2 %3 %4 %5 %6\n")
                        .arg(QStringLiteral("step"), 5)
                        .arg(QStringLiteral("token"), -18)
                        .arg(QStringLiteral("model ms"), 10)
                        .arg(QStringLiteral("policy ms"), 10)
                        .arg(QStringLiteral("cache"), 12)
                        .arg(QStringLiteral("events"), 7);
    for (const auto& t : steps) {
      QString token =
          t.step == 0 ? QStringLiteral("(prefill)") : QString::fromStdString(t.token_text);
      token.replace(QLatin1Char('\n'), QStringLiteral("\\n"));
      table += QStringLiteral("%1 %2 %3 %4 %5 %6\n")
                   .arg(t.step, 5)
                   .arg(token.left(18), -18)
                   .arg(t.model_ms, 10, 'f', 2)
                   .arg(t.policy_ms, 10, 'f', 3)
                   .arg(bytesText(static_cast<double>(t.totalBytes())), 12)
                   .arg(t.events.size(), 7);
    }
    QFont mono(QStringLiteral("DejaVu Sans Mono"));
    mono.setStyleHint(QFont::Monospace);
    mono.setPointSize(8);
    flow.text(table, mono);

    pages = flow.pages();
    if (!painter.end()) throw Error(path + ": writing the PDF failed");
  });
  return pages;
}

}  // namespace hae::widgets
