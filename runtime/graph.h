// runtime/graph.h — CUDA graphs captured from a stream, and their executable instances.
//
// A batch's work (copies + kernels) is enqueued once under stream capture; the captured Graph is
// instantiated into a GraphExec, which is then replayed each tick with one launch. Replays reuse
// the same device addresses and kernel arguments, so everything a graph touches must be
// allocated before capture and stay put.
//
//   absl::StatusOr<CapturedGraph> g = CaptureGraph(ctx, stream, [&]() -> absl::Status {
//     return ops.GruStep(args, stream);       // enqueues, does not run
//   });
//   g->exec.Launch(stream);                    // real-time safe: one driver call
//
// Move-only; destructors destroy the handles. Capture uses thread-local mode: other threads may
// keep using the driver meanwhile.
#pragma once

#include <functional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/context.h"
#include "runtime/cuda_abi.h"
#include "runtime/stream.h"

namespace ghostnv::runtime {

class Graph {
 public:
  Graph() = default;
  Graph(const DriverApi* api, cu::CUgraph g) : api_(api), graph_(g) {}
  Graph(Graph&& other) noexcept;
  Graph& operator=(Graph&& other) noexcept;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  ~Graph();
  cu::CUgraph get() const { return graph_; }

 private:
  const DriverApi* api_ = nullptr;
  cu::CUgraph graph_ = nullptr;
};

class GraphExec {
 public:
  static absl::StatusOr<GraphExec> Instantiate(const Context& ctx, const Graph& graph);

  GraphExec() = default;
  GraphExec(GraphExec&& other) noexcept;
  GraphExec& operator=(GraphExec&& other) noexcept;
  GraphExec(const GraphExec&) = delete;
  GraphExec& operator=(const GraphExec&) = delete;
  ~GraphExec();

  cu::CUresult Launch(const Stream& stream) const { return api_->GraphLaunch(exec_, stream.get()); }
  cu::CUgraphExec get() const { return exec_; }

 private:
  GraphExec(const DriverApi* api, cu::CUgraphExec e) : api_(api), exec_(e) {}
  const DriverApi* api_ = nullptr;
  cu::CUgraphExec exec_ = nullptr;
};

struct CapturedGraph {
  Graph graph;
  GraphExec exec;
};

// Captures what `record` enqueues on `stream` and instantiates it. If `record` fails, capture
// is ended and its status returned.
absl::StatusOr<CapturedGraph> CaptureGraph(const Context& ctx, const Stream& stream,
                                           const std::function<absl::Status()>& record);

}  // namespace ghostnv::runtime
