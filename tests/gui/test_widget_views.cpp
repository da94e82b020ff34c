// The views' second pass on small synthetic runs (torch-free): the heat map's colour scale is the
// run's own and anchored at 0, plot labels sit outside the plot area, the overlay marks what the
// model never saw and can draw evictions as a hatch or an outline, exports carry no UI hints but
// the model and policy, and the token stream reads as text (punctuation, <unk>, ids, one chip
// per image).
#include <QComboBox>
#include <QLabel>
#include <QTemporaryDir>
#include <QtTest>

#include "hae/widgets/attention_view.h"
#include "hae/widgets/bin_activity_plot.h"
#include "hae/widgets/compare_curves.h"
#include "hae/widgets/latency_plot.h"
#include "hae/widgets/occupancy_heatmap.h"
#include "hae/widgets/patch_overlay_view.h"
#include "hae/widgets/run_caption.h"
#include "hae/widgets/run_history.h"
#include "hae/widgets/state_colors.h"
#include "hae/widgets/token_stream_view.h"

using namespace hae;
using namespace hae::widgets;

namespace {

const QColor kBase(128, 128, 128);

// One image of 336x448 whose single 4x4 grid covers only the centre square (a CLIP centre crop
// cuts the top and bottom 56 px away), and `steps` steps where patch v of layer l is evicted
// when v % 4 == l, every other one kept. live[] per layer is `live + layer`.
RunInfo cropRun() {
  RunInfo info;
  info.model_name = "synthetic-vlm";
  info.policy_name = "hae";
  info.knobs = {{"ddes.bin", "8"}};
  info.num_layers = 2;
  ImageInfo im{"", 336, 448, {}};
  im.grids.push_back({0, 0, 4, 4, {0, 56, 336, 336}, false});
  info.images = {im};
  TokenInfo t;
  t.position = 0, t.text = "USER:", t.modality = Modality::Text;
  info.tokens.push_back(t);
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) {
      TokenInfo v;
      v.position = static_cast<int>(info.tokens.size());
      v.modality = Modality::Visual, v.image = 0, v.crop = 0, v.row = r, v.col = c;
      info.visual_tokens.push_back(v.position);
      info.tokens.push_back(v);
    }
  return info;
}

std::shared_ptr<const StepTelemetry> makeStep(int step, int layers, int visuals, int live,
                                              double modelMs = 20, int events = 0) {
  auto s = std::make_shared<StepTelemetry>();
  s->step = step;
  s->token_id = step > 0 ? 100 + step : -1;
  s->model_ms = modelMs;
  s->policy_ms = 0.5;
  s->layers.resize(layers);
  s->patch_states.assign(layers, std::vector<PatchState>(visuals, PatchState::Kept));
  for (int l = 0; l < layers; ++l) {
    s->layers[l].live[static_cast<int>(Modality::Text)] = live + l;
    for (int v = 0; v < visuals; ++v)
      if (v % 4 == l) s->patch_states[l][v] = PatchState::Evicted;
  }
  for (int e = 0; e < events; ++e) {
    PolicyEvent ev;
    ev.kind = EventKind::Evict, ev.step = step, ev.layer = 0, ev.position = 1 + e % visuals;
    s->events.push_back(ev);
  }
  return s;
}

int distance(QColor a, QColor b) {
  return std::abs(a.red() - b.red()) + std::abs(a.green() - b.green()) +
         std::abs(a.blue() - b.blue());
}

QImage grey(int w, int h) {
  QImage image(w, h, QImage::Format_RGB32);
  image.fill(kBase);
  return image;
}

// Share of the pixels inside `r` (shrunk by 3 px) that show the plain image.
double shareOfBase(const QImage& shot, const QRectF& r) {
  const QRect inner = r.toAlignedRect().adjusted(3, 3, -3, -3);
  int base = 0, all = 0;
  for (int y = inner.top(); y <= inner.bottom(); ++y)
    for (int x = inner.left(); x <= inner.right(); ++x, ++all)
      base += distance(shot.pixelColor(x, y), kBase) <= 6;
  return all ? static_cast<double>(base) / all : 0;
}

