// Issue 16's views on hand-built telemetry (torch-free): the regret plot holds the shadow's own
// figures, the missed-attention overlay colours a dropped patch by how much the full model wanted
// it and leaves kept patches clear, the token stream marks a token picked where the two top-1
// choices differ and shows both top-5, shift/ctrl-click records what-if edits at the original
// token positions, and the probe plot has one point per layer.
#include <QSignalSpy>
#include <QtTest>
#include <cmath>

#include "hae/widgets/patch_overlay_view.h"
#include "hae/widgets/probe_plot.h"
#include "hae/widgets/regret_plot.h"
#include "hae/widgets/run_history.h"
#include "hae/widgets/token_stream_view.h"

using namespace hae;
using namespace hae::widgets;

namespace {

const QColor kBase(128, 128, 128);
constexpr int kLayers = 3;
constexpr int kVisuals = 16;

int distance(QColor a, QColor b) {
  return std::abs(a.red() - b.red()) + std::abs(a.green() - b.green()) +
         std::abs(a.blue() - b.blue());
}

QImage grey(int w, int h) {
  QImage image(w, h, QImage::Format_RGB32);
  image.fill(kBase);
  return image;
}

// Two text tokens, then a 4x4 grid of visual tokens on a 256x256 image. Positions are not the
// token indices (10 + 3 * index), so a mix-up of the two shows.
RunInfo gridRun(int visuals = kVisuals) {
  RunInfo info;
  info.model_name = "synthetic-vlm";
  info.policy_name = "hae";
  info.num_layers = kLayers;
  ImageInfo im{"", 256, 256, {}};
  im.grids.push_back({0, 0, 4, 4, {0, 0, 256, 256}, false});
  info.images = {im};
  for (const char* word : {"USER:", "look"}) {
    TokenInfo t;
    t.position = 10 + 3 * static_cast<int>(info.tokens.size());
    t.text = word;
    t.modality = Modality::Text;
    info.tokens.push_back(t);
  }
  for (int v = 0; v < visuals; ++v) {
    TokenInfo t;
    t.position = 10 + 3 * static_cast<int>(info.tokens.size());
    t.modality = Modality::Visual, t.image = 0, t.crop = 0, t.row = v / 4, t.col = v % 4;
    info.visual_tokens.push_back(static_cast<int>(info.tokens.size()));
    info.tokens.push_back(t);
  }
  return info;
}

// Step `step` with every patch kept except v1, v2 (evicted) and v3 (in the bin) in every layer.
std::shared_ptr<StepTelemetry> makeStep(int step, const std::string& text = {}) {
  auto s = std::make_shared<StepTelemetry>();
  s->step = step;
  s->token_id = step > 0 ? 100 + step : -1;
  s->token_text = text;
  s->layers.resize(kLayers);
  s->patch_states.assign(kLayers, std::vector<PatchState>(kVisuals, PatchState::Kept));
  for (auto& layer : s->patch_states) {
    layer[1] = layer[2] = PatchState::Evicted;
    layer[3] = PatchState::InBin;
  }
  return s;
}

// A shadow with figures that differ by step and layer, so a swap or an off-by-one shows.
ShadowStep makeShadow(int step, bool agree) {
  ShadowStep sh;
  sh.kl = 0.05 * step + 0.001;
  sh.total_variation = 0.02 * step;
  sh.top1_agree = agree;
  sh.policy_token_rank = agree ? 0 : 2;
  sh.layers.resize(kLayers);
  for (int l = 0; l < kLayers; ++l) {
    sh.layers[l].missed_evicted[static_cast<int>(Modality::Visual)] = 0.01f * (l + 1) * (step + 1);
    sh.layers[l].missed_binned[static_cast<int>(Modality::Text)] = 0.002f * (l + 1);
  }
  sh.visual_attention.assign(kLayers, std::vector<float>(kVisuals, 0.02f));
  for (auto& row : sh.visual_attention) {
    row[0] = 0.9f;   // kept: never "missed", however much attention
    row[1] = 0.5f;   // evicted, wanted a lot
    row[2] = 0.01f;  // evicted, barely wanted
  }
  return sh;
}

}  // namespace

