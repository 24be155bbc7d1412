# gpu-pipeline's block: the whole RNNoise pipeline on the GPU (CudaPlan), its tests and its
# benchmark. Included from runtime/sched/CMakeLists.txt (whole project) and from the standalone
# runtime project (runtime/CMakeLists.txt, the GPU machine without libsndfile/libsoxr), so it
# uses only ghostnv_runtime, ghostnv_families/ghostnv_models and ghostnv_audio's DSP core.
set(_ghostnv_cp_dir ${CMAKE_CURRENT_LIST_DIR})
add_library(ghostnv_cuda_plan STATIC
  ${_ghostnv_cp_dir}/cuda_plan.cc
  ${_ghostnv_cp_dir}/rnnoise_kernels.cc)
target_link_libraries(ghostnv_cuda_plan PUBLIC
  ghostnv_options
  ghostnv_runtime
  ghostnv_families
  ghostnv_models
  ghostnv_audio
  ghostnv_kernels
  absl::status
  absl::statusor
  absl::strings)

if(GHOSTNV_BUILD_TESTS)
  # GPU: per-kernel tests against the CPU twins and the whole-model test (skip without a GPU).
  ghostnv_test(sched_cuda_plan_test SOURCES ${_ghostnv_cp_dir}/cuda_plan_test.cc
               LIBS ghostnv_cuda_plan LABELS gpu)
  set_tests_properties(sched_cuda_plan_test PROPERTIES SKIP_REGULAR_EXPRESSION "no GPU: ")
  # No device needed: the pipeline kernels compiled as C++ and run on host threads
  # (cuda_host_shim.h), bit for bit against the CPU twins, and the whole pipeline vs ProcessHop.
  ghostnv_test(sched_rnnoise_kernels_host_test
               SOURCES ${_ghostnv_cp_dir}/rnnoise_kernels_host_test.cc ${_ghostnv_cp_dir}/cuda_host_shim.h
               LIBS ghostnv_cuda_plan LABELS unit)
  target_compile_options(sched_rnnoise_kernels_host_test PRIVATE -Wno-unknown-pragmas -ffp-contract=off)
  # The fused kernels (CudaPlanOptions::fused_spectra) on host threads against their split twins
  # and a double DFT, and the pipeline through them against ProcessHop (no device needed).
  ghostnv_test(sched_cuda_plan_fused_host_test
               SOURCES ${_ghostnv_cp_dir}/cuda_plan_fused_host_test.cc ${_ghostnv_cp_dir}/cuda_host_shim.h
               LIBS ghostnv_cuda_plan LABELS unit)
  target_compile_options(sched_cuda_plan_fused_host_test PRIVATE -Wno-unknown-pragmas -ffp-contract=off)
  # CPU side (no device needed): argument and model checks, the no-driver path.
  ghostnv_test(sched_cuda_plan_unit_test SOURCES ${_ghostnv_cp_dir}/cuda_plan_unit_test.cc
               LIBS ghostnv_cuda_plan LABELS unit)
endif()

# PCM in -> PCM out per hop on the GPU: batch-1 latency and batched throughput (not a test).
add_executable(ghostnv_cuda_plan_benchmark ${_ghostnv_cp_dir}/cuda_plan_benchmark.cc)
target_link_libraries(ghostnv_cuda_plan_benchmark PRIVATE ghostnv_cuda_plan absl::strings)

# gpu-tc: the tensor-core (fp16) network stage, its tests and benchmark.
include(${_ghostnv_cp_dir}/network_tc.cmake)