// The colour nearest to `want` on the row y between x0 and x1 (an edge drawn within a pixel or
// two).
int nearest(const QImage& shot, int x0, int x1, int y, QColor want) {
  int best = 1 << 20;
  for (int x = x0; x <= x1; ++x) best = std::min(best, distance(shot.pixelColor(x, y), want));
  return best;
}

}  // namespace

class WidgetViewsTest : public QObject {
  Q_OBJECT
 private slots:
  void heatmapScaleIsTheRunsOwnFromZero() {
    RunHistory history;
    OccupancyHeatmap heat(&history);
    RunInfo info = cropRun();
    history.reset(info);
    for (int s = 0; s < 4; ++s) history.appendStep(makeStep(s, 2, 16, 800 + s));
    heat.flush();
    QCOMPARE(heat.colorMap()->dataRange().lower, 0.0);
    QCOMPARE(heat.colorMap()->dataRange().upper, 804.0);  // 803 + layer 1, the 16 visuals evicted
    // A second, smaller run: the scale is this run's, not the last one's.
    history.reset(info);
    heat.flush();
    for (int s = 0; s < 3; ++s) history.appendStep(makeStep(s, 2, 16, 30));
    heat.flush();
    const QCPRange range = heat.colorMap()->dataRange();
    QCOMPARE(range.lower, 0.0);
    QCOMPARE(range.upper, 31.0);
    // 30 against 31 live slots: one shade apart, not the two ends of the ramp.
    QCPColorGradient g = heat.colorMap()->gradient();
    const QColor a = QColor::fromRgb(g.color(30, range)), b = QColor::fromRgb(g.color(31, range));
    const QColor low = QColor::fromRgb(g.color(0, range)),
                 high = QColor::fromRgb(g.color(31, range));
    QVERIFY2(distance(a, b) * 10 < distance(low, high),
             qPrintable(QStringLiteral("%1 vs %2").arg(a.name(), b.name())));
  }

  void plotLabelsStayOffTheData() {
    RunHistory history;
    LatencyPlot latency(&history);
    BinActivityPlot bin(&history);
    latency.resize(360, 240);
    bin.resize(360, 240);
    history.reset(cropRun());
    history.appendStep(makeStep(0, 2, 16, 20, 840, 400));  // a prefill burst off the scale
    for (int s = 1; s < 6; ++s) history.appendStep(makeStep(s, 2, 16, 20, 21, 2));
    latency.flush();
    bin.flush();
    QVERIFY(latency.prefillElement()->text().contains(QStringLiteral("840")));
    QVERIFY(latency.prefillElement()->text().startsWith(QStringLiteral("prefill")));
    const QRect latencyData = latency.axisRect()->rect();
    QVERIFY(!latency.prefillElement()->outerRect().intersects(latencyData));
    QVERIFY(!latency.legend->outerRect().intersects(latencyData));
    // The prefill line fits the plot's width (it used to be clipped to "refill").
    const QFontMetrics fm(latency.prefillElement()->font());
    QVERIFY(fm.horizontalAdvance(latency.prefillElement()->text()) <= latency.width());

    QVERIFY(bin.prefillText().contains(QStringLiteral("prefill (off scale): 400 evictions")));
    const QRect binData = bin.axisRect()->rect();
    QVERIFY(!bin.prefillElement()->outerRect().intersects(binData));
    QVERIFY(!bin.legend->outerRect().intersects(binData));
    // One stacked bar per step, centred on the step's integer tick.
    for (auto k : {EventKind::Evict, EventKind::Demote, EventKind::Restore, EventKind::Purge}) {
      QCOMPARE(bin.bars(k)->barsGroup(), static_cast<QCPBarsGroup*>(nullptr));
      for (auto it = bin.bars(k)->data()->constBegin(); it != bin.bars(k)->data()->constEnd(); ++it)
        QCOMPARE(it->key, std::round(it->key));
    }
    QCOMPARE(bin.bars(EventKind::Demote)->barBelow(), bin.bars(EventKind::Evict));
    QCOMPARE(bin.bars(EventKind::Purge)->barBelow(), bin.bars(EventKind::Restore));
  }

