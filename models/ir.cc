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

kernels::DenseParams DenseParamsOf(const Layer& l, kernels::MathMode math) {
  kernels::DenseParams p;
  p.inputs = l.inputs;
  p.units = l.units;
  p.weights = l.weights;
  p.bias = l.bias;
  p.activation = l.activation;
  p.math = math;
  return p;
}

kernels::GruParams GruParamsOf(const Layer& l, kernels::MathMode math) {
  kernels::GruParams p;
  p.inputs = l.inputs;
  p.units = l.units;
  p.weights = l.weights;
  p.recurrent = l.recurrent;
  p.bias = l.bias;
  p.recurrent_bias = l.recurrent_bias;
  p.activation = l.activation;
  p.math = math;
  p.reset_after = l.reset_after;
  return p;
}

}  // namespace ghostnv::models
