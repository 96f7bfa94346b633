// Load-time memory savings must not change behaviour: a static-shape model gives its imported
// graph to its only compilation and packed weights are released from the plan; a dynamic-batch
// model keeps its import and recompiles for any batch size, also after plan-cache eviction; a
// file load (weights read with pread) equals a load from memory.
#include <fstream>
#include <iterator>

#include "model_test_util.h"

namespace effi::testing {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

Tensor Batch(const Tensor& row, int64_t n) {
  Tensor t = row;
  t.shape[0] = n;
  t.bytes.clear();
  for (int64_t i = 0; i < n; ++i) t.bytes.insert(t.bytes.end(), row.bytes.begin(), row.bytes.end());
  return t;
}

TEST(LoadMemory, FileLoadEqualsMemoryLoad) {
  for (const char* name : {"tiny_op11", "tiny_dynbatch_op17", "tiny_l7like_op11"}) {
    SCOPED_TRACE(name);
    const std::string path = kModelsDir + "/" + name + ".onnx";
    const std::string bytes = ReadAll(path);
    auto from_file = Model::Load(path);
    auto from_memory = Model::LoadFromMemory(bytes.data(), bytes.size());
    EXPECT_EQ(from_file->Stats().parameters, from_memory->Stats().parameters);
    const Tensor in = Row(LoadTensor(kModelsDir + "/" + name + "/in_0.npy"), 0);
    Session a(from_file), b(from_memory);
    EXPECT_EQ(RunOne(a, in).bytes, RunOne(b, in).bytes);
  }
}

TEST(LoadMemory, StaticModelRunsAndReportsAfterItsGraphIsConsumed) {
  const std::string dir = kModelsDir + "/tiny_op11";
  auto model = Model::Load(dir + ".onnx");
  auto dynamic = Model::Load(kModelsDir + "/tiny_dynbatch_op13.onnx");
  const Tensor in = Row(LoadTensor(dir + "/in_0.npy"), 0);
  Session s(model);
  const Tensor y = RunOne(s, in);
  EXPECT_EQ(RunOne(s, in).bytes, y.bytes);
  Session s2(model);
  EXPECT_EQ(RunOne(s2, in).bytes, y.bytes);
  const ModelStats st = model->Stats(1);
  EXPECT_GT(st.parameters, 0);
  EXPECT_EQ(st.parameters, dynamic->Stats().parameters);
  EXPECT_GT(st.macs, 0);
  EXPECT_FALSE(st.ops_imported.empty());
  EXPECT_GT(model->opset(), 0);
}

// More batch sizes than the plan cache holds (8): evicted plans are recompiled from the import.
TEST(LoadMemory, DynamicBatchRecompilesAfterEviction) {
  const std::string dir = kModelsDir + "/tiny_dynbatch_op17";
  auto model = Model::Load(dir + ".onnx");
  const Tensor row = Row(LoadTensor(dir + "/in_0.npy"), 0);
  Session s(model);
  const Tensor y1 = RunOne(s, row);
  for (int64_t n : {2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 3}) {
    SCOPED_TRACE(n);
    const Tensor y = RunOne(s, Batch(row, n));
    ASSERT_EQ(y.shape[0], n);
    for (int64_t r = 0; r < n; ++r) {
      const Diff d = Compare(Row(y, r), y1);
      EXPECT_LE(d.max_abs, 1e-5 * d.max_ref) << "row " << r;
    }
  }
  EXPECT_GT(model->Stats(5).parameters, 0);
}

}  // namespace
}  // namespace effi::testing