class RegretViewsTest : public QObject {
  Q_OBJECT
 private slots:
  void regretPlotHoldsTheShadowsFigures() {
    RunHistory history;
    RegretPlot plot(&history);
    plot.resize(480, 420);
    history.reset(gridRun());
    std::vector<std::shared_ptr<StepTelemetry>> steps;
    for (int s = 0; s < 5; ++s) {
      auto step = makeStep(s);
      step->shadow = makeShadow(s, s != 2);
      steps.push_back(step);
      history.appendStep(step);
    }
    history.appendStep(makeStep(5));  // no shadow: left out of the plot
    plot.flush();

    QCOMPARE(plot.klGraph()->dataCount(), 5);
    QCOMPARE(plot.agreementGraph()->dataCount(), 5);
    QCOMPARE(plot.columnCount(), 5);
    QCOMPARE(plot.disagreementGraph()->dataCount(), 1);
    QCOMPARE(plot.disagreementGraph()->data()->at(0)->key, 2.0);
    QCOMPARE(plot.partingStep(), 2);  // the marker: the answers part after step 2
    for (int s = 0; s < 5; ++s) {
      const ShadowStep& sh = *steps[s]->shadow;
      QCOMPARE(plot.klGraph()->data()->at(s)->key, double(s));
      QVERIFY(std::abs(plot.klGraph()->data()->at(s)->value - sh.kl) < 1e-12);
      QCOMPARE(plot.agreementGraph()->data()->at(s)->value, sh.top1_agree ? 1.0 : 0.0);
      QCOMPARE(plot.columnStep(s), s);
      for (int l = 0; l < kLayers; ++l) {
        const double want = sh.layers[l].missed();
        QVERIFY2(want > 0, "the fixture has missed mass in every layer");
        QVERIFY(std::abs(plot.missedAt(s, l) - want) < 1e-9);
        // The heat map's cell is the same number (key cell s, value cell l).
        QVERIFY(std::abs(plot.colorMap()->data()->cell(s, l) - want) < 1e-9);
      }
    }
    QVERIFY(std::isnan(plot.missedAt(0, kLayers)));
    // The scale spans 0 to the largest missed mass.
    QCOMPARE(plot.colorMap()->dataRange().lower, 0.0);
    QVERIFY(std::abs(plot.colorMap()->dataRange().upper - steps[4]->shadow->layers[2].missed()) <
            1e-9);
    // Both parts follow the cursor; the line under the title reads the cursor step.
    history.setCursor(2);
    plot.flush();
    QCOMPARE(plot.cursorKey(), 2.0);
    QCOMPARE(plot.missedCursorLine()->point1->key(), 2.0);
    QVERIFY(plot.missedCursorLine()->visible());
    QVERIFY2(plot.summaryText().contains(QStringLiteral("differs")), qPrintable(plot.summaryText()));
    history.setCursor(1);
    QVERIFY(plot.summaryText().contains(QStringLiteral("agrees")));

    // A run with no shadow says how to get one.
    history.reset(gridRun());
    history.appendStep(makeStep(0));
    plot.flush();
    QCOMPARE(plot.columnCount(), 0);
    QCOMPARE(plot.klGraph()->dataCount(), 0);
    QVERIFY(plot.summaryText().contains(QStringLiteral("Full-cache shadow")));
  }