  void overlayMarksWhatTheModelNeverSaw() {
    RunHistory history;
    history.reset(cropRun());
    history.appendStep(makeStep(0, 2, 16, 20));
    PatchOverlayView view(&history);
    view.setImages({grey(336, 448)});
    view.resize(500, 520);
    view.setLayer(1);
    const QPainterPath unseen = view.unseenArea(0);
    QVERIFY(!unseen.isEmpty());
    const QRectF first = view.patchRect(0), last = view.patchRect(15);
    // The bands above and below the crop, nothing inside it.
    QVERIFY(unseen.contains(QPointF(first.center().x(), first.top() - 5)));
    QVERIFY(unseen.contains(QPointF(last.center().x(), last.bottom() + 5)));
    QVERIFY(!unseen.contains(first.center()));
    const QImage shot = view.renderImage(view.size());
    // The unseen band is shaded: darker than the plain image; a kept patch shows the image.
    QVERIFY(shot.pixelColor(QPointF(first.center().x(), first.top() - 5).toPoint()).lightness() <
            kBase.lightness() - 20);
    QVERIFY(distance(shot.pixelColor(view.patchRect(2).center().toPoint()), kBase) <= 6);

    // An image its grids cover entirely has nothing to mark.
    RunInfo full = cropRun();
    full.images[0].grids[0].region = {0, 0, 336, 448};
    history.reset(full);
    history.appendStep(makeStep(0, 2, 16, 20));
    QVERIFY(view.unseenArea(0).isEmpty());
  }

  void evictedPatchesCanBeHatchedOrOutlined() {
    RunHistory history;
    history.reset(cropRun());
    history.appendStep(makeStep(0, 2, 16, 20));
    PatchOverlayView view(&history);
    view.setImages({grey(336, 448)});
    view.resize(500, 520);
    view.setLayer(1);
    const QRectF gone = view.patchRect(1);  // 1 % 4 == layer 1: evicted
    QCOMPARE(history.patchState(1, 1, 0), PatchState::Evicted);
    // Tint: the whole patch is covered.
    QVERIFY(shareOfBase(view.renderImage(view.size()), gone) < 0.05);
    // Hatch: the image shows between the lines, and the lines are dark red.
    view.setEvictedStyle(PatchOverlayView::EvictedStyle::Hatch);
    QImage shot = view.renderImage(view.size());
    const double hatchBase = shareOfBase(shot, gone);
    QVERIFY2(hatchBase > 0.3 && hatchBase < 0.98, qPrintable(QString::number(hatchBase)));
    // Outline: the inside is the image itself, the edge is marked.
    view.setEvictedStyle(PatchOverlayView::EvictedStyle::Outline);
    shot = view.renderImage(view.size());
    QVERIFY(distance(shot.pixelColor(gone.center().toPoint()), kBase) <= 6);
    QVERIFY(shareOfBase(shot, gone.adjusted(-3, -3, 3, 3)) < 0.99);
    const int y = static_cast<int>(gone.center().y()), left = static_cast<int>(gone.left());
    QVERIFY(nearest(shot, left, left + 4, y, stateSolid(PatchState::Evicted)) < 60);
    // Kept patches are untouched in every style.
    QVERIFY(distance(shot.pixelColor(view.patchRect(2).center().toPoint()), kBase) <= 6);
  }

