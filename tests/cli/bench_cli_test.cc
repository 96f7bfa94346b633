// `effi bench` end to end: thread-count lists (one table, one JSON row per count), the profile's
// shapes, MACs and GFLOP/s, the Chrome trace of --profile-json, progress only on a terminal, and
// bad --threads values. On the small test models, so the whole suite runs in a few seconds.
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "cli_test_util.h"

namespace effi::cli_test {
namespace {

const std::string kSource = EFFI_SOURCE_DIR;
const std::string kTiny = kSource + "/tests/models/tiny_op11.onnx";

nlohmann::json BenchJson(std::vector<std::string> args) {
  args.insert(args.begin(), {"bench", kTiny, "--warmup", "1", "--json"});
  const Result r = RunCli(args);
  EXPECT_EQ(r.code, 0) << Describe(r);
  // Progress goes to a terminal only: a pipe gets nothing but results.
  EXPECT_TRUE(r.err.empty()) << Describe(r);
  if (r.code != 0) return {};
  return nlohmann::json::parse(r.out);
}

bool IsAttention(const std::string& op) {
  return op == "effi.Attention" || op == "effi.PackedAttention" || op == "effi.Attention2d";
}

TEST(BenchCli, ThreadListGivesOneJsonRowPerCount) {
  const nlohmann::json j = BenchJson({"--threads", "1,2", "--iterations", "3"});
  ASSERT_TRUE(j.is_array()) << j;
  ASSERT_EQ(j.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    // Each row has the single-count object's keys.
    EXPECT_EQ(j[i]["threads"].get<int>(), static_cast<int>(i) + 1);
    EXPECT_EQ(j[i]["runs"].get<int>(), 3);
    EXPECT_GT(j[i]["latency_ms"]["p50"].get<double>(), 0.0);
    EXPECT_GT(j[i]["fps"].get<double>(), 0.0);
    EXPECT_EQ(j[i]["per_stream"].size(), 1u);
  }
}

TEST(BenchCli, OneThreadCountKeepsTheObjectShape) {
  // bench/compare_ort reads j.latency_ms.p50 from `--threads N --json`.
  const nlohmann::json j = BenchJson({"--threads", "2", "--iterations", "2"});
  ASSERT_TRUE(j.is_object()) << j;
  EXPECT_EQ(j["threads"].get<int>(), 2);
  EXPECT_GT(j["latency_ms"]["p50"].get<double>(), 0.0);
}

TEST(BenchCli, ThreadListPrintsOneTable) {
  const Result r = RunCli(
      {"bench", kTiny, "--threads", "2,1", "--iterations", "4", "--warmup", "0", "--streams", "2"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_TRUE(r.err.empty()) << Describe(r);
  // One header, then a row per count in the order given: threads, runs (4 per stream), 6
  // latencies, fps.
  const std::regex row(R"(^ +([0-9]+) +8( +[0-9]+\.[0-9]+){7}$)");
  std::vector<int> rows;
  int headers = 0, systems = 0;
  for (const std::string& line : Lines(r.out)) {
    std::smatch m;
    if (std::regex_match(line, m, row)) rows.push_back(std::stoi(m[1]));
    headers += line.find("threads") != std::string::npos && line.find("p50") != std::string::npos;
    systems += line.rfind("system", 0) == 0;
  }
  EXPECT_EQ(rows, (std::vector<int>{2, 1})) << r.out;
  EXPECT_EQ(headers, 1) << r.out;
  EXPECT_EQ(systems, 1) << r.out;
}

TEST(BenchCli, ProfileHasShapesMacsAndGflops) {
  const nlohmann::json j = BenchJson({"--profile", "--iterations", "3"});
  ASSERT_TRUE(j.contains("profile_nodes")) << j;
  const nlohmann::json& nodes = j["profile_nodes"];
  ASSERT_FALSE(nodes.empty());
  int64_t dense_macs = 0, conv_nodes = 0, attention_nodes = 0;
  double previous_ms = 1e30;
  for (const nlohmann::json& n : nodes) {
    SCOPED_TRACE(n.dump());
    const std::string op = n["op"].get<std::string>();
    const double ms = n["ms"].get<double>();
    EXPECT_LE(ms, previous_ms);  // slowest first
    previous_ms = ms;
    ASSERT_TRUE(n["shape"].is_array());
    EXPECT_FALSE(n["shape"].empty());
    for (const nlohmann::json& d : n["shape"]) EXPECT_GE(d.get<int64_t>(), 0);
    EXPECT_GT(n["bytes"].get<int64_t>(), 0);
    EXPECT_GE(n["gbps"].get<double>(), 0.0);
    const int64_t macs = n["macs"].get<int64_t>();
    if (macs == 0) {
      EXPECT_FALSE(n.contains("gflops"));
      continue;
    }
    const double gflops = n["gflops"].get<double>();
    EXPECT_GT(gflops, 0.0);
    // Under 100 TFLOP/s: far above one core, far below what a timer error would give.
    EXPECT_LT(gflops, 1e5);
    if (ms > 0) {
      EXPECT_NEAR(gflops, 2.0 * static_cast<double>(macs) / (ms * 1e6), gflops * 1e-9);
    }
    if (op == "effi.Conv") ++conv_nodes;
    if (IsAttention(op))
      ++attention_nodes;
    else
      dense_macs += macs;
  }
  EXPECT_GT(conv_nodes, 0);
  EXPECT_GT(attention_nodes, 0);  // tiny_op11 has an attention stage
  // Per node the profile counts what `effi inspect` counts (plus attention's products).
  const Result inspect = RunCli({"inspect", kTiny, "--json"});
  ASSERT_EQ(inspect.code, 0) << Describe(inspect);
  EXPECT_EQ(dense_macs, nlohmann::json::parse(inspect.out)["macs"].get<int64_t>());
  // Per op: the nodes' sums.
  ASSERT_TRUE(j["profile_ops"].is_array());
  bool conv_row = false;
  for (const nlohmann::json& op : j["profile_ops"])
    if (op["op"] == "effi.Conv") {
      conv_row = true;
      EXPECT_GT(op["gflops"].get<double>(), 0.0);
      EXPECT_DOUBLE_EQ(op["ms"].get<double>(), j["profile_ms_per_run"]["effi.Conv"].get<double>());
    }
  EXPECT_TRUE(conv_row) << j["profile_ops"];
}

TEST(BenchCli, ProfileTableShowsShapesAndGflops) {
  const Result r = RunCli({"bench", kTiny, "--iterations", "2", "--warmup", "0", "--profile"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  for (const char* part : {"GFLOP/s", "GB/s", "output shape", "[1, 32, 32, 8]", "effi.Conv"})
    EXPECT_NE(r.out.find(part), std::string::npos) << part << " missing in " << r.out;
}

TEST(BenchCli, ProfileJsonWritesAChromeTrace) {
  TempDir dir;
  const std::string path = dir / "trace.json";
  const nlohmann::json j = BenchJson(
      {"--threads", "1,2", "--streams", "2", "--iterations", "3", "--profile-json", path});
  ASSERT_TRUE(j.is_array()) << j;
  const nlohmann::json trace = nlohmann::json::parse(ReadText(path));
  ASSERT_TRUE(trace["traceEvents"].is_array()) << trace;
  const size_t nodes = j[0]["profile_nodes"].size();
  ASSERT_GT(nodes, 0u);
  struct Slice {
    double ts, dur;
  };
  std::map<std::pair<int, int>, std::vector<Slice>> runs;  // by (pid, tid)
  std::vector<std::pair<std::pair<int, int>, Slice>> node_events;
  int process_names = 0;
  for (const nlohmann::json& e : trace["traceEvents"]) {
    SCOPED_TRACE(e.dump());
    const std::string ph = e["ph"].get<std::string>();
    if (ph == "M") {
      process_names += e["name"] == "process_name";
      continue;
    }
    ASSERT_EQ(ph, "X");
    for (const char* key : {"name", "cat", "ts", "dur", "pid", "tid", "args"})
      ASSERT_TRUE(e.contains(key)) << key;
    const Slice s{e["ts"].get<double>(), e["dur"].get<double>()};
    EXPECT_GE(s.ts, 0.0);
    EXPECT_GE(s.dur, 0.0);
    const std::pair<int, int> track{e["pid"].get<int>(), e["tid"].get<int>()};
    if (e["cat"] == "run") {
      runs[track].push_back(s);
    } else {
      EXPECT_TRUE(e["args"]["shape"].is_string());
      if (e["cat"] == "effi.Conv") {
        EXPECT_GT(e["args"]["gflops"].get<double>(), 0.0);
      }
      node_events.push_back({track, s});
    }
  }
  EXPECT_EQ(process_names, 2);  // one per thread count
  // 2 thread counts x 2 streams, each with its 3 measured runs of every node.
  ASSERT_EQ(runs.size(), 4u);
  for (const auto& [track, slices] : runs) EXPECT_EQ(slices.size(), 3u);
  EXPECT_EQ(node_events.size(), 12 * nodes);
  // Every node lies inside a run on its own track.
  for (const auto& [track, s] : node_events) {
    const std::vector<Slice>& in = runs[track];
    EXPECT_TRUE(std::any_of(
        in.begin(), in.end(),
        [&](const Slice& r) { return r.ts <= s.ts && s.ts + s.dur <= r.ts + r.dur + 1e-3; }))
        << s.ts << " " << s.dur;
  }
}

TEST(BenchCli, UnwritableTraceFailsBeforeMeasuring) {
  TempDir dir;
  // A missing directory, a directory, and no name at all (a usage error).
  for (const auto& [path, code] : std::vector<std::pair<std::string, int>>{
           {"/nonexistent/dir/t.json", 1}, {dir.path(), 1}, {"", 2}}) {
    SCOPED_TRACE("--profile-json '" + path + "'");
    const auto t0 = std::chrono::steady_clock::now();
    const Result r = RunCli({"bench", kTiny, "--seconds", "30", "--profile-json", path});
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 10.0);
    EXPECT_EQ(r.code, code) << Describe(r);
    EXPECT_TRUE(r.out.empty()) << Describe(r);
    const std::vector<std::string> lines = Lines(r.err);
    ASSERT_EQ(lines.size(), 1u) << Describe(r);
    EXPECT_NE(lines[0].find(code == 1 ? "effi: error: cannot write the trace file"
                                      : "effi: error: --profile-json"),
              std::string::npos)
        << lines[0];
  }
}

TEST(BenchCli, BadThreadCountsAreOneLineUsageErrors) {
  for (const char* v : {"0", "1,,2", "a", "", "1,", ",1", "257", "-1", "1 2", "1.5", "2,x",
                        "99999999999999999999", "1,2,\x1b[31m"}) {
    SCOPED_TRACE(std::string("--threads '") + v + "'");
    const Result r = RunCli({"bench", kTiny, "--threads", v, "--iterations", "1"});
    EXPECT_EQ(r.code, 2) << Describe(r);
    EXPECT_TRUE(r.out.empty()) << Describe(r);
    const std::vector<std::string> lines = Lines(r.err);
    ASSERT_EQ(lines.size(), 1u) << Describe(r);
    EXPECT_EQ(lines[0].rfind("effi: error: --threads", 0), 0u) << lines[0];
    EXPECT_EQ(lines[0].find('\x1b'), std::string::npos) << lines[0];
  }
}

// Runs effi with stderr on a pseudo-terminal (stdout on a pipe); returns what the terminal got.
std::string RunWithTerminal(const std::vector<std::string>& args, int* code, std::string* out) {
  int master = -1, slave = -1;
  if (openpty(&master, &slave, nullptr, nullptr, nullptr) != 0) return "openpty failed";
  int pipe_fd[2];
  if (pipe(pipe_fd) != 0) return "pipe failed";
  const pid_t pid = fork();
  if (pid == 0) {
    const int in = open("/dev/null", O_RDONLY);
    if (in < 0 || dup2(in, 0) < 0 || dup2(pipe_fd[1], 1) < 0 || dup2(slave, 2) < 0) _exit(126);
    close(master);
    alarm(60);
    std::vector<char*> argv{const_cast<char*>(EFFI_CLI)};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(EFFI_CLI, argv.data());
    _exit(127);
  }
  close(slave);
  close(pipe_fd[1]);
  std::string terminal;
  char buf[4096];
  for (bool open_out = true, open_term = true; open_out || open_term;) {
    pollfd fds[2] = {{pipe_fd[0], POLLIN, 0}, {master, POLLIN, 0}};
    if (poll(fds, 2, 1000) < 0 && errno != EINTR) break;
    if (open_out && (fds[0].revents & (POLLIN | POLLHUP))) {
      const ssize_t n = read(pipe_fd[0], buf, sizeof buf);
      if (n > 0)
        out->append(buf, static_cast<size_t>(n));
      else
        open_out = false;
    }
    if (open_term && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      const ssize_t n = read(master, buf, sizeof buf);  // EIO once the child has exited
      if (n > 0)
        terminal.append(buf, static_cast<size_t>(n));
      else
        open_term = false;
    }
  }
  close(pipe_fd[0]);
  close(master);
  int status = 0;
  waitpid(pid, &status, 0);
  *code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return terminal;
}

TEST(BenchCli, ProgressOnATerminalOnly) {
  int code = -1;
  std::string out;
  // A second of measurement: the status line is refreshed every 200 ms.
  const std::string term =
      RunWithTerminal({"bench", kTiny, "--seconds", "1", "--warmup", "1"}, &code, &out);
  ASSERT_EQ(code, 0) << term << out;
  EXPECT_NE(term.find("[bench] loading and compiling tiny_op11.onnx"), std::string::npos) << term;
  EXPECT_NE(term.find("measuring"), std::string::npos) << term;
  EXPECT_NE(term.find("ETA"), std::string::npos) << term;
  // The line is cleared at the end, before the results (on stdout).
  ASSERT_GE(term.size(), 4u) << term;
  EXPECT_EQ(term.substr(term.size() - 4), "\r\x1b[K") << term;
  EXPECT_NE(out.find("latency"), std::string::npos) << out;
  EXPECT_EQ(out.find("[bench]"), std::string::npos) << out;
}

}  // namespace
}  // namespace effi::cli_test
