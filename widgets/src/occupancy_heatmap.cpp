#include "hae/widgets/occupancy_heatmap.h"

#include <algorithm>

namespace hae::widgets {

OccupancyHeatmap::OccupancyHeatmap(RunHistory* history, QWidget* parent)
    : LivePlot(history, parent) {
  plotLayout()->insertRow(0);
  plotLayout()->addElement(
      0, 0, new QCPTextElement(this, QStringLiteral("Live slots, layer x step"), titleFont()));
  // A viridis-like ramp: ordered in lightness, readable in grey, kind to colour-blind readers.
  const LayerStepMap heat =
      addLayerStepMap(this, axisRect(), 1, QStringLiteral("live slots (from 0)"),
                      {{0.0, QColor(68, 1, 84)},
                       {0.25, QColor(59, 82, 139)},
                       {0.5, QColor(33, 145, 140)},
                       {0.75, QColor(94, 201, 98)},
                       {1.0, QColor(253, 231, 37)}});
  map_ = heat.map;
  scale_ = heat.scale;
  axisRect()->setupFullAxesBox(true);
  yAxis2->setTicks(false);
  xAxis2->setTicks(false);
  auto* margins = new QCPMarginGroup(this);
  axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
  scale_->setMarginGroup(QCP::msBottom | QCP::msTop, margins);

  setStepAxisRect(axisRect());
  cursorLine()->setPen(QPen(Qt::white, 1.5, Qt::DashLine));
  rebuild();
}

void OccupancyHeatmap::clearData() {
  columns_.clear();
  steps_.clear();
  map_->data()->clear();
  // A new run starts from a neutral scale: the last run's range must not linger.
  map_->setDataRange(QCPRange(0, 1));
  mapDirty_ = true;
}

void OccupancyHeatmap::appendStepData(int index) {
  const StepTelemetry& s = history()->step(index);
  std::vector<int> column(s.layers.size());
  for (int layer = 0; layer < static_cast<int>(s.layers.size()); ++layer)
    column[layer] = s.liveSlots(layer);
  columns_.push_back(std::move(column));
  steps_.push_back(s.step);
  mapDirty_ = true;
}

void OccupancyHeatmap::prepareReplot() {
  int layers = history()->numLayers();
  for (const auto& c : columns_) layers = std::max(layers, static_cast<int>(c.size()));
  const int n = columnCount();
  if (mapDirty_) {
    mapDirty_ = false;
    if (n == 0 || layers == 0) {
      map_->data()->clear();
    } else {
      // QCPColorMapData maps its first and last cell centres onto the range, so a single step
      // or a single layer is drawn as two identical cells around it.
      const int keyCells = std::max(n, 2), valueCells = std::max(layers, 2);
      const double k0 = steps_.front(), k1 = n > 1 ? steps_.back() : steps_.front() + 1;
      map_->data()->setSize(keyCells, valueCells);
      map_->data()->setRange(QCPRange(k0, k1), QCPRange(0, std::max(layers - 1, 1)));
      for (int k = 0; k < keyCells; ++k) {
        const auto& column = columns_[std::min(k, n - 1)];
        for (int l = 0; l < valueCells; ++l) {
          const int layer = std::min(l, layers - 1);
          map_->data()->setCell(k, l, layer < static_cast<int>(column.size()) ? column[layer] : 0);
        }
      }
      // The scale is this run's own data, anchored at 0: a one-slot difference (30 vs 31) stays
      // a one-slot shade apart instead of being stretched to the full ramp.
      int high = 1;
      for (const auto& c : columns_)
        for (int v : c) high = std::max(high, v);
      map_->setDataRange(QCPRange(0, high));
    }
  }
  if (userMovedRange() || n == 0) return;
  const double k0 = steps_.front(), k1 = n > 1 ? steps_.back() : steps_.front() + 1;
  const double half = n > 1 ? (k1 - k0) / (2.0 * (n - 1)) : 0.5;
  xAxis->setRange(k0 - half, k1 + half);
  yAxis->setRange(-0.5, std::max(layers, 2) - 0.5);
}

}  // namespace hae::widgets
