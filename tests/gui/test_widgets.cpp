// Widget tests on a synthetic run (no engine, no torch): the overlay's pixels match the patch
// states at the chosen layer and step, the plots hold one point per step and share the cursor,
// exports are real PNG / SVG / PDF files, and the token stream strikes evicted tokens (the policy
// form has its own test, test_policy_form). Also saves a screenshot of all widgets together.
#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QGridLayout>
#include <QLabel>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QTemporaryDir>
#include <QTextBlock>
#include <QtTest>
#include <cmath>

#include "hae/widgets/bin_activity_plot.h"
#include "hae/widgets/cache_size_plot.h"
#include "hae/widgets/latency_plot.h"
#include "hae/widgets/occupancy_heatmap.h"
#include "hae/widgets/patch_history_panel.h"
#include "hae/widgets/patch_overlay_view.h"
#include "hae/widgets/policy_form.h"
#include "hae/widgets/run_history.h"
#include "hae/widgets/state_colors.h"
#include "hae/widgets/token_stream_view.h"

using namespace hae;
using namespace hae::widgets;

namespace {

constexpr int kLayers = 4;
const QColor kBase(128, 128, 128);  // the synthetic images are plain grey
const std::vector<std::string> kWords = {" A",   " black", " cat", " sits", " on",    " a",
                                         " red", " mat",   ".",    " It",   " looks", " calm"};

// The state of visual token v in layer l after step s; the first four steps are hand-made so
// every transition appears, later ones drift so the screenshot shows a run in progress.
PatchState expectedState(int v, int l, int s) {
  if (v % 11 == 0 && l >= 2) return PatchState::Evicted;  // dropped during prefill, deep layers
  if (v % 5 == 0 && l >= 1) return s >= 2 ? PatchState::Evicted : PatchState::InBin;  // purged
  if (v % 7 == 0 && s == 1) return PatchState::InBin;  // demoted at step 1, restored at step 2
  if (v % 3 == 0 && s >= 1 && l >= 1) return PatchState::InBin;
  if (s >= 4) {
    const unsigned h = (static_cast<unsigned>(v) * 2654435761u) % 1000;
    const unsigned line = static_cast<unsigned>((s - 3) * 12 + l * 25);
    if (h < line) return PatchState::Evicted;
    if (h < line + 60) return PatchState::InBin;
  }
  return PatchState::Kept;
}

struct Synthetic {
  RunInfo info;
  std::vector<std::shared_ptr<const StepTelemetry>> steps;
  int thePosition = -1, isPosition = -1;
};

Synthetic makeRun(int stepCount) {
  Synthetic syn;
  RunInfo& info = syn.info;
  info.model_name = "synthetic";
  info.policy_name = "hae";
  info.num_layers = kLayers;
  info.kv_bytes_per_token = 4096;
  ImageInfo first{"", 336, 448, {}};
  first.grids.push_back({0, 0, 24, 24, {0, 56, 336, 336}, false});
  first.grids.push_back({0, 1, 8, 6, {0, 0, 336, 448}, true});
  ImageInfo second{"", 200, 150, {}};
  second.grids.push_back({1, 0, 12, 16, {0, 0, 200, 150}, false});
  info.images = {first, second};

  auto add = [&](Modality m, std::string text, int image = -1, int crop = -1, int row = -1,
                 int col = -1) {
    TokenInfo t;
    t.position = static_cast<int>(info.tokens.size());
    t.id = 1000 + t.position;
    t.modality = m;
    t.text = std::move(text);
    t.image = image, t.crop = crop, t.row = row, t.col = col;
    if (m == Modality::Visual) info.visual_tokens.push_back(t.position);
    info.tokens.push_back(t);
    return t.position;
  };
  add(Modality::Prefix, "<s>");
  add(Modality::Text, "USER:");
  for (const ImageInfo& im : info.images) {
    for (const CropGrid& g : im.grids)
      for (int r = 0; r < g.rows; ++r)
        for (int c = 0; c < g.cols; ++c) add(Modality::Visual, "", g.image, g.crop, r, c);
    add(Modality::Separator, "\n");
  }
  add(Modality::Text, "What");
  add(Modality::Text, " colour");
  syn.isPosition = add(Modality::Text, " is");
  syn.thePosition = add(Modality::Text, " the");
  add(Modality::Text, " cat");
  add(Modality::Text, "?");
  add(Modality::Text, " ASSISTANT:");

  const int visuals = static_cast<int>(info.visual_tokens.size());
  const int textCount = static_cast<int>(info.tokens.size()) - visuals;
  for (int s = 0; s < stepCount; ++s) {
    auto step = std::make_shared<StepTelemetry>();
    step->step = s;
    if (s > 0) {
      step->token_id = 5000 + s;
      step->token_text = kWords[(s - 1) % kWords.size()];
    }
    step->context_length = static_cast<int>(info.tokens.size()) + s;
    step->model_ms = s == 0 ? 840.0 : 21.0 + 3.0 * std::sin(s * 0.7) + 0.05 * s;
    step->policy_ms = s == 0 ? 12.5 : 0.6 + 0.4 * std::abs(std::cos(s * 1.3));
    step->patch_states.assign(kLayers, std::vector<PatchState>(visuals));
    step->layers.resize(kLayers);
    for (int l = 0; l < kLayers; ++l) {
      LayerStats& st = step->layers[l];
      for (int v = 0; v < visuals; ++v) {
        const PatchState now = expectedState(v, l, s);
        step->patch_states[l][v] = now;
        if (now == PatchState::Kept) ++st.live[static_cast<int>(Modality::Visual)];
        if (now == PatchState::InBin) ++st.bin;
        const PatchState before = s == 0 ? PatchState::Kept : expectedState(v, l, s - 1);
        if (now == before) continue;
        PolicyEvent e;
        e.step = s, e.layer = l, e.position = info.visual_tokens[v], e.modality = Modality::Visual;
        e.score = 0.001f * static_cast<float>(v % 17);
        e.kind = now == PatchState::Kept       ? EventKind::Restore
                 : now == PatchState::InBin    ? EventKind::Demote
                 : before == PatchState::InBin ? EventKind::Purge
                                               : EventKind::Evict;
        step->events.push_back(e);
      }
      st.live[static_cast<int>(Modality::Text)] = textCount + s - (s >= 1 ? 1 : 0);
      st.bytes = static_cast<std::int64_t>(st.live[1] + st.live[3] + st.bin) *
                 info.kv_bytes_per_token / kLayers;
      st.ms = step->model_ms / kLayers;
    }
    if (s == 1) {  // " the" leaves every layer at once (a broadcast decision)
      PolicyEvent e;
      e.kind = EventKind::Evict, e.step = 1, e.layer = -1, e.position = syn.thePosition;
      step->events.push_back(e);
    }
    if (s == 2) {  // " is" goes to the bin in layer 1 only
      PolicyEvent e;
      e.kind = EventKind::Demote, e.step = 2, e.layer = 1, e.position = syn.isPosition;
      step->events.push_back(e);
    }
    syn.steps.push_back(step);
  }
  return syn;
}

std::vector<QImage> greyImages(const RunInfo& info) {
  std::vector<QImage> images;
  for (const ImageInfo& im : info.images) {
    QImage image(im.width, im.height, QImage::Format_RGB32);
    image.fill(kBase);
    images.push_back(image);
  }
  return images;
}

QColor blend(QColor fill) {
  const double a = fill.alphaF();
  return QColor::fromRgbF(fill.redF() * a + kBase.redF() * (1 - a),
                          fill.greenF() * a + kBase.greenF() * (1 - a),
                          fill.blueF() * a + kBase.blueF() * (1 - a));
}

int distance(QColor a, QColor b) {
  return std::abs(a.red() - b.red()) + std::abs(a.green() - b.green()) +
         std::abs(a.blue() - b.blue());
}

// Which state the pixel at the centre of a patch shows, or -1 when it matches none.
int classify(QColor pixel) {
  int best = -1, bestDistance = 1 << 20;
  for (auto s : {PatchState::Kept, PatchState::InBin, PatchState::Evicted}) {
    const int d = distance(pixel, blend(stateFill(s)));
    if (d < bestDistance) best = static_cast<int>(s), bestDistance = d;
  }
  return bestDistance <= 12 ? best : -1;
}

bool fileStartsWith(const QString& path, const QByteArray& prefix) {
  QFile f(path);
  return f.open(QIODevice::ReadOnly) && f.read(prefix.size()) == prefix;
}

bool fileContains(const QString& path, const QByteArray& text) {
  QFile f(path);
  return f.open(QIODevice::ReadOnly) && f.readAll().contains(text);
}

void feed(RunHistory& history, const Synthetic& syn, int count) {
  history.reset(syn.info);
  for (int i = 0; i < count; ++i) history.appendStep(syn.steps[i]);
}

// Strike-out state of the first fragment whose text is exactly `text`; -1 when not found.
int strikeOutOf(const QTextDocument* doc, const QString& text) {
  for (QTextBlock b = doc->begin(); b.isValid(); b = b.next()) {
    for (auto it = b.begin(); !it.atEnd(); ++it) {
      if (it.fragment().text() == text) return it.fragment().charFormat().fontStrikeOut() ? 1 : 0;
    }
  }
  return -1;
}

}  // namespace

