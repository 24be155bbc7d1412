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

# ghostnv_python_test(NAME SCRIPT path.py [ARGS a b ...] [LABELS l ...] [ENV K=V ...])
# A Python test script registered with ctest (python3 from find_package). Scripts exit 77 when
# what they need (a PyPI package, ../shared/data) is missing: ctest reports them skipped. Sets
# GHOSTNV_SOURCE_DIR / GHOSTNV_SHARED_DIR / GHOSTNV_BINARY_DIR and OMP_NUM_THREADS=1. In sanitizer
# builds the scripts load our shared libraries into python3, so the sanitizer runtimes are
# preloaded (GCC only: with another compiler the test is not registered) and leak checking is
# off (the interpreter itself "leaks" at exit). Nothing is registered without python3.
function(ghostnv_python_test name)
  cmake_parse_arguments(T "" "SCRIPT" "ARGS;LABELS;ENV" ${ARGN})
  find_package(Python3 COMPONENTS Interpreter)
  if(NOT Python3_Interpreter_FOUND)
    return()
  endif()
  set(env "GHOSTNV_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
          "GHOSTNV_SHARED_DIR=${PROJECT_SOURCE_DIR}/../shared"
          "GHOSTNV_BINARY_DIR=${PROJECT_BINARY_DIR}"
          "OMP_NUM_THREADS=1" ${T_ENV})
  if(GHOSTNV_SANITIZE)
    if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
      return()
    endif()
    execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=libasan.so
                    OUTPUT_VARIABLE asan OUTPUT_STRIP_TRAILING_WHITESPACE)
    execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=libubsan.so
                    OUTPUT_VARIABLE ubsan OUTPUT_STRIP_TRAILING_WHITESPACE)
    list(APPEND env "LD_PRELOAD=${asan} ${ubsan}" "ASAN_OPTIONS=detect_leaks=0")
  endif()
  add_test(NAME ${name} COMMAND ${Python3_EXECUTABLE} ${T_SCRIPT} ${T_ARGS})
  set_tests_properties(${name} PROPERTIES
    LABELS "${T_LABELS}" SKIP_RETURN_CODE 77 ENVIRONMENT "${env}")
endfunction()
