// `effi bench`: single-stream latency percentiles and multi-stream throughput, like a vendor perf
// tool, as a table or JSON; --profile adds where the time goes per op.
#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "common.h"
#include "util/text.h"

namespace effi::cli {
namespace {

struct BenchOptions {
  std::string model;
  int threads = 1;
  int streams = 1;
  int batch = 1;
  int warmup = 5;
  int iterations = 0;  // 0: time-bounded by --seconds
  double seconds = 3.0;
  bool json = false;
  bool profile = false;
  std::string passes = "all";
  int64_t memory_limit = 0;  // --memory-limit; 0 = EFFI_MEMORY_LIMIT / default
};

std::string CpuModel() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    for (const char* key : {"model name", "Model", "Hardware"}) {
      if (line.rfind(key, 0) == 0) {
        auto colon = line.find(':');
        if (colon != std::string::npos)
          return line.substr(line.find_first_not_of(" \t", colon + 1));
      }
    }
  }
  return "unknown CPU";
}

// This process's peak resident set: VmHWM from /proc/self/status, which starts afresh at exec.
// getrusage's ru_maxrss does not (Linux keeps the pre-exec high-water mark), so a bench spawned
// by a large parent (bench/compare_ort runs in node) reported node's ~125 MiB instead of ~87 MiB.
double PeakRssMb() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // kB
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // Linux: KiB
}

struct Stats {
  double min = 0, p50 = 0, p90 = 0, p99 = 0, max = 0, mean = 0;
};

Stats Summarise(std::vector<double> v) {
  Stats s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto pct = [&](double p) {
    // Nearest-rank percentile.
    size_t idx = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size()))) - 1;
    return v[std::min(idx, v.size() - 1)];
  };
  s.min = v.front();
  s.max = v.back();
  s.p50 = pct(50);
  s.p90 = pct(90);
  s.p99 = pct(99);
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / static_cast<double>(v.size());
  return s;
}

nlohmann::json StatsJson(const Stats& s) {
  return {{"min", s.min}, {"p50", s.p50}, {"p90", s.p90},
          {"p99", s.p99}, {"max", s.max}, {"mean", s.mean}};
}

std::vector<std::pair<std::string, Tensor>> MakeInputs(const Model& model, int batch) {
  std::mt19937 rng(123);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<std::pair<std::string, Tensor>> inputs;
  for (const TensorInfo& info : model.inputs()) {
    std::vector<int64_t> shape = info.shape;
    for (size_t i = 0; i < shape.size(); ++i)
      if (shape[i] < 0) shape[i] = i == 0 ? batch : 1;
    if (batch != 1 && (shape.empty() || info.shape[0] >= 0))
      throw UsageError(
          fmt::format("--batch {} needs a model with a dynamic batch axis; input '{}' has shape {}",
                      batch, Printable(info.name), ShapeString(info.shape)));
    Tensor t = Tensor::Zeros(info.type, shape);
    if (info.type == ElementType::kFloat32)
      for (int64_t i = 0; i < t.elements(); ++i) t.floats()[i] = dist(rng);
    inputs.emplace_back(info.name, std::move(t));
  }
  return inputs;
}

