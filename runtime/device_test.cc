// GPU tests (label `gpu`) for the device layer's RAII types: devices, the primary context,
// priority streams, events, device and pinned (mapped) memory, modules and kernels, graph
// capture and replay, and the error text of failing calls. Skip without a GPU.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "runtime/context.h"
#include "runtime/device.h"
#include "runtime/graph.h"
#include "runtime/kernel_build.h"
#include "runtime/memory.h"
#include "runtime/module.h"
#include "runtime/stream.h"
#include "runtime/gpu_test_util.h"

namespace ghostnv::runtime {
namespace {

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(Devices, EnumerateAndSelect) {
  GPU_TEST_OR_SKIP(env);
  absl::StatusOr<std::vector<DeviceInfo>> all = ListDevices();
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_FALSE(all->empty());
  for (const DeviceInfo& d : *all) {
    std::cout << d.Describe() << ": " << d.multiprocessors << " SMs, " << (d.total_memory >> 20)
              << " MiB, L2 " << (d.l2_cache_bytes >> 10) << " KiB, render node '" << d.render_node
              << "'\n";
    EXPECT_FALSE(d.name.empty());
    EXPECT_GE(d.Arch(), 50);
    EXPECT_GT(d.multiprocessors, 0);
    EXPECT_GT(d.total_memory, size_t{1} << 28);
    EXPECT_EQ(NormalizePciBusId(d.pci_bus_id), d.pci_bus_id);
  }
  const DeviceInfo& d0 = (*all)[0];
  for (const char* sel : {"", "cuda", "0", "cuda:0"}) {
    absl::StatusOr<DeviceInfo> d = FindDevice(sel);
    ASSERT_TRUE(d.ok()) << sel << ": " << d.status();
    EXPECT_EQ(d->ordinal, 0);
  }
  absl::StatusOr<DeviceInfo> by_bus = FindDevice(d0.pci_bus_id);
  ASSERT_TRUE(by_bus.ok()) << by_bus.status();
  EXPECT_EQ(by_bus->ordinal, d0.ordinal);
  absl::StatusOr<DeviceInfo> upper = FindDevice(absl::AsciiStrToUpper(d0.pci_bus_id));
  EXPECT_TRUE(upper.ok());
  absl::StatusOr<DeviceInfo> missing = FindDevice("cuda:97");
  EXPECT_TRUE(absl::IsNotFound(missing.status()));
  EXPECT_PRED2(Contains, std::string(missing.status().message()), d0.name);
}

TEST(ContextAndStreams, PrioritiesAreExplicit) {
  GPU_TEST_OR_SKIP(env);
  const StreamPriorityRange pr = env->ctx->priorities();
  EXPECT_LE(pr.greatest, pr.least);  // lower numbers run first
  absl::StatusOr<Stream> rt = Stream::Create(*env->ctx, StreamPriority::kRealtime);
  absl::StatusOr<Stream> batch = Stream::Create(*env->ctx, StreamPriority::kBatch);
  ASSERT_TRUE(rt.ok() && batch.ok());
  EXPECT_EQ(rt->priority(), pr.greatest);
  EXPECT_EQ(batch->priority(), pr.least);
  int p = 99;
  ASSERT_EQ(env->ctx->api().StreamGetPriority(rt->get(), &p), cu::kSuccess);
  EXPECT_EQ(p, pr.greatest);
  EXPECT_EQ(rt->Query(), cu::kSuccess);  // idle
  // A second retain of the same primary context is the same context; both release cleanly.
  absl::StatusOr<Context> again = Context::Retain(*env->device);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->get(), env->ctx->get());
  // Moving leaves the source empty (its destructor must not release twice).
  Stream moved = *std::move(rt);
  EXPECT_NE(moved.get(), nullptr);
  size_t free_bytes = 0, total = 0;
  ASSERT_TRUE(env->ctx->MemoryInfo(&free_bytes, &total).ok());
  EXPECT_GT(total, free_bytes);
}

TEST(Memory, PinnedAndDeviceRoundTripAtOddSizes) {
  GPU_TEST_OR_SKIP(env);
  for (size_t bytes : {size_t{1}, size_t{7}, size_t{113}, size_t{513 * 4}, size_t{1} << 20}) {
    absl::StatusOr<PinnedBlock> host = PinnedBlock::Allocate(*env->ctx, bytes);
    absl::StatusOr<PinnedBlock> back = PinnedBlock::Allocate(*env->ctx, bytes, HostMapping::kUnmapped,
                                                             HostCaching::kDefault, Wipe::kOnFree);
    absl::StatusOr<DeviceBlock> dev = DeviceBlock::Allocate(*env->ctx, bytes, Wipe::kOnFree);
    ASSERT_TRUE(host.ok() && back.ok() && dev.ok());
    for (size_t i = 0; i < bytes; ++i) host->as<unsigned char>()[i] = static_cast<unsigned char>(i * 31 + 7);
    std::memset(back->data(), 0, bytes);
    ASSERT_EQ(dev->CopyFromHostAsync(host->data(), bytes, *env->stream), cu::kSuccess);
    ASSERT_EQ(dev->CopyToHostAsync(back->data(), bytes, *env->stream), cu::kSuccess);
    ASSERT_TRUE(env->Sync().ok());
    EXPECT_EQ(std::memcmp(host->data(), back->data(), bytes), 0) << bytes << " bytes";
  }
}

TEST(Memory, MappedPinnedMemoryIsVisibleToKernels) {
  GPU_TEST_OR_SKIP(env);
  if (!env->device->can_map_host_memory) GTEST_SKIP() << "device cannot map host memory";
  const int n = 513;
  absl::StatusOr<PinnedBlock> mapped =
      PinnedBlock::Allocate(*env->ctx, n * sizeof(float), HostMapping::kMapped);
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  ASSERT_NE(mapped->device_ptr(), 0u);
  for (int i = 0; i < n; ++i) mapped->as<float>()[i] = static_cast<float>(i - 256);
  // relu in place, by a kernel reading and writing host memory directly.
  ASSERT_EQ(env->ops->Activate(kernels::Activation::kRelu, kernels::MathMode::kExact, mapped->device_ptr(), n,
                               *env->stream),
            cu::kSuccess);
  ASSERT_TRUE(env->Sync().ok());
  for (int i = 0; i < n; ++i) ASSERT_EQ(mapped->as<float>()[i], i > 256 ? i - 256.f : 0.f) << i;
}

TEST(Memory, FailuresNameTheCallAndTheDevice) {
  GPU_TEST_OR_SKIP(env);
  absl::StatusOr<DeviceBlock> huge = DeviceBlock::Allocate(*env->ctx, size_t{1} << 50);
  ASSERT_FALSE(huge.ok());
  EXPECT_TRUE(absl::IsResourceExhausted(huge.status())) << huge.status();
  const std::string msg(huge.status().message());
  EXPECT_PRED2(Contains, msg, "cuMemAlloc failed allocating 1125899906842624 bytes on device 0");
  EXPECT_PRED2(Contains, msg, env->device->name);
  EXPECT_PRED2(Contains, msg, "CUDA_ERROR_OUT_OF_MEMORY");
  absl::StatusOr<DeviceBlock> empty = DeviceBlock::Allocate(*env->ctx, 0);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->ptr(), 0u);
}

