// ONNX node conformance runner: one GoogleTest per libonnx-testdata case whose graph uses only ops
// effi implements, run with passes "all" and "none"; known gaps are listed in skipped.txt.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "effi/effi.hpp"
#include "onnx.pb.h"
#include "onnx/tensor_proto.h"
#include "ops/op.h"

namespace effi {
namespace {

namespace fs = std::filesystem;

// ONNX's backend test defaults (onnx/backend/test/loader: rtol 1e-3, atol 1e-7), compared like
// numpy.testing.assert_allclose: |actual - expected| <= atol + rtol * |expected|, NaN == NaN.
constexpr double kRtol = 1e-3;
constexpr double kAtol = 1e-7;
constexpr const char* kPassModes[] = {"all", "none"};

std::string DataDir() {
  const char* env = std::getenv("EFFI_ONNX_TESTDATA_DIR");
  return env && *env ? env : EFFI_ONNX_TESTDATA_DIR;
}

const char* CodeName(ErrorCode c) {
  switch (c) {
    case ErrorCode::kOk:
      return "ok";
    case ErrorCode::kInvalidArgument:
      return "invalid-argument";
    case ErrorCode::kInvalidModel:
      return "invalid-model";
    case ErrorCode::kUnsupported:
      return "unsupported";
    case ErrorCode::kIo:
      return "io";
    case ErrorCode::kInvalidImage:
      return "invalid-image";
    case ErrorCode::kInternal:
      return "internal";
  }
  return "?";
}

// Default-domain op types effi runs; Constant is handled by the importer.
std::set<std::string> SupportedOps() {
  std::set<std::string> ops{"Constant"};
  for (const ops::OpSchema* s : ops::AllOps())
    if (s->domain.empty()) ops.insert(s->op);
  return ops;
}

// Op types of the case's graph, or nullopt if the model cannot be parsed.
std::optional<std::vector<std::string>> ModelOps(const fs::path& model) {
  std::ifstream f(model, std::ios::binary);
  onnx::ModelProto m;
  if (!f || !m.ParseFromIstream(&f)) return std::nullopt;
  std::vector<std::string> ops;
  for (const auto& n : m.graph().node()) {
    bool onnx_domain = n.domain().empty() || n.domain() == "ai.onnx";
    ops.push_back(onnx_domain ? n.op_type() : n.domain() + "." + n.op_type());
  }
  return ops;
}

struct SkipList {
  std::map<std::string, std::string> reasons;  // case dir name -> reason
  std::vector<std::string> errors;             // malformed lines
};

// `test_dir_name  reason` per line; '#' starts a comment line; blank lines are ignored.
SkipList LoadSkipList(const std::string& path) {
  SkipList list;
  std::ifstream f(path);
  if (!f) {
    list.errors.push_back(fmt::format("cannot read skip list '{}'", path));
    return list;
  }
  std::string line;
  for (int lineno = 1; std::getline(f, line); ++lineno) {
    const size_t b = line.find_first_not_of(" \t");
    if (b == std::string::npos || line[b] == '#') continue;
    std::istringstream in(line);
    std::string name, reason;
    in >> name;
    std::getline(in >> std::ws, reason);
    if (name.rfind("test_", 0) != 0 || reason.empty())
      list.errors.push_back(fmt::format("{}:{}: expected '<test_dir> <reason>'", path, lineno));
    else if (!list.reasons.emplace(name, reason).second)
      list.errors.push_back(fmt::format("{}:{}: '{}' listed twice", path, lineno, name));
  }
  return list;
}

std::string ShapeString(const std::vector<int64_t>& s) {
  return fmt::format("[{}]", fmt::join(s, ","));
}

template <typename T>
T At(const Tensor& t, int64_t i) {
  T v;
  std::memcpy(&v, t.bytes.data() + static_cast<size_t>(i) * sizeof(T), sizeof(T));
  return v;
}

double ValueAt(const Tensor& t, int64_t i) {
  switch (t.type) {
    case ElementType::kFloat32:
      return At<float>(t, i);
    case ElementType::kInt64:
      return static_cast<double>(At<int64_t>(t, i));
    case ElementType::kInt32:
      return At<int32_t>(t, i);
    case ElementType::kInt8:
      return At<int8_t>(t, i);
    default:
      return At<uint8_t>(t, i);
  }
}

// Empty when `actual` matches `expected`; otherwise a description of the mismatch.
std::string Compare(const Tensor& expected, const Tensor& actual) {
  if (expected.type != actual.type)
    return fmt::format("type {} != expected {}", ElementTypeName(actual.type),
                       ElementTypeName(expected.type));
  if (expected.shape != actual.shape)
    return fmt::format("shape {} != expected {}", ShapeString(actual.shape),
                       ShapeString(expected.shape));
  const int64_t n = expected.elements();
  if (actual.bytes.size() != expected.bytes.size()) return "byte size differs";
  const bool is_float = expected.type == ElementType::kFloat32;
  int64_t bad = 0, first_bad = -1;
  double worst = 0;
  for (int64_t i = 0; i < n; ++i) {
    bool ok;
    if (is_float) {
      const double e = At<float>(expected, i), a = At<float>(actual, i);
      if (std::isnan(e) || std::isnan(a))
        ok = std::isnan(e) && std::isnan(a);
      else if (std::isinf(e) || std::isinf(a))
        ok = e == a;
      else {
        ok = std::fabs(a - e) <= kAtol + kRtol * std::fabs(e);
        if (!ok) worst = std::max(worst, std::fabs(a - e));
      }
    } else if (expected.type == ElementType::kInt64) {
      ok = At<int64_t>(expected, i) == At<int64_t>(actual, i);
    } else {
      ok = ValueAt(expected, i) == ValueAt(actual, i);
    }
    if (!ok && bad++ == 0) first_bad = i;
  }
  if (bad == 0) return "";
  return fmt::format("{} of {} elements differ (first at flat index {}: got {}, expected {}{})",
                     bad, n, first_bad, ValueAt(actual, first_bad), ValueAt(expected, first_bad),
                     is_float ? fmt::format("; max abs error {:g}", worst) : "");
}

std::vector<fs::path> Numbered(const fs::path& dir, const std::string& prefix,
                               const std::string& suffix) {
  std::vector<fs::path> files;
  for (int i = 0;; ++i) {
    fs::path p = dir / fmt::format("{}{}{}", prefix, i, suffix);
    if (!fs::exists(p)) break;
    files.push_back(p);
  }
  return files;
}

// Operands effi needs as constants when it compiles a model (it plans static shapes): shape-like
// inputs (Resize's roi, scales and sizes, Pad's pads and axes; Pad's constant_value stays an
// input), Clip's bounds, Dropout's ratio and training_mode. ONNX's node tests feed them as graph
// inputs; the runner turns such inputs into initializers holding the data set's values, so the op's
// semantics are still checked against the same input_K.pb.
bool IsStaticOperand(const std::string& op, int index) {
  static const std::map<std::string, std::vector<int>> kStatic = {
      {"Reshape", {1}},        {"Expand", {1}},  {"Tile", {1}},       {"ConstantOfShape", {0}},
      {"Range", {0, 1, 2}},    {"Split", {1}},   {"Squeeze", {1}},    {"Unsqueeze", {1}},
      {"Slice", {1, 2, 3, 4}}, {"Clip", {1, 2}}, {"Dropout", {1, 2}}, {"Resize", {1, 2, 3}},
      {"Pad", {1, 3}}};
  if (op.rfind("Reduce", 0) == 0) return index == 1;
  auto it = kStatic.find(op);
  return it != kStatic.end() &&
         std::find(it->second.begin(), it->second.end(), index) != it->second.end();
}

// One data set ready to run: the model (static operands frozen) and the remaining inputs.
struct PreparedSet {
  std::string model_bytes;
  std::vector<std::pair<std::string, Tensor>> inputs;
  std::vector<std::string> frozen;
};

PreparedSet Prepare(const onnx::ModelProto& original, const fs::path& set) {
  onnx::ModelProto model = original;
  onnx::GraphProto* graph = model.mutable_graph();
  std::set<std::string> initializers, static_names;
  for (const auto& t : graph->initializer()) initializers.insert(t.name());
  for (const auto& node : graph->node())
    for (int i = 0; i < node.input_size(); ++i)
      if (IsStaticOperand(node.op_type(), i)) static_names.insert(node.input(i));
  PreparedSet prepared;
  std::vector<onnx::ValueInfoProto> kept;
  int k = 0;
  for (const auto& vi : graph->input()) {
    if (initializers.count(vi.name())) continue;
    if (!vi.type().has_tensor_type())
      throw Error(
          ErrorCode::kUnsupported,
          fmt::format("graph input '{}' is not a tensor (sequence/optional/map)", vi.name()));
    const fs::path file = set / fmt::format("input_{}.pb", k++);
    if (!fs::exists(file))
      throw Error(ErrorCode::kIo,
                  fmt::format("{} is missing (input '{}')", file.string(), vi.name()));
    if (static_names.count(vi.name())) {
      std::ifstream f(file, std::ios::binary);
      onnx::TensorProto* t = graph->add_initializer();
      if (!t->ParseFromIstream(&f))
        throw Error(ErrorCode::kInvalidModel, fmt::format("{}: not a TensorProto", file.string()));
      t->set_name(vi.name());
      prepared.frozen.push_back(vi.name());
    } else {
      kept.push_back(vi);
      prepared.inputs.emplace_back(vi.name(), onnx_io::LoadTensorProtoFile(file.string()));
    }
  }
  if (fs::exists(set / fmt::format("input_{}.pb", k)))
    throw Error(ErrorCode::kIo,
                fmt::format("{}: more input files than graph inputs", set.string()));
  graph->clear_input();
  for (const auto& vi : kept) *graph->add_input() = vi;
  prepared.model_bytes = model.SerializeAsString();
  return prepared;
}

struct Outcome {
  std::string failure;       // empty: every output of every data set matched
  bool unsupported = false;  // failed with effi::Error kUnsupported
};

// Runs every data set of the case with the given passes.
Outcome RunCase(const fs::path& dir, const std::string& passes) {
  std::string stage = "load";
  try {
    onnx::ModelProto proto;
    {
      std::ifstream f(dir / "model.onnx", std::ios::binary);
      if (!f || !proto.ParseFromIstream(&f)) return {"model.onnx: cannot parse"};
    }
    const std::vector<fs::path> sets = Numbered(dir, "test_data_set_", "");
    if (sets.empty()) return {"no test_data_set_* folder"};
    ModelOptions options;
    options.passes = passes;
    for (const fs::path& set : sets) {
      const std::string set_name = set.filename().string();
      stage = set_name + " inputs";
      const PreparedSet prepared = Prepare(proto, set);
      stage = set_name + " load";
      if (!prepared.frozen.empty())
        stage +=
            fmt::format(" (inputs {} frozen as initializers)", fmt::join(prepared.frozen, ", "));
      std::shared_ptr<Model> model =
          Model::LoadFromMemory(prepared.model_bytes.data(), prepared.model_bytes.size(), options);
      Session session(model);
      stage = set_name + " run";
      std::vector<Tensor> outputs = session.Run(prepared.inputs);
      stage = set_name + " expected outputs";
      std::vector<fs::path> out_files = Numbered(set, "output_", ".pb");
      if (out_files.size() != outputs.size())
        return {
            fmt::format("{}: {} outputs, {} expected", set_name, outputs.size(), out_files.size())};
      for (size_t i = 0; i < out_files.size(); ++i) {
        std::string diff = Compare(onnx_io::LoadTensorProtoFile(out_files[i].string()), outputs[i]);
        if (!diff.empty())
          return {fmt::format("{} output {} ('{}'): {}", set_name, i,
                              i < model->outputs().size() ? model->outputs()[i].name : "?", diff)};
      }
    }
  } catch (const Error& e) {
    return {fmt::format("{}: effi::Error [{}] {}", stage, CodeName(e.code()), e.what()),
            e.code() == ErrorCode::kUnsupported};
  } catch (const std::exception& e) {
    return {fmt::format("{}: exception {}", stage, e.what())};
  }
  return {};
}

struct Case {
  std::string name;
  fs::path dir;
  std::string group;  // the op for single-op graphs, "(function graph)" for expanded ones
};

class CaseTest : public testing::Test {
 public:
  CaseTest(Case c, std::optional<std::string> skip_reason)
      : case_(std::move(c)), skip_reason_(std::move(skip_reason)) {}