class WidgetsTest : public QObject {
  Q_OBJECT
 private slots:
  void historyFollowsAndScrubs() {
    const Synthetic syn = makeRun(4);
    RunHistory history;
    QSignalSpy appended(&history, &RunHistory::stepAppended);
    feed(history, syn, 2);
    QCOMPARE(appended.count(), 2);
    QCOMPARE(history.cursor(), 1);  // followed the new steps
    history.setCursor(0);
    history.appendStep(syn.steps[2]);
    QCOMPARE(history.cursor(), 0);  // a scrubbed-back cursor stays put
    QCOMPARE(history.patchState(5, 1, 0), PatchState::InBin);
    const auto changes = history.patchChanges(5, 1, 2);
    QCOMPARE(changes.size(), size_t(2));
    QCOMPARE(changes[1].step, 2);
    QCOMPARE(changes[1].to, PatchState::Evicted);
    QCOMPARE(history.tokenStates(0, 2)[syn.thePosition], PatchState::Evicted);
    QCOMPARE(history.tokenStates(1, 2)[syn.isPosition], PatchState::InBin);
    QCOMPARE(history.tokenStates(0, 2)[syn.isPosition], PatchState::Kept);
  }

  void overlayColoursMatchStates() {
    const Synthetic syn = makeRun(4);
    RunHistory history;
    feed(history, syn, 4);
    PatchOverlayView view(&history);
    view.setImages(greyImages(syn.info));
    view.resize(900, 520);
    const int visuals = history.visualCount();
    // Patches of the main crop, the global strip and the second image, all three states.
    std::vector<int> sample = {0,   1,   3,   5,   7,   10,  14,  33,  55,  100, 385,
                               575, 576, 577, 580, 600, 623, 624, 625, 630, 700, visuals - 1};
    auto check = [&](int layer, int cursor) {
      view.setLayer(layer);
      history.setCursor(cursor);
      const QImage shot = view.renderImage(view.size());
      for (int v : sample) {
        const QRectF r = view.patchRect(v);
        QVERIFY2(!r.isEmpty(), qPrintable(QStringLiteral("patch %1 has no rect").arg(v)));
        const QColor pixel = shot.pixelColor(r.center().toPoint());
        const int want = static_cast<int>(expectedState(v, layer, history.step(cursor).step));
        QVERIFY2(classify(pixel) == want,
                 qPrintable(QStringLiteral("patch %1 layer %2 step %3: pixel %4 shows %5, want %6")
                                .arg(v)
                                .arg(layer)
                                .arg(cursor)
                                .arg(pixel.name())
                                .arg(classify(pixel))
                                .arg(want)));
        QCOMPARE(view.visualAt(r.center()), v);
      }
    };
    check(2, 3);
    check(1, 3);
    check(1, 0);  // scrubbed back to the prefill: the bin still holds what step 2 purges
    check(0, 1);
    // The global grid sits beside the main image, not on it.
    const QRectF mainPatch = view.patchRect(0), globalPatch = view.patchRect(576);
    QVERIFY(globalPatch.left() > view.patchRect(23).right());
    QVERIFY(!mainPatch.intersects(globalPatch));
    // The second image is to the right of the first one's strip.
    QVERIFY(view.patchRect(624).left() > globalPatch.right());

    // All layers summarised: clear where every layer keeps the patch, tinted otherwise.
    view.setLayer(PatchOverlayView::kAllLayers);
    history.setCursor(3);
    const QImage shot = view.renderImage(view.size());
    QCOMPARE(classify(shot.pixelColor(view.patchRect(1).center().toPoint())),
             0);  // kept everywhere
    QVERIFY(distance(shot.pixelColor(view.patchRect(5).center().toPoint()), kBase) > 30);

    const QString tip = view.patchTooltip(5);
    QVERIFY(tip.contains(QStringLiteral("Visual token 5")));
    QVERIFY(tip.contains(QStringLiteral("First in bin: step 0")));
    QVERIFY(tip.contains(QStringLiteral("First evicted: step 2")));

    QSignalSpy clicked(&view, &PatchOverlayView::patchClicked);
    QTest::mouseClick(&view, Qt::LeftButton, {}, view.patchRect(42).center().toPoint());
    QCOMPARE(clicked.count(), 1);
    QCOMPARE(clicked.first().first().toInt(), 42);
    QCOMPARE(view.pinnedPatch(), 42);
  }