  void exportsDropUiHintsAndNameTheRun() {
    RunInfo info = cropRun();
    info.model_name.clear();  // no caption: the export lays out exactly as the window
    info.policy_name.clear();
    RunHistory history;
    history.reset(info);
    history.appendStep(makeStep(0, 2, 16, 20));
    PatchOverlayView view(&history);
    view.setImages({grey(336, 448)});
    view.resize(700, 520);
    view.setLayer(1);
    view.pinPatch(5);
    const QImage screen = view.renderImage(view.size()), picture = view.exportImage(view.size(), 1);
    // The pin's cyan frame is the window's state, not the run's.
    const QRectF pinned = view.patchRect(5);
    const int y = static_cast<int>(pinned.center().y()), left = static_cast<int>(pinned.left());
    QVERIFY(nearest(screen, left - 3, left + 1, y, QColor(0, 220, 255)) < 60);
    QVERIFY(nearest(picture, left - 3, left + 1, y, QColor(0, 220, 255)) > 150);
    // The hint text ("hover a patch for details ...") right of the legend is gone.
    auto inkRight = [&](const QImage& img, int x0) {
      int ink = 0;
      const QColor bg = view.palette().window().color();
      // Below the image: the crop's last row, then the 56 px band it cut away (84 px a patch).
      const QRectF last = view.patchRect(15);
      for (int y = static_cast<int>(last.bottom() + 56 * last.height() / 84) + 4; y < img.height();
           ++y)
        for (int x = x0; x < img.width(); ++x) ink += distance(img.pixelColor(x, y), bg) > 60;
      return ink;
    };
    const int x0 = view.width() / 2 + 40;  // past "kept / in recycle bin / evicted / not seen"
    QVERIFY(inkRight(screen, x0) > 20);
    QCOMPARE(inkRight(picture, x0), 0);

    // With a model and policy, the export names them (knobs at their defaults left out).
    RunInfo named = cropRun();
    rememberKnobDefaults("hae", {{"ddes.bin", KnobType::Int, 0, 1e9, "64", {}, ""},
                                 {"dap.r", KnobType::Float, 0, 1, "0.0015", {}, ""}});
    named.knobs = {{"ddes.bin", "8"}, {"dap.r", "0.0015"}};
    const QString caption = runCaption(named);
    QCOMPARE(caption, QStringLiteral("model synthetic-vlm · policy hae · ddes.bin=8"));
    history.reset(named);
    history.appendStep(makeStep(0, 2, 16, 20));
    LatencyPlot plot(&history);
    plot.resize(400, 260);
    plot.flush();
    const int rows = plot.plotLayout()->rowCount();
    QTemporaryDir dir;
    QString error;
    QVERIFY2(plot.exportTo(dir.filePath("latency.svg"), &error), qPrintable(error));
    QFile svg(dir.filePath("latency.svg"));
    QVERIFY(svg.open(QIODevice::ReadOnly));
    const QByteArray text = svg.readAll();
    QVERIFY(text.contains("synthetic-vlm"));
    QVERIFY(text.contains("ddes.bin=8"));
    QCOMPARE(plot.plotLayout()->rowCount(), rows);  // the caption was only for the export
  }