  void TestBody() override {
    std::vector<std::string> failures;
    bool all_unsupported = true;
    for (const char* mode : kPassModes) {
      Outcome r = RunCase(case_.dir, mode);
      if (r.failure.empty()) continue;
      failures.push_back(fmt::format("passes={}: {}", mode, r.failure));
      all_unsupported = all_unsupported && r.unsupported;
    }
    if (skip_reason_ && failures.empty())
      FAIL() << case_.name << " is listed in skipped.txt (" << *skip_reason_
             << ") but passes; remove it from the list";
    // The skip list covers what effi reports as unsupported, never wrong results or crashes.
    if (skip_reason_ && all_unsupported)
      GTEST_SKIP() << *skip_reason_ << " -- " << failures.front();
    if (skip_reason_)
      ADD_FAILURE() << "listed in skipped.txt (" << *skip_reason_
                    << "), but the failure is not an 'unsupported' error";
    for (const std::string& f : failures) ADD_FAILURE() << case_.group << ": " << f;
  }

 private:
  Case case_;
  std::optional<std::string> skip_reason_;
};

// Prints pass/skip/fail counts per op after the run.
class SummaryPrinter : public testing::EmptyTestEventListener {
 public:
  explicit SummaryPrinter(std::map<std::string, std::string> group_of)
      : group_of_(std::move(group_of)) {}