  void plotsHaveOnePointPerStepAndShareTheCursor() {
    const Synthetic syn = makeRun(6);
    RunHistory history;
    history.reset(syn.info);
    CacheSizePlot cache(&history);
    LatencyPlot latency(&history);
    BinActivityPlot bin(&history);
    OccupancyHeatmap heat(&history);
    const int n = 6;
    for (int i = 0; i < n; ++i) history.appendStep(syn.steps[i]);
    // Appending only marks the plots dirty; the frame timer replots.
    QVERIFY(cache.isDirty() && latency.isDirty() && bin.isDirty() && heat.isDirty());
    QTRY_VERIFY_WITH_TIMEOUT(
        !cache.isDirty() && !latency.isDirty() && !bin.isDirty() && !heat.isDirty(), 1000);

    QCOMPARE(cache.visualLine()->dataCount(), n);
    QCOMPARE(cache.otherLine()->dataCount(), n);
    QCOMPARE(cache.bytesLine()->dataCount(), n);
    QCOMPARE(cache.visualBars()->dataCount(), kLayers);
    QCOMPARE(latency.modelGraph()->dataCount(), n - 1);  // decode steps; the prefill is a label
    QCOMPARE(latency.policyGraph()->dataCount(), n - 1);
    QVERIFY(latency.prefillText().contains(QStringLiteral("840")));
    for (auto k : {EventKind::Evict, EventKind::Demote, EventKind::Restore, EventKind::Purge})
      QCOMPARE(bin.bars(k)->dataCount(), n);
    QCOMPARE(bin.occupancyGraph()->dataCount(), n);
    QCOMPARE(heat.columnCount(), n);
    QCOMPARE(heat.colorMap()->data()->keySize(), n);
    QCOMPARE(heat.colorMap()->data()->valueSize(), kLayers);
    QCOMPARE(heat.colorMap()->data()->cell(2, 1), static_cast<double>(syn.steps[2]->liveSlots(1)));
    // Step 2 restores the patches demoted at step 1.
    QCOMPARE(bin.bars(EventKind::Restore)->data()->at(2)->value > 0, true);

    for (LivePlot* p : std::initializer_list<LivePlot*>{&cache, &latency, &bin, &heat})
      QCOMPARE(p->cursorKey(), double(n - 1));
    history.setCursor(2);
    for (LivePlot* p : std::initializer_list<LivePlot*>{&cache, &latency, &bin, &heat})
      QCOMPARE(p->cursorKey(), 2.0);
    // The bars show the cursor's step.
    QCOMPARE(cache.visualBars()->data()->at(1)->value,
             double(syn.steps[2]->layers[1].live[static_cast<int>(Modality::Visual)]));
    QCOMPARE(cache.binBars()->data()->at(1)->value, double(syn.steps[2]->layers[1].bin));
  }