int RunBench(const BenchOptions& o) {
  CheckReadableFile(o.model, "model");
  ModelOptions mo;
  mo.passes = o.passes;
  mo.memory_limit_bytes = o.memory_limit;
  const auto load0 = std::chrono::steady_clock::now();
  std::shared_ptr<Model> model = Model::Load(o.model, mo);
  const double load_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - load0).count();
  const auto inputs = MakeInputs(*model, o.batch);

  const bool tty = isatty(STDERR_FILENO) && !o.json;
  const int streams = o.streams;
  std::vector<std::vector<double>> lat(static_cast<size_t>(streams));
  std::vector<std::vector<NodeTiming>> profiles(static_cast<size_t>(streams));
  std::atomic<int64_t> done{0};
  std::atomic<bool> failed{false};
  std::string error;
  std::mutex error_mu;
  const int64_t total_target = o.iterations > 0 ? static_cast<int64_t>(o.iterations) * streams : -1;

  const auto wall0 = std::chrono::steady_clock::now();
  auto elapsed_s = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  };
  std::vector<std::thread> workers;
  for (int s = 0; s < streams; ++s) {
    workers.emplace_back([&, s] {
      try {
        SessionOptions so;
        so.threads = o.threads;
        so.profile = o.profile;
        Session session(model, so);
        for (int w = 0; w < o.warmup; ++w) session.Run(inputs);
        session.ResetProfile();
        for (int64_t it = 0;; ++it) {
          if (o.iterations > 0 ? it >= o.iterations : (elapsed_s() >= o.seconds && it >= 10)) break;
          if (failed) break;
          const auto t0 = std::chrono::steady_clock::now();
          session.Run(inputs);
          lat[s].push_back(
              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                  .count());
          ++done;
        }
        profiles[s] = session.Profile();
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(error_mu);
        if (!failed) error = e.what();
        failed = true;
      }
    });
  }
  // Progress on a terminal for runs longer than a second.
  bool progress_shown = false;
  while (!failed && (total_target > 0 ? done < total_target : elapsed_s() < o.seconds)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const double t = elapsed_s();
    if (tty && t > 1.0) {
      const double frac = total_target > 0
                              ? static_cast<double>(done) / static_cast<double>(total_target)
                              : std::min(1.0, t / o.seconds);
      fmt::print(stderr, "\r[bench] {:3.0f}%  {} runs  {:.1f} s", 100 * frac, done.load(), t);
      progress_shown = true;
    }
  }
  for (auto& w : workers) w.join();
  if (progress_shown) fmt::print(stderr, "\r{:60}\r", "");
  if (failed) throw Error(ErrorCode::kInternal, error);

  std::vector<double> all;
  int64_t runs = 0;
  for (const auto& v : lat) {
    all.insert(all.end(), v.begin(), v.end());
    runs += static_cast<int64_t>(v.size());
  }
  const Stats total = Summarise(all);
  // Single stream: FPS from the mean latency (steady state); several: frames over the wall time
  // of the measured phase (warm-up excluded by taking the slowest stream's busy time).
  double busy_ms = 0;
  for (const auto& v : lat) {
    double sum = 0;
    for (double x : v) sum += x;
    busy_ms = std::max(busy_ms, sum);
  }
  const double fps = busy_ms > 0 ? static_cast<double>(runs) * o.batch * 1000.0 / busy_ms : 0.0;

  // Profile: sum over streams, by op type and by node.
  std::map<std::string, double> by_op;
  std::vector<std::pair<double, std::pair<std::string, std::string>>> by_node;
  double prof_total = 0;
  if (o.profile) {
    std::map<std::string, std::pair<std::string, double>> nodes;
    int64_t prof_runs = 0;
    for (const auto& p : profiles)
      for (const NodeTiming& t : p) {
        by_op[t.op] += t.total_ms;
        nodes[t.node].first = t.op;
        nodes[t.node].second += t.total_ms;
        prof_runs = std::max(prof_runs, t.runs);
      }
    const double denom = static_cast<double>(std::max<int64_t>(runs, 1));
    for (auto& [k, v] : by_op) {
      v /= denom;
      prof_total += v;
    }
    for (auto& [name, v] : nodes) by_node.push_back({v.second / denom, {name, v.first}});
    std::sort(by_node.rbegin(), by_node.rend());
  }

  const std::string isa = ActiveIsa();
  if (o.json) {
    nlohmann::json j = {{"model", o.model},   {"cpu", CpuModel()},
                        {"isa", isa},         {"threads", o.threads},
                        {"streams", streams}, {"batch", o.batch},
                        {"passes", o.passes}, {"load_ms", load_ms},
                        {"runs", runs},       {"latency_ms", StatsJson(total)},
                        {"fps", fps},         {"peak_rss_mb", PeakRssMb()}};
    nlohmann::json per = nlohmann::json::array();
    for (int s = 0; s < streams; ++s) {
      double sum = 0;
      for (double x : lat[s]) sum += x;
      per.push_back(
          {{"stream", s},
           {"runs", lat[s].size()},
           {"latency_ms", StatsJson(Summarise(lat[s]))},
           {"fps", sum > 0 ? static_cast<double>(lat[s].size()) * o.batch * 1000.0 / sum : 0.0}});
    }
    j["per_stream"] = per;
    if (o.profile) {
      nlohmann::json ops = nlohmann::json::object();
      for (const auto& [k, v] : by_op) ops[k] = v;
      j["profile_ms_per_run"] = ops;
      nlohmann::json nodes = nlohmann::json::array();
      for (const auto& [ms, id] : by_node)
        nodes.push_back({{"node", id.first}, {"op", id.second}, {"ms", ms}});
      j["profile_nodes"] = nodes;
    }
    std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return kExitOk;
  }
  fmt::print("system   {} | ISA {} | threads {} | streams {} | batch {}\n", CpuModel(), isa,
             o.threads, streams, o.batch);
  // Node and op names come from the model: escaped in the table (JSON escapes them itself).
  fmt::print("model    {} (load {:.0f} ms, passes {})\n", Printable(o.model, util::kMaxQuotedPath),
             load_ms, o.passes);
  fmt::print("runs     {}\n", runs);
  fmt::print(
      "latency  min {:.2f}  p50 {:.2f}  p90 {:.2f}  p99 {:.2f}  max {:.2f}  mean {:.2f} ms\n",
      total.min, total.p50, total.p90, total.p99, total.max, total.mean);
  if (streams > 1) {
    for (int s = 0; s < streams; ++s) {
      const Stats st = Summarise(lat[s]);
      fmt::print("  stream {:<2} runs {:<5} p50 {:.2f}  p90 {:.2f}  p99 {:.2f} ms\n", s,
                 lat[s].size(), st.p50, st.p90, st.p99);
    }
  }
  fmt::print("fps      {:.1f}\n", fps);
  fmt::print("memory   peak RSS {:.0f} MiB\n", PeakRssMb());
  if (o.profile) {
    std::vector<std::pair<double, std::string>> ops;
    for (const auto& [k, v] : by_op) ops.push_back({v, k});
    std::sort(ops.rbegin(), ops.rend());
    fmt::print("\nprofile (ms per run, summed over streams' threads)\n");
    for (const auto& [ms, op] : ops)
      fmt::print("  {:<26} {:8.3f} ms {:5.1f}%\n", Printable(op), ms,
                 prof_total > 0 ? 100 * ms / prof_total : 0.0);
    fmt::print("\nslowest nodes\n");
    for (size_t i = 0; i < by_node.size() && i < 15; ++i)
      fmt::print("  {:8.3f} ms  {:<18} {}\n", by_node[i].first, Printable(by_node[i].second.second),
                 Printable(by_node[i].second.first));
  }
  return kExitOk;
}

}  // namespace