  void compareCurvesShareAxesAndDiffShowsWhoHoldsWhat() {
    RunHistory a, b;
    RunInfo infoA = cropRun(), infoB = cropRun();
    infoB.policy_name = "snapkv";
    CompareCurves curves(&a, &b);
    PatchOverlayView diff(&a);
    diff.setDiffAgainst(&b);
    diff.setImages({grey(336, 448)});
    diff.resize(600, 520);
    a.reset(infoA);
    b.reset(infoB);
    for (int s = 0; s < 6; ++s) {
      auto stepA = std::make_shared<StepTelemetry>(*makeStep(s, 2, 16, 40 + s, s == 0 ? 500 : 20));
      stepA->layers[0].bytes = 1 << 20;
      a.appendStep(stepA);
      if (s >= 4) continue;  // B is behind
      // B evicts the patches A evicts in the next layer: v % 4 == layer + 1.
      auto stepB = std::make_shared<StepTelemetry>(*makeStep(s, 2, 16, 30, s == 0 ? 400 : 35));
      for (int l = 0; l < 2; ++l)
        for (int v = 0; v < 16; ++v)
          stepB->patch_states[l][v] = v % 4 == l + 1 ? PatchState::Evicted : PatchState::Kept;
      stepB->layers[0].bytes = 1 << 19;
      b.appendStep(stepB);
    }
    a.setCursor(3);
    b.setCursor(3);  // the window moves B with A
    curves.flush();
    QCOMPARE(curves.graph(CompareCurves::CacheMiB, 0)->dataCount(), 6);
    QCOMPARE(curves.graph(CompareCurves::CacheMiB, 1)->dataCount(), 4);
    QCOMPARE(curves.graph(CompareCurves::StepMs, 0)->dataCount(), 5);  // decode steps only
    QCOMPARE(curves.graph(CompareCurves::CacheMiB, 1)->data()->at(0)->value, 0.5);
    QCOMPARE(curves.graph(CompareCurves::LiveSlots, 0)->data()->at(2)->value, 42.5);
    QCOMPARE(curves.graph(CompareCurves::StepMs, 1)->data()->at(0)->value, 35.5);
    // One step range on every panel, covering both runs; values from 0 over both runs.
    const QCPRange x = curves.panel(CompareCurves::CacheMiB)->axis(QCPAxis::atBottom)->range();
    for (int m = 0; m < CompareCurves::kMetrics; ++m) {
      const auto metric = static_cast<CompareCurves::Metric>(m);
      QCOMPARE(curves.panel(metric)->axis(QCPAxis::atBottom)->range(), x);
      QCOMPARE(curves.panel(metric)->axis(QCPAxis::atLeft)->range().lower, 0.0);
    }
    QVERIFY(x.lower <= 0 && x.upper >= 5);
    QVERIFY(curves.panel(CompareCurves::StepMs)->axis(QCPAxis::atLeft)->range().upper >= 35.5);
    QCOMPARE(curves.cursorKey(), 3.0);
    QVERIFY(curves.graph(CompareCurves::CacheMiB, 1)->name().contains(QStringLiteral("snapkv")));

    diff.setLayer(0);
    QCOMPARE(diff.diffClass(0), PatchOverlayView::DiffClass::BOnly);  // A evicts v % 4 == 0
    QCOMPARE(diff.diffClass(1), PatchOverlayView::DiffClass::AOnly);  // B evicts v % 4 == 1
    QCOMPARE(diff.diffClass(2), PatchOverlayView::DiffClass::Both);
    diff.setLayer(1);  // A evicts 1 mod 4, B evicts 2 mod 4
    QCOMPARE(diff.diffClass(1), PatchOverlayView::DiffClass::BOnly);
    QCOMPARE(diff.diffClass(2), PatchOverlayView::DiffClass::AOnly);
    QVERIFY2(diff.headerText().contains(QStringLiteral("8 both · 4 A only · 4 B only · 0 neither")),
             qPrintable(diff.headerText()));
    // Compare's narrow columns: the counts alone, the same numbers.
    diff.setCompactHeader(true);
    QCOMPARE(diff.headerText(), QStringLiteral("8 both · 4 A only · 4 B only · 0 neither"));
    diff.setCompactHeader(false);
    const QImage shot = diff.renderImage(diff.size());
    const QColor aOnly = shot.pixelColor(diff.patchRect(2).center().toPoint());
    const QColor bOnly = shot.pixelColor(diff.patchRect(1).center().toPoint());
    QVERIFY(aOnly.blue() > aOnly.red() + 40);  // A's blue
    QVERIFY(bOnly.red() > bOnly.blue() + 40);  // B's orange
    QVERIFY(distance(shot.pixelColor(diff.patchRect(0).center().toPoint()), kBase) <= 6);
    // A picture of both for a reader of the test output.
    curves.resize(520, 420);
    curves.flush();
    QImage sheet(1120, 520, QImage::Format_ARGB32_Premultiplied);
    sheet.fill(Qt::white);
    QPainter p(&sheet);
    p.drawImage(0, 0, shot);
    p.drawPixmap(600, 0, curves.toPixmap(520, 420));
    p.end();
    QVERIFY(sheet.save(QStringLiteral(HAE_TEST_OUTPUT "/compare_views.png")));
  }

