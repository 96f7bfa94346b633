// `effi bench`: single-stream latency percentiles and multi-stream throughput, like a vendor perf
// tool, at one or several thread counts, as a table or JSON; --profile adds where the time goes per
// op and node (output shapes, GFLOP/s, GB/s) and --profile-json a Chrome trace of the runs.
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <thread>

#include "common.h"
#include "util/text.h"

namespace effi::cli {
namespace {

struct BenchOptions {
  std::string model;
  std::string threads = "1";  // --threads: one count or a list, "1,2"
  int streams = 1;
  int batch = 1;
  int warmup = 5;
  int iterations = 0;  // 0: time-bounded by --seconds
  double seconds = 3.0;
  bool json = false;
  bool profile = false;
  std::string profile_json;  // --profile-json FILE: Chrome trace of the measured runs
  std::string passes = "all";
  int64_t memory_limit = 0;  // --memory-limit; 0 = EFFI_MEMORY_LIMIT / default
};

// "1,2,4" -> {1, 2, 4}; each 1..256 (SessionOptions' range). Throws UsageError.
std::vector<int> ParseThreadList(const std::string& text) {
  std::vector<int> counts;
  size_t pos = 0;
  while (true) {
    const size_t comma = text.find(',', pos);
    const std::string item = text.substr(pos, comma == std::string::npos ? comma : comma - pos);
    const bool digits =
        !item.empty() && item.size() <= 3 &&
        std::all_of(item.begin(), item.end(), [](char c) { return c >= '0' && c <= '9'; });
    const int value = digits ? std::stoi(item) : 0;
    if (!digits || value < 1 || value > 256)
      throw UsageError(fmt::format(
          "'{}' is not a thread count 1..256 (give one, or a comma-separated list such as 1,2)",
          Printable(item.empty() ? text : item, 40)));
    counts.push_back(value);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  if (counts.size() > 64) throw UsageError("at most 64 thread counts");
  return counts;
}

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

using Clock = std::chrono::steady_clock;

double MsBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// One measured run in the trace: its start (ms after the bench began), its latency, and each
// node's start (ms after the run began executing) and duration.
struct TracedRun {
  double start_ms = 0, ms = 0;
  std::vector<std::pair<double, double>> nodes;
};

struct StreamResult {
  std::vector<double> lat;          // ms per measured run
  std::vector<NodeTiming> profile;  // accumulated over the measured runs
  std::vector<TracedRun> trace;
};

// The measured phase at one thread count.
struct Measurement {
  int threads = 1;
  std::vector<StreamResult> streams;
  int64_t runs = 0;
  Stats total;
  double fps = 0;
  double peak_rss_mb = 0;
};

// Trace events written at most (over all thread counts and streams): ~200 bytes each, so the file
// stays under ~20 MB, which chrome://tracing and Perfetto open in a few seconds. Runs past it are
// measured but not traced (at least one run per stream always is).
constexpr int64_t kMaxTraceEvents = 100000;

std::string Seconds(double s) { return s < 0 ? std::string("?") : fmt::format("{:.1f} s", s); }

Measurement Measure(const std::shared_ptr<const Model>& model,
                    const std::vector<std::pair<std::string, Tensor>>& inputs,
                    const BenchOptions& o, int threads, const std::string& label,
                    Clock::time_point bench0, int64_t trace_budget, StatusLine& progress) {
  const int streams = o.streams;
  const bool profile = o.profile || !o.profile_json.empty();
  const bool trace = !o.profile_json.empty();
  Measurement m;
  m.threads = threads;
  m.streams.resize(static_cast<size_t>(streams));
  std::atomic<int64_t> warmed{0}, done{0};
  std::mutex mu;  // guards finished, first_error, measure0
  std::condition_variable cv;
  int finished = 0;
  std::exception_ptr first_error;
  std::optional<Clock::time_point> measure0;  // when the first stream began its measured runs
  std::atomic<bool> failed{false};

  std::vector<std::thread> workers;
  for (int s = 0; s < streams; ++s) {
    workers.emplace_back([&, s] {
      try {
        SessionOptions so;
        so.threads = threads;
        so.profile = profile;
        Session session(model, so);
        for (int w = 0; w < o.warmup && !failed; ++w) {
          session.Run(inputs);
          ++warmed;
        }
        session.ResetProfile();
        {
          std::lock_guard<std::mutex> lock(mu);
          if (!measure0) measure0 = Clock::now();
        }
        StreamResult& r = m.streams[static_cast<size_t>(s)];
        int64_t traced_events = 0;
        const Clock::time_point start = Clock::now();
        for (int64_t it = 0; !failed; ++it) {
          // Time-bounded: --seconds of this stream's measured runs (warm-up excluded), at least 10.
          if (o.iterations > 0 ? it >= o.iterations
                               : (it >= 10 && MsBetween(start, Clock::now()) >= o.seconds * 1e3))
            break;
          const Clock::time_point t0 = Clock::now();
          session.Run(inputs);
          const double ms = MsBetween(t0, Clock::now());
          r.lat.push_back(ms);
          ++done;
          // Outside the timed region: the latest run's node times (Session::Profile).
          if (trace && (r.trace.empty() || traced_events < trace_budget / streams)) {
            TracedRun run{MsBetween(bench0, t0), ms, {}};
            for (const NodeTiming& t : session.Profile())
              run.nodes.emplace_back(t.last_start_ms, t.last_ms);
            traced_events += static_cast<int64_t>(run.nodes.size()) + 1;
            r.trace.push_back(std::move(run));
          }
        }
        r.profile = session.Profile();
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!first_error) first_error = std::current_exception();
        failed = true;
      }
      std::lock_guard<std::mutex> lock(mu);
      ++finished;
      cv.notify_all();
    });
  }

  // Progress: warm-up, then the measured phase with elapsed time and an estimate of what is left.
  const Clock::time_point phase0 = Clock::now();
  const int64_t warm_total = static_cast<int64_t>(o.warmup) * streams;
  const int64_t target = o.iterations > 0 ? static_cast<int64_t>(o.iterations) * streams : -1;
  int64_t last_n = 0;      // measured runs at the latest refresh that saw the count move
  double last_change = 0;  // when (s after measure0)
  {
    std::unique_lock<std::mutex> lock(mu);
    while (finished < streams) {
      if (progress.on()) {
        const Clock::time_point now = Clock::now();
        if (warmed < warm_total) {
          progress.Show(fmt::format("[bench] {}warm-up {}/{} runs  {}", label, warmed.load(),
                                    warm_total, Seconds(MsBetween(phase0, now) / 1e3)));
        } else {
          if (!measure0) measure0 = now;  // a stream that was done before it could say
          const double t = MsBetween(*measure0, now) / 1e3;
          const int64_t n = done;
          // The rate from the last time the count moved: with runs of seconds (--passes none on
          // L1: ~5 s) the time into the current run must not inflate the estimate.
          if (n != last_n) {
            last_n = n;
            last_change = t;
          }
          const double per_run = n > 0 ? last_change * streams / static_cast<double>(n) : -1;
          const double into_run = t - last_change;
          double frac = 0, eta = -1;
          if (target > 0) {
            frac = static_cast<double>(n) / static_cast<double>(target);
            if (n > 0) eta = static_cast<double>(target - n) / streams * per_run - into_run;
          } else {
            frac = std::min(1.0, t / o.seconds);
            const double min_runs_left = std::max(0.0, 10.0 - static_cast<double>(n) / streams);
            if (n > 0) eta = std::max(o.seconds - t, min_runs_left * per_run - into_run);
          }
          progress.Show(fmt::format("[bench] {}measuring {:3.0f}%  {} runs  {} elapsed  ETA {}",
                                    label, 100 * std::min(1.0, frac), n, Seconds(t),
                                    Seconds(eta < 0 ? eta : std::max(0.0, eta))));
        }
      }
      // Woken by a finishing stream; on a terminal also every 200 ms to refresh the line.
      if (progress.on())
        cv.wait_for(lock, std::chrono::milliseconds(200));
      else
        cv.wait(lock);
    }
  }
  for (auto& w : workers) w.join();
  if (first_error) std::rethrow_exception(first_error);

  std::vector<double> all;
  for (const StreamResult& r : m.streams) {
    all.insert(all.end(), r.lat.begin(), r.lat.end());
    m.runs += static_cast<int64_t>(r.lat.size());
  }
  m.total = Summarise(all);
  // Single stream: FPS from the mean latency (steady state); several: frames over the wall time
  // of the measured phase (warm-up excluded by taking the slowest stream's busy time).
  double busy_ms = 0;
  for (const StreamResult& r : m.streams) {
    double sum = 0;
    for (double x : r.lat) sum += x;
    busy_ms = std::max(busy_ms, sum);
  }
  m.fps = busy_ms > 0 ? static_cast<double>(m.runs) * o.batch * 1000.0 / busy_ms : 0.0;
  m.peak_rss_mb = PeakRssMb();
  return m;
}

// 2 * MACs over the time: GFLOP/s (ms > 0); bytes over the time: GB/s.
double Gflops(int64_t macs, double ms) {
  return ms > 0 ? 2.0 * static_cast<double>(macs) / (ms * 1e6) : 0.0;
}
double Gbps(int64_t bytes, double ms) {
  return ms > 0 ? static_cast<double>(bytes) / (ms * 1e6) : 0.0;
}

struct NodeRow {
  std::string node, op;
  std::vector<int64_t> shape;
  int64_t macs = 0, bytes = 0;
  double ms = 0;  // per run
};
struct OpRow {
  std::string op;
  double ms = 0;  // per run
  int64_t macs = 0;
};
struct ProfileSummary {
  std::vector<NodeRow> nodes;  // slowest first
  std::vector<OpRow> ops;      // slowest first
  double total_ms = 0;
};

// Sums the streams' profiles (one plan, so the same nodes in the same order) per node and per op
// type, as ms per measured run.
ProfileSummary SummariseProfile(const Measurement& m) {
  ProfileSummary p;
  if (m.streams.empty()) return p;
  for (const NodeTiming& t : m.streams[0].profile)
    p.nodes.push_back({t.node, t.op, t.output_shape, t.macs, t.bytes, 0.0});
  for (const StreamResult& r : m.streams)
    for (size_t i = 0; i < r.profile.size() && i < p.nodes.size(); ++i)
      p.nodes[i].ms += r.profile[i].total_ms;
  const double runs = static_cast<double>(std::max<int64_t>(m.runs, 1));
  std::map<std::string, OpRow> ops;
  for (NodeRow& n : p.nodes) {
    n.ms /= runs;
    OpRow& op = ops[n.op];
    op.op = n.op;
    op.ms += n.ms;
    op.macs += n.macs;
    p.total_ms += n.ms;
  }
  for (auto& [name, row] : ops) p.ops.push_back(row);
  std::stable_sort(p.nodes.begin(), p.nodes.end(),
                   [](const NodeRow& a, const NodeRow& b) { return a.ms > b.ms; });
  std::stable_sort(p.ops.begin(), p.ops.end(),
                   [](const OpRow& a, const OpRow& b) { return a.ms > b.ms; });
  return p;
}

nlohmann::json MeasurementJson(const BenchOptions& o, const Measurement& m, const std::string& isa,
                               double load_ms) {
  nlohmann::json j = {{"model", o.model},     {"cpu", CpuModel()},
                      {"isa", isa},           {"threads", m.threads},
                      {"streams", o.streams}, {"batch", o.batch},
                      {"passes", o.passes},   {"load_ms", load_ms},
                      {"runs", m.runs},       {"latency_ms", StatsJson(m.total)},
                      {"fps", m.fps},         {"peak_rss_mb", m.peak_rss_mb}};
  nlohmann::json per = nlohmann::json::array();
  for (size_t s = 0; s < m.streams.size(); ++s) {
    const std::vector<double>& lat = m.streams[s].lat;
    double sum = 0;
    for (double x : lat) sum += x;
    per.push_back(
        {{"stream", s},
         {"runs", lat.size()},
         {"latency_ms", StatsJson(Summarise(lat))},
         {"fps", sum > 0 ? static_cast<double>(lat.size()) * o.batch * 1000.0 / sum : 0.0}});
  }
  j["per_stream"] = per;
  if (o.profile || !o.profile_json.empty()) {
    const ProfileSummary p = SummariseProfile(m);
    nlohmann::json by_op = nlohmann::json::object(), ops = nlohmann::json::array();
    for (const OpRow& op : p.ops) {
      by_op[op.op] = op.ms;
      nlohmann::json row = {{"op", op.op}, {"ms", op.ms}, {"macs", op.macs}};
      if (op.macs > 0) row["gflops"] = Gflops(op.macs, op.ms);
      ops.push_back(row);
    }
    j["profile_ms_per_run"] = by_op;
    j["profile_ops"] = ops;
    nlohmann::json nodes = nlohmann::json::array();
    for (const NodeRow& n : p.nodes) {
      nlohmann::json row = {{"node", n.node},
                            {"op", n.op},
                            {"ms", n.ms},
                            {"shape", n.shape},
                            {"macs", n.macs},
                            {"bytes", n.bytes},
                            {"gbps", Gbps(n.bytes, n.ms)}};
      if (n.macs > 0) row["gflops"] = Gflops(n.macs, n.ms);
      nodes.push_back(row);
    }
    j["profile_nodes"] = nodes;
  }
  return j;
}

void PrintProfile(const Measurement& m, bool several) {
  const ProfileSummary p = SummariseProfile(m);
  if (several)
    fmt::print("\nprofile at {} thread{} (ms per run, summed over streams' threads)\n", m.threads,
               m.threads == 1 ? "" : "s");
  else
    fmt::print("\nprofile (ms per run, summed over streams' threads)\n");
  fmt::print("  {:<26} {:>8}    {:>6} {:>8}\n", "op", "ms", "%", "GFLOP/s");
  auto pct = [&](double ms) { return p.total_ms > 0 ? 100 * ms / p.total_ms : 0.0; };
  auto gflops = [](int64_t macs, double ms) {
    return macs > 0 ? fmt::format("{:8.1f}", Gflops(macs, ms)) : std::string(8, ' ');
  };
  for (const OpRow& op : p.ops)
    fmt::print("  {:<26} {:8.3f} ms {:5.1f}% {}\n", Printable(op.op), op.ms, pct(op.ms),
               gflops(op.macs, op.ms));
  fmt::print("\nslowest nodes\n");
  fmt::print("  {:>8}    {:>6} {:>8} {:>7}  {:<20} {:<20} {}\n", "ms", "%", "GFLOP/s", "GB/s", "op",
             "output shape", "node");
  for (size_t i = 0; i < p.nodes.size() && i < 15; ++i) {
    const NodeRow& n = p.nodes[i];
    fmt::print("  {:8.3f} ms {:5.1f}% {} {:7.1f}  {:<20} {:<20} {}\n", n.ms, pct(n.ms),
               gflops(n.macs, n.ms), Gbps(n.bytes, n.ms), Printable(n.op), ShapeString(n.shape),
               Printable(n.node));
  }
}

// Chrome's Trace Event Format (chrome://tracing, ui.perfetto.dev): one process per thread count,
// one track per stream, a "run" slice per traced run with its nodes inside (category = op type).
nlohmann::json TraceJson(const BenchOptions& o, const std::vector<Measurement>& ms,
                         const std::string& isa) {
  nlohmann::json events = nlohmann::json::array();
  int64_t traced = 0, measured = 0;
  for (size_t k = 0; k < ms.size(); ++k) {
    const Measurement& m = ms[k];
    const int pid = static_cast<int>(k) + 1;
    events.push_back({{"name", "process_name"},
                      {"ph", "M"},
                      {"pid", pid},
                      {"tid", 0},
                      {"args", {{"name", fmt::format("effi bench --threads {}", m.threads)}}}});
    measured += m.runs;
    for (size_t s = 0; s < m.streams.size(); ++s) {
      const StreamResult& r = m.streams[s];
      const int tid = static_cast<int>(s);
      events.push_back({{"name", "thread_name"},
                        {"ph", "M"},
                        {"pid", pid},
                        {"tid", tid},
                        {"args", {{"name", fmt::format("stream {}", s)}}}});
      for (size_t run = 0; run < r.trace.size(); ++run) {
        const TracedRun& t = r.trace[run];
        ++traced;
        events.push_back({{"name", "run"},
                          {"cat", "run"},
                          {"ph", "X"},
                          {"ts", t.start_ms * 1e3},
                          {"dur", t.ms * 1e3},
                          {"pid", pid},
                          {"tid", tid},
                          {"args", {{"run", run}, {"threads", m.threads}}}});
        for (size_t i = 0; i < t.nodes.size() && i < r.profile.size(); ++i) {
          const NodeTiming& n = r.profile[i];
          const auto [start, dur] = t.nodes[i];
          nlohmann::json args = {{"op", n.op}, {"shape", ShapeString(n.output_shape)}};
          if (n.macs > 0) args["gflops"] = Gflops(n.macs, dur);
          args["gbps"] = Gbps(n.bytes, dur);
          events.push_back({{"name", n.node.empty() ? n.op : n.node},
                            {"cat", n.op},
                            {"ph", "X"},
                            {"ts", (t.start_ms + std::max(0.0, start)) * 1e3},
                            {"dur", std::max(0.0, dur) * 1e3},
                            {"pid", pid},
                            {"tid", tid},
                            {"args", args}});
        }
      }
    }
  }
  return {{"traceEvents", events},
          {"displayTimeUnit", "ms"},
          {"otherData",
           {{"model", o.model},
            {"isa", isa},
            {"passes", o.passes},
            {"traced_runs", traced},
            {"measured_runs", measured}}}};
}

int RunBench(const BenchOptions& o) {
  const std::vector<int> thread_counts = ParseThreadList(o.threads);
  const bool several = thread_counts.size() > 1;
  CheckReadableFile(o.model, "model");
  // Opened (and truncated) before measuring, so a path that cannot be written fails at once
  // rather than after the run.
  std::ofstream trace_file;
  if (!o.profile_json.empty()) {
    trace_file.open(o.profile_json, std::ios::binary | std::ios::trunc);
    if (!trace_file)
      throw Error(ErrorCode::kIo, fmt::format("cannot write the trace file '{}': {}",
                                              Printable(o.profile_json, util::kMaxQuotedPath),
                                              std::strerror(errno)));
  }
  // What is happening shows at once on a terminal (loading a big model with --passes none takes
  // seconds; slow warm-up runs too), then Measure refreshes it.
  StatusLine progress;
  const std::string name = Printable(std::filesystem::path(o.model).filename().string(), 60);
  progress.Show(fmt::format("[bench] loading and compiling {} (passes {})...", name,
                            Printable(o.passes, 60)));
  ModelOptions mo;
  mo.passes = o.passes;
  mo.memory_limit_bytes = o.memory_limit;
  const Clock::time_point load0 = Clock::now();
  std::shared_ptr<const Model> model = Model::Load(o.model, mo);
  const double load_ms = MsBetween(load0, Clock::now());
  const auto inputs = MakeInputs(*model, o.batch);

  const Clock::time_point bench0 = Clock::now();
  const int64_t trace_budget = kMaxTraceEvents / static_cast<int64_t>(thread_counts.size());
  std::vector<Measurement> results;
  for (int threads : thread_counts) {
    const std::string label = several ? fmt::format("threads {}: ", threads) : "";
    results.push_back(Measure(model, inputs, o, threads, label, bench0, trace_budget, progress));
  }
  progress.Clear();

  const std::string isa = ActiveIsa();
  if (!o.profile_json.empty()) {
    trace_file
        << TraceJson(o, results, isa).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
        << "\n";
    trace_file.close();
    if (!trace_file)
      throw Error(ErrorCode::kIo, fmt::format("cannot write the trace file '{}'",
                                              Printable(o.profile_json, util::kMaxQuotedPath)));
  }
  const bool profile = o.profile || !o.profile_json.empty();
  if (o.json) {
    // One thread count: the object as before; a list: an array of such objects, in list order.
    nlohmann::json j;
    if (several) {
      j = nlohmann::json::array();
      for (const Measurement& m : results) j.push_back(MeasurementJson(o, m, isa, load_ms));
    } else {
      j = MeasurementJson(o, results[0], isa, load_ms);
    }
    std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return kExitOk;
  }
  // Node and op names come from the model: escaped in the table (JSON escapes them itself).
  if (several)
    fmt::print("system   {} | ISA {} | streams {} | batch {}\n", CpuModel(), isa, o.streams,
               o.batch);
  else
    fmt::print("system   {} | ISA {} | threads {} | streams {} | batch {}\n", CpuModel(), isa,
               results[0].threads, o.streams, o.batch);
  fmt::print("model    {} (load {:.0f} ms, passes {})\n", Printable(o.model, util::kMaxQuotedPath),
             load_ms, o.passes);
  auto print_streams = [&](const Measurement& m) {
    if (m.streams.size() < 2) return;
    for (size_t s = 0; s < m.streams.size(); ++s) {
      const Stats st = Summarise(m.streams[s].lat);
      fmt::print("  stream {:<2} runs {:<5} p50 {:.2f}  p90 {:.2f}  p99 {:.2f} ms\n", s,
                 m.streams[s].lat.size(), st.p50, st.p90, st.p99);
    }
  };
  if (several) {
    fmt::print("latency (ms)\n");
    fmt::print("  {:>7} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}\n", "threads", "runs",
               "min", "p50", "p90", "p99", "max", "mean", "fps");
    for (const Measurement& m : results) {
      const Stats& t = m.total;
      fmt::print("  {:>7} {:>7} {:8.2f} {:8.2f} {:8.2f} {:8.2f} {:8.2f} {:8.2f} {:9.1f}\n",
                 m.threads, m.runs, t.min, t.p50, t.p90, t.p99, t.max, t.mean, m.fps);
      print_streams(m);
    }
  } else {
    const Measurement& m = results[0];
    const Stats& t = m.total;
    fmt::print("runs     {}\n", m.runs);
    fmt::print(
        "latency  min {:.2f}  p50 {:.2f}  p90 {:.2f}  p99 {:.2f}  max {:.2f}  mean {:.2f} ms\n",
        t.min, t.p50, t.p90, t.p99, t.max, t.mean);
    print_streams(m);
    fmt::print("fps      {:.1f}\n", m.fps);
  }
  fmt::print("memory   peak RSS {:.0f} MiB\n", PeakRssMb());
  if (profile)
    for (const Measurement& m : results) PrintProfile(m, several);
  if (!o.profile_json.empty())
    fmt::print("\ntrace    {} (open in chrome://tracing or ui.perfetto.dev)\n",
               Printable(o.profile_json, util::kMaxQuotedPath));
  return kExitOk;
}

}  // namespace

Command AddBenchCommand(CLI::App& parent) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* app = parent.add_subcommand(
      "bench", "Measure latency (p50/p90/p99) and throughput (FPS) of a model");
  app->add_option("model", o->model, "ONNX model file")->required()->type_name("MODEL");
  app->add_option("--threads", o->threads,
                  "intra-op threads per stream; a list (1,2,4) runs each and prints one table")
      ->capture_default_str()
      ->type_name("N[,N...]")
      ->check(ParsedBy(
          [](const std::string& s) {
            ParseThreadList(s);
            return std::string();
          },
          "N[,N...]"));
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
  app->add_flag("--profile", o->profile,
                "per-op and per-node time, output shapes, GFLOP/s and GB/s");
  app->add_option("--profile-json", o->profile_json,
                  "write a Chrome trace of the measured runs (chrome://tracing, Perfetto); "
                  "implies --profile")
      ->type_name("FILE")
      ->check(CLI::Validator(
          [](const std::string& s) { return s.empty() ? std::string("needs a file name") : ""; },
          "FILE"));
  AddPassesOption(*app, &o->passes);
  AddMemoryLimitOption(*app, &o->memory_limit);
  return {app, [o] { return RunBench(*o); }};
}

}  // namespace effi::cli
