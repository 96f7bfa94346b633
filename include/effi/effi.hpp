// effi C++ API: load an ONNX model once, run it from any number of sessions (threads).
//
//   auto model = effi::Model::Load("efficientformer_l1.onnx");
//   effi::Session session(model);
//   effi::Tensor out = session.Run({{"data", effi::Tensor::Float({1, 3, 224, 224}, pixels)}})[0];
//
// Errors are thrown as effi::Error (see effi/error.hpp) with a one-line message.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "effi/error.hpp"

namespace effi {

enum class ElementType : int {
  kUndefined = 0,
  kFloat32 = 1,
  kInt64 = 2,
  kInt32 = 3,
  kInt8 = 4,
  kUInt8 = 5,
  kBool = 6
};
const char* ElementTypeName(ElementType t);
size_t ElementSize(ElementType t);

// A dense row-major host tensor.
struct Tensor {
  ElementType type = ElementType::kUndefined;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;

  static Tensor Float(std::vector<int64_t> shape, const std::vector<float>& values);
  static Tensor Zeros(ElementType type, std::vector<int64_t> shape);
  int64_t elements() const;
  const float* floats() const { return reinterpret_cast<const float*>(bytes.data()); }
  float* floats() { return reinterpret_cast<float*>(bytes.data()); }
};

// A caller-owned dense row-major tensor that Session::Run reads in place, without a copy (a
// 224x224 image is 0.6 MB; the Python module passes NumPy arrays this way). `data` must hold
// elements() * ElementSize(type) bytes, aligned to ElementSize(type), and stay unchanged until Run
// returns; it may be null only when the shape has no elements.
struct TensorView {
  ElementType type = ElementType::kUndefined;
  const void* data = nullptr;
  std::vector<int64_t> shape;
};

struct TensorInfo {
  std::string name;
  ElementType type = ElementType::kUndefined;
  std::vector<int64_t> shape;  // -1 for dynamic dims (e.g. batch)
};

struct ModelOptions {
  // Graph passes: "all" (default), "none", or a list such as "all,-fuse_gelu" (see README).
  std::string passes = "all";
  // Memory budget in bytes for what loading and running the model may allocate beyond the weights
  // stored in its file: activations, kernel scratch, constants computed at load, weight copies.
  // A model over it fails to load (or a Session::Run at a bigger batch fails) with kInvalidModel
  // naming the node, before allocating. 0: EFFI_MEMORY_LIMIT if set (bytes with an optional
  // K/M/G/T suffix, or "unlimited"), else 512 MiB; -1: unlimited.
  int64_t memory_limit_bytes = 0;
};

struct SessionOptions {
  int threads = 1;       // intra-op threads for this session
  bool profile = false;  // accumulate per-node wall time (see Session::Profile)
};

// Accumulated time of one executed node (profiling).
struct NodeTiming {
  std::string node;  // node name
  std::string op;    // op type, effi fused ops as "effi.X"
  double total_ms = 0;
  int64_t runs = 0;
  std::vector<int64_t> output_shape;  // of the node's first output, at the profiled input shapes
  // Work per run: multiply-accumulates of Conv/MatMul/Gemm/effi.Conv/effi.Linear (as counted in
  // ModelStats::macs) and of the attention ops' q k^T and p v products; 0 for other ops.
  int64_t macs = 0;
  int64_t bytes = 0;  // sizes of the node's inputs (weights included) and outputs, once each
  // The latest run: when the node started (ms after the run began executing, once Session::Run had
  // checked its inputs) and how long it took.
  double last_start_ms = 0;
  double last_ms = 0;
};

// What `effi inspect` reports.
struct ModelStats {
  int64_t parameters = 0;  // elements of all initializers, as stored in the file
  // Multiply-accumulates of Conv/MatMul/Gemm (and ConvInteger/QLinearConv/MatMulInteger/
  // QLinearMatMul) at the bound input shapes, counted on the optimized graph. Attention's own
  // products (q k^T and p v inside effi.Attention) are not counted.
  int64_t macs = 0;
  // The part of `macs` that runs on int8 kernels: effi.Conv/effi.Linear that fuse_int8 moved to
  // the int8 GEMM and the ONNX integer ops; the rest (macs - macs_int8) runs in float32.
  int64_t macs_int8 = 0;
  int64_t peak_activation_bytes = 0;         // arena of the memory plan
  std::map<std::string, int> ops_imported;   // op histogram as in the file (Constant included)
  std::map<std::string, int> ops_optimized;  // after passes (effi fused ops prefixed "effi.")
  std::vector<std::pair<std::string, int>> pass_rewrites;
  std::vector<TensorInfo> bound_inputs, bound_outputs;  // shapes at the bound batch
};

class Model {
 public:
  // Loads and validates the model and compiles it for its declared input shapes (dynamic dims = 1),
  // so unsupported ops and malformed graphs are reported here.
  static std::shared_ptr<Model> Load(const std::string& path, const ModelOptions& options = {});
  static std::shared_ptr<Model> LoadFromMemory(const void* data, size_t size,
                                               const ModelOptions& options = {});
  ~Model();

  const std::vector<TensorInfo>& inputs() const;
  const std::vector<TensorInfo>& outputs() const;
  // ONNX metadata_props (e.g. "labels", "preprocess").
  const std::map<std::string, std::string>& metadata() const;
  int64_t opset() const;
  // Statistics at the given batch size (only meaningful for a dynamic batch axis).
  ModelStats Stats(int64_t batch = 1) const;

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  friend struct ModelFactory;
  Model();
  std::unique_ptr<Impl> impl_;
};

// Per-thread execution state (activation arena). Cheap to create; one per concurrent caller.
class Session {
 public:
  explicit Session(std::shared_ptr<const Model> model, const SessionOptions& options = {});
  ~Session();
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;

  // Runs the model. Inputs by name; every model input must be given with a matching dtype and a
  // shape equal to the declared one except at dynamic dims. Returns outputs in model order.
  std::vector<Tensor> Run(const std::vector<std::pair<std::string, Tensor>>& inputs);
  // The same with inputs read in place from the caller's memory (see TensorView).
  std::vector<Tensor> Run(const std::vector<std::pair<std::string, TensorView>>& inputs);

  // Per-node timings accumulated over Run calls when SessionOptions::profile is set, in
  // execution order; ResetProfile clears them.
  std::vector<NodeTiming> Profile() const;
  void ResetProfile();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Library version string, e.g. "0.1.0".
const char* Version();
// The SIMD path the kernels run on (after EFFI_MAX_ISA), e.g. "AVX3 (gemm_f32_8x32__AVX3)".
std::string ActiveIsa();

}  // namespace effi