  void missedAttentionColoursDroppedPatchesByTheFullModelsAttention() {
    RunHistory history;
    history.reset(gridRun());
    history.appendStep(makeStep(0));
    auto step1 = makeStep(1, " a");
    step1->shadow = makeShadow(1, true);
    history.appendStep(step1);
    PatchOverlayView view(&history);
    view.setImages({grey(256, 256)});
    view.resize(420, 420);
    view.setLayer(1);

    // States mode: the two evicted patches look alike.
    QImage shot = view.renderImage(view.size());
    auto at = [&](int v) { return shot.pixelColor(view.patchRect(v).center().toPoint()); };
    QVERIFY(distance(at(1), at(2)) <= 6);

    view.setColorMode(PatchOverlayView::ColorMode::MissedAttention);
    QVERIFY(view.hasShadowAtCursor());
    QCOMPARE(view.missedValue(0), -1.0f);  // kept
    QCOMPARE(view.missedValue(1), 0.5f);
    QCOMPARE(view.missedValue(2), 0.01f);
    QCOMPARE(view.missedValue(3), 0.02f);  // in the bin counts as missed too
    shot = view.renderImage(view.size());
    const QColor kept = at(0), high = at(1), low = at(2);
    QVERIFY2(distance(kept, kBase) <= 6, qPrintable(kept.name()));  // 0.9 attention, but kept
    QVERIFY2(distance(high, low) > 80, qPrintable(high.name() + " vs " + low.name()));
    QVERIFY(distance(high, kBase) > 80);
    QVERIFY(distance(low, kBase) > 20);  // dropped and barely wanted still reads as dropped
    QVERIFY(distance(at(5), kBase) <= 6);  // another kept patch
    QVERIFY2(view.headerText().contains(QStringLiteral("Missed attention")),
             qPrintable(view.headerText()));
    QVERIFY(view.patchTooltip(1).contains(QStringLiteral("Missed")));

    // All layers: the mean over layers of what each missed (here every layer drops v1).
    view.setLayer(PatchOverlayView::kAllLayers);
    QVERIFY(std::abs(view.missedValue(1) - 0.5f) < 1e-6);
    QCOMPARE(view.missedValue(0), -1.0f);

    // The prefill has no shadow here: nothing is coloured, and the header says why.
    history.setCursor(0);
    QVERIFY(!view.hasShadowAtCursor());
    QCOMPARE(view.missedValue(1), -1.0f);
    QVERIFY(view.headerText().contains(QStringLiteral("no full-cache shadow")));
  }

  void missedAttentionUsesTheStatesTheStepsForwardSaw() {
    // A patch evicted after step 1's forward (first Evicted at step 1) was still visible to step
    // 1's query: not missed at step 1, missed from step 2 on.
    RunHistory history;
    history.reset(gridRun());
    auto s0 = makeStep(0);
    s0->patch_states.assign(kLayers, std::vector<PatchState>(kVisuals, PatchState::Kept));
    history.appendStep(s0);
    auto s1 = makeStep(1, " a");
    s1->shadow = makeShadow(1, true);
    history.appendStep(s1);
    PatchOverlayView view(&history);
    view.setColorMode(PatchOverlayView::ColorMode::MissedAttention);
    view.setLayer(0);
    QCOMPARE(view.missedValue(1), -1.0f);
    auto s2 = makeStep(2, " b");
    s2->shadow = makeShadow(2, true);
    history.appendStep(s2);
    QCOMPARE(history.cursor(), 2);
    QCOMPARE(view.missedValue(1), 0.5f);
  }

