// models/ir.cc — the small amount of behaviour the in-memory model has.

#include "models/ir.h"

namespace ghostnv::models {

size_t Model::ParameterCount() const {
  size_t total = 0;
  for (const Layer& l : layers) {
    const size_t in = l.inputs > 0 ? static_cast<size_t>(l.inputs) : 0;
    const size_t units = l.units > 0 ? static_cast<size_t>(l.units) : 0;
    const size_t gates = l.kind == LayerKind::kGru ? 3 : 1;
    if (l.weights != nullptr) total += in * gates * units;
    if (l.kind == LayerKind::kGru && l.recurrent != nullptr) total += units * gates * units;
    if (l.bias != nullptr) total += gates * units;
    if (l.kind == LayerKind::kGru && l.recurrent_bias != nullptr) total += gates * units;
  }
  return total;
}

}  // namespace ghostnv::models
