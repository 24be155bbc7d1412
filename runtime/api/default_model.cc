// runtime/api/default_model.cc — access to the bytes that default_model.S embeds.
#include "runtime/api/default_model.h"

#if GHOSTNV_HAVE_DEFAULT_MODEL
extern "C" {
extern const unsigned char ghostnv_embedded_default_model[];
extern const unsigned char ghostnv_embedded_default_model_end[];
}
#endif

#if GHOSTNV_HAVE_ULTRA_MODEL
extern "C" {
extern const unsigned char ghostnv_embedded_ultra_model[];
extern const unsigned char ghostnv_embedded_ultra_model_end[];
}
#endif

#if GHOSTNV_HAVE_ENHANCED_MODEL
extern "C" {
extern const unsigned char ghostnv_embedded_enhanced_model[];
extern const unsigned char ghostnv_embedded_enhanced_model_end[];
}
#endif

namespace ghostnv::api {

bool EmbeddedDefaultModel(const void** data, size_t* size) {
#if GHOSTNV_HAVE_DEFAULT_MODEL
  *data = ghostnv_embedded_default_model;
  *size = static_cast<size_t>(ghostnv_embedded_default_model_end - ghostnv_embedded_default_model);
  return *size > 0;
#else
  *data = nullptr;
  *size = 0;
  return false;
#endif
}

bool EmbeddedUltraModel(const void** data, size_t* size) {
#if GHOSTNV_HAVE_ULTRA_MODEL
  *data = ghostnv_embedded_ultra_model;
  *size = static_cast<size_t>(ghostnv_embedded_ultra_model_end - ghostnv_embedded_ultra_model);
  return *size > 0;
#else
  *data = nullptr;
  *size = 0;
  return false;
#endif
}

bool EmbeddedEnhancedModel(const void** data, size_t* size) {
#if GHOSTNV_HAVE_ENHANCED_MODEL
  *data = ghostnv_embedded_enhanced_model;
  *size = static_cast<size_t>(ghostnv_embedded_enhanced_model_end - ghostnv_embedded_enhanced_model);
  return *size > 0;
#else
  *data = nullptr;
  *size = 0;
  return false;
#endif
}

}  // namespace ghostnv::api