  void exportsWriteRealFiles() {
    const Synthetic syn = makeRun(8);
    RunHistory history;
    history.reset(syn.info);
    CacheSizePlot cache(&history);
    LatencyPlot latency(&history);
    BinActivityPlot bin(&history);
    OccupancyHeatmap heat(&history);
    PatchOverlayView overlay(&history);
    overlay.setImages(greyImages(syn.info));
    for (int i = 0; i < 8; ++i) history.appendStep(syn.steps[i]);
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    int index = 0;
    QStringList expected;
    auto checkExports = [&](auto& view) {
      const QString base = dir.filePath(QStringLiteral("view%1").arg(index++));
      QString error;
      QVERIFY2(view.exportTo(base + ".png", &error), qPrintable(error));
      QVERIFY2(view.exportTo(base + ".svg", &error), qPrintable(error));
      QVERIFY2(view.exportTo(base + ".pdf", &error), qPrintable(error));
      QVERIFY(fileStartsWith(base + ".png", QByteArray("\x89PNG\r\n\x1a\n", 8)));
      QVERIFY(fileContains(base + ".svg", "<svg"));
      QVERIFY(fileStartsWith(base + ".pdf", "%PDF"));
      QVERIFY(!view.exportTo(base + ".bmpx", &error));
      QVERIFY(error.contains(QStringLiteral("unknown format")));
      for (const char* ext : {".png", ".svg", ".pdf"}) expected << QFileInfo(base + ext).fileName();
    };
    checkExports(cache);
    checkExports(latency);
    checkExports(bin);
    checkExports(heat);
    checkExports(overlay);
    // Overwriting works, and no temporary file is left behind.
    QVERIFY(cache.exportTo(dir.filePath(QStringLiteral("view0.png"))));
    QStringList found = QDir(dir.path()).entryList(QDir::Files | QDir::Hidden);
    found.sort();
    expected.sort();
    QCOMPARE(found, expected);
  }