  void OnTestEnd(const testing::TestInfo& info) override {
    auto it = group_of_.find(info.name());
    if (std::string(info.test_suite_name()) != "Conformance" || it == group_of_.end()) return;
    Counts& c = counts_[it->second];
    const testing::TestResult& r = *info.result();
    (r.Skipped() ? c.skipped : r.Failed() ? c.failed : c.passed)++;
  }

  void OnTestProgramEnd(const testing::UnitTest&) override {
    if (counts_.empty()) return;
    Counts total;
    std::printf("ONNX conformance summary (op: passed / skipped / failed)\n");
    for (const auto& [group, c] : counts_) {
      std::printf("  %-28s %4d / %4d / %4d\n", group.c_str(), c.passed, c.skipped, c.failed);
      total.passed += c.passed, total.skipped += c.skipped, total.failed += c.failed;
    }
    std::printf("  %-28s %4d / %4d / %4d\n", "total", total.passed, total.skipped, total.failed);
  }

 private:
  struct Counts {
    int passed = 0, skipped = 0, failed = 0;
  };
  std::map<std::string, std::string> group_of_;
  std::map<std::string, Counts> counts_;
};

void RegisterCases() {
  const fs::path root = DataDir();
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    testing::RegisterTest("Conformance", "TestDataMissing", nullptr, nullptr, __FILE__, __LINE__,
                          [root]() -> testing::Test* {
                            struct Missing : testing::Test {
                              fs::path root;
                              void TestBody() override {
                                GTEST_SKIP()
                                    << "ONNX node test data not found at '" << root.string()
                                    << "': install libonnx-testdata or set "
                                       "EFFI_ONNX_TESTDATA_DIR";
                              }
                            };
                            auto* t = new Missing;
                            t->root = root;
                            return t;
                          });
    return;
  }
  const std::set<std::string> supported = SupportedOps();
  const SkipList skips = LoadSkipList(EFFI_CONFORMANCE_SKIP_FILE);
  std::vector<Case> cases;
  for (const auto& entry : fs::directory_iterator(root)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory() || name.rfind("test_", 0) != 0) continue;
    auto ops = ModelOps(entry.path() / "model.onnx");
    if (!ops || ops->empty()) continue;
    bool ours = std::all_of(ops->begin(), ops->end(),
                            [&](const std::string& op) { return supported.count(op) > 0; });
    if (!ours) continue;
    std::set<std::string> distinct(ops->begin(), ops->end());
    distinct.erase("Constant");
    std::string group = ops->size() == 1       ? ops->front()
                        : distinct.size() == 1 ? *distinct.begin()
                                               : "(function graph)";
    cases.push_back({name, entry.path(), group});
  }
  std::sort(cases.begin(), cases.end(),
            [](const Case& a, const Case& b) { return a.name < b.name; });