  void attentionMapAndPerHeadKeep() {
    RunHistory history;
    history.reset(cropRun());
    history.appendStep(makeStep(0, 2, 16, 20));
    history.appendStep(makeStep(1, 2, 16, 20));
    AttentionView view(&history);
    view.setImages({grey(336, 448)});
    view.resize(520, 600);
    QVERIFY(view.statusLabel()->text().contains(QStringLiteral("No attention")));
    // Two heads: head 0 looks at patch 5, head 1 at patch 10.
    VisualAttention att;
    att.step = 1, att.layer = 1, att.heads = 2;
    att.weights.assign(32, 0.01f);
    att.weights[5] = 0.8f;
    att.weights[16 + 10] = 0.6f;
    view.setAttention(att);
    QCOMPARE(view.headBox()->count(), 3);  // mean, head 0, head 1
    std::vector<float> mean = view.shownValues();
    QCOMPARE(mean.size(), size_t(16));
    QCOMPARE(mean[5], (0.8f + 0.01f) / 2);
    QCOMPARE(mean[10], (0.01f + 0.6f) / 2);
    view.overlay()->resize(500, 500);
    QImage shot = view.overlay()->renderImage(view.overlay()->size());
    const QColor hot = shot.pixelColor(view.overlay()->patchRect(5).center().toPoint());
    const QColor cold = shot.pixelColor(view.overlay()->patchRect(2).center().toPoint());
    QVERIFY(hot.red() > hot.blue() + 80);  // the looked-at patch is hot
    QVERIFY(distance(cold, kBase) < distance(hot, kBase) / 4);
    view.headBox()->setCurrentIndex(2);  // head 1 alone
    QCOMPARE(view.head(), 1);
    QCOMPARE(view.shownValues()[10], 0.6f);
    QCOMPARE(view.shownValues()[5], 0.01f);
    QVERIFY(view.overlay()->headerText().contains(QStringLiteral("head 1")));
    // A malformed attention (wrong token count) is refused with a reason, not drawn.
    att.weights.resize(30);
    view.setAttention(att);
    QVERIFY(view.statusLabel()->text().contains(QStringLiteral("16 visual tokens")));
    QVERIFY(view.overlay()->patchValues().empty());

    // Per head: two KV heads of layer 0 each evict their own 6 visual tokens at prefill; the
    // layer's union keeps more than either head (what "43 kept with a budget of 40" means).
    RunHistory perHead;
    RunInfo info = cropRun();
    perHead.reset(info);
    auto step = std::make_shared<StepTelemetry>(*makeStep(0, 2, 16, 20));
    step->patch_states.assign(2, std::vector<PatchState>(16, PatchState::Kept));
    step->events.clear();
    for (int h = 0; h < 2; ++h)
      for (int k = 0; k < 6; ++k) {
        PolicyEvent e;
        e.kind = EventKind::Evict, e.layer = 0, e.head = h;
        e.position = info.tokens[info.visual_tokens[h * 4 + k]].position;  // head 0: 0-5, 1: 4-9
        step->events.push_back(e);
      }
    perHead.appendStep(step);
    const auto states = headStates(perHead, 0, 0);
    QCOMPARE(states.size(), size_t(2));
    QCOMPARE(states[0][3], PatchState::Evicted);
    QCOMPARE(states[1][3], PatchState::Kept);
    QCOMPARE(states[1][9], PatchState::Evicted);
    HeadKeepView heads(&perHead);
    QCOMPARE(heads.headCount(), 2);
    QCOMPARE(heads.keptPerHead(), (std::vector<int>{10, 10}));
    QCOMPARE(heads.keptByAnyHead(), 14);  // only 4 and 5 are dropped by both
    QVERIFY(heads.summary().contains(QStringLiteral("10, 10")));
    heads.setLayer(1);  // no per-head events there
    QCOMPARE(heads.headCount(), 0);
    QVERIFY(heads.summary().contains(QStringLiteral("one set per layer")));
    heads.setLayer(0);
    const QImage headShot = heads.renderImage(QSize(400, 300));
    QVERIFY(headShot.save(QStringLiteral(HAE_TEST_OUTPUT "/head_keep_view.png")));
  }

