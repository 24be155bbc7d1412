// models/family.cc — CreateFamily: picks the family implementation named by the model.
#include "models/family.h"

#include "absl/strings/str_cat.h"
#include "models/rnnoise/rnnoise_family.h"
#include "models/dtln/dtln_family.h"  // DTLN family (onnx-dtln)
#include "models/ultra/ultra_family.h"  // family "ultra" (models/ultra/)

namespace ghostnv::models {

absl::StatusOr<std::unique_ptr<Family>> CreateFamily(std::shared_ptr<const Model> model) {
  if (model == nullptr) return absl::InvalidArgumentError("no model");
  if (model->family == "rnnoise") return rnnoise::CreateRnnoiseFamily(std::move(model));
  if (model->family == "dtln") return dtln::CreateDtlnFamily(std::move(model));  // onnx-dtln
  // family "ultra" (models/ultra/): 2 ms hop, 2 ms latency
  if (model->family == "ultra") return ultra::CreateUltraFamily(std::move(model));
  return absl::InvalidArgumentError(
      absl::StrCat(model->name, ": unknown model family '", model->family, "'"));
}

}  // namespace ghostnv::models
