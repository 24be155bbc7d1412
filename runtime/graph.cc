// runtime/graph.cc — stream capture into graphs.
#include "runtime/graph.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace ghostnv::runtime {

Graph::Graph(Graph&& other) noexcept
    : api_(std::exchange(other.api_, nullptr)), graph_(std::exchange(other.graph_, nullptr)) {}

Graph& Graph::operator=(Graph&& other) noexcept {
  if (this != &other) {
    if (graph_ != nullptr) api_->GraphDestroy(graph_);
    api_ = std::exchange(other.api_, nullptr);
    graph_ = std::exchange(other.graph_, nullptr);
  }
  return *this;
}

Graph::~Graph() {
  if (graph_ != nullptr) api_->GraphDestroy(graph_);
}

absl::StatusOr<GraphExec> GraphExec::Instantiate(const Context& ctx, const Graph& graph) {
  if (absl::Status st = ctx.MakeCurrent(); !st.ok()) return st;
  cu::CUgraphExec e = nullptr;
  if (cu::CUresult r = ctx.api().GraphInstantiateWithFlags(&e, graph.get(), 0); r != cu::kSuccess) {
    return CuError(ctx.api(), r, "cuGraphInstantiateWithFlags",
                   absl::StrCat("instantiating a graph on ", ctx.device().Describe()));
  }
  return GraphExec(&ctx.api(), e);
}

GraphExec::GraphExec(GraphExec&& other) noexcept
    : api_(std::exchange(other.api_, nullptr)), exec_(std::exchange(other.exec_, nullptr)) {}

GraphExec& GraphExec::operator=(GraphExec&& other) noexcept {
  if (this != &other) {
    if (exec_ != nullptr) api_->GraphExecDestroy(exec_);
    api_ = std::exchange(other.api_, nullptr);
    exec_ = std::exchange(other.exec_, nullptr);
  }
  return *this;
}

GraphExec::~GraphExec() {
  if (exec_ != nullptr) api_->GraphExecDestroy(exec_);
}

absl::StatusOr<CapturedGraph> CaptureGraph(const Context& ctx, const Stream& stream,
                                           const std::function<absl::Status()>& record) {
  if (absl::Status st = ctx.MakeCurrent(); !st.ok()) return st;
  const DriverApi& a = ctx.api();
  if (cu::CUresult r = a.StreamBeginCapture(stream.get(), cu::kStreamCaptureModeThreadLocal);
      r != cu::kSuccess) {
    return CuError(a, r, "cuStreamBeginCapture",
                   absl::StrCat("starting a graph capture on ", ctx.device().Describe()));
  }
  absl::Status recorded = record();
  cu::CUgraph g = nullptr;
  const cu::CUresult end = a.StreamEndCapture(stream.get(), &g);
  Graph graph(&a, g);
  if (!recorded.ok()) return recorded;
  if (end != cu::kSuccess) {
    return CuError(a, end, "cuStreamEndCapture",
                   absl::StrCat("ending a graph capture on ", ctx.device().Describe()));
  }
  absl::StatusOr<GraphExec> exec = GraphExec::Instantiate(ctx, graph);
  if (!exec.ok()) return exec.status();
  return CapturedGraph{std::move(graph), *std::move(exec)};
}

}  // namespace ghostnv::runtime