TEST(Modules, LoadLookupAndErrors) {
  GPU_TEST_OR_SKIP(env);
  absl::StatusOr<BuiltKernel> built =
      BuildKernelProgram(*FindKernelProgram("activations.cu"), env->device->Arch(), CubinCache(""));
  ASSERT_TRUE(built.ok()) << built.status();
  EXPECT_TRUE(built->is_cubin);
  absl::StatusOr<Module> m = Module::Load(*env->ctx, built->image, "activations.cu");
  ASSERT_TRUE(m.ok()) << m.status();
  absl::StatusOr<Kernel> k = m->GetKernel("activate_f32");
  ASSERT_TRUE(k.ok());
  EXPECT_GT(k->Attribute(cu::kFuncAttrNumRegs), 0);
  EXPECT_EQ(k->Attribute(cu::kFuncAttrLocalSizeBytes), 0) << "activate_f32 spills to local memory";
  absl::StatusOr<Kernel> none = m->GetKernel("no_such_kernel");
  ASSERT_FALSE(none.ok());
  EXPECT_PRED2(Contains, std::string(none.status().message()), "no_such_kernel");
  EXPECT_PRED2(Contains, std::string(none.status().message()), "activations.cu");
  absl::StatusOr<Module> garbage = Module::Load(*env->ctx, std::string(64, 'x') + '\0', "garbage");
  ASSERT_FALSE(garbage.ok());
  EXPECT_PRED2(Contains, std::string(garbage.status().message()), "cuModuleLoadData failed loading module 'garbage'");
  for (const ProgramLoad& l : env->loads) {
    std::cout << l.program << ": " << CacheOutcomeName(l.cache) << ", build " << l.build_ms
              << " ms, load " << l.load_ms << " ms\n";
  }
}

TEST(Modules, KernelsDoNotSpill) {
  GPU_TEST_OR_SKIP(env);
  for (const char* name : {"gru.cu", "dense.cu", "fft.cu"}) {
    absl::StatusOr<BuiltKernel> built =
        BuildKernelProgram(*FindKernelProgram(name), env->device->Arch(), CubinCache(env->cache_dir.path()));
    ASSERT_TRUE(built.ok());
    absl::StatusOr<Module> m = Module::Load(*env->ctx, built->image, name);
    ASSERT_TRUE(m.ok());
    for (const char* k : {"gru_step_f32_r1", "gru_step_f32_r8", "gru_step_f32_r16", "dense_f32_r16", "rfft_forward_f32"}) {
      absl::StatusOr<Kernel> kk = m->GetKernel(k);
      if (!kk.ok()) continue;
      std::cout << k << ": " << kk->Attribute(cu::kFuncAttrNumRegs) << " registers, "
                << kk->Attribute(cu::kFuncAttrLocalSizeBytes) << " bytes local\n";
      EXPECT_EQ(kk->Attribute(cu::kFuncAttrLocalSizeBytes), 0) << k;
    }
  }
}