  void tokenStreamMarksTheTokenPickedWhereTheChoicesDiffer() {
    RunHistory history;
    history.reset(gridRun());
    history.appendStep(makeStep(0));
    const char* words[] = {" alpha", " bravo", " charlie"};
    for (int s = 1; s <= 3; ++s) {
      auto step = makeStep(s, words[s - 1]);
      ShadowStep sh = makeShadow(s, s != 1);  // step 1's distribution picked " bravo"
      sh.top_full = {{7, 0.61f, "dog"}, {8, 0.2f, "puppy"}};
      sh.top_policy = {{9, 0.55f, "cat"}, {7, 0.3f, "dog"}};
      step->shadow = sh;
      history.appendStep(step);
    }
    TokenStreamView view(&history);
    QCOMPARE(TokenStreamView::choiceShadow(history, 0), static_cast<const ShadowStep*>(nullptr));
    QVERIFY(TokenStreamView::choiceShadow(history, 2) == &*history.step(1).shadow);
    QVERIFY(!TokenStreamView::choiceShadow(history, 2)->top1_agree);
    const QString html = view.htmlText();
    QCOMPARE(html.count(QStringLiteral("≠</sup>")), 1);
    // The mark follows " bravo" (step 2), not the others.
    const int mark = html.indexOf(QStringLiteral("≠</sup>"));
    const int bravo = html.indexOf(QStringLiteral("bravo"));
    QVERIFY(bravo >= 0 && bravo < mark);
    QVERIFY(html.indexOf(QStringLiteral("charlie")) > mark);
    QVERIFY(html.lastIndexOf(QStringLiteral("alpha"), mark) <
            html.lastIndexOf(QStringLiteral("color:#c2185b"), mark));
    // The hover text names both models' top-5.
    QVERIFY(html.contains(QStringLiteral("dog")));
    QVERIFY(html.contains(QStringLiteral("cat")));
    QVERIFY(html.contains(QStringLiteral("top-1 differs")));
    // The cursor before step 2: the marked token is not shown yet.
    history.setCursor(1);
    QCOMPARE(view.htmlText().count(QStringLiteral("≠</sup>")), 0);
  }

  void shiftAndCtrlClickRecordWhatIfEditsAtOriginalPositions() {
    RunHistory history;
    const RunInfo info = gridRun();
    history.reset(info);
    history.appendStep(makeStep(0));
    PatchOverlayView view(&history);
    view.setImages({grey(256, 256)});
    view.resize(420, 420);
    view.show();
    QVERIFY(QTest::qWaitForWindowExposed(&view));
    auto positionOf = [&](int v) { return info.tokens[info.visual_tokens[v]].position; };
    auto click = [&](int v, Qt::KeyboardModifiers mods) {
      QTest::mouseClick(&view, Qt::LeftButton, mods, view.patchRect(v).center().toPoint());
    };

    // Not editable: a shift-click only pins.
    click(5, Qt::ShiftModifier);
    QCOMPARE(view.editMarkCount(), 0);
    QCOMPARE(view.pinnedPatch(), 5);

    view.setEditable(true);
    QSignalSpy changed(&view, &PatchOverlayView::editMarksChanged);
    click(5, Qt::ShiftModifier);
    QCOMPARE(view.editMark(5), PatchOverlayView::EditMark::ForceKeep);
    click(7, Qt::ControlModifier);
    click(2, Qt::ControlModifier);
    QCOMPARE(view.editMark(7), PatchOverlayView::EditMark::ForceEvict);
    QCOMPARE(view.forceKeepPositions(), std::vector<int>{positionOf(5)});
    QCOMPARE(view.forceEvictPositions(), (std::vector<int>{positionOf(2), positionOf(7)}));
    QCOMPARE(positionOf(5), 10 + 3 * 7);  // the original position, not the visual index
    QCOMPARE(changed.count(), 3);
    // Marks are drawn: a green frame on the force-kept patch, red on a force-evicted one.
    const QImage shot = view.renderImage(view.size());
    const QRectF keep = view.patchRect(5), evict = view.patchRect(7);
    const QColor keepEdge = shot.pixelColor(QPointF(keep.left() + 2, keep.center().y()).toPoint());
    const QColor evictEdge =
        shot.pixelColor(QPointF(evict.left() + 2, evict.center().y()).toPoint());
    QVERIFY2(keepEdge.green() > 150 && keepEdge.red() < 100, qPrintable(keepEdge.name()));
    QVERIFY2(evictEdge.red() > 150 && evictEdge.green() < 100, qPrintable(evictEdge.name()));

    // The same click again clears; a shift-click on a force-evicted patch makes it force-kept.
    click(5, Qt::ShiftModifier);
    QCOMPARE(view.editMark(5), PatchOverlayView::EditMark::None);
    click(7, Qt::ShiftModifier);
    QCOMPARE(view.editMark(7), PatchOverlayView::EditMark::ForceKeep);
    QCOMPARE(view.forceKeepPositions(), std::vector<int>{positionOf(7)});
    QCOMPARE(view.forceEvictPositions(), std::vector<int>{positionOf(2)});

    // A re-run of the same prompt keeps the marks; another prompt layout drops them.
    history.reset(info);
    QCOMPARE(view.editMarkCount(), 2);
    history.reset(gridRun(12));
    QCOMPARE(view.editMarkCount(), 0);
    history.reset(info);
    view.setEditMark(3, PatchOverlayView::EditMark::ForceEvict);
    view.clearEditMarks();
    QCOMPARE(view.editMarkCount(), 0);
  }

