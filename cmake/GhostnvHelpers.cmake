# Shared build settings: warnings, sanitizers and the test helper.

add_library(ghostnv_options INTERFACE)
target_compile_options(ghostnv_options INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wno-missing-field-initializers>)
target_include_directories(ghostnv_options INTERFACE ${PROJECT_SOURCE_DIR} ${PROJECT_SOURCE_DIR}/include)
if(GHOSTNV_SANITIZE)
  target_compile_options(ghostnv_options INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer
                         -fno-sanitize-recover=undefined)
  target_link_options(ghostnv_options INTERFACE -fsanitize=address,undefined)
endif()

# Flags for translation units that hold AVX2/FMA code (chosen at run time, never assumed).
set(GHOSTNV_AVX2_FLAGS -mavx2 -mfma)

# ghostnv_test(NAME SOURCES a.cc b.cc LIBS x y LABELS l1 l2)
# A GoogleTest binary registered with ctest; tests sit beside the code they test.
function(ghostnv_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ghostnv_options ${T_LIBS} GTest::gtest GTest::gtest_main)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES
    LABELS "${T_LABELS}"
    ENVIRONMENT "GHOSTNV_SOURCE_DIR=${PROJECT_SOURCE_DIR};GHOSTNV_SHARED_DIR=${PROJECT_SOURCE_DIR}/../shared;GHOSTNV_BINARY_DIR=${PROJECT_BINARY_DIR}")
endfunction()