  void tokenStreamShowsGeneratedAndStruckTokens() {
    const Synthetic syn = makeRun(4);
    RunHistory history;
    TokenStreamView view(&history);
    feed(history, syn, 4);
    view.flush();
    const QString text = view.document()->toPlainText();
    for (const char* word : {" A", " black", " cat"}) QVERIFY(text.contains(QLatin1String(word)));
    QCOMPARE(strikeOutOf(view.document(), QStringLiteral(" the")), 1);
    QCOMPARE(strikeOutOf(view.document(), QStringLiteral("What")), 0);
    QCOMPARE(strikeOutOf(view.document(), QStringLiteral(" is")), 0);
    int kept = 0;
    for (int v = 0; v < 624; ++v) kept += expectedState(v, 0, 3) == PatchState::Kept;
    QVERIFY2(text.contains(QStringLiteral("[▸ 624 image tokens · image 0: %1 kept").arg(kept)),
             qPrintable(text));
    QVERIFY(text.contains(QStringLiteral("[▸ 192 image tokens · image 1:")));
    QVERIFY(view.htmlText().contains(QStringLiteral("<s> the</s>")));

    history.setCursor(0);  // scrubbed back: no generated tokens, nothing evicted yet
    view.flush();
    QCOMPARE(strikeOutOf(view.document(), QStringLiteral(" the")), 0);
    QVERIFY(!view.document()->toPlainText().contains(QStringLiteral(" black")));

    history.setCursor(3);
    view.setLayer(1);
    view.flush();
    QVERIFY(
        view.htmlText().contains(QStringLiteral("#ffd27a;' title='token")));  // " is" in the bin
  }

