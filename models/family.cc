// models/family.cc — CreateFamily: picks the family implementation named by the model.
#include "models/family.h"

#include "absl/strings/str_cat.h"
#include "models/rnnoise/rnnoise_family.h"
#include "models/dtln/dtln_family.h"  // DTLN family (onnx-dtln)
#include "models/dfn3/dfn3_family.h"  // DeepFilterNet3 family (models/dfn3/)
#include "models/ultra/ultra_family.h"  // family "ultra" (models/ultra/)
#include "models/demucs/demucs_family.h"  // family "demucs" (models/demucs/, causal Demucs)

namespace ghostnv::models {

absl::StatusOr<std::unique_ptr<Family>> CreateFamily(std::shared_ptr<const Model> model) {
  if (model == nullptr) return absl::InvalidArgumentError("no model");
  if (model->family == "rnnoise") return rnnoise::CreateRnnoiseFamily(std::move(model));
  if (model->family == "dtln") return dtln::CreateDtlnFamily(std::move(model));  // onnx-dtln
  if (model->family == "dfn3") return dfn3::CreateDfn3Family(std::move(model));  // DeepFilterNet3
  // family "ultra" (models/ultra/): 2 ms hop, 2 ms latency
  if (model->family == "ultra") return ultra::CreateUltraFamily(std::move(model));
  if (model->family == "demucs") return demucs::CreateDemucsFamily(std::move(model));
  return absl::InvalidArgumentError(
      absl::StrCat(model->name, ": unknown model family '", model->family, "'"));
}

}  // namespace ghostnv::models