Command AddBenchCommand(CLI::App& parent) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* app = parent.add_subcommand(
      "bench", "Measure latency (p50/p90/p99) and throughput (FPS) of a model");
  app->add_option("model", o->model, "ONNX model file")->required()->type_name("MODEL");
  app->add_option("--threads", o->threads, "intra-op threads per stream")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app->add_option("--streams", o->streams, "concurrent streams (sessions on one loaded model)")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app->add_option("--batch", o->batch, "batch size (models with a dynamic batch axis)")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  app->add_option("--warmup", o->warmup, "warm-up runs per stream, not measured")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  auto* iters =
      app->add_option("--iterations", o->iterations, "measured runs per stream (0: use --seconds)")
          ->capture_default_str()
          ->check(CLI::Range(0, 100000000));
  app->add_option("--seconds", o->seconds, "measure for this long when --iterations is 0")
      ->capture_default_str()
      ->check(FiniteNumber())
      ->check(CLI::Range(0.01, 86400.0))
      ->excludes(iters);
  app->add_flag("--json", o->json, "print results as JSON");
  app->add_flag("--profile", o->profile, "per-op time breakdown");
  AddPassesOption(*app, &o->passes);
  AddMemoryLimitOption(*app, &o->memory_limit);
  return {app, [o] { return RunBench(*o); }};
}

}  // namespace effi::cli