TEST(Graphs, ReplayUsesCurrentMemoryContents) {
  GPU_TEST_OR_SKIP(env);
  std::vector<float> w = {1.f, 2.f, 3.f, 4.f, 5.f, 6.f};  // [2 inputs][3 units]
  kernels::DenseParams p{.inputs = 2, .units = 3, .weights = w.data()};
  absl::StatusOr<DeviceDense> layer = UploadDense(*env->ctx, *env->stream, p);
  ASSERT_TRUE(layer.ok());
  absl::StatusOr<Stream> s = Stream::Create(*env->ctx, StreamPriority::kRealtime);
  ASSERT_TRUE(s.ok());
  DeviceBlock x = env->Alloc(2), y = env->Alloc(3);
  absl::StatusOr<PinnedBlock> hx = PinnedBlock::Allocate(*env->ctx, 2 * sizeof(float));
  absl::StatusOr<PinnedBlock> hy = PinnedBlock::Allocate(*env->ctx, 3 * sizeof(float));
  ASSERT_TRUE(hx.ok() && hy.ok());
  // H2D + dense + D2H captured once: the real-time round trip shape.
  absl::StatusOr<CapturedGraph> g = CaptureGraph(*env->ctx, *s, [&]() -> absl::Status {
    if (x.CopyFromHostAsync(hx->data(), 8, *s) != cu::kSuccess) return absl::InternalError("h2d");
    if (env->ops->Dense(*layer, x.ptr(), 2, y.ptr(), 3, 1, *s) != cu::kSuccess) return absl::InternalError("dense");
    if (y.CopyToHostAsync(hy->data(), 12, *s) != cu::kSuccess) return absl::InternalError("d2h");
    return absl::OkStatus();
  });
  ASSERT_TRUE(g.ok()) << g.status();
  for (int rep = 0; rep < 5; ++rep) {
    hx->as<float>()[0] = static_cast<float>(rep);
    hx->as<float>()[1] = 1.f;
    ASSERT_EQ(g->exec.Launch(*s), cu::kSuccess);
    ASSERT_TRUE(s->Synchronize().ok());
    for (int i = 0; i < 3; ++i) EXPECT_EQ(hy->as<float>()[i], rep * w[i] + w[3 + i]) << "rep " << rep;
  }
  // A failing record callback ends the capture and returns its error; the stream stays usable.
  absl::StatusOr<CapturedGraph> bad =
      CaptureGraph(*env->ctx, *s, []() -> absl::Status { return absl::AbortedError("stop"); });
  EXPECT_TRUE(absl::IsAborted(bad.status()));
  EXPECT_EQ(g->exec.Launch(*s), cu::kSuccess);
  EXPECT_TRUE(s->Synchronize().ok());
}

TEST(Events, RecordQueryAndTime) {
  GPU_TEST_OR_SKIP(env);
  absl::StatusOr<Event> a = Event::Create(*env->ctx, EventTiming::kEnabled);
  absl::StatusOr<Event> b = Event::Create(*env->ctx, EventTiming::kEnabled);
  absl::StatusOr<Event> sync = Event::Create(*env->ctx, EventTiming::kDisabled);
  ASSERT_TRUE(a.ok() && b.ok() && sync.ok());
  DeviceBlock x = env->Alloc(1 << 20);
  ASSERT_EQ(a->Record(*env->stream), cu::kSuccess);
  ASSERT_EQ(env->ops->Activate(kernels::Activation::kTanh, kernels::MathMode::kExact, x.ptr(), 1 << 20, *env->stream),
            cu::kSuccess);
  ASSERT_EQ(b->Record(*env->stream), cu::kSuccess);
  ASSERT_EQ(sync->Record(*env->stream), cu::kSuccess);
  ASSERT_TRUE(sync->Synchronize().ok());
  EXPECT_EQ(sync->Query(), cu::kSuccess);
  absl::StatusOr<float> ms = Event::ElapsedMs(*a, *b);
  ASSERT_TRUE(ms.ok()) << ms.status();
  EXPECT_GE(*ms, 0.f);
  // Timing a timing-disabled event is an error with a clear text.
  absl::StatusOr<float> bad = Event::ElapsedMs(*a, *sync);
  EXPECT_FALSE(bad.ok());
  EXPECT_PRED2(Contains, std::string(bad.status().message()), "cuEventElapsedTime");
}

}  // namespace
}  // namespace ghostnv::runtime