  void screenshotOfAllWidgets() {
    const Synthetic syn = makeRun(48);
    RunHistory history;
    history.reset(syn.info);

    QWidget window;
    window.setWindowTitle(QStringLiteral("HAE Studio widgets"));
    auto* grid = new QGridLayout(&window);
    auto* overlay = new PatchOverlayView(&history);
    overlay->setImages(greyImages(syn.info));
    // Make the synthetic images look like images: a soft gradient with a shape.
    std::vector<QImage> images;
    for (const ImageInfo& im : syn.info.images) {
      QImage image(im.width, im.height, QImage::Format_RGB32);
      QPainter p(&image);
      QLinearGradient g(0, 0, im.width, im.height);
      g.setColorAt(0, QColor(120, 170, 210));
      g.setColorAt(1, QColor(200, 190, 150));
      p.fillRect(image.rect(), g);
      p.setBrush(QColor(40, 40, 40));
      p.setPen(Qt::NoPen);
      p.drawEllipse(QPointF(im.width * 0.55, im.height * 0.6), im.width * 0.22, im.height * 0.14);
      images.push_back(image);
    }
    overlay->setImages(images);
    overlay->setLayer(2);
    auto* tokens = new TokenStreamView(&history);
    tokens->setLayer(2);
    auto* pinned = new PatchHistoryPanel(&history);
    auto* form = new PolicyForm;
    form->setPolicies(
        {{"full", {}},
         {"hae",
          {{"ddes.bin", KnobType::Int, 0, 1024, "64", {}, "Recycle bin slots"},
           {"sdes.threshold", KnobType::Float, 0, 0.1, "0.0015", {}, "Drop threshold"},
           {"ddes.restore", KnobType::Bool, 0, 0, "true", {}, "Restore binned tokens"},
           {"order",
            KnobType::Choice,
            0,
            0,
            "text-after-image",
            {"image-first", "text-after-image"},
            "Layout"}}}},
        "hae");
    auto* cache = new CacheSizePlot(&history);
    auto* latency = new LatencyPlot(&history);
    auto* bin = new BinActivityPlot(&history);
    auto* heat = new OccupancyHeatmap(&history);
    QObject::connect(overlay, &PatchOverlayView::patchClicked, pinned,
                     &PatchHistoryPanel::setVisual);

    grid->addWidget(overlay, 0, 0, 2, 1);
    grid->addWidget(tokens, 2, 0);
    auto* side = new QWidget;
    auto* sideLayout = new QVBoxLayout(side);
    sideLayout->setContentsMargins(0, 0, 0, 0);
    sideLayout->addWidget(form);
    sideLayout->addWidget(pinned, 1);
    grid->addWidget(side, 2, 1, 1, 2);
    grid->addWidget(cache, 0, 1);
    grid->addWidget(latency, 0, 2);
    grid->addWidget(bin, 1, 1);
    grid->addWidget(heat, 1, 2);
    grid->setColumnStretch(0, 5);
    grid->setColumnStretch(1, 4);
    grid->setColumnStretch(2, 4);
    grid->setRowStretch(0, 4);
    grid->setRowStretch(1, 4);
    grid->setRowStretch(2, 3);
    window.resize(1700, 1050);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    for (int i = 0; i < 48; ++i) history.appendStep(syn.steps[i]);
    history.setCursor(40);
    QTest::mouseClick(overlay, Qt::LeftButton, {}, overlay->patchRect(123).center().toPoint());
    QCOMPARE(pinned->visual(), 123);
    for (LivePlot* p : std::initializer_list<LivePlot*>{cache, latency, bin, heat}) p->flush();
    tokens->flush();
    QTest::qWait(60);
    const QString path = QStringLiteral(HAE_TEST_OUTPUT "/widgets_layout.png");
    QVERIFY(window.grab().save(path, "PNG"));
    qInfo("screenshot: %s", qPrintable(path));
  }
};

QTEST_MAIN(WidgetsTest)
#include "test_widgets.moc"