  void tokenStreamReadsAsText() {
    RunInfo info;
    info.num_layers = 1;
    auto text = [&](Modality m, std::string s, int id = 7) {
      TokenInfo t;
      t.position = static_cast<int>(info.tokens.size());
      t.id = id, t.modality = m, t.text = std::move(s);
      info.tokens.push_back(t);
    };
    auto visual = [&](int image, int crop, int n) {
      for (int i = 0; i < n; ++i) {
        TokenInfo t;
        t.position = static_cast<int>(info.tokens.size());
        t.modality = Modality::Visual, t.image = image, t.crop = crop, t.row = 0, t.col = i;
        info.visual_tokens.push_back(t.position);
        info.tokens.push_back(t);
      }
    };
    text(Modality::Prefix, "user");
    text(Modality::Text, " :");
    // Image 0 as Phi-3.5-V lays it out: rows of a crop broken by separator tokens.
    for (int row = 0; row < 3; ++row) {
      visual(0, 1, 4);
      text(Modality::Separator, "\n");
      info.tokens.back().image = 0;
    }
    visual(0, 0, 4);
    // Image 1 as SmolVLM lays it out: tile markers (no image set) around and between tiles.
    text(Modality::Separator, "<fake_token_around_image>");
    info.tokens.back().image = -1;
    visual(1, 0, 4);
    text(Modality::Separator, "<row_1_col_2>");
    info.tokens.back().image = -1;
    visual(1, 1, 4);
    text(Modality::Separator, "<fake_token_around_image>");
    info.tokens.back().image = -1;
    text(Modality::Text, " what");
    text(Modality::Text, " colour");
    text(Modality::Text, " is");
    text(Modality::Text, " the");
    text(Modality::Text, " <unk>", 0);
    text(Modality::Text, " ?");
    text(Modality::Text, " assistant");
    text(Modality::Text, " :");
    RunHistory history;
    TokenStreamView view(&history);
    history.reset(info);
    auto prefill = makeStep(0, 1, static_cast<int>(info.visual_tokens.size()), 10);
    history.appendStep(prefill);
    auto s1 = std::make_shared<StepTelemetry>(*makeStep(1, 1, 0, 10));
    s1->token_text = "white";
    history.appendStep(s1);
    auto s2 = std::make_shared<StepTelemetry>(*makeStep(2, 1, 0, 10));
    s2->token_text = "";  // an id-only checkpoint
    s2->token_id = 4242;
    history.appendStep(s2);
    view.flush();
    const QString plain = view.document()->toPlainText();
    QVERIFY2(plain.contains(QStringLiteral("the <unk>? assistant: white#4242")), qPrintable(plain));
    QVERIFY(plain.contains(QStringLiteral("user:")));
    QVERIFY(!plain.contains(QStringLiteral(" ?")));
    QVERIFY(plain.contains(QStringLiteral("1 prompt word is not in the model's vocabulary")));
    QVERIFY(view.htmlText().contains(QStringLiteral("border:1px dashed")));
    // One chip per image, however its grids are cut up.
    QCOMPARE(plain.count(QStringLiteral("image tokens")), 2);
    QVERIFY(plain.contains(QStringLiteral("[▸ 16 image tokens · image 0:")));
    QVERIFY(plain.contains(QStringLiteral("[▸ 8 image tokens · image 1:")));
    QVERIFY(!plain.contains(QStringLiteral("<row_1_col_2>")));
    // A click unfolds an image into its grids and markers.
    view.setImageExpanded(1, true);
    view.flush();
    const QString open = view.document()->toPlainText();
    QVERIFY(open.contains(QStringLiteral("[▾ 8 image tokens · image 1:")));
    QVERIFY(open.contains(QStringLiteral("<row_1_col_2>")));
    QVERIFY(open.contains(QStringLiteral("grid 1: 4 tokens")));
    emit view.anchorClicked(QUrl(QStringLiteral("image:1")));
    view.flush();
    QVERIFY(!view.isImageExpanded(1));
  }
};

QTEST_MAIN(WidgetViewsTest)
#include "test_widget_views.moc"