  void probePlotHasOnePointPerLayer() {
    RunHistory history;
    ProbePlot plot(&history);
    plot.resize(420, 380);
    history.reset(gridRun());
    auto prefill = makeStep(0);
    prefill->probes.resize(kLayers + 1);  // 4 layers of probes
    for (int l = 0; l < kLayers + 1; ++l) {
      LayerProbe& p = prefill->probes[l];
      p.attn_variance[static_cast<int>(Modality::Visual)] = 0.001 * (l + 1);
      p.attn_variance[static_cast<int>(Modality::Text)] = 0.004 * (l + 1);
      p.sparsity[static_cast<int>(Modality::Visual)] = 0.5 + 0.1 * l;
      p.sparsity[static_cast<int>(Modality::Text)] = 0.2 + 0.05 * l;
      p.overlap_with_first = 1.0 - 0.1 * l;
    }
    history.appendStep(prefill);
    history.appendStep(makeStep(1, " a"));  // decode steps carry no probes
    plot.flush();
    QCOMPARE(plot.shownStepIndex(), 0);
    for (QCPGraph* g : {plot.visualVarianceGraph(), plot.textVarianceGraph(),
                        plot.visualSparsityGraph(), plot.textSparsityGraph(), plot.overlapGraph()})
      QCOMPARE(g->dataCount(), kLayers + 1);
    for (int l = 0; l < kLayers + 1; ++l) {
      const LayerProbe& p = prefill->probes[l];
      QCOMPARE(plot.visualVarianceGraph()->data()->at(l)->key, double(l));
      QVERIFY(std::abs(plot.visualVarianceGraph()->data()->at(l)->value -
                       p.attn_variance[static_cast<int>(Modality::Visual)]) < 1e-12);
      QVERIFY(std::abs(plot.textSparsityGraph()->data()->at(l)->value -
                       p.sparsity[static_cast<int>(Modality::Text)]) < 1e-12);
      QVERIFY(std::abs(plot.overlapGraph()->data()->at(l)->value - p.overlap_with_first) < 1e-12);
    }
    // A layer with no overlap figure (-1) is left out of that series only.
    auto again = makeStep(0);
    again->probes = prefill->probes;
    again->probes[2].overlap_with_first = -1;
    history.reset(gridRun());
    history.appendStep(again);
    plot.flush();
    QCOMPARE(plot.overlapGraph()->dataCount(), kLayers);
    QCOMPARE(plot.visualSparsityGraph()->dataCount(), kLayers + 1);
    // No probes: says how to get them.
    history.reset(gridRun());
    history.appendStep(makeStep(0));
    plot.flush();
    QCOMPARE(plot.shownStepIndex(), -1);
    QCOMPARE(plot.visualVarianceGraph()->dataCount(), 0);
    QVERIFY(plot.statusText().contains(QStringLiteral("probes=true")));
  }
};

QTEST_MAIN(RegretViewsTest)
#include "test_regret_views.moc"
