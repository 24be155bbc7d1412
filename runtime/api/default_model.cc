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
namespace {

// The bytes [begin, end) of an embedded file (begin nullptr: not embedded in this build).
bool Bytes(const unsigned char* begin, const unsigned char* end, const void** data,
           size_t* size) {
  *data = begin;
  *size = begin != nullptr ? static_cast<size_t>(end - begin) : 0;
  return *size > 0;
}

}  // namespace

bool EmbeddedDefaultModel(const void** data, size_t* size) {
#if GHOSTNV_HAVE_DEFAULT_MODEL
  return Bytes(ghostnv_embedded_default_model, ghostnv_embedded_default_model_end, data, size);
#else
  return Bytes(nullptr, nullptr, data, size);
#endif
}

bool EmbeddedUltraModel(const void** data, size_t* size) {
#if GHOSTNV_HAVE_ULTRA_MODEL
  return Bytes(ghostnv_embedded_ultra_model, ghostnv_embedded_ultra_model_end, data, size);
#else
  return Bytes(nullptr, nullptr, data, size);
#endif
}

bool EmbeddedEnhancedModel(const void** data, size_t* size) {
#if GHOSTNV_HAVE_ENHANCED_MODEL
  return Bytes(ghostnv_embedded_enhanced_model, ghostnv_embedded_enhanced_model_end, data, size);
#else
  return Bytes(nullptr, nullptr, data, size);
#endif
}

}  // namespace ghostnv::api