  std::map<std::string, std::string> group_of;
  std::vector<std::string> list_errors = skips.errors;
  for (const Case& c : cases) group_of[c.name] = c.group;
  for (const auto& [name, reason] : skips.reasons)
    if (!group_of.count(name))
      list_errors.push_back(fmt::format("'{}' is not a conformance case effi runs", name));
  testing::RegisterTest("ConformanceSkipList", "EntriesAreValid", nullptr, nullptr, __FILE__,
                        __LINE__, [list_errors]() -> testing::Test* {
                          struct Check : testing::Test {
                            std::vector<std::string> errors;
                            void TestBody() override {
                              for (const std::string& e : errors) ADD_FAILURE() << e;
                            }
                          };
                          auto* t = new Check;
                          t->errors = list_errors;
                          return t;
                        });
  for (const Case& c : cases) {
    std::optional<std::string> reason;
    if (auto it = skips.reasons.find(c.name); it != skips.reasons.end()) reason = it->second;
    testing::RegisterTest("Conformance", c.name.c_str(), nullptr, nullptr, __FILE__, __LINE__,
                          [c, reason]() -> testing::Test* { return new CaseTest(c, reason); });
  }
  testing::UnitTest::GetInstance()->listeners().Append(new SummaryPrinter(std::move(group_of)));
}

}  // namespace
}  // namespace effi

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  effi::RegisterCases();
  return RUN_ALL_TESTS();
}
